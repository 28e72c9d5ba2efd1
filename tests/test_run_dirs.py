"""Run directories as users meet them (issue 13): --overwrite / overwrite=True, numbered runs/ENV_N, the directory of
`--seeds` given to evaluate, plot and play, train_seeds from a plain script, and resuming a solved run.
Real processes and real CartPole, tiny budgets."""

import json
import subprocess
import sys
import textwrap

import pytest

import deepq
from deepq.run import runs
from tiny import tiny_cfg, tiny_cli, tiny_overrides

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

# Shorter than the shared tiny config, and stopping when solved (the schema's default).
SHORT = {"train.total_steps": 400, "train.learning_starts": 100, "eval.interval": 200, "eval.episodes": 2,
         "eval.screen_episodes": None, "eval.stop_when_solved": True}
TINY = tiny_overrides(**SHORT)  # a plain dict: the scripts below embed it with repr()
TINY_CLI = tiny_cli(**SHORT)


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deepq.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=180)


def cfg(**extra):
    return tiny_cfg(**{**SHORT, **extra})


def one_line(out):
    return out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_python_overwrite_and_a_python_worded_refusal(tmp_path):
    deepq.train(cfg(), tmp_path / "cp0", quiet=True)
    with pytest.raises(deepq.DeepQError) as info:
        deepq.train(cfg(), tmp_path / "cp0", quiet=True)
    message = str(info.value)
    assert "overwrite=True" in message and "deepq.resume(" in message and "--" not in message
    (tmp_path / "cp0" / "extra.txt").write_text("from the old run")
    agent = deepq.train(cfg().replace(seed=1), tmp_path / "cp0", quiet=True, overwrite=True)
    assert agent.cfg.seed == 1 and not (tmp_path / "cp0" / "extra.txt").exists()
    assert runs.read_run_config(tmp_path / "cp0").seed == 1


def test_cli_overwrite_refuses_a_live_run_and_a_folder_that_is_not_a_run(tmp_path):
    assert cli("train", "--run-dir", str(tmp_path / "cp"), *TINY_CLI).returncode == 0
    out = cli("train", "--run-dir", str(tmp_path / "cp"), *TINY_CLI)
    assert one_line(out) and "--overwrite" in out.stderr and "deepq.resume" not in out.stderr
    lock = runs.RunLock(tmp_path / "cp")  # this process trains it, as far as anyone else can tell
    try:
        out = cli("train", "--run-dir", str(tmp_path / "cp"), "--overwrite", *TINY_CLI)
        assert one_line(out) and "in use by another deepq process" in out.stderr
        assert (tmp_path / "cp" / "config.yaml").is_file()  # nothing was deleted
    finally:
        lock.release()
    assert cli("train", "--run-dir", str(tmp_path / "cp"), "--overwrite", "--seed", "5", *TINY_CLI).returncode == 0
    assert runs.read_run_config(tmp_path / "cp").seed == 5
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    out = cli("train", "--run-dir", str(tmp_path / "mine"), "--overwrite", *TINY_CLI)
    assert one_line(out) and "not a deepq run directory" in out.stderr
    assert (tmp_path / "mine" / "precious.txt").read_text() == "keep me"


