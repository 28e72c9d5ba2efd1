"""The training loop: collect, store, learn, evaluate, log, checkpoint, stop when solved or out of budget.

Data flow of one iteration (N = num_envs):
    actions (N,) = agent.act(obs (N, O), epsilon)
    envs.step(actions) -> next_obs, reward, terminated, truncated
    collector stores only the real transitions (not the reset step that follows an episode end)
    every train_freq env steps: gradient_steps x (sample -> agent.update [-> new priorities, PER / loss_softmax])
    every eval.interval env steps: greedy evaluation on separate seeded environments
    every log.checkpoint_interval env steps, and on SIGINT/SIGTERM: the whole state to checkpoints/latest
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from deepq.run import resuming, runs, snapshot
from deepq.algo.agent import DQNAgent
from deepq.run.callbacks import Callback
from deepq.run.checkpoint import save_checkpoint
from deepq.data.collector import Collector
from deepq.config.schema import Config, flatten
from deepq.envs.make import make_vec_env, reward_threshold
from deepq.errors import DeepQError, Diverged, WriteError
from deepq.evaluation.evaluate import EpisodeRunner, EvalResult, summarize
from deepq.run.interrupts import Interrupted, StopSignals
from deepq.run.metrics import CSVBackend, MetricsLogger, TensorBoardBackend, truncate_rows
from deepq.run.progress import Progress
from deepq.data.priority import beta_at
from deepq.data.replay import ReplayBuffer, make_buffer
from deepq.algo.schedules import epsilon_at, linear

EVAL_SEED_BASE = 1_000_000  # in-training evaluation seeds stay clear of the usual test seeds (e.g. 1000-1099)


@dataclass
class Counters:
    env_steps: int = 0  # real transitions collected, summed over envs
    episodes: int = 0  # finished training episodes
    grad_steps: int = 0
    update_credit: int = 0  # env steps not yet paid for with an update
    next_eval: int = 0  # env step count at which the next evaluation is due
    next_checkpoint: int = 0

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
    stopped: str = ""  # why training ended: budget, solved, interrupted (SIGINT), diverged, error (...)


class _Timer:
    """Accumulates wall-clock per phase; a perf_counter call costs ~50 ns, negligible per step."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - since
        return now


def train(cfg: Config, run_dir: str | Path | None = None, *, quiet: bool = False,
          callbacks: Sequence[Callback] = (), resume: bool = False) -> DQNAgent:
    """Train a DQN agent as configured; returns it (with `.result`, a `TrainResult`).

    With `run_dir`, the run directory gets the config, metrics, TensorBoard events, checkpoints and a summary, and
    is locked against other processes while this one trains. `resume=True` continues the run in `run_dir` from
    its latest checkpoint, exactly where it stopped (`deepq.resume` reads the run's config for you).

    SIGINT and SIGTERM finish the current step, save the latest checkpoint and the metrics, and raise
    `Interrupted` (a KeyboardInterrupt). A NaN or inf raises `Diverged` without overwriting the last good
    checkpoint; a full disk raises `WriteError`, the previous checkpoint intact.
    """
    if resume and run_dir is None:
        raise DeepQError("resume=True needs the run_dir of the run to continue")
    path = None if run_dir is None else Path(run_dir)
    if resume:  # what is not a run, or a config that would change the run, is refused in one line
        resuming.check_same_run(runs.read_run_config(path), cfg, path)
    envs = make_vec_env(cfg.env.id, cfg.env.num_envs, cfg.env.max_episode_steps)
    try:
        with StopSignals() as stop:
            return _train(cfg, envs, path, resume, stop, quiet, callbacks)
    finally:
        envs.close()


