"""n-step returns folded per sub-environment: literal lists worked out by hand, a slow obvious reference loop
against the vectorised folder (several sub-envs, random terminations and truncations), and the real CartPole
vector env through the collector."""

import numpy as np
import pytest

from deepq.data.collector import Collector, NStepFolder
from deepq.envs.make import make_vec_env
from deepq.data.replay import ReplayBuffer

FIELDS = ("obs", "action", "reward", "next_obs", "done", "discount")


def run_folder(folder, steps):
    """Feed (obs, action, reward, next_obs, terminated, truncated, real) tuples of one sub-env; collect rows."""
    rows = []
    for obs, action, reward, next_obs, term, trunc, real in steps:
        out = folder.fold(np.array([[obs]], np.float32), np.array([action]), np.array([reward], np.float64),
                          np.array([[next_obs]], np.float32), np.array([term]), np.array([trunc]), np.array([real]))
        for o, a, r, n, d, g in zip(*out):
            rows.append((float(o[0]), int(a), float(r), float(n[0]), bool(d), float(g)))
    return rows


def test_literal_lists_termination_then_truncation():
    # n = 3, gamma = 0.5. Episode A: observations 0..5, rewards 1 2 3 4 5, terminated on its 5th step.
    # Then the autoreset step (not a transition). Episode B: observations 10..14, rewards 1 1 1 1, truncated.
    steps = [(0, 0, 1, 1, False, False, True), (1, 1, 2, 2, False, False, True), (2, 0, 3, 3, False, False, True),
             (3, 1, 4, 4, False, False, True), (4, 0, 5, 5, True, False, True),
             (5, 1, 0, 10, False, False, False),  # reset step: ignored
             (10, 0, 1, 11, False, False, True), (11, 1, 1, 12, False, False, True),
             (12, 0, 1, 13, False, False, True), (13, 1, 1, 14, False, True, True)]
    rows = run_folder(NStepFolder(3, 0.5, num_envs=1, obs_shape=1), steps)
    assert rows == [
        # (obs, action, n-step return, bootstrap obs, done, discount)
        (0.0, 0, 1 + 0.5 * 2 + 0.25 * 3, 3.0, False, 0.125),   # full window: 2.75
        (1.0, 1, 2 + 0.5 * 3 + 0.25 * 4, 4.0, False, 0.125),   # 4.5
        (2.0, 0, 3 + 0.5 * 4 + 0.25 * 5, 5.0, True, 0.125),    # termination flushes the window: 6.25, done
        (3.0, 1, 4 + 0.5 * 5, 5.0, True, 0.25),                # 6.5, done
        (4.0, 0, 5.0, 5.0, True, 0.5),                         # done: no bootstrap whatever the discount
        (10.0, 0, 1.75, 13.0, False, 0.125),                   # episode B starts fresh: nothing from A
        (11.0, 1, 1.75, 14.0, False, 0.125),                   # truncation: bootstrap from the true final obs
        (12.0, 0, 1.5, 14.0, False, 0.25),                     # with gamma^2
        (13.0, 1, 1.0, 14.0, False, 0.5),                      # and gamma^1
    ]


def test_episode_shorter_than_n():
    # n = 4, gamma = 0.5: a 2-step episode that terminates emits 2 transitions, both done
    steps = [(0, 0, 1, 1, False, False, True), (1, 0, 1, 2, True, False, True), (2, 0, 0, 7, False, False, False),
             (7, 1, 2, 8, False, True, True)]  # a 1-step episode cut by the time limit
    rows = run_folder(NStepFolder(4, 0.5, num_envs=1, obs_shape=1), steps)
    assert rows == [(0.0, 0, 1.5, 2.0, True, 0.25), (1.0, 0, 1.0, 2.0, True, 0.5),
                    (7.0, 1, 2.0, 8.0, False, 0.5)]


