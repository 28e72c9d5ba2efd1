"""deepq's leaner CartPole step (`CartPoleArrays`) makes, step for step and bit for bit, what Gymnasium's own
`CartPoleVectorEnv` makes: observations, rewards, terminations, truncations, autoresets, start states and the
generator's draws."""

import dataclasses
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from deepq.envs import cartpole
from deepq.envs import state as envstate
from deepq.envs.cartpole import CartPoleArrays, plain_cartpole
from deepq.envs.make import make_vec_env
from deepq.envs.source import EnvSource
from deepq.evaluation.evaluate import EpisodeRunner


def balance(obs):
    """Push toward the pole's lean (and a little against the cart's drift): keeps most episodes up to the limit."""
    return (obs[:, 2] + 0.3 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


def lean(obs):
    """Push toward the pole's lean only: the cart drifts out after ~100-400 steps."""
    return (obs[:, 2] > 0).astype(np.int64)


def right(obs):
    return np.ones(len(obs), dtype=np.int64)


def gymnasiums(env_id: str, n: int, limit=None, **kwargs) -> CartPoleVectorEnv:
    """Gymnasium's own vector CartPole, as deepq made it before (CartPole-v0 warns that it is out of date)."""
    extra = {} if limit is None else {"max_episode_steps": limit}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **extra, **kwargs).unwrapped


def assert_same_steps(ours, theirs, actions_of, steps: int):
    """Steps both with the same actions (`actions_of(t, last observation)`); every returned array equal, the
    same dtype; returns the terminations and truncations seen."""
    obs = theirs.reset(seed=3)[0]
    assert np.array_equal(ours.reset(seed=3)[0], obs)
    terminations = truncations = 0
    for t in range(steps):
        actions = actions_of(t, obs)
        got, want = ours.step(actions), theirs.step(np.asarray(actions))  # (Gymnasium's takes no list)
        for a, b in zip(got[:4], want[:4]):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), t
        obs = want[0]
        terminations += int(want[2].sum())
        truncations += int(want[3].sum())
    assert np.array_equal(ours.state, theirs.state) and np.array_equal(ours.steps, theirs.steps)
    assert ours.np_random.bit_generator.state == theirs.np_random.bit_generator.state
    return terminations, truncations


@pytest.mark.parametrize("n", [1, 8, 30])
@pytest.mark.parametrize("env_id, limit", [("CartPole-v1", None), ("CartPole-v0", None), ("CartPole-v1", 7)])
def test_every_step_equals_gymnasiums_vector(env_id, limit, n):
    theirs = gymnasiums(env_id, n, limit)
    ours = CartPoleArrays(n, theirs.max_episode_steps)
    rng = np.random.default_rng(n)
    # random pushes (episodes of ~20 steps), then balancing (episodes up to the time limit), then random again
    terminations, truncations = assert_same_steps(
        ours, theirs, lambda t, obs: rng.integers(0, 2, n) if t % 1000 < 300 else balance(obs), 2000)
    assert truncations > 0 and (terminations > 0) == (limit is None)


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, bool, list])
def test_other_integer_actions_step_the_same(dtype):
    rng = np.random.default_rng(1)
    convert = (lambda a: a.tolist()) if dtype is list else (lambda a: a.astype(dtype))
    assert_same_steps(CartPoleArrays(5), gymnasiums("CartPole-v1", 5), lambda t, obs: convert(rng.integers(0, 2, 5)),
                      300)


@pytest.mark.parametrize("bad", [np.array([0, 2, 1]), np.array([0, -1, 1]), np.array([0, -1, 1], dtype=np.int8),
                                 np.array([0, 1]), np.array(1), np.zeros((3, 1), dtype=np.int64),
                                 np.array([0.0, 1.0, 0.0]), [0, 1, None]])
def test_a_bad_action_is_one_error_and_changes_nothing(bad):
    env = CartPoleArrays(3)
    env.reset(seed=0)
    env.step(np.array([0, 1, 0]))
    before = env.state.copy(), env.steps.copy(), env.prev_done.copy()
    with pytest.raises(ValueError, match=r"CartPole takes 3 actions \(0 or 1\) as an integer array of shape \(3,\)"):
        env.step(bad)
    assert all(np.array_equal(a, b) for a, b in zip(before, (env.state, env.steps, env.prev_done)))


