"""Experience replay in preallocated NumPy ring buffers (no Python object per transition).

`replay.kind` picks the buffer (see `make_buffer`):
    uniform       ReplayBuffer: uniform sampling with replacement (DQN, Mnih et al. 2015)
    prioritized   PrioritizedReplayBuffer: proportional PER on a sum tree (Schaul et al. 2016)
    loss_softmax  LossSoftmaxReplayBuffer: notebook 002's scheme, softmax of stored losses + periodic sort
    none          OnlineBuffer: online Q-learning, each update uses only the newest transitions (notebooks 001, 002)
Every buffer returns the same typed `Batch`; all sampling is vectorised (no Python loop per sample).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from deepq.data.priority import SumTree, importance_weights, priorities, softmax_probs


class Batch(NamedTuple):
    """A sampled minibatch. B = batch size; observations keep the environment's shape and dtype."""

    obs: np.ndarray  # (B, *obs_shape) in the observation's dtype
    action: np.ndarray  # (B,) int64
    reward: np.ndarray  # (B,) float32
    next_obs: np.ndarray  # (B, *obs_shape): the true next observation, also at a truncation
    done: np.ndarray  # (B,) float32: 1.0 only where the episode terminated (no bootstrap)
    discount: np.ndarray  # (B,) float32: gamma**k for the k-step return stored in `reward`
    weights: Optional[np.ndarray] = None  # (B,) float32 importance weights, prioritized replay only
    indices: Optional[np.ndarray] = None  # (B,) int64 slots, for priority updates


