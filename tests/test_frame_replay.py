"""The frame replay (deepq.data.frames): each frame stored once, stacks, next observations and n-step returns
rebuilt at sample time. Frames here are tiny images whose pixels hold a number, so every stack can be read by
hand; a random stream checks the replay against the transition buffer + n-step folder it replaces."""

from __future__ import annotations

import numpy as np
import pytest

from deepq.data.collector import NStepFolder
from deepq.data.frames import FrameReplay, PrioritizedFrameReplay
from deepq.data.replay import ReplayBuffer


def frame(value: int) -> np.ndarray:
    return np.full((2, 2), value, dtype=np.uint8)  # a 2x2 frame whose pixels encode its number


def stack_of(*values: int) -> np.ndarray:
    return np.stack([frame(v) for v in values])  # (K, 2, 2), oldest first, as FrameStackObservation


def ids(obs_BK22: np.ndarray) -> list[list[int]]:
    return obs_BK22[:, :, 0, 0].tolist()


def step(buffer, obs, action, reward, terminated=False, truncated=False, real=True) -> None:
    buffer.add_step(np.asarray(obs)[None], np.array([action]), np.array([reward], np.float32),
                    np.array([terminated]), np.array([truncated]), np.array([real]))


def test_stacks_pad_with_the_first_frame_and_never_cross_an_episode_end():
    """One env, K=3, n=1. Episode A: frames 1 2 3, terminates after the step from 3 (final observation 4); the
    autoreset step returns episode B's first frame 5; then 6."""
    buf = FrameReplay(100, (3, 2, 2), gamma=0.9, num_envs=1, n_step=1, frame_stack=3)
    step(buf, stack_of(1, 1, 1), 0, 1.0)
    step(buf, stack_of(1, 1, 2), 1, 2.0)
    step(buf, stack_of(1, 2, 3), 0, 3.0, terminated=True)
    step(buf, stack_of(2, 3, 4), 0, 0.0, real=False)  # the final observation: the step from it is the reset
    step(buf, stack_of(5, 5, 5), 1, 5.0)
    step(buf, stack_of(5, 5, 6), 0, 6.0)
    assert len(buf) == 4  # rows 0, 1, 2 and 4 start transitions; row 5's next observation is not written yet
    batch = buf.gather(np.array([0, 1, 2, 4]), np.zeros(4, np.int64))
    assert ids(batch.obs) == [[1, 1, 1], [1, 1, 2], [1, 2, 3], [5, 5, 5]]
    assert ids(batch.next_obs) == [[1, 1, 2], [1, 2, 3], [2, 3, 4], [5, 5, 6]]
    assert batch.action.tolist() == [0, 1, 0, 1]
    assert batch.reward.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert batch.done.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert batch.discount.tolist() == pytest.approx([0.9] * 4)


def test_n_step_returns_stop_at_termination_and_bootstrap_through_truncation():
    """n=3, gamma 0.5. Episode A (frames 1-4) is truncated after the step from 3, B terminates after 2 steps."""
    buf = FrameReplay(100, (2, 2, 2), gamma=0.5, num_envs=1, n_step=3, frame_stack=2)
    step(buf, stack_of(1, 1), 0, 1.0)
    step(buf, stack_of(1, 2), 0, 2.0)
    step(buf, stack_of(2, 3), 0, 4.0, truncated=True)
    step(buf, stack_of(3, 4), 0, 0.0, real=False)  # A's true final observation
    step(buf, stack_of(5, 5), 0, 8.0)
    step(buf, stack_of(5, 6), 0, 16.0, terminated=True)
    step(buf, stack_of(6, 7), 0, 0.0, real=False)
    step(buf, stack_of(9, 9), 0, 0.0)
    step(buf, stack_of(9, 10), 0, 0.0)
    batch = buf.gather(np.array([0, 1, 2, 4, 5]), np.zeros(5, np.int64))
    # row 0: 1 + .5*2 + .25*4 = 3, three rewards, bootstraps from A's final observation with .5**3
    # row 1: 2 + .5*4 = 4, truncated after two: bootstraps from the final observation (3, 4) with .5**2
    # row 4: 8 + .5*16 = 16, terminated: done; row 5: 16, done
    assert batch.reward.tolist() == [3.0, 4.0, 4.0, 16.0, 16.0]
    assert batch.discount.tolist() == [0.125, 0.25, 0.5, 0.25, 0.5]
    assert batch.done.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert ids(batch.next_obs) == [[3, 4], [3, 4], [3, 4], [6, 7], [6, 7]]


