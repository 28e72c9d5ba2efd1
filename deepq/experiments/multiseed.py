"""Many seeds of one config at once: worker processes, as many as there are cores, each training seed after seed.

    RUN/seed-0/ ... RUN/seed-N/   ordinary run directories (`deepq evaluate RUN/seed-3` works)
    RUN/summary.csv               one row per seed: solved?, env steps and seconds to solve, final score, error
    RUN/aggregate.json            solve rate, medians to solve, final score mean, std and 95% t-interval
    RUN/curve.png                 mean greedy-evaluation curve over the seeds with its 95% band (`deepq.viz.plots`)
    RUN/aggregate.png             IQM over seeds (curve and final score), 95% stratified-bootstrap intervals

Seeds train in N long-lived *spawned* worker processes (a fork of a parent that has touched PyTorch can
deadlock), each with PyTorch on one thread, so N workers keep N cores busy without oversubscription; a worker
pays for its imports (~0.8 s) once and then trains seed after seed (each run seeds every generator itself, so a
seed's result does not depend on which worker ran it or what ran before). The final score is the greedy
return over 100 episodes reset with seeds 1000-1099 (`deepq.evaluate`), recorded in the seed's summary.json
under `final_eval`; every number in the table is read back from those files. A seed that raises, or whose
process dies, is a failed row carrying its one-line error while the other seeds go on (a dead worker is
replaced). Ctrl-C interrupts every
worker (each keeps its metrics and latest checkpoint, as a single run does) and then re-raises.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import connection, get_context
from pathlib import Path
from typing import Callable, Optional, Sequence

from deepq.run import runs
from deepq.experiments import stats
from deepq.config.schema import Config
from deepq.errors import DeepQError
from deepq.machine import usable_cores

SUMMARY_CSV = "summary.csv"
AGGREGATE = "aggregate.json"
CURVE = "curve.png"
FINAL_EPISODES = 100
FINAL_SEED = 1000  # the usual test seeds 1000-1099, away from the in-training evaluation seeds
STOP_GRACE_S = 15.0  # after Ctrl-C, how long workers get to write their metrics and checkpoint


MAX_SEEDS = 10_000  # runs in one call: more is a typo (0-100000000), not an experiment


def parse_seeds(text: str) -> list[int]:
    """`0-9`, `0,3,5` or a mix (`0-3,7`) -> sorted distinct seeds; a one-line DeepQError otherwise."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        try:
            if "-" in part[1:]:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                if hi - lo + 1 + len(seeds) > MAX_SEEDS:
                    raise DeepQError(f"--seeds {text!r} names more than {MAX_SEEDS:,} seeds (each is a run "
                                     "directory and a training run); give a smaller range")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise DeepQError(f"--seeds {text!r}: {part!r} is not a seed or a range; write e.g. 0-9 or 0,3,5") from None
    if any(s < 0 for s in seeds):
        raise DeepQError(f"--seeds {text!r}: seeds must be >= 0")
    if len(set(seeds)) != len(seeds):
        raise DeepQError(f"--seeds {text!r} names a seed twice; each seed gets one run directory")
    return sorted(seeds)


def seed_dir(run_dir: str | Path, seed: int) -> Path:
    return Path(run_dir) / f"seed-{seed}"


def default_workers() -> int:
    """One worker per core this process may use."""
    return usable_cores()


# --- one seed -----------------------------------------------------------------------------------------------

def train_and_score(cfg: Config, run_dir: str | Path, callbacks: Sequence = ()) -> dict:
    """Train one run, score its final agent on the test seeds and record that score in its summary.json.

    Returns the summary. Shared by multi-seed runs and sweep trials so both rank runs by the same numbers.
    """
    from deepq.evaluation.evaluate import evaluate
    from deepq.train import train

    agent = train(cfg, run_dir, quiet=True, callbacks=callbacks)
    final = evaluate(agent, episodes=FINAL_EPISODES, seed=FINAL_SEED)
    summary = json.loads((Path(run_dir) / runs.SUMMARY).read_text())
    summary["final_eval"] = {"mean": final.mean, "std": final.std, "min": final.min, "max": final.max,
                             "episodes": final.episodes, "seed": FINAL_SEED}
    runs.write_summary(Path(run_dir), summary)
    return summary


