"""Hooks into the training loop for everything that is not the loop itself (live plots, custom logging).

Subclass `Callback`, override what you need and pass instances to `deepq.train(..., callbacks=[...])`.
`counters` holds env_steps, episodes and grad_steps at the moment of the call.
"""

from __future__ import annotations


class Callback:
    def on_episode(self, counters: dict, episode_return: float, episode_length: int, epsilon: float) -> None:
        """A training episode just finished."""

    def on_eval(self, counters: dict, result) -> None:
        """A greedy evaluation (an `EvalResult`) just finished."""

    def on_end(self, result, run_dir) -> None:
        """Training ended (`TrainResult`; `run_dir` is None for in-memory runs)."""
