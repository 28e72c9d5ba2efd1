"""Benchmark: from the shell prompt to a solved agent, `deepq train --env CartPole-v1` as a user types it.

    python bench/shell_to_solved.py                    # held-out seeds 100-109 (the preset was tuned on 0-29)
    python bench/shell_to_solved.py --seeds 100-104 --repeats 3
    python bench/shell_to_solved.py --env Acrobot-v1 --seeds 100-102

Each seed runs `deepq train --env ENV --seed S --run-dir TMP/seed-S` as a real subprocess (the `deepq` console
script next to this Python, else `python -m deepq.cli`) on a pseudo-terminal, as at a shell prompt (progress bar
included; `--pipe`: output to pipes instead, as in a script), and is timed from just before the process starts to
its exit: interpreter start, imports, config, training, checkpoints, summary and the TensorBoard events, i.e. what
the user waits for before the prompt comes back. Columns:

  wall s      shell to exit (the median over --repeats runs of the seed)
  train s     the run's own training time (summary.json train_seconds)
  outside s   wall - train: interpreter, imports, setup before training and writes after it
  import s    a fresh interpreter that imports what `deepq train` imports (`deepq.cli`, `deepq.train`), as it
              does (the garbage collector paused meanwhile), and exits without the interpreter's teardown,
              measured just before each run: the part of `outside` that is interpreter start and imports
  solved      summary.json's verdict
  curve.png   whether the run directory had its curve within --curve-wait s after the exit, and when: at a
              terminal `deepq train` draws it in a detached process once the agent is saved (the bench waits
              for it before the next run, so that drawing never overlaps the next measurement)

Children run with Python's default bytecode cache (`__pycache__`), as at a user's shell: a PYTHONDONTWRITEBYTECODE
set around the bench (this project's sandboxes set it) is dropped for them, else every run would compile deepq's
own modules again (~0.1 s: an editable install ships no bytecode); `--no-bytecode-cache` keeps it.

Then the medians, and the load average before and after (2 cores are shared here: a busy machine shows as a wide
spread between repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# What `deepq train` imports, as it imports it (the garbage collector paused, then the objects frozen: deepq.cli)
IMPORT_PROBE = ("import os, deepq.cli as cli\ncli._PROGRAM = True\nwith cli._collector_paused():\n"
                "    import deepq.train\nos._exit(0)")


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def deepq_command() -> list[str]:
    """The `deepq` console script of this environment (what a user runs), else `python -m deepq.cli`."""
    script = Path(sys.executable).with_name("deepq")
    if script.is_file():
        return [str(script)]
    found = shutil.which("deepq")
    return [found] if found else [sys.executable, "-m", "deepq.cli"]


CHILD_ENV: dict[str, str] = dict(os.environ)  # the children's environment (main() sets the bytecode cache)


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=CHILD_ENV)
    return time.perf_counter() - start, out


def timed_at_terminal(cmd: list[str]) -> tuple[float, int, str, int]:
    """(seconds from start to exit, exit status, the output so far, the pty's reading end: close it when done).
    The output is read by a thread until every writer is gone, so that a full pty never blocks the process."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer closed its end
                return
            if not data:
                return
            chunks.append(data)

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True, env=CHILD_ENV)
    os.close(slave)
    threading.Thread(target=drain, daemon=True).start()
    status = proc.wait()
    return time.perf_counter() - start, status, b"".join(chunks).decode(errors="replace"), master


def import_seconds() -> float:
    """A fresh interpreter importing what `deepq train` imports, start to exit."""
    seconds, out = timed([sys.executable, "-c", IMPORT_PROBE])
    if out.returncode:
        raise SystemExit(f"python -c {IMPORT_PROBE!r} failed:\n{out.stderr}")
    return seconds


def wait_for(path: Path, seconds: float) -> float | None:
    """Seconds until `path` exists (0 if it already does), None if it does not within `seconds`."""
    if path.is_file():
        return 0.0
    start = time.perf_counter()
    while not path.is_file():
        if time.perf_counter() - start > seconds:
            return None
        time.sleep(0.01)
    return time.perf_counter() - start


def load_line() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", default="100-109", help="e.g. 100-109 or 0,3,5 (default: held-out 100-109)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per seed; the table shows their median")
    parser.add_argument("--curve-wait", type=float, default=10.0, help="seconds to wait for curve.png after exit")
    parser.add_argument("--pipe", action="store_true", help="output to pipes (a script) instead of a terminal")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (every run compiles deepq's modules again)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="passed on to deepq train")
    args = parser.parse_args()

    if not args.no_bytecode_cache:
        CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    cache = "off" if CHILD_ENV.get("PYTHONDONTWRITEBYTECODE") else "on"
    cmd = deepq_command()
    print(f"command: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))} train --env {args.env} "
          f"--seed S --run-dir TMP/seed-S {' '.join(args.overrides)}".rstrip()
          + ("   (output to pipes)" if args.pipe else "   (at a terminal: a pseudo-terminal)"))
    print(f"{sys.platform}, {os.cpu_count()} cores, {load_line()} (before); bytecode cache {cache}")
    print(f"{'seed':>4} {'wall s':>7} {'train s':>7} {'outside s':>9} {'import s':>8} {'solved':>6} "
          f"{'env steps':>9} {'curve.png':>9}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="shell_to_solved_") as tmp:
        for seed in parse_seeds(args.seeds):
            walls, trains, imports, curves, summary = [], [], [], [], {}
            for _ in range(args.repeats):
                run_dir = Path(tmp) / f"seed-{seed}"
                shutil.rmtree(run_dir, ignore_errors=True)
                imports.append(import_seconds())
                train = [*cmd, "train", "--env", args.env, "--seed", str(seed), "--run-dir", str(run_dir),
                         *args.overrides]
                master = None
                if args.pipe:
                    wall, out = timed(train)
                    status, output = out.returncode, out.stderr
                else:
                    wall, status, output, master = timed_at_terminal(train)
                if status:
                    raise SystemExit(f"seed {seed}: deepq train exited with {status}:\n{output}")
                curves.append(wait_for(run_dir / "curve.png", args.curve_wait))
                if master is not None:
                    time.sleep(0.2)  # the drawing process exits just after its rename
                    os.close(master)
                summary = json.loads((run_dir / "summary.json").read_text())
                walls.append(wall)
                trains.append(summary["train_seconds"])
            row = {"seed": seed, "wall": statistics.median(walls), "train": statistics.median(trains),
                   "import": statistics.median(imports), "solved": bool(summary.get("solved")),
                   "env_steps": summary["env_steps"], "curve": None if None in curves else max(curves)}
            row["outside"] = row["wall"] - row["train"]
            rows.append(row)
            curve = "MISSING" if row["curve"] is None else ("at exit" if row["curve"] == 0 else
                                                            f"+{row['curve']:.2f} s")
            print(f"{seed:>4} {row['wall']:>7.2f} {row['train']:>7.2f} {row['outside']:>9.2f} {row['import']:>8.2f} "
                  f"{str(row['solved']):>6} {row['env_steps']:>9} {curve:>9}", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in ("wall", "train", "outside", "import")}
    print(f"{'med':>4} {med['wall']:>7.2f} {med['train']:>7.2f} {med['outside']:>9.2f} {med['import']:>8.2f} "
          f"{sum(r['solved'] for r in rows):>3}/{len(rows):<2}")
    print(f"median shell to solved {med['wall']:.2f} s (worst {max(r['wall'] for r in rows):.2f} s, seed "
          f"{max(rows, key=lambda r: r['wall'])['seed']}); {load_line()} (after)")


if __name__ == "__main__":
    main()
