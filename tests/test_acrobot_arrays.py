"""deepq's Acrobot as arrays makes, step for step and bit for bit, what Gymnasium's synchronous vector of its own
AcrobotEnv makes: observations, rewards, terminations, truncations, autoresets and start states."""

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

from deepq.envs import acrobot
from deepq.envs.acrobot import AcrobotVectorEnv, plain_acrobot
from deepq.envs.make import make_vec_env
from deepq.evaluation.evaluate import EpisodeRunner


def pump(obs):
    """Torque along the second joint's swing (sign of dtheta2): swings up in 60-180 steps, so episodes end."""
    return (np.sign(obs[:, 5]) + 1).astype(np.int64)


def half_pump(obs):
    """Torque along dtheta1 + dtheta2: swings up from some start states, never from others (the time limit)."""
    return (np.sign(obs[:, 4] + obs[:, 5]) + 1).astype(np.int64)


@pytest.mark.parametrize("limit, seed", [(500, 5), (37, 1), (3, 7)])
def test_every_step_equals_a_synchronous_vector_of_gymnasiums_acrobot(limit, seed):
    n = 6
    sync = gym.make_vec("Acrobot-v1", num_envs=n, vectorization_mode="sync", max_episode_steps=limit)
    arrays = AcrobotVectorEnv(n, limit)
    first_sync, first_arrays = sync.reset(seed=seed)[0], arrays.reset(seed=seed)[0]
    assert first_arrays.dtype == np.float32 and np.array_equal(first_sync, first_arrays)
    rng = np.random.default_rng(seed)
    terminations = truncations = 0
    for t in range(1500):
        # random torques, then pumping: a run long enough for a chaotic system to show a last-bit difference
        actions = rng.integers(0, 3, n) if t % 1000 < 600 else pump(first_sync)
        got_sync, got_arrays = sync.step(actions), arrays.step(actions)
        for a, b in zip(got_sync[:4], got_arrays[:4]):
            assert a.dtype == b.dtype and np.array_equal(a, b), t
        first_sync = got_sync[0]
        terminations += int(got_sync[2].sum())
        truncations += int(got_sync[3].sum())
    assert truncations > 0 and (terminations > 0) == (limit == 500)  # pumping swings up in 60-180 steps
    assert np.array_equal(np.stack([e.unwrapped.state for e in sync.envs], axis=1), arrays.state)


def test_reset_without_a_seed_continues_each_copys_generator():
    sync = gym.make_vec("Acrobot-v1", num_envs=4, vectorization_mode="sync")
    arrays = AcrobotVectorEnv(4)
    sync.reset(seed=11), arrays.reset(seed=11)
    assert np.array_equal(sync.reset()[0], arrays.reset()[0])


def test_squares_are_cs_pow_as_on_numpy_scalars():
    """AcrobotEnv squares NumPy float64 scalars (C's pow); an array's x**2 (x * x) differs in the last bit for some
    inputs, which is why deepq's Acrobot squares with math.pow."""
    x = np.random.default_rng(1).uniform(-40.0, 40.0, 20_000)
    scalar = np.array([v**2 for v in x])  # NumPy scalars, as AcrobotEnv's dtheta1**2
    assert np.array_equal(acrobot._square(x), scalar)


def test_vector_env_choice():
    assert type(make_vec_env("Acrobot-v1", 4)) is AcrobotVectorEnv
    assert type(make_vec_env("Acrobot-v1", 2)) is gym.vector.SyncVectorEnv  # fewer copies: Gymnasium's is faster
    assert make_vec_env("Acrobot-v1", 8, max_episode_steps=50).max_episode_steps == 50
    spec = gym.spec("Acrobot-v1")
    assert plain_acrobot(spec) and not plain_acrobot(gym.spec("CartPole-v1"))
    assert not plain_acrobot(dataclasses.replace(spec, kwargs={"render_mode": "rgb_array"}))


def test_evaluation_as_arrays_equals_gymnasiums_episodes():
    seeds = list(range(1000, 1040))
    runner = EpisodeRunner("Acrobot-v1", len(seeds))
    assert runner.vector is not None
    scalar = EpisodeRunner("Acrobot-v1", len(seeds), vectorize=False)
    for policy in (pump, half_pump, lambda obs: np.zeros(len(obs), dtype=np.int64)):
        got = runner.run(policy, seeds)
        assert got.tolist() == scalar.run(policy, seeds).tolist()
    assert got.tolist() == [-500.0] * len(seeds)  # the idle policy's episodes: ended by the time limit
    mixed = runner.run(half_pump, seeds)
    assert mixed.min() == -500 and mixed.max() > -100 and len(set(mixed.tolist())) > 5  # both endings
    env = gym.make("Acrobot-v1")  # and each return is a plain Gymnasium loop's
    obs, _ = env.reset(seed=seeds[3])
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(int(half_pump(obs[None])[0]))
        total, done = total + reward, terminated or truncated
    assert total == mixed[3]
