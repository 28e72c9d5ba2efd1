"""train.overlap and env.process: a vector step's updates run while its envs step, in a second process where it
can (deepq.envs.process); the envs step alike wherever they run, so the run is the same run."""

import multiprocessing
import os
import sys

import gymnasium as gym
import numpy as np
import pytest

import deepq
from deepq.envs.make import make_vec_env
from deepq.envs.process import EnvProcess, unavailable_reason
from test_resume import assert_same_run
from tiny import tiny_cfg

forks = pytest.mark.skipif(sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2,
                           reason="the envs' process is forked on Linux with 2+ cores")


def lunar_envs(n=4):
    pytest.importorskip("Box2D")
    return make_vec_env("LunarLander-v3", n)


@forks
def test_the_process_steps_the_envs_as_the_training_process_would():
    inline, moved = lunar_envs(), EnvProcess(lunar_envs())
    try:
        rng = np.random.default_rng(0)
        a, b = inline.reset(seed=11), moved.reset(seed=11)
        assert np.array_equal(a[0], b[0])
        ends = 0
        for _ in range(400):  # random landers crash within ~100 steps: autoresets included
            actions = rng.integers(4, size=4)
            moved.step_async(actions)
            x, y = inline.step(actions), moved.step_wait()
            for u, v in zip(x[:4], y[:4]):
                assert u.dtype == v.dtype and np.array_equal(u, v)
            ends += int((x[2] | x[3]).sum())
        assert ends > 4
    finally:
        inline.close()
        moved.close()
    assert not multiprocessing.active_children()


class Boom(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {"seed": seed}

    def step(self, action):
        raise ValueError("Boom cannot step")


@forks
def test_an_env_error_in_the_process_reaches_the_run_with_its_text_and_infos_come_back():
    moved = EnvProcess(gym.vector.SyncVectorEnv([Boom, Boom]))
    try:
        moved.reset(seed=0)
        with pytest.raises(RuntimeError, match="ValueError: Boom cannot step"):
            moved.step(np.zeros(2, np.int64))
        obs, info = moved.reset(seed=1)  # the process lives on; an info comes back whole
        assert obs.shape == (2, 2) and list(info["seed"]) == [1, 2]
    finally:
        moved.close()


@forks
def test_where_the_process_is_not_used():
    cartpole = make_vec_env("CartPole-v1", 2)
    assert "saved in checkpoints exactly" in unavailable_reason(cartpole)  # a checkpoint would lose it
    assert unavailable_reason(lunar_envs(2)) is None


def test_overlapped_updates_sample_only_what_was_stored_before_the_step():
    """One env, an update per env step from the first stored transition: inline, the first step's update already
    samples that step's transition (K updates in K steps); overlapped, the update of a step runs before its
    transition is stored, so the first step has nothing to sample (K - 1)."""
    cfg = tiny_cfg(**{"env.num_envs": 1, "train.learning_starts": 1, "train.train_freq": 1, "replay.n_step": 1,
                      "replay.batch_size": 1, "train.total_steps": 50, "eval.interval": 0})
    assert deepq.train(cfg, quiet=True).result.grad_steps == 50
    assert deepq.train(cfg.replace(**{"train.overlap": True}), quiet=True).result.grad_steps == 49


@forks
@pytest.mark.slow
def test_lunarlander_overlapped_in_a_process_is_the_same_run(tmp_path):
    pytest.importorskip("Box2D")
    cfg = tiny_cfg("LunarLander-v3", seed=3, **{"train.overlap": True, "train.total_steps": 4000,
                                                 "train.learning_starts": 500, "eval.interval": 1000,
                                                 "env.max_episode_steps": 200})
    inline = deepq.train(cfg.replace(**{"env.process": False}), tmp_path / "inline", quiet=True)
    moved = deepq.train(cfg.replace(**{"env.process": True, "eval.parallel": True}), tmp_path / "moved", quiet=True)
    assert inline.result.env_steps == moved.result.env_steps >= 4000
    assert_same_run(tmp_path / "inline", tmp_path / "moved")
    assert not multiprocessing.active_children()  # the envs' process (and the checks' worker) ended with the run
    resumed = deepq.resume(tmp_path / "moved", total_steps=5000, quiet=True)  # Box2D episodes restart; it trains on
    assert resumed.result.env_steps >= 5000


def test_asked_for_where_it_cannot_says_why(capsys):
    cfg = tiny_cfg(**{"train.overlap": True, "env.process": True, "train.total_steps": 300, "eval.interval": 0})
    assert deepq.train(cfg, quiet=True).result.env_steps >= 300
    assert "env.process=true, but stepping the envs in the training process" in capsys.readouterr().err
