"""The training loop: collect, store, learn, evaluate, log, checkpoint, stop when solved or out of budget.

Data flow of one iteration (N = num_envs):
    actions (N,) = agent.act(obs (N, O), epsilon)
    envs.step(actions) -> next_obs, reward, terminated, truncated
    collector stores only the real transitions (not the reset step that follows an episode end)
    every train_freq env steps: gradient_steps x (sample -> agent.update [-> new priorities, PER / loss_softmax])
    every eval.interval env steps: greedy evaluation on separate seeded environments
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from deepq import runs
from deepq.agent import DQNAgent
from deepq.callbacks import Callback
from deepq.checkpoint import save_checkpoint
from deepq.collector import Collector
from deepq.config import Config
from deepq.envs import make_vec_env, reward_threshold
from deepq.evaluate import EpisodeRunner, EvalResult, summarize
from deepq.metrics import CSVBackend, MetricsLogger, TensorBoardBackend
from deepq.progress import Progress
from deepq.priority import beta_at
from deepq.replay import make_buffer
from deepq.schedules import epsilon_at

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


class _Timer:
    """Accumulates wall-clock per phase; a perf_counter call costs ~50 ns, negligible per step."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - since
        return now


def train(cfg: Config, run_dir: str | Path | None = None, *, quiet: bool = False,
          callbacks: Sequence[Callback] = ()) -> DQNAgent:
    """Train a DQN agent as configured; returns it (with `.result`, a `TrainResult`).

    With `run_dir`, the run directory gets the config, metrics, TensorBoard events, checkpoints and a summary.
    """
    started = time.perf_counter()
    if cfg.train.torch_threads:
        torch.set_num_threads(cfg.train.torch_threads)
    torch.manual_seed(cfg.seed)
    act_rng, replay_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(cfg.seed).spawn(2))

    envs = make_vec_env(cfg.env.id, cfg.env.num_envs, cfg.env.max_episode_steps)
    obs_dim = int(np.prod(envs.single_observation_space.shape))
    n_actions = int(envs.single_action_space.n)
    agent = DQNAgent(obs_dim, n_actions, cfg)
    buffer = make_buffer(cfg.replay, (obs_dim,), cfg.learner.gamma, cfg.env.num_envs)
    refresh_priorities = cfg.replay.kind in ("prioritized", "loss_softmax")
    beta_steps = (cfg.replay.beta_steps or cfg.train.total_steps) if cfg.replay.kind == "prioritized" else 0
    threshold = cfg.eval.threshold if cfg.eval.threshold is not None else reward_threshold(cfg.env.id)
    eval_seeds = [EVAL_SEED_BASE + 1000 * cfg.seed + i for i in range(cfg.eval.episodes)]
    eval_runner: Optional[EpisodeRunner] = None

    path = None
    backends: list = []
    if run_dir is not None:
        path = runs.create_run_dir(run_dir)
        runs.write_config(path, cfg)
        backends.append(CSVBackend(path / runs.METRICS))
        if cfg.log.tensorboard:
            backends.append(TensorBoardBackend(path, _flat_hparams(cfg)))
    logger = MetricsLogger(backends)
    progress = Progress(cfg.train.total_steps, enabled=not quiet, fancy=cfg.log.progress)
    spaces = {"env_id": cfg.env.id, "obs_dim": obs_dim, "n_actions": n_actions}

    def save(which: str, counters: Counters) -> None:
        if path is not None:
            save_checkpoint(runs.checkpoint_path(path, which), agent.tensors(),
                            {"spaces": spaces, "counters": counters.as_dict()})

    c = Counters(next_eval=max(cfg.eval.interval, cfg.train.learning_starts),
                 next_checkpoint=cfg.log.checkpoint_interval)
    result = TrainResult(threshold=threshold)
    timer = _Timer()
    collector = Collector(envs, buffer, cfg.seed, cfg.replay.n_step, cfg.env.terminal_reward)
    epsilon = epsilon_at(cfg.exploration, 0, 0)
    solved_agent_saved = False
    try:
        t = time.perf_counter()
        while c.env_steps < cfg.train.total_steps:
            epsilon = epsilon_at(cfg.exploration, c.env_steps, c.episodes)
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
                progress.episode(episode.ret, epsilon, learned.get("train/loss"))
                for cb in callbacks:
                    cb.on_episode(c.as_dict(), episode.ret, episode.length, epsilon)
            t = timer.add("log", t)

            if c.env_steps >= cfg.train.learning_starts:
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
                ev = summarize(eval_runner.run(agent.greedy, eval_seeds))
                t = timer.add("eval", t)
                _log_eval(logger, c, ev, started)
                progress.evaluation(c.env_steps, ev, epsilon, threshold)
                for cb in callbacks:
                    cb.on_eval(c.as_dict(), ev)
                result.last_eval = {k: v for k, v in ev.to_dict().items() if k != "returns"}
                if result.best_eval_mean is None or ev.mean > result.best_eval_mean:
                    result.best_eval_mean = ev.mean
                    save("best", c)
                if threshold is not None and ev.mean >= threshold and not result.solved:
                    result.solved = True
                    result.solved_at_env_steps = c.env_steps
                    result.seconds_to_solve = time.perf_counter() - started
                    if cfg.eval.stop_when_solved:
                        save("final", c)
                        solved_agent_saved = True
                        t = timer.add("checkpoint", t)
                        break
            if cfg.log.checkpoint_interval and c.env_steps >= c.next_checkpoint:
                c.next_checkpoint += cfg.log.checkpoint_interval
                save("latest", c)
                logger.flush()
                t = timer.add("checkpoint", t)
            progress.advance(c.env_steps)
        if not solved_agent_saved:
            save("final", c)
    finally:
        # Whatever happens (error, Ctrl-C), the metrics so far and the latest weights stay on disk.
        result.env_steps, result.grad_steps, result.episodes = c.env_steps, c.grad_steps, c.episodes
        result.train_seconds = time.perf_counter() - started
        result.time_breakdown_s = {k: round(v, 4) for k, v in timer.totals.items()}
        progress.close(result)
        logger.close()
        envs.close()
        if eval_runner is not None:
            eval_runner.close()
        if path is not None:
            if not solved_agent_saved and sys.exc_info()[0] is not None:
                save("latest", c)
            runs.write_summary(path, result.__dict__)
    if path is not None and cfg.log.plot:
        _save_curve(path)
    agent.result = result
    for cb in callbacks:
        cb.on_end(result, path)
    return agent


