"""The run session: everything around the DQN loop that keeps a run safe and visible.

The loop (deepq.train) moves data between environment, buffer and learner; this object does the rest: the run
directory and its lock, resuming from a checkpoint, checkpoints (never one with NaN weights), metrics, progress,
callbacks, the in-training evaluation's bookkeeping (best, solved), and, however the run ends (budget, solved,
a callback, Ctrl-C, divergence, a full disk, an error), a summary and a clean close.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Optional, Sequence


from deepq.config.schema import Config, flatten
from deepq.errors import DeepQError, Diverged, WriteError
from deepq.evaluation.evaluate import EpisodeRunner, EvalResult, screened_returns, summarize
from deepq.evaluation.solved import confirmed_level, solve_threshold, worth_evaluating
from deepq.evaluation.worker import EvalWorker, other_cores_busy
from deepq.run import resuming, runs, snapshot
from deepq.run.callbacks import Callback
from deepq.checkpoint import save_checkpoint
from deepq.run.interrupts import Interrupted, StopSignals
from deepq.run.metrics import CSVBackend, MetricsLogger, TensorBoardBackend, truncate_rows
from deepq.run.progress import Progress

EVAL_SEED_BASE = 1_000_000  # in-training evaluation seeds stay clear of the usual test seeds (e.g. 1000-1099)


@dataclass
class Counters:
    env_steps: int = 0  # real transitions collected, summed over envs
    episodes: int = 0  # finished training episodes
    grad_steps: int = 0
    update_credit: int = 0  # env steps not yet paid for with an update
    next_eval: int = 0  # env step count at which the next evaluation is due
    next_checkpoint: int = 0
    recent_returns: list = field(default_factory=list)  # the last eval.gate_episodes training returns (if on)

    def as_dict(self) -> dict[str, int]:
        return {"env_steps": self.env_steps, "episodes": self.episodes, "grad_steps": self.grad_steps}


@dataclass
class TrainResult:
    """What a run ended with; also written to RUN/summary.json."""

    solved: bool = False
    solved_at_env_steps: Optional[int] = None
    env_steps: int = 0
    grad_steps: int = 0
    episodes: int = 0
    train_seconds: float = 0.0
    seconds_to_solve: Optional[float] = None
    threshold: Optional[float] = None
    last_eval: Optional[dict] = None
    best_eval_mean: Optional[float] = None
    time_breakdown_s: dict = field(default_factory=dict)
    target_at_env_steps: Optional[int] = None  # eval.target's first confirmed evaluation
    # the agent confirmed at the highest level ({"env_steps", "bound"}): before the solve, the best failed
    # confirmation; with eval.target, the best since the solve. It becomes the final agent when the budget ends
    # before the solve, or before the target (final_from_env_steps then says so)
    best_confirmed: Optional[dict] = None
    final_from_env_steps: Optional[int] = None
    stopped: str = ""  # why training ended: budget, solved, target, callback, interrupted (SIGINT), diverged, error
    confirmations: list = field(default_factory=list)  # eval.confirm_episodes checks on fresh episodes
    skipped_evaluations: int = 0  # eval.gate_episodes: evaluations not run, the training episodes clearly below
    eval_parallel: int = 0  # checks played in the second process (eval.parallel; the same results), the rest inline


@dataclass
class PendingCheck:
    """eval.parallel: a check in flight and the run as it was at its step."""

    tensors: dict  # the training state, as snapshot.capture took it (copies)
    state: dict
    counters: Counters
    agent_tensors: dict  # the checked agent's online.*, target.*, optim.* (a subset of tensors)
    epsilon: float


class Rewound(Exception):
    """Raised by the session after it put the training state back to a parallel check's step and applied the
    check there; `reached` is its outcome (evaluate's). The loop goes on from that step."""

    def __init__(self, reached: str) -> None:
        super().__init__(reached)
        self.reached = reached


class Timer:
    """Accumulates wall-clock per phase; a perf_counter call costs ~50 ns, negligible per step."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - since
        return now


class RunSession:
    """One training run's safety and bookkeeping, used as `with RunSession(...) as run:` around the loop."""

    def __init__(self, cfg: Config, path: Optional[Path], spaces: dict, quiet: bool,
                 callbacks: Sequence[Callback]) -> None:
        self.cfg, self.path, self.spaces, self.quiet, self.callbacks = cfg, path, spaces, quiet, list(callbacks)
        self.started = time.perf_counter()
        self.counters = Counters(next_eval=max(cfg.eval.interval, cfg.train.learning_starts),
                                 next_checkpoint=cfg.log.checkpoint_interval)
        self.threshold = solve_threshold(cfg)  # the env's reward_threshold unless eval.threshold is set
        if cfg.eval.target is not None and self.threshold is None:
            raise DeepQError(f"eval.target needs a solved threshold and {cfg.env.id} has no reward_threshold: set "
                             f"eval.threshold (eval.threshold={cfg.eval.target:g} stops at that mean)")
        if cfg.eval.target is not None and cfg.eval.target < self.threshold:
            raise DeepQError(f"eval.target={cfg.eval.target:g} is below the solved threshold {self.threshold:g}: "
                             "a target is a better agent than solved; raise it or leave it empty (eval.target=null)")
        self.result = TrainResult(threshold=self.threshold)
        self.timer = Timer()
        self.logger, self.csv = MetricsLogger([]), None
        self.progress: Optional[Progress] = None
        self.eval_runner: Optional[EpisodeRunner] = None
        self.eval_seeds = [EVAL_SEED_BASE + 1000 * cfg.seed + i for i in range(cfg.eval.episodes)]
        self.lock: Optional[runs.RunLock] = None
        self.last_latest: Optional[int] = None  # env steps of the latest checkpoint on disk, for the messages
        self.parts: Optional[snapshot.Parts] = None
        self.callback_stop = False  # a callback returned False
        self.training = False  # set up completely: from here on a summary is written, whatever happens
        self.summary_written = False  # by `finish`, before the end state: not written again on the way out
        self.confirmed: Optional[tuple[dict, dict]] = None  # eval.target: the best confirmed agent (tensors, counters)
        # eval.parallel (deepq.evaluation.worker): the worker, the one check it is playing, and what the run logged
        # since that check (held until its outcome is known; dropped if the run goes back to it)
        self.worker: Optional[EvalWorker] = None
        self.pending: Optional[PendingCheck] = None
        self.held: list = []

    # --- opening: everything that can refuse the run comes before anything is written ----------------------
    def read_resume_state(self) -> tuple[dict, dict]:
        self.lock = runs.lock_run_dir(self.path)  # first: a run that another process trains is refused as such
        return resuming.read_latest(self.path, self.cfg, self.spaces)

    def start(self, parts: snapshot.Parts, saved: Optional[tuple[dict, dict]]) -> None:
        """Make the run directory (a new run) or put the checkpoint back into `parts` (a resume), then open the
        metrics and the progress display."""
        cfg, path = self.cfg, self.path
        self.parts = parts
        metrics_bytes = None
        if saved is not None:
            loop = resuming.restore(saved, parts, cfg, path, self.quiet)
            self.counters, self.result = Counters(**loop["counters"]), TrainResult(**loop["result"])
            self.started -= loop["elapsed_s"]
            self.timer.totals.update(loop["time_s"])
            self.last_latest, metrics_bytes = self.counters.env_steps, loop["metrics_bytes"]
        if path is not None:
            if saved is None or cfg != runs.read_run_config(path):  # a resume may raise the budget, change log.*
                runs.write_config(path, cfg)
            self.logger, self.csv = _open_metrics(cfg, path, metrics_bytes)
        self.progress = Progress(cfg.train.total_steps, enabled=not self.quiet, fancy=cfg.log.progress,
                                 start=self.counters.env_steps)
        self.training = True

    def create_run_dir(self) -> None:
        if self.path is not None:
            self.lock = runs.create_run_dir(self.path)

    # --- during the loop -------------------------------------------------------------------------------------
    def episode_finished(self, episode, agent, epsilon: float, lr: float) -> None:
        """Log a finished training episode; the loss and Q read here are the divergence check (no extra sync)."""
        c = self.counters
        c.episodes += 1
        learned = agent.pop_metrics()
        self._emit(self.logger.log, "episode", c.as_dict(), {
            "rollout/episode_return": episode.ret, "rollout/episode_length": episode.length,
            "rollout/epsilon": epsilon, "train/lr": lr, **learned,
            "time/sps": c.env_steps / (time.perf_counter() - self.started)})
        for key, value in learned.items():
            if not math.isfinite(value):
                self.settle(agent, block=True)  # a check in flight may have stopped the run before this step
                raise self._diverged(agent, f"{key} is {value}")
        self._emit(self.progress.episode, episode.ret, epsilon, learned.get("train/loss"))
        if self.cfg.eval.gate_episodes:
            c.recent_returns.append(float(episode.ret))
            del c.recent_returns[:-self.cfg.eval.gate_episodes]
        for cb in self.callbacks:
            if cb.on_episode(c.as_dict(), episode.ret, episode.length, epsilon) is False:
                self.callback_stop = True

    def eval_due(self) -> bool:
        c = self.counters
        if not self.cfg.eval.interval or c.env_steps < c.next_eval:
            return False
        c.next_eval += self.cfg.eval.interval
        if not self.result.solved and not worth_evaluating(self.cfg, c.recent_returns, self.threshold):
            self.result.skipped_evaluations += 1
            return False
        return True

    def evaluate(self, agent, epsilon: float) -> str:
        """The in-training greedy evaluation and its bookkeeping. Returns why training may stop here: "solved" (the
        first confirmed evaluation at or above the threshold, with no `eval.target` above it), "target" (the first
        confirmed at or above `eval.target`), else "". With a worker (eval.parallel) the check is handed to it
        and "" returned: `settle` applies its outcome."""
        cfg, c, result = self.cfg, self.counters, self.result
        if self.worker is not None and (cfg.eval.parallel or not other_cores_busy()):
            self._submit(agent, epsilon)
            return ""
        if self.eval_runner is None:
            self.eval_runner = EpisodeRunner(cfg.env, cfg.eval.episodes, cfg.env.max_episode_steps)
        ev = summarize(screened_returns(self.eval_runner, agent.greedy, self.eval_seeds,
                                        self.cfg.eval.screen_episodes, self.threshold))
        confirmations: list = []
        bound = confirmed_level(cfg, ev.mean, self._confirm_level(), self.threshold, agent.greedy, c.env_steps,
                                confirmations.append, attempt=len(result.confirmations) + 1)
        return self._apply_check(agent, None, ev, bound, confirmations, epsilon)

    # --- eval.parallel (deepq.evaluation.worker) ------------------------------------------------------------
    def start_eval_worker(self, agent) -> None:
        """Fork the evaluation worker now, before the replay buffer fills or a logging thread starts: the
        process shares no written memory with the run (copy-on-write) and holds no other thread's lock."""
        self.worker = EvalWorker(self.cfg, agent, self.eval_seeds, self.threshold)

    def _emit(self, write, *args) -> None:
        """A metrics row or a progress update, held while a check is in flight (its own row comes first)."""
        if self.pending is None:
            write(*args)
        else:
            self.held.append((write, args))

    def _submit(self, agent, epsilon: float) -> None:
        """Hand this step's check to the worker and keep what going back to this step takes: the whole training
        state, as a checkpoint captures it (copied: the training goes on meanwhile)."""
        tensors, state = snapshot.capture(self.parts)
        tensors = {name: tensor.clone() for name, tensor in tensors.items()}
        agent_tensors = {name: tensor for name, tensor in tensors.items()
                         if name.startswith(("online.", "target.", "optim."))}
        weights = {name[len("online."):]: tensor.numpy() for name, tensor in agent_tensors.items()
                   if name.startswith("online.")}
        self.worker.submit(weights, self.counters.env_steps, self._confirm_level(), len(self.result.confirmations) + 1)
        self.result.eval_parallel += 1
        self.pending = PendingCheck(tensors, copy.deepcopy(state), copy.deepcopy(self.counters), agent_tensors,
                                    epsilon)
        if self.counters.env_steps >= self.cfg.train.total_steps:  # the last step: the run ends with its outcome
            self.settle(agent, block=True)

    def check_in(self, agent) -> None:
        """Once per loop step, before its check and checkpoint: the check in flight is applied once its outcome is
        in, and waited for where the run cannot go on without it (the next check due, the budget spent)."""
        if self.pending is not None:
            c = self.counters
            self.settle(agent, block=c.env_steps >= c.next_eval or c.env_steps >= self.cfg.train.total_steps)

    def settle(self, agent, block: bool) -> None:
        """Apply the outcome of the check in flight, if it is in (`block`: wait for it). An outcome that changes what
        the training reads (the solve, the target) is applied at its own step: the training state goes back there
        first, and `Rewound` tells the loop to go on from that step."""
        pending = self.pending
        if pending is None or not (block or self.worker.ready()):
            return
        ev, bound, confirmations = self.worker.outcome()
        self.pending, held, self.held = None, self.held, []
        if not self._changes_training(ev, bound):
            at = (pending.agent_tensors, pending.counters.as_dict())
            self._apply_check(agent, at, ev, bound, confirmations, pending.epsilon)
            for write, args in held:
                write(*args)
            return
        snapshot.restore(self.parts, pending.tensors, pending.state,
                         snapshot.restart_seed(self.cfg.seed, pending.counters.env_steps))
        for name in (f.name for f in fields(Counters)):  # in place: the loop holds this object
            setattr(self.counters, name, copy.copy(getattr(pending.counters, name)))
        raise Rewound(self._apply_check(agent, None, ev, bound, confirmations, pending.epsilon))

    def _changes_training(self, ev: EvalResult, bound: Optional[float]) -> bool:
        """Whether applying this outcome sets the solve or the target (the learning rate after the solve, the
        evaluation gate and the stop read them), as `_apply_check` decides them."""
        result, target = self.result, self.cfg.eval.target
        if bound is None or result.target_at_env_steps is not None:
            return False
        if not result.solved:
            return bound >= self.threshold
        return target is not None and ev.mean >= target and bound >= target

    def close_eval_worker(self) -> None:
        """The loop is over: rows still held are the run's (written, never lost); the worker exits."""
        held, self.held, self.pending = self.held, [], None
        for write, args in held:
            write(*args)
        if self.worker is not None:
            self.worker, worker = None, self.worker
            worker.close()

    def _confirm_level(self) -> Optional[float]:
        """The mean a check must reach to be confirmed: the threshold, after the solve eval.target; None once the
        target is confirmed (nothing left to confirm)."""
        if self.result.target_at_env_steps is not None:
            return None
        return self.cfg.eval.target if self.result.solved else self.threshold

    def _apply_check(self, agent, at: Optional[tuple[dict, dict]], ev: EvalResult, bound: Optional[float],
                     confirmations: list, epsilon: float) -> str:
        """A check's bookkeeping (evaluate). `at`: the checked agent's (tensors, counters) when the live agent has
        trained on since (a parallel check that changed nothing the training reads); None: the live agent."""
        cfg, result = self.cfg, self.result
        counters = self.counters.as_dict() if at is None else at[1]
        self._log_eval(ev, counters)
        self.progress.evaluation(counters["env_steps"], ev, epsilon, self._goal())
        for cb in self.callbacks:
            if cb.on_eval(dict(counters), ev) is False:
                self.callback_stop = True
        result.last_eval = {k: v for k, v in ev.to_dict().items() if k != "returns"}
        if result.best_eval_mean is None or ev.mean > result.best_eval_mean:
            result.best_eval_mean = ev.mean
            self.checkpoint("best", agent, at)
        result.confirmations.extend(done.to_dict() for done in confirmations)
        target = cfg.eval.target
        if result.target_at_env_steps is not None:
            return ""
        # One confirmation per check decides both: solved (its bound >= the threshold) and the target.
        if bound is None:
            return ""
        c = self.counters
        stop = ""
        if not result.solved and bound < self.threshold:  # (a diverged agent's NaN bound never gets here)
            # A failed confirmation: its agent is kept if it is the best confirmed so far, the run's agent should
            # the budget end before any solve (measured on 100 fresh episodes, unlike the last agent).
            if result.best_confirmed is None or bound > result.best_confirmed["bound"]:
                self._keep_confirmed(agent, bound, at)
            return ""
        if not result.solved and bound >= self.threshold:
            result.solved, result.solved_at_env_steps = True, c.env_steps
            result.seconds_to_solve = time.perf_counter() - self.started
            for cb in self.callbacks:
                if cb.on_solved(c.as_dict(), ev) is False:
                    self.callback_stop = True
            stop = "solved" if target is None else ""
        if result.solved and target is not None:
            level = bound if math.isfinite(bound) else ev.mean  # eval.confirm_episodes=0: the evaluation's
            if result.best_confirmed is None or level > result.best_confirmed["bound"]:
                self._keep_confirmed(agent, level, at)
            if ev.mean >= target and bound >= target:
                result.target_at_env_steps = c.env_steps
                stop = "target"
        return stop

    def _goal(self) -> str:
        """What the run is after, as the progress lines say it."""
        result, target = self.result, self.cfg.eval.target
        if result.solved and target is not None and result.target_at_env_steps is None:
            return f"solved after {result.solved_at_env_steps} env steps; target {target:g}"
        return "" if self.threshold is None else f"solved at {self.threshold:g}"

    def _keep_confirmed(self, agent, bound: float, at: Optional[tuple[dict, dict]] = None) -> None:
        """Keep the agent confirmed at the highest level so far (in memory and, for a resume, as
        checkpoints/confirmed.safetensors): it is the run's agent if the budget ends before the solve (a failed
        confirmation's) or, with eval.target, before the target (one since the solve)."""
        self.confirmed = (agent.tensors(), self.counters.as_dict()) if at is None else at
        self.result.best_confirmed = {"env_steps": self.confirmed[1]["env_steps"], "bound": bound}
        self.checkpoint("confirmed", agent, self.confirmed)  # the same snapshot: the tensors are copied once

    def _final_agent(self, stopped: str) -> Optional[tuple[dict, dict]]:
        """The run's agent (its tensors and counters) when it is not the last one: the budget spent before the solve
        with a confirmation run (the best confirmed agent, below the threshold), or before eval.target was
        confirmed with an agent confirmed since the solve (the best of them); else None."""
        result = self.result
        if stopped != "budget" or result.best_confirmed is None or result.target_at_env_steps is not None:
            return None
        if result.solved and self.cfg.eval.target is None:
            return None
        if self.confirmed is None and self.path is not None:  # resumed: it was kept on disk
            from deepq.checkpoint import load_checkpoint

            tensors, state = load_checkpoint(runs.checkpoint_path(self.path, "confirmed"))
            self.confirmed = tensors, state["counters"]
        return self.confirmed

    def step_done(self, agent, stop: StopSignals) -> bool:
        """The end of a loop iteration: checkpoint when due, Ctrl-C/SIGTERM (the step is complete, so the saved
        state is consistent), the callbacks' `on_step`. False when a callback asked to stop."""
        c = self.counters
        interval = self.cfg.log.checkpoint_interval
        checkpoint_due = interval and c.env_steps >= c.next_checkpoint
        if stop.requested:
            self.settle(agent, block=True)  # a checkpoint holds the outcome of every check before it
        elif checkpoint_due and self.pending is not None and self.path is not None:
            # The check in flight is usually the one just sent, at this very step: the checkpoint waits for its
            # outcome a few steps instead of the training waiting for it here; never more than an interval late.
            # (Without a run directory nothing is written, so nothing waits.)
            self.settle(agent, block=c.env_steps >= c.next_checkpoint + interval)
            checkpoint_due = self.pending is None
        if checkpoint_due:
            c.next_checkpoint += interval
            self.checkpoint("latest", agent)
        if stop.requested:
            self.checkpoint("latest", agent)
            raise self._interrupted(stop.requested)
        self._emit(self.progress.advance, c.env_steps)
        for cb in self.callbacks:
            if cb.on_step(agent, c.as_dict()) is False:
                self.callback_stop = True
        return not self.callback_stop

    def checkpoint(self, which: str, agent, other: Optional[tuple[dict, dict]] = None) -> None:
        """A checkpoint; `latest` holds the whole training state (deepq.run.snapshot), the others the agent
        (`other`: tensors and counters already taken, e.g. an earlier agent's for `final`)."""
        if self.path is None:
            return
        if not agent.is_finite():  # never replace a good checkpoint with NaN weights
            raise self._diverged(agent, "the weights hold NaN or inf")
        c = self.counters
        tensors, counters = (agent.tensors(), c.as_dict()) if other is None else other
        state = {"spaces": self.spaces, "counters": counters, "config": self.cfg.to_dict()}
        if which == "latest":
            self.logger.flush()
            tensors, state["resume"] = snapshot.capture(self.parts)
            state["resume"]["loop"] = {
                "counters": asdict(c), "result": asdict(self.result), "config": self.cfg.to_dict(),
                "elapsed_s": time.perf_counter() - self.started, "time_s": self.timer.totals,
                "metrics_bytes": self.csv.sync()}  # the metrics.csv that goes with this state
        save_checkpoint(runs.checkpoint_path(self.path, which), tensors, state)
        if which == "latest":
            self.last_latest = c.env_steps

    def finish(self, agent, stopped: str) -> None:
        """The loop ended by itself (budget, solved or a callback): the run's agent (`final`: the solved agent,
        the target's, the best confirmed one when the budget ended before the target, else the last one),
        summary.json, curve.png and, last, the end state for a larger budget (`latest`); then the agent in memory
        becomes the final one.

        The order is what makes every write point recoverable (issue 14): until the last `latest` is in place, the
        previous one is on disk, and a resume from it replays, bit for bit, to this same end and writes it all
        again; once it is in place, the run is complete on disk."""
        self.close_eval_worker()
        self.result.stopped = stopped
        final = self._final_agent(stopped)
        if final is not None:
            self.result.final_from_env_steps = self.result.best_confirmed["env_steps"]
        self.checkpoint("final", agent, final)
        if self.path is not None:
            self.logger.flush()  # the curve and a resume read the rows up to here
            runs.write_summary(self.path, self._summary())
            if self.cfg.log.plot:
                _save_curve(self.path)
        self.checkpoint("latest", agent)
        if final is not None:
            agent.load_tensors(final[0], with_optimizer=False)
        self.summary_written = self.path is not None

    # --- closing ---------------------------------------------------------------------------------------------
    def __enter__(self) -> "RunSession":
        self._streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = PipeSafe(sys.stdout), PipeSafe(sys.stderr)
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        """Whatever happened, the metrics so far and a summary stay on disk. The latest checkpoint on disk is the
        last consistent one: an error in the middle of a step never overwrites it."""
        if exc is not None:
            self.result.stopped = _stop_reason(exc)
        summary = self._summary()
        steps = [self.logger.close]
        if self.progress is not None:
            steps.insert(0, partial(self.progress.close, self.result))
        steps.insert(0, self.close_eval_worker)
        if self.eval_runner is not None:
            steps.append(self.eval_runner.close)
        if self.training and self.path is not None and not (self.summary_written and exc is None):
            steps.append(partial(runs.write_summary, self.path, summary))
        if self.lock is not None:
            steps.append(self.lock.release)
        try:
            _close_all(steps, failing=exc is not None)
        finally:
            sys.stdout, sys.stderr = self._streams
        if isinstance(exc, WriteError):  # a full disk: say what is intact and how to go on
            raise WriteError(f"{exc}; {self._after_write_error()}") from None
        return False

    def _summary(self) -> dict:
        """RUN/summary.json: the result with the counters and clocks as they are now."""
        c, result = self.counters, self.result
        result.env_steps, result.grad_steps, result.episodes = c.env_steps, c.grad_steps, c.episodes
        result.train_seconds = time.perf_counter() - self.started
        result.time_breakdown_s = {k: round(v, 4) for k, v in self.timer.totals.items()}
        return asdict(result)

    def after(self, agent) -> None:
        """Once the run is complete on disk: the agent's result, the callbacks' `on_end`."""
        agent.result = self.result
        for cb in self.callbacks:
            cb.on_end(self.result, self.path)

    # --- messages --------------------------------------------------------------------------------------------
    def _log_eval(self, ev: EvalResult, counters: dict[str, int]) -> None:
        now = time.perf_counter()
        self.logger.log("eval", counters, {
            "eval/mean_return": ev.mean, "eval/std_return": ev.std, "eval/min_return": ev.min,
            "eval/max_return": ev.max, "eval/episodes": ev.episodes, "time/elapsed_s": now - self.started,
            "time/sps": counters["env_steps"] / (now - self.started)})

    def _diverged(self, agent, what: str) -> Diverged:
        cfg, path = self.cfg, self.path
        tips = [f"a lower learner.lr (now {cfg.learner.lr:g})"]
        if cfg.learner.loss != "huber":
            tips.append("learner.loss=huber")
        if not cfg.learner.max_grad_norm:
            tips.append("learner.max_grad_norm=10")
        if cfg.env.terminal_reward is not None:
            tips.append(f"a smaller env.terminal_reward (now {cfg.env.terminal_reward:g})")
        kept = ""
        if path is not None:
            kept = (f"; kept the last good checkpoint {runs.checkpoint_path(path, 'latest')} (env step "
                    f"{self.last_latest})" if self.last_latest is not None else "; no checkpoint was written")
        return Diverged(f"training diverged at env step {self.counters.env_steps} (gradient step "
                        f"{agent.grad_steps}): {what}{kept}; try {', '.join(tips)}")

    def _interrupted(self, signum: int) -> Interrupted:
        name, path, env_steps = StopSignals.name(signum), self.path, self.counters.env_steps
        if path is None:
            return Interrupted(signum, f"stopped by {name} at env step {env_steps} (no run directory: nothing "
                                       "saved)")
        return Interrupted(signum, f"stopped by {name} at env step {env_steps}; metrics in {path / runs.METRICS},"
                                   f" checkpoint {runs.checkpoint_path(path, 'latest')}; resume with: "
                                   f"deepq train --resume {path}")

    def _after_write_error(self) -> str:
        if self.path is None:
            return "nothing was saved (no run directory)"
        if self.last_latest is None:
            if not (self.path / runs.CONFIG).is_file():
                return "no checkpoint was written yet: free some space, then run the same command again"
            return ("no checkpoint was written yet: free some space, then start it again: " + runs._say(
                f"deepq train --config {self.path / runs.CONFIG} --run-dir {self.path} --overwrite",
                f"deepq.train(..., run_dir={str(self.path)!r}, overwrite=True)"))
        return (f"the latest checkpoint (env step {self.last_latest}) is intact: free some space, then resume "
                f"with: deepq train --resume {self.path}")


class PipeSafe:
    """sys.stdout or sys.stderr while a run trains. A reader that goes away (`deepq train ... 2>&1 | head -2`, a
    closed terminal) silences the output instead of stopping the run with BrokenPipeError between checkpoints:
    the run trains on, quietly, to its end (issue 14)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # EPIPE, EIO (a closed terminal); ValueError: the stream was closed
                self.closed_by_reader = True
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.closed_by_reader = True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _open_metrics(cfg: Config, path: Path, metrics_bytes: Optional[int]) -> tuple[MetricsLogger, CSVBackend]:
    """The metrics backends. On a resume, metrics.csv is first cut back to its length at the checkpoint, so
    that the rows after it, written again, appear once: the file ends as an uninterrupted run's would."""
    csv_path = path / runs.METRICS
    if metrics_bytes is not None and not truncate_rows(csv_path, metrics_bytes):
        print(f"deepq: note: {csv_path} is shorter than at the checkpoint ({metrics_bytes} bytes): it was cut or "
              "replaced since, so rows are missing; new rows are appended", file=sys.stderr)
    csv = CSVBackend(csv_path, append=metrics_bytes is not None)
    backends: list = [csv]
    if cfg.log.tensorboard:  # a resume writes a second events file; the hyperparameters are in the first
        backends.append(TensorBoardBackend(path, flatten(cfg.to_dict()) if metrics_bytes is None else None))
    return MetricsLogger(backends), csv


def _stop_reason(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return f"interrupted ({StopSignals.name(exc.signum)})"
    if isinstance(exc, Diverged):
        return "diverged"
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error ({type(exc).__name__})"


def _close_all(steps: list, failing: bool) -> None:
    """Run every clean-up step. With an error already on its way out, a second one (the same full disk, say)
    must not replace it; otherwise the first failure is raised."""
    first: Optional[BaseException] = None
    for step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - each step gets its chance, the first failure is kept
            first = first or exc
    if first is not None and not failing:
        raise first


def _save_curve(path: Path) -> None:
    """RUN/curve.png (`save_run_curve`: a temp file renamed into place, a failed write a `WriteError`, which a
    resume repairs); any other failure only costs the picture: a warning, and the run goes on."""
    try:
        from deepq.viz.plots import draw_detached, save_run_curve

        if draw_detached(path):  # `deepq train` at a terminal: a detached process draws it after the prompt
            return
        save_run_curve(path)
    except WriteError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever broke the drawing, the run must not be lost
        reason = (str(exc).splitlines() or [""])[0]
        print(f"deepq: warning: could not draw {path / 'curve.png'} ({type(exc).__name__}: {reason})",
              file=sys.stderr)
