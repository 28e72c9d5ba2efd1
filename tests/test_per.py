"""Prioritized replay (proportional PER on a sum tree) and notebook 002's softmax-of-loss replay, against numbers
worked out by hand and against slow, obvious loops."""

import math

import numpy as np
import pytest

from deepq.data.priority import SumTree, beta_at, importance_weights, priorities, softmax_probs
from deepq.data.replay import LossSoftmaxReplayBuffer, PrioritizedReplayBuffer


def add_range(buf, start, stop):
    """Transitions with observation = action = reward = index, so a sampled row says which one it is."""
    idx = np.arange(start, stop)
    obs = idx[:, None].astype(np.float32).repeat(2, axis=1)
    return buf.add(obs, idx, idx.astype(np.float32), obs + 0.5, np.zeros(len(idx), dtype=bool))


# --- pure PER math ----------------------------------------------------------------------------------------

def test_priorities_by_hand():
    # (|delta| + eps) ** alpha with eps = 0.5, alpha = 0.5: |delta| + eps = 1, 4, 9, 16 -> 1, 2, 3, 4
    assert priorities(np.array([0.5, -3.5, 8.5, -15.5]), alpha=0.5, eps=0.5).tolist() == [1.0, 2.0, 3.0, 4.0]
    # alpha = 0 makes every priority 1 (uniform replay); eps keeps a zero TD error above 0
    assert priorities(np.array([0.0, 7.0]), alpha=0.0, eps=1e-6).tolist() == [1.0, 1.0]
    assert priorities(np.array([0.0]), alpha=1.0, eps=0.01).tolist() == [0.01]


def test_importance_weights_by_hand():
    # P = 0.1, 0.2, 0.3, 0.4 in a buffer of N = 4: N * P = 0.4, 0.8, 1.2, 1.6
    prob = np.array([0.1, 0.2, 0.3, 0.4])
    # beta = 1: w = 1 / (N P) = 2.5, 1.25, 0.8333, 0.625; divided by the max 2.5 -> 1, 1/2, 1/3, 1/4
    assert importance_weights(prob, 4, beta=1.0) == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    # beta = 0.5: square roots of the above
    assert importance_weights(prob, 4, beta=0.5) == pytest.approx([1.0, 0.5 ** 0.5, (1 / 3) ** 0.5, 0.5])
    # beta = 0: no correction at all
    assert importance_weights(prob, 4, beta=0.0).tolist() == [1.0, 1.0, 1.0, 1.0]


def test_beta_rises_linearly_to_one():
    assert beta_at(0.4, 100, 0) == 0.4
    assert beta_at(0.4, 100, 50) == pytest.approx(0.7)
    assert beta_at(0.4, 100, 100) == 1.0
    assert beta_at(0.4, 100, 10_000) == 1.0


# --- sum tree -----------------------------------------------------------------------------------------------

def test_sum_tree_sums_and_prefix_search_by_hand():
    tree = SumTree(5)  # 8 leaves, 3 levels above them
    assert tree.leaves == 8 and tree.depth == 3
    tree.update(np.array([0, 1, 2, 3]), np.array([1.0, 2.0, 3.0, 4.0]))
    # leaves 1 2 3 4 0 0 0 0 -> pairs 3 7 0 0 -> 10 0 -> root 10
    assert tree.tree[4:8].tolist() == [3.0, 7.0, 0.0, 0.0]
    assert tree.tree[2:4].tolist() == [10.0, 0.0]
    assert tree.total == 10.0
    # slot i owns [sum p[:i], sum p[:i+1]): [0, 1) [1, 3) [3, 6) [6, 10)
    u = np.array([0.0, 0.99, 1.0, 2.99, 3.0, 5.99, 6.0, 9.99])
    assert tree.find(u).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # slot 1 -> 5: the ranges become [0, 1) [1, 6) [6, 9) [9, 13)
    tree.update(np.array([1]), np.array([5.0]))
    assert tree.total == 13.0
    assert tree.find(np.array([0.5, 1.0, 5.99, 6.0, 8.99, 9.0, 12.99])).tolist() == [0, 1, 1, 2, 2, 3, 3]
    # a slot at priority 0 is never found, even at its boundary
    tree.update(np.array([2]), np.array([0.0]))
    assert tree.find(np.array([5.99, 6.0, 6.01])).tolist() == [1, 3, 3]


