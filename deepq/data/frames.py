"""A replay that stores each observation frame once, as Dopamine's does: the memory of pixel DQN.

A transition buffer keeps every observation twice (as obs and as the previous transition's next_obs), and with
a frame stack of 4 each 84x84 frame eight times: 1M Atari transitions take 56 GB as uint8 stacks. Here each
vector step writes one *row*: for every sub-env i the newest frame of the observation it acted on, the action,
the reward and how the step ended. Stacks, next observations and n-step returns are rebuilt when a batch is
sampled, so 1M transitions hold 1M frames (7 GB at 84x84).

Rows are a ring of `rows` = capacity / num_envs steps, shape (R, N, *frame). With Gymnasium's next-step
autoreset every sub-env contributes one observation per step, so the row after row r of sub-env i is simply row
r + 1: after an episode ends, the next row holds its final observation (`real` False: the step from it is the
reset, not a transition) and the row after that the first observation of the next episode. Hence:

  - a transition starts at every `real` row r; its n-step return sums the rewards of rows r .. r+m-1, where m is
    n or the rows up to the first episode end (terminated or truncated); it bootstraps from row r + m with
    gamma^m, unless the episode *terminated* at row r + m - 1 (done = 1). A truncation keeps the true final
    observation (row r + m) and bootstraps from it, which some memory-saving buffers lose (CleanRL issue 460).
  - the stack of row r is the frames of rows r-K+1 .. r, each row before the episode's first row replaced by the
    first row: Gymnasium's FrameStackObservation pads a new episode with its reset frame ("reset" padding), so
    the rebuilt stack is exactly the observation the agent saw. A stack never mixes two episodes.
  - row r is drawn only once rows r .. r+n are written (its window is complete), and only while all the frames
    its stack needs are still in the ring.

`frame_stack` K = 1 stores the whole observation as the frame (MinAtar, or any task): obs and next obs are
still stored once. Uniform and prioritized sampling; `len` counts the transitions that can be drawn.
Shapes: R rows, N sub-envs, B batch, K frames per stack, n the n-step horizon.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from deepq.data.priority import SumTree, importance_weights, priorities
from deepq.data.replay import Batch


class FrameReplay:
    """Uniform replay over rows of frames (see the module docstring). `add_step` takes one vector step."""

    streams = True  # the collector hands it whole vector steps (no n-step folding: returns are built here)

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float, num_envs: int, n_step: int = 1,
                 frame_stack: int = 1, obs_dtype=np.uint8) -> None:
        obs_shape = tuple(int(d) for d in obs_shape)
        if frame_stack > 1 and (len(obs_shape) < 2 or obs_shape[0] != frame_stack):
            raise ValueError(f"a frame stack of {frame_stack} needs observations of shape ({frame_stack}, ...), "
                             f"got {obs_shape}")
        self.obs_shape, self.gamma, self.n, self.k = obs_shape, gamma, n_step, frame_stack
        self.num_envs = num_envs
        frame_shape = obs_shape[1:] if frame_stack > 1 else obs_shape
        # enough rows for `capacity` transitions, plus the rows a window and a stack need beyond them
        self.rows = max(-(-capacity // num_envs), 1) + n_step + frame_stack
        self.capacity = self.rows * num_envs
        R, N = self.rows, num_envs
        self.frames = np.zeros((R, N, *frame_shape), dtype=obs_dtype)
        self.action = np.zeros((R, N), dtype=np.int64)
        self.reward = np.zeros((R, N), dtype=np.float32)
        self.terminated = np.zeros((R, N), dtype=bool)
        self.ended = np.zeros((R, N), dtype=bool)  # terminated or truncated at this row's step
        self.real = np.zeros((R, N), dtype=bool)  # a transition starts here (False: an episode's final observation)
        self.first = np.zeros((R, N), dtype=np.int64)  # absolute row of the episode's first observation
        self.written = 0  # rows written so far (absolute row numbers count from 0)
        self.episode_first_N = np.zeros(N, dtype=np.int64)
        self.starts_episode_N = np.ones(N, dtype=bool)  # the next row begins an episode
        self.gamma_pow = gamma ** np.arange(n_step + 1, dtype=np.float64)
        self.size = 0  # transitions that can be drawn

    # --- writing ----------------------------------------------------------------------------------------------
    def add_step(self, obs_N: np.ndarray, action_N: np.ndarray, reward_N: np.ndarray, terminated_N: np.ndarray,
                 truncated_N: np.ndarray, real_N: np.ndarray) -> None:
        """One vector step: the observations acted on (N, *obs_shape), the actions, the (stored) rewards and how
        each step ended. `real_N` False: sub-env i was autoresetting, obs_N[i] is its episode's final
        observation."""
        r = self.written
        p = r % self.rows
        self._drop_row(r - self.rows + self.k - 1)  # its stack would reach the frame row r overwrites
        self.frames[p] = obs_N[:, -1] if self.k > 1 else obs_N
        self.action[p] = action_N
        self.reward[p] = reward_N
        self.terminated[p] = terminated_N & real_N
        self.ended[p] = (terminated_N | truncated_N) & real_N
        self.real[p] = real_N
        self.episode_first_N[self.starts_episode_N] = r
        self.first[p] = self.episode_first_N
        self.starts_episode_N = ~real_N  # after a final observation, the next row is a new episode's first
        self.written = r + 1
        if r - self.n >= 0:
            self._row_ready(r - self.n)

    def restart(self) -> None:
        """The episodes were cut (a resume that could not restore the env): the transitions whose window is not
        complete are dropped (as the n-step folder drops its pending windows), and the next row starts a new
        episode in every sub-env. Transitions already complete keep their returns and next observations."""
        for r in range(max(0, self.written - self.n), self.written):
            self.real[r % self.rows] = False  # not ready yet, so never counted or given a priority
        self.starts_episode_N[:] = True

    def _drop_row(self, r: int) -> None:
        """Row r can no longer be drawn (a frame of its stack is about to be overwritten)."""
        if r >= 0:
            self.size -= int(self.real[r % self.rows].sum())

    def _row_ready(self, r: int) -> None:
        """Row r can be drawn from now on: rows r .. r + n are written."""
        self.size += int(self.real[r % self.rows].sum())

    # --- which rows can be drawn --------------------------------------------------------------------------------
    def row_range(self) -> tuple[int, int]:
        """[lo, hi], the absolute rows a transition may start at (none while lo > hi): its window complete, and
        every frame of its stack still in the ring (the oldest row held is written - rows)."""
        return max(0, self.written - self.rows + self.k - 1), self.written - 1 - self.n

    def __len__(self) -> int:
        return self.size

    def _pos(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(rows) % self.rows

    # --- sampling ---------------------------------------------------------------------------------------------
    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Uniform over the transitions that can be drawn (with replacement): a row and a sub-env are drawn, and
        draws that land on an episode's final observation are drawn again."""
        lo, hi = self.row_range()
        rows_B = np.zeros(0, dtype=np.int64)
        envs_B = np.zeros(0, dtype=np.int64)
        while len(rows_B) < batch_size:
            r = rng.integers(lo, hi + 1, size=batch_size)
            e = rng.integers(0, self.num_envs, size=batch_size)
            keep = self.real[self._pos(r), e]
            rows_B = np.concatenate([rows_B, r[keep]])
            envs_B = np.concatenate([envs_B, e[keep]])
        rows_B, envs_B = rows_B[:batch_size], envs_B[:batch_size]
        return self.gather(rows_B, envs_B)

    def gather(self, rows_B: np.ndarray, envs_B: np.ndarray) -> Batch:
        """The transitions starting at absolute rows `rows_B` of sub-envs `envs_B`."""
        B, n = len(rows_B), self.n
        window_Bn = self._pos(rows_B[:, None] + np.arange(n))
        env_Bn = envs_B[:, None]
        ended_Bn = self.ended[window_Bn, env_Bn]
        alive_Bn = np.ones((B, n), dtype=bool)  # reward k counts while no episode ended before it
        alive_Bn[:, 1:] = np.cumsum(ended_Bn[:, :-1], axis=1) == 0
        steps_B = alive_Bn.sum(axis=1)  # m: rewards summed, 1 .. n
        ret_B = (self.reward[window_Bn, env_Bn] * alive_Bn * self.gamma_pow[:n]).sum(axis=1)
        last_B = self._pos(rows_B + steps_B - 1)
        done_B = self.terminated[last_B, envs_B]
        obs_B = self.stack(rows_B, envs_B)
        next_obs_B = self.stack(rows_B + steps_B, envs_B)
        slots_B = self._pos(rows_B) * self.num_envs + envs_B
        return Batch(obs_B, self.action[self._pos(rows_B), envs_B], ret_B.astype(np.float32), next_obs_B,
                     done_B.astype(np.float32), self.gamma_pow[steps_B].astype(np.float32), None, slots_B)

    def stack(self, rows_B: np.ndarray, envs_B: np.ndarray) -> np.ndarray:
        """The observation (B, *obs_shape) of absolute rows `rows_B`: the last K frames of its episode, the
        episode's first frame repeated before its start."""
        if self.k == 1:
            return self.frames[self._pos(rows_B), envs_B]
        first_B = self.first[self._pos(rows_B), envs_B]
        src_BK = np.maximum(rows_B[:, None] - np.arange(self.k - 1, -1, -1), first_B[:, None])
        return self.frames[self._pos(src_BK), envs_B[:, None]]  # (B, K, *frame)

    # --- checkpoints ------------------------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The rows written (all R once the ring is full): a checkpoint grows with the frames held."""
        used = min(self.written, self.rows)
        arrays = {name: getattr(self, name)[:used] for name in self._ROW_ARRAYS}
        arrays.update(written=np.array([self.written], dtype=np.int64), episode_first=self.episode_first_N,
                      starts_episode=self.starts_episode_N)
        return arrays

    _ROW_ARRAYS = ("frames", "action", "reward", "terminated", "ended", "real", "first")

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        written = int(arrays["written"][0])
        used = min(written, self.rows)
        for name in self._ROW_ARRAYS:
            if arrays[name].shape[1:] != getattr(self, name).shape[1:] or len(arrays[name]) != used:
                raise ValueError(f"replay.{name} of shape {arrays[name].shape} does not fit a replay of "
                                 f"{self.rows} rows x {self.num_envs} envs")
            getattr(self, name)[:used] = arrays[name]
        self.written = written
        self.episode_first_N[:] = arrays["episode_first"]
        self.starts_episode_N[:] = arrays["starts_episode"]
        lo, hi = self.row_range()
        self.size = 0 if hi < lo else int(self.real[self._pos(np.arange(lo, hi + 1))].sum())


