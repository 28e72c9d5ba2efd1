"""CartPole as arrays, with less NumPy overhead a step: Gymnasium's own `CartPoleVectorEnv` with a leaner `step`.

Gymnasium's `CartPoleVectorEnv.step` costs ~40-60 us for 1-100 copies, nearly all of it per-call overhead: ~7-11
us checking the actions (`action_space.contains`), then ~40 small NumPy calls, most of them allocating (`np.stack`
of the new state, `np.ones_like`, the masked autoreset writes, done on every step even when no copy ended).
`CartPoleArrays` keeps the state and every intermediate in arrays allocated once and updates them in place
(positional `out`, constants as 0-d arrays), checks the actions with one comparison, and skips the autoreset block
when no copy ended at the previous step: ~20-26 us a step, half of Gymnasium's (`bench/cartpole_vector.py`). The
float64 expressions are Gymnasium's, operation for operation in its order (only exact rewrites: `a * b` for
`b * a`, `|x| > t` for `x < -t or x > t`), so every state, observation, reward, termination, truncation and
autoreset is the same to the bit, and the generator draws the same numbers (`uniform(size=(4, k))` for the k copies
that ended; k = 0 draws nothing): tests/test_cartpole_arrays.py compares them step by step.

The returned arrays are new on every step, as Gymnasium's (the collector keeps an observation for the next
transition); `state` is one array updated in place, so a caller that keeps it across steps must copy it (deepq's
checkpoint does). Anything set from outside (`state`, `steps`, `prev_done`, as `reset` and deepq's evaluation do)
is taken as is: a new `state` array is copied into the internal one on the next step.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

# The action dtypes Gymnasium's CartPole takes (integers, bools) and the unsigned dtype each is checked as
UNSIGNED = {np.dtype(f"{sign}int{bits}"): np.dtype(f"uint{bits}")
            for sign in ("", "u") for bits in (8, 16, 32, 64)}
UNSIGNED[np.dtype(bool)] = np.dtype(np.uint8)


class CartPoleArrays(CartPoleVectorEnv):
    """Gymnasium's `CartPoleVectorEnv` (same constructor, attributes, `reset` and checkpointable state: `state`
    (4, N) float64, `steps`, `prev_done`, `np_random`), stepped with fewer NumPy calls.

    Actions: an integer (or bool) array or list of shape (N,) of 0s and 1s; anything else raises one ValueError.
    The Sutton-Barto reward and the semi-implicit integrator take Gymnasium's own step. The physics constants
    (`gravity`, `length`, ..., `max_episode_steps`) are read at construction and at each `reset`, not at each step
    as Gymnasium does: change them before a reset."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int = 500, **kwargs) -> None:
        super().__init__(num_envs, max_episode_steps, **kwargs)  # render_mode, sutton_barto_reward (Gymnasium 1.1+)
        n = num_envs
        self._state = np.zeros((4, n))  # the state stepped in place: rows x, x_dot, theta, theta_dot
        self._positions, self._velocities = self._state[0::2], self._state[1::2]  # (2, N) views: x, theta; dots
        self._theta, self._theta_dot = self._state[2], self._state[3]
        self._acc = np.zeros((2, n))  # xacc, thetaacc (the velocities' rows)
        self._xacc, self._thetaacc = self._acc
        self._pair = np.zeros((2, n))
        self._over = np.zeros((2, n), dtype=bool)
        self._over_x, self._over_theta = self._over
        self._cos, self._sin, self._temp, self._num, self._den, self._tmp = np.zeros((6, n))
        self._ones = np.ones(n, dtype=np.float32)
        self._read_constants()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._read_constants()
        return super().reset(seed=seed, options=options)

    def _read_constants(self) -> None:
        """The instance's constants as 0-d float64 arrays (a NumPy call with one costs half what it does with a
        Python float, and computes the same: the float is converted to that float64 either way)."""
        const = lambda value: np.array(value, dtype=np.float64)  # noqa: E731
        self._forces = np.array([-self.force_mag, self.force_mag])  # sign(action - 0.5) * force_mag, exactly
        self._polemass_length, self._total_mass = const(self.polemass_length), const(self.total_mass)
        self._gravity, self._masspole, self._length = const(self.gravity), const(self.masspole), const(self.length)
        self._four_thirds, self._tau = const(4.0 / 3.0), const(self.tau)
        self._limits = np.array([[self.x_threshold], [self.theta_threshold_radians]])  # (2, 1): |x|, |theta|
        self._max_steps = np.array(self.max_episode_steps)
        self._fast = not getattr(self, "_sutton_barto_reward", False) and self.kinematics_integrator == "euler"

    def step(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._fast:
            return super().step(action)
        force = self._force(np.asarray(action))  # (N,), a new array
        s = self._own_state()
        theta, theta_dot = self._theta, self._theta_dot
        cos, sin, temp, num, den, tmp = self._cos, self._sin, self._temp, self._num, self._den, self._tmp
        acc, pair = self._acc, self._pair
        pml, total_mass = self._polemass_length, self._total_mass
        # Gymnasium's expressions, left to right; positional `out` (a keyword costs ~0.2 us a call)
        np.cos(theta, cos)
        np.sin(theta, sin)
        # temp = (force + polemass_length * theta_dot**2 * sintheta) / total_mass
        np.square(theta_dot, temp)
        np.multiply(temp, pml, temp)
        np.multiply(temp, sin, temp)
        np.add(temp, force, temp)
        np.divide(temp, total_mass, temp)
        # thetaacc = (gravity * sintheta - costheta * temp) / (length * (4/3 - masspole * costheta**2 / total_mass))
        np.multiply(sin, self._gravity, num)
        np.multiply(cos, temp, tmp)
        np.subtract(num, tmp, num)
        np.square(cos, den)
        np.multiply(den, self._masspole, den)
        np.divide(den, total_mass, den)
        np.subtract(self._four_thirds, den, den)
        np.multiply(den, self._length, den)
        thetaacc = np.divide(num, den, self._thetaacc)
        # xacc = temp - polemass_length * thetaacc * costheta / total_mass
        np.multiply(thetaacc, pml, tmp)
        np.multiply(tmp, cos, tmp)
        np.divide(tmp, total_mass, tmp)
        np.subtract(temp, tmp, self._xacc)
        # Euler, both coordinates at once: x += tau * x_dot and theta += tau * theta_dot (the old velocities), then
        # x_dot += tau * xacc and theta_dot += tau * thetaacc
        np.multiply(self._velocities, self._tau, pair)
        np.add(self._positions, pair, self._positions)
        np.multiply(acc, self._tau, acc)
        np.add(self._velocities, acc, self._velocities)

        # x < -x_threshold or x > x_threshold or theta < -theta_threshold or theta > theta_threshold
        np.greater(np.abs(self._positions, pair), self._limits, self._over)
        terminated = np.logical_or(self._over_x, self._over_theta)
        self.steps += 1
        truncated = np.greater_equal(self.steps, self._max_steps)
        reward = self._ones.copy()
        if np.count_nonzero(self.prev_done):
            # Gymnasium's next-step autoreset (which it runs with no copy too): the copies that ended at the previous
            # step start anew, from the same draw; here through their indices rather than the mask, found once
            ended = np.flatnonzero(self.prev_done)
            s[:, ended] = self.np_random.uniform(low=self.low, high=self.high, size=(4, len(ended)))
            self.steps[ended] = 0
            reward[ended] = 0.0
            terminated[ended] = False
            truncated[ended] = False
        self.prev_done = np.logical_or(terminated, truncated)
        return s.T.astype(np.float32), reward, terminated, truncated, {}

    def _own_state(self) -> np.ndarray:
        """The internal state array, with whatever `reset` or a caller assigned to `state` copied into it."""
        if self.state is not self._state:
            if self.state is None:
                raise AssertionError("Call reset before using step method.")
            self._state[...] = self.state  # a shape that does not fit raises here
            self.state = self._state
        return self._state

    def _force(self, action: np.ndarray) -> np.ndarray:
        """-force_mag for action 0, +force_mag for action 1, as a new (N,) array; one ValueError for anything
        else, where Gymnasium's `action_space.contains` (~11 us) fails an assert. Integers are compared as
        unsigned, so that a negative one is too large (and bools index rather than mask)."""
        unsigned = UNSIGNED.get(action.dtype)
        if unsigned is None or action.shape != (self.num_envs,) or np.count_nonzero(action.view(unsigned) > 1):
            raise ValueError(f"CartPole takes {self.num_envs} actions (0 or 1) as an integer array of shape "
                             f"({self.num_envs},), got {action!r}")
        return self._forces[action.view(unsigned)]


ENABLED = True  # False: Gymnasium's own CartPoleVectorEnv everywhere (bench/cartpole_vector.py compares the two)

GYMNASIUM_VECTOR = "gymnasium.envs.classic_control.cartpole:CartPoleVectorEnv"


def plain_cartpole(spec: gym.envs.registration.EnvSpec) -> bool:
    """Whether deepq steps this id with `CartPoleArrays`: Gymnasium's CartPole as registered (CartPole-v0, -v1:
    Gymnasium's vector entry point, no kwargs, no extra wrappers), which this class reproduces; a variant keeps
    Gymnasium's."""
    return (ENABLED and spec.entry_point == "gymnasium.envs.classic_control.cartpole:CartPoleEnv"
            and spec.vector_entry_point == GYMNASIUM_VECTOR and not spec.kwargs and not spec.additional_wrappers)
