"""The `deepq` command. Thin: parse arguments, call the Python API, print.

User errors (`DeepQError`) print one line and exit with status 2; Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

from deepq.errors import DeepQError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, status 2
        self.exit(EXIT_USAGE, f"deepq: error: {message} (see `{self.prog} --help`)\n")


def _hyperparameter_help() -> str:
    from deepq.config import help_rows, preset_names

    lines = ["hyperparameters (set with key=value, e.g. learner.lr=0.001 network.hidden_sizes=128,128):", ""]
    for key, default, text in help_rows():
        wrapped = textwrap.wrap(text, 70) or [""]
        lines.append(f"  {key:<30} {('= ' + default) if default else '= (empty)'}")
        lines.extend(f"      {w}" for w in wrapped)
    lines += ["", "units: 'env steps' count transitions summed over all vector envs; 'gradient steps' count "
              "optimizer updates.", "", f"presets: {', '.join(preset_names())}",
              "precedence: code defaults < preset (the env's tuned one by default) < --config < key=value"]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="deepq", description="Deep Q-Networks for Gymnasium tasks with discrete actions.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tr = sub.add_parser("train", help="train an agent", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Train a DQN agent and write a run directory.", epilog=_hyperparameter_help())
    tr.add_argument("--env", help="Gymnasium environment id (default: the config's, CartPole-v1)")
    tr.add_argument("--seed", type=int, help="random seed (default: the config's, 0)")
    tr.add_argument("--run-dir", help="where to write config, metrics, checkpoints (default: runs/ENV-sSEED-TIME)")
    tr.add_argument("--config", help="YAML file with hyperparameters (a run's config.yaml works too)")
    tr.add_argument("--preset", help="named preset from deepq/presets (default: the tuned one for --env)")
    tr.add_argument("--quiet", action="store_true", help="no progress output")
    tr.add_argument("overrides", nargs="*", metavar="key=value", help="hyperparameter overrides (listed below)")

    ev = sub.add_parser("evaluate", help="greedy evaluation of a trained run (or the random baseline)")
    ev.add_argument("run", nargs="?", help="run directory written by `deepq train`")
    ev.add_argument("--episodes", type=int, default=100, help="number of episodes (default 100)")
    ev.add_argument("--seed", type=int, default=1000, help="episode i is reset with seed SEED+i (default 1000)")
    ev.add_argument("--random", action="store_true", help="evaluate the uniform-random policy instead")
    ev.add_argument("--env", help="environment id (required with --random; default: the run's)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")

    sub.add_parser("presets", help="list the shipped presets")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from deepq.config import parse_override, resolve
    from deepq.train import train

    overrides = dict(parse_override(o) for o in args.overrides)
    cfg = resolve(env_id=args.env, preset=args.preset, config_file=args.config, overrides=overrides,
                  seed=args.seed)
    run_dir = args.run_dir or f"runs/{cfg.env.id}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    agent = train(cfg, run_dir, quiet=args.quiet)
    r = agent.result
    status = (f"solved (greedy mean >= {r.threshold:g}) after {r.solved_at_env_steps} env steps"
              if r.solved else "not solved within the budget")
    last = r.last_eval["mean"] if r.last_eval else float("nan")
    print(f"{cfg.env.id} seed {cfg.seed}: {status}; {r.env_steps} env steps, {r.grad_steps} gradient steps, "
          f"{r.train_seconds:.1f} s; last evaluation {last:.1f}")
    print(f"run directory: {run_dir}  (next: deepq evaluate {run_dir})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from deepq.envs import env_spec
    from deepq.evaluate import evaluate, random_baseline

    if args.episodes < 1:
        raise DeepQError(f"--episodes must be >= 1, got {args.episodes}")
    if args.random:
        if not args.env:
            raise DeepQError("--random needs --env ID (the environment to play randomly)")
        env_spec(args.env)
        result = random_baseline(args.env, args.episodes, args.seed)
        label = f"random policy on {args.env}"
    else:
        if not args.run:
            raise DeepQError("give a run directory (deepq evaluate runs/NAME) or --random --env ID")
        result = evaluate(Path(args.run), episodes=args.episodes, seed=args.seed, env_id=args.env)
        label = f"greedy policy of {args.run}"
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"{label}: {result.summary()} (seeds {args.seed}-{args.seed + args.episodes - 1})")
    return 0


def cmd_presets(_: argparse.Namespace) -> int:
    from deepq.config import PRESET_DIR, preset_names, read_yaml

    for name in preset_names():
        print(f"{name:<24} {read_yaml(PRESET_DIR / f'{name}.yaml').get('description', '')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"train": cmd_train, "evaluate": cmd_evaluate, "presets": cmd_presets}[args.command]
    try:
        return handler(args)
    except DeepQError as exc:
        print(f"deepq: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("deepq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