def reference_n_step(trajectory, n, gamma):
    """The slow, obvious definition. `trajectory`: one sub-env's real transitions in order, each a dict with
    obs, action, reward, next_obs, terminated, truncated. Returns every n-step transition that is complete
    (its window reached n steps or an episode end)."""
    out = []
    for t in range(len(trajectory)):
        ret, k = 0.0, 0
        while True:
            step = trajectory[t + k]
            ret += gamma ** k * step["reward"]
            k += 1
            ended = step["terminated"] or step["truncated"]
            if ended or k == n:
                out.append((trajectory[t]["obs"], trajectory[t]["action"], ret, step["next_obs"],
                            step["terminated"], gamma ** k))
                break
            if t + k == len(trajectory):  # window still open when the data ends: not emitted yet
                break
    return out


def random_vector_stream(num_envs, steps, rng, p_term=0.08, p_trunc=0.05):
    """Vector-env steps with Gymnasium's next-step autoreset; observation = a unique id per env step."""
    obs = np.arange(num_envs, dtype=np.float32)
    next_id = num_envs
    prev_done = np.zeros(num_envs, bool)
    stream = []
    for _ in range(steps):
        real = ~prev_done
        next_obs = np.arange(next_id, next_id + num_envs, dtype=np.float32)
        next_id += num_envs
        reward = np.where(real, rng.normal(size=num_envs), 0.0)
        term = real & (rng.random(num_envs) < p_term)
        trunc = real & ~term & (rng.random(num_envs) < p_trunc)
        stream.append((obs, rng.integers(0, 3, num_envs), reward, next_obs, term, trunc, real))
        prev_done = term | trunc
        obs = next_obs
    return stream


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_vectorised_folder_matches_reference_loop(n):
    rng = np.random.default_rng(n)
    num_envs, gamma = 4, 0.9
    stream = random_vector_stream(num_envs, 300, rng)
    folder = NStepFolder(n, gamma, num_envs, obs_shape=1)
    got = []
    for obs, action, reward, next_obs, term, trunc, real in stream:
        out = folder.fold(obs[:, None], action, reward, next_obs[:, None], term, trunc, real)
        got += [(float(o[0]), int(a), float(r), float(x[0]), bool(d), float(g)) for o, a, r, x, d, g in zip(*out)]
    expected = []
    for i in range(num_envs):
        trajectory = [{"obs": float(o[i]), "action": int(a[i]), "reward": float(r[i]), "next_obs": float(x[i]),
                       "terminated": bool(te[i]), "truncated": bool(tr[i])}
                      for o, a, r, x, te, tr, real in stream if real[i]]
        expected += reference_n_step(trajectory, n, gamma)
    assert sum(s[4].sum() for s in stream) > 5 and sum(s[5].sum() for s in stream) > 5  # both kinds of end
    key = lambda row: row[0]  # observation ids are unique
    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert len(got) == len(expected) > 1000
    for g, e in zip(got, expected):
        assert g[:2] == e[:2] and g[3:5] == e[3:5], (g, e)
        assert g[2] == pytest.approx(e[2], rel=1e-12, abs=1e-12)
        assert g[5] == pytest.approx(e[5], rel=1e-12)


def test_folder_emits_each_sub_env_in_time_order():
    rng = np.random.default_rng(7)
    stream = random_vector_stream(3, 100, rng)
    folder = NStepFolder(3, 0.9, 3, obs_shape=1)
    per_env = {0: [], 1: [], 2: []}
    for obs, action, reward, next_obs, term, trunc, real in stream:
        out = folder.fold(obs[:, None], action, reward, next_obs[:, None], term, trunc, real)
        for o in out[0][:, 0]:
            per_env[int(o) % 3].append(o)  # ids are handed out env by env, so id % 3 is the env
    assert all(v == sorted(v) and len(v) > 50 for v in per_env.values())


