"""Learning curves from run directories: training return (smoothed) and greedy evaluations against env steps.

Runs whose configs differ only in `seed` form a group, drawn as the mean over its runs with a 95% confidence band
(Student t over seeds). Several groups share one figure, each labelled by the config keys that set it apart.
Reference lines: the environment's solved threshold and the mean return of the uniform-random policy.
Optional panels below show the TD loss, the mean Q-value and epsilon.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: nothing here needs a display or
changes the user's matplotlib backend.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from deepq.run import runs
from deepq.config.schema import flatten
from deepq.errors import DeepQError
from deepq.run.metrics import read_metrics
from deepq.experiments.stats import t975

CURVE = "curve.png"  # written into every run directory when training ends (log.plot)
DEFAULT_SMOOTH = 20  # episodes in the trailing mean of the training return
RETURN = "rollout/episode_return"
EVAL = "eval/mean_return"
PANELS = {"loss": ("train/loss", "TD loss"), "q": ("train/q_mean", "mean Q"), "epsilon": ("rollout/epsilon", "epsilon")}
WIDTH_IN, RETURN_HEIGHT_IN, PANEL_HEIGHT_IN, DPI = 8.0, 4.5, 2.0, 100
MARGINS_IN = {"left": 0.85, "right": 0.15, "bottom": 0.5, "top": 0.35, "between": 0.25}
GRID_POINTS = 400  # common env-step grid on which the runs of a group are averaged


@dataclass(frozen=True)
class RunCurve:
    """One run's logged series: metric key -> (env_steps, values), only the rows where the metric is set."""

    name: str
    env_id: Optional[str]
    config: dict  # flattened dotted keys without seed; runs with equal configs are seeds of one experiment
    threshold: Optional[float]
    series: dict


def load_run(run_dir: str | Path) -> RunCurve:
    """Read a run directory's config, summary and metrics.csv; a one-line DeepQError if it is not a run."""
    path = Path(run_dir)
    cfg = runs.read_run_config(path)
    if not (path / runs.METRICS).is_file():
        raise DeepQError(f"{path} has no {runs.METRICS}; pass the --run-dir of a `deepq train` run")
    rows = read_metrics(path / runs.METRICS)
    series = {}
    for kind, keys in (("episode", [RETURN] + [key for key, _ in PANELS.values()]), ("eval", [EVAL])):
        for key in keys:
            points = [(r["env_steps"], r[key]) for r in rows if r["kind"] == kind and r.get(key) is not None]
            series[key] = tuple(np.asarray(v, dtype=np.float64) for v in zip(*points)) if points else \
                (np.empty(0), np.empty(0))
    if not len(series[RETURN][0]):
        raise DeepQError(f"{path / runs.METRICS} has no finished training episode yet; plot it after training")
    return RunCurve(name=path.name or path.resolve().name, env_id=cfg.env.id, config=_experiment_keys(cfg.to_dict()),
                    threshold=_threshold(path, cfg), series=series)


def plot_runs(run_dirs: Sequence[str | Path], out_path: str | Path, smooth: int = DEFAULT_SMOOTH,
              panels: Sequence[str] = ()) -> Path:
    """Draw the learning curves of `run_dirs` into `out_path` (PNG, or any format matplotlib writes)."""
    return save_figure(curve_figure(load_runs(run_dirs), smooth=smooth, panels=panels), out_path)


def load_runs(run_dirs: Sequence[str | Path] | str | Path) -> list[RunCurve]:
    """`load_run` for one directory or several; a directory named twice counts once."""
    dirs = [run_dirs] if isinstance(run_dirs, (str, Path)) else run_dirs
    unique = list(dict.fromkeys(Path(d).resolve() for d in dirs))
    if not unique:
        raise DeepQError("give one or more run directories to plot")
    return [load_run(d) for d in unique]


def save_run_curve(run_dir: str | Path) -> Path:
    """RUN/curve.png: the run's return and evaluations, with its loss, mean Q and epsilon below."""
    return plot_runs([run_dir], Path(run_dir) / CURVE, panels=tuple(PANELS))


