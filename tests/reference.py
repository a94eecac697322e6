"""Plain numpy Python-loop references, written from the definitions, not from pgjax."""

import numpy as np


def discounted_returns(r, term, trunc, next_v, gamma):
    T = len(r)
    g = np.zeros(T)
    for t in reversed(range(T)):
        if term[t]:
            g[t] = r[t]
        elif trunc[t] or t == T - 1:
            g[t] = r[t] + gamma * next_v[t]
        else:
            g[t] = r[t] + gamma * g[t + 1]
    return g


def gae(r, v, next_v, term, trunc, gamma, lam):
    T = len(r)
    adv = np.zeros(T)
    for t in range(T):
        # A_t = Σ_k (γλ)^k δ_{t+k}, until the episode ends or the window does
        total, coef = 0.0, 1.0
        for k in range(t, T):
            delta = r[k] + (0.0 if term[k] else gamma * next_v[k]) - v[k]
            total += coef * delta
            if term[k] or trunc[k]:
                break
            coef *= gamma * lam
        adv[t] = total
    return adv


def episode_returns(r, term, trunc):
    T = len(r)
    ret, complete = np.zeros(T), np.zeros(T, bool)
    start = 0
    for t in range(T):
        if term[t] or trunc[t] or t == T - 1:
            ret[start : t + 1] = sum(r[start : t + 1])
            complete[start : t + 1] = bool(term[t] or trunc[t])
            start = t + 1
    return ret, complete
