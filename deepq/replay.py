"""Uniform experience replay in a preallocated NumPy ring buffer (no Python object per transition)."""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class Batch(NamedTuple):
    """A sampled minibatch. B = batch size, O = observation dims."""

    obs: np.ndarray  # (B, O) float32
    action: np.ndarray  # (B,) int64
    reward: np.ndarray  # (B,) float32
    next_obs: np.ndarray  # (B, O) float32: the true next observation, also at a truncation
    done: np.ndarray  # (B,) float32: 1.0 only where the episode terminated (no bootstrap)
    discount: np.ndarray  # (B,) float32: gamma**k for the k-step return stored in `reward`
    weights: Optional[np.ndarray] = None  # (B,) float32 importance weights, prioritized replay only
    indices: Optional[np.ndarray] = None  # (B,) int64 slots, for priority updates


class ReplayBuffer:
    """Ring buffer of `capacity` transitions; `add` takes a batch of N transitions at once."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float) -> None:
        self.capacity = capacity
        self.gamma = gamma
        self.obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=np.float32)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.done = np.zeros(capacity, dtype=np.float32)
        self.discount = np.zeros(capacity, dtype=np.float32)
        self.pos = 0  # next slot to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray, discount: Optional[np.ndarray] = None) -> np.ndarray:
        """Store N transitions (arrays with leading dim N); returns the slots written."""
        n = len(action)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        slots = (self.pos + np.arange(n)) % self.capacity
        self.obs[slots] = obs
        self.next_obs[slots] = next_obs
        self.action[slots] = action
        self.reward[slots] = reward
        self.done[slots] = terminated
        self.discount[slots] = self.gamma if discount is None else discount
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        return slots

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Uniform sample with replacement (as SB3/Dopamine do: cheap and unbiased)."""
        idx = rng.integers(0, self.size, size=batch_size)
        return self.gather(idx)

    def gather(self, idx: np.ndarray) -> Batch:
        return Batch(self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.done[idx],
                     self.discount[idx], None, idx)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Contents for a checkpoint (plain arrays, no pickle)."""
        n = self.size
        return {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "action": self.action[:n],
                "reward": self.reward[:n], "done": self.done[:n], "discount": self.discount[:n],
                "pos_size": np.array([self.pos, self.size], dtype=np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        pos, size = (int(v) for v in arrays["pos_size"])
        for name in ("obs", "next_obs", "action", "reward", "done", "discount"):
            getattr(self, name)[:size] = arrays[name]
        self.pos, self.size = pos, size