class PrioritizedFrameReplay(FrameReplay):
    """Proportional prioritized replay (Schaul et al. 2016) over the rows of a `FrameReplay`: one sum-tree leaf
    per (row, sub-env). A transition enters at the largest priority seen when its window completes, and leaves
    (priority 0) when its row or a frame of its stack is overwritten."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float, num_envs: int, n_step: int,
                 frame_stack: int, alpha: float, priority_eps: float, beta: float, obs_dtype=np.uint8) -> None:
        super().__init__(capacity, obs_shape, gamma, num_envs, n_step, frame_stack, obs_dtype)
        self.alpha, self.priority_eps, self.beta = alpha, priority_eps, beta
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0

    def _set(self, r: int, priority_N: np.ndarray) -> None:
        slots_N = (r % self.rows) * self.num_envs + np.arange(self.num_envs)
        self.size += int(np.count_nonzero(priority_N)) - int(np.count_nonzero(self.tree.get(slots_N)))
        self.tree.update(slots_N, priority_N)

    def _drop_row(self, r: int) -> None:
        if r >= 0:
            self._set(r, np.zeros(self.num_envs))

    def _row_ready(self, r: int) -> None:
        self._set(r, np.where(self.real[r % self.rows], self.max_priority, 0.0))

    def probabilities(self, slots_B: np.ndarray) -> np.ndarray:
        return self.tree.get(slots_B) / self.tree.total

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Stratified over the total priority, as `PrioritizedReplayBuffer.sample`."""
        total = self.tree.total
        u_B = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        slots_B = self.tree.find(u_B)
        stray_B = self.tree.get(slots_B) == 0  # u rounded onto an empty leaf (partial sums round): search lower
        while stray_B.any():
            u_B[stray_B] *= 1 - 1e-9
            slots_B[stray_B] = self.tree.find(u_B[stray_B])
            stray_B = self.tree.get(slots_B) == 0
        prob_B = self.tree.get(slots_B) / total
        pos_B, envs_B = np.divmod(slots_B, self.num_envs)
        rows_B = self.written - 1 - (self.written - 1 - pos_B) % self.rows  # the absolute row held at pos
        weights_B = importance_weights(prob_B, self.size, self.beta)
        return self.gather(rows_B, envs_B)._replace(weights=weights_B.astype(np.float32))

    def update_priorities(self, slots_B: np.ndarray, td_error_B: np.ndarray) -> None:
        p_B = priorities(td_error_B, self.alpha, self.priority_eps)
        live_B = self.tree.get(slots_B) > 0  # a slot overwritten since it was drawn keeps priority 0
        self.tree.update(slots_B[live_B], p_B[live_B])
        self.max_priority = max(self.max_priority, float(p_B.max()))

    def state_arrays(self) -> dict[str, np.ndarray]:
        used = min(self.written, self.rows) * self.num_envs
        return {**super().state_arrays(), "priority": self.tree.get(np.arange(used)),
                "max_priority": np.array([self.max_priority], dtype=np.float64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(arrays)
        priority = arrays["priority"]
        self.tree.tree[:] = 0.0
        self.tree.update(np.arange(len(priority)), priority)  # parents are sums of children: the same tree
        self.max_priority = float(arrays["max_priority"][0])


def make_frame_replay(replay_cfg, obs_shape: tuple[int, ...], gamma: float, num_envs: int, frame_stack: int,
                      obs_dtype) -> Optional[FrameReplay]:
    """The frame replay `replay.kind` asks for (uniform or prioritized)."""
    c = replay_cfg
    if c.kind == "uniform":
        return FrameReplay(c.capacity, obs_shape, gamma, num_envs, c.n_step, frame_stack, obs_dtype)
    if c.kind == "prioritized":
        return PrioritizedFrameReplay(c.capacity, obs_shape, gamma, num_envs, c.n_step, frame_stack, c.alpha,
                                      c.priority_eps, c.beta_start, obs_dtype)
    raise ValueError(f"replay.storage=frames works with replay.kind uniform or prioritized, not {c.kind!r}")
