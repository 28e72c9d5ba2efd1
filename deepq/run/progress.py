"""Training progress: a tqdm bar on a terminal, plain log lines otherwise (CI, pipes), nothing when quiet.

Both show env steps per second, the latest greedy evaluation, epsilon and the latest TD loss. The bar's postfix
is rebuilt only when the bar is redrawn (at most five times a second), so the per-step cost stays one clock read.
"""

from __future__ import annotations

import sys
import time
from typing import Optional

REFRESH_S = 0.2
# tqdm's default minus its own rate, which the postfix shows as sps (the same number as the metric time/sps).
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


class Progress:
    def __init__(self, total_steps: int, enabled: bool = True, fancy: bool = True, start: int = 0) -> None:
        """`start`: env steps already done (a resumed run); the bar starts there and sps counts from there."""
        self.enabled = enabled
        self.bar = None
        self.last_eval: Optional[float] = None
        self.last_return: Optional[float] = None
        self.epsilon: Optional[float] = None
        self.loss: Optional[float] = None
        self._started = time.perf_counter()
        self._start = start
        self._shown = start
        self._last_refresh = 0.0
        if enabled and fancy and sys.stderr.isatty():
            from tqdm import tqdm

            # mininterval=0: `advance` already throttles, so every update it lets through is drawn.
            self.bar = tqdm(total=total_steps, initial=start, unit="step", dynamic_ncols=True, leave=True,
                            mininterval=0, bar_format=BAR_FORMAT)

    def advance(self, env_steps: int) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self._last_refresh > REFRESH_S:  # tqdm itself costs microseconds per call: throttle it
            self._last_refresh = now
            self.bar.set_postfix_str(self.postfix(env_steps), refresh=False)
            self._show(env_steps)

    def episode(self, episode_return: float, epsilon: float, loss: Optional[float] = None) -> None:
        """A training episode ended; `loss` is the mean TD loss since the last episode (None: no update yet)."""
        self.last_return = episode_return
        self.epsilon = epsilon
        if loss is not None:
            self.loss = loss

    def evaluation(self, env_steps: int, ev, epsilon: float, goal: str = "") -> None:
        """`goal`: what the run is after, for the plain line ("solved at 475"; once solved with eval.target,
        "solved after 12003 env steps; target -80")."""
        if not self.enabled:
            return
        self.last_eval = ev.mean
        self.epsilon = epsilon
        if self.bar is None:
            goal = f" ({goal})" if goal else ""
            print(f"step {env_steps:>8d} | eval {ev.mean:7.1f} ± {ev.std:5.1f}{goal} | "
                  f"{self.postfix(env_steps, ' | ', ' ', eval_mean=False)}", file=sys.stderr, flush=True)

    def postfix(self, env_steps: int, sep: str = ", ", assign: str = "=", eval_mean: bool = True) -> str:
        """'sps=2400, eval=500.0, eps=0.050, loss=0.0123'; fields not known yet are left out."""
        elapsed = time.perf_counter() - self._started
        fields = [("sps", f"{(env_steps - self._start) / elapsed:.0f}" if elapsed > 0 else None),
                  ("eval", f"{self.last_eval:.1f}" if eval_mean and self.last_eval is not None else None),
                  ("eps", f"{self.epsilon:.3f}" if self.epsilon is not None else None),
                  ("loss", f"{self.loss:.4g}" if self.loss is not None else None)]
        return sep.join(f"{name}{assign}{value}" for name, value in fields if value is not None)

    def close(self, result) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(self.postfix(result.env_steps), refresh=False)
            self._show(result.env_steps)
            self.bar.close()

    def _show(self, env_steps: int) -> None:
        # The last vector step may overshoot the budget by up to num_envs - 1; past its total tqdm would drop the
        # bar and show "n/?", so the bar stops at 100% (the summary line gives the exact count).
        shown = min(env_steps, self.bar.total)
        self.bar.update(shown - self._shown)
        self._shown = shown
