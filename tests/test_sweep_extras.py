"""Sweeps, issue 13: a warning for a swept key without effect, and trials logged once in TensorBoard."""

import signal
import textwrap

import pytest

from deepq.experiments.sweepfile import load_sweep

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them


@pytest.fixture(autouse=True)
def signal_handlers_restored():
    """Ray and Tune install SIGINT/SIGTERM handlers in the driver; tests that run after these must not see them."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_a_swept_key_without_effect_is_warned_about(tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(textwrap.dedent("""
        base: {env: CartPole-v1, overrides: {target.kind: soft}}
        grid:
          target.update_interval: [100, 500]
          learner.lr: [0.001, 0.002]
    """))
    (warning,) = load_sweep(sweep).warnings
    assert warning.startswith("warning: target.update_interval is swept but has no effect in every config")
    assert "target.kind=soft" in warning and "target.kind=hard" in warning
    sweep.write_text("grid: {target.kind: [hard, soft], target.tau: [0.01, 0.1]}\n")
    (warning,) = load_sweep(sweep).warnings
    assert "target.tau is swept but has no effect in 2 of 4 configs (target.kind=hard" in warning
    sweep.write_text("grid: {target.kind: [soft], target.tau: [0.01, 0.1]}\n")
    assert load_sweep(sweep).warnings == []
    # without a target network the online network chooses and values the next action: Double DQN is plain
    sweep.write_text("base: {overrides: {target.kind: none}}\ngrid: {learner.double: [true, false]}\n")
    (warning,) = load_sweep(sweep).warnings
    assert "learner.double is swept but has no effect in every config (target.kind=none" in warning


def test_trials_are_logged_once_in_tensorboard(tmp_path):
    import ray

    from deepq.experiments.sweep import run_sweep

    sweep = tmp_path / "s.yaml"
    sweep.write_text("base: {overrides: {train.total_steps: 300, train.learning_starts: 100, eval.interval: 150, "
                     "eval.episodes: 2, log.plot: false}}\nseeds: [0]\n")
    lines = []
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        result = run_sweep(sweep, tmp_path / "sw", echo=lines.append)
    finally:
        ray.shutdown()
    assert result.finished
    events = sorted(p.relative_to(tmp_path / "sw").as_posix() for p in (tmp_path / "sw").rglob("events.out.tfevents*"))
    assert len(events) == 1 and events[0].startswith("config-00/seed-0/")  # deepq's own, in the run directory
    assert list((tmp_path / "sw" / "tune").rglob("result.json"))  # Tune's result files are kept


def test_an_optuna_search_with_a_pruner_ranks_the_configs_it_tried(tmp_path):
    import csv
    import json

    import ray

    from deepq.experiments.sweep import run_sweep

    sweep = tmp_path / "opt.yaml"
    sweep.write_text(textwrap.dedent("""
        base: {overrides: {train.total_steps: 600, train.learning_starts: 100, eval.interval: 200, eval.episodes: 2,
                           log.plot: false, log.tensorboard: false}}
        seeds: [0]
        optuna:
          samples: 4
          seed: 0
          pruner: median
          space:
            learner.lr: {loguniform: [1.0e-4, 1.0e-2]}
            network.hidden_sizes: {choice: [[32, 32], [64, 64]]}
    """))
    lines = []
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run_sweep(sweep, tmp_path / "sw", workers=2, echo=lines.append)
    finally:
        ray.shutdown()
    assert len(result.results) == 4 and result.finished
    assert sum(line.startswith("[") for line in lines) == 4
    for config in result.plan.configs:
        assert 1e-4 <= config.values["learner.lr"] <= 1e-2
        assert config.values["network.hidden_sizes"] in ([32, 32], [64, 64])
        assert config.config["learner"]["lr"] == config.values["learner.lr"]
    rows = list(csv.DictReader(open(tmp_path / "sw" / "results.csv")))
    assert len(rows) == 4 and rows[0]["rank"] == "1"
    assert len(json.loads((tmp_path / "sw" / "plan.json").read_text())["configs"]) == 4


def test_optuna_sections_are_checked_before_ray_starts(tmp_path):
    from deepq.errors import DeepQError

    sweep = tmp_path / "bad.yaml"
    sweep.write_text("grid: {learner.lr: [0.001]}\noptuna: {samples: 2, space: {learner.lr: {uniform: [0.1, 0.2]}}}\n")
    with pytest.raises(DeepQError, match="drop grid and random"):
        load_sweep(sweep)
    sweep.write_text("optuna: {samples: 2, pruner: hyperband, space: {learner.lr: {uniform: [0.1, 0.2]}}}\n")
    with pytest.raises(DeepQError, match="optuna.pruner must be one of median, asha, none"):
        load_sweep(sweep)
    sweep.write_text("optuna: {samples: 2, space: {learner.lrr: {uniform: [0.1, 0.2]}}}\n")
    with pytest.raises(DeepQError, match="unknown config key learner.lrr"):
        load_sweep(sweep)
