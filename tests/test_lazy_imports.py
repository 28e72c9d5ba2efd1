"""Each command imports what it needs when it needs it (issue 12): PyTorch, Gymnasium, matplotlib, TensorBoard, tqdm
cost about a second together, and `deepq --help` or a typo in a config value should not wait for them.

Every check runs in a fresh interpreter (this one has imported everything already) and reads `sys.modules`.
"""

import json
import subprocess
import sys
import time

import pytest

from tiny import tiny_cfg

HEAVY = ("torch", "gymnasium", "matplotlib", "tensorboard", "tqdm", "imageio", "scipy")

# deepq/config/schema.py imports deepq.nets.activations (and so torch) only for the names of the activations;
# until it lists them without torch, the config, `deepq train --help` and a refused config import torch. Strict:
# once fixed, these pass and the marker must go.

def loaded_after(code: str) -> set[str]:
    """The heavy top-level packages in `sys.modules` after running `code` in a fresh interpreter."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def cli(*argv: str) -> str:
    """Code that runs `deepq ARGV` in-process (as the console script does) and keeps going after its exit."""
    return (f"from deepq.cli import main\ntry:\n    status = main({list(argv)!r})\nexcept SystemExit as exc:\n"
            f"    status = exc.code\nassert status in (0, 2), status")


@pytest.mark.parametrize("code", ["import deepq", "import deepq.errors", "import deepq.cli",
                                  "from deepq import DeepQError, __version__"])
def test_importing_the_package_and_the_command_line_loads_nothing_heavy(code):
    assert loaded_after(code) == set()


def test_help_loads_nothing_heavy():
    assert loaded_after(cli("--help")) == set()


@pytest.mark.parametrize("code", ["import deepq.config", "import deepq.config.sources", cli("train", "--help"),
                                  cli("presets"), cli("train", "learner.lr=-1")])
def test_config_help_and_refused_configs_do_not_import_torch(code):
    assert "torch" not in loaded_after(code)


def test_plots_import_matplotlib_only_to_draw():
    assert "matplotlib" not in loaded_after("import deepq.viz.plots")


def test_training_code_imports_side_outputs_only_when_used():
    """TensorBoard when log.tensorboard is on, matplotlib when curve.png is drawn, imageio for a video (tqdm
    comes with torch itself, through torch.hub)."""
    assert loaded_after("import deepq.cli, deepq.train") & {"matplotlib", "tensorboard", "imageio"} == set()


def test_public_names_are_there_on_first_use():
    code = ("import deepq.train, deepq\n"  # the submodule deepq/train.py first: deepq.train stays the function
            "from deepq import *\n"
            "assert callable(deepq.train) and deepq.train is train and deepq.train.__module__ == 'deepq.train'\n"
            "assert sorted(deepq.__all__) == sorted(n for n in deepq.__all__ if n in dir(deepq))\n"
            "assert deepq.Config().seed == 0 and callable(deepq.load_agent) and deepq.EvalResult\n"
            "assert callable(deepq.config.resolve) and deepq.viz.__name__  # subpackages as attributes too\n"
            "try:\n    deepq.no_such_name\nexcept AttributeError as exc:\n    assert 'no_such_name' in str(exc)\n"
            "else:\n    raise AssertionError('deepq.no_such_name')")
    loaded_after(code)


@pytest.mark.slow
def test_curve_drawn_by_a_detached_process(tmp_path):
    """At a terminal `deepq train` hands curve.png to a detached process; it appears shortly after."""
    import deepq
    from deepq.viz import plots

    run = tmp_path / "run"
    deepq.train(tiny_cfg(**{"train.total_steps": 600}), run, quiet=True)  # log.plot off: no curve yet
    assert not (run / plots.CURVE).exists()
    assert not plots.draw_detached(run)  # off outside `curves_in_background`: the caller draws
    with plots.curves_in_background():
        start = time.perf_counter()
        assert plots.draw_detached(run)
        assert time.perf_counter() - start < 0.5  # returns at once; the drawing happens elsewhere
    assert not plots.BACKGROUND
    deadline = time.perf_counter() + 60
    while not (run / plots.CURVE).exists() and time.perf_counter() < deadline:
        time.sleep(0.05)
    from PIL import Image

    with Image.open(run / plots.CURVE) as image:
        assert image.size == (800, 1050)
    assert not list(run.glob(".curve.png*"))  # drawn to a temp file and renamed into place


@pytest.mark.slow
def test_detached_drawing_reports_a_failure_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "deepq.viz.plots", str(tmp_path / "nothing")], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.startswith(f"deepq: warning: could not draw {tmp_path / 'nothing' / 'curve.png'}")
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_deepq_program_imports_training_with_the_collector_paused_then_frozen():
    """`deepq train` imports PyTorch with Python's cyclic garbage collector paused (its full collections walk the
    ~1M objects the import makes, 0.2-0.3 s of it) and freezes what the import made; it leaves the collector on.
    Called from Python (a test, a notebook), main() leaves the caller's collector alone."""
    probe = ("import gc, json, deepq.cli as cli\n"
             "with cli._collector_paused():\n    import deepq.algo.schedules\n"
             "untouched = (gc.isenabled(), gc.get_freeze_count())\n"
             "cli._PROGRAM = True\n"
             "with cli._collector_paused():\n    paused = gc.isenabled()\n    import deepq.train\n"
             "print(json.dumps([untouched, paused, gc.isenabled(), gc.get_freeze_count()]))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    (enabled_before, frozen_before), paused, enabled_after, frozen = json.loads(out.stdout.strip().splitlines()[-1])
    assert enabled_before and frozen_before == 0  # not the deepq program: nothing changed
    assert paused is False and enabled_after is True
    assert frozen > 100_000  # PyTorch's objects, frozen
