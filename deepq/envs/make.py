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

from deepq.errors import DeepQError


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
                importlib.import_module(module)
            return gym.spec(name)
    except (gym.error.Error, ModuleNotFoundError, ImportError) as exc:
        close = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
        reason = "is not a registered Gymnasium environment" if isinstance(exc, gym.error.Error) else \
            f"needs a missing package ({exc})"
        raise DeepQError(f"environment {env_id!r} {reason}; {hint}") from None


def check_spaces(env_id: str, observation_space: gym.Space, action_space: gym.Space) -> tuple[int, int]:
    """(obs_dim, n_actions) for a Discrete-action, flat-Box-observation task; anything else is refused."""
    if not isinstance(action_space, spaces.Discrete):
        kind = type(action_space).__name__
        raise DeepQError(f"{env_id} has a {kind} action space {action_space}; DQN needs a Discrete action space "
                         "(pick another algorithm or discretise the actions with a wrapper)")
    if isinstance(observation_space, spaces.Box) and len(observation_space.shape) != 1:
        raise DeepQError(f"{env_id} has observations of shape {observation_space.shape} (an image or a grid); "
                         "deepq's MLP needs a flat vector: wrap the env with FlattenObservation or use a "
                         "vector-observation version of the task")
    if not isinstance(observation_space, spaces.Box):
        kind = type(observation_space).__name__
        raise DeepQError(f"{env_id} has a {kind} observation space; deepq needs a flat Box observation "
                         "(wrap the env with FlattenObservation, or one-hot encode a Discrete observation)")
    return int(observation_space.shape[0]), int(action_space.n)


def _limit(max_episode_steps: Optional[int]) -> dict:
    return {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}


def make_env(env_id: str, render_mode: Optional[str] = None, max_episode_steps: Optional[int] = None) -> gym.Env:
    """One environment, checked."""
    env_spec(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            env = gym.make(env_id, render_mode=render_mode, **_limit(max_episode_steps))
        except (gym.error.Error, ImportError) as exc:
            raise DeepQError(f"could not create {env_id}: {exc}") from None
    check_spaces(env_id, env.observation_space, env.action_space)
    return env


def make_vec_env(env_id: str, num_envs: int, max_episode_steps: Optional[int] = None) -> gym.vector.VectorEnv:
    """`num_envs` copies in one vector env (next-step autoreset); Gymnasium's native vector version when the
    environment has one (CartPole: all copies stepped in one NumPy call), otherwise a synchronous vector."""
    spec = env_spec(env_id)
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
    return env_spec(env_id).reward_threshold


