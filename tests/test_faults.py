"""Fault injection at every write point of a run (issue 14), as the most trusted storage software tests itself.

`DEEPQ_FAULT=POINT:N[:ACTION]` (deepq/run/faults.py) makes the N-th write at POINT fail for real: `kill` sends the
training process SIGKILL right there (a temp file half written, nothing cleaned up), `enospc` raises the error a
full disk gives. Every case must end in the uninterrupted run's result (final agent bit for bit, metrics.csv cell
for cell, summary.json, curve.png) after the one recovery step deepq names: `--resume`, or the command its
one-line message gives.
"""

import itertools
import json
import os
import re
import sys
from pathlib import Path

import pytest

from test_resume import assert_same_run
from tiny import tiny_cli

pytestmark = pytest.mark.slow  # real processes

# Checkpoints at 300, 600 and 900 env steps, then the end state (the 4th latest); evaluations (and best) at the same.
ARGS = ["--quiet", *tiny_cli(**{"train.total_steps": 900, "eval.interval": 300, "eval.episodes": 2,
                                "log.checkpoint_interval": 300, "log.tensorboard": True, "log.plot": True})]

KILLS = ["config:1",  # before config.yaml exists
         "metrics:1", "checkpoint.latest:1",  # before the first checkpoint
         "tensorboard:30", "checkpoint.best:2", "checkpoint.latest:2",  # between checkpoints
         "checkpoint.final:1", "summary:1", "curve:1", "checkpoint.latest:4"]  # at the end


NUMBERS = itertools.count()


class Child:
    """`deepq ARGS` in a forked child of this process: a real process (SIGKILL ends it for real, nothing of it is
    cleaned up), without paying for Python's and PyTorch's imports again (this file forks about twenty)."""

    def __init__(self, tmp: Path, args: list[str], fault: str | None = None) -> None:
        from deepq import cli
        from deepq.run import faults

        import deepq.viz.plots  # noqa: F401 - imported once here, not in every child
        import torch.utils.tensorboard  # noqa: F401

        self.err = tmp / f"stderr-{next(NUMBERS)}.txt"
        self.pid = os.fork()
        if self.pid:
            return
        code = 1
        try:  # the child: its own stderr file, the fault, deepq's main; never back into pytest
            sys.stdout = open(os.devnull, "w")
            sys.stderr = open(self.err, "w", buffering=1)
            os.environ.pop(faults.VARIABLE, None)
            if fault:
                os.environ[faults.VARIABLE] = fault
            faults.reset()
            code = cli.main(args)
        except BaseException:  # noqa: BLE001 - a traceback is a failure the test shows
            import traceback

            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)

    def wait(self) -> tuple[int, str]:
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), self.err.read_text()


def finish(children: dict) -> dict:
    return {key: child.wait() for key, child in children.items()}


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    return stderr.strip()


def recovery(run: Path, new: Path, code: int, err: str) -> list[str] | None:
    """The command that deepq's one-line refusal of `--resume` names, or None when the resume itself worked or
    there was nothing left to do."""
    if code == 0:
        return None
    line = one_line(err)
    assert code == 2, line
    if "already finished its" in line:  # killed after the last write the run needed
        return None
    if line.endswith("start it again with the same command"):
        return ["train", "--run-dir", str(run), *ARGS]
    command = re.search(r"start it again: deepq (train --config \S+ --run-dir) NEW_DIR$", line)
    assert command, line
    return [*command.group(1).split(), str(new), "--quiet"]


