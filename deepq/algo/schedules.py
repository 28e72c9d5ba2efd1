"""Exploration and learning-rate schedules as pure functions of a counter (env steps or finished episodes)."""

from __future__ import annotations

from typing import Optional


def linear(start: float, end: float, duration: int, t: int) -> float:
    """Straight line from `start` at t=0 to `end` at t=duration, then flat (DQN, Mnih et al. 2015)."""
    fraction = min(max(t, 0) / duration, 1.0)
    return start + fraction * (end - start)


def exponential(start: float, end: float, decay: float, t: int) -> float:
    """start * decay**t, never below the floor `end` (the notebooks' `epsilon *= decay`)."""
    return max(end, start * decay ** max(t, 0))


def epsilon_at(exploration_cfg, env_steps: int, episodes: int) -> float:
    """Epsilon for the current counters, as configured by `ExplorationConfig`."""
    c = exploration_cfg
    t = env_steps if c.unit == "step" else episodes
    if c.schedule == "constant":
        return c.start
    if c.schedule == "linear":
        return linear(c.start, c.end, c.duration, t)
    return exponential(c.start, c.end, c.decay, t)


def learning_rate(learner_cfg, total_steps: int, env_steps: int, solved_at: Optional[int]) -> float:
    """Adam's learning rate at `env_steps`: `lr`, or with `lr_end` a straight line from `lr` to `lr_end` over the
    budget (`lr_decay_from` start) or from the run's confirmed solve at `solved_at` to the budget's end
    (`lr_decay_from` solved; `lr` while unsolved)."""
    c = learner_cfg
    if c.lr_end is None:
        return c.lr
    if c.lr_decay_from == "solved":
        if solved_at is None:
            return c.lr
        return linear(c.lr, c.lr_end, max(total_steps - solved_at, 1), env_steps - solved_at)
    return linear(c.lr, c.lr_end, total_steps, env_steps)
