"""Learning curves from run directories: training return (smoothed) and greedy evaluations against env steps.

Runs whose configs differ only in `seed` form a group, drawn as the mean over its runs with a 95% confidence band
(Student t over seeds). Several groups share one figure, each labelled by the config keys that set it apart.
Reference lines: the environment's solved threshold and the mean return of the uniform-random policy.
Optional panels below show the TD loss, the mean Q-value and epsilon.

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot: nothing here needs a display or
changes the user's matplotlib backend. matplotlib is imported when a figure is made, not with this module (it
costs ~0.2 s): a run whose curve is drawn by a detached process (`draw_detached`) never imports it.

    python -m deepq.viz.plots RUN      # draw RUN/curve.png (what the detached process runs)
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

from deepq.run import runs
from deepq.config.schema import flatten
from deepq.errors import DeepQError, WriteError
from deepq.run.metrics import read_metrics
from deepq.experiments.stats import t975
from deepq.run.faults import fault

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CURVE = "curve.png"  # written into every run directory when training ends (log.plot)
DEFAULT_SMOOTH = 20  # episodes in the trailing mean of the training return
RETURN = "rollout/episode_return"
EVAL = "eval/mean_return"
EVAL_MIN, EVAL_MAX = "eval/min_return", "eval/max_return"
AGGREGATE = "aggregate.png"  # `deepq train --seeds` writes it next to curve.png
BOOTSTRAP_REPS = 2000
# Returns an episode of these tasks can have, per env step of its time limit: CartPole earns +1 per step (0 ..
# limit); Acrobot and MountainCar -1 per step until done (-limit .. 0). Bands are clipped to them.
RETURN_PER_STEP = {"CartPole-v0": (0.0, 1.0), "CartPole-v1": (0.0, 1.0), "Acrobot-v1": (-1.0, 0.0),
                   "MountainCar-v0": (-1.0, 0.0)}
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
    bounds: Optional[tuple] = None  # (lowest, highest) return an episode can have, where known (return_bounds)
    env_source: Optional[str] = None  # JSON of env.id, env.kwargs, env.wrappers: what the random baseline plays
    final: Optional[float] = None  # the final agent's score (summary.json final_eval, else the last evaluation)


def load_run(run_dir: str | Path) -> RunCurve:
    """Read a run directory's config, summary and metrics.csv; a one-line DeepQError if it is not a run."""
    path = Path(run_dir)
    cfg = runs.read_run_config(path)
    if not (path / runs.METRICS).is_file():
        raise DeepQError(f"{path} has no {runs.METRICS}; pass the --run-dir of a `deepq train` run")
    rows = read_metrics(path / runs.METRICS)
    series = {}
    for kind, keys in (("episode", [RETURN] + [key for key, _ in PANELS.values()]),
                       ("eval", [EVAL, EVAL_MIN, EVAL_MAX])):
        for key in keys:
            points = [(r["env_steps"], r[key]) for r in rows if r["kind"] == kind and r.get(key) is not None]
            series[key] = tuple(np.asarray(v, dtype=np.float64) for v in zip(*points)) if points else \
                (np.empty(0), np.empty(0))
    if not len(series[RETURN][0]):
        raise DeepQError(f"{path / runs.METRICS} has no finished training episode yet; plot it after training")
    return RunCurve(name=path.name or path.resolve().name, env_id=cfg.env.id, config=_experiment_keys(cfg.to_dict()),
                    threshold=_threshold(path, cfg), series=series, bounds=return_bounds(cfg),
                    env_source=json.dumps([cfg.env.id, cfg.env.kwargs, list(cfg.env.wrappers)]),
                    final=_final_score(path, series))


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
    """RUN/curve.png: the run's return and evaluations, with its loss, mean Q and epsilon below. Drawn to a temp
    file and renamed into place (a reader never sees half a picture); a failed write is a `WriteError`."""
    path = Path(run_dir)
    # the pid: a detached drawing still running and the next run's own drawing never share a temp file
    out, tmp = path / CURVE, path / f".curve.png.{os.getpid()}.tmp"
    fig = curve_figure(load_runs([path]), panels=tuple(PANELS))
    try:
        fault("curve")
        fig.savefig(tmp, format="png")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno not in DISK_FULL:  # e.g. a directory where the picture goes: only the picture is lost
            raise
        raise WriteError.of(out, exc) from None  # the disk: the run stops, and a resume draws it again
    return out


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EIO)


# --- curve.png after the prompt: the command line at a terminal ---------------------------------------------

BACKGROUND = False  # on inside `curves_in_background`


