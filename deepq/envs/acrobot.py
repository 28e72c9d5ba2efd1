"""Acrobot-v1 as arrays: every copy stepped by one NumPy call, as Gymnasium's own `CartPoleVectorEnv` does for
CartPole (Gymnasium has no vector version of Acrobot).

Gymnasium's `AcrobotEnv` spends ~45 us a step on NumPy calls over scalars (a 4-stage Runge-Kutta step of the
two-link dynamics); a `SyncVectorEnv` of N copies pays that N times. Here the same expressions run once on arrays
of N, in the same order, so every copy follows the single environment's trajectory to the bit (tests compare
them step by step): `bench/acrobot_vector.py` measures the gain. It also behaves as `gym.make_vec("Acrobot-v1",
N, vectorization_mode="sync")` does, generator for generator: copy i is seeded `seed + i`, draws its start states
from its own generator, ends its episodes at the time limit and resets on the step after an end (next-step
autoreset), so a training run makes the same transitions either way.
"""

from __future__ import annotations

import math
from itertools import repeat
from typing import Optional

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.acrobot import AcrobotEnv
from gymnasium.utils import seeding
from gymnasium.vector.utils import batch_space
from numpy import cos, pi, sin

LOW, HIGH = -0.1, 0.1  # AcrobotEnv.reset's default bounds


