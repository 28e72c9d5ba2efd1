"""`deepq train --seeds`: real worker processes, real run directories, real crashes and a real Ctrl-C."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import deepq
from deepq.errors import DeepQError
from deepq.experiments.multiseed import parse_seeds, train_seeds
from tiny import tiny_cfg, tiny_cli

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

TESTS = Path(__file__).parent
DEFAULTS = {"eval.stop_when_solved": True, "log.progress": True}  # these runs keep the schema's defaults for both
TINY = tiny_cli(**DEFAULTS)


def deepq_cli(*args, **kwargs):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "deepq.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env, **kwargs)


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5,0,3") == [0, 3, 5]
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    for bad in ("", "0-", "a", "3-1", "0,0", "0-2,1", "-1"):
        with pytest.raises(DeepQError):
            parse_seeds(bad)


def test_seeds_write_one_run_per_seed_and_a_consistent_table(tmp_path):
    out = deepq_cli("train", "--seeds", "0,3", "--run-dir", str(tmp_path / "cp"), *TINY)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "cp"
    rows = read_csv(root / "summary.csv")
    assert [r["seed"] for r in rows] == ["0", "3"]
    finals = []
    for row in rows:
        run = root / row["run_dir"]
        assert run == root / f"seed-{row['seed']}"
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        assert cfg["seed"] == int(row["seed"]) and cfg["train"]["torch_threads"] == 1
        summary = json.loads((run / "summary.json").read_text())
        assert row["status"] == ("solved" if summary["solved"] else "unsolved")
        assert int(row["env_steps"]) == summary["env_steps"] >= 1500 and row["error"] == ""
        assert float(row["final_mean"]) == summary["final_eval"]["mean"]
        assert float(row["final_std"]) == summary["final_eval"]["std"]
        assert summary["final_eval"]["episodes"] == 100 and summary["final_eval"]["seed"] == 1000
        finals.append(summary["final_eval"]["mean"])
    # The recorded final score is the greedy score on reset seeds 1000-1099, recomputed here from the checkpoint.
    assert deepq.evaluate(root / "seed-3", episodes=100, seed=1000).mean == finals[1]
    agg = json.loads((root / "aggregate.json").read_text())
    assert agg["seeds"] == 2 and agg["failed"] == 0 and agg["workers"] == 2
    assert agg["final_mean"] == pytest.approx(sum(finals) / 2)
    low, high = agg["final_ci95"]
    assert low < agg["final_mean"] < high
    assert "2 seeds (0 failed)" in out.stdout and "Student t, 1 df" in out.stdout
    assert f"{finals[0]:.1f}" in out.stdout
    assert (root / "curve.png").stat().st_size > 1000


def test_a_worker_that_trains_seed_after_seed_gives_each_seed_its_own_result(tmp_path):
    # One worker trains seed 3 after seed 0 in the same process; seed 3 alone in a fresh worker must match it.
    cfg = tiny_cfg(seed=None, **DEFAULTS)
    train_seeds(cfg, [0, 3], tmp_path / "both", workers=1)
    train_seeds(cfg, [3], tmp_path / "alone", workers=1)
    timeless = lambda rows: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]  # noqa: E731
    both, alone = (read_csv(tmp_path / d / "seed-3" / "metrics.csv") for d in ("both", "alone"))
    assert timeless(both) == timeless(alone) and len(both) > 5


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0-"], "'0-' is not a seed or a range"),
    (["--seeds", "3-1"], "'3-1' is not a seed or a range"),
    (["--seeds", "0,1,1"], "names a seed twice"),
    (["--seeds", "0-1", "--seed", "2"], "not both"),
    (["--seeds", "0-1", "--workers", "0"], "--workers must be >= 1"),
])
def test_bad_seed_spec_is_one_line_exit_2(tmp_path, args, message):
    out = deepq_cli("train", "--run-dir", str(tmp_path / "x"), *args, *TINY)
    assert out.returncode == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "x").exists()


def test_a_non_empty_run_dir_is_refused(tmp_path):
    (tmp_path / "cp").mkdir()
    (tmp_path / "cp" / "precious.txt").write_text("keep me")
    with pytest.raises(DeepQError, match="not empty"):
        train_seeds(deepq.Config(), [0, 1], tmp_path / "cp")
    assert (tmp_path / "cp" / "precious.txt").read_text() == "keep me"


def test_crashing_seeds_are_reported_not_dropped(tiny_cfg, tmp_path):
    # Seed 10's environment raises inside its worker; seed 20's kills its worker outright; seed 0 is fine.
    cfg = tiny_cfg.replace(**{"env.id": "crashing_env:CrashingCartPole-v0", "log.plot": False})
    table = train_seeds(cfg, [0, 10, 20], tmp_path / "cp", workers=2)
    rows = {r.seed: r for r in table.rows}
    assert rows[0].ok and rows[0].final_mean > 0 and rows[0].error == ""
    assert rows[10].status == "failed" and rows[10].error == "RuntimeError: CrashingCartPole refuses seed 10"
    assert rows[20].status == "failed" and rows[20].error == "worker process died from signal SIGKILL"
    assert table.aggregate.failed == 2 and table.aggregate.final.mean == rows[0].final_mean
    csv_rows = {r["seed"]: r for r in read_csv(tmp_path / "cp" / "summary.csv")}
    assert csv_rows["10"]["status"] == "failed" and "refuses seed 10" in csv_rows["10"]["error"]
    assert csv_rows["20"]["error"] == "worker process died from signal SIGKILL"
    text = table.format()
    assert "FAILED" in text and "3 seeds (2 failed)" in text


def _children(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cmdline = (stat.parent / "cmdline").read_bytes() if int(fields[1]) == pid else b""
        if b"spawn_main" in cmdline:  # the seed workers, not multiprocessing's helper processes
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes through /proc")
def test_ctrl_c_stops_every_worker_cleanly(tmp_path):
    root = tmp_path / "cp"
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    parent = subprocess.Popen([sys.executable, "-m", "deepq.cli", "train", "--seeds", "0-1", "--run-dir", str(root),
                               "train.total_steps=10000000", "eval.interval=0", "log.tensorboard=false",
                               "log.plot=false"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        metrics = [root / f"seed-{s}" / "metrics.csv" for s in (0, 1)]
        while not all(m.is_file() and m.stat().st_size > 200 for m in metrics):  # both seeds are training
            assert time.monotonic() < deadline and parent.poll() is None, parent.communicate()
            time.sleep(0.2)
        workers = _children(parent.pid)
        assert len(workers) >= 2
        parent.send_signal(signal.SIGINT)  # the parent alone: it must pass the interrupt on
        _, stderr = parent.communicate(timeout=60)
    finally:
        parent.kill()
    assert parent.returncode == 130 and "interrupted" in stderr
    hint = stderr.strip().splitlines()[-1]  # where the work is and how to go on
    assert "0 of 2 seeds finished" in hint and f"deepq train --resume {root / 'seed-0'}" in hint and \
        f"deepq train --resume {root / 'seed-1'}" in hint, stderr
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    for seed in (0, 1):  # each worker stopped as one interrupted run does: summary and latest weights on disk
        summary = json.loads((root / f"seed-{seed}" / "summary.json").read_text())
        assert 0 < summary["env_steps"] < 10000000 and "final_eval" not in summary
        assert (root / f"seed-{seed}" / "checkpoints" / "latest.safetensors").is_file()
