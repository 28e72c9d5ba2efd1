"""Rank a sweep's configs by a statistic that one lucky seed cannot carry: results.csv, results.png, a table.

Every number is read back from the trials' run directories (summary.json, `final_eval`: the greedy score on
100 episodes with reset seeds 1000-1099), so the table always agrees with the runs on disk. Configs are ordered
by the interquartile mean (IQM) of the final score over seeds, best first; ties (e.g. several configs at 500 on
CartPole) go to the smaller median env steps to solve, an unsolved seed counting as never, then to the smaller
median seconds to solve. Env steps come first because seconds depend on what else shared the machine.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from deepq.experiments import stats
from deepq.experiments.multiseed import Aggregate, SeedRow, finished_summary
from deepq.experiments.sweepfile import SweepConfig, SweepPlan

RESULTS_CSV = "results.csv"
RESULTS_PNG = "results.png"


def trial_dir(root: str | Path, config: SweepConfig, seed: int) -> Path:
    return Path(root) / config.name / f"seed-{seed}"


@dataclass(frozen=True)
class ConfigResult:
    config: SweepConfig
    rows: list[SeedRow]  # one per seed, failed ones included
    crashes: int  # crashed attempts in this invocation, retried or not (a retry that finished is no failure)

    @property
    def aggregate(self) -> Aggregate:
        return Aggregate.of(self.rows)

    @property
    def finals(self) -> list[float]:
        return [r.final_mean for r in self.rows if r.ok]

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def iqm(self) -> float:
        return stats.iqm(self.finals)

    def sort_key(self) -> tuple:
        agg = self.aggregate
        return (-self.iqm if self.finals else math.inf, agg.median_env_steps_to_solve, agg.median_seconds_to_solve)


def collect(plan: SweepPlan, root: str | Path, errors: Optional[dict] = None,
            crashes: Optional[dict] = None, pruned: Optional[set] = None) -> list[ConfigResult]:
    """The configs, best first. `errors` maps (config_id, seed) to the one-line error of a trial that failed for
    good; `crashes` to how many of its attempts crashed. A trial with neither a scored summary nor an error is
    reported as not finished (an interrupted sweep)."""
    errors, crashes = errors or {}, crashes or {}
    results = []
    for config in plan.configs:
        rows = []
        for seed in plan.seeds:
            summary = finished_summary(trial_dir(root, config, seed))
            if summary is not None:
                rows.append(SeedRow.from_summary(seed, summary))
            elif config.config_id in (pruned or ()):
                rows.append(SeedRow(seed=seed, status="pruned", error="pruned by the Optuna search's pruner"))
            elif (config.config_id, seed) in errors:
                rows.append(SeedRow(seed=seed, status="failed", error=errors[config.config_id, seed]))
            else:
                rows.append(SeedRow(seed=seed, status="interrupted", error="not finished; resume with --resume"))
        retried = sum(crashes.get((config.config_id, s), 0) for s in plan.seeds)
        results.append(ConfigResult(config, rows, retried))
    return sorted(results, key=ConfigResult.sort_key)


def _cell(value) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and math.isinf(value):
        return "never"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return value


def write_csv(results: list[ConfigResult], plan: SweepPlan, path: str | Path) -> None:
    """One row per config, best first: the swept values, then the statistics over its seeds."""
    columns = ["rank", "config", *plan.swept_keys, "seeds", "failed", "unfinished", "crashes", "iqm_final",
               "mean_final", "min_final", "solve_rate", "median_env_steps_to_solve", "median_seconds_to_solve",
               "errors"]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for rank, result in enumerate(results, 1):
            agg = result.aggregate
            finals = result.finals
            writer.writerow({k: _cell(v) for k, v in {
                "rank": rank, "config": result.config.name, **result.config.values, "seeds": len(result.rows),
                "failed": result.count("failed"), "unfinished": result.count("interrupted"),
                "crashes": result.crashes, "iqm_final": result.iqm,
                "mean_final": agg.final.mean, "min_final": min(finals) if finals else None,
                "solve_rate": agg.solve_rate, "median_env_steps_to_solve": agg.median_env_steps_to_solve,
                "median_seconds_to_solve": agg.median_seconds_to_solve,
                "errors": "; ".join(f"seed {r.seed}: {r.error}" for r in result.rows if not r.ok)}.items()})


def format_table(results: list[ConfigResult], plan: SweepPlan) -> str:
    lines = [f"{'rank':>4}  {'config':<10} {'IQM':>7} {'mean':>7} {'min':>7} {'solved':>7} {'steps to solve':>14}"
             f"  values"]
    for rank, result in enumerate(results, 1):
        agg = result.aggregate
        finals = result.finals
        ok = len(finals)
        steps = agg.median_env_steps_to_solve
        values = ", ".join(f"{k}={_cell(v) if not isinstance(v, float) else f'{v:.4g}'}"
                           for k, v in result.config.values.items())
        missing = [f"{n} {what}" for n, what in ((result.count("failed"), "failed"),
                                                 (result.count("interrupted"), "not finished")) if n]
        failed = f"  [of {len(result.rows)} seeds: {', '.join(missing)}]" if missing else ""
        lines.append(f"{rank:>4}  {result.config.name:<10} {_num(result.iqm):>7} {_num(agg.final.mean):>7} "
                     f"{_num(min(finals) if finals else math.nan):>7} "
                     f"{round(agg.solve_rate * ok) if ok else 0:>3}/{ok:<3} "
                     f"{'never' if math.isinf(steps) else _num(steps, '{:.0f}'):>14}  {values}{failed}")
    lines.append(f"IQM, mean and min of the final score (100 greedy episodes, seeds 1000-1099) over "
                 f"{len(plan.seeds)} seeds; ranked by IQM, then median env steps to solve (unsolved = never)")
    return "\n".join(lines)


def _short(values: dict, keys: int = 2) -> str:
    """`lr=0.001\ngamma=0.99`: the last part of each swept key, for a tick label."""
    parts = [f"{k.rsplit('.', 1)[-1]}={v:.3g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={_cell(v)}"
             for k, v in values.items()]
    return "\n".join(parts[:keys] + (["..."] if len(parts) > keys else []))


def _num(value: float, fmt: str = "{:.1f}") -> str:
    return "-" if value is None or math.isnan(value) else fmt.format(value)


def plot(results: list[ConfigResult], path: str | Path) -> Path:
    """Final score per config, best first: a box over its seeds, every seed as a dot, the IQM as a diamond."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: slow to import, needed only here
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.9 * len(results) + 2), 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    positions = list(range(1, len(results) + 1))
    data = [r.finals or [math.nan] for r in results]
    ax.boxplot(data, positions=positions, widths=0.5, showfliers=False)
    for x, result in zip(positions, results):
        finals = result.finals
        ax.plot([x] * len(finals), finals, "o", ms=4, alpha=0.6, color="tab:blue")
        if finals:
            ax.plot([x], [result.iqm], "D", ms=7, color="tab:red", label="IQM" if x == 1 else None)
    ax.set_xticks(positions, [f"#{i} {r.config.name}\n{_short(r.config.values)}" for i, r in enumerate(results, 1)],
                  fontsize="small")
    ax.set_ylabel("final score (greedy, 100 episodes)")
    ax.set_title("sweep: final score per config over seeds, best first")
    ax.grid(axis="y", alpha=0.3)
    if any(r.finals for r in results):
        ax.legend(loc="best", fontsize="small")
    fig.savefig(path)
    return Path(path)
