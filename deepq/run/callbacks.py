"""Hooks into the training loop for everything that is not the loop itself (live plots, custom logging).

Subclass `Callback`, override what you need and pass instances to `deepq.train(..., callbacks=[...])`.
`counters` holds env_steps, episodes and grad_steps at the moment of the call. A hook that returns False stops
training cleanly at the end of that step: the latest and final checkpoints and the summary are written, and
`summary.json` says `"stopped": "callback"`.
"""

from __future__ import annotations

from typing import Optional


class Callback:
    def on_step(self, agent, counters: dict) -> Optional[bool]:
        """A step of the vector env is complete (after its updates, evaluation and checkpoint); `agent` is the
        `DQNAgent` being trained (`agent.predict`, `agent.q_values`, `agent.online`)."""

    def on_episode(self, counters: dict, episode_return: float, episode_length: int,
                   epsilon: float) -> Optional[bool]:
        """A training episode just finished."""

    def on_eval(self, counters: dict, result) -> Optional[bool]:
        """A greedy evaluation (an `EvalResult`) just finished."""

    def on_solved(self, counters: dict, result) -> Optional[bool]:
        """The run just solved its task: the evaluation `result` (an `EvalResult`, already seen by `on_eval`)
        reached the threshold and passed its confirmation. Called once per run, whether or not it stops there."""

    def on_end(self, result, run_dir) -> None:
        """Training ended (`TrainResult`; `run_dir` is None for in-memory runs)."""
