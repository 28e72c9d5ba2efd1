"""When a run counts as solved: the environment's threshold, checked twice.

The threshold belongs to the environment: `eval.threshold` when the config sets one, else the env spec's
`reward_threshold` (475 for CartPole-v1, -100 for Acrobot-v1, 200 for LunarLander-v3). No number here is
specific to one task.

The in-training evaluation runs the same `eval.episodes` seeded episodes every time, so an agent just below the
threshold can pass it by luck: the check is a noisy, repeated test and its false passes add up over a run
(issue 12: about 1 seed in 10-20 of the CartPole preset stopped on an agent scoring below 475 on new episodes).
The safety margin is therefore a *confirmation* on fresh episodes, not a bigger number: once an evaluation
reaches the threshold, `eval.confirm_episodes` more greedy episodes, reset with seeds never used before in the
run, must also average at or above it. Only then is the run solved (and, with `eval.stop_when_solved`, stopped);
otherwise training goes on. With `eval.confirm_z` = z the confirmation's mean must clear the threshold by z
standard errors (std / sqrt(episodes)): a margin in each environment's own spread of returns (none for an agent
that scores 500 in every CartPole episode, ~10 points for a LunarLander agent at std 50), where a fixed number
such as CartPole's 485 means nothing on another task. It costs a confirmation only when the cheap check passes.

A run may confirm many times (each failed confirmation is followed by more training and another try), and each
try is another chance for an agent just below the threshold to pass by luck: the agent a run stops at is the
first lucky one (issue 12: one LunarLander seed in 30 stopped on an agent at 199.6 on the test episodes after
five failed tries). With `eval.confirm_z_grows`, the k-th confirmation of a run is held to the one-sided level
alpha / k^2, alpha = P(Z > confirm_z) the first one's: z = 3.00, 3.40, 3.62, 3.76, ... for confirm_z 3, so all of
a run's tries together pass a below-threshold agent at most pi^2 / 6 times as often as one try does.

Evaluations cost: LunarLander's 10-30 episodes of up to 1,000 steps every 5,000 env steps are a fifth of a run.
With `eval.gate_episodes` = W, an evaluation before the solve is skipped while the run's last W training episodes
are clearly below the threshold (`worth_evaluating`): those episodes are free (training plays them anyway) and,
exploring, score no better than the greedy policy would, so a skipped check is one that would almost surely
have failed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from deepq.envs.make import reward_threshold
from deepq.evaluation.evaluate import EpisodeRunner, Policy, summarize

# Confirmation episodes are reset with seeds in [CONFIRM_SEED_LOW, 2**32): clear of the usual test seeds
# (e.g. 1000-1099) and of the in-training evaluation's (1_000_000 + 1000 * seed + i, for seeds below 10**6).
CONFIRM_SEED_LOW = 10**9


def solve_threshold(cfg) -> Optional[float]:
    """The mean greedy return that counts as solved: `eval.threshold`, else the env's `reward_threshold`
    (None when neither exists: such a run trains to its budget)."""
    if cfg.eval.threshold is not None:
        return float(cfg.eval.threshold)
    spec_threshold = reward_threshold(cfg.env.id)
    return None if spec_threshold is None else float(spec_threshold)


def worth_evaluating(cfg, recent_returns: Sequence[float], threshold: Optional[float]) -> bool:
    """False when `eval.gate_episodes` = W is on and the last W training episodes' returns are clearly below the
    threshold: their mean plus `eval.gate_z` standard errors of it (std / sqrt(W)) is below it. True with fewer
    than W episodes so far, or without a threshold."""
    w = cfg.eval.gate_episodes
    if not w or threshold is None or len(recent_returns) < w:
        return True
    returns = np.asarray(recent_returns[-w:], dtype=np.float64)
    return float(returns.mean()) + cfg.eval.gate_z * float(returns.std()) / math.sqrt(w) >= threshold


def confirmation_seeds(seed: int, env_steps: int, episodes: int) -> list[int]:
    """Fresh reset seeds for the confirmation run at `env_steps`: a different set at every check (drawn from the
    run's seed and the step), the same set for the same run and step, so resumed runs confirm exactly alike."""
    rng = np.random.default_rng([seed, env_steps, 12])
    return [int(s) for s in rng.choice(2**32 - CONFIRM_SEED_LOW, size=episodes, replace=False) + CONFIRM_SEED_LOW]


def confirmation_z(cfg, attempt: int) -> float:
    """The margin, in standard errors, of a run's `attempt`-th confirmation (1 = its first): `eval.confirm_z`,
    or with `eval.confirm_z_grows` the one-sided normal quantile at P(Z > confirm_z) / attempt^2."""
    z = cfg.eval.confirm_z
    if not cfg.eval.confirm_z_grows or attempt <= 1:
        return z
    normal = NormalDist()
    return -normal.inv_cdf(normal.cdf(-z) / attempt ** 2)  # the lower tail: exact far out, where 1 - p is not


@dataclass(frozen=True)
class Confirmation:
    """The outcome of one confirmation: its mean over `episodes` fresh episodes, and whether it passed."""

    env_steps: int
    mean: float
    std: float
    min: float
    episodes: int
    passed: bool
    seconds: float
    bound: float  # mean - z standard errors: the level this agent is confirmed at
    z: float  # the margin this try was held to (confirmation_z)

    def to_dict(self) -> dict:
        return {"env_steps": self.env_steps, "mean": self.mean, "std": self.std, "min": self.min, "episodes": self.episodes,
                "passed": self.passed, "bound": self.bound, "z": round(self.z, 4),
                "seconds": round(self.seconds, 4)}


class Helper(Protocol):
    """Another process that plays episodes of the same greedy policy (deepq.evaluation.worker's helper)."""

    def begin(self, seeds: list[int]) -> None: ...

    def returns(self) -> np.ndarray: ...


def play_confirmation(runner: EpisodeRunner, policy: Policy, seeds: list[int],
                      helper: Optional[Helper] = None) -> np.ndarray:
    """A confirmation's returns. Episodes stepped one environment at a time (LunarLander's Box2D; not the
    arrays of CartPole and Acrobot, which play 100 episodes in milliseconds) are played as two halves, each in
    lockstep: with a `helper`, the second half in the helper's process while this one plays the first, on two
    cores, so that the ~1 s a LunarLander-v3 confirmation takes is halved. The same returns with or without it."""
    half = len(seeds) // 2
    if runner.vector is not None or not half:
        return runner.run(policy, seeds)
    if helper is None:
        return np.concatenate([runner.run(policy, seeds[:half]), runner.run(policy, seeds[half:])])
    helper.begin(seeds[half:])
    return np.concatenate([runner.run(policy, seeds[:half]), helper.returns()])


def confirm(cfg, policy: Policy, env_steps: int, threshold: float, attempt: int = 1,
            helper: Optional[Helper] = None) -> Confirmation:
    """Run `eval.confirm_episodes` greedy episodes on fresh seeds; passed when their mean, less z standard errors
    of it (`confirmation_z` of the run's `attempt`-th confirmation), reaches `threshold`. `helper` plays half of
    them in another process (`play_confirmation`).
    Its environments are made and closed here: a run confirms rarely (when an evaluation passes)."""
    started = time.perf_counter()
    n = cfg.eval.confirm_episodes
    runner = EpisodeRunner(cfg.env, n, cfg.env.max_episode_steps)
    try:
        returns = play_confirmation(runner, policy, confirmation_seeds(cfg.seed, env_steps, n), helper)
    finally:
        runner.close()
    ev = summarize(returns)
    z = confirmation_z(cfg, attempt)
    bound = ev.mean - z * ev.std / math.sqrt(n)  # lower confidence bound of the agent's mean
    return Confirmation(env_steps=env_steps, mean=ev.mean, std=ev.std, min=ev.min, episodes=n, passed=bound >= threshold,
                        seconds=time.perf_counter() - started, bound=bound, z=z)


def confirmed_level(cfg, eval_mean: float, level: Optional[float], threshold: float, policy: Policy,
                    env_steps: int, on_confirm: Optional[Callable[[Confirmation], None]] = None,
                    attempt: int = 1, helper: Optional[Helper] = None) -> Optional[float]:
    """After an in-training evaluation with mean `eval_mean`: None when it is below `level` (nothing to confirm);
    else the level the agent is confirmed at, the lower bound of a confirmation on fresh episodes (the run's
    `attempt`-th; `on_confirm` sees it; its `passed` is against `threshold`), or +inf with
    `eval.confirm_episodes` = 0. `helper` plays half of a confirmation in another process."""
    if level is None or eval_mean < level:
        return None
    if not cfg.eval.confirm_episodes:
        return math.inf
    outcome = confirm(cfg, policy, env_steps, threshold, attempt, helper)
    if on_confirm is not None:
        on_confirm(outcome)
    return outcome.bound


def is_solved(cfg, eval_mean: float, threshold: Optional[float], policy: Policy, env_steps: int,
              on_confirm: Optional[Callable[[Confirmation], None]] = None, attempt: int = 1) -> bool:
    """The solved check after an in-training evaluation with mean `eval_mean`: at or above the threshold, and,
    with `eval.confirm_episodes` > 0, confirmed on fresh episodes (the run's `attempt`-th confirmation;
    `on_confirm` sees each)."""
    bound = confirmed_level(cfg, eval_mean, threshold, threshold, policy, env_steps, on_confirm, attempt)
    return bound is not None and bound >= threshold