def _train(cfg: Config, envs, path: Optional[Path], resume: bool, stop: StopSignals, quiet: bool,
           callbacks: Sequence[Callback]) -> DQNAgent:
    started = time.perf_counter()
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    torch.manual_seed(cfg.seed)
    act_rng, replay_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))

    obs_dim = int(np.prod(envs.single_observation_space.shape))
    n_actions = int(envs.single_action_space.n)
    spaces = {"env_id": cfg.env.id, "obs_dim": obs_dim, "n_actions": n_actions}
    c = Counters(next_eval=max(cfg.eval.interval, cfg.train.learning_starts),
                 next_checkpoint=cfg.log.checkpoint_interval)
    threshold = cfg.eval.threshold if cfg.eval.threshold is not None else reward_threshold(cfg.env.id)
    result = TrainResult(threshold=threshold)
    timer = _Timer()
    eval_runner: Optional[EpisodeRunner] = None
    logger, csv = MetricsLogger([]), None
    progress: Optional[Progress] = None
    last_latest: Optional[int] = None  # env steps of the latest checkpoint on disk, for the error messages
    metrics_bytes: Optional[int] = None
    lock: Optional[runs.RunLock] = None
    training = False  # set up completely: from here on a summary is written, whatever happens
    try:
        # Everything that can refuse the run comes before anything is written; a new run directory is made
        # only once nothing can refuse it any more.
        saved = None
        if resume:
            lock = runs.lock_run_dir(path)  # first: a run that another process trains is refused as such
            saved = resuming.read_latest(path, cfg, spaces)
        agent, buffer = _build(cfg, obs_dim, n_actions)
        if path is not None and not resume:
            lock = runs.create_run_dir(path)
        collector = Collector(envs, buffer, cfg.seed, cfg.replay.n_step, cfg.env.terminal_reward)
        parts = snapshot.Parts(agent, buffer, collector, act_rng, replay_rng)
        if saved is not None:
            loop = resuming.restore(saved, parts, cfg, path, quiet)
            c, result = Counters(**loop["counters"]), TrainResult(**loop["result"])
            started -= loop["elapsed_s"]
            timer.totals.update(loop["time_s"])
            last_latest, metrics_bytes = c.env_steps, loop["metrics_bytes"]
        refresh_priorities = cfg.replay.kind in ("prioritized", "loss_softmax")
        beta_steps = (cfg.replay.beta_steps or cfg.train.total_steps) if cfg.replay.kind == "prioritized" else 0
        eval_seeds = [EVAL_SEED_BASE + 1000 * cfg.seed + i for i in range(cfg.eval.episodes)]
        if path is not None:
            if saved is None or cfg != runs.read_run_config(path):  # a resume may raise the budget, change log.*
                runs.write_config(path, cfg)
            logger, csv = _open_metrics(cfg, path, metrics_bytes)
        progress = Progress(cfg.train.total_steps, enabled=not quiet, fancy=cfg.log.progress, start=c.env_steps)
        training = True

        def save(which: str) -> None:
            """A checkpoint; `latest` holds the whole training state (deepq.snapshot), the others the agent."""
            nonlocal last_latest
            if path is None:
                return
            if not agent.is_finite():  # never replace a good checkpoint with NaN weights
                raise _diverged(cfg, path, agent, c.env_steps, "the weights hold NaN or inf", last_latest)
            state = {"spaces": spaces, "counters": c.as_dict()}
            tensors = agent.tensors()
            if which == "latest":
                logger.flush()
                tensors, state["resume"] = snapshot.capture(parts)
                state["resume"]["loop"] = {
                    "counters": asdict(c), "result": asdict(result), "config": cfg.to_dict(),
                    "elapsed_s": time.perf_counter() - started, "time_s": timer.totals,
                    "metrics_bytes": csv.sync()}  # the metrics.csv that goes with this state
            save_checkpoint(runs.checkpoint_path(path, which), tensors, state)
            if which == "latest":
                last_latest = c.env_steps

        epsilon = epsilon_at(cfg.exploration, c.env_steps, c.episodes)
        solved_agent_saved = False
        t = time.perf_counter()
        while c.env_steps < cfg.train.total_steps:
            epsilon = epsilon_at(cfg.exploration, c.env_steps, c.episodes)
            if cfg.learner.lr_end is not None:
                agent.set_lr(linear(cfg.learner.lr, cfg.learner.lr_end, cfg.train.total_steps, c.env_steps))
            action_N = agent.act(collector.obs_NO, epsilon, act_rng)
            t = timer.add("act", t)
            n_real, finished = collector.step(action_N)
            t = timer.add("env+store", t)
            c.env_steps += n_real
            for episode in finished:
                c.episodes += 1
                learned = agent.pop_metrics()
                logger.log("episode", c.as_dict(), {
                    "rollout/episode_return": episode.ret, "rollout/episode_length": episode.length,
                    "rollout/epsilon": epsilon, **learned,
                    "time/sps": c.env_steps / (time.perf_counter() - started)})
                for key, value in learned.items():  # divergence shows here first, at no extra host sync
                    if not math.isfinite(value):
                        raise _diverged(cfg, path, agent, c.env_steps, f"{key} is {value}", last_latest)
                progress.episode(episode.ret, epsilon, learned.get("train/loss"))
                for cb in callbacks:
                    cb.on_episode(c.as_dict(), episode.ret, episode.length, epsilon)
            t = timer.add("log", t)

            if c.env_steps >= cfg.train.learning_starts and len(buffer):
                if beta_steps:  # prioritized: the importance-sampling exponent rises from beta_start to 1
                    buffer.beta = beta_at(cfg.replay.beta_start, beta_steps, c.env_steps)
                for _ in range(_updates_due(cfg, c, n_real, buffer)):
                    batch = buffer.sample(cfg.replay.batch_size, replay_rng)
                    t = timer.add("sample", t)
                    td_error_B = agent.update(batch)
                    t = timer.add("update", t)
                    if refresh_priorities:  # the sampled transitions get the TD errors just computed
                        buffer.update_priorities(batch.indices, td_error_B.cpu().numpy())
                        t = timer.add("priorities", t)
                c.grad_steps = agent.grad_steps

            if cfg.eval.interval and c.env_steps >= c.next_eval:
                c.next_eval += cfg.eval.interval
                if eval_runner is None:
                    eval_runner = EpisodeRunner(cfg.env.id, cfg.eval.episodes, cfg.env.max_episode_steps)
                ev = summarize(_evaluate(cfg, eval_runner, agent, eval_seeds, threshold))
                t = timer.add("eval", t)
                _log_eval(logger, c, ev, started)
                progress.evaluation(c.env_steps, ev, epsilon, threshold)
                for cb in callbacks:
                    cb.on_eval(c.as_dict(), ev)
                result.last_eval = {k: v for k, v in ev.to_dict().items() if k != "returns"}
                if result.best_eval_mean is None or ev.mean > result.best_eval_mean:
                    result.best_eval_mean = ev.mean
                    save("best")
                if threshold is not None and ev.mean >= threshold and not result.solved:
                    result.solved = True
                    result.solved_at_env_steps = c.env_steps
                    result.seconds_to_solve = time.perf_counter() - started
                    if cfg.eval.stop_when_solved:
                        save("final")
                        solved_agent_saved = True
                        t = timer.add("checkpoint", t)
                        break
            if cfg.log.checkpoint_interval and c.env_steps >= c.next_checkpoint:
                c.next_checkpoint += cfg.log.checkpoint_interval
                save("latest")
                t = timer.add("checkpoint", t)
            if stop.requested:  # Ctrl-C or SIGTERM: the step is complete, so the saved state is consistent
                save("latest")
                raise _interrupted(stop.requested, path, c.env_steps)
            progress.advance(c.env_steps)
        result.stopped = "solved" if solved_agent_saved else "budget"
        save("latest")  # the end state too: a larger train.total_steps can continue from it
        if not solved_agent_saved:
            save("final")
    except BaseException as exc:
        result.stopped = _stop_reason(exc)
        if isinstance(exc, WriteError):  # a full disk: say what is intact and how to go on
            raise WriteError(f"{exc}; {_after_write_error(path, last_latest)}") from None
        raise
    finally:
        # Whatever happened, the metrics so far and a summary stay on disk. The latest checkpoint on disk is the
        # last consistent one: an error in the middle of a step never overwrites it.
        result.env_steps, result.grad_steps, result.episodes = c.env_steps, c.grad_steps, c.episodes
        result.train_seconds = time.perf_counter() - started
        result.time_breakdown_s = {k: round(v, 4) for k, v in timer.totals.items()}
        steps = [logger.close]
        if progress is not None:
            steps.insert(0, partial(progress.close, result))
        if eval_runner is not None:
            steps.append(eval_runner.close)
        if training and path is not None:
            steps.append(partial(runs.write_summary, path, asdict(result)))
        if lock is not None:
            steps.append(lock.release)
        _close_all(steps, failing=sys.exc_info()[0] is not None)
    if path is not None and cfg.log.plot:
        _save_curve(path)
    agent.result = result
    for cb in callbacks:
        cb.on_end(result, path)
    return agent


