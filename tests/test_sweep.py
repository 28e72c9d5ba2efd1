"""`deepq sweep` on a real local Ray: ranking, retries, failures, a real interruption and its resume.

One Ray session serves the whole module (starting Ray costs seconds); `run_sweep` uses a session it finds.
"""

import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import ray

from crashing_env import FLAKY_DIR
from deepq.errors import DeepQError
from deepq.experiments.multiseed import finished_summary
from deepq.experiments.sweep import run_sweep
from deepq.experiments.sweepfile import load_sweep
from tiny import tiny_overrides

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

TESTS = Path(__file__).parent
# The shared tiny overrides as a YAML flow mapping (JSON is YAML), with the schema's defaults for these two.
TINY = json.dumps(tiny_overrides(**{"eval.stop_when_solved": True, "log.progress": True}))


def deepq_cli(*args, prelude=""):
    code = f"import sys; {prelude}\nfrom deepq.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_without_ray_sweep_says_how_to_install_it(tmp_path):
    # `sys.modules["ray"] = None` makes every `import ray` fail, as on a machine without Ray.
    out = deepq_cli("sweep", str(tmp_path / "lr.yaml"), prelude="sys.modules['ray'] = None")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "pip install -c constraints.txt -e '.[sweep]'" in out.stderr


def test_sweep_file_expands_grid_times_random_reproducibly(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.yaml").write_text("train: {total_steps: 4321}\n")
    sweep = tmp_path / "s.yaml"
    sweep.write_text("base:\n  config: sub/mine.yaml\n  overrides: {replay.capacity: 5000}\nseeds: 0-2\n"
                     "grid:\n  learner.double: [true, false]\n"
                     "random:\n  samples: 3\n  space:\n    learner.lr: {loguniform: [1e-4, 1e-2]}\n"
                     "    replay.batch_size: {randint: [32, 34]}\n"
                     "    network.hidden_sizes: {choice: [[8], [16, 16]]}\n")
    plan = load_sweep(sweep)
    assert plan.seeds == [0, 1, 2] and len(plan.configs) == 6  # 2 grid points x 3 samples
    assert plan.swept_keys == ["learner.double", "learner.lr", "replay.batch_size", "network.hidden_sizes"]
    for c in plan.configs:
        assert c.config["train"]["total_steps"] == 4321 and c.config["replay"]["capacity"] == 5000
        assert c.config["train"]["torch_threads"] == 1  # a trial holds one CPU
        assert 1e-4 <= c.values["learner.lr"] <= 1e-2 and c.values["learner.lr"] == c.config["learner"]["lr"]
        assert c.values["replay.batch_size"] in (32, 33, 34) and c.values["network.hidden_sizes"] in ([8], [16, 16])
        assert "seed" not in c.config
    # The same samples under each grid point, and the same draw every time the file is read.
    assert [c.values["learner.lr"] for c in plan.configs[:3]] == [c.values["learner.lr"] for c in plan.configs[3:]]
    assert load_sweep(sweep).to_json() == plan.to_json()


@pytest.mark.parametrize("text, message", [
    ("gird: {learner.lr: [0.001]}\n", "unknown key 'gird'; did you mean grid?"),
    ("grid: {learner.lr: 0.001}\n", "grid.learner.lr must be a non-empty list"),
    ("grid: {learner.lrr: [0.001]}\n", "unknown config key learner.lrr; did you mean learner.lr"),
    ("grid: {learner.lr: [-1]}\n", "learner.lr=-1: learner.lr: must be > 0"),
    ("grid: {seed: [1, 2]}\n", "list the seeds under `seeds:`"),
    ("seeds: 3-1\n", "'3-1' is not a seed or a range"),
    ("random: {samples: 2, space: {learner.lr: {loguniform: [0, 1]}}}\n", "loguniform needs low > 0"),
    ("random: {samples: 2, space: {learner.lr: {normal: [0, 1]}}}\n", "random.space.learner.lr must be one of"),
])
def test_bad_sweep_file_is_one_line_error(tmp_path, text, message):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text(text)
    with pytest.raises(DeepQError, match=re.escape(message)):
        run_sweep(sweep, tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


@pytest.mark.parametrize("address, message", [("127.0.0.1:1", "nothing answers at 127.0.0.1:1"),
                                              ("ray://127.0.0.1:1", "nothing answers at ray://127.0.0.1:1"),
                                              ("nonsense", "is not auto, HOST:PORT or ray://HOST:PORT")])
def test_an_unreachable_cluster_is_a_one_line_error_in_seconds(tmp_path, address, message):
    sweep = tmp_path / "lr.yaml"
    sweep.write_text("grid: {learner.lr: [0.001]}\n")
    with pytest.raises(DeepQError, match=re.escape(message)):
        run_sweep(sweep, tmp_path / "sweep", address=address)
    assert not (tmp_path / "sweep").exists()  # nothing is written before Ray is reached


def test_bad_sweep_file_on_the_command_line(tmp_path):
    sweep = tmp_path / "bad.yaml"
    sweep.write_text("grid: {learner.lr: [-1]}\n")
    out = deepq_cli("sweep", str(sweep), "--run-dir", str(tmp_path / "sweep"))
    assert out.returncode == 2 and "learner.lr=-1: learner.lr: must be > 0" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "sweep").exists()


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    flaky = tmp_path_factory.mktemp("flaky")
    # Ray's workers are fresh processes: they find crashing_env through PYTHONPATH.
    pythonpath = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": pythonpath, FLAKY_DIR: str(flaky)}})
    yield
    ray.shutdown()


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def iqm(values):
    """Interquartile mean, written out independently of deepq.stats: drop n//4 from each end."""
    cut = len(values) // 4
    kept = sorted(values)[cut:len(values) - cut]
    return sum(kept) / len(kept)


def test_sweep_ranks_configs_by_iqm_and_retries_a_crashed_trial(ray_session, tmp_path):
    sweep = tmp_path / "lr.yaml"
    sweep.write_text(f"base:\n  env: crashing_env:FlakyCartPole-v0\n  overrides: {TINY}\n"
                     "seeds: [100, 101]\ngrid:\n  learner.lr: [1e-3, 2.5e-3]\n")
    lines = []
    result = run_sweep(sweep, tmp_path / "sweep", echo=lines.append)
    root = tmp_path / "sweep"
    assert result.finished
    rows = read_csv(root / "results.csv")
    assert len(rows) == 2 and {float(r["learner.lr"]) for r in rows} == {0.001, 0.0025}
    recomputed = []
    for row in rows:
        summaries = [json.loads((root / row["config"] / f"seed-{s}" / "summary.json").read_text())
                     for s in (100, 101)]
        finals = [s["final_eval"]["mean"] for s in summaries]
        assert float(row["iqm_final"]) == pytest.approx(iqm(finals))
        assert float(row["mean_final"]) == pytest.approx(sum(finals) / 2)
        assert float(row["min_final"]) == min(finals)
        assert row["seeds"] == "2" and row["failed"] == "0"
        recomputed.append(iqm(finals))
    assert recomputed == sorted(recomputed, reverse=True)  # best first
    assert [r["rank"] for r in rows] == ["1", "2"]
    # Exactly one trial (the first to reset FlakyCartPole with seed 100) crashed once and was retried.
    assert sum(int(r["crashes"]) for r in rows) == 1
    crash = [line for line in lines if "crashed" in line]
    assert len(crash) == 1 and "seed 100 crashed (RuntimeError: FlakyCartPole crashed on its first reset" in crash[0]
    assert "retrying" in crash[0]
    assert len([line for line in lines if "final score" in line]) == 4
    # Tune received every in-training evaluation, then the final score.
    for trial in ("config-00-seed-100", "config-01-seed-101"):
        [result_json] = root.glob(f"tune/*/{trial}/result.json")
        reports = [json.loads(line) for line in result_json.read_text().splitlines()]
        config, seed = trial.rsplit("-seed-", 1)
        summary = json.loads((root / config / f"seed-{seed}" / "summary.json").read_text())
        assert len([r for r in reports if "eval/mean_return" in r]) == 3  # evaluations at 500, 1000, 1500 steps
        assert reports[-1]["final/mean"] == summary["final_eval"]["mean"]
    assert (root / "results.png").stat().st_size > 1000


def _interrupt_after_first_finished_trial(root: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        if any(finished_summary(d) for d in root.glob("config-*/seed-*")):
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: Ray Tune stops the sweep gracefully
            return
        time.sleep(0.05)


def test_interrupted_sweep_resumes_and_reports_failed_trials(ray_session, tmp_path):
    sweep = tmp_path / "lr.yaml"
    # CrashingCartPole refuses seed 10 on every attempt: with max_failures 0 those trials fail for good.
    sweep.write_text(f"base:\n  env: crashing_env:CrashingCartPole-v0\n  overrides: {TINY}\n"
                     "seeds: [0, 1, 2, 10]\ngrid:\n  learner.lr: [1e-3]\nmax_failures: 0\n")
    root = tmp_path / "sweep"
    stop = threading.Event()
    watcher = threading.Thread(target=_interrupt_after_first_finished_trial, args=(root, stop), daemon=True)
    watcher.start()
    try:
        first = run_sweep(sweep, root, echo=lambda line: None)
    finally:
        stop.set()
        watcher.join()
    assert not first.finished
    interrupted = [r for r in read_csv(root / "results.csv") if "not finished; resume with --resume" in r["errors"]]
    assert interrupted
    kept = {d: ((d / "metrics.csv").read_bytes(), (d / "metrics.csv").stat().st_mtime_ns)
            for d in root.glob("config-*/seed-*") if finished_summary(d)}
    assert 1 <= len(kept) < 3

    lines = []
    second = run_sweep(sweep, root, resume=True, echo=lines.append)
    assert second.finished
    for d, (content, mtime) in kept.items():  # finished trials were reported again, not retrained
        assert (d / "metrics.csv").read_bytes() == content and (d / "metrics.csv").stat().st_mtime_ns == mtime
    assert len([line for line in lines if "already finished before the resume" in line]) == len(kept)
    for seed in (0, 1, 2):
        assert finished_summary(root / "config-00" / f"seed-{seed}")
    [row] = read_csv(root / "results.csv")
    assert row["seeds"] == "4" and row["failed"] == "1"
    assert row["errors"] == "seed 10: RuntimeError: CrashingCartPole refuses seed 10"
    assert "FAILED" in " ".join(lines) and "CrashingCartPole refuses seed 10" in " ".join(lines)

    # What a resume refuses, before Ray is touched.
    with pytest.raises(DeepQError, match="continue it with --resume"):
        run_sweep(sweep, root)
    changed = tmp_path / "changed.yaml"
    changed.write_text(sweep.read_text().replace("1e-3", "5e-3"))
    with pytest.raises(DeepQError, match="does not describe the sweep"):
        run_sweep(changed, root, resume=True)
    with pytest.raises(DeepQError, match="nothing to resume"):
        run_sweep(sweep, tmp_path / "elsewhere", resume=True)