@contextlib.contextmanager
def curves_in_background(enabled: bool = True) -> Iterator[None]:
    """Within: a finished run's curve.png is drawn by a detached process (`draw_detached`), so that training
    returns as soon as the agent and the summary are on disk, without importing matplotlib and drawing (~0.4 s).
    `deepq train` turns it on when it runs at a terminal (the picture follows the prompt by 1-2 s);
    scripts, pipes and the Python API get curve.png before they return. POSIX only."""
    global BACKGROUND
    before, BACKGROUND = BACKGROUND, enabled and os.name == "posix"
    try:
        yield
    finally:
        BACKGROUND = before


def draw_detached(run_dir: str | Path) -> bool:
    """Start a detached process that draws RUN/curve.png (`save_run_curve`) when `curves_in_background` is on;
    False when it is off or no process could be started: then the caller draws it. The process is in a session
    of its own (Ctrl-C at the prompt does not reach it); its stdout is discarded and its stderr is the caller's,
    so a failure is one warning line on the terminal, as in the foreground."""
    if not BACKGROUND:
        return False
    package_root = str(Path(__file__).resolve().parents[2])  # the deepq this process runs, whatever sys.path says
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        subprocess.Popen([sys.executable, "-c", "import sys; from deepq.viz.plots import main; sys.exit(main())",
                          str(Path(run_dir).resolve())], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         env=env, start_new_session=True, close_fds=True)
    except OSError:
        return False
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`python -m deepq.viz.plots RUN`: draw RUN/curve.png; a failure is one warning line and exit status 1."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m deepq.viz.plots RUN_DIR", file=sys.stderr)
        return 2
    try:
        save_run_curve(argv[0])
    except Exception as exc:  # noqa: BLE001 - one line, as the foreground drawing says it
        reason = (str(exc).splitlines() or [""])[0]
        print(f"deepq: warning: could not draw {Path(argv[0]) / CURVE} ({type(exc).__name__}: {reason})",
              file=sys.stderr)
        return 1
    return 0


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
        bounds = group_bounds(group)
        if len(group) > 1:
            # Several seeds: the greedy evaluations are the signal (mean and 95% band, each seed faint); the
            # epsilon-greedy training return stays as a thin line without a band.
            _draw_series(axes[0], group, RETURN, smooth, color, None, band=False, lw=0.9, alpha=0.45)
            for run in group:
                axes[0].plot(*run.series[EVAL], color=color, lw=0.7, alpha=0.25, zorder=1.5)
            bands[axes[0]] += _draw_series(axes[0], group, EVAL, 1, color,
                                           f"{label}: greedy evaluation, mean of {len(group)} runs (95% CI)",
                                           bounds=bounds, marker="o")
        else:
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
    if any(len(g) == 1 for g in groups):
        axes[0].plot([], [], "o", ms=4, color="0.4", label="greedy evaluation (mean return)")
    if any(len(g) > 1 for g in groups):
        axes[0].plot([], [], color="0.4", lw=0.9, alpha=0.45, label="training return (epsilon-greedy), mean")
    axes[0].legend(loc="best", fontsize="small", framealpha=0.85)
    axes[0].set_ylabel(f"episode return\n(training: trailing mean of {smooth})" if smooth > 1 else "episode return")
    envs = sorted({c.env_id for c in curves if c.env_id})
    axes[0].set_title(f"{', '.join(envs) or 'training'}: learning curve")
    for ax, name in zip(axes[1:], panels):
        ax.set_ylabel(PANELS[name][1])
    axes[-1].set_xlabel("environment steps")
    axes[-1].xaxis.set_major_formatter(_eng_formatter())
    return fig


