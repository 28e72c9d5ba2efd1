"""Action repeat for any task: the agent's action is played for up to `k` env steps, their rewards summed.

Why: on MountainCar-v0 one-step epsilon-greedy dithering rarely builds the swing that reaches the flag (the
preset's misses are exploration failures), while an action held for several steps does, and every decision
then covers k steps of the episode (a shorter horizon to learn over). It is Atari's frame skip (Mnih et al.
2015) for flat observations, without the max-pooling of the last two frames (that smooths a flickering screen;
a state vector does not flicker).

A repeat stops early when the episode ends (terminated or truncated), so the episode's return and its end are
the env's own: a greedy evaluation scores the same task (the sum of the env's rewards over the episode) with a
policy that changes its action every k steps. The env's time limit still counts env steps (it sits inside).
Step counts of training (train.total_steps, eval.interval, ...) count the agent's decisions, as with Atari's
frame skip; a video (deepq.viz.video) plays the repeat itself, one env step a frame.
"""

from __future__ import annotations

import gymnasium as gym


class ActionRepeat(gym.Wrapper):
    """Play each action `repeat` times (fewer when the episode ends first); the reward is their sum, the
    observation and info the last step's."""

    def __init__(self, env: gym.Env, repeat: int) -> None:
        super().__init__(env)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.repeat = repeat

    def step(self, action):
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info
