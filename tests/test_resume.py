"""Exact resume: a run stopped at any point (SIGKILL, a crash, Ctrl-C) and resumed ends bit for bit as the same run
never stopped. Compared: every tensor of final.safetensors, and metrics.csv cell for cell except time/*."""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import numpy as np
import torch

import deepq
from deepq.run.callbacks import Callback
from deepq.checkpoint import load_checkpoint, save_checkpoint
from deepq.errors import DeepQError
from deepq.run.interrupts import Interrupted
from tiny import tiny_cfg

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

TESTS = Path(__file__).parent


# --- what "the same run" means --------------------------------------------------------------------------------

def csv_without_time(run: Path) -> list[list[str]]:
    """metrics.csv as text cells, the wall-clock columns (time/*) left out."""
    with open(run / "metrics.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [i for i, name in enumerate(rows[0]) if not name.startswith("time/")]
    return [[row[i] for i in keep] for row in rows]


def assert_same_run(a: Path, b: Path) -> None:
    wa, _ = load_checkpoint(a / "checkpoints" / "final.safetensors")
    wb, _ = load_checkpoint(b / "checkpoints" / "final.safetensors")
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, different
    rows_a, rows_b = csv_without_time(a), csv_without_time(b)
    assert len(rows_a) == len(rows_b) and rows_a == rows_b


def latest_steps(run: Path) -> int:
    return load_checkpoint(run / "checkpoints" / "latest.safetensors")[1]["counters"]["env_steps"]


# --- real processes, killed with SIGKILL -------------------------------------------------------------------------

def cli(*args) -> list[str]:
    return [sys.executable, "-m", "deepq.cli", "train", *args]


def checkpoint_id(run: Path):
    """Changes with every checkpoint written (each one is a new file renamed into place: a new inode)."""
    try:
        st = (run / "checkpoints" / "latest.safetensors").stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def run_until_killed(args: list[str], run: Path, how: str) -> int:
    """Start `deepq train`, SIGKILL it once it has written one more checkpoint; returns the latest's env steps.

    how: "after" kills right after a new checkpoint appears; "later" a tenth of a second after it; "mid-write"
    as soon as the next checkpoint's temp file exists, often while it is being written (best effort: if the
    write is missed, the kill comes right after it)."""
    before = checkpoint_id(run)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()[1]}"
            assert time.monotonic() < deadline
            if how == "mid-write" and (run / "checkpoints").is_dir() and \
                    any(name.startswith(".latest.") for name in os.listdir(run / "checkpoints")):
                break
            now = checkpoint_id(run)
            if now is not None and now != before:
                if how == "later":
                    time.sleep(0.1)
                break
            time.sleep(0.0005 if how == "mid-write" else 0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return latest_steps(run)


KILL_RUNS = {
    "uniform": ["replay.kind=uniform", "replay.n_step=1"],
    "prioritized-3step": ["replay.kind=prioritized", "replay.n_step=3"],
}


@pytest.mark.parametrize("variant", list(KILL_RUNS))
def test_sigkill_at_several_points_then_resume_is_bit_identical(tmp_path, variant):
    """The CartPole preset, killed after its 1st checkpoint, a moment after a later one and during a write,
    resumed each time: it ends exactly as the same run never killed."""
    config = ["--seed", "3", "--quiet", "train.total_steps=9000", "train.learning_starts=500",
              "log.checkpoint_interval=1500", "eval.interval=1000", "eval.episodes=3", "eval.stop_when_solved=false",
              "log.tensorboard=false", "log.plot=false", *KILL_RUNS[variant]]
    ref, run = tmp_path / "ref", tmp_path / "run"
    reference = subprocess.Popen(cli("--run-dir", str(ref), *config), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)  # alongside: the machine has two cores
    steps = [run_until_killed(cli("--run-dir", str(run), *config), run, "after")]
    for how in ("later", "mid-write"):
        steps.append(run_until_killed(cli("--resume", str(run), "--quiet"), run, how))
    assert steps == sorted(steps) and steps[0] < steps[-1], steps  # each resume got further
    done = subprocess.run(cli("--resume", str(run), "--quiet"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not list((run / "checkpoints").glob(".*.tmp"))  # a write killed midway left nothing behind
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err
    assert_same_run(ref, run)


# --- in process: every replay kind and vector env, stopped by a crash or by Ctrl-C -------------------------------

class CrashAt(Callback):
    """Raises once the run reaches `env_steps`: a crash in the middle of training."""

    def __init__(self, env_steps: int) -> None:
        self.env_steps = env_steps

    def on_episode(self, counters, *_) -> None:
        if counters["env_steps"] >= self.env_steps:
            raise RuntimeError("crash")


class CtrlCAt(CrashAt):
    """Sends this process a real SIGINT once the run reaches `env_steps`."""

    def on_episode(self, counters, *_) -> None:
        if counters["env_steps"] >= self.env_steps:
            os.kill(os.getpid(), signal.SIGINT)


def tiny(env_id="CartPole-v1", **overrides):
    """The shared tiny config, longer and with checkpoints along the way, on plain 1-step uniform replay."""
    return tiny_cfg(env_id, seed=1, **{
        "train.total_steps": 2400, "train.learning_starts": 300, "eval.interval": 600, "eval.episodes": 2,
        "log.checkpoint_interval": 500, "replay.kind": "uniform", "replay.n_step": 1, **overrides})


VARIANTS = {
    "uniform": tiny(),
    "prioritized": tiny(**{"replay.kind": "prioritized"}),
    "loss_softmax": tiny(**{"replay.kind": "loss_softmax", "replay.sort_interval": 7}),
    "none": tiny(**{"replay.kind": "none", "train.train_freq": 1}),
    "nstep-one-env": tiny(**{"replay.n_step": 4, "env.num_envs": 1}),
    "acrobot-sync": tiny("Acrobot-v1", **{"env.max_episode_steps": 120, "env.num_envs": 2}),
    "acrobot-arrays": tiny("Acrobot-v1", **{"env.max_episode_steps": 120, "env.num_envs": 4}),
    "cartpole-v0-arrays-limit": tiny("CartPole-v0", **{"env.max_episode_steps": 90, "env.num_envs": 3}),
    "mountaincar-sync": tiny("MountainCar-v0", **{"env.max_episode_steps": 90, "replay.n_step": 2}),
    "mountaincar-action-repeat": tiny("MountainCar-v0", **{"env.max_episode_steps": 90, "env.action_repeat": 4}),
    # the gate's window of training returns is part of the state: 3 of 8 checks skipped, solved at 1,202
    "eval-gate": tiny(**{"eval.gate_episodes": 5, "eval.gate_z": 1.0, "eval.threshold": 40.0, "eval.interval": 300}),
    "frames-nstep": tiny(**{"replay.storage": "frames", "replay.n_step": 3}),
    "frames-prioritized": tiny(**{"replay.storage": "frames", "replay.kind": "prioritized", "replay.n_step": 2}),
    "hl-gauss-fast-path": tiny(**{"learner.objective": "hl_gauss", "learner.v_min": 0.0, "learner.v_max": 60.0,
                                  "replay.kind": "prioritized"}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_crash_then_resume_twice_is_bit_identical(tmp_path, variant):
    cfg = VARIANTS[variant]
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CrashAt(1100)])
    first = latest_steps(tmp_path / "run")
    with pytest.raises(RuntimeError, match="crash"):
        deepq.resume(tmp_path / "run", quiet=True, callbacks=[CrashAt(1900)])
    assert latest_steps(tmp_path / "run") > first
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_acrobot_checkpoint_from_gymnasiums_vector_resumes_as_arrays(tmp_path, monkeypatch):
    """A checkpoint written when deepq stepped Acrobot with Gymnasium's synchronous vector resumes, exactly, on
    deepq's array version (the same copies, generators and time limits)."""
    from deepq.envs import acrobot
    cfg = VARIANTS["acrobot-arrays"]
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    monkeypatch.setattr(acrobot, "ENABLED", False)
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CrashAt(1100)])
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.safetensors")[1]["resume"]["env"]["kind"] \
        == "SyncVectorEnv"
    monkeypatch.setattr(acrobot, "ENABLED", True)
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_lr_decaying_from_the_solve_resumes_exactly(tmp_path):
    """learner.lr_decay_from=solved: the lr after a resume comes from the solve the checkpoint recorded."""
    cfg = tiny(**{"learner.lr_end": 0.0, "learner.lr_decay_from": "solved", "eval.threshold": 25.0,
                  "eval.confirm_episodes": 5, "eval.confirm_z": 0.0})
    ref = deepq.train(cfg, tmp_path / "ref", quiet=True)
    assert ref.result.solved_at_env_steps <= 1200, ref.result  # solved before the crash, decaying after it
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CrashAt(1900)])
    assert latest_steps(tmp_path / "run") > ref.result.solved_at_env_steps
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_cartpole_checkpoint_from_gymnasiums_vector_resumes_on_deepqs(tmp_path, monkeypatch):
    """A checkpoint written when deepq stepped CartPole with Gymnasium's own CartPoleVectorEnv resumes, exactly, on
    deepq's leaner subclass (the same state under the same kind)."""
    from deepq.envs import cartpole
    cfg = VARIANTS["uniform"]
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    monkeypatch.setattr(cartpole, "ENABLED", False)
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CrashAt(1100)])
    monkeypatch.setattr(cartpole, "ENABLED", True)
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_ctrl_c_saves_the_step_it_finished_and_resumes_exactly(tmp_path):
    cfg = VARIANTS["prioritized"]
    deepq.train(cfg, tmp_path / "ref", quiet=True)
    with pytest.raises(Interrupted) as stop:
        deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[CtrlCAt(1234)])
    assert stop.value.exit_status == 130 and "resume with: deepq train --resume" in str(stop.value)
    stopped_at = latest_steps(tmp_path / "run")
    assert f"at env step {stopped_at};" in str(stop.value) and stopped_at >= 1234  # not the periodic one at 1000
    assert '"stopped": "interrupted (SIGINT)"' in (tmp_path / "run" / "summary.json").read_text()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers are put back
    deepq.resume(tmp_path / "run", quiet=True)
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_budget_can_grow_after_the_end(tmp_path):
    cfg = VARIANTS["uniform"].replace(**{"learner.lr_end": None})  # a constant lr: nothing depends on the budget
    deepq.train(cfg.replace(**{"train.total_steps": 3600}), tmp_path / "ref", quiet=True)
    deepq.train(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(DeepQError, match="already finished its 2400 env steps; to train on, raise the budget"):
        deepq.resume(tmp_path / "run")
    with pytest.raises(DeepQError, match=r"can only grow on a resume \(2400 -> 1000\)"):
        deepq.resume(tmp_path / "run", total_steps=1000)
    agent = deepq.resume(tmp_path / "run", total_steps=3600, quiet=True)
    assert agent.result.env_steps >= 3600
    assert "total_steps: 3600" in (tmp_path / "run" / "config.yaml").read_text()  # the run describes itself
    # Raising the budget also stretches what depends on it (none here: uniform replay, constant lr, linear
    # epsilon over its own duration), so this run equals one trained for 3600 steps from the start.
    assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_env_without_capturable_state_restarts_its_episodes_deterministically(tmp_path, capsys):
    sys.path.insert(0, str(TESTS))
    cfg = tiny("crashing_env:CrashingCartPole-v0")
    with pytest.raises(RuntimeError, match="crash"):
        deepq.train(cfg, tmp_path / "a", quiet=True, callbacks=[CrashAt(1100)])
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    capsys.readouterr()
    deepq.resume(tmp_path / "a", quiet=True)
    notice = capsys.readouterr().err.strip().splitlines()
    assert len(notice) == 1 and "episodes restart on resume" in notice[0] and "not bit for bit" in notice[0]
    deepq.resume(tmp_path / "b", quiet=True)
    assert_same_run(tmp_path / "a", tmp_path / "b")  # the same checkpoint resumes to the same run


def test_a_solved_run_resumes_only_with_a_larger_budget(tmp_path):
    # Issue 13: training on past the solve takes a larger budget (tests/test_run_dirs.py trains on with one).
    cfg = VARIANTS["uniform"].replace(**{"eval.stop_when_solved": True, "eval.threshold": 9.0})
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.solved
    with pytest.raises(DeepQError, match="stopped when it solved the task .* raise the budget: deepq.resume"):
        deepq.resume(tmp_path / "run")


def test_checkpoint_with_the_older_per_tensor_adam_state_evaluates_but_does_not_resume(tmp_path):
    # Before the flat weight vector, Adam's state was saved per parameter tensor (optim.0.exp_avg, ...).
    run = tmp_path / "run"
    trained = deepq.train(VARIANTS["uniform"].replace(**{"train.total_steps": 1200}), run, quiet=True)
    expected = deepq.evaluate(trained, episodes=5, seed=1000).returns  # the agent in memory, before the rewrite
    for which in ("latest", "final"):
        path = run / "checkpoints" / f"{which}.safetensors"
        tensors, state = load_checkpoint(path)
        old = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
        old.update({"optim.0.exp_avg": torch.zeros(64, 4), "optim.0.exp_avg_sq": torch.zeros(64, 4),
                    "optim.0.step": torch.tensor(5.0)})
        save_checkpoint(path, old, state)
    # the weights still load for evaluation, from the run directory and through load_agent
    assert np.array_equal(deepq.evaluate(run, episodes=5, seed=1000).returns, expected)
    assert np.array_equal(deepq.evaluate(deepq.load_agent(run), episodes=5, seed=1000).returns, expected)
    with pytest.raises(DeepQError, match="optimizer state is per tensor"):
        deepq.resume(run, total_steps=2400, quiet=True)