def new_figure(width_px: float, height_px: float, **kwargs) -> Figure:
    """A figure of that many pixels on the Agg canvas, outside pyplot (no display, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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


def _eng_formatter():
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep="")


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

def _draw_series(ax, group: Sequence[RunCurve], key: str, smooth: int, color, label: Optional[str], *,
                 bounds: Optional[tuple] = None, band: bool = True, lw: float = 1.5, alpha: float = 1.0,
                 marker: Optional[str] = None) -> list:
    """Draw one group's series; returns the confidence bands to draw once the axis limits are set, clipped to
    `bounds` (a mean of returns cannot leave the range a return can have)."""
    xs, ys = [], []
    for run in group:
        x, y = run.series[key]
        if len(x):
            xs.append(x)
            ys.append(trailing_mean(y, smooth))
    if not xs:
        return []
    if len(xs) == 1:
        ax.plot(xs[0], ys[0], color=color, lw=lw, alpha=alpha, label=label, zorder=2)
        return []
    grid = np.linspace(min(x[0] for x in xs), max(x[-1] for x in xs), GRID_POINTS)
    if marker:  # evaluations: the k-th evaluations of the runs together, each a real evaluation
        grid = evaluation_grid(xs)
        xs = [grid[:len(x)] for x in xs]
    mean, low, high, n = mean_and_band(xs, ys, grid)
    if bounds is not None:
        low, high = np.clip(low, *bounds), np.clip(high, *bounds)
    everyone = n == len(xs)
    ax.plot(grid, np.where(everyone, mean, np.nan), color=color, lw=lw, alpha=alpha, label=label, zorder=2,
            marker=marker, ms=3)
    # Where some runs have already stopped the mean is over fewer runs: dotted, joined to the solid part.
    some_gone = ~everyone
    fewer = some_gone | np.r_[some_gone[1:], False] | np.r_[False, some_gone[:-1]]  # and each neighbour
    ax.plot(grid, np.where(fewer, mean, np.nan), color=color, lw=lw, alpha=alpha, ls=":", zorder=2)
    return [(grid, low, high, color)] if band else []


def _draw_references(ax, curves: Sequence[RunCurve], random_baseline: bool) -> None:
    envs = list(dict.fromkeys(c.env_id for c in curves))
    for env_id in envs:
        prefix = f"{env_id} " if len(envs) > 1 else ""
        threshold = next((c.threshold for c in curves if c.env_id == env_id and c.threshold is not None), None)
        if threshold is not None:
            ax.axhline(threshold, color="0.2", ls="--", lw=1, label=f"{prefix}solved: {threshold:g}")
        if random_baseline and env_id is not None and not _pixel_task(env_id):  # Atari: 100 random games take minutes
            source = next((c.env_source for c in curves if c.env_id == env_id and c.env_source), None)
            try:
                mean = random_policy_mean(source or json.dumps([env_id, {}, []]))
            except DeepQError:  # e.g. a factory that cannot be imported here: the curve goes on without the line
                continue
            ax.axhline(mean, color="0.5", ls="-.", lw=1, label=f"{prefix}random policy: {mean:.1f}")


def _pixel_task(env_id: str) -> bool:
    from deepq.envs.pixels import Preprocessing

    return Preprocessing.for_id(env_id) is not None


@functools.lru_cache(maxsize=None)
def random_policy_mean(env: str) -> float:
    """Mean return of the uniform-random policy on the usual test seeds, computed once per env and process.
    `env`: an id, or the JSON [env.id, env.kwargs, env.wrappers] of a run (RunCurve.env_source)."""
    from deepq.envs.source import EnvSource
    from deepq.evaluation.evaluate import random_baseline

    if env.startswith("["):
        env_id, kwargs, wrappers = json.loads(env)
        env = EnvSource(env_id, kwargs, tuple(wrappers))
    return random_baseline(env, episodes=100, seed=1000).mean


def _threshold(path: Path, cfg) -> Optional[float]:
    """The solved threshold the run used (summary.json), else what its config or the env would use."""
    from deepq.envs.make import reward_threshold

    try:
        threshold = json.loads((path / runs.SUMMARY).read_text()).get("threshold")
    except (OSError, ValueError):
        threshold = None
    if threshold is None and cfg.eval.threshold is not None:
        threshold = cfg.eval.threshold
    elif threshold is None:
        try:
            threshold = reward_threshold(cfg.env.id)
        except DeepQError:  # a factory that cannot be imported here: no threshold line
            threshold = None
    return threshold


def _colors(n: int) -> list:
    from matplotlib import rcParams

    cycle = rcParams["axes.prop_cycle"].by_key()["color"]
    return [cycle[i % len(cycle)] for i in range(n)]



# --- achievable returns, final scores -------------------------------------------------------------------

def return_bounds(cfg) -> Optional[tuple]:
    """(lowest, highest) return an episode of this run's task can have, for the tasks whose rewards per step are
    known (RETURN_PER_STEP, times the time limit); None otherwise (then the runs' own extremes are used)."""
    per_step = RETURN_PER_STEP.get(cfg.env.id)
    if per_step is None or cfg.env.kwargs or cfg.env.wrappers:
        return None
    from deepq.envs.make import env_spec

    limit = cfg.env.max_episode_steps or env_spec(cfg.env.id).max_episode_steps
    return None if not limit else (per_step[0] * limit, per_step[1] * limit)


def group_bounds(group: Sequence[RunCurve]) -> Optional[tuple]:
    """The achievable range of the group's returns: the task's where known, else the extremes its greedy
    evaluations reached (a mean over seeds cannot leave [lowest, highest] of the returns it averages)."""
    known = next((run.bounds for run in group if run.bounds is not None), None)
    if known is not None:
        return known
    empty = (np.empty(0), np.empty(0))  # a live curve (deepq.viz.notebook) carries no extremes
    lows = [v for run in group for v in run.series.get(EVAL_MIN, empty)[1]]
    highs = [v for run in group for v in run.series.get(EVAL_MAX, empty)[1]]
    return (min(lows), max(highs)) if lows and highs else None


def evaluation_grid(xs: Sequence[np.ndarray]) -> np.ndarray:
    """The env step of each run's k-th evaluation, as the median over the runs that got that far. Runs evaluate
    on one schedule (every eval.interval env steps) but land a few steps apart (a vector env steps all its copies
    at once), so evaluations are matched by their index, not by their exact step."""
    longest = max(len(x) for x in xs)
    return np.array([np.median([x[k] for x in xs if len(x) > k]) for k in range(longest)])


def _final_score(path: Path, series: dict) -> Optional[float]:
    try:
        final = json.loads((path / runs.SUMMARY).read_text()).get("final_eval") or {}
    except (OSError, ValueError, AttributeError):
        final = {}
    if final.get("mean") is not None:
        return float(final["mean"])
    values = series[EVAL][1]
    return float(values[-1]) if len(values) else None


# --- the aggregate figure -----------------------------------------------------------------------------------

def plot_aggregate(run_dirs: Sequence[str | Path], out_path: str | Path) -> Path:
    """The aggregate figure of `run_dirs` (seeds of one or more configs) into `out_path`, see `aggregate_figure`."""
    return save_figure(aggregate_figure(load_runs(run_dirs)), out_path)


def aggregate_figure(curves: Sequence[RunCurve], reps: int = BOOTSTRAP_REPS) -> Figure:
    """Left: the interquartile mean (IQM) over runs of the greedy evaluation return against env steps; right: the
    IQM of the runs' final scores, each run a dot. Both with 95% stratified-bootstrap confidence intervals
    (rliable's method, Agarwal et al. 2021: the runs of each task resampled separately; `reps` replicates,
    seeded, so the figure is reproducible).

    A run that stopped early (solved) keeps its last evaluation from then on: its agent is its final agent."""
    from deepq.experiments.stats import stratified_bootstrap_ci

    fig = new_figure(WIDTH_IN * 1.4 * DPI, RETURN_HEIGHT_IN * DPI)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=0.9, wspace=0.25)
    left, right = fig.subplots(1, 2, width_ratios=[2.2, 1])
    groups = group_by_config(curves)
    labels = group_labels(groups)
    for i, (color, group, label) in enumerate(zip(_colors(len(groups)), groups, labels)):
        runs_with_evals = [run for run in group if len(run.series[EVAL][0])]
        if runs_with_evals:
            grid = evaluation_grid([run.series[EVAL][0] for run in runs_with_evals])
            by_task: dict = {}
            for run in runs_with_evals:
                y = run.series[EVAL][1]
                # the k-th evaluation; after a run's last one (it stopped, e.g. solved), its last one
                by_task.setdefault(run.env_id, []).append(y[np.minimum(np.arange(len(grid)), len(y) - 1)])
            point, low, high = stratified_bootstrap_ci([np.stack(v) for v in by_task.values()], reps=reps)
            bounds = group_bounds(group)
            if bounds is not None:
                low, high = np.clip(low, *bounds), np.clip(high, *bounds)
            left.plot(grid, point, color=color, lw=1.5, label=f"{label} ({len(runs_with_evals)} runs)")
            left.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
        finals: dict = {}
        for run in group:
            if run.final is not None:
                finals.setdefault(run.env_id, []).append(run.final)
        if finals:
            point, low, high = stratified_bootstrap_ci([np.asarray(v) for v in finals.values()], reps=reps)
            scores = [v for vs in finals.values() for v in vs]
            jitter = np.linspace(-0.15, 0.15, len(scores)) if len(scores) > 1 else np.zeros(1)
            right.plot(i + jitter, scores, "o", ms=3.5, color=color, alpha=0.5)
            right.errorbar([i], [point], yerr=[[point - low], [high - point]], fmt="D", ms=7, color=color,
                           capsize=5, lw=1.5)
    _draw_references(left, curves, random_baseline=False)
    left.set_xlabel("environment steps")
    left.xaxis.set_major_formatter(_eng_formatter())
    left.set_ylabel("greedy evaluation return: IQM over runs")
    left.set_title("IQM with 95% stratified-bootstrap CI")
    left.legend(loc="best", fontsize="small", framealpha=0.85)
    left.grid(alpha=0.3)
    right.set_xticks(range(len(groups)), [label if len(label) <= 24 else label[:22] + "..." for label in labels],
                     fontsize="small")
    right.set_xlim(-0.6, len(groups) - 0.4)
    right.set_ylabel("final score (each run a dot)")
    right.set_title("final score: IQM (diamond), 95% CI")
    right.grid(alpha=0.3, axis="y")
    return fig


if __name__ == "__main__":
    sys.exit(main())
