"""`deepq train --print-config`, `deepq train --help` with the values a run would use, `--preset none`, and the
one-line error for a task whose extra is not installed (issue 12)."""

import subprocess
import sys

import yaml

from deepq.cli import main
from deepq.config.schema import Config, resolve
from deepq.config.sources import resolve_with_sources


def test_print_config_is_the_resolved_config_and_trains_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--env", "Acrobot-v1", "--seed", "4", "learner.lr=0.002", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert Config.from_dict(printed) == resolve(env_id="Acrobot-v1", seed=4, overrides={"learner.lr": 0.002})
    assert not (tmp_path / "runs").exists()


def test_printed_config_is_a_valid_config_file(capsys, tmp_path):
    assert main(["train", "--env", "CartPole-v1", "--print-config"]) == 0
    (tmp_path / "c.yaml").write_text(capsys.readouterr().out)
    assert resolve(config_file=str(tmp_path / "c.yaml")) == resolve(env_id="CartPole-v1")


def test_print_config_checks_the_env(capsys):
    assert main(["train", "--env", "CartPole-v9", "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CartPole-v1" in err[0]


def test_preset_none_is_the_code_defaults():
    assert resolve(env_id="CartPole-v1", preset="none") == Config()
    assert resolve(env_id="CartPole-v1") != Config()  # the tuned preset otherwise


def test_sources_name_each_layer(tmp_path):
    (tmp_path / "c.yaml").write_text("replay: {batch_size: 77}\n")
    cfg, src = resolve_with_sources(env_id="CartPole-v1", config_file=str(tmp_path / "c.yaml"),
                                    overrides={"learner.lr": 0.003}, seed=5)
    assert cfg.replay.batch_size == 77 and cfg.learner.lr == 0.003
    assert src["replay.batch_size"] == f"--config {tmp_path / 'c.yaml'}"
    assert src["learner.lr"] == "key=value"
    assert src["seed"] == "--seed" and src["env.id"] == "--env"
    assert src["network.dueling"] == "preset CartPole-v1"
    assert src["learner.huber_delta"] == "code default"
    _, src = resolve_with_sources(env_id="Acrobot-v1", preset="none")
    assert set(src.values()) == {"code default", "--env"}
    _, src = resolve_with_sources(env_id="MountainCar-v0", overrides={"env.kwargs": {"goal_velocity": 0.01}})
    assert src["env.kwargs"] == "key=value"  # a mapping is one hyperparameter, whatever keys it holds


def test_help_shows_the_values_this_run_would_use(capsys):
    for argv, line in (
            (["train", "--env", "CartPole-v1", "--help"], "[preset CartPole-v1]"),
            (["train", "--env", "CartPole-v1", "learner.lr=0.0042", "--help"], "= 0.0042  [key=value]"),
            (["train", "--env", "Acrobot-v1", "--preset", "none", "--help"], "[code default]")):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0
        out = capsys.readouterr().out
        assert line in out, argv
    try:
        main(["train", "--env", "CartPole-v1", "--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    lr = resolve(env_id="CartPole-v1").learner.lr
    assert f"learner.lr                     = {lr}  [preset CartPole-v1]" in out


def test_help_with_bad_input_still_prints(capsys):
    try:
        main(["train", "--env", "CartPole-v1", "learner.lr=-1", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "learner.lr" in capsys.readouterr().out  # the error shows when the command runs without --help


BLOCK_BOX2D = "import sys; sys.modules['Box2D'] = None; from deepq.cli import main; sys.exit(main(sys.argv[1:]))"


def test_missing_box2d_names_the_extra(tmp_path):
    """Without Box2D (blocked in a fresh interpreter), LunarLander is one line naming the extra, exit 2."""
    for argv in (["train", "--env", "LunarLander-v3", "--run-dir", str(tmp_path / "r")],
                 ["train", "--env", "LunarLander-v3", "--print-config"],
                 ["evaluate", "--random", "--env", "LunarLander-v3"]):
        proc = subprocess.run([sys.executable, "-c", BLOCK_BOX2D, *argv], capture_output=True, text=True)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert 'pip install -c constraints.txt -e ".[box2d]"' in lines[0] and "LunarLander-v3" in lines[0]
    assert not (tmp_path / "r").exists()
