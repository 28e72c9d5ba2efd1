"""Prioritized replay math as pure NumPy functions, and the sum tree that samples in proportion to priority.

Proportional prioritization (Schaul et al. 2016, "Prioritized Experience Replay", section 3.3):

    priority        p_i  = (|delta_i| + eps) ** alpha        delta = TD error, eps > 0 keeps every p_i > 0
    probability     P(i) = p_i / sum_k p_k
    IS weight       w_i  = (N * P(i)) ** -beta / max_j w_j    N = transitions stored
    beta            rises linearly from beta_start to 1 (full correction at the end of training)

The max in the weights is taken over the sampled batch (as Dopamine's Rainbow does); the paper's "max_i w_i" over
the whole buffer would need a second (min-priority) tree for the same effect: weights <= 1, so they only ever
shrink the step size.

Notebook 002's scheme (`replay.kind=loss_softmax`) samples with P(i) = softmax(loss_i / temperature).
Shapes: B = batch, N = transitions stored.
"""

from __future__ import annotations

import numpy as np


def priorities(td_error_B: np.ndarray, alpha: float, eps: float) -> np.ndarray:
    """p = (|delta| + eps) ** alpha, float64 (B,)."""
    return (np.abs(np.asarray(td_error_B, dtype=np.float64)) + eps) ** alpha


def importance_weights(prob_B: np.ndarray, size: int, beta: float) -> np.ndarray:
    """w = (N * P(i)) ** -beta, normalised by the largest weight in the batch so that max w = 1 (B,)."""
    w_B = (size * np.asarray(prob_B, dtype=np.float64)) ** -beta
    return w_B / w_B.max()


def beta_at(beta_start: float, beta_steps: int, env_steps: int) -> float:
    """Importance-sampling exponent after `env_steps`: beta_start at 0, then linear up to 1 at `beta_steps`."""
    fraction = min(max(env_steps, 0) / beta_steps, 1.0)
    return beta_start + fraction * (1.0 - beta_start)


def softmax_probs(loss_N: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(loss / temperature), shifted by the max for stability (notebook 002's `softmax(xs, temp)`) (N,)."""
    loss_N = np.asarray(loss_N, dtype=np.float64)
    e_N = np.exp((loss_N - loss_N.max()) / temperature)
    return e_N / e_N.sum()


class SumTree:
    """Priorities of `capacity` slots in a binary tree of partial sums, stored in one flat float64 array.

    Node 1 is the root, node k has children 2k and 2k+1, and slot i is the leaf node `leaves + i` (`leaves` is
    `capacity` rounded up to a power of two; the spare leaves stay 0 and can never be drawn). Setting B
    priorities and finding B prefix sums both cost O(B log capacity), vectorised over B: the only Python loop
    runs over the tree depth (17 levels for 100,000 slots), never over samples.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.leaves = 1 << max(0, (capacity - 1).bit_length())
        self.depth = self.leaves.bit_length() - 1
        self.tree = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.tree[1])

    def get(self, slots_B: np.ndarray) -> np.ndarray:
        return self.tree[self.leaves + np.asarray(slots_B)]

    def update(self, slots_B: np.ndarray, priority_B: np.ndarray) -> None:
        """Set the priorities of `slots`, then recompute their ancestors level by level (each parent as the sum
        of its two children, so no rounding error accumulates). A slot listed twice must carry the same value
        twice (a transition sampled twice has one TD error)."""
        nodes_B = self.leaves + np.asarray(slots_B, dtype=np.int64)
        self.tree[nodes_B] = priority_B
        for _ in range(self.depth):
            nodes_B = nodes_B >> 1
            self.tree[nodes_B] = self.tree[2 * nodes_B] + self.tree[2 * nodes_B + 1]

    def find(self, value_B: np.ndarray) -> np.ndarray:
        """Prefix-sum search: for each value u in [0, total), the slot i with
        sum(p[:i]) <= u < sum(p[:i + 1]). Slots of priority 0 are never returned."""
        u_B = np.array(value_B, dtype=np.float64)
        nodes_B = np.ones(len(u_B), dtype=np.int64)
        for _ in range(self.depth):
            left_B = 2 * nodes_B
            left_sum_B = self.tree[left_B]
            go_right_B = u_B >= left_sum_B
            u_B -= np.where(go_right_B, left_sum_B, 0.0)
            nodes_B = left_B + go_right_B
        return nodes_B - self.leaves
