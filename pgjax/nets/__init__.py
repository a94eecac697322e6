"""Networks: torsos, recurrent cells, the actor-critic bundle, and their initialisation."""

from pgjax.nets.actor_critic import (
    Actor,
    ActorCritic,
    Critic,
    Hidden,
    Memory,
    Params,
    make_actor_critic,
)
from pgjax.nets.init import HIDDEN_GAIN, POLICY_GAIN, VALUE_GAIN, orthogonal, orthogonal_many
from pgjax.nets.recurrent import CELLS, Cell
from pgjax.nets.torsos import ACTIVATIONS, TORSOS, Torso

__all__ = [
    "ACTIVATIONS",
    "CELLS",
    "HIDDEN_GAIN",
    "POLICY_GAIN",
    "TORSOS",
    "VALUE_GAIN",
    "Actor",
    "ActorCritic",
    "Cell",
    "Critic",
    "Hidden",
    "Memory",
    "Params",
    "Torso",
    "make_actor_critic",
    "orthogonal",
    "orthogonal_many",
]