def test_observations_are_new_arrays_and_state_set_from_outside_is_taken():
    """The collector keeps each observation for the next transition; deepq's evaluation sets `state`, `steps` and
    `prev_done` between episodes."""
    ours, theirs = CartPoleArrays(4), gymnasiums("CartPole-v1", 4)
    ours.reset(seed=5), theirs.reset(seed=5)
    actions = np.array([1, 0, 1, 1])
    first = ours.step(actions)[0]
    kept = first.copy()
    ours.step(actions)
    assert np.array_equal(first, kept)
    start = np.random.default_rng(0).uniform(-0.05, 0.05, size=(4, 4))
    for env in (ours, theirs):
        env.step(actions)
        env.state = start.copy()
        env.steps[:] = 0
        env.prev_done[:] = [True, False, False, True]
    assert start[0, 0] != 0.0 and not np.shares_memory(ours.state, start)
    rng = np.random.default_rng(4)
    for t in range(200):
        a = rng.integers(0, 2, 4)
        for x, y in zip(ours.step(a)[:4], theirs.step(a)[:4]):
            assert x.dtype == y.dtype and np.array_equal(x, y), t


def test_sutton_barto_reward_keeps_gymnasiums_step():
    theirs = gymnasiums("CartPole-v1", 6, sutton_barto_reward=True)
    rng = np.random.default_rng(7)
    assert_same_steps(CartPoleArrays(6, sutton_barto_reward=True), theirs, lambda t, obs: rng.integers(0, 2, 6), 300)


@pytest.mark.parametrize("source", [CartPoleArrays, CartPoleVectorEnv])
@pytest.mark.parametrize("target", [CartPoleArrays, CartPoleVectorEnv])
def test_a_captured_state_resumes_on_either_class(source, target):
    """The checkpoint's env state (deepq.envs.state): the same kind for both classes, so a run goes on exactly
    whichever stepped it before."""
    rng = np.random.default_rng(9)
    actions = [rng.integers(0, 2, 6) for _ in range(400)]
    before, after = source(6, 50), target(6, 50)
    before.reset(seed=1), after.reset(seed=2)
    for a in actions[:123]:
        before.step(a)
    arrays, state = envstate.capture(before)
    assert state["kind"] == "CartPoleVectorEnv"
    envstate.restore(after, {k: v.copy() for k, v in arrays.items()}, state)
    for t, a in enumerate(actions[123:]):
        for x, y in zip(before.step(a)[:4], after.step(a)[:4]):
            assert np.array_equal(x, y), t
    assert arrays["state"] is not before.state  # a copy: CartPoleArrays steps its state in place


def test_vector_env_choice(monkeypatch):
    for env_id, limit in (("CartPole-v1", 500), ("CartPole-v0", 200)):
        envs = make_vec_env(env_id, 8)
        assert type(envs) is CartPoleArrays and envs.max_episode_steps == limit
    assert make_vec_env("CartPole-v1", 1, max_episode_steps=7).max_episode_steps == 7
    spec = gym.spec("CartPole-v1")
    assert plain_cartpole(spec) and plain_cartpole(gym.spec("CartPole-v0"))
    assert not plain_cartpole(gym.spec("Acrobot-v1"))
    assert not plain_cartpole(dataclasses.replace(spec, kwargs={"sutton_barto_reward": True}))
    variant = EnvSource("CartPole-v1", {"sutton_barto_reward": True})  # env.kwargs: Gymnasium's synchronous vector
    assert type(make_vec_env(variant, 2)) is gym.vector.SyncVectorEnv
    monkeypatch.setattr(cartpole, "ENABLED", False)
    assert type(make_vec_env("CartPole-v1", 8)) is CartPoleVectorEnv


@pytest.mark.parametrize("env_id, limit", [("CartPole-v1", None), ("CartPole-v0", None), ("CartPole-v1", 60)])
@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date")
def test_evaluation_equals_gymnasiums_single_episodes(env_id, limit, monkeypatch):
    seeds = list(range(1000, 1040))
    runner = EpisodeRunner(env_id, len(seeds), limit)
    scalar = EpisodeRunner(env_id, len(seeds), limit, vectorize=False)
    assert runner.vector is not None and type(runner.vector._vector(2)) is CartPoleArrays
    monkeypatch.setattr(cartpole, "ENABLED", False)
    gymnasium = EpisodeRunner(env_id, len(seeds), limit)
    lengths = set()
    for policy in (balance, lean, right):
        got = runner.run(policy, seeds)
        assert got.tolist() == scalar.run(policy, seeds).tolist() == gymnasium.run(policy, seeds).tolist()
        lengths.update(got.tolist())
    cap = limit or gym.spec(env_id).max_episode_steps
    assert float(cap) in lengths and len(lengths) > 10  # episodes ended by the time limit and by falling