def _updates_due(cfg: Config, c: Counters, n_real: int, buffer) -> int:
    """Gradient steps owed after this env step: `gradient_steps` for every `train_freq` env steps collected, or,
    online (replay.kind=none), `gradient_steps` on the transitions this step stored, if it stored any."""
    if cfg.replay.kind == "none":
        return cfg.train.gradient_steps if buffer.take_new() else 0
    c.update_credit += n_real
    due, c.update_credit = divmod(c.update_credit, cfg.train.train_freq)
    return due * cfg.train.gradient_steps


def _save_curve(path: Path) -> None:
    """RUN/curve.png; the run is complete on disk already, so a failure here only costs the picture."""
    try:
        from deepq.plots import save_run_curve  # imported lazily: matplotlib makes `import deepq` slow

        save_run_curve(path)
    except Exception as exc:  # noqa: BLE001 - whatever broke the drawing, the run must not be lost
        reason = (str(exc).splitlines() or [""])[0]
        print(f"deepq: warning: could not draw {path / 'curve.png'} ({type(exc).__name__}: {reason})",
              file=sys.stderr)


def _log_eval(logger: MetricsLogger, c: Counters, ev: EvalResult, started: float) -> None:
    logger.log("eval", c.as_dict(), {
        "eval/mean_return": ev.mean, "eval/std_return": ev.std, "eval/min_return": ev.min,
        "eval/max_return": ev.max, "time/elapsed_s": time.perf_counter() - started,
        "time/sps": c.env_steps / (time.perf_counter() - started)})


def _flat_hparams(cfg: Config) -> dict[str, object]:
    out: dict[str, object] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value

    walk(cfg.to_dict(), "")
    return out
