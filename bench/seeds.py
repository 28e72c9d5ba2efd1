"""Benchmark: wall-clock of many seeds against one, through `deepq.train_seeds` (what `deepq train --seeds` runs).

    python bench/seeds.py                        # default preset on CartPole-v1: 1 seed, 10 one at a time, 10 in a pool
    python bench/seeds.py --seeds 0-4 --workers 4 learner.lr=0.001

Every mode is timed end to end as a user waits for it: spawning each seed's process, importing, training until
solved, scoring the final agent on 100 episodes, writing plots and the summary. "x one seed" divides by the
single-seed run; seeds differ a lot in how long they take to solve, so the table also divides by the mean
single seed (the sequential run's wall-clock over its seed count).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchinfo import machine_line, preset_lines  # noqa: E402
from deepq.config.schema import parse_override, resolve  # noqa: E402
from deepq.experiments.multiseed import default_workers, parse_seeds, train_seeds  # noqa: E402


def timed(cfg, seeds, run_dir: Path, workers: int):
    """(wall seconds, CPU seconds of the seed processes, table). CPU / wall is how many cores the mode really
    got: 2 on an idle 2-core machine for the pool, less where other work competes for the cores."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    table = train_seeds(cfg, seeds, run_dir, workers=workers)
    return time.perf_counter() - started, _children_cpu() - cpu_before, table


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # finished, joined children: the seed processes
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", default="0-9", help="the many seeds (default 0-9)")
    parser.add_argument("--one", type=int, default=0, help="the seed of the single-seed run (default 0)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="pool size (default: the cores)")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()

    cfg = resolve(env_id=args.env, overrides=dict(parse_override(o) for o in args.overrides))
    seeds = parse_seeds(args.seeds)
    print(machine_line())  # other work on the machine shows here: it slows the pool more than one seed
    if args.env == "CartPole-v1":
        print("\n".join(preset_lines()))
    with tempfile.TemporaryDirectory() as tmp:
        one_s, one_cpu, one = timed(cfg, [args.one], Path(tmp) / "one", 1)
        seq_s, seq_cpu, seq = timed(cfg, seeds, Path(tmp) / "sequential", 1)
        pool_s, pool_cpu, pool = timed(cfg, seeds, Path(tmp) / "pool", args.workers)
    mean_one = seq_s / len(seeds)

    print(f"{args.env}, default preset{' + ' + ' '.join(args.overrides) if args.overrides else ''}; "
          f"{default_workers()} cores usable; load average at the end {os.getloadavg()[0]:.2f}")
    print(f"{'mode':<28} {'workers':>7} {'wall s':>8} {'x one seed':>10} {'x mean seed':>11} {'solved':>7} "
          f"{'median train s':>14} {'CPU s':>7} {'cores got':>9}")
    for label, wall, cpu, table, workers in ((f"1 seed (seed {args.one})", one_s, one_cpu, one, 1),
                                             (f"{len(seeds)} seeds, one at a time", seq_s, seq_cpu, seq, 1),
                                             (f"{len(seeds)} seeds, process pool", pool_s, pool_cpu, pool,
                                              pool.workers)):
        ok = [r for r in table.rows if r.ok]
        solved = sum(r.status == "solved" for r in ok)
        median_train = statistics.median(r.train_seconds for r in ok) if ok else float("nan")
        print(f"{label:<28} {workers:>7} {wall:>8.1f} {wall / one_s:>10.2f} {wall / mean_one:>11.2f} "
              f"{solved:>3}/{len(table.rows):<3} {median_train:>14.2f} {cpu:>7.1f} {cpu / wall:>9.2f}")
    overhead = seq_s - sum(r.train_seconds for r in seq.rows if r.ok)
    print(f"sequential: {overhead:.1f} s of {seq_s:.1f} s outside training (process start, imports, final "
          f"score, plots), {overhead / len(seeds):.1f} s per seed")
    print(f"pool speed-up over one at a time: {seq_s / pool_s:.2f}x on {pool.workers} workers")
    # Each seed process is CPU-bound on one thread, so with a core to itself its wall-clock is its CPU time: an
    # estimate for an idle machine that holds however busy this one was. The pool's is a lower bound: it assumes
    # every worker stays busy to the end, while the last seeds may leave a core idle.
    mean_seed = seq_cpu / len(seeds)
    idle_pool = pool_cpu / pool.workers
    print(f"idle-machine estimate from CPU seconds: 1 seed {one_cpu:.1f} s, mean seed {mean_seed:.1f} s, "
          f"{len(seeds)} seeds pooled >= {idle_pool:.1f} s = {idle_pool / one_cpu:.1f}x one seed, "
          f"{idle_pool / mean_seed:.1f}x mean seed")


if __name__ == "__main__":
    main()