def test_sum_tree_of_one_slot():
    tree = SumTree(1)
    tree.update(np.array([0]), np.array([2.5]))
    assert tree.total == 2.5 and tree.find(np.array([0.0, 2.4])).tolist() == [0, 0]


def test_sum_tree_matches_a_slow_loop():
    rng = np.random.default_rng(0)
    capacity = 37  # not a power of two: 64 leaves, 27 of them spare
    tree = SumTree(capacity)
    p = np.zeros(capacity)
    for _ in range(50):
        slots = rng.integers(0, capacity, size=8)
        values = rng.random(8) * 10
        values[rng.random(8) < 0.2] = 0.0
        slots, first = np.unique(slots, return_index=True)  # one value per slot, as a batch update has
        values = values[first]
        tree.update(slots, values)
        for s, v in zip(slots, values):  # the slow, obvious way
            p[s] = v
        assert tree.total == pytest.approx(p.sum(), rel=1e-12)
        for node in range(1, tree.leaves):  # every inner node is the sum of the leaves below it
            lo, hi = node, node + 1
            while lo < tree.leaves:
                lo, hi = 2 * lo, 2 * hi
            leaves = np.concatenate([p, np.zeros(tree.leaves - capacity)])[lo - tree.leaves:hi - tree.leaves]
            assert tree.tree[node] == pytest.approx(leaves.sum(), rel=1e-12, abs=1e-12)
        u = rng.random(64) * p.sum()
        expected = []
        for value in u:  # walk the prefix sums one by one
            running = 0.0
            for i, pi in enumerate(p):
                running += pi
                if value < running:
                    expected.append(i)
                    break
        assert tree.find(u).tolist() == expected


# --- the prioritized buffer ----------------------------------------------------------------------------------

def per_buffer(capacity=8, alpha=0.5, eps=0.5, beta=1.0):
    return PrioritizedReplayBuffer(capacity, (2,), gamma=0.9, alpha=alpha, priority_eps=eps, beta=beta)


def test_new_transitions_enter_at_max_priority():
    buf = per_buffer()
    add_range(buf, 0, 4)
    assert buf.tree.get(np.arange(4)).tolist() == [1.0, 1.0, 1.0, 1.0]  # p_1 = 1 before any TD error
    buf.update_priorities(np.arange(4), np.array([0.5, 3.5, 8.5, 15.5]))  # -> 1, 2, 3, 4
    assert buf.max_priority == 4.0
    add_range(buf, 4, 5)
    assert buf.tree.get(np.arange(5)).tolist() == [1.0, 2.0, 3.0, 4.0, 4.0]
    assert buf.probabilities(np.arange(5)) == pytest.approx([1 / 14, 2 / 14, 3 / 14, 4 / 14, 4 / 14])


def test_sampling_frequencies_and_weights_match_hand_values():
    buf = per_buffer(beta=1.0)
    add_range(buf, 0, 4)
    buf.update_priorities(np.arange(4), np.array([0.5, 3.5, 8.5, 15.5]))  # P = 0.1, 0.2, 0.3, 0.4
    assert buf.probabilities(np.arange(4)) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    rng = np.random.default_rng(0)
    counts = np.zeros(4)
    for _ in range(50):
        batch = buf.sample(400, rng)
        assert np.all(batch.indices == batch.action) and np.all(batch.obs[:, 0] == batch.action)
        counts += np.bincount(batch.indices, minlength=4)
        # every slot is in a batch this large, so the max weight is slot 0's: w = 1, 1/2, 1/3, 1/4 (beta = 1)
        assert batch.weights.dtype == np.float32
        assert batch.weights == pytest.approx(np.array([1.0, 0.5, 1 / 3, 0.25])[batch.indices], rel=1e-6)
    # 20,000 stratified draws: each frequency within 1% of P (the multinomial sd would already be ~0.3%)
    assert counts / counts.sum() == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.01)
    buf.beta = 0.5
    batch = buf.sample(400, rng)
    assert batch.weights == pytest.approx(np.array([1.0, 0.5 ** 0.5, (1 / 3) ** 0.5, 0.5])[batch.indices], rel=1e-6)


def test_prioritized_sampling_after_wrap_around_only_returns_stored_slots():
    buf = per_buffer(capacity=5)
    add_range(buf, 0, 7)  # slots 0, 1 overwritten by 5, 6
    rng = np.random.default_rng(1)
    batch = buf.sample(1000, rng)
    assert set(batch.action.tolist()) == {2, 3, 4, 5, 6}
    assert np.all(batch.indices < 5)


