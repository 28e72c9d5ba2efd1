"""Exploration schedules as pure functions of a counter (env steps or finished episodes)."""

from __future__ import annotations


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
