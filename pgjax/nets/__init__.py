"""Networks: torsos (pgjax's, or your own by name: ``register``), recurrent cells, the
actor-critic bundle, and their initialisation."""

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
from pgjax.nets.torsos import (
    ACTIVATIONS,
    TORSOS,
    Torso,
    TorsoSpec,
    network_names,
    parse_network,
    register,
    torso_names,
)

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
    "TorsoSpec",
    "make_actor_critic",
    "network_names",
    "orthogonal",
    "orthogonal_many",
    "parse_network",
    "register",
    "torso_names",
]
