"""The `deepq` command. Thin: parse arguments, call the Python API, print.

User errors (`DeepQError`) print one line and exit with status 2. Ctrl-C (SIGINT) and SIGTERM during training
save the run, print where and how to resume, and exit with 130 and 143; elsewhere Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import json
import os
import sys
import textwrap
import threading
from pathlib import Path
from typing import NoReturn

from deepq.errors import DeepQError
from deepq.run.interrupts import Interrupted

EXIT_USAGE = 2
_PROGRAM = False  # True in the `deepq` process itself (main() without argv); False when main() is called from Python


@contextlib.contextmanager
def _collector_paused():
    """For the imports of the training stack: PyTorch alone makes ~1M objects, and Python's cyclic garbage
    collector walks all of them at each full collection it starts while they load (0.2-0.3 s of a ~1.5 s import
    here). Paused during the imports, then those objects frozen (`gc.freeze`: module-level objects that live as
    long as the process; later collections skip them). Only in the `deepq` process: called from Python, the
    caller's collector is left as it is."""
    if not _PROGRAM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, status 2
        self.exit(EXIT_USAGE, f"deepq: error: {message} (see `{self.prog} --help`)\n")


def _hyperparameter_help(argv: list[str] | None = None) -> str:
    """The hyperparameter table of `deepq train --help`: each key with the value a run given the same --env,
    --preset, --config and key=value would use, and where that value comes from (code default, preset, ...)."""
    from deepq.config.schema import help_rows, preset_names

    values, sources, title = _help_values(argv or [])
    lines = [f"hyperparameters{title} (set with key=value, e.g. learner.lr=0.001 network.hidden_sizes=128,128):",
             ""]
    for key, default, text in help_rows():
        wrapped = textwrap.wrap(text, 70) or [""]
        shown = values.get(key, default)
        lines.append(f"  {key:<30} {('= ' + shown) if shown else '= (empty)'}"
                     + (f"  [{sources[key]}]" if key in sources else ""))
        lines.extend(f"      {w}" for w in wrapped)
    lines += ["", "units: 'env steps' count transitions summed over all vector envs; 'gradient steps' count "
              "optimizer updates.", "", f"presets: {', '.join(preset_names())}",
              "precedence: code defaults < preset (the env's tuned one by default) < --config < key=value"]
    return "\n".join(lines)


