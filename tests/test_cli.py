"""The command line, run as a real process."""

import json
import os
import subprocess
import sys

import pytest

from tiny import tiny_cli

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

# A shorter budget than the shared one, with the schema's defaults for stopping, progress output and curve.png.
TINY = tiny_cli(**{"train.total_steps": 600, "eval.interval": 300, "eval.episodes": 2, "eval.stop_when_solved": True,
                   "log.progress": True, "log.plot": True})


def deepq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepq.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_train_then_evaluate_smoke(tmp_path):
    run = tmp_path / "cp3"
    out = deepq("train", "--env", "CartPole-v1", "--seed", "3", "--run-dir", str(run), *TINY)
    assert out.returncode == 0, out.stderr
    assert "run directory" in out.stdout and (run / "checkpoints" / "final.safetensors").is_file()
    out = deepq("evaluate", str(run), "--episodes", "4", "--seed", "1000", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert set(result) == {"mean", "std", "min", "max", "episodes", "returns"}
    assert result["episodes"] == 4 and len(result["returns"]) == 4
    assert result["min"] <= result["mean"] <= result["max"]
    text = deepq("evaluate", str(run), "--episodes", "4")
    assert "mean" in text.stdout and "seeds 1000-1003" in text.stdout


def test_random_baseline():
    out = deepq("evaluate", "--random", "--env", "CartPole-v1", "--episodes", "20", "--json")
    assert out.returncode == 0, out.stderr
    assert 8 <= json.loads(out.stdout)["mean"] < 60


def test_help_lists_every_hyperparameter_with_units():
    out = deepq("train", "--help")
    assert out.returncode == 0
    for key in ("learner.lr", "replay.capacity", "target.update_interval", "exploration.duration",
                "train.train_freq", "eval.threshold"):
        assert key in out.stdout
    assert "env steps" in out.stdout and "gradient steps" in out.stdout


def _unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    return str(blocker / "run")  # a path under a regular file can never be created


@pytest.mark.parametrize("args, message", [
    (["train", "--env", "CartPole-v7"], "not a registered Gymnasium environment; did you mean CartPole-v1"),
    (["train", "--env", "Pendulum-v1"], "DQN needs a Discrete action space"),
    (["train", "--env", "FrozenLake-v1"], "needs a Box observation"),
    (["train", "--run-dir", ""], "--run-dir is empty"),
    (["train", "--env", ""], "env.id: is empty"),
    (["evaluate", "--random", "--env", "CartPole-v1", "--seed", "-1"], "seed must be a whole number"),
    (["train", "learner.lr=-1"], "learner.lr: must be > 0"),
    (["train", "learner.gamma=2"], r"learner.gamma: must be in [0, 1]"),
    (["train", "replay.batch_size=999999999"], "larger than replay.capacity"),
    (["train", "learner.lrr=0.1"], "unknown config key learner.lrr; did you mean learner.lr"),
    (["train", "replay.batch_size=many"], "replay.batch_size: expected a whole number"),
    (["train", "--config", "/nonexistent.yaml"], "does not exist"),
    (["evaluate", "/nonexistent-run"], "is not a directory"),
    (["train", "--resume", "/nonexistent-run"], "is not a directory"),
    (["train", "--resume", "/"], "is not a deepq run directory (no config.yaml)"),
    (["train", "train.learning_starts=5000", "train.total_steps=1000"], "no gradient step would run"),
    (["train", "learner.lr=inf"], "learner.lr: expected a finite number, got 'inf'"),
    (["train", "env.terminal_reward=.nan"], "env.terminal_reward: expected a finite number"),
    (["train", "seed=99999999999999999999"], "seed: must be in [0, 2**63)"),
    (["train", "replay.capacity=100000000000"], "does not fit in memory (Unable to allocate"),
    (["evaluate", "--random"], "--random needs --env"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    out = deepq(*args)
    assert out.returncode == 2
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_unwritable_and_foreign_run_dirs(tmp_path):
    out = deepq("train", "--run-dir", _unwritable(tmp_path), *TINY)
    assert out.returncode == 2 and "not writable" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "notarun").mkdir()
    out = deepq("evaluate", str(tmp_path / "notarun"))
    assert out.returncode == 2 and "not a deepq run directory" in out.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "precious.txt").write_text("keep me")
    out = deepq("train", "--run-dir", str(tmp_path / "full"), *TINY)
    assert out.returncode == 2 and "not empty" in out.stderr
    assert (tmp_path / "full" / "precious.txt").read_text() == "keep me"


def test_corrupt_checkpoint_is_refused(tmp_path):
    run = tmp_path / "run"
    assert deepq("train", "--run-dir", str(run), *TINY).returncode == 0
    (run / "checkpoints" / "final.safetensors").write_bytes(b"\x80\x04garbage")
    out = deepq("evaluate", str(run))
    assert out.returncode == 2 and "not a readable safetensors file" in out.stderr
    assert "Traceback" not in out.stderr


def test_pickle_payload_is_never_executed(tmp_path):
    """A checkpoint crafted to run code under pickle is refused and the code never runs."""
    import pickle

    run = tmp_path / "run"
    assert deepq("train", "--run-dir", str(run), *TINY).returncode == 0
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (run / "checkpoints" / "final.safetensors").write_bytes(pickle.dumps(Exploit()))
    out = deepq("evaluate", str(run))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert not marker.exists()


def test_overrides_on_both_sides_of_an_option_are_all_applied():
    from deepq.cli import build_parser, _parse

    argv = ["train", "learner.lr=0.002", "--env", "Acrobot-v1", "train.total_steps=5000", "learner.lr=0.003"]
    args = _parse(build_parser(argv), argv)
    assert args.env == "Acrobot-v1"
    assert args.overrides == ["learner.lr=0.002", "train.total_steps=5000", "learner.lr=0.003"]  # the last wins


@pytest.mark.parametrize("argv,message", [
    (["train", "--seeds", "0-100000000", "--run-dir", "RUN"], "names more than 10,000 seeds"),
    (["train", "--run-dir", "RUN/" + "x" * 300], "File name too long"),
    (["train", "--resume", "RUN/" + "x" * 300], "File name too long"),
    (["evaluate", "RUN/" + "x" * 300], "File name too long"),
])
def test_sizes_and_paths_the_system_cannot_take_are_one_line(argv, message, tmp_path, capsys):
    from deepq.cli import main

    assert main([a.replace("RUN", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_evaluating_an_agent_on_an_env_it_cannot_act_in_is_one_line(tmp_path, capsys):
    import deepq
    from deepq.cli import main
    from tiny import tiny_cfg

    deepq.train(tiny_cfg(seed=0), tmp_path / "run", quiet=True)
    assert main(["evaluate", str(tmp_path / "run"), "--env", "Acrobot-v1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot act in Acrobot-v1 (observations (6,), 3 actions)" in err[0], err


def test_train_says_how_many_evaluations_the_gate_skipped(tmp_path):
    gated = tiny_cli(**{"train.total_steps": 2400, "train.learning_starts": 300, "eval.interval": 300,
                        "eval.episodes": 2, "eval.threshold": 40.0, "eval.gate_episodes": 5, "eval.gate_z": 1.0,
                        "replay.n_step": 1})
    out = deepq("train", "--env", "CartPole-v1", "--seed", "1", "--run-dir", str(tmp_path / "run"), *gated)
    assert out.returncode == 0, out.stderr
    skipped = json.loads((tmp_path / "run" / "summary.json").read_text())["skipped_evaluations"]
    assert skipped >= 1
    assert f"({skipped} skipped while training was clearly below 40: eval.gate_episodes)" in out.stdout
