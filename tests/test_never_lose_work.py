"""Stopping safely, as real processes: SIGINT and SIGTERM, divergence, a full disk, a second process on the same
run, and checkpoints that are not what they claim. Each ends in one line and keeps what was already written."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deepq.checkpoint import load_checkpoint
from tiny import tiny_cli

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

BASE = ["--quiet", "log.tensorboard=false", "log.plot=false", "eval.episodes=2", "eval.stop_when_solved=false"]
LONG = [*BASE, "train.total_steps=10000000"]
TINY = ["--quiet", *tiny_cli(**{"train.total_steps": 1200, "eval.interval": 400, "eval.episodes": 2,
                                 "log.checkpoint_interval": 500, "log.progress": True})]  # checkpoints along the way


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "deepq.cli", *args]


def deepq(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout)


def one_line_error(out: subprocess.CompletedProcess, message: str) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert message in out.stderr, out.stderr
    return out.stderr.strip()


def start_training(run: Path, *args) -> subprocess.Popen:
    """`deepq train` in the background, returned once it is training (its metrics.csv has rows)."""
    proc = subprocess.Popen(cli("train", "--run-dir", str(run), *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run / "metrics.csv").is_file() and (run / "metrics.csv").stat().st_size > 2000):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finishes_the_step_saves_and_says_how_to_resume(tmp_path, signum, status):
    run = tmp_path / "run"
    proc = start_training(run, *LONG)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status and out == ""
    [line] = err.strip().splitlines()
    name = signal.Signals(signum).name
    assert line.startswith(f"deepq: stopped by {name} at env step ")
    assert f"metrics in {run / 'metrics.csv'}, checkpoint {run / 'checkpoints' / 'latest.safetensors'}" in line
    assert line.endswith(f"resume with: deepq train --resume {run}")
    # The checkpoint is the state at the step it names, with the metrics written up to that step.
    steps = int(re.search(r"at env step (\d+);", line).group(1))
    _, state = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert state["counters"]["env_steps"] == steps
    assert state["resume"]["loop"]["metrics_bytes"] == (run / "metrics.csv").stat().st_size
    assert (run / "metrics.csv").read_text().endswith("\n")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped"] == f"interrupted ({name})" and summary["env_steps"] == steps
    assert not (run / "checkpoints" / "final.safetensors").exists()


def test_divergence_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    """An absurd learning rate with MSE and no clipping really produces NaN (the CSV shows it)."""
    run = tmp_path / "run"
    out = deepq("train", "--run-dir", str(run), *BASE, "train.total_steps=20000", "log.checkpoint_interval=1000",
                "train.learning_starts=1500", "eval.interval=0",
                "learner.lr=1e6", "learner.loss=mse", "learner.max_grad_norm=0", "learner.objective=td")
    line = one_line_error(out, "training diverged at env step ")
    assert re.search(r"train/(loss|q_mean) is (nan|inf|-inf)", line), line
    assert "try a lower learner.lr (now 1e+06), learner.loss=huber, learner.max_grad_norm=10" in line
    kept = int(re.search(r"latest.safetensors \(env step (\d+)\)", line).group(1))
    stopped = int(re.search(r"diverged at env step (\d+)", line).group(1))
    tensors, state = load_checkpoint(run / "checkpoints" / "latest.safetensors")
    assert state["counters"]["env_steps"] == kept < stopped
    assert all(torch.isfinite(t.double()).all() for k, t in tensors.items() if k.startswith(("online.", "target.")))
    assert not (run / "checkpoints" / "final.safetensors").exists()
    last = (run / "metrics.csv").read_text().strip().splitlines()[-1]
    assert "nan" in last or "inf" in last  # the row that showed it was written too
    assert json.loads((run / "summary.json").read_text())["stopped"] == "diverged"


def test_second_process_on_a_live_run_is_refused_with_the_holders_pid(tmp_path):
    run = tmp_path / "run"
    proc = start_training(run, *LONG, "log.checkpoint_interval=0")
    try:
        for args in (["train", "--resume", str(run)], ["train", "--run-dir", str(run), *TINY]):
            one_line_error(deepq(*args), f"run directory {run} is in use by another deepq process (pid {proc.pid})")
    finally:
        proc.kill()
        proc.wait()
    # SIGKILL leaves no stale lock (the kernel drops it with the process): the resume gets past the lock and
    # finds no checkpoint, the run having been killed before its first.
    one_line_error(deepq("train", "--resume", str(run)), "has no checkpoints/latest.safetensors to resume from")


@pytest.fixture
def small_disk(tmpfs):
    """A real 1 MiB filesystem (tmpfs) for the test."""
    return tmpfs("1m")


def test_disk_full_keeps_the_previous_checkpoint_and_resumes_exactly(tmp_path, small_disk):
    """The replay buffer grows each checkpoint until one no longer fits next to the previous one."""
    config = [*BASE, "train.total_steps=14000", "log.checkpoint_interval=2000", "eval.interval=5000"]
    run = small_disk / "run"
    reference = subprocess.Popen(cli("train", "--run-dir", str(tmp_path / "ref"), *config),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = one_line_error(deepq("train", "--run-dir", str(run), *config),
                          f"could not write {run / 'checkpoints' / 'latest.safetensors'} (No space left on device)")
    assert line.endswith(f"is intact: free some space, then resume with: deepq train --resume {run}")
    kept = int(re.search(r"the latest checkpoint \(env step (\d+)\)", line).group(1))
    assert load_checkpoint(run / "checkpoints" / "latest.safetensors")[1]["counters"]["env_steps"] == kept
    assert not list((run / "checkpoints").glob(".*.tmp"))
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    out = deepq("train", "--resume", str(run), "--quiet")
    assert out.returncode == 0, out.stderr
    assert reference.wait(timeout=300) == 0
    from test_resume import assert_same_run

    assert_same_run(tmp_path / "ref", run)  # nothing was lost


def test_resume_refuses_a_directory_it_cannot_write(tmp_path, small_disk):
    run = small_disk / "run"
    assert deepq("train", "--run-dir", str(run), *TINY).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    one_line_error(deepq("train", "--resume", str(run), "train.total_steps=5000"),
                   f"run directory {run} is not writable (Read-only file system)")


# --- checkpoints that cannot be resumed ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """A finished CartPole run and a finished Acrobot run, to break copies of."""
    root = tmp_path_factory.mktemp("runs")
    for env in ("CartPole-v1", "Acrobot-v1"):
        out = deepq("train", "--env", env, "--run-dir", str(root / env), *TINY, "env.max_episode_steps=100")
        assert out.returncode == 0, out.stderr
    return root


def broken_copy(finished_runs, tmp_path, damage) -> Path:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_runs / "CartPole-v1", run)
    damage(run / "checkpoints" / "latest.safetensors", finished_runs)
    return run


def truncate(path, _):
    path.write_bytes(path.read_bytes()[:5000])


def foreign_safetensors(path, _):
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(3)}, str(path), metadata={"producer": "another tool"})


def weights_only(path, _):
    path.write_bytes((path.parent / "final.safetensors").read_bytes())


def other_env(path, runs):
    path.write_bytes((runs / "Acrobot-v1" / "checkpoints" / "latest.safetensors").read_bytes())


def missing(path, _):
    path.unlink()


def pickle_payload(path, _):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {path.parent / 'pwned'}",))

    path.write_bytes(pickle.dumps(Exploit()))


@pytest.mark.parametrize("damage, message", [
    (truncate, "is not a readable safetensors file (Error while deserializing header"),
    (foreign_safetensors, "is not a deepq checkpoint (format None); load only files written by deepq"),
    (weights_only, "holds an agent only, not a training state to resume from"),
    (other_env, "was trained on Acrobot-v1 (obs 6, actions 3) but this run is CartPole-v1 (obs 4, actions 2)"),
    (missing, "has no checkpoints/latest.safetensors to resume from"),
    (pickle_payload, "is not a readable safetensors file"),
])
def test_unresumable_checkpoint_is_refused_and_nothing_is_touched(finished_runs, tmp_path, damage, message):
    run = broken_copy(finished_runs, tmp_path, damage)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    one_line_error(deepq("train", "--resume", str(run), "train.total_steps=5000"), message)
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before and not (run / "checkpoints" / "pwned").exists()


@pytest.mark.parametrize("args, message", [
    (["learner.lr=0.1"], "so learner.lr cannot change ("),
    (["learner.lr=0.1"], "; to try learner.lr=0.1, start a new run: deepq train --config "),
    (["--seed", "5"], "so seed cannot change (0 -> 5)"),
    (["--env", "Acrobot-v1"], "so env.id cannot change (CartPole-v1 -> Acrobot-v1)"),
    (["train.total_steps=600"], "train.total_steps can only grow on a resume (1200 -> 600)"),
    ([], "already finished its 1200 env steps; to train on, raise the budget: deepq train --resume"),
    (["--config", "x.yaml"], "--resume continues the run as its config.yaml says; drop --config"),
    (["--seeds", "0-1"], "drop --seeds"),
    (["--run-dir", "elsewhere"], "continues that directory; drop --run-dir elsewhere"),
])
def test_resume_refuses_what_would_change_the_run(finished_runs, args, message):
    one_line_error(deepq("train", "--resume", str(finished_runs / "CartPole-v1"), *args), message)


def test_resume_of_a_multi_seed_directory_names_a_seed(tmp_path):
    (tmp_path / "seed-0").mkdir()
    (tmp_path / "seed-0" / "config.yaml").write_text("seed: 0\n")
    one_line_error(deepq("train", "--resume", str(tmp_path)), "holds several seeds (--seeds); resume one of them")


def test_nothing_in_deepq_can_unpickle():
    """Checkpoints, replay buffers, env and RNG states load through safetensors and JSON only."""
    package = Path(__file__).parent.parent / "deepq"
    forbidden = re.compile(r"\bpickle\.loads?\(|\btorch\.load\(|\bnp\.load\(|\bnumpy\.load\(|allow_pickle|"
                           r"\bcloudpickle\b|\bshelve\b|\bmarshal\.loads?\(|\bjoblib\b|yaml\.load\(|yaml\.unsafe_load")
    hits = [f"{p.name}:{n}" for p in package.rglob("*.py") for n, line in enumerate(p.read_text().splitlines(), 1)
            if forbidden.search(line)]
    assert not hits, hits
