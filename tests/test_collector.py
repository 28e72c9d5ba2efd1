"""Terminated vs truncated, end to end on the real CartPole vector env (next-step autoreset)."""

import numpy as np

from deepq.data.collector import Collector
from deepq.envs.make import make_vec_env
from deepq.data.replay import ReplayBuffer

X_LIMIT, THETA_LIMIT = 2.4, 12 * 2 * np.pi / 360


def out_of_bounds(obs):
    return (np.abs(obs[:, 0]) > X_LIMIT) | (np.abs(obs[:, 2]) > THETA_LIMIT)


def run_random(num_envs, max_episode_steps, steps, seed=0):
    envs = make_vec_env("CartPole-v1", num_envs, max_episode_steps)
    buffer = ReplayBuffer(10_000, (4,), gamma=0.99)
    collector = Collector(envs, buffer, seed)
    rng = np.random.default_rng(seed)
    stored, episodes = 0, []
    for _ in range(steps):
        n, finished = collector.step(rng.integers(0, 2, size=num_envs))
        stored += n
        episodes += finished
    return buffer, stored, episodes, collector


def test_reset_steps_never_enter_the_buffer():
    buffer, stored, episodes, collector = run_random(num_envs=4, max_episode_steps=500, steps=300)
    n = len(buffer)
    assert n == stored and len(episodes) > 10
    # CartPole pays 1 for every real transition; the autoreset step pays 0. None may be stored.
    assert np.all(buffer.reward[:n] == 1.0)
    # 4 envs x 300 sub-steps = stored transitions + one reset step per episode that ended before the last step
    resets = len(episodes) - int(collector.prev_done_N.sum())
    assert n == 4 * 300 - resets
    # and the buffer holds exactly the finished episodes plus the steps of the episodes still running
    assert n == sum(e.length for e in episodes) + int(collector.ep_length_N.sum())


def test_done_flag_is_set_by_termination_only():
    buffer, _, episodes, _ = run_random(num_envs=2, max_episode_steps=12, steps=400)
    n = len(buffer)
    terminal = out_of_bounds(buffer.next_obs[:n])
    # done == 1 exactly on transitions whose next state is out of bounds (a real termination)
    assert np.array_equal(buffer.done[:n] == 1.0, terminal)
    truncated = [e for e in episodes if not e.terminated]
    terminated = [e for e in episodes if e.terminated]
    assert truncated and terminated, "the fixture needs both kinds of episode end"
    assert all(e.length == 12 for e in truncated)
    assert int(buffer.done[:n].sum()) == len(terminated)


def test_truncated_transition_keeps_true_final_observation():
    # With a 5-step limit, each truncated episode's 5th transition must chain from its 4th (same episode),
    # not from a reset observation.
    envs = make_vec_env("CartPole-v1", 1, 5)
    buffer = ReplayBuffer(100, (4,), gamma=0.99)
    collector = Collector(envs, buffer, seed=3)
    for _ in range(6):  # 5 steps of the episode + the reset step
        collector.step(np.array([0]))
    assert len(buffer) == 5
    assert np.allclose(buffer.next_obs[:4], buffer.obs[1:5])  # consecutive within the episode
    assert buffer.done[4] == 0.0  # truncated: bootstrap
    first_obs_of_next_episode = collector.obs_NO[0]
    assert not np.allclose(buffer.next_obs[4], first_obs_of_next_episode)
