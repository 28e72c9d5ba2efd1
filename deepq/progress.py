"""Training progress: a tqdm bar on a terminal, plain log lines otherwise (CI, pipes), nothing when quiet."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total_steps: int, enabled: bool = True, fancy: bool = True) -> None:
        self.enabled = enabled
        self.bar = None
        self.last_eval = None
        self.last_return = None
        self._shown = 0
        self._last_refresh = 0.0
        if enabled and fancy and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, unit="step", dynamic_ncols=True, leave=True, mininterval=0.2)

    def advance(self, env_steps: int) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self._last_refresh > 0.2:  # tqdm itself costs microseconds per call: throttle it
            self._last_refresh = now
            self.bar.update(env_steps - self._shown)
            self._shown = env_steps

    def episode(self, episode_return: float, epsilon: float) -> None:
        self.last_return = episode_return
        self.epsilon = epsilon

    def evaluation(self, env_steps: int, ev, epsilon: float, threshold) -> None:
        if not self.enabled:
            return
        self.last_eval = ev.mean
        if self.bar is not None:
            self.bar.set_postfix(eval=f"{ev.mean:.1f}", eps=f"{epsilon:.3f}", refresh=False)
        else:
            goal = f" (solved at {threshold:g})" if threshold is not None else ""
            print(f"step {env_steps:>8d} | eval {ev.mean:7.1f} ± {ev.std:5.1f}{goal} | eps {epsilon:.3f}",
                  file=sys.stderr, flush=True)

    def close(self, result) -> None:
        if self.bar is not None:
            self.bar.update(result.env_steps - self._shown)
            self.bar.close()
