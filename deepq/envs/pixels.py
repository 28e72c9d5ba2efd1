"""Pixel tasks: Atari (the Arcade Learning Environment, `ale-py`) and MinAtar, found without the user importing
anything, and preprocessed as the papers and the libraries people compare with do.

Atari (`env.preprocess=atari`, chosen for `ALE/...` and `...NoFrameskip-v4` ids), as the Nature DQN (Mnih et
al. 2015), CleanRL's dqn_atari.py and SB3's AtariWrapper, from Gymnasium's own wrappers where they exist:
    the game at every frame (frameskip 1; sticky actions: `env.sticky_actions`, empty = the id's own: 0.25 for
    v5 ids, 0 for NoFrameskip-v4)
    AtariPreprocessing: up to `noop_max` random no-ops at reset, the action repeated 4 frames with the last two
        max-pooled, 84x84 grayscale (uint8)
    the time limit (`env.max_episode_steps`, in agent steps per game)
    GameScore (training only): each whole game's raw score, which the training log reports (not the lives)
    EpisodicLife (training only, `env.episodic_life`): a lost life ends the training episode; the game goes on
    FireReset: presses FIRE after a reset in games that need it to start
    reward sign (training only, `env.clip_rewards`): -1, 0 or +1
    FrameStackObservation of `env.frame_stack`
Evaluation, `deepq play` and `deepq evaluate` use the same pipeline without the training-only wrappers: their
scores are the raw game score over whole games.

MinAtar (`env.preprocess=minatar`, for `MinAtar/...` ids; Young & Tian 2019): its 10x10xC boolean channels as a
(C, 10, 10) uint8 image, channels first as PyTorch's convolutions expect. MinAtar's own sticky actions (0.1) stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit, TransformObservation, \
    TransformReward

KINDS = ("auto", "none", "atari", "minatar")


def is_atari(env_id: str) -> bool:
    name = env_id.rpartition(":")[2]
    return name.startswith("ALE/") or name.endswith("NoFrameskip-v4")


def is_minatar(env_id: str) -> bool:
    return env_id.rpartition(":")[2].startswith("MinAtar/")


@dataclass(frozen=True)
class Preprocessing:
    """How a pixel task's observations and rewards are prepared (from the run's `env.*` settings)."""

    kind: str  # atari | minatar
    frame_stack: int = 4
    sticky_actions: Optional[float] = None
    noop_max: int = 30
    episodic_life: bool = True
    clip_rewards: bool = True

    @classmethod
    def of(cls, env_cfg) -> Optional["Preprocessing"]:
        """The preprocessing `env.preprocess` asks for (auto: by the id), or None."""
        kind = getattr(env_cfg, "preprocess", "auto")
        if kind == "auto":
            kind = "atari" if is_atari(env_cfg.id) else "minatar" if is_minatar(env_cfg.id) else "none"
        if kind == "none":
            return None
        return cls(kind, env_cfg.frame_stack, env_cfg.sticky_actions, env_cfg.noop_max, env_cfg.episodic_life,
                   env_cfg.clip_rewards)

    @classmethod
    def for_id(cls, env_id: str) -> Optional["Preprocessing"]:
        """The default preprocessing of a bare id (an evaluation on another env, a random baseline)."""
        kind = "atari" if is_atari(env_id) else "minatar" if is_minatar(env_id) else None
        return None if kind is None else cls(kind)

    @property
    def reports_games(self) -> bool:
        """Whether training envs report whole games (GameScore): Atari, whose training episodes are lives."""
        return self.kind == "atari"

    @property
    def stacked(self) -> int:
        """Frames per observation along its first axis (1: the observation is one frame)."""
        return self.frame_stack if self.kind == "atari" else 1

    def make_kwargs(self) -> dict:
        """What gym.make needs for the base game."""
        if self.kind != "atari":
            return {}
        return {"frameskip": 1, **({} if self.sticky_actions is None else
                                   {"repeat_action_probability": self.sticky_actions})}

    def wrap(self, env: gym.Env, training: bool, max_episode_steps: Optional[int]) -> gym.Env:
        if self.kind == "minatar":
            env = channels_first(env)
            return env if max_episode_steps is None else TimeLimit(env, max_episode_steps)
        env = AtariPreprocessing(env, noop_max=self.noop_max, frame_skip=4, screen_size=84,
                                 terminal_on_life_loss=False, grayscale_obs=True, scale_obs=False)
        if max_episode_steps is not None:  # per game (as ALE's own limit), inside the life-loss wrapper, so that
            env = TimeLimit(env, max_episode_steps)  # a truncated game is reset, not continued by the next life
        if training:
            env = GameScore(env)
        if training and self.episodic_life:
            env = EpisodicLife(env)
        if "FIRE" in env.unwrapped.get_action_meanings():
            env = FireReset(env)
        if training and self.clip_rewards:
            env = TransformReward(env, np.sign)
        return FrameStackObservation(env, self.frame_stack)  # pads a new episode with its first frame


def channels_first(env: gym.Env) -> gym.Env:
    """(H, W, C) booleans -> (C, H, W) uint8 in {0, 1}."""
    h, w, c = env.observation_space.shape
    space = spaces.Box(0, 1, (c, h, w), np.uint8)
    return TransformObservation(env, lambda obs: np.ascontiguousarray(np.moveaxis(obs, -1, 0), dtype=np.uint8),
                                space)


class GameScore(gym.Wrapper):
    """Reports each whole game's raw score and length (agent steps) in `info["game_score"]` and
    `info["game_length"]` on the step the game ends (terminated or truncated), seen below the training-only
    wrappers: with a lost life ending the training episode and rewards clipped to their sign, the training episodes
    are neither games nor scores (SB3's Monitor and CleanRL's RecordEpisodeStatistics sit at the same place)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.score = 0.0
        self.length = 0

    def reset(self, **kwargs):
        self.score, self.length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.score += float(reward)
        self.length += 1
        if terminated or truncated:
            info = {**info, "game_score": self.score, "game_length": self.length}
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the training episode (terminated), without resetting the game: the next reset continues it
    with a no-op step (Mnih et al. 2015; SB3's EpisodicLifeEnv). Only a game over resets the game."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Presses FIRE after each reset (and then action 2), for games that wait for it (SB3's FireResetEnv)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                return self.env.reset(**kwargs)
        return obs, info
