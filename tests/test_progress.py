"""Training progress: the tqdm bar on a real pseudo-terminal, plain lines otherwise, silence when quiet."""
import pytest

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import deepq
from deepq.run.progress import Progress
from tiny import tiny_cfg, tiny_cli

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

PROGRESS = {"log.progress": True}  # the shared tiny config with its progress output on: what these tests read
TINY = tiny_cli(**PROGRESS)


def test_postfix_leaves_out_what_is_not_known_yet():
    progress = Progress(1000, enabled=True, fancy=False)
    assert re.fullmatch(r"sps=\d+", progress.postfix(10))
    progress.episode(12.0, 0.5)  # no gradient step yet: no loss
    assert re.fullmatch(r"sps=\d+, eps=0.500", progress.postfix(10))
    progress.episode(30.0, 0.25, loss=0.0123)
    progress.episode(31.0, 0.2, loss=None)  # a second episode in the same step keeps the last loss
    assert progress.postfix(10).endswith(", eps=0.200, loss=0.0123")


def test_plain_lines_when_not_a_terminal(capfd):
    deepq.train(tiny_cfg(**PROGRESS), quiet=False)
    lines = capfd.readouterr().err.strip().splitlines()
    assert len(lines) == 3  # one per evaluation: 500, 1000, 1500 env steps
    for line in lines:
        assert re.fullmatch(r"step +\d+ \| eval +[\d.]+ ± +[\d.]+ \(solved at 475\) \| sps \d+ \| eps [\d.]+ "
                            r"\| loss [\d.e-]+", line), line
    deepq.train(tiny_cfg(**PROGRESS), quiet=True)
    assert capfd.readouterr().err == ""


def test_plain_lines_say_the_target_once_solved(capfd):
    """With eval.target, the lines after the solve say when it solved and what the run trains on for."""
    cfg = tiny_cfg(**PROGRESS, **{"eval.threshold": 9, "eval.target": 499, "eval.confirm_episodes": 0})
    agent = deepq.train(cfg, quiet=False)
    lines = capfd.readouterr().err.strip().splitlines()
    solved_at = agent.result.solved_at_env_steps  # the first check, ~500 env steps (8 envs' vector steps)
    assert solved_at < 1000 and agent.result.target_at_env_steps is None
    assert "(solved at 9) |" in lines[0]
    assert all(f"(solved after {solved_at} env steps; target 499) |" in line for line in lines[1:])
    assert len(lines) == 3


def test_bar_on_a_terminal_shows_sps_eval_eps_and_loss(tmp_path):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a 160-column terminal
    child = subprocess.Popen([sys.executable, "-m", "deepq.cli", "train", "--run-dir", str(tmp_path / "run"), *TINY],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    output = b""
    try:  # read while it runs: a full terminal buffer would block the child
        while chunk := os.read(leader, 65536):
            output += chunk
    except OSError:  # EIO: the child closed the terminal
        pass
    os.close(leader)
    text = output.decode(errors="replace")
    assert child.wait(timeout=120) == 0, text
    last_bar = text.split("\r")[-2]  # the final redraw before the closing newline
    assert "1500/1500" in last_bar
    assert re.search(r"sps=\d+, eval=[\d.]+, eps=[\d.]+, loss=[\d.e-]+\]", last_bar), last_bar
