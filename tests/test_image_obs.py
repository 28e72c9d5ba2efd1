"""Observations of any shape and dtype, end to end: a small image environment (uint8 frames of shape (1, 5, 5))
trained with a user's convolutional network, through the collector, the replay (uint8 all the way), evaluation,
checkpoints, load_agent and resume."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

import deepq
from deepq.algo.learner import AutogradLearner
from deepq.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # every test here trains an agent


class PixelChain(gym.Env):
    """A lit pixel on a 5x5 frame walks left or right along the middle row; reaching the right edge ends the
    episode with reward 1 (time limit 20 steps). Starts in column 0..2."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.observation_space = spaces.Box(0, 255, (1, 5, 5), np.uint8)
        self.action_space = spaces.Discrete(2)
        self.render_mode = render_mode
        self.col = 0

    def _frame(self):
        frame = np.zeros((1, 5, 5), np.uint8)
        frame[0, 2, self.col] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.col = int(self.np_random.integers(0, 3))
        return self._frame(), {}

    def step(self, action):
        self.col = max(0, self.col + (1 if action == 1 else -1))
        done = self.col == 4
        return self._frame(), float(done), done, False, {}

    def render(self):
        return np.repeat(self._frame()[0][..., None], 3, axis=2)


def pixel_chain():
    return gym.wrappers.TimeLimit(PixelChain(), 20)


class SmallConv(nn.Module):
    def __init__(self, observation_space, n_actions):
        super().__init__()
        channels = observation_space.shape[0]
        self.body = nn.Sequential(nn.Conv2d(channels, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 3 * 3, 32),
                                  nn.ReLU(), nn.Linear(32, n_actions))

    def forward(self, obs):
        return self.body(obs / 255.0)


def small_conv(observation_space, n_actions):
    return SmallConv(observation_space, n_actions)


def test_an_image_task_trains_end_to_end_with_a_conv_network(tmp_path):
    cfg = deepq.config.resolve(env_id="CartPole-v1", seed=0, overrides={
        "env.num_envs": 1, "train.total_steps": 3000, "train.learning_starts": 200, "eval.interval": 500,
        "eval.episodes": 10, "eval.threshold": 1.0, "eval.stop_when_solved": False, "replay.capacity": 5000,
        "exploration.duration": 1500, "log.tensorboard": False, "log.progress": False, "log.plot": False,
        "log.checkpoint_interval": 1000, "learner.lr": 1e-3, "replay.n_step": 1,
        "learner.objective": "td"})  # small_conv outputs Q-values (the preset's head is HL-Gauss)
    run = tmp_path / "run"
    agent = deepq.train(cfg, run, env=pixel_chain, network=small_conv, quiet=True)
    assert isinstance(agent.online, SmallConv) and isinstance(agent.learner, AutogradLearner)
    assert agent.result.solved  # walks right from every start: return 1
    assert deepq.evaluate(agent, episodes=20, seed=1000).mean == 1.0

    tensors, state = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert tensors["replay.obs"].dtype == torch.uint8 and tuple(tensors["replay.obs"].shape[1:]) == (1, 5, 5)
    assert state["spaces"]["obs_shape"] == [1, 5, 5] and state["spaces"]["obs_dtype"] == "uint8"

    loaded = deepq.load_agent(run)  # rebuilt from config.yaml: env and network factories by import path
    assert isinstance(loaded.online, SmallConv) and loaded.observation_space.dtype == np.uint8
    frames = np.stack([PixelChain().reset(seed=s)[0] for s in range(8)])
    assert np.array_equal(loaded.greedy(frames), agent.greedy(frames))
    assert loaded.predict(frames[0])[0] == 1  # right, towards the reward

    more = deepq.resume(run, total_steps=4000, quiet=True)
    assert more.result.env_steps >= 4000 and isinstance(more.online, SmallConv)
