"""Real environments that crash on purpose, for the tests of failure handling in `--seeds` and sweeps.

Used as `crashing_env:CrashingCartPole-v0` so that every fresh worker process imports this module (and so
registers the envs) before it makes the environment; `tests/` must be on the worker's import path.
"""

import os
import signal

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

RAISES_AT_SEED = 10  # training envs are reset with the run's seed (sub-env i with seed + i)
DIES_AT_SEED = 20
FLAKY_SEED = 100
FLAKY_DIR = "DEEPQ_TEST_FLAKY_DIR"  # env var: where FlakyCartPole marks the crash it already had


class CrashingCartPole(CartPoleEnv):
    """CartPole whose reset raises for run seed 10 and kills its own process for run seed 20."""

    def reset(self, *, seed=None, options=None):
        if seed == RAISES_AT_SEED:
            raise RuntimeError(f"CrashingCartPole refuses seed {seed}")
        if seed == DIES_AT_SEED:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().reset(seed=seed, options=options)


class FlakyCartPole(CartPoleEnv):
    """CartPole whose first reset with seed 100, across all processes, raises: a crash that a retry gets past.

    Each crash leaves a marker file in the directory named by $DEEPQ_TEST_FLAKY_DIR; without it, no crashes.
    """

    def reset(self, *, seed=None, options=None):
        folder = os.environ.get(FLAKY_DIR)
        if folder and seed == FLAKY_SEED:
            try:
                os.close(os.open(os.path.join(folder, f"crashed-{seed}"), os.O_CREAT | os.O_EXCL))  # atomic
            except FileExistsError:
                pass
            else:
                raise RuntimeError(f"FlakyCartPole crashed on its first reset with seed {seed}")
        return super().reset(seed=seed, options=options)


for _name, _cls in (("CrashingCartPole-v0", CrashingCartPole), ("FlakyCartPole-v0", FlakyCartPole)):
    if _name not in gym.registry:
        gym.register(_name, entry_point=_cls, max_episode_steps=500, reward_threshold=475.0)
