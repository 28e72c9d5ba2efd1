import pytest

from tiny import tiny_cfg as _tiny_cfg


@pytest.fixture
def tiny_cfg():
    """The CartPole preset shrunk to a budget that runs in about a second (tests/tiny.py), curve.png on."""
    return _tiny_cfg(**{"log.plot": True})


@pytest.fixture
def tmpfs(tmp_path):
    """`tmpfs(size)` mounts a real small filesystem ("16k", "1m") for the test and returns its path; the test is
    skipped where mounting is not allowed (not root, or no mount in the container)."""
    import os
    import subprocess

    mounts = []

    def mount(size: str):
        path = tmp_path / f"disk-{len(mounts)}"
        path.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root; this machine runs the tests as another user")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:80]})")
        mounts.append(path)
        return path

    yield mount
    for path in mounts:
        subprocess.run(["umount", "-l", str(path)], check=False)


def pytest_configure(config):
    """The signal tests need the signals they send to arrive. A test run started in the background (`cmd &` in a
    script, nohup) inherits SIGINT or SIGHUP ignored, its child processes too, and deepq rightly keeps ignoring
    what its parent told it to ignore: give this process (and so every process it starts) the usual handlers."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)


# Property tests draw the same examples on every run (the project's tests are deterministic); a failure found once
# is found again. `pytest --hypothesis-seed=N` still explores other examples by hand.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("deepq", derandomize=True)
_hypothesis_settings.load_profile("deepq")