def curve_figure(curves: Sequence[RunCurve], smooth: int = DEFAULT_SMOOTH, panels: Sequence[str] = (),
                 random_baseline: bool = True) -> Figure:
    """The figure: returns and evaluations on top, one panel per name in `panels` (loss, q, epsilon) below."""
    if smooth < 1:
        raise DeepQError(f"smoothing window must be >= 1 episode, got {smooth}")
    unknown = [p for p in panels if p not in PANELS]
    if unknown:
        raise DeepQError(f"unknown panel {unknown[0]!r}; choose from {', '.join(PANELS)}")
    height_in = RETURN_HEIGHT_IN + PANEL_HEIGHT_IN * len(panels)
    fig = new_figure(WIDTH_IN * DPI, height_in * DPI)
    # Fixed margins in inches (room for the tick labels and two-line y labels) instead of a constrained layout,
    # which takes half of the drawing time: every run and every seed of `--seeds` draws one.
    fig.subplots_adjust(left=MARGINS_IN["left"] / WIDTH_IN, right=1 - MARGINS_IN["right"] / WIDTH_IN,
                        bottom=MARGINS_IN["bottom"] / height_in, top=1 - MARGINS_IN["top"] / height_in,
                        hspace=MARGINS_IN["between"] / PANEL_HEIGHT_IN)
    axes = fig.subplots(1 + len(panels), 1, sharex=True, squeeze=False,
                        height_ratios=[RETURN_HEIGHT_IN] + [PANEL_HEIGHT_IN] * len(panels))[:, 0]
    bands: dict = {ax: [] for ax in axes}
    groups = group_by_config(curves)
    for color, group, label in zip(_colors(len(groups)), groups, group_labels(groups)):
        if len(group) > 1:
            label += f" (mean of {len(group)} runs, 95% CI)"
        bands[axes[0]] += _draw_series(axes[0], group, RETURN, smooth, color, label)
        for run in group:
            axes[0].plot(*run.series[EVAL], "o", ms=4, color=color, mec="white", mew=0.5, zorder=3)
        for ax, name in zip(axes[1:], panels):
            key = PANELS[name][0]
            bands[ax] += _draw_series(ax, group, key, 1 if name == "epsilon" else smooth, color, None)
    _draw_references(axes[0], curves, random_baseline)
    for ax, ax_bands in bands.items():
        # The band is drawn inside the limits the lines set: with two seeds a 95% t band is ~13 standard errors
        # wide and would otherwise squash every curve into a sliver.
        ax.autoscale_view()
        ax.set_autoscale_on(False)
        for x, low, high, color in ax_bands:
            ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0, zorder=1)
        ax.grid(alpha=0.3)
    axes[0].plot([], [], "o", ms=4, color="0.4", label="greedy evaluation (mean return)")
    axes[0].legend(loc="best", fontsize="small", framealpha=0.85)
    axes[0].set_ylabel(f"episode return\n(training: trailing mean of {smooth})" if smooth > 1 else "episode return")
    envs = sorted({c.env_id for c in curves if c.env_id})
    axes[0].set_title(f"{', '.join(envs) or 'training'}: learning curve")
    for ax, name in zip(axes[1:], panels):
        ax.set_ylabel(PANELS[name][1])
    axes[-1].set_xlabel("environment steps")
    axes[-1].xaxis.set_major_formatter(EngFormatter(sep=""))
    return fig