def finished_summary(run_dir: str | Path) -> Optional[dict]:
    """The run's summary.json if the run finished and was scored (has `final_eval`), else None."""
    try:
        summary = json.loads((Path(run_dir) / runs.SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and "final_eval" in summary else None


def one_line(exc: BaseException) -> str:
    """An exception as one line: the message alone for user errors, `Type: first line` for anything else."""
    text = (str(exc).strip().splitlines() or [""])[0]
    return text if isinstance(exc, DeepQError) and text else f"{type(exc).__name__}: {text}".rstrip(": ")


def _interrupt_once(signum, frame) -> None:
    # A terminal's Ctrl-C reaches every worker and the parent then asks again: the second one must not cut
    # short the clean-up (metrics flush, latest checkpoint) that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _seed_worker(conn) -> None:
    """Entry point of a worker process. It imports deepq and PyTorch once, then trains the seeds it is sent one
    after the other: receives (config dict, run dir) or None (no more work); sends ("ok", None), ("error",
    line) or ("interrupted", None) per seed."""
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        while (job := conn.recv()) is not None:
            cfg_dict, run_dir = job
            try:
                train_and_score(Config.from_dict(cfg_dict), run_dir)
                conn.send(("ok", None))
            except KeyboardInterrupt:
                conn.send(("interrupted", None))
                return
            except Exception as exc:  # any crash of this seed becomes its row in the table
                conn.send(("error", one_line(exc)))
    except (EOFError, KeyboardInterrupt):  # the parent went away, or Ctrl-C between seeds
        pass
    finally:
        conn.close()


# --- the table ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeedRow:
    """One seed's outcome, as in summary.csv. Steps and seconds to solve are None when it did not solve."""

    seed: int
    status: str  # solved, unsolved, failed or interrupted
    env_steps_to_solve: Optional[int] = None
    seconds_to_solve: Optional[float] = None
    env_steps: Optional[int] = None
    train_seconds: Optional[float] = None
    final_mean: Optional[float] = None
    final_std: Optional[float] = None
    final_min: Optional[float] = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("solved", "unsolved")

    @classmethod
    def from_summary(cls, seed: int, summary: dict) -> "SeedRow":
        final = summary["final_eval"]
        return cls(seed=seed, status="solved" if summary["solved"] else "unsolved",
                   env_steps_to_solve=summary.get("solved_at_env_steps"),
                   seconds_to_solve=summary.get("seconds_to_solve"), env_steps=summary["env_steps"],
                   train_seconds=summary["train_seconds"], final_mean=final["mean"], final_std=final["std"],
                   final_min=final["min"])


@dataclass(frozen=True)
class Aggregate:
    """Statistics over the seeds that ran to the end (failed seeds are counted, not averaged)."""

    seeds: int
    failed: int
    solve_rate: float
    median_env_steps_to_solve: float  # inf when half or more of the seeds did not solve
    median_seconds_to_solve: float
    final: stats.MeanCI

    @classmethod
    def of(cls, rows: Sequence[SeedRow]) -> "Aggregate":
        ok = [r for r in rows if r.ok]
        return cls(seeds=len(rows), failed=len(rows) - len(ok),
                   solve_rate=sum(r.status == "solved" for r in ok) / len(ok) if ok else math.nan,
                   median_env_steps_to_solve=stats.median_with_never([r.env_steps_to_solve for r in ok]),
                   median_seconds_to_solve=stats.median_with_never([r.seconds_to_solve for r in ok]),
                   final=stats.mean_ci([r.final_mean for r in ok]))


@dataclass
class SeedTable:
    rows: list[SeedRow]
    run_dir: Path
    workers: int
    wall_seconds: float
    curve: Optional[Path] = None
    notes: list[str] = field(default_factory=list)

    @property
    def aggregate(self) -> Aggregate:
        return Aggregate.of(self.rows)

    def write(self) -> None:
        with open(self.run_dir / SUMMARY_CSV, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["seed", "run_dir", *list(asdict(self.rows[0]))[1:]])
            writer.writeheader()
            for row in self.rows:
                writer.writerow({"run_dir": seed_dir("", row.seed).as_posix(),
                                 **{k: "" if v is None else v for k, v in asdict(row).items()}})
        agg = self.aggregate
        finite = lambda x: None if x is None or not math.isfinite(x) else x  # noqa: E731 - JSON has no inf/NaN
        data = {"seeds": agg.seeds, "failed": agg.failed, "solve_rate": finite(agg.solve_rate),
                "median_env_steps_to_solve": finite(agg.median_env_steps_to_solve),
                "median_seconds_to_solve": finite(agg.median_seconds_to_solve),
                "final_mean": finite(agg.final.mean), "final_std": finite(agg.final.std),
                "final_ci95": [finite(agg.final.low), finite(agg.final.high)],
                "ci_method": "Student t-interval over seeds", "final_episodes": FINAL_EPISODES,
                "final_seeds": f"{FINAL_SEED}-{FINAL_SEED + FINAL_EPISODES - 1}",
                "workers": self.workers, "wall_seconds": self.wall_seconds}
        (self.run_dir / AGGREGATE).write_text(json.dumps(data, indent=2))

    def format(self) -> str:
        lines = [f"{'seed':>5}  {'status':<11} {'steps to solve':>14} {'s to solve':>10} "
                 f"{'final score (100 ep)':>20}"]
        for r in self.rows:
            if not r.ok:
                lines.append(f"{r.seed:>5}  {r.status.upper():<11} {r.error}")
                continue
            lines.append(f"{r.seed:>5}  {r.status:<11} {_show(r.env_steps_to_solve, '{:d}'):>14} "
                         f"{_show(r.seconds_to_solve, '{:.1f}'):>10} {r.final_mean:>12.1f} ± {r.final_std:<5.1f}")
        agg = self.aggregate
        lines.append(f"{agg.seeds} seeds ({agg.failed} failed) in {self.wall_seconds:.1f} s wall-clock "
                     f"on {self.workers} worker{'s' * (self.workers != 1)}")
        if agg.seeds > agg.failed:
            ok = agg.seeds - agg.failed
            f = agg.final
            ci = (f"95% CI [{f.low:.1f}, {f.high:.1f}] (Student t, {f.n - 1} df)" if f.n > 1
                  else "no CI from one seed")
            to_solve = ("never (half or more did not solve)" if math.isinf(agg.median_env_steps_to_solve) else
                        f"{agg.median_env_steps_to_solve:.0f} env steps, {agg.median_seconds_to_solve:.1f} s")
            lines += [f"solve rate {agg.solve_rate * ok:.0f}/{ok}; median to solve (unsolved = never): {to_solve}",
                      f"final score over seeds: mean {f.mean:.1f} ± {_show(f.std, '{:.1f}')} (std), {ci}"]
        lines += self.notes
        return "\n".join(lines)


def _show(value, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return fmt.format(value)


# --- many seeds -----------------------------------------------------------------------------------------------

def _create_parent(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise DeepQError(f"run directory {path} exists and is not empty; choose a new or empty " + runs._say(
            "--run-dir for the seeds (or --overwrite to replace a run)",
            "run_dir for the seeds (or overwrite=True to replace a run)"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeepQError(f"run directory {path} cannot be created ({exc.strerror}); "
                         f"choose a {runs._say('--run-dir', 'run_dir')} you can write to") from None


def _needs_main(cfg: Config) -> bool:
    """Whether the workers must import the user's script: the env (or network) factory is defined in it."""
    refs = (cfg.env.id, getattr(cfg.network, "factory", None) or "")
    return any(ref.startswith("__main__:") for ref in refs)


def _check_workers_can_build(cfg: Config) -> None:
    """Refuse in one line, before any process starts, what the spawned workers could not rebuild: a factory
    that is a lambda or lives in a notebook, or one in a script whose calls would run again in every worker."""
    import sys

    from deepq.envs import source

    for what, ref in (("environment", cfg.env.id), ("network", getattr(cfg.network, "factory", None) or "")):
        module, _, name = ref.rpartition(":")
        if module != "__main__" and not source._not_importable(ref):
            continue
        fix = (f"define it in a module (a .py file next to your script or notebook) and pass it from there, e.g. "
               f"{'env' if what == 'environment' else 'network'}=mymodule.{name.split('.')[-1]}")
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if module != "__main__" or "<" in name or "(" in name or main_file is None:
            raise DeepQError(f"train_seeds trains each seed in a fresh worker process, which cannot rebuild the "
                             f"{what} factory {ref} (a lambda, a nested function or a notebook's); {fix}")
        if not _guarded(main_file):
            raise DeepQError(f"train_seeds trains each seed in a fresh worker process, which imports your script "
                             f"{main_file} to find the {what} factory {ref}: put the script's calls under "
                             f"`if __name__ == \"__main__\":` (else each worker would run them again), or {fix}")


def _guarded(script: str) -> bool:
    """Whether the script has a top-level `if __name__ == "__main__":` block."""
    import ast

    try:
        tree = ast.parse(Path(script).read_text())
    except (OSError, SyntaxError, ValueError):
        return False
    return any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) and "__main__" in
               ast.unparse(node.test) for node in tree.body)


class _MainHidden:
    """While workers start: spawn would import the user's `__main__` script in each worker, running again a plain
    script's top-level calls (a script without `if __name__ == "__main__":` then fails in every worker). The
    workers need only deepq and the config, so the script is hidden from spawn unless a factory lives in it."""

    def __init__(self, needed: bool) -> None:
        import sys

        self.main = sys.modules.get("__main__")
        self.saved: dict = {}
        if not needed and self.main is not None:
            for attr in ("__file__", "__spec__"):
                if getattr(self.main, attr, None) is not None:
                    self.saved[attr] = getattr(self.main, attr)

    def __enter__(self) -> None:
        for attr in self.saved:
            setattr(self.main, attr, None) if attr == "__spec__" else delattr(self.main, attr)

    def __exit__(self, *exc) -> None:
        for attr, value in self.saved.items():
            setattr(self.main, attr, value)


def _stop(running: dict) -> None:
    """Ask every worker to stop as Ctrl-C would, then kill the ones that did not within the grace period."""
    for _, process, _ in list(running.values()):
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for _, process, _ in list(running.values()):
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _death(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        return f"worker process died from signal {signal.Signals(-exitcode).name}"
    return f"worker process exited with status {exitcode} before reporting"


def train_seeds(cfg: Config, seeds: Sequence[int] | str, run_dir: str | Path, workers: Optional[int] = None,
                on_row: Optional[Callable[[SeedRow, int, int], None]] = None, *, env=None,
                overwrite: bool = False) -> SeedTable:
    """Train `cfg` once per seed, `workers` seeds at a time (default: one per core), into RUN/seed-N.

    Returns the table (also written to RUN/summary.csv and RUN/aggregate.json); `on_row(row, done, total)` is
    called as each seed finishes. Raises KeyboardInterrupt after stopping every worker if interrupted. `env`: an id
    or an importable factory, as for `deepq.train`; `overwrite=True` replaces the seeds (or run) in `run_dir`.
    Works from a plain script, with or without `if __name__ == "__main__":`, unless a factory is defined in
    the script itself (then the guard is needed, and its absence is a one-line error).
    """
    from deepq.envs import source

    cfg = source.bind(cfg, env)
    _check_workers_can_build(cfg)
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else list(seeds)
    if not seeds:
        raise DeepQError("give one or more seeds, e.g. --seeds 0-9")
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise DeepQError(f"seeds must be distinct and >= 0, got {seeds}")
    if workers is not None and workers < 1:
        raise DeepQError(f"--workers must be >= 1, got {workers}")
    workers = min(workers or default_workers(), len(seeds))
    run_dir = Path(run_dir)
    # Every seed's config is built (and validated) here, so a bad one fails before any process starts.
    jobs = [(s, cfg.replace(**{"seed": s, "train.torch_threads": 1}).to_dict()) for s in seeds]
    if overwrite:
        runs.clear_run_dir(run_dir)
    _create_parent(run_dir)

    ctx = get_context("spawn")
    started = time.perf_counter()
    pending = list(jobs)
    running: dict = {}  # process sentinel -> [seed or None (idle), process, duplex connection]
    rows: dict[int, SeedRow] = {}

    def finish(seed: int, kind: str, message: Optional[str]) -> None:
        summary = finished_summary(seed_dir(run_dir, seed)) if kind == "ok" else None
        if summary is not None:
            rows[seed] = SeedRow.from_summary(seed, summary)
        elif kind == "interrupted":
            rows[seed] = SeedRow(seed=seed, status="interrupted", error="interrupted (SIGINT)")
        else:
            rows[seed] = SeedRow(seed=seed, status="failed", error=message or "finished without a scored summary.json")
        if on_row is not None:
            on_row(rows[seed], len(rows), len(seeds))

    def assign(worker: list) -> None:
        """The next pending seed to an idle worker, or the end of its work."""
        if pending:
            seed, cfg_dict = pending.pop(0)
            worker[0] = seed
            worker[2].send((cfg_dict, str(seed_dir(run_dir, seed))))
        else:
            worker[0] = None
            worker[2].send(None)

    try:
        while pending or any(w[0] is not None for w in running.values()):
            while pending and len(running) < workers:
                parent_end, child_end = ctx.Pipe(duplex=True)
                process = ctx.Process(target=_seed_worker, args=(child_end,), name="deepq-seed-worker", daemon=True)
                with _MainHidden(_needs_main(cfg)):
                    process.start()
                child_end.close()  # the child holds the only other end: EOF on ours means it is gone
                worker = [None, process, parent_end]
                running[process.sentinel] = worker
                assign(worker)
            by_conn = {id(w[2]): w for w in running.values()}
            ready = connection.wait([w[2] for w in running.values()] + list(running))
            for item in ready:
                worker = by_conn.get(id(item)) or running.get(item)
                if worker is None or worker[1].sentinel not in running:
                    continue  # already handled through its other handle in this round
                seed, process, conn = worker
                try:
                    kind, message = conn.recv()
                except (EOFError, OSError):  # it died (killed, out of memory, a crash in native code)
                    process.join()
                    conn.close()
                    del running[process.sentinel]
                    if seed is not None:
                        finish(seed, "error", _death(process.exitcode))
                    continue
                finish(seed, kind, message)
                if kind == "interrupted":
                    raise KeyboardInterrupt
                assign(worker)
    except BaseException:
        _stop(running)
        raise
    for _, process, conn in running.values():  # every worker has been told there is no more work
        process.join(STOP_GRACE_S)
        conn.close()
    table = SeedTable(rows=[rows[s] for s in seeds], run_dir=run_dir, workers=workers,
                      wall_seconds=time.perf_counter() - started)
    table.write()
    table.curve = plot_seeds([seed_dir(run_dir, r.seed) for r in table.rows if r.ok], run_dir / CURVE, table.notes)
    return table


def plot_seeds(run_dirs: Sequence[Path], out_path: Path, notes: list[str]) -> Optional[Path]:
    """The aggregate learning curve (mean and 95% band over seeds), drawn by `deepq.plots`."""
    if not run_dirs:
        return None
    try:
        from deepq.viz.plots import AGGREGATE, plot_aggregate, plot_runs  # lazy: matplotlib is slow to import

        curve = plot_runs(run_dirs, out_path)
        plot_aggregate(run_dirs, out_path.parent / AGGREGATE)  # IQM and stratified-bootstrap intervals
        return curve
    except (ImportError, DeepQError) as exc:  # e.g. no finished episode in a tiny budget: the table still stands
        notes.append(f"no learning curve: {exc}")
        return None
