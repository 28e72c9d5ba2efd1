"""Learning curves: statistics by hand, real runs of different lengths and configs, curve.png after training."""

import csv
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")  # tests never need a display (deepq.plots itself never touches pyplot)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import deepq  # noqa: E402
from deepq.viz import plots  # noqa: E402
from deepq.run.callbacks import Callback  # noqa: E402
from deepq.evaluation.solved import solve_threshold  # noqa: E402
from deepq.config.schema import resolve  # noqa: E402
from deepq.errors import DeepQError  # noqa: E402
from tiny import tiny_cfg  # noqa: E402

PRESET_LR = resolve(env_id="CartPole-v1").learner.lr  # the runs below differ from the preset only in lr
PRESET_THRESHOLD = solve_threshold(resolve(env_id="CartPole-v1"))  # the env's 475 (the preset confirms, with no threshold of its own)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two seeds of config A (the second cut short, as by Ctrl-C) and one run of config B (another lr)."""
    root = tmp_path_factory.mktemp("runs")
    deepq.train(tiny_cfg(seed=0), root / "a0", quiet=True)
    deepq.train(tiny_cfg(seed=1), root / "a1", quiet=True)
    deepq.train(tiny_cfg(seed=0, **{"learner.lr": 1e-3}), root / "b0", quiet=True)
    metrics = root / "a1" / "metrics.csv"
    lines = metrics.read_text().splitlines(keepends=True)
    metrics.write_text("".join(lines[: len(lines) // 2]))
    return root


def test_trailing_mean_matches_a_slow_loop():
    values = np.random.default_rng(0).normal(size=50)
    for window in (1, 3, 20, 80):
        slow = [values[max(0, i + 1 - window): i + 1].mean() for i in range(len(values))]
        np.testing.assert_allclose(plots.trailing_mean(values, window), slow, rtol=1e-12)


def test_mean_and_band_by_hand():
    """Runs count only inside their own step range; the band is mean ± t(0.975, n-1) * s / sqrt(n)."""
    xs = [np.array([0.0, 10.0]), np.array([0.0, 10.0]), np.array([0.0, 5.0])]
    ys = [np.array([0.0, 10.0]), np.array([2.0, 12.0]), np.array([4.0, 9.0])]
    mean, low, high, n = plots.mean_and_band(xs, ys, np.array([0.0, 5.0, 10.0]))
    assert n.tolist() == [3, 3, 2]
    np.testing.assert_allclose(mean, [2.0, 7.0, 11.0])
    # grid 0: values 0, 2, 4 -> s = 2, half = 4.303 * 2 / sqrt(3); grid 10: values 10, 12 -> s = sqrt(2), half = 12.706
    np.testing.assert_allclose(high - mean, [4.303 * 2 / np.sqrt(3), 4.303 * 2 / np.sqrt(3), 12.706])
    np.testing.assert_allclose(mean - low, high - mean)
    _, low1, _, n1 = plots.mean_and_band(xs[:1], ys[:1], np.array([0.0, 20.0]))
    assert n1.tolist() == [1, 0] and np.isnan(low1).all()  # one run: no band; past its end: nothing


@pytest.mark.slow
def test_seeds_group_and_configs_get_labels(runs):
    curves = plots.load_runs([runs / "a0", runs / "b0", runs / "a1", runs / "a0"])  # a0 twice counts once
    groups = plots.group_by_config(curves)
    assert [[c.name for c in g] for g in groups] == [["a0", "a1"], ["b0"]]
    assert plots.group_labels(groups) == [f"learner.lr={PRESET_LR}", "learner.lr=0.001"]
    assert plots.group_labels(groups[:1]) == ["a0, a1"]
    a0, a1 = groups[0]
    assert a1.series[plots.RETURN][0][-1] < a0.series[plots.RETURN][0][-1]  # the cut run is shorter
    assert a0.threshold == PRESET_THRESHOLD and a0.env_id == "CartPole-v1"


@pytest.mark.slow
def test_plot_runs_writes_a_png_with_band_legend_and_references(runs, tmp_path):
    out = plots.plot_runs([runs / "a0", runs / "a1", runs / "b0"], tmp_path / "sub" / "curve.png",
                          smooth=5, panels=("loss", "q", "epsilon"))
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (800, 1050)  # 8 in x (4.5 + 3 * 2) in at 100 dpi

    fig = plots.curve_figure(plots.load_runs([runs / "a0", runs / "a1", runs / "b0"]), smooth=5, panels=("loss",))
    top = fig.axes[0]
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert labels[0] == f"learner.lr={PRESET_LR}: greedy evaluation, mean of 2 runs (95% CI)"
    assert labels[1] == "learner.lr=0.001"
    assert f"solved: {PRESET_THRESHOLD:g}" in labels
    random_label = next(label for label in labels if label.startswith("random policy: "))
    assert 15 < float(random_label.split(": ")[1]) < 35  # CartPole's random policy lasts ~22 steps
    assert len(top.collections) == 1 and len(fig.axes[1].collections) == 1  # one band per panel: group A's
    lo, hi = top.get_ylim()
    assert lo < 20 and hi > PRESET_THRESHOLD  # the reference lines are in view


@pytest.mark.slow
def test_plot_bad_input_is_one_line(runs, tmp_path):
    with pytest.raises(DeepQError, match="unknown panel 'foo'; choose from loss, q, epsilon"):
        plots.plot_runs([runs / "a0"], tmp_path / "x.png", panels=("foo",))
    with pytest.raises(DeepQError, match=r"must end in \.png"):
        plots.plot_runs([runs / "a0"], tmp_path / "x.bmpq")
    with pytest.raises(DeepQError, match="not a deepq run directory"):
        plots.plot_runs([tmp_path], tmp_path / "x.png")
    empty = tmp_path / "empty"
    deepq.train(tiny_cfg(seed=0, **{"train.total_steps": 5, "train.learning_starts": 1}), empty, quiet=True)
    with pytest.raises(DeepQError, match="no finished training episode yet"):
        plots.plot_runs([empty], tmp_path / "x.png")


@pytest.mark.slow
def test_cli_plot(runs, tmp_path):
    out = tmp_path / "cli.png"
    done = subprocess.run([sys.executable, "-m", "deepq.cli", "plot", str(runs / "a0"), str(runs / "b0"),
                           "--out", str(out), "--smooth", "3", "--panels", "epsilon"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    with Image.open(out) as image:
        assert image.size == (800, 650)


@pytest.mark.slow
def test_every_run_draws_its_curve(tmp_path):
    agent = deepq.train(tiny_cfg(seed=0, **{"log.plot": True}), tmp_path / "run", quiet=True)
    with Image.open(tmp_path / "run" / "curve.png") as image:
        assert image.size == (800, 1050)  # return + loss, mean Q and epsilon
    assert agent.result.episodes > 0
    deepq.train(tiny_cfg(seed=0), tmp_path / "off", quiet=True)  # log.plot=false
    assert not (tmp_path / "off" / "curve.png").exists()


class _BlockCurve(Callback):
    """Puts a directory where curve.png goes, so drawing it fails for real."""

    def __init__(self, run_dir):
        self.run_dir = run_dir

    def on_episode(self, counters, episode_return, episode_length, epsilon):
        (self.run_dir / "curve.png").mkdir(exist_ok=True)


@pytest.mark.slow
def test_a_failed_curve_costs_only_the_picture(tmp_path, capsys):
    run = tmp_path / "run"
    agent = deepq.train(tiny_cfg(seed=0, **{"log.plot": True}), run, quiet=True, callbacks=[_BlockCurve(run)])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"deepq: warning: could not draw {run / 'curve.png'}")
    assert agent.result.env_steps >= 1500
    assert (run / "checkpoints" / "final.safetensors").is_file() and (run / "summary.json").is_file()
    with open(run / "metrics.csv", newline="") as fh:
        assert sum(1 for row in csv.DictReader(fh) if row["kind"] == "episode") == agent.result.episodes


@pytest.mark.slow
def test_seeds_draw_the_greedy_evaluations_with_a_band_clipped_to_the_achievable_returns(runs, tmp_path):
    """Issue 13: over seeds the signal is the greedy evaluation, drawn as a mean with a band (each seed faint);
    the band of a mean of CartPole returns never leaves [0, 500]."""
    curves = plots.load_runs([runs / "a0", runs / "a1"])
    assert curves[0].bounds == (0.0, 500.0)
    fig = plots.curve_figure(curves, smooth=5)
    top = fig.axes[0]
    (band,) = top.collections
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() >= 0.0 and ys.max() <= 500.0
    steps = plots.evaluation_grid([c.series[plots.EVAL][0] for c in curves])  # k-th evaluations matched
    assert len(steps) == max(len(c.series[plots.EVAL][0]) for c in curves)
    xs = band.get_paths()[0].vertices[:, 0]
    assert set(np.round(xs)) <= set(np.round(steps))  # the band spans the evaluations, not the training return
    faint = [line for line in top.get_lines() if line.get_alpha() == 0.25]
    assert len(faint) == 2  # one faint line per seed
    out = plots.plot_aggregate([runs / "a0", runs / "a1", runs / "b0"], tmp_path / "aggregate.png")
    with Image.open(out) as image:
        assert image.format == "PNG"