def test_rows_leave_when_their_frames_are_overwritten():
    buf = FrameReplay(4, (2, 2, 2), gamma=0.9, num_envs=1, n_step=1, frame_stack=2)
    rows = buf.rows  # 4 + n + K = 7
    for t in range(20):
        step(buf, stack_of(max(t - 1, 0), t), 0, float(t))
        lo, hi = buf.row_range()
        assert hi == t - 1
        assert lo == max(0, t + 1 - rows + 1)
        assert len(buf) == max(0, hi - lo + 1)
    batch = buf.gather(np.arange(lo, hi + 1), np.zeros(hi - lo + 1, np.int64))
    assert ids(batch.obs) == [[r - 1, r] for r in range(lo, hi + 1)]  # no stack reads an overwritten frame
    assert batch.reward.tolist() == list(range(lo, hi + 1))


class FakeStream:
    """N sub-envs with Gymnasium's next-step autoreset and a frame stack of K with reset padding; every frame
    gets a new number, so an observation names its step."""

    def __init__(self, n_envs: int, k: int, rng: np.random.Generator) -> None:
        self.k, self.rng, self.counter = k, rng, 0
        self.stacks = [self._new() for _ in range(n_envs)]
        self.pending_reset = np.zeros(n_envs, dtype=bool)

    def _new(self) -> list[int]:
        self.counter += 1
        return [self.counter] * self.k

    def obs(self) -> np.ndarray:
        return np.stack([np.stack([np.full((1, 1), v, np.int32) for v in s]) for s in self.stacks])

    def step(self):
        n = len(self.stacks)
        reward, term, trunc = self.rng.normal(size=n), np.zeros(n, bool), np.zeros(n, bool)
        real = ~self.pending_reset
        for i in range(n):
            if self.pending_reset[i]:
                self.stacks[i] = self._new()
                reward[i] = 0.0
                self.pending_reset[i] = False
                continue
            self.counter += 1
            self.stacks[i] = self.stacks[i][1:] + [self.counter]
            u = self.rng.random()
            term[i], trunc[i] = u < 0.08, 0.08 <= u < 0.14
            self.pending_reset[i] = term[i] or trunc[i]
        return reward.astype(np.float32), term, trunc, real


@pytest.mark.parametrize("n_step,k", [(1, 4), (3, 4), (5, 1), (2, 2)])
def test_same_transitions_as_the_transition_buffer_with_n_step_folding(n_step, k):
    """Every transition the frame replay can draw equals the one the n-step folder + transition buffer stores
    for the same step (matched by the number of its newest frame), over random episode ends of 3 sub-envs."""
    rng = np.random.default_rng(0)
    n_envs, gamma = 3, 0.9
    stream = FakeStream(n_envs, k, rng)
    shape = (k, 1, 1) if k > 1 else (1, 1, 1)
    frames = FrameReplay(10_000, shape, gamma, n_envs, n_step, k, np.int32)
    pairs = ReplayBuffer(10_000, shape, gamma, np.int32)
    folder = NStepFolder(n_step, gamma, n_envs, shape, np.int32)
    for _ in range(400):
        obs = stream.obs()
        action = rng.integers(0, 4, size=n_envs)
        reward, term, trunc, real = stream.step()
        frames.add_step(obs, action, reward, term, trunc, real)
        pairs.add(*folder.fold(obs, action, reward, stream.obs(), term, trunc, real))
    expected = {int(pairs.obs[i, -1, 0, 0]): i for i in range(len(pairs))}
    lo, hi = frames.row_range()
    rows, envs = np.nonzero(frames.real[np.arange(lo, hi + 1) % frames.rows])
    batch = frames.gather(rows + lo, envs)
    assert len(batch.action) == len(frames) > 300
    for b in range(len(batch.action)):
        i = expected[int(batch.obs[b, -1, 0, 0])]
        assert np.array_equal(batch.obs[b], pairs.obs[i])
        assert np.array_equal(batch.next_obs[b], pairs.next_obs[i])
        assert batch.action[b] == pairs.action[i]
        assert batch.reward[b] == pytest.approx(pairs.reward[i], abs=1e-5)
        assert batch.done[b] == pairs.done[i] and batch.discount[b] == pytest.approx(pairs.discount[i])