# --- notebook 002's softmax-of-loss buffer ----------------------------------------------------------------------

def test_softmax_probabilities_by_hand():
    e = math.e
    z = 1 + e + e ** 2
    assert softmax_probs(np.array([0.0, 1.0, 2.0]), temperature=1.0) == pytest.approx([1 / z, e / z, e ** 2 / z])
    assert softmax_probs(np.array([0.0, 1.0, 2.0]), 1.0) == pytest.approx([0.0900306, 0.2447285, 0.6652410])
    # notebook 002's temperature 1000: losses 0 and 1000 differ by one unit -> 1 : e
    assert softmax_probs(np.array([0.0, 1000.0]), 1000.0) == pytest.approx([1 / (1 + e), e / (1 + e)])
    # and the notebook's warning: small losses at temperature 1000 give nearly uniform sampling
    assert softmax_probs(np.array([0.0, 1.0, 2.0]), 1000.0) == pytest.approx([1 / 3] * 3, abs=1e-3)


def test_loss_softmax_sampling_frequencies():
    buf = LossSoftmaxReplayBuffer(8, (2,), gamma=0.9, temperature=1.0, sort_interval=0)
    add_range(buf, 0, 3)
    assert buf.probabilities() == pytest.approx([1 / 3] * 3)  # all losses 0 at first
    buf.update_priorities(np.arange(3), np.array([0.0, -1.0, 2 ** 0.5]))  # losses = squared TD errors 0, 1, 2
    assert buf.loss[:3] == pytest.approx([0.0, 1.0, 2.0])
    assert buf.probabilities() == pytest.approx([0.0900306, 0.2447285, 0.6652410])
    rng = np.random.default_rng(0)
    counts = np.zeros(3)
    for _ in range(100):
        batch = buf.sample(1000, rng)
        assert batch.weights is None and np.all(batch.indices == batch.action)
        counts += np.bincount(batch.indices, minlength=3)
    assert counts / counts.sum() == pytest.approx([0.0900306, 0.2447285, 0.6652410], abs=0.01)
    add_range(buf, 3, 4)  # a new transition enters with the largest stored loss
    assert buf.loss[3] == pytest.approx(2.0)


def test_sort_makes_the_lowest_loss_transitions_the_next_overwritten():
    # full buffer: after sorting, slots from the write position on hold rising losses
    buf = LossSoftmaxReplayBuffer(4, (2,), gamma=0.9, temperature=1.0, sort_interval=4)
    add_range(buf, 0, 4)  # actions 0 1 2 3 in slots 0 1 2 3, pos back at 0
    buf.update_priorities(np.arange(4), np.sqrt([3.0, 1.0, 4.0, 2.0]))  # losses 3 1 4 2
    add_range(buf, 9, 10)  # 4 stored since the last sort: sort, then write
    # sorted by loss: actions 1 3 0 2 (losses 1 2 3 4); the new one (9) replaced action 1, the lowest loss
    assert buf.action.tolist() == [9, 3, 0, 2]
    assert buf.loss == pytest.approx([4.0, 2.0, 3.0, 4.0])  # the new one at the max stored loss
    assert buf.obs[:, 0].tolist() == [9, 3, 0, 2] and buf.reward.tolist() == [9, 3, 0, 2]  # rows stay whole


def test_sort_before_the_buffer_is_full():
    buf = LossSoftmaxReplayBuffer(6, (2,), gamma=0.9, temperature=1.0, sort_interval=4)
    add_range(buf, 0, 4)  # slots 0-3; slots 4, 5 still free
    buf.update_priorities(np.arange(4), np.sqrt([3.0, 1.0, 4.0, 2.0]))
    add_range(buf, 7, 10)  # sort first (actions 1 3 0 2 into slots 0-3), then 7, 8 fill 4, 5 and 9 wraps to 0
    assert buf.action.tolist() == [9, 3, 0, 2, 7, 8]
    assert len(buf) == 6


def test_no_sort_is_plain_fifo():
    buf = LossSoftmaxReplayBuffer(4, (2,), gamma=0.9, temperature=1.0, sort_interval=0)
    add_range(buf, 0, 4)
    buf.update_priorities(np.arange(4), np.sqrt([3.0, 1.0, 4.0, 2.0]))
    add_range(buf, 9, 10)
    assert buf.action.tolist() == [9, 1, 2, 3]