class ReplayBuffer:
    """Ring buffer of `capacity` transitions; `add` takes a batch of N transitions at once."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float, obs_dtype=np.float32) -> None:
        self.capacity = capacity
        self.gamma = gamma
        obs_shape = (obs_shape,) if isinstance(obs_shape, int) else tuple(obs_shape)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.rows: Optional[np.ndarray] = None
        if np.dtype(obs_dtype) == np.float32 and len(obs_shape) == 1:
            # Flat float32 observations: one row per transition, [obs | next_obs | reward, done, discount], and
            # the five arrays below are column views of it. A batch is then one gather of B rows instead of
            # five (~15 us against ~40 for CartPole's batch of 128), and the same numbers (views, no copies).
            d = obs_shape[0]
            self.rows = np.zeros((capacity, 2 * d + 3), dtype=np.float32)
            self.obs, self.next_obs = self.rows[:, :d], self.rows[:, d:2 * d]
            self.reward, self.done, self.discount = (self.rows[:, 2 * d + i] for i in range(3))
            self._columns = (d, 2 * d)
        else:
            # Observations in their own dtype (uint8 images: a quarter of float32); the learner converts a batch.
            self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
            self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
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
        # the same slots as a slice where they do not wrap around (nearly always): a slice assignment is cheaper
        at = slice(self.pos, self.pos + n) if self.pos + n <= self.capacity else slots
        self.obs[at] = obs
        self.next_obs[at] = next_obs
        self.action[at] = action
        self.reward[at] = reward
        self.done[at] = terminated
        self.discount[at] = self.gamma if discount is None else discount
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)
        return slots

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Uniform sample with replacement (as SB3/Dopamine do: cheap and unbiased)."""
        idx = rng.integers(0, self.size, size=batch_size)
        return self.gather(idx)

    def gather(self, idx: np.ndarray) -> Batch:
        if self.rows is not None:  # one gather; the batch's arrays are column views of its rows
            rows = self.rows.take(idx, axis=0)
            d, dd = self._columns
            return Batch(rows[:, :d], self.action.take(idx), rows[:, dd], rows[:, d:dd], rows[:, dd + 1],
                         rows[:, dd + 2], None, idx)
        return Batch(self.obs[idx], self.action[idx], self.reward[idx], self.next_obs[idx], self.done[idx],
                     self.discount[idx], None, idx)

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Contents and position for a checkpoint (plain contiguous arrays, no pickle); subclasses add their own
        state."""
        n = self.size
        arrays = {"obs": self.obs[:n], "next_obs": self.next_obs[:n], "action": self.action[:n],
                  "reward": self.reward[:n], "done": self.done[:n], "discount": self.discount[:n]}
        arrays = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
        arrays["pos_size"] = np.array([self.pos, self.size], dtype=np.int64)
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        pos, size = (int(v) for v in arrays["pos_size"])
        for name in ("obs", "next_obs", "action", "reward", "done", "discount"):
            getattr(self, name)[:size] = arrays[name]
        self.pos, self.size = pos, size


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016): P(i) = p_i / sum p, p = (|TD error| + eps)^alpha.

    New transitions enter at the largest priority seen so far (so each is replayed at least about once before
    its TD error is known); `update_priorities` sets the sampled ones from the TD errors of the update. The batch
    carries importance-sampling weights (N P(i))^-beta / max w for the loss; the training loop anneals `beta`.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float, alpha: float,
                 priority_eps: float, beta: float, obs_dtype=np.float32) -> None:
        super().__init__(capacity, obs_shape, gamma, obs_dtype)
        self.alpha = alpha
        self.priority_eps = priority_eps
        self.beta = beta
        self.tree = SumTree(capacity)
        self.max_priority = 1.0  # p_1 = 1 (Schaul et al. 2016, Algorithm 1)

    def add(self, obs, action, reward, next_obs, terminated, discount=None) -> np.ndarray:
        slots = super().add(obs, action, reward, next_obs, terminated, discount)
        if len(slots):
            self.tree.update(slots, np.full(len(slots), self.max_priority))
        return slots

    def probabilities(self, slots: np.ndarray) -> np.ndarray:
        """P(i) for the given slots (float64)."""
        return self.tree.get(slots) / self.tree.total

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Stratified: one draw from each of `batch_size` equal slices of the total priority (as in the paper),
        which lowers the variance of the batch composition at the same expected P(i)."""
        total = self.tree.total
        u_B = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        idx_B = np.minimum(self.tree.find(u_B), self.size - 1)  # guard against u rounding up to the total
        weights_B = importance_weights(self.tree.get(idx_B) / total, self.size, self.beta)
        return self.gather(idx_B)._replace(weights=weights_B.astype(np.float32))

    def update_priorities(self, slots_B: np.ndarray, td_error_B: np.ndarray) -> None:
        p_B = priorities(td_error_B, self.alpha, self.priority_eps)
        self.tree.update(slots_B, p_B)
        self.max_priority = max(self.max_priority, float(p_B.max()))

    def state_arrays(self) -> dict[str, np.ndarray]:
        # The priorities of the slots in use only: the checkpoint grows with the contents, not the capacity. The
        # tree rebuilt from them is the same tree bit for bit, since every node is always the sum of its children.
        return {**super().state_arrays(), "priority": self.tree.get(np.arange(self.size)),
                "max_priority": np.array([self.max_priority], dtype=np.float64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(arrays)
        self.tree.tree[:] = 0.0
        if "sum_tree" in arrays:  # a checkpoint written before the leaves-only format
            self.tree.tree[:] = arrays["sum_tree"]
        else:
            self.tree.update(np.arange(len(arrays["priority"])), arrays["priority"])
        self.max_priority = float(arrays["max_priority"][0])


class LossSoftmaxReplayBuffer(ReplayBuffer):
    """Notebook 002's prioritized buffer: each transition keeps a loss (its squared TD error); a batch is drawn with
    P(i) = softmax(loss_i / temperature); the sampled transitions' losses are refreshed after each update; and
    every `sort_interval` stored transitions the buffer is reordered so that the lowest-loss transitions are
    the next to be overwritten (the notebook's `sort_replay_buffer` on a deque).

    Sampling costs O(N) per batch (a softmax over every stored loss, as in the notebook), vectorised. Two
    shortcuts save a forward pass each: a new transition enters with the largest stored loss (as of the last
    sample or refresh) where the notebook computes its loss on arrival, and the refresh uses the TD errors of the
    update itself (before its gradient step) where the notebook recomputes them after the step.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], gamma: float, temperature: float,
                 sort_interval: int, obs_dtype=np.float32) -> None:
        super().__init__(capacity, obs_shape, gamma, obs_dtype)
        self.temperature = temperature
        self.sort_interval = sort_interval
        self.loss = np.zeros(capacity, dtype=np.float64)
        self.max_loss = 0.0
        self.added_since_sort = 0

    def add(self, obs, action, reward, next_obs, terminated, discount=None) -> np.ndarray:
        if self.sort_interval and self.added_since_sort >= self.sort_interval:
            self.sort_by_loss()
        slots = super().add(obs, action, reward, next_obs, terminated, discount)
        self.loss[slots] = self.max_loss
        self.added_since_sort += len(slots)
        return slots

    def probabilities(self) -> np.ndarray:
        """P(i) for slots 0 .. size-1 (float64)."""
        return softmax_probs(self.loss[:self.size], self.temperature)

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        loss_N = self.loss[:self.size]
        self.max_loss = float(loss_N.max())
        cdf_N = np.cumsum(softmax_probs(loss_N, self.temperature))
        # first slot whose cumulative probability exceeds u; slots of probability 0 are never drawn
        idx_B = np.searchsorted(cdf_N, rng.random(batch_size) * cdf_N[-1], side="right")
        return self.gather(np.minimum(idx_B, self.size - 1))

    def update_priorities(self, slots_B: np.ndarray, td_error_B: np.ndarray) -> None:
        """The notebook's per-sample loss: the squared TD error."""
        loss_B = np.square(np.asarray(td_error_B, dtype=np.float64))
        self.loss[slots_B] = loss_B
        self.max_loss = max(self.max_loss, float(loss_B.max()))

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {**super().state_arrays(), "loss": self.loss[:self.size],
                "max_loss": np.array([self.max_loss], dtype=np.float64),
                "added_since_sort": np.array([self.added_since_sort], dtype=np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(arrays)
        self.loss[:self.size] = arrays["loss"]
        self.max_loss = float(arrays["max_loss"][0])
        self.added_since_sort = int(arrays["added_since_sort"][0])

    def sort_by_loss(self) -> None:
        """Reorder the stored transitions so that, counting from the next slot to be overwritten, losses rise:
        the lowest-loss transitions are overwritten first."""
        self.added_since_sort = 0
        n = self.size
        if n < 2:
            return
        slots_N = (self.pos - n + np.arange(n)) % self.capacity  # in overwrite order
        order_N = slots_N[np.argsort(self.loss[slots_N], kind="stable")]
        for name in ("obs", "next_obs", "action", "reward", "done", "discount", "loss"):
            array = getattr(self, name)
            array[slots_N] = array[order_N]


class OnlineBuffer(ReplayBuffer):
    """`replay.kind=none`, online Q-learning (notebooks 001 and 002): holds only the transitions stored by the latest
    env step (one per sub-env, more when n-step folding flushes an episode end), and every update learns from
    exactly those. `take_new` says whether the latest step stored any, so each is learnt from once."""

    def __init__(self, max_per_step: int, obs_shape: tuple[int, ...], gamma: float, obs_dtype=np.float32) -> None:
        super().__init__(max_per_step, obs_shape, gamma, obs_dtype)
        self.new = False

    def add(self, obs, action, reward, next_obs, terminated, discount=None) -> np.ndarray:
        if len(action) == 0:
            return np.zeros(0, dtype=np.int64)
        self.pos = self.size = 0  # forget the previous step's transitions
        slots = super().add(obs, action, reward, next_obs, terminated, discount)
        self.new = True
        return slots

    def take_new(self) -> bool:
        new, self.new = self.new, False
        return new

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {**super().state_arrays(), "new": np.array([self.new])}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        super().load_state_arrays(arrays)
        self.new = bool(arrays["new"][0])

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """The newest transitions, all of them, in order (`batch_size` and `rng` are not used)."""
        return self.gather(np.arange(self.size))


def make_buffer(replay_cfg, obs_shape: tuple[int, ...], gamma: float, num_envs: int,
                obs_dtype=np.float32) -> ReplayBuffer:
    """The buffer `replay.kind` asks for, storing observations of this shape and dtype."""
    c = replay_cfg
    if c.kind == "uniform":
        return ReplayBuffer(c.capacity, obs_shape, gamma, obs_dtype)
    if c.kind == "prioritized":
        return PrioritizedReplayBuffer(c.capacity, obs_shape, gamma, c.alpha, c.priority_eps, c.beta_start,
                                       obs_dtype)
    if c.kind == "loss_softmax":
        return LossSoftmaxReplayBuffer(c.capacity, obs_shape, gamma, c.temperature, c.sort_interval, obs_dtype)
    if c.kind == "none":
        return OnlineBuffer(num_envs * c.n_step, obs_shape, gamma, obs_dtype)
    raise ValueError(f"unknown replay.kind {c.kind!r}")