def _help_values(argv: list[str]) -> tuple[dict[str, str], dict[str, str], str]:
    """({key: value as text}, {key: source}, title) for the config `deepq train ARGV` would resolve; the code
    defaults alone when ARGV cannot be resolved (the error shows when the command runs without --help)."""
    from deepq.config.schema import parse_override
    from deepq.config.sources import resolve_with_sources

    pre = argparse.ArgumentParser(add_help=False)
    for flag in ("--env", "--preset", "--config", "--seed"):
        pre.add_argument(flag)
    known, rest = pre.parse_known_args(argv)
    try:
        overrides = dict(parse_override(o) for o in rest if "=" in o and not o.startswith("-"))
        cfg, sources = resolve_with_sources(env_id=known.env, preset=known.preset, config_file=known.config,
                                            overrides=overrides, seed=int(known.seed) if known.seed else None)
    except (DeepQError, ValueError):
        return {}, {}, ""
    from deepq.config.sources import leaf_values

    values = {k: ",".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v))
              for k, v in leaf_values(cfg).items()}
    return values, sources, f" for {cfg.env.id}: the value this run would use [and where it comes from]"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `deepq` parser; `argv` only shapes `deepq train --help` (the values for its --env, --preset ...)."""
    parser = _Parser(prog="deepq", description="Deep Q-Networks for Gymnasium tasks with discrete actions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tr = sub.add_parser("train", help="train an agent", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Train a DQN agent and write a run directory.",
                        epilog=_hyperparameter_help(argv) if _asks_train_help(argv) else None)
    tr.add_argument("--env", help="Gymnasium environment id (default: the config's, CartPole-v1)")
    tr.add_argument("--seed", type=int, help="random seed (default: the config's, 0)")
    tr.add_argument("--seeds", help="train several seeds concurrently, e.g. 0-9 or 0,3,5: one worker process per "
                                    "core, RUN/seed-N each, plus RUN/summary.csv and RUN/curve.png")
    tr.add_argument("--workers", type=int, help="with --seeds: seeds trained at a time (default: one per core)")
    tr.add_argument("--run-dir", help="where to write config, metrics, checkpoints (default: runs/ENV_N, numbered "
                                      "one past the largest N there)")
    tr.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its latest checkpoint, exactly "
                                                    "where it stopped (its config.yaml; key=value may only raise "
                                                    "train.total_steps or change log.*)")
    tr.add_argument("--config", help="YAML file with hyperparameters (a run's config.yaml works too)")
    tr.add_argument("--preset", help="named preset from deepq/config/presets (default: the tuned one for --env)")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("--env-kwargs", metavar="JSON", help="keyword arguments for gym.make or the env factory, e.g. "
                                                         "'{\"size\": 7}' (the same as env.kwargs.size=7)")
    tr.add_argument("--overwrite", action="store_true", help="replace the run (or seeds) in --run-dir, unless a "
                                                             "live process trains it")
    tr.add_argument("--print-config", action="store_true", help="print the fully resolved config this run would "
                                                                "use (YAML) and exit without training")
    tr.add_argument("overrides", nargs="*", metavar="key=value", help="hyperparameter overrides (listed below)")

    ev = sub.add_parser("evaluate", help="greedy evaluation of a trained run (or the random baseline)")
    ev.add_argument("run", nargs="?", help="run directory written by `deepq train` (or by --seeds: every seed)")
    ev.add_argument("--seeds", metavar="SPEC", help="with a directory written by --seeds: only these training seeds "
                                                    "(e.g. 3 or 0-2)")
    ev.add_argument("--episodes", type=int, default=100, help="number of episodes (default 100)")
    ev.add_argument("--seed", type=int, default=1000, help="episode i is reset with seed SEED+i (default 1000)")
    ev.add_argument("--random", action="store_true", help="evaluate the uniform-random policy instead")
    ev.add_argument("--env", help="environment id (required with --random; default: the run's)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    pl = sub.add_parser("plot", help="learning curves of runs (seeds of one config as a mean with a 95%% band)")
    pl.add_argument("runs", nargs="+", metavar="run", help="run directories written by `deepq train` (a "
                                                           "directory written by --seeds counts as its seeds)")
    pl.add_argument("--seeds", metavar="SPEC", help="with directories written by --seeds: only these training seeds")
    pl.add_argument("--aggregate", metavar="FILE", help="also draw the aggregate figure: interquartile mean of the "
                                                        "greedy evaluations over seeds and of the final scores, "
                                                        "with 95%% stratified-bootstrap intervals")
    pl.add_argument("--out", default="curve.png", help="image file to write (.png, .pdf or .svg; default curve.png)")
    pl.add_argument("--smooth", type=int, default=20, help="training return: trailing mean over N episodes "
                                                           "(default 20; 1 = raw)")
    pl.add_argument("--panels", default="", help="extra panels below the return, comma-separated: loss,q,epsilon")

    pv = sub.add_parser("play", help="record greedy episodes of a trained run as MP4 or GIF")
    pv.add_argument("run", help="run directory written by `deepq train` (or by --seeds: each seed plays in turn)")
    pv.add_argument("--seeds", metavar="SPEC", help="with a directory written by --seeds: only these training seeds")
    pv.add_argument("--video", required=True, help="output file, .mp4 or .gif")
    pv.add_argument("--episodes", type=int, default=1, help="number of episodes (default 1)")
    pv.add_argument("--seed", type=int, default=1000, help="episode i is reset with seed SEED+i (default 1000)")
    pv.add_argument("--fps", type=float, default=50, help="frames per second (default 50; GIF players cap it "
                                                          "at 50)")
    pv.add_argument("--every", type=int, default=1, help="keep every K-th step's frame, plus each episode's first "
                                                         "and last (default 1: all; 2 halves the file)")
    pv.add_argument("--scale", type=float, default=1.0, help="resize frames by this factor (default 1.0)")

    sw = sub.add_parser("sweep", help="hyperparameter sweep over seeds on Ray Tune (pip install '.[sweep]')",
                        description="Train every config of a sweep file on every seed and rank the configs by "
                                    "the interquartile mean of their final scores. The sweep file format is in "
                                    "the README, section 'Many seeds and sweeps'.")
    sw.add_argument("sweep_file", metavar="SWEEP.yaml", help="sweep file: base config, seeds, grid and/or random")
    sw.add_argument("--run-dir", help="sweep directory (default: runs/<name of the sweep file>)")
    sw.add_argument("--address", help="Ray cluster to run on: auto, or ray://HOST:10001 (default: start Ray here)")
    sw.add_argument("--workers", type=int, help="trials at a time (default: one per CPU of the Ray cluster)")
    sw.add_argument("--resume", action="store_true", help="continue an interrupted sweep in --run-dir: finished "
                                                          "trials are kept, the others train again")

    sub.add_parser("presets", help="list the shipped presets")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from deepq.config.schema import parse_override, resolve

    overrides = dict(parse_override(o) for o in args.overrides)
    if args.env_kwargs is not None:  # first, so that env.kwargs.KEY=VALUE overrides can refine it
        overrides = {"env.kwargs": _env_kwargs(args.env_kwargs), **overrides}
    if args.resume is not None:
        return _resume(args, overrides)
    cfg = resolve(env_id=args.env, preset=args.preset, config_file=args.config, overrides=overrides,
                  seed=args.seed)
    if args.print_config:
        return _print_config(cfg)
    if args.seeds is not None:
        return _train_seeds(args, cfg)
    run_dir = _run_dir_for(args, cfg)
    with _collector_paused():  # here, not above: a refused config does not import the training code
        from deepq.train import train
        from deepq.viz.plots import curves_in_background

    # At a terminal, curve.png is drawn by a detached process: the prompt comes back once the agent is saved.
    with _numbered(args, run_dir) as announce, curves_in_background(sys.stderr.isatty()):
        agent = train(cfg, run_dir, quiet=args.quiet, overwrite=args.overwrite, callbacks=announce)
    return _report(cfg, agent, run_dir)


def _env_kwargs(text: str) -> dict:
    """--env-kwargs: a JSON (or YAML) mapping, or a one-line error."""
    from deepq.config.sources import load_yaml  # bounded: aliases, depth, size

    value = load_yaml(text, "--env-kwargs")
    if not isinstance(value, dict):
        raise DeepQError(f"--env-kwargs {text!r} is not a mapping; write e.g. --env-kwargs '{{\"size\": 7}}'")
    return value


def _run_dir_for(args: argparse.Namespace, cfg) -> str:
    """--run-dir, or a new numbered runs/ENV_N (printed, so the user knows where the run goes)."""
    if args.run_dir is not None and not args.run_dir.strip():
        raise DeepQError("--run-dir is empty; give a directory, or leave --run-dir out for a numbered runs/ENV_N")
    if args.run_dir:
        return args.run_dir
    if args.overwrite:
        raise DeepQError("--overwrite replaces the run in --run-dir; give --run-dir DIR")
    from deepq.run.runs import numbered_run_dir

    return str(numbered_run_dir(cfg.env.id.rpartition(":")[2]))


class _numbered:
    """Around training into a numbered run directory (none given): says where the run goes as soon as it trains
    (bad input stays a one-line error), and removes the directory again if nothing was trained in it (a bad env
    id, a refused config), so that a typo does not use up a number."""

    def __init__(self, args: argparse.Namespace, run_dir: str) -> None:
        self.path = None if args.run_dir else Path(run_dir)
        self.root_was_empty = self.path is not None and len(list(self.path.parent.iterdir())) == 1

    def __enter__(self) -> list:
        from deepq.run.callbacks import Callback

        path = self.path

        class Announce(Callback):
            said = False

            def _say(self) -> None:
                if not self.said:
                    self.said = True
                    print(f"deepq: run directory {path}", file=sys.stderr, flush=True)

            def on_episode(self, *args, **kwargs) -> None:
                self._say()

            def on_eval(self, *args, **kwargs) -> None:
                self._say()

        return [] if path is None else [Announce()]

    def __exit__(self, kind, *_) -> None:
        from deepq.run.runs import CONFIG

        if kind is not None and self.path is not None and self.path.is_dir() and not (self.path / CONFIG).exists() \
                and not any(self.path.glob(f"*/{CONFIG}")):
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)
            if self.root_was_empty:
                try:
                    self.path.parent.rmdir()  # runs/, made for this run alone
                except OSError:
                    pass


def _resume(args: argparse.Namespace, overrides: dict) -> int:
    from deepq.run.resuming import config_for_resume

    with _collector_paused():
        from deepq.train import train

    for flag, value in (("--config", args.config), ("--preset", args.preset), ("--seeds", args.seeds),
                        ("--overwrite", args.overwrite or None)):
        if value is not None:
            raise DeepQError(f"--resume continues the run as its config.yaml says; drop {flag}")
    if args.run_dir is not None and Path(args.run_dir) != Path(args.resume):
        raise DeepQError(f"--resume {args.resume} continues that directory; drop --run-dir {args.run_dir}")
    for key, value in (("env.id", args.env), ("seed", args.seed)):
        if value is not None:
            overrides[key] = value
    cfg = config_for_resume(args.resume, overrides)
    if args.print_config:
        return _print_config(cfg)
    from deepq.viz.plots import curves_in_background

    with curves_in_background(sys.stderr.isatty()):
        agent = train(cfg, args.resume, quiet=args.quiet, resume=True)
    return _report(cfg, agent, args.resume)


def _print_config(cfg) -> int:
    """`deepq train ... --print-config`: the resolved config as YAML (a valid --config), the env checked."""
    import yaml

    from deepq.envs.make import env_spec

    from deepq.envs.source import factory_of

    if factory_of(cfg.env.id) is None:  # a factory (module:function) was found by importing it
        env_spec(cfg.env.id)  # an unknown id, or a missing extra, is the same one-line error as training would give
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
    return 0


def _report(cfg, agent, run_dir) -> int:
    """The two lines that end `deepq train`."""
    r = agent.result
    repeat = cfg.env.action_repeat
    steps = "env steps" if repeat == 1 else "decisions"  # an action repeat counts the agent's decisions
    status = (f"solved (greedy mean >= {r.threshold:g}) after {r.solved_at_env_steps} {steps}"
              if r.solved else "not solved within the budget")
    if cfg.eval.target is not None and r.solved:
        status += (f", target {cfg.eval.target:g} confirmed after {r.target_at_env_steps} {steps}"
                   if r.target_at_env_steps is not None else f", target {cfg.eval.target:g} not reached")
    if r.final_from_env_steps is not None:
        status += (f" (the run's agent: the one confirmed best, at {r.best_confirmed['bound']:.1f}, after "
                   f"{r.final_from_env_steps} {steps})")
    total = f"{r.env_steps} {steps}" if repeat == 1 else \
        f"{r.env_steps} decisions (env.action_repeat={repeat}: up to {r.env_steps * repeat} env steps)"
    last = r.last_eval["mean"] if r.last_eval else float("nan")
    skipped = (f" ({r.skipped_evaluations} skipped while training was clearly below {r.threshold:g}: "
               "eval.gate_episodes)") if r.skipped_evaluations else ""
    print(f"{cfg.env.id} seed {cfg.seed}: {status}; {total}, {r.grad_steps} gradient steps, "
          f"{r.train_seconds:.1f} s; last evaluation {last:.1f}{skipped}")
    print(f"run directory: {run_dir}  (next: deepq evaluate {run_dir})")
    return 0


def _train_seeds(args: argparse.Namespace, cfg) -> int:
    from deepq.experiments.multiseed import parse_seeds, train_seeds

    if args.seed is not None:
        raise DeepQError("give --seed N for one run or --seeds SPEC for several, not both")
    seeds = parse_seeds(args.seeds)
    run_dir = _run_dir_for(args, cfg)

    def progress(row, done: int, total: int) -> None:
        if not args.quiet:
            what = row.error if row.error else f"{row.status}, final score {row.final_mean:.1f}"
            print(f"[{done}/{total}] seed {row.seed}: {what}", file=sys.stderr, flush=True)

    if not args.run_dir:
        print(f"deepq: run directory {run_dir}", file=sys.stderr, flush=True)
    try:
        with _numbered(args, run_dir):
            table = train_seeds(cfg, seeds, run_dir, workers=args.workers, on_row=progress,
                                overwrite=args.overwrite)
    except KeyboardInterrupt:
        print(f"deepq: {_seeds_resume_hint(run_dir, seeds)}", file=sys.stderr)
        return 130
    print(table.format())
    print(f"run directory: {run_dir}  (summary.csv, aggregate.json, curve.png, aggregate.png, seed-N/)")
    return 0


def _seeds_resume_hint(run_dir: Path, seeds: list[int]) -> str:
    """What Ctrl-C during `--seeds` leaves and how to go on: each seed is its own run directory."""
    from deepq.experiments.multiseed import finished_summary, seed_dir

    started = [s for s in seeds if (seed_dir(run_dir, s) / "checkpoints" / "latest.safetensors").is_file()]
    unfinished = [s for s in started if finished_summary(seed_dir(run_dir, s)) is None]
    done = len(started) - len(unfinished)
    how = "; ".join(f"deepq train --resume {seed_dir(run_dir, s)}" for s in unfinished[:3])
    more = f" (and likewise for seeds {', '.join(map(str, unfinished[3:]))})" if len(unfinished) > 3 else ""
    return (f"interrupted; {done} of {len(seeds)} seeds finished in {run_dir}, every seed's checkpoints are kept"
            + (f"; resume: {how}{more}" if unfinished else ""))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from deepq.envs.make import env_spec
    from deepq.evaluation.evaluate import evaluate, random_baseline

    if args.episodes < 1:
        raise DeepQError(f"--episodes must be >= 1, got {args.episodes}")
    if args.random:
        if not args.env:
            raise DeepQError("--random needs --env ID (the environment to play randomly)")
        from deepq.envs.source import factory_of

        if factory_of(args.env) is None:  # a factory (module:function) was found by importing it
            env_spec(args.env)
        result = random_baseline(args.env, args.episodes, args.seed)
        label = f"random policy on {args.env}"
    else:
        if not args.run:
            raise DeepQError("give a run directory (deepq evaluate runs/NAME) or --random --env ID")
        run_dirs = _runs(args.run, args.seeds)
        with _collector_paused():  # the agent's code (PyTorch), as `deepq train` imports it
            import deepq.algo.agent  # noqa: F401
        if len(run_dirs) > 1:
            return _evaluate_seeds(args, run_dirs)
        result = evaluate(run_dirs[0], episodes=args.episodes, seed=args.seed, env_id=args.env)
        label = f"greedy policy of {run_dirs[0]}"
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{label}: {result.summary()} (seeds {args.seed}-{args.seed + args.episodes - 1})")
    return 0


def _runs(run: str, seeds: str | None) -> list[Path]:
    """A run directory, the seeds of a --seeds directory (all, or those --seeds names), or an agent's file."""
    from deepq.experiments.multiseed import parse_seeds
    from deepq.run.runs import expand_runs

    if Path(run).is_file():  # an agent saved in one file (agent.save, or a run's checkpoints/*.safetensors)
        if seeds is not None:
            raise DeepQError(f"{run} is one agent's file, not a directory of seeds; drop --seeds")
        return [Path(run)]
    return expand_runs(Path(run), None if seeds is None else parse_seeds(seeds))