class AcrobotVectorEnv(gym.vector.VectorEnv):
    """`num_envs` Acrobots. `state` holds one column per copy in AcrobotEnv's layout (theta1, theta2, dtheta1,
    dtheta2); `steps` counts each copy's steps for the time limit; `prev_done` marks the copies that reset on the
    next step; `generators` are the copies' own `np_random`."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, max_episode_steps: int = 500) -> None:
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        single = AcrobotEnv()
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.torques = np.asarray(AcrobotEnv.AVAIL_TORQUE, dtype=np.float64)
        self.state = np.zeros((4, num_envs), dtype=np.float64)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.prev_done = np.zeros(num_envs, dtype=bool)
        self.generators = [seeding.np_random(None)[0] for _ in range(num_envs)]

    # --- the Gymnasium vector API ---------------------------------------------------------------------------
    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        if options:
            raise ValueError("AcrobotVectorEnv.reset takes no options")
        obs = np.zeros((self.num_envs, 6), dtype=np.float32)
        for i in range(self.num_envs):
            if seed is not None:
                self.generators[i] = seeding.np_random(seed + i)[0]
            obs[i] = self._start(i)
        self.steps[:] = 0
        self.prev_done[:] = False
        return obs, {}

    def step(self, actions):
        actions = np.asarray(actions)
        self.state = self.advance(self.state, self.torques[actions])
        self.steps += 1
        terminated = self.terminal(self.state)
        truncated = self.steps >= self.max_episode_steps
        reward = np.where(terminated, 0.0, -1.0)
        obs = self.observe()
        for i in np.flatnonzero(self.prev_done):  # next-step autoreset: this step starts a new episode
            obs[i] = self._start(i)
            self.steps[i] = 0
            reward[i], terminated[i], truncated[i] = 0.0, False, False
        self.prev_done = terminated | truncated
        return obs, reward, terminated, truncated, {}

    def _start(self, i: int) -> np.ndarray:
        """Copy i's next start state (AcrobotEnv.reset) and its observation, which AcrobotEnv computes from the
        float32 start state in float32 (the state is float64 from the first step on)."""
        start = self.generators[i].uniform(low=LOW, high=HIGH, size=(4,)).astype(np.float32)
        self.state[:, i] = start
        return _start_observation(start)

    # --- AcrobotEnv's arithmetic on columns ------------------------------------------------------------------
    def observe(self) -> np.ndarray:
        s = self.state
        return np.stack([cos(s[0]), sin(s[0]), cos(s[1]), sin(s[1]), s[2], s[3]], axis=1).astype(np.float32)

    @staticmethod
    def terminal(s: np.ndarray) -> np.ndarray:
        return -cos(s[0]) - cos(s[1] + s[0]) > 1.0

    @staticmethod
    def advance(s: np.ndarray, torque: np.ndarray) -> np.ndarray:
        """One `AcrobotEnv.step` of the physics (gymnasium's `rk4` over [0, dt], then `wrap` and `bound`)."""
        y0 = np.empty((5, s.shape[1]))
        y0[:4], y0[4] = s, torque
        k = np.zeros((4, 5, s.shape[1]))  # k1..k4; row 4 (the torque's derivative) stays 0
        dt = AcrobotEnv.dt
        dt2 = dt / 2.0
        _dsdt(y0, k[0])
        _dsdt(y0 + dt2 * k[0], k[1])
        _dsdt(y0 + dt2 * k[1], k[2])
        _dsdt(y0 + dt * k[2], k[3])
        ns = (y0 + dt / 6.0 * (k[0] + 2 * k[1] + 2 * k[2] + k[3]))[:4]
        ns[0] = _wrap(ns[0], -pi, pi)
        ns[1] = _wrap(ns[1], -pi, pi)
        ns[2] = np.minimum(np.maximum(ns[2], -AcrobotEnv.MAX_VEL_1), AcrobotEnv.MAX_VEL_1)
        ns[3] = np.minimum(np.maximum(ns[3], -AcrobotEnv.MAX_VEL_2), AcrobotEnv.MAX_VEL_2)
        return ns


def _start_observation(s: np.ndarray) -> np.ndarray:
    """AcrobotEnv._get_ob of a float32 start state (NumPy float32 scalars: float32 cos and sin)."""
    return np.array([cos(s[0]), sin(s[0]), cos(s[1]), sin(s[1]), s[2], s[3]], dtype=np.float32)


def _dsdt(s_augmented: np.ndarray, out: np.ndarray) -> None:
    """AcrobotEnv._dsdt ("book" dynamics) on a (5, N) array, term for term in its order, into out[:4]."""
    m1, m2 = AcrobotEnv.LINK_MASS_1, AcrobotEnv.LINK_MASS_2
    l1 = AcrobotEnv.LINK_LENGTH_1
    lc1, lc2 = AcrobotEnv.LINK_COM_POS_1, AcrobotEnv.LINK_COM_POS_2
    I1 = I2 = AcrobotEnv.LINK_MOI
    g = 9.8
    a = s_augmented[-1]
    theta1, theta2, dtheta1, dtheta2 = s_augmented[0], s_augmented[1], s_augmented[2], s_augmented[3]
    cos2, sin2 = cos(theta2), sin(theta2)  # computed once each (AcrobotEnv: 2 and 3 times, the same values)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + I1 + I2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + I2
    phi2 = m2 * lc2 * g * cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * _square(dtheta2) * sin2
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * cos(theta1 - pi / 2)
        + phi2
    )
    ddtheta2 = (
        a + d2 / d1 * phi1 - m2 * l1 * lc2 * _square(dtheta1) * sin2 - phi2
    ) / (m2 * lc2**2 + I2 - _square(d2) / d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    out[0], out[1], out[2], out[3] = dtheta1, dtheta2, ddtheta1, ddtheta2


def _square(x: np.ndarray) -> np.ndarray:
    """x**2 as AcrobotEnv computes it on a NumPy scalar: C's pow(x, 2), which differs from NumPy's array square
    (x * x, correctly rounded) in the last bit for ~0.1% of inputs; a chaotic system makes that a different
    trajectory within a few hundred steps."""
    return np.fromiter(map(math.pow, x.tolist(), repeat(2.0, len(x))), dtype=np.float64, count=len(x))


def _wrap(x: np.ndarray, m: float, M: float) -> np.ndarray:
    """gymnasium's `wrap`, elementwise: the same repeated subtractions, so the same result."""
    diff = M - m
    while (above := x > M).any():
        x = np.where(above, x - diff, x)
    while (below := x < m).any():
        x = np.where(below, x + diff, x)
    return x


ENABLED = True  # False: Gymnasium's own Acrobot everywhere (bench/acrobot_vector.py compares the two)


def plain_acrobot(spec: gym.envs.registration.EnvSpec) -> bool:
    """Whether deepq steps this id as arrays: Gymnasium's own Acrobot as registered (no kwargs, no extra
    wrappers), which this class reproduces; a variant (a subclass, its own kwargs) keeps Gymnasium's."""
    return (ENABLED and spec.entry_point == "gymnasium.envs.classic_control.acrobot:AcrobotEnv" and not spec.kwargs
            and not spec.additional_wrappers)
