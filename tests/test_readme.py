"""The README runs as written (issue 13): its Python blocks as plain scripts, top to bottom, in a fresh directory
after the README's first command; and the README's shell commands that fit in CI's time. Real processes."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

README = Path(__file__).resolve().parent.parent / "README.md"
BIN = Path(sys.executable).parent  # the venv's `deepq` script sits next to its python


def blocks(lang: str, under: str) -> list[str]:
    """The ```lang blocks of the README section whose heading is `under`."""
    text = "\n" + README.read_text()
    start = text.index(f"\n{under}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(rf"```{lang}\n(.*?)```", text[start:end if end > 0 else None], flags=re.S)


def first_command() -> list[str]:
    """The `deepq ...` parts of the README's first line (after installing): train runs/cp0, evaluate it."""
    line = blocks("bash", "# deepq")[0].splitlines()[0]
    return [part.strip() for part in line.split("&&") if part.strip().startswith("deepq ")]


def run(command: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    if argv[0] == "deepq":
        argv = [str(BIN / "deepq"), *argv[1:]]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def after_first_command(tmp_path_factory):
    """A fresh directory in which the README's first command has run: runs/cp0 trained and evaluated."""
    home = tmp_path_factory.mktemp("readme")
    commands = first_command()
    assert [c.split()[:2] for c in commands] == [["deepq", "train"], ["deepq", "evaluate"]]
    for command in commands:
        out = run(command, home)
        assert out.returncode == 0, f"{command}\n{out.stderr}"
    return home


def test_the_first_command_trains_and_evaluates_runs_cp0(after_first_command):
    assert (after_first_command / "runs" / "cp0" / "checkpoints" / "final.safetensors").is_file()


@pytest.mark.parametrize("index", range(len(blocks("python", "## Python"))))
def test_the_python_blocks_run_as_plain_scripts(after_first_command, index):
    code = blocks("python", "## Python")[index]
    script = after_first_command / f"readme_{index}.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, script.name], capture_output=True, text=True, cwd=after_first_command,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    if index == 0:  # the README's own block: every seed of train_seeds trained
        assert "FAILED" not in out.stdout and "3 seeds (0 failed)" in out.stdout


# README shell lines that run in CI's time (a few seconds each), in the order they appear; the others (long
# budgets, --seeds 0-9, sweeps, TensorBoard) are exercised by their own tests with tiny budgets.
FAST = [r"^deepq evaluate --random --env CartPole-v1$", r"^deepq presets$", r"^deepq train --help$",
        r"^deepq train --env CartPole-v1 --seed 3 --run-dir runs/cp3$", r"^deepq train --resume runs/cp3$",
        r"^deepq evaluate runs/cp3 --episodes 100 --seed 1000$", r"^deepq play runs/cp0 --video cartpole.gif .*",
        r"^deepq train --env CartPole-v1 --seed 3 --run-dir runs/cp3 --overwrite$",
        r"^deepq train --env CartPole-v1$"]


def shell_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            command = line.split("  #")[0].split(" #")[0].strip().replace(" [--json]", "")
            if command.startswith("deepq ") and command not in lines:
                lines.append(command)
    return lines


def test_the_readme_shell_commands_that_fit_in_ci_time(after_first_command):
    lines = shell_lines()
    chosen = [line for line in lines if any(re.match(pattern, line) for pattern in FAST)]
    assert len(chosen) >= len(FAST) - 1, f"README lines changed; fast ones found: {chosen}"
    for command in chosen:
        out = run(command, after_first_command)
        if command == "deepq train --resume runs/cp3":  # a run that stopped solved: refused in one line, saying how
            assert out.returncode == 2 and "train.total_steps=" in out.stderr, out.stderr
            assert len(out.stderr.strip().splitlines()) == 1
            continue
        assert out.returncode == 0, f"{command}\n{out.stderr[-2000:]}"
