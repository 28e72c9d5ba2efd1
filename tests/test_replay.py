"""Replay buffer with fixtures checkable by hand: observation = index, reward = index."""

import numpy as np

from deepq.data.replay import ReplayBuffer


def add_range(buf, start, stop, terminated_every=None):
    idx = np.arange(start, stop)
    obs = idx[:, None].astype(np.float32).repeat(2, axis=1)
    done = np.zeros(len(idx), dtype=bool) if terminated_every is None else (idx % terminated_every == 0)
    return buf.add(obs, idx, idx.astype(np.float32), obs + 0.5, done)


def test_add_fills_in_order_and_counts():
    buf = ReplayBuffer(capacity=5, obs_shape=(2,), gamma=0.9)
    slots = add_range(buf, 0, 3)
    assert slots.tolist() == [0, 1, 2]
    assert len(buf) == 3 and buf.pos == 3
    assert buf.obs[:3, 0].tolist() == [0, 1, 2]
    assert buf.next_obs[:3, 1].tolist() == [0.5, 1.5, 2.5]
    assert buf.discount[:3].tolist() == [np.float32(0.9)] * 3


def test_wrap_around_overwrites_oldest():
    buf = ReplayBuffer(capacity=5, obs_shape=(2,), gamma=0.9)
    add_range(buf, 0, 4)
    slots = add_range(buf, 4, 8)  # 4 new items: slots 4, 0, 1, 2
    assert slots.tolist() == [4, 0, 1, 2]
    assert len(buf) == 5 and buf.pos == 3
    assert buf.action.tolist() == [5, 6, 7, 3, 4]  # 0, 1, 2 overwritten by 5, 6, 7


def test_batch_larger_than_capacity_keeps_the_newest():
    buf = ReplayBuffer(capacity=4, obs_shape=(2,), gamma=0.9)
    add_range(buf, 0, 3)
    add_range(buf, 3, 9)  # six items into four slots, starting at slot 3
    assert sorted(buf.action.tolist()) == [5, 6, 7, 8]
    assert len(buf) == 4


def test_sample_only_returns_stored_transitions_uniformly():
    buf = ReplayBuffer(capacity=100, obs_shape=(2,), gamma=0.9)
    add_range(buf, 0, 10, terminated_every=3)
    rng = np.random.default_rng(0)
    counts = np.zeros(10)
    for _ in range(200):
        b = buf.sample(50, rng)
        assert b.obs.shape == (50, 2) and b.action.shape == (50,)
        assert np.all(b.obs[:, 0] == b.action) and np.all(b.reward == b.action)
        assert np.all(b.done == (b.action % 3 == 0))
        counts += np.bincount(b.action, minlength=10)
    # 10_000 draws over 10 slots: each ~1000, uniform within 4 standard deviations (sd ~ 30)
    assert np.all(np.abs(counts - 1000) < 120)


def test_state_arrays_round_trip():
    buf = ReplayBuffer(capacity=6, obs_shape=(2,), gamma=0.9)
    add_range(buf, 0, 8)
    copy = ReplayBuffer(capacity=6, obs_shape=(2,), gamma=0.9)
    copy.load_state_arrays(buf.state_arrays())
    assert copy.pos == buf.pos and copy.size == buf.size
    assert np.array_equal(copy.obs, buf.obs) and np.array_equal(copy.action, buf.action)