def test_uniform_sampling_draws_only_transitions_and_is_seeded():
    rng = np.random.default_rng(1)
    stream = FakeStream(2, 4, rng)
    buf = FrameReplay(1000, (4, 1, 1), 0.9, 2, 3, 4, np.int32)
    for _ in range(200):
        obs = stream.obs()
        buf.add_step(obs, np.zeros(2, np.int64), *stream.step())
    a = buf.sample(64, np.random.default_rng(5))
    b = buf.sample(64, np.random.default_rng(5))
    assert np.array_equal(a.obs, b.obs) and np.array_equal(a.indices, b.indices)
    pos, env = np.divmod(a.indices, 2)
    assert buf.real[pos, env].all()


def test_prioritized_frames_priorities_weights_and_exact_checkpoint():
    rng = np.random.default_rng(2)
    stream = FakeStream(2, 2, rng)
    make = lambda: PrioritizedFrameReplay(40, (2, 1, 1), 0.9, 2, 2, 2, alpha=1.0, priority_eps=1e-6, beta=1.0,
                                          obs_dtype=np.int32)
    buf = make()
    for _ in range(60):  # wraps the ring (40 / 2 + 2 + 2 = 24 rows)
        obs = stream.obs()
        buf.add_step(obs, np.zeros(2, np.int64), *stream.step())
    lo, hi = buf.row_range()
    in_range = np.zeros((buf.rows, 2), bool)
    in_range[np.arange(lo, hi + 1) % buf.rows] = True
    leaves = buf.tree.get(np.arange(buf.capacity)).reshape(buf.rows, 2)
    assert np.array_equal(leaves > 0, in_range & buf.real)  # exactly the drawable transitions have priority
    assert len(buf) == int((in_range & buf.real).sum())
    batch = buf.sample(8, np.random.default_rng(0))
    buf.update_priorities(batch.indices, np.arange(8, dtype=np.float64))  # |delta| = 0..7 (alpha 1)
    assert buf.tree.get(batch.indices[1:]).tolist() == pytest.approx(np.arange(1, 8) + 1e-6)
    batch = buf.sample(4, np.random.default_rng(3))
    p = buf.tree.get(batch.indices) / buf.tree.total
    w = (len(buf) * p) ** -1.0
    assert batch.weights.tolist() == pytest.approx((w / w.max()).tolist())
    copy = make()
    copy.load_state_arrays({k: np.array(v) for k, v in buf.state_arrays().items()})
    assert np.array_equal(copy.tree.tree, buf.tree.tree) and len(copy) == len(buf)
    x, y = buf.sample(16, np.random.default_rng(9)), copy.sample(16, np.random.default_rng(9))
    assert np.array_equal(x.obs, y.obs) and np.array_equal(x.weights, y.weights)


def test_checkpoint_holds_the_rows_written_not_the_capacity():
    buf = FrameReplay(1_000_000, (4, 84, 84), 0.99, 1, 3, 4)
    for t in range(10):
        step(buf, np.full((4, 84, 84), t, np.uint8), 0, 1.0)
    arrays = buf.state_arrays()
    assert arrays["frames"].shape == (10, 1, 84, 84)
    assert sum(a.nbytes for a in arrays.values()) < 10 * 84 * 84 + 10_000


def test_restart_drops_the_incomplete_windows_and_starts_new_episodes():
    buf = FrameReplay(100, (1, 2, 2), 0.5, 1, 2, 1)
    for t in range(1, 5):
        step(buf, frame(t)[None], 0, float(t))
    buf.restart()  # rows 2 and 3 wait for rows not written yet: dropped
    for t in (7, 8, 9):
        step(buf, frame(t)[None], 0, float(t))
    assert len(buf) == 3  # rows 0, 1 and 4
    batch = buf.gather(np.array([0, 1, 4]), np.zeros(3, np.int64))
    assert batch.reward.tolist() == [2.0, 3.5, 11.0]  # 1 + .5*2; 2 + .5*3; 7 + .5*8
    assert batch.next_obs[:, 0, 0, 0].tolist() == [3, 4, 9]
    assert not buf.real[[2, 3]].any()