def _build(cfg: Config, obs_dim: int, n_actions: int) -> tuple[DQNAgent, ReplayBuffer]:
    """The agent and the buffer; sizes this machine cannot hold are a one-line error, not a traceback."""
    try:
        return DQNAgent(obs_dim, n_actions, cfg), make_buffer(cfg.replay, (obs_dim,), cfg.learner.gamma,
                                                              cfg.env.num_envs)
    except (MemoryError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        if not isinstance(exc, MemoryError) and "alloc" not in reason:  # torch reports it as a RuntimeError
            raise
        raise DeepQError(f"the network or the replay buffer does not fit in memory ({reason[:160]}); lower "
                         f"network.hidden_sizes (now {list(cfg.network.hidden_sizes)}) or replay.capacity "
                         f"(now {cfg.replay.capacity})") from None


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


def _diverged(cfg: Config, path: Optional[Path], agent: DQNAgent, env_steps: int, what: str,
              last_latest: Optional[int]) -> Diverged:
    tips = [f"a lower learner.lr (now {cfg.learner.lr:g})"]
    if cfg.learner.loss != "huber":
        tips.append("learner.loss=huber")
    if not cfg.learner.max_grad_norm:
        tips.append("learner.max_grad_norm=10")
    if cfg.env.terminal_reward is not None:
        tips.append(f"a smaller env.terminal_reward (now {cfg.env.terminal_reward:g})")
    kept = ""
    if path is not None:
        kept = (f"; kept the last good checkpoint {runs.checkpoint_path(path, 'latest')} (env step {last_latest})"
                if last_latest is not None else "; no checkpoint was written")
    return Diverged(f"training diverged at env step {env_steps} (gradient step {agent.grad_steps}): {what}{kept}; "
                    f"try {', '.join(tips)}")


def _interrupted(signum: int, path: Optional[Path], env_steps: int) -> Interrupted:
    name = StopSignals.name(signum)
    if path is None:
        return Interrupted(signum, f"stopped by {name} at env step {env_steps} (no run directory: nothing saved)")
    return Interrupted(signum, f"stopped by {name} at env step {env_steps}; metrics in {path / runs.METRICS}, "
                               f"checkpoint {runs.checkpoint_path(path, 'latest')}; resume with: "
                               f"deepq train --resume {path}")


def _after_write_error(path: Optional[Path], last_latest: Optional[int]) -> str:
    if path is None or last_latest is None:
        return "no checkpoint was written yet: make room (or make the disk writable) and start again"
    return (f"the latest checkpoint (env step {last_latest}) is intact: free some space, then resume with: "
            f"deepq train --resume {path}")


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


def _updates_due(cfg: Config, c: Counters, n_real: int, buffer) -> int:
    """Gradient steps owed after this env step: `gradient_steps` for every `train_freq` env steps collected, or,
    online (replay.kind=none), `gradient_steps` on the transitions this step stored, if it stored any."""
    if cfg.replay.kind == "none":
        return cfg.train.gradient_steps if buffer.take_new() else 0
    c.update_credit += n_real
    due, c.update_credit = divmod(c.update_credit, cfg.train.train_freq)
    return due * cfg.train.gradient_steps


def _evaluate(cfg: Config, runner: EpisodeRunner, agent: DQNAgent, seeds: list[int],
              threshold: Optional[float]) -> np.ndarray:
    """The in-training greedy evaluation. With eval.screen_episodes = k, the first k episodes run first and the
    others only if their mean reaches the threshold: the result of a full evaluation is the same as without
    screening (same seeds, same greedy policy), but a clearly unsolved agent costs k episodes, not all."""
    k = cfg.eval.screen_episodes
    if not k or k >= len(seeds) or threshold is None:
        return runner.run(agent.greedy, seeds)
    first = runner.run(agent.greedy, seeds[:k])
    if first.mean() < threshold:
        return first
    return np.concatenate([first, runner.run(agent.greedy, seeds[k:])])


def _save_curve(path: Path) -> None:
    """RUN/curve.png; the run is complete on disk already, so a failure here only costs the picture."""
    try:
        from deepq.viz.plots import save_run_curve  # imported lazily: matplotlib makes `import deepq` slow

        save_run_curve(path)
    except Exception as exc:  # noqa: BLE001 - whatever broke the drawing, the run must not be lost
        reason = (str(exc).splitlines() or [""])[0]
        print(f"deepq: warning: could not draw {path / 'curve.png'} ({type(exc).__name__}: {reason})",
              file=sys.stderr)


def _log_eval(logger: MetricsLogger, c: Counters, ev: EvalResult, started: float) -> None:
    logger.log("eval", c.as_dict(), {
        "eval/mean_return": ev.mean, "eval/std_return": ev.std, "eval/min_return": ev.min,
        "eval/max_return": ev.max, "eval/episodes": ev.episodes, "time/elapsed_s": time.perf_counter() - started,
        "time/sps": c.env_steps / (time.perf_counter() - started)})
