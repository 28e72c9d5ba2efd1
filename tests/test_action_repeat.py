"""env.action_repeat (deepq.envs.repeat): each decision plays its action for k env steps, rewards summed, and a
repeat stops where the episode ends; training, evaluation and checkpoints all see the same wrapped task."""

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import deepq
from deepq.envs import state as envstate
from deepq.envs.make import make_env, make_vec_env
from deepq.envs.repeat import ActionRepeat
from deepq.evaluation.evaluate import EpisodeRunner
from tiny import tiny_cfg


def repeated(env_id: str, k: int, max_episode_steps=None) -> gym.Env:
    return make_env(tiny_cfg(env_id, **{"env.action_repeat": k}).env, max_episode_steps=max_episode_steps)


def test_a_decision_is_k_env_steps_with_their_rewards_summed():
    env, plain = repeated("MountainCar-v0", 4), gym.make("MountainCar-v0")
    obs, _ = env.reset(seed=3)
    plain_obs, _ = plain.reset(seed=3)
    assert np.array_equal(obs, plain_obs)
    for action in (2, 2, 0, 1):
        obs, reward, terminated, truncated, _ = env.step(action)
        for _ in range(4):
            plain_obs, *_ = plain.step(action)
        assert reward == -4.0 and not terminated and not truncated  # -1 per env step, 4 of them
        assert np.array_equal(obs, plain_obs)  # the state after the 4th step


def test_a_repeat_stops_where_the_episode_ends():
    # CartPole pushed right every step falls over within a few dozen steps: the 50-step repeat ends there, with
    # the reward of the steps actually played (1 each)
    plain = gym.make("CartPole-v1")
    plain.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        terminated = plain.step(1)[2]
        steps += 1
    env = repeated("CartPole-v1", 50)
    env.reset(seed=0)
    _, reward, terminated, truncated, _ = env.step(1)
    assert 5 < steps < 50 and reward == float(steps) and terminated and not truncated
    # the time limit counts env steps (it sits inside the repeat): 10 steps in decisions of 4 are 4, 4, then 2
    env = repeated("MountainCar-v0", 4, max_episode_steps=10)
    env.reset(seed=0)
    rewards, ends = [], []
    for _ in range(3):
        _, reward, terminated, truncated, _ = env.step(0)
        rewards.append(reward)
        ends.append((terminated, truncated))
    assert rewards == [-4.0, -4.0, -2.0] and ends == [(False, False), (False, False), (False, True)]


def test_no_repeat_keeps_the_fast_paths_and_a_repeat_takes_the_wrapped_env_everywhere():
    assert type(make_vec_env(tiny_cfg("CartPole-v1").env, 2)).__name__ == "CartPoleArrays"
    cfg = tiny_cfg("CartPole-v1", **{"env.action_repeat": 3})
    envs = make_vec_env(cfg.env, 2)
    assert isinstance(envs, gym.vector.SyncVectorEnv) and all(isinstance(e, ActionRepeat) for e in envs.envs)
    one_by_one = EpisodeRunner(cfg.env, 2, vectorize=False)
    assert one_by_one.vector is None and isinstance(one_by_one.envs[0], ActionRepeat)
    # an evaluation's return is the env's own return (the sum of every env step's reward): always-left CartPole
    plain = gym.make("CartPole-v1")
    lengths = []
    for seed in (5, 6):
        plain.reset(seed=seed)
        n, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = plain.step(0)
            done, n = terminated or truncated, n + 1
        lengths.append(n)
    left = lambda obs: np.zeros(len(obs), dtype=np.int64)  # noqa: E731
    assert one_by_one.run(left, [5, 6]).tolist() == lengths
    # CartPole's and Acrobot's evaluation episodes play the repeat as arrays: the same returns as one env each
    assert EpisodeRunner(cfg.env, 2).vector is not None


@pytest.mark.parametrize("env_id,repeat,limit", [("CartPole-v1", 2, None), ("CartPole-v1", 3, 100),
                                                 ("Acrobot-v1", 4, None)])
def test_evaluation_as_arrays_plays_the_repeat_as_one_env_each_would(env_id, repeat, limit):
    env = tiny_cfg(env_id, **{"env.action_repeat": repeat}).env
    arrays, one_by_one = EpisodeRunner(env, 40, limit), EpisodeRunner(env, 40, limit, vectorize=False)
    assert arrays.vector is not None and one_by_one.vector is None
    seeds = list(range(3000, 3040))
    weights = np.random.default_rng(7).normal(size=(arrays.vector.starter.observation_space.shape[0], 3))
    n = arrays.action_space.n
    # a state-dependent policy, and the extreme actions by the sign of the second-last observation (CartPole's
    # pole angle: the first balances; Acrobot's first joint's speed: the second swings up within ~150 steps)
    policies = [lambda obs: (obs @ weights).argmax(axis=1) % n,
                lambda obs: np.where(obs[:, -2] > 0, n - 1, 0), lambda obs: np.where(obs[:, -2] > 0, 0, n - 1)]
    returns = set()
    for policy in policies:
        expected = one_by_one.run(policy, seeds)
        assert np.array_equal(arrays.run(policy, seeds), expected)
        returns |= set(expected.tolist())
    assert len(returns) > 5  # episodes of many lengths, some ending inside a repeat: the check compares something


def test_a_repeated_mountaincar_vector_can_be_checkpointed_exactly():
    envs = make_vec_env(tiny_cfg("MountainCar-v0", **{"env.action_repeat": 4}).env, 2)
    envs.reset(seed=0)
    envs.step(np.array([2, 0]))
    assert envstate.capture(envs) is not None  # the repeat holds no state between steps


def test_a_bad_repeat_is_one_line_with_exit_status_2():
    out = subprocess.run([sys.executable, "-m", "deepq.cli", "train", "env.action_repeat=0"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "env.action_repeat" in out.stderr and "must be >= 1" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    with pytest.raises(deepq.DeepQError, match="env.action_repeat"):
        tiny_cfg("CartPole-v1", **{"env.action_repeat": -2})


def test_the_run_report_counts_decisions(tmp_path, capsys):
    from deepq.cli import main

    assert main(["train", "--env", "MountainCar-v0", "--seed", "0", "--run-dir", str(tmp_path / "run"),
                 "train.total_steps=400", "train.learning_starts=100", "eval.interval=0", "log.tensorboard=false",
                 "log.plot=false", "log.progress=false"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-2]
    assert "400 decisions (env.action_repeat=4: up to 1600 env steps)" in last, last