def test_folder_emits_sub_envs_in_order_within_a_step():
    """The buffer's slots follow the order of a step's emitted transitions (sub-env by sub-env), on steps where
    an episode ends as on the steps where every window is full and none ends (the common case, done in fewer
    operations): the same order either way, so the same batches are drawn."""
    rng = np.random.default_rng(11)
    stream = random_vector_stream(3, 200, rng)
    folder = NStepFolder(3, 0.9, 3, obs_shape=1)
    common = 0
    for obs, action, reward, next_obs, term, trunc, real in stream:
        all_full = not ((term | trunc) & real).any() and np.all(folder.length_N + real == 3)
        out = folder.fold(obs[:, None], action, reward, next_obs[:, None], term, trunc, real)
        envs = (out[0][:, 0].astype(int) % 3).tolist()
        assert envs == sorted(envs)
        if all_full:
            common += 1
            assert envs == [0, 1, 2] and np.all(out[5] == 0.9 ** 3) and out[5].dtype == np.float64
    assert common > 20


def test_real_cartpole_n_step_equals_reference_from_one_step_transitions():
    """Same seed and actions through two collectors: the n-step buffer must equal the reference folded from the
    one-step buffer (real vector CartPole, 3 sub-envs, 12-step time limit: terminations and truncations)."""
    n, gamma, num_envs = 3, 0.9, 3
    one = Collector(make_vec_env("CartPole-v1", num_envs, 12), ReplayBuffer(5000, (4,), gamma), seed=5)
    many = Collector(make_vec_env("CartPole-v1", num_envs, 12), ReplayBuffer(5000, (4,), gamma), seed=5, n_step=n)
    rng = np.random.default_rng(5)
    trajectories = {i: [] for i in range(num_envs)}
    for _ in range(400):
        action = rng.integers(0, 2, num_envs)
        real = ~one.prev_done_N
        before = len(one.buffer)
        _, finished = one.step(action)
        many.step(action)
        ended = {e.env_index: e.terminated for e in finished}
        b = one.buffer
        for slot, i in zip(range(before, len(b)), np.flatnonzero(real)):
            trajectories[i].append({"obs": tuple(b.obs[slot]), "action": int(b.action[slot]),
                                    "reward": float(b.reward[slot]), "next_obs": tuple(b.next_obs[slot]),
                                    "terminated": ended.get(i) is True, "truncated": ended.get(i) is False})
    expected = [row for i in range(num_envs) for row in reference_n_step(trajectories[i], n, gamma)]
    m = many.buffer
    got = [(tuple(m.obs[s]), int(m.action[s]), float(m.reward[s]), tuple(m.next_obs[s]), bool(m.done[s]),
            float(m.discount[s])) for s in range(len(m))]
    assert any(r[4] for r in expected) and any(not r[4] and r[5] > gamma ** n + 1e-9 for r in expected), \
        "the fixture needs both terminations and truncations inside a window"
    key = lambda row: row[0]
    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert len(got) == len(expected) > 1000
    for g, e in zip(got, expected):
        assert g[0] == e[0] and g[1] == e[1] and g[3] == e[3] and g[4] == e[4]
        assert g[2] == pytest.approx(e[2], rel=1e-6) and g[5] == pytest.approx(e[5], rel=1e-6)
    # no stored transition bootstraps through a termination, and none mixes two episodes: a window holds
    # at most n rewards of 1, so the return is at most 1 + g + g^2
    assert np.all(m.reward[:len(m)] <= 1 + gamma + gamma ** 2 + 1e-5)


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_learning_may_start_before_the_first_n_step_transition_is_stored(kind):
    """n-step folding stores nothing for the first n-1 steps; updates wait for a transition (this crashed with
    an empty-buffer sample when train.learning_starts=0)."""
    import deepq
    from deepq.config.schema import resolve

    cfg = resolve(env_id="CartPole-v1", overrides={
        "replay.kind": kind, "replay.n_step": 5, "env.num_envs": 1, "train.learning_starts": 0,
        "train.train_freq": 1, "train.total_steps": 50, "eval.interval": 0, "log.tensorboard": False})
    agent = deepq.train(cfg, quiet=True)
    assert agent.result.grad_steps == 50 - 4  # one per env step, from the first stored transition on
