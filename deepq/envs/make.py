"""Make and check Gymnasium environments.

Training uses a vector environment with Gymnasium 1.x *next-step* autoreset: after an episode ends, the next
`step` of that sub-environment ignores the action and returns the first observation of a new episode. That step
is a reset, not a transition, and the training loop never stores it (see `train.collect_mask`).
"""

from __future__ import annotations

import difflib
import importlib
import warnings
from typing import Optional

import gymnasium as gym
from gymnasium import spaces

from deepq.envs import source
from deepq.envs.acrobot import AcrobotVectorEnv, plain_acrobot
from deepq.envs.cartpole import CartPoleArrays, plain_cartpole
from deepq.envs.families import ensure_registered
from deepq.errors import DeepQError
from deepq.importing import import_module


# From this many copies on, deepq's array Acrobot steps faster than a synchronous vector of Gymnasium's (one
# NumPy call on arrays costs ~170 us a step whatever the count, each Gymnasium copy ~45 us; bench/acrobot_vector.py)
ACROBOT_ARRAYS_FROM = 4


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec, or a one-line error with the closest registered ids.

    `module:EnvId` imports `module` first, as `gym.make` does: the way to use a custom environment in the fresh
    processes of `--seeds` and sweeps, which never ran the code that registered it.
    """
    module, _, name = env_id.rpartition(":")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if module:
                import_module(module)  # the current directory counts, as for python -m
            ensure_registered(name)
            spec = gym.spec(name)
    except (gym.error.Error, ModuleNotFoundError, ImportError) as exc:
        close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
        reason = "is not a registered Gymnasium environment" if isinstance(exc, gym.error.Error) else \
            f"needs a missing package ({exc})"
        raise DeepQError(f"environment {env_id!r} {reason}; {hint}") from None
    _require_extra(env_id, spec)
    return spec


# Gymnasium's environment families that need a package deepq installs only as an extra: (entry point prefix,
# module to import, extra). Checked before anything is built, so a missing one is one line, not a traceback.
EXTRAS = (("gymnasium.envs.box2d", "Box2D", "box2d"),)


def _require_extra(env_id: str, spec: gym.envs.registration.EnvSpec) -> None:
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    for prefix, module, extra in EXTRAS:
        if entry.startswith(prefix):
            try:
                importlib.import_module(module)
            except ImportError:
                raise DeepQError(f"{env_id} needs {module}, which is not installed; install deepq's {extra} extra: "
                                 f'pip install -c constraints.txt -e ".[{extra}]"') from None


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> tuple[tuple[int, ...], int]:
    """(observation shape, n_actions) for a task with a Discrete action space (starting at 0) and a Box observation
    of any shape and dtype; anything else is refused in one line. Whether the network accepts the observation's
    shape is the network builder's check (deepq.nets.build)."""
    if not isinstance(action_space, spaces.Discrete):
        kind = type(action_space).__name__
        raise DeepQError(f"{env_id} has a {kind} action space {action_space}; DQN needs a Discrete action space "
                         "(pick another algorithm or discretise the actions with a wrapper)")
    if int(action_space.start) != 0:
        raise DeepQError(f"{env_id} has actions {action_space} starting at {int(action_space.start)}; deepq's "
                         f"agents choose actions 0..n-1: shift them with a gymnasium.ActionWrapper")
    if not isinstance(observation_space, spaces.Box):
        kind = type(observation_space).__name__
        raise DeepQError(f"{env_id} has a {kind} observation space; deepq needs a Box observation (wrap the env "
                         "with FlattenObservation, or one-hot encode a Discrete observation)")
    return tuple(int(d) for d in observation_space.shape), int(action_space.n)


def _limit(max_episode_steps: Optional[int]) -> dict:
    return {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}


def make_env(env, render_mode: Optional[str] = None, max_episode_steps: Optional[int] = None) -> gym.Env:
    """One environment, checked. `env`: an id, `module:Id`, a factory path `module:function`, or a run's `cfg.env`
    (with its env.kwargs and env.wrappers; see deepq.envs.source). `render_mode` is passed only when given, so an
    environment whose constructor takes none works."""
    src = source.EnvSource.of(env)
    if src.plain:
        env_spec(src.id)  # an unknown id (with the closest ones) or a missing extra: one line, before building
    made = source.make(src, render_mode, max_episode_steps)
    check_spaces(src.id, made.observation_space, made.action_space)
    return made


def make_vec_env(env, num_envs: int, max_episode_steps: Optional[int] = None) -> gym.vector.VectorEnv:
    """`num_envs` copies in one vector env (next-step autoreset); for CartPole, Gymnasium's native vector version
    with deepq's leaner step (`CartPoleArrays`: the same steps, ~half the cost), Gymnasium's native vector version
    when another environment has one, deepq's for Acrobot (the same steps as Gymnasium's synchronous vector,
    faster from 4 copies on), otherwise a synchronous vector.
    `env` as for `make_env`; a factory, env.kwargs or env.wrappers always give a synchronous vector."""
    src = source.EnvSource.of(env)
    if not src.plain:
        envs = source.make_vec(src, num_envs, max_episode_steps)
        check_spaces(src.id, envs.single_observation_space, envs.single_action_space)
        return envs
    env_id = src.id
    spec = env_spec(env_id)
    if num_envs >= ACROBOT_ARRAYS_FROM and plain_acrobot(spec):
        return AcrobotVectorEnv(num_envs, max_episode_steps or spec.max_episode_steps)
    if plain_cartpole(spec):  # the time limit as gym.make_vec sets it: the override, else the spec's
        limit = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
        return CartPoleArrays(num_envs, **_limit(limit))
    mode = "vector_entry_point" if spec.vector_entry_point else "sync"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **_limit(max_episode_steps))
        except (gym.error.Error, ImportError) as exc:
            raise DeepQError(f"could not create {env_id}: {exc}") from None
    check_spaces(env_id, envs.single_observation_space, envs.single_action_space)
    return envs


def reward_threshold(env_id: str) -> Optional[float]:
    """The env spec's reward_threshold; for a factory, that of the spec of the env it makes (usually None)."""
    if source.factory_of(env_id) is not None:
        return source.reward_threshold(env_id)
    return env_spec(env_id).reward_threshold


