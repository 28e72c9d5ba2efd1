"""What a speed benchmark ran on, printed at the top of its output: the machine, the library versions and the exact
contents of the preset it measured (the CartPole-v1 preset is being retuned, so a table is only meaningful next to
the preset it came from)."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

from deepq.config.schema import PRESET_DIR, Config


def machine_line() -> str:
    import gymnasium
    import numpy
    import torch

    import deepq

    load = os.getloadavg()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; python {platform.python_version()}, "
            f"deepq {getattr(deepq, '__version__', '?')}, torch {torch.__version__}, "
            f"gymnasium {gymnasium.__version__}, numpy {numpy.__version__}; {blas_kernel()}")


def blas_kernel() -> str:
    """Every loaded BLAS (NumPy's among them: deepq's NumPy update path is mostly its products) and the kernel it
    runs: OpenBLAS picks one per processor, unless OPENBLAS_CORETYPE names one. Some machines set it for older OpenBLAS builds (Haswell's
    AVX2 kernels on an AVX-512 processor: LunarLander-v3's update ~280 us against ~230 with the processor's own,
    `python bench/update_paths.py`), which slows deepq's NumPy path and not PyTorch's (SB3's)."""
    import numpy  # noqa: F401 - threadpoolctl sees a BLAS only once it is loaded
    from threadpoolctl import threadpool_info

    kernels = sorted({f"{info.get('internal_api')} {info.get('architecture') or ''}".strip()
                      for info in threadpool_info() if info.get("user_api") == "blas"})
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (f"BLAS: {', '.join(kernels) or '?'}"
            + (f" (forced by OPENBLAS_CORETYPE={forced})" if forced else " (the processor's own)"))


def code_line() -> str:
    """The deepq code measured: the commit, and a hash of deepq/*.py as they are on disk (other engineers edit deepq/
    while benchmarks run, so the commit alone may not say which code ran)."""
    package = Path(__file__).resolve().parents[1] / "deepq"
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True,
                               text=True, check=True).stdout.splitlines()
        where = f"commit {commit}" + (f" + {len(dirty)} uncommitted files in deepq/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        where = "not a git checkout"
    return f"deepq code: {where}; sha256 of deepq/**/*.py {digest.hexdigest()[:12]}"


def preset_lines(name: str = "CartPole-v1") -> list[str]:
    """The preset file verbatim, with its SHA-256, so a result can be matched to the preset that produced it."""
    path = PRESET_DIR / f"{name}.yaml"
    text = path.read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return [f"preset deepq/config/presets/{path.name} (sha256 {digest}):"] + [f"  | {line}" for line in text.splitlines()]


def key_values(cfg: Config) -> str:
    """The keys that set speed and learning, as one line of dotted key=value (after the benchmark's overrides)."""
    keys = ["env.num_envs", "env.action_repeat", "network.hidden_sizes", "network.activation", "network.dueling",
            "network.layer_norm", "replay.kind", "replay.capacity", "replay.batch_size", "replay.n_step",
            "exploration.start", "exploration.end", "exploration.duration", "target.kind", "target.update_interval",
            "target.tau", "learner.lr", "learner.lr_end", "learner.gamma", "learner.loss", "learner.objective",
            "learner.double", "learner.max_grad_norm", "train.total_steps", "train.learning_starts",
            "train.train_freq", "train.gradient_steps", "train.torch_threads", "eval.interval", "eval.episodes",
            "eval.stop_when_solved", "eval.target"]
    out = []
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = getattr(node, part)
        shown = ",".join(map(str, node)) if isinstance(node, tuple) else node
        out.append(f"{key}={shown}")
    return " ".join(out)
