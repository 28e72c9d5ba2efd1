"""What this process may use of the machine."""

from __future__ import annotations

import multiprocessing
import os
import sys
from contextlib import contextmanager
from typing import Iterator, Optional


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fork_unavailable() -> Optional[str]:
    """Why this process may not fork a helper that works beside it on another core (the checks' worker, the envs'
    process): None when it may."""
    if sys.platform != "linux" or not hasattr(os, "fork"):
        return "a forked process is used on Linux only"
    if usable_cores() < 2:
        return "this process may use one core only"
    if multiprocessing.current_process().daemon:  # deepq's multi-seed workers: the other cores train other seeds
        return "this process is a worker of a multi-seed run"
    return None


# The run's own helper processes that work beside it all along (deepq.envs.process): not "others".
HELPERS: set[int] = set()


def others_running() -> Optional[int]:
    """Threads of other processes on the machine that are running or ready to run now: /proc/loadavg's runnable
    count less this reader and the run's own helpers (`HELPERS`) running now (one read, ~20 us, and one per
    helper). None without /proc/loadavg (not Linux)."""
    try:
        with open("/proc/loadavg") as fh:
            runnable = int(fh.read().split()[3].split("/")[0]) - 1
    except (OSError, ValueError, IndexError):
        return None
    return max(0, runnable - sum(_running(pid) for pid in HELPERS))


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        return False


@contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """NumPy's BLAS held to `threads` threads inside the block. deepq's NumPy products are small (the NumPy update
    path, deepq.fast.numpy_step, and greedy actions), and OpenBLAS runs those past ~2^18 multiply-adds on every
    core, where its threads thrash against PyTorch's: on 2 cores, one CartPole-v1 update took 17 ms with 2 BLAS
    threads against 0.5 ms with one (`bench/floor.py`)."""
    from threadpoolctl import threadpool_limits  # ~2 ms to import, ~4 ms to enter and leave

    with threadpool_limits(limits=threads, user_api="blas"):
        yield