def _evaluate_seeds(args: argparse.Namespace, run_dirs: list[Path]) -> int:
    """`deepq evaluate` on several seeds: one line (or JSON object) per seed, then their mean and IQM."""
    from deepq.evaluation.evaluate import evaluate
    from deepq.experiments import stats

    results = {}
    for run_dir in run_dirs:
        results[run_dir] = evaluate(run_dir, episodes=args.episodes, seed=args.seed, env_id=args.env)
        if not args.json:
            print(f"greedy policy of {run_dir}: {results[run_dir].summary()}")
    means = [r.mean for r in results.values()]
    ci = stats.mean_ci(means)
    if args.json:
        print(json.dumps({"runs": {str(k): v.to_dict() for k, v in results.items()}, "mean": ci.mean,
                          "iqm": stats.iqm(means), "ci95": [ci.low, ci.high]}))
    else:
        interval = f", 95% CI [{ci.low:.1f}, {ci.high:.1f}] (Student t)" if ci.n > 1 else ""
        print(f"{len(means)} seeds (episode seeds {args.seed}-{args.seed + args.episodes - 1}): mean of the seeds' "
              f"means {ci.mean:.2f}{interval}, IQM {stats.iqm(means):.2f}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from deepq.viz.plots import plot_runs

    panels = [p.strip() for p in args.panels.split(",") if p.strip()]
    run_dirs = [d for run in args.runs for d in _runs(run, args.seeds)]
    out = plot_runs(run_dirs, args.out, smooth=args.smooth, panels=panels)
    print(f"wrote {out}")
    if args.aggregate:
        from deepq.viz.plots import plot_aggregate

        print(f"wrote {plot_aggregate(run_dirs, args.aggregate)}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from deepq.viz.video import record

    run_dirs = _runs(args.run, args.seeds)
    rec = record(run_dirs if len(run_dirs) > 1 else run_dirs[0], args.video, episodes=args.episodes,
                 seed=args.seed, fps=args.fps, every=args.every, scale=args.scale)
    episodes = "1 greedy episode, seed" if args.episodes == 1 else f"{args.episodes} greedy episodes, seeds"
    last = f"-{args.seed + args.episodes - 1}" if args.episodes > 1 else ""
    print(f"wrote {rec.path}: {episodes} {args.seed}{last}, {rec.frames} frames at {rec.fps:g} fps")
    print(f"returns: {', '.join(f'{r:g}' for r in rec.returns)}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from deepq.experiments.sweep import require_ray

    require_ray()  # before anything else: without Ray the one thing to say is how to install it
    from deepq.experiments.sweep import run_sweep

    run_dir = args.run_dir or f"runs/{Path(args.sweep_file).stem}"
    result = run_sweep(args.sweep_file, run_dir, address=args.address, workers=args.workers, resume=args.resume,
                       echo=lambda line: print(line, file=sys.stderr, flush=True))
    print(result.format())
    print(f"sweep directory: {result.root}  (results.csv, results.png, config-NN/seed-N/)")
    if not result.finished:
        print(f"deepq: sweep interrupted; continue it with: deepq sweep {args.sweep_file} --run-dir {run_dir} "
              "--resume", file=sys.stderr)
        return 130
    return 0


def cmd_presets(_: argparse.Namespace) -> int:
    from deepq.config.schema import PRESET_DIR, preset_names, read_yaml

    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {read_yaml(PRESET_DIR / f'{name}.yaml').get('description', '')}")
    return 0


def _asks_train_help(argv: list[str] | None) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    return bool(argv) and argv[0] == "train" and ("-h" in argv or "--help" in argv)


def main(argv: list[str] | None = None) -> int:
    """`deepq ARGV`: the exit status. Without `argv` (the `deepq` program itself, on sys.argv) the process ends
    here, at once (`_exit`)."""
    if argv is None:
        from deepq.run import interrupts

        interrupts.IGNORE_AFTER_STOP = True  # this process ends after a stop: a second Ctrl-C changes nothing
        global _PROGRAM
        _PROGRAM = True
        _exit(main(sys.argv[1:]))
    argv = list(argv)
    args = _parse(build_parser(argv), argv)
    from deepq.run import runs

    wording, runs.WORDING = runs.WORDING, "cli"  # refusals name the command line's flags, not Python's
    handler = {"train": cmd_train, "evaluate": cmd_evaluate, "plot": cmd_plot, "play": cmd_play,
               "sweep": cmd_sweep, "presets": cmd_presets}[args.command]
    try:
        return handler(args)
    except DeepQError as exc:
        print(f"deepq: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:  # SIGINT or SIGTERM during training: saved, says how to resume
        print(f"deepq: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("deepq: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (`deepq ... | head -2`); a run is saved already
        return 141  # 128 + SIGPIPE, as for a shell tool
    except OSError as exc:  # a path the system refuses (too long, not a directory, no permission): one line
        name = str(exc.filename or "")
        name = name if len(name) <= 100 else name[:97] + "..."
        print(f"deepq: error: {exc.strerror or exc}{': ' + name if name else ''}; check the path", file=sys.stderr)
        return EXIT_USAGE
    finally:
        runs.WORDING = wording  # main() called from Python (a test, a notebook) leaves Python's wording


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parsed arguments, with `key=value` overrides taken from both sides of an option (argparse alone takes only
    the first run of positionals: `deepq train lr=... --env X total_steps=...` would refuse the second)."""
    args, unknown = parser.parse_known_args(argv)
    late = [a for a in unknown if "=" in a and not a.startswith("-")] if hasattr(args, "overrides") else []
    rest = [a for a in unknown if a not in late]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if late:
        args.overrides = list(args.overrides) + late  # later on the line, so they win, as in one run of them
    return args


def _exit(status: int) -> NoReturn:
    """End the `deepq` process now. Every file the command wrote is closed; what is skipped is only the
    interpreter's teardown (freeing every module and object, a last garbage collection), 0.3-0.5 s once PyTorch
    is loaded, which would only delay the prompt. Output is flushed and atexit handlers run first; a live
    non-daemon thread, which a normal exit would wait for, gets the normal exit."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`deepq ... | head`), a closed stream
            pass
    os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
