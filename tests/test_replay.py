"""Replay buffer with fixtures checkable by hand: observation = index, reward = index."""

import pytest
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


@pytest.mark.parametrize("kind", ["uniform", "prioritized", "loss_softmax", "none"])
def test_checkpoint_grows_with_contents_not_capacity(kind):
    """Issue 14: a prioritized checkpoint of 3,000 transitions in a 1e8-slot buffer was 2 GiB (the whole tree)."""
    from types import SimpleNamespace

    from deepq.data.replay import make_buffer

    cfg = SimpleNamespace(kind=kind, capacity=10_000_000, alpha=0.6, priority_eps=1e-6, beta_start=0.4,
                          temperature=1000.0, sort_interval=25, n_step=1)
    buf = make_buffer(cfg, (4,), 0.99, 1)
    rng = np.random.default_rng(0)
    for _ in range(30):
        buf.add(rng.normal(size=(100, 4)), rng.integers(0, 2, 100), np.ones(100), rng.normal(size=(100, 4)),
                np.zeros(100, bool))
    if kind == "prioritized":
        batch = buf.sample(64, rng)
        buf.update_priorities(batch.indices, rng.normal(size=64))
    arrays = buf.state_arrays()
    assert sum(a.nbytes for a in arrays.values()) < 3_000 * 120  # ~70 bytes of transition + its priority each
    copy = make_buffer(cfg, (4,), 0.99, 1)
    copy.load_state_arrays({k: np.array(v) for k, v in arrays.items()})
    if kind == "prioritized":
        assert np.array_equal(copy.tree.tree, buf.tree.tree)  # rebuilt from the leaves: the same tree, bit for bit
    a, b = buf.sample(32, np.random.default_rng(1)), copy.sample(32, np.random.default_rng(1))
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.indices, b.indices)


def test_flat_float32_rows_sample_what_separate_arrays_do():
    """Flat float32 observations live in one row per transition (one gather per batch); observations of another
    dtype in separate arrays. Fed the same transitions, across a wrap-around, both give the same batches for the
    same draws and the same checkpoint arrays, which are contiguous (safetensors stores no strides)."""
    rows = ReplayBuffer(capacity=7, obs_shape=(2,), gamma=0.9)
    separate = ReplayBuffer(capacity=7, obs_shape=(2,), gamma=0.9, obs_dtype=np.float64)
    assert rows.rows is not None and separate.rows is None
    for buf in (rows, separate):
        add_range(buf, 0, 5, terminated_every=4)
        add_range(buf, 5, 10, terminated_every=4)  # wraps: slots 5, 6, 0, 1, 2
    a, b = rows.sample(64, np.random.default_rng(3)), separate.sample(64, np.random.default_rng(3))
    for name in ("obs", "action", "reward", "next_obs", "done", "discount", "indices"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.obs.dtype == np.float32 and a.action.dtype == np.int64 and a.reward.dtype == np.float32
    assert np.array_equal(a.next_obs, a.obs + 0.5) and np.array_equal(a.done, (a.action % 4 == 0))
    saved = rows.state_arrays()
    assert all(array.flags["C_CONTIGUOUS"] for array in saved.values())
    for name, array in separate.state_arrays().items():
        assert np.array_equal(saved[name], array), name
    copy = ReplayBuffer(capacity=7, obs_shape=(2,), gamma=0.9)
    copy.load_state_arrays(saved)
    assert np.array_equal(copy.rows, rows.rows) and (copy.pos, copy.size) == (rows.pos, rows.size)