def test_runs_without_a_run_dir_are_numbered_and_announced(tmp_path):
    first = cli("train", *TINY_CLI, cwd=tmp_path)
    second = cli("train", *TINY_CLI, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "deepq: run directory runs/CartPole-v1_1" in first.stderr
    assert "deepq: run directory runs/CartPole-v1_2" in second.stderr
    assert (tmp_path / "runs" / "CartPole-v1_2" / "config.yaml").is_file()


def test_evaluate_plot_and_play_take_the_directory_of_several_seeds(tmp_path):
    table = deepq.train_seeds(cfg(), [0, 1], tmp_path / "cp", workers=2)
    assert [r.status for r in table.rows] == ["unsolved", "unsolved"]
    out = cli("evaluate", str(tmp_path / "cp"), "--episodes", "3")
    assert out.returncode == 0, out.stderr
    assert "seed-0" in out.stdout and "seed-1" in out.stdout and "2 seeds" in out.stdout and "IQM" in out.stdout
    out = cli("evaluate", str(tmp_path / "cp"), "--seeds", "1", "--episodes", "3", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["episodes"] == 3
    out = cli("evaluate", str(tmp_path / "cp"), "--seeds", "7")
    assert one_line(out) and "holds no seed 7" in out.stderr
    out = cli("plot", str(tmp_path / "cp"), "--out", str(tmp_path / "c.png"), "--aggregate", str(tmp_path / "a.png"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "c.png").stat().st_size > 10_000 and (tmp_path / "a.png").stat().st_size > 10_000
    out = cli("play", str(tmp_path / "cp"), "--video", str(tmp_path / "v.gif"), "--scale", "0.25")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("returns:") == 1 and len(out.stdout.split("returns:")[1].split(",")) == 2
    with pytest.raises(deepq.DeepQError, match="holds the runs of 2 seeds"):
        deepq.evaluate(tmp_path / "cp")


SCRIPT = textwrap.dedent('''
    import deepq

    cfg = deepq.config.resolve(env_id="CartPole-v1", seed=0, overrides={TINY!r})
    table = deepq.train_seeds(cfg, [0, 1], "cp", workers=2)
    print("statuses", [r.status for r in table.rows])
''')


def test_train_seeds_works_from_a_plain_script_without_a_main_guard(tmp_path):
    (tmp_path / "plain.py").write_text(SCRIPT.replace("{TINY!r}", repr(TINY)))
    out = subprocess.run([sys.executable, "plain.py"], capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "statuses ['unsolved', 'unsolved']" in out.stdout and "Traceback" not in out.stderr


FACTORY_SCRIPT = textwrap.dedent('''
    import deepq
    import gymnasium as gym


    def make():
        return gym.make("CartPole-v1")


    def main():
        cfg = deepq.config.resolve(env_id="CartPole-v1", seed=0, overrides={TINY!r})
        try:
            table = deepq.train_seeds(cfg, [0, 1], "cp", workers=2, env=make)
        except deepq.DeepQError as exc:
            print("refused:", exc)
            return
        print("statuses", [r.status for r in table.rows])


    {CALL}
''')


def test_train_seeds_with_a_factory_in_an_unguarded_script_fails_in_one_line(tmp_path):
    script = FACTORY_SCRIPT.replace("{TINY!r}", repr(TINY))
    (tmp_path / "plain.py").write_text(script.replace("{CALL}", "main()"))
    out = subprocess.run([sys.executable, "plain.py"], capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert out.returncode == 0 and "refused:" in out.stdout, out.stdout + out.stderr
    assert 'if __name__ == "__main__":' in out.stdout and not (tmp_path / "cp").exists()
    # With the guard, the same factory reaches every worker (each imports the script as __main__).
    (tmp_path / "guarded.py").write_text(script.replace("{CALL}", 'if __name__ == "__main__":\n    main()'))
    out = subprocess.run([sys.executable, "guarded.py"], capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert out.returncode == 0 and "statuses ['unsolved', 'unsolved']" in out.stdout, out.stdout + out.stderr


def test_a_solved_run_trains_on_with_a_larger_budget_and_stops_again_only_if_asked(tmp_path):
    solved = cfg(**{"eval.threshold": 9.0, "eval.stop_when_solved": True, "train.total_steps": 1000})
    run = tmp_path / "s"
    first = deepq.train(solved, run, quiet=True)
    assert first.result.solved and first.result.stopped == "solved" and first.result.env_steps == 200
    with pytest.raises(deepq.DeepQError, match=r"to train on past the solve, raise the budget: deepq.resume\("):
        deepq.resume(run)
    out = cli("train", "--resume", str(run))
    assert one_line(out) and "deepq train --resume" in out.stderr and "train.total_steps=" in out.stderr
    on = deepq.resume(run, total_steps=1200, quiet=True)  # trains on to the new budget, past the solve
    assert on.result.env_steps >= 1200 and on.result.stopped == "budget" and on.result.solved_at_env_steps == 200
    assert runs.read_run_config(run).eval.stop_when_solved is False
    out = cli("train", "--resume", str(run), "train.total_steps=2000", "eval.stop_when_solved=true", "--quiet")
    assert out.returncode == 0, out.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stopped"] == "solved" and 1200 < summary["env_steps"] < 1500  # the next evaluation
