"""Greedy evaluation: the lockstep runner gives exactly what a plain Gymnasium loop gives on the same seeds."""

import gymnasium as gym
import numpy as np
import pytest

from deepq.evaluation.evaluate import EpisodeRunner, bare_step


def balance(obs):
    """A fixed policy that balances CartPole for a while: push towards where the pole falls."""
    return (obs[:, 2] + obs[:, 3] > 0).astype(np.int64)


def plain_gym_returns(env_id, seeds, policy, **make_kwargs):
    returns = []
    for seed in seeds:
        env = gym.make(env_id, **make_kwargs)
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(policy(obs[None])[0]))
            total, done = total + reward, terminated or truncated
        returns.append(total)
    return returns


@pytest.mark.parametrize("vectorize", [True, False])
@pytest.mark.parametrize("limit", [None, 300])
def test_runner_matches_a_plain_gymnasium_loop(limit, vectorize):
    seeds = list(range(1000, 1012))
    runner = EpisodeRunner("CartPole-v1", len(seeds), max_episode_steps=limit, vectorize=vectorize)
    assert (runner.vector is not None) == vectorize  # CartPole has Gymnasium's NumPy vector version
    got = runner.run(balance, seeds).tolist()
    expected = plain_gym_returns("CartPole-v1", seeds, balance, **({} if limit is None else {"max_episode_steps": limit}))
    assert got == expected
    assert max(got) == (500.0 if limit is None else 300.0) and min(got) < max(got)  # both endings happen
    assert runner.run(balance, seeds).tolist() == expected  # envs kept between runs: the same again


def test_bare_step_skips_only_the_standard_checks():
    env = gym.make("CartPole-v1")
    step, limit = bare_step(env)
    assert step == env.unwrapped.step and limit == 500
    wrapped = gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 2 * r)  # changes a step: kept
    step, limit = bare_step(wrapped)
    assert step == wrapped.step and limit is None
    runner = EpisodeRunner("CartPole-v1", 1, vectorize=False)
    runner.envs[0], runner.steppers[0] = wrapped, bare_step(wrapped)
    assert runner.run(balance, [1000])[0] == 2 * plain_gym_returns("CartPole-v1", [1000], balance)[0]


def test_vector_episodes_equal_single_env_episodes_for_many_policies():
    """100 seeds, policies that end episodes anywhere from ~10 steps to the time limit, and a random policy whose
    draws depend on which episodes are still running: every return equals the single environment's."""
    seeds = list(range(1000, 1100))
    weights = np.array([[0.0, 0.0, 1.0, 1.0], [0.3, 0.5, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.1, 1.0, 0.5, 0.2]])
    for w in weights:
        def policy(obs, w=w):
            return (obs @ w > 0).astype(np.int64)
        vector = EpisodeRunner("CartPole-v1", len(seeds)).run(policy, seeds)
        scalar = EpisodeRunner("CartPole-v1", len(seeds), vectorize=False).run(policy, seeds)
        assert vector.tolist() == scalar.tolist()
    assert len({float(r) for r in vector}) > 1
    rng_v, rng_s = np.random.default_rng(0), np.random.default_rng(0)
    vector = EpisodeRunner("CartPole-v1", len(seeds)).run(lambda o: rng_v.integers(0, 2, size=len(o)), seeds)
    scalar = EpisodeRunner("CartPole-v1", len(seeds), vectorize=False).run(
        lambda o: rng_s.integers(0, 2, size=len(o)), seeds)
    assert vector.tolist() == scalar.tolist()