def new_figure(width_px: float, height_px: float, **kwargs) -> Figure:
    """A figure of that many pixels on the Agg canvas, outside pyplot (no display, no global state)."""
    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_path: str | Path) -> Path:
    out = Path(out_path)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in fig.canvas.get_supported_filetypes():
        raise DeepQError(f"cannot write {out}: the file name must end in .png (or .pdf, .svg)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
    except OSError as exc:
        raise DeepQError(f"cannot write {out} ({exc.strerror or exc}); choose a writable path") from None
    return out


def figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --- grouping and labels ----------------------------------------------------------------------------------

def group_by_config(curves: Sequence[RunCurve]) -> list[list[RunCurve]]:
    """Runs with equal configs (seed aside) in one group, groups in order of first appearance."""
    groups: list[list[RunCurve]] = []
    for curve in curves:
        same = next((g for g in groups if g[0].config == curve.config), None)
        if same is None:
            groups.append([curve])
        else:
            same.append(curve)
    return groups


def group_labels(groups: Sequence[Sequence[RunCurve]], max_keys: int = 3) -> list[str]:
    """The config keys that tell groups apart (`learner.lr=0.001`); with one group, its run directory names."""
    if len(groups) == 1:
        names = [c.name for c in groups[0]]
        return [", ".join(names) if len(names) <= 3 else f"{names[0]}, ..., {names[-1]}"]
    keys = list(dict.fromkeys(k for g in groups for k in g[0].config))
    differing = [k for k in keys if len({repr(g[0].config.get(k)) for g in groups}) > 1]
    labels = []
    for g in groups:
        parts = [f"{k}={_show(g[0].config.get(k))}" for k in differing[:max_keys]]
        labels.append(", ".join(parts) + (", ..." if len(differing) > max_keys else ""))
    return labels


def _experiment_keys(config: dict) -> dict:
    """Flattened config without the seed and the `log` section: those change what is written, not what is
    learned, so runs differing only there are seeds of one experiment."""
    flat = flatten(config)
    return {k: v for k, v in flat.items() if k != "seed" and not k.startswith("log.")}


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


# --- statistics ---------------------------------------------------------------------------------------------

def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last `window` values at each index (of all values so far at the start)."""
    values = np.asarray(values, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(1, len(values) + 1)
    start = np.maximum(end - window, 0)
    return (csum[end] - csum[start]) / (end - start)


def mean_and_band(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], grid: np.ndarray):
    """Mean over runs and its 95% confidence interval on `grid`.

    Each run counts only inside its own env-step range (runs stop at different steps, e.g. when solved), so `n`,
    the number of runs at each grid point, may fall towards the end. Returns (mean, low, high, n); the band is
    NaN where fewer than two runs remain.
    """
    y_RG = np.stack([np.interp(grid, x, y, left=np.nan, right=np.nan) for x, y in zip(xs, ys)])
    present_RG = ~np.isnan(y_RG)
    n_G = present_RG.sum(axis=0)
    filled_RG = np.where(present_RG, y_RG, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_G = filled_RG.sum(axis=0) / n_G
        var_G = (np.where(present_RG, y_RG - mean_G, 0.0) ** 2).sum(axis=0) / (n_G - 1)
        t_G = np.array([t975(df) for df in np.maximum(n_G - 1, 1)])
        half_G = np.where(n_G >= 2, t_G * np.sqrt(var_G / n_G), np.nan)
    return mean_G, mean_G - half_G, mean_G + half_G, n_G


# --- drawing ------------------------------------------------------------------------------------------------

def _draw_series(ax, group: Sequence[RunCurve], key: str, smooth: int, color, label: Optional[str]) -> list:
    """Draw one group's series; returns the confidence bands to draw once the axis limits are set."""
    xs, ys = [], []
    for run in group:
        x, y = run.series[key]
        if len(x):
            xs.append(x)
            ys.append(trailing_mean(y, smooth))
    if not xs:
        return []
    if len(xs) == 1:
        ax.plot(xs[0], ys[0], color=color, lw=1.5, label=label, zorder=2)
        return []
    grid = np.linspace(min(x[0] for x in xs), max(x[-1] for x in xs), GRID_POINTS)
    mean, low, high, n = mean_and_band(xs, ys, grid)
    everyone = n == len(xs)
    ax.plot(grid, np.where(everyone, mean, np.nan), color=color, lw=1.5, label=label, zorder=2)
    # Where some runs have already stopped the mean is over fewer runs: dotted, joined to the solid part.
    fewer = np.convolve(~everyone, np.ones(3), mode="same") > 0
    ax.plot(grid, np.where(fewer, mean, np.nan), color=color, lw=1.5, ls=":", zorder=2)
    return [(grid, low, high, color)]


def _draw_references(ax, curves: Sequence[RunCurve], random_baseline: bool) -> None:
    envs = list(dict.fromkeys(c.env_id for c in curves))
    for env_id in envs:
        prefix = f"{env_id} " if len(envs) > 1 else ""
        threshold = next((c.threshold for c in curves if c.env_id == env_id and c.threshold is not None), None)
        if threshold is not None:
            ax.axhline(threshold, color="0.2", ls="--", lw=1, label=f"{prefix}solved: {threshold:g}")
        if random_baseline and env_id is not None:
            mean = random_policy_mean(env_id)
            ax.axhline(mean, color="0.5", ls="-.", lw=1, label=f"{prefix}random policy: {mean:.1f}")


@functools.lru_cache(maxsize=None)
def random_policy_mean(env_id: str) -> float:
    """Mean return of the uniform-random policy on the usual test seeds, computed once per env and process."""
    from deepq.evaluation.evaluate import random_baseline

    return random_baseline(env_id, episodes=100, seed=1000).mean


def _threshold(path: Path, cfg) -> Optional[float]:
    """The solved threshold the run used (summary.json), else what its config or the env would use."""
    from deepq.envs.make import reward_threshold

    try:
        threshold = json.loads((path / runs.SUMMARY).read_text()).get("threshold")
    except (OSError, ValueError):
        threshold = None
    if threshold is None:
        threshold = cfg.eval.threshold if cfg.eval.threshold is not None else reward_threshold(cfg.env.id)
    return threshold


def _colors(n: int) -> list:
    from matplotlib import rcParams

    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]

