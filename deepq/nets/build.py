"""Build the Q-network of a run: deepq's MLP from the config, or a user's own `nn.Module` from a factory
`factory(observation_space, n_actions) -> nn.Module`, named in the config by its import path (`network.factory:
package.module:function`) so that evaluate, play, `load_agent` and `--resume` can rebuild it."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from gymnasium import spaces
from torch import nn

from deepq.errors import DeepQError
from deepq.importing import import_callable
from deepq.nets import conv
from deepq.nets.networks import DuelingQNetwork, QNetwork

NetworkFactory = Callable[[spaces.Space, int], nn.Module]


def build_q_network(observation: spaces.Box | tuple[int, ...] | int, n_actions: int, network_cfg,
                    factory: Optional[NetworkFactory] = None, atoms: Optional[int] = None) -> nn.Module:
    """The Q-network for observations of this space (or shape), mapping (B, *shape) to Q-values (B, A), or with
    `atoms` = K (a distributional objective, deepq.algo.objectives) to (B, A, K). A user's factory is called as
    before and must itself output what the objective expects.

    `factory` (or, without one, `network_cfg.factory`) builds a user's network; otherwise deepq's own
    (`network.kind`): an MLP for flat observations, a CNN (deepq.nets.conv) in front of it for images.
    """
    space = as_space(observation)
    if factory is None and getattr(network_cfg, "factory", None):
        factory = import_factory(network_cfg.factory)
    if factory is not None:
        net = factory(space, n_actions)
        if not isinstance(net, nn.Module):
            raise DeepQError(f"the network factory returned a {type(net).__name__}, not a torch.nn.Module; it must "
                             "be factory(observation_space, n_actions) -> nn.Module")
        return net
    kind = getattr(network_cfg, "kind", "auto")
    kind = conv.auto_kind(space.shape) if kind == "auto" else kind
    encoder, width = None, 0
    if kind == "mlp":
        if len(space.shape) != 1:
            raise DeepQError(f"observations of shape {space.shape} need a network that accepts them: deepq's MLP "
                             "takes flat vectors; channels-first images (C, H, W) take network.kind=nature_cnn or "
                             "minatar_cnn (move the channels first with a wrapper); or "
                             "pass your own (deepq.train(cfg, network=factory), or network.factory=module:function), "
                             "or flatten the observations with a wrapper (gymnasium.wrappers.FlattenObservation)")
        width = int(space.shape[0])
    else:
        if len(space.shape) != 3:
            raise DeepQError(f"network.kind={kind} takes image observations (channels, height, width), got shape "
                             f"{space.shape}; use network.kind=mlp or auto")
        if kind == "nature_cnn" and min(space.shape[1:]) < conv.NATURE_MIN_SIDE:
            raise DeepQError(f"network.kind=nature_cnn needs frames of at least {conv.NATURE_MIN_SIDE}x"
                             f"{conv.NATURE_MIN_SIDE}, got {space.shape}; use network.kind=minatar_cnn or auto")
        encoder, width = conv.encoder(kind, space)
    _check_size(width, tuple(network_cfg.hidden_sizes), n_actions * (atoms or 1), network_cfg.dueling)
    cls = DuelingQNetwork if network_cfg.dueling else QNetwork
    return cls(width, n_actions, tuple(network_cfg.hidden_sizes), network_cfg.activation,
               layer_norm=getattr(network_cfg, "layer_norm", False), noisy=getattr(network_cfg, "noisy", False),
               atoms=atoms, encoder=encoder)


MAX_WEIGHTS = 1 << 28  # 1 GiB of float32 for the layers after the encoder: far above any DQN, far below the RAM


def _check_size(width: int, hidden: tuple[int, ...], outputs: int, dueling: bool) -> None:
    """One line before allocating a network that cannot fit (sizes from a config or a checkpoint from elsewhere:
    a 40M-wide input layer was an out-of-memory kill, not an error)."""
    dims = (width, *hidden)
    weights = sum(a * b for a, b in zip(dims, dims[1:])) + dims[-1] * outputs * (2 if dueling else 1)
    if weights > MAX_WEIGHTS:
        raise DeepQError(f"the Q-network would have {weights:,} weights (inputs {width:,}, hidden {list(hidden)}, "
                         f"{outputs:,} outputs), more than {MAX_WEIGHTS:,}; use smaller observations or layers")


def as_space(observation: spaces.Box | tuple[int, ...] | int) -> spaces.Box:
    if isinstance(observation, spaces.Space):
        return observation
    shape = (int(observation),) if isinstance(observation, (int, np.integer)) else tuple(observation)
    return spaces.Box(-np.inf, np.inf, shape, np.float32)


def factory_path(factory: Callable) -> str:
    """`module:qualname` of a function or class, the form `import_factory` reads back (it may not be importable:
    a lambda, a nested function or one defined in `__main__` or a notebook; loading then says what to pass)."""
    module = getattr(factory, "__module__", None) or "?"
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}:{name}"


def importable(path: str, factory: Callable) -> bool:
    """Whether `path` imports back to this very factory in a fresh process (not from `__main__`)."""
    if path.startswith("__main__:") or "<" in path:
        return False
    try:
        return import_factory(path) is factory
    except DeepQError:
        return False


def import_factory(path: str) -> NetworkFactory:
    """The callable at `module:function` (the current directory is searched too, see deepq.importing)."""
    hint = ("; pass the factory itself: deepq.load_agent(run, network=factory) / deepq.train(cfg, network=factory)"
            ", or name an importable one: network.factory=package.module:function")
    if "<" in path or path.startswith("__main__:"):
        raise DeepQError(f"the network factory {path} cannot be imported (a lambda, a nested function or one "
                         f"defined in a script or notebook){hint}")
    return import_callable(path, "network.factory", hint)
