"""The state of a vector environment, captured for a checkpoint and put back on resume, where that can be exact.

Exact for Gymnasium's native CartPole vector env (`CartPoleVectorEnv`: physics state, step counts, pending
autoresets, reset bounds, its generator) and deepq's subclass of it (`CartPoleArrays`: the same state under the same
kind, so a checkpoint of either resumes on either), deepq's `AcrobotVectorEnv` (the same, with a generator per copy)
and a `SyncVectorEnv` of CartPole, Acrobot or MountainCar (each sub-env's physics state and generator, its time
limit's step count, and the vector env's pending autoresets and observations). Anything else (Box2D, MuJoCo, a
custom env) has state that no general API exposes: `capture` returns None, and a resumed run restarts those episodes
instead (see `deepq.train`).

Arrays go into the checkpoint as tensors, the rest (generator states, small integers) as JSON: nothing is pickled.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.envs.classic_control.cartpole import CartPoleEnv, CartPoleVectorEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv
from gymnasium.vector import SyncVectorEnv
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from deepq.envs.acrobot import AcrobotVectorEnv
from deepq.envs.cartpole import CartPoleArrays
from deepq.envs.repeat import ActionRepeat

# Exact classes only (a subclass may keep state of its own): their whole state is `state` + `np_random`
# (+ CartPole's `steps_beyond_terminated`).
CAPTURABLE_ENVS = (CartPoleEnv, AcrobotEnv, MountainCarEnv)
# Wrappers that gym.make adds, and deepq's action repeat (no state between steps); only TimeLimit carries state
# that changes what the env returns.
KNOWN_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker, ActionRepeat)

EnvState = tuple[dict[str, np.ndarray], dict[str, Any]]  # (arrays, JSON)


def capture(envs) -> Optional[EnvState]:
    """The vector env's state as (arrays, JSON), or None when it cannot be captured exactly."""
    if type(envs) in (CartPoleVectorEnv, CartPoleArrays):  # (CartPoleArrays steps `state` in place: copied)
        return ({"state": np.array(envs.state), "steps": envs.steps.copy(), "prev_done": envs.prev_done.copy()},
                {"kind": "CartPoleVectorEnv", "rng": envs.np_random.bit_generator.state,
                 "bounds": [envs.low, envs.high], "steps_beyond_terminated": envs.steps_beyond_terminated})
    if type(envs) is AcrobotVectorEnv:
        return ({"state": envs.state.copy(), "steps": envs.steps.copy(), "prev_done": envs.prev_done.copy()},
                {"kind": "AcrobotVectorEnv", "rngs": [g.bit_generator.state for g in envs.generators]})
    if type(envs) is not SyncVectorEnv or not all(_capturable(env) for env in envs.envs):
        return None
    arrays = {"autoreset": envs._autoreset_envs.copy(), "observations": np.asarray(envs._observations).copy()}
    subs = []
    for i, env in enumerate(envs.envs):
        core = env.unwrapped
        arrays[f"{i}.state"] = np.asarray(core.state, dtype=np.float64)
        subs.append({"rng": core.np_random.bit_generator.state, "elapsed": _time_limit(env),
                     "steps_beyond_terminated": getattr(core, "steps_beyond_terminated", None)})
    return arrays, {"kind": "SyncVectorEnv", "envs": subs}


def restore(envs, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    """Put back what `capture` returned, into a vector env made (and reset) the same way."""
    if state["kind"] == "CartPoleVectorEnv":
        envs.state = arrays["state"].copy()
        envs.steps = arrays["steps"].copy()
        envs.prev_done = arrays["prev_done"].copy()
        envs.low, envs.high = state["bounds"]
        envs.steps_beyond_terminated = state["steps_beyond_terminated"]
        envs.np_random.bit_generator.state = state["rng"]
        return
    if type(envs) is AcrobotVectorEnv:
        _restore_acrobot(envs, arrays, state)
        return
    envs._autoreset_envs = arrays["autoreset"].copy()
    envs._observations = arrays["observations"].copy()
    for i, (env, sub) in enumerate(zip(envs.envs, state["envs"], strict=True)):
        core = env.unwrapped
        core.state = arrays[f"{i}.state"].copy()
        core.np_random.bit_generator.state = sub["rng"]
        if isinstance(core, CartPoleEnv):
            core.steps_beyond_terminated = sub["steps_beyond_terminated"]
        limit = _find(env, TimeLimit)
        if limit is not None:
            limit._elapsed_steps = sub["elapsed"]


def _restore_acrobot(envs: AcrobotVectorEnv, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
    """Its own state, or that of a synchronous vector of Acrobots (a checkpoint from before deepq stepped Acrobot
    as arrays: the same copies, so the same run goes on)."""
    if state["kind"] == "AcrobotVectorEnv":
        envs.state = arrays["state"].copy()
        envs.steps = arrays["steps"].copy()
        envs.prev_done = arrays["prev_done"].copy()
        rngs = state["rngs"]
    elif state["kind"] == "SyncVectorEnv":
        envs.state = np.stack([arrays[f"{i}.state"] for i in range(len(state["envs"]))], axis=1)
        envs.steps = np.array([sub["elapsed"] for sub in state["envs"]], dtype=np.int64)
        envs.prev_done = arrays["autoreset"].astype(bool)
        rngs = [sub["rng"] for sub in state["envs"]]
    else:
        raise ValueError(f"an environment state of kind {state['kind']!r} does not fit Acrobot")
    if envs.state.shape != (4, envs.num_envs) or len(rngs) != envs.num_envs:
        raise ValueError(f"an environment state for {len(rngs)} copies, the run has {envs.num_envs}")
    for generator, rng in zip(envs.generators, rngs, strict=True):
        generator.bit_generator.state = rng


def _capturable(env) -> bool:
    wrapper = env
    while wrapper is not wrapper.unwrapped:
        if not isinstance(wrapper, KNOWN_WRAPPERS):
            return False
        wrapper = wrapper.env
    return type(wrapper) in CAPTURABLE_ENVS


def _find(env, cls):
    while env is not env.unwrapped:
        if isinstance(env, cls):
            return env
        env = env.env
    return None


def _time_limit(env) -> Optional[int]:
    limit = _find(env, TimeLimit)
    return None if limit is None else limit._elapsed_steps