def assert_complete_like(reference: Path, run: Path) -> None:
    assert_same_run(reference, run)
    summary, expected = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    for key in ("stopped", "env_steps", "grad_steps", "episodes", "last_eval", "best_eval_mean"):
        assert summary[key] == expected[key], key
    assert (run / "curve.png").stat().st_size > 1000 and (run / "checkpoints" / "best.safetensors").is_file()
    assert not list(run.rglob(".*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run every faulted one must end as."""
    tmp = tmp_path_factory.mktemp("reference")
    code, err = Child(tmp, ["train", "--run-dir", str(tmp / "run"), *ARGS]).wait()
    assert code == 0, err
    return tmp / "run"


def test_a_kill_at_every_write_point_recovers_to_the_uninterrupted_run(tmp_path, reference):
    ended = finish({fault: Child(tmp_path, ["train", "--run-dir", str(tmp_path / fault), *ARGS], fault)
                    for fault in KILLS})
    for fault, (code, err) in ended.items():
        assert code == -9, (fault, code, err)  # each fault was reached
    resumed = finish({fault: Child(tmp_path, ["train", "--resume", str(tmp_path / fault), "--quiet"])
                      for fault in KILLS})
    followed, where = {}, {}
    for fault, (code, err) in resumed.items():
        run, new = tmp_path / fault, tmp_path / f"{fault}-new"
        command = recovery(run, new, code, err)
        where[fault] = new if command is not None and str(new) in command else run
        if command is not None:
            followed[fault] = Child(tmp_path, command)
    for fault, (code, err) in finish(followed).items():
        assert code == 0, (fault, err)
    for fault in KILLS:
        assert_complete_like(reference, where[fault])
    # Where a checkpoint was on disk, `--resume` alone finished the run.
    assert set(followed) == {"config:1", "metrics:1", "checkpoint.latest:1"}


def test_a_kill_with_checks_in_a_second_process_recovers_to_the_inline_run(tmp_path, reference):
    """eval.parallel=true: checkpoints wait for the check in flight (the same interval as the checks here, so
    every one of them does), and a run killed around them resumes to the uninterrupted run with inline checks."""
    if sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the worker is forked on Linux with 2+ cores")
    kills = ["checkpoint.best:2", "checkpoint.latest:2", "tensorboard:30", "checkpoint.latest:4"]
    args = [*ARGS, "eval.parallel=true"]
    ended = finish({fault: Child(tmp_path, ["train", "--run-dir", str(tmp_path / fault), *args], fault)
                    for fault in kills})
    for fault, (code, err) in ended.items():
        assert code == -9, (fault, code, err)
    resumed = finish({fault: Child(tmp_path, ["train", "--resume", str(tmp_path / fault), "--quiet"])
                      for fault in kills})
    for fault, (code, err) in resumed.items():
        assert code == 0 or "already finished its" in one_line(err), (fault, code, err)
        assert json.loads((tmp_path / fault / "summary.json").read_text())["eval_parallel"]
        assert_complete_like(reference, tmp_path / fault)


FULL = {"config:1": "config.yaml", "metrics:30": "metrics.csv", "tensorboard:30": "events.out.tfevents.",
        "checkpoint.best:2": "best.safetensors", "checkpoint.latest:2": "latest.safetensors",
        "checkpoint.final:1": "final.safetensors", "summary:1": "summary.json", "curve:1": "curve.png"}


def test_a_full_disk_at_every_writer_is_one_line_and_loses_nothing(tmp_path, reference):
    """Exit 2, one line naming the file and the next step; following it ends as the uninterrupted run."""
    ended = finish({fault: Child(tmp_path, ["train", "--run-dir", str(tmp_path / fault), *ARGS], f"{fault}:enospc")
                    for fault in FULL})
    again = {}
    for fault, (code, err) in ended.items():
        run = tmp_path / fault
        line = one_line(err)
        assert code == 2 and line.startswith(f"deepq: error: could not write {run}"), (fault, line)
        assert f"{FULL[fault]}" in line and "(No space left on device); " in line, line
        if fault == "config:1":
            assert line.endswith("no checkpoint was written yet: free some space, then run the same command again")
            again[fault] = Child(tmp_path, ["train", "--run-dir", str(run), *ARGS])
        else:
            assert line.endswith(f"is intact: free some space, then resume with: deepq train --resume {run}"), line
            again[fault] = Child(tmp_path, ["train", "--resume", str(run), "--quiet"])
    for fault, (code, err) in finish(again).items():
        assert code == 0, (fault, err)
        assert_complete_like(reference, tmp_path / fault)


# --- deepq play --video ---------------------------------------------------------------------------------------

def play(run: Path, video: Path, fault: str | None = None) -> tuple[int, str]:
    return Child(run.parent, ["play", str(run), "--video", str(video), "--episodes", "4"], fault).wait()


@pytest.mark.parametrize("name", ["out.mp4", "out.gif"])
def test_video_on_a_full_disk_is_one_line_and_leaves_no_file(tmp_path, reference, name):
    code, err = play(reference, tmp_path / name, "video:20:enospc")
    assert code == 2 and one_line(err) == (f"deepq: error: could not write {tmp_path / name} (No space left on "
                                           "device); no video was written: free some space or choose another "
                                           "--video path")
    assert not list(tmp_path.glob("*.mp4")) + list(tmp_path.glob("*.gif")) + list(tmp_path.glob(".*"))


@pytest.fixture
def small_disk(tmpfs):
    """A real 16 KiB filesystem (tmpfs) for the test."""
    return tmpfs("16k")


@pytest.mark.parametrize("name, why", [("out.mp4", "the MP4 is incomplete (no index): the disk is probably full"),
                                       ("out.gif", "No space left on device")])
def test_video_on_a_real_full_disk_is_one_line(small_disk, reference, name, why):
    code, err = play(reference, small_disk / name)
    assert code == 2 and one_line(err).startswith(f"deepq: error: could not write {small_disk / name} ({why}); ")
    assert not list(small_disk.iterdir())


def test_video_to_a_read_only_directory_is_one_line(small_disk, reference):
    import subprocess

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    code, err = play(reference, small_disk / "out.mp4")
    assert code == 2 and one_line(err) == (f"deepq: error: cannot write {small_disk / 'out.mp4'} (Read-only file "
                                           "system); choose a writable path")


def test_tensorboard_on_a_real_full_disk_is_one_write_error_and_no_traceback(small_disk, capfd):
    """TensorBoard writes from a thread; its failure comes back as one WriteError, the thread's traceback unsaid."""
    from deepq.errors import WriteError
    from deepq.run.metrics import TensorBoardBackend

    backend = TensorBoardBackend(small_disk, None)
    with pytest.raises(WriteError, match=r"could not write .*events\.out\.tfevents\..* \(No space left on device\)"):
        for step in range(100_000):
            backend.write({"env_steps": step, "rollout/episode_return": 1.0, "time/sps": 2.0})
            if step % 100 == 0:
                backend.flush()
    with pytest.raises(WriteError):
        backend.close()
    assert "Traceback" not in capfd.readouterr().err


# --- a reader that goes away ------------------------------------------------------------------------------------

def test_a_closed_pipe_neither_stops_nor_loses_the_run(tmp_path, reference):
    """`deepq train ... 2>&1 | head -1`: head exits after the first progress line; the run trains on, quietly, to
    the uninterrupted result, and deepq exits as a shell tool does on SIGPIPE (141)."""
    import shlex
    import subprocess

    run = tmp_path / "run"
    command = shlex.join([sys.executable, "-m", "deepq.cli", "train", "--run-dir", str(run),
                          *[a for a in ARGS if a != "--quiet"]])
    done = subprocess.run(["bash", "-c", f"{command} 2>&1 | head -1; echo ${{PIPESTATUS[0]}}"], capture_output=True,
                          text=True, timeout=300)
    first, status = done.stdout.splitlines()
    assert first.startswith("step      300 | eval ") and status == "141", done
    assert_complete_like(reference, run)


def training_process(run: Path):
    """`deepq train` on a budget it will not reach, returned once it is well into training."""
    import subprocess
    import time

    proc = subprocess.Popen([sys.executable, "-m", "deepq.cli", "train", "--run-dir", str(run), "--quiet",
                             *tiny_cli(**{"train.total_steps": 10_000_000, "eval.interval": 0})],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ((run / "metrics.csv").is_file() and (run / "metrics.csv").stat().st_size > 2000):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc


def test_sighup_saves_and_stops_like_sigterm(tmp_path):
    """A closed terminal (SIGHUP) stops the run after a checkpoint, as SIGTERM does: exit 129, resumable."""
    import signal

    run = tmp_path / "run"
    proc = training_process(run)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 129, err
    assert one_line(err).startswith("deepq: stopped by SIGHUP at env step ")
    assert err.strip().endswith(f"resume with: deepq train --resume {run}")
    assert json.loads((run / "summary.json").read_text())["stopped"] == "interrupted (SIGHUP)"
    assert (run / "checkpoints" / "latest.safetensors").is_file()


@pytest.mark.parametrize("gap_s", [0.0, 0.003, 0.05])
def test_a_second_ctrl_c_right_after_the_first_prints_no_traceback(tmp_path, gap_s):
    """Two SIGINTs milliseconds apart (a terminal's Ctrl-C pressed twice): one clean stop, no traceback."""
    import signal
    import time

    run = tmp_path / "run"
    proc = training_process(run)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == 130, err
    assert one_line(err).startswith("deepq: stopped by SIGINT at env step ")
    assert (run / "checkpoints" / "latest.safetensors").is_file()
