"""Benchmark: deepq's default preset against Stable-Baselines3's DQN with the RL Zoo's CartPole-v1 hyperparameters,
side by side on the same machine, the same seeds and the same evaluation code.

    pip install -c constraints.txt -e ".[bench]"     # stable-baselines3
    python bench/vs_sb3.py                           # seeds 0-9
    python bench/vs_sb3.py --seeds 0-4 learner.lr=0.001   # a candidate deepq preset (key=value, as deepq train)

Protocol, identical for both libraries:
- each (library, seed) trains in a fresh process with PyTorch on one thread (`torch.set_num_threads(1)`); the runs
  alternate deepq/SB3 in ABBA order over seeds, so that load from other work on the machine falls on both alike;
- during training, a greedy evaluation every `--eval-interval` env steps on `--eval-episodes` episodes (both
  default to deepq's preset, eval.interval and eval.episodes, so SB3 is judged by deepq's own protocol) reset with
  seeds 1_000_000 + 1000 * seed + i, through `deepq.evaluation.evaluate.EpisodeRunner`; the first one
  with a mean >= 475 (CartPole-v1's reward_threshold) stops training and that agent is the final agent. deepq does
  this itself (`eval.stop_when_solved`), at its preset's own threshold where that is stricter (the default preset
  stops at 485: a handicap for deepq, kept because it is what `deepq train` does); for SB3 a callback does it,
  counting env steps as SB3 does (`num_timesteps`). Never solved: the final agent is the one at the end of the budget, and its time and env steps
  "to solve" are the whole budget's (marked with *);
- time to solve = wall-clock from the start of training (building env, networks and buffer included; imports not)
  to the end of the solving evaluation; in-training evaluations are part of it for both;
- final score: the final agent's mean return on 100 greedy episodes reset with seeds 1000-1099, through the same
  `EpisodeRunner`; SB3's policy is `model.predict(obs, deterministic=True)` on the batch of observations.

SB3's set-up is rl-baselines3-zoo `hyperparams/dqn.yml`, entry CartPole-v1 (labelled "Almost Tuned" there):
n_timesteps 5e4, MlpPolicy with net_arch [256, 256], learning_rate 2.3e-3, batch_size 64, buffer_size 100000,
learning_starts 1000, gamma 0.99, target_update_interval 10, train_freq 256, gradient_steps 128,
exploration_fraction 0.16, exploration_final_eps 0.04; everything else SB3's DQN defaults (one env, Huber loss,
max_grad_norm 10, hard target copy, no Double DQN).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0
FINAL_SEEDS = list(range(1000, 1100))

# rl-baselines3-zoo, hyperparams/dqn.yml, CartPole-v1 (n_timesteps is the budget, given to learn()).
ZOO_CARTPOLE = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
                    target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                    exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))
ZOO_N_TIMESTEPS = 50_000


# --- workers: one (library, seed) per fresh process -------------------------------------------------------

def eval_seeds(seed: int, episodes: int) -> list[int]:
    from deepq.train import EVAL_SEED_BASE  # the seeds deepq's own in-training evaluation uses

    return [EVAL_SEED_BASE + 1000 * seed + i for i in range(episodes)]


def final_score(policy) -> tuple[float, float]:
    from deepq.evaluation.evaluate import EpisodeRunner

    runner = EpisodeRunner(ENV_ID, len(FINAL_SEEDS))
    try:
        returns = runner.run(policy, FINAL_SEEDS)
    finally:
        runner.close()
    return float(returns.mean()), float(returns.min())


def run_deepq(job: dict) -> dict:
    import deepq
    from deepq.config.schema import Config

    # The driver resolved the config once (and printed it): the preset file may change while the seeds run.
    cfg = Config.from_dict(job["config"]).replace(seed=job["seed"])
    agent = deepq.train(cfg, quiet=True)
    r = agent.result
    mean, worst = final_score(agent.greedy)
    return {"solved": r.solved, "seconds_to_solve": r.seconds_to_solve, "steps_to_solve": r.solved_at_env_steps,
            "env_steps": r.env_steps, "grad_steps": r.grad_steps, "train_s": r.train_seconds,
            "eval_s": r.time_breakdown_s.get("eval", 0.0), "final_mean": mean, "final_min": worst}


def run_sb3(job: dict) -> dict:
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger

    from deepq.evaluation.evaluate import EpisodeRunner

    seed, interval = job["seed"], job["eval_interval"]
    seeds = eval_seeds(seed, job["eval_episodes"])
    budget = job["budget"] or ZOO_N_TIMESTEPS

    class SolveCallback(BaseCallback):
        """deepq's in-training evaluation protocol, for SB3: every `interval` env steps, a greedy evaluation on the
        same seeded episodes; the first one at or above the threshold stops training."""

        def __init__(self) -> None:
            super().__init__()
            self.next_eval = interval
            self.runner = None
            self.eval_s = 0.0
            self.solved_at = None
            self.seconds_to_solve = None

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += interval
            t0 = time.perf_counter()
            if self.runner is None:
                self.runner = EpisodeRunner(ENV_ID, len(seeds))
            mean = float(self.runner.run(policy, seeds).mean())
            self.eval_s += time.perf_counter() - t0
            if mean >= THRESHOLD:
                self.solved_at = self.num_timesteps
                self.seconds_to_solve = time.perf_counter() - started
                return False  # stop training; this model is the final agent
            return True

    def policy(obs_NO):
        return model.predict(obs_NO, deterministic=True)[0]

    callback = SolveCallback()
    started = time.perf_counter()
    model = DQN("MlpPolicy", gym.make(ENV_ID), seed=seed, device="cpu", verbose=0, **ZOO_CARTPOLE)
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default logger leaves a dir in /tmp per run
    model.learn(total_timesteps=budget, callback=callback)
    train_s = time.perf_counter() - started
    if callback.runner is not None:
        callback.runner.close()
    mean, worst = final_score(policy)
    return {"solved": callback.solved_at is not None, "seconds_to_solve": callback.seconds_to_solve,
            "steps_to_solve": callback.solved_at, "env_steps": int(model.num_timesteps),
            "grad_steps": int(model._n_updates), "train_s": train_s, "eval_s": callback.eval_s,
            "final_mean": mean, "final_min": worst}


def worker(job: dict) -> None:
    import torch

    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    out = run_deepq(job) if job["lib"] == "deepq" else run_sb3(job)
    print(json.dumps({"lib": job["lib"], "seed": job["seed"], "load": load, **out}))


# --- driver -----------------------------------------------------------------------------------------------

def spawn(job: dict) -> dict:
    """Run one (library, seed) in a fresh process; a crash becomes a row with `failed` set and the others go on."""
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"lib": job["lib"], "seed": job["seed"], "failed": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def to_solve(row: dict) -> tuple[float, int]:
    """(seconds, env steps) to solve; an unsolved run counts its whole budget."""
    if row["solved"]:
        return row["seconds_to_solve"], row["steps_to_solve"]
    return row["train_s"], row["env_steps"]


def print_row(row: dict) -> None:
    if row.get("failed"):
        print(f"{row['lib']:<6} {row['seed']:>4} failed ({row['failed']})", flush=True)
        return
    s, steps = to_solve(row)
    mark = " " if row["solved"] else "*"
    print(f"{row['lib']:<6} {row['seed']:>4} {s:9.2f}{mark} {steps:>9}{mark} {row['grad_steps']:>10} "
          f"{row['env_steps'] / row['train_s']:>8,.0f} {row['eval_s']:>7.2f} {row['final_mean']:>10.1f} "
          f"{row['final_min']:>9.0f} {row['load']:>5.2f}", flush=True)


def summary(rows: list[dict], libs: list[str]) -> None:
    print(f"\n{'library':<8} {'solved':>6} {'time to solve s':>16} {'worst s':>8} {'env steps to solve':>18} "
          f"{'env steps/s':>11} {'final score':>11} {'seeds >= 475':>12}")
    medians = {}
    for lib in libs:
        mine = [r for r in rows if r["lib"] == lib and not r.get("failed")]
        if not mine:
            print(f"{lib:<8} no completed run")
            continue
        seconds = [to_solve(r)[0] for r in mine]
        steps = [to_solve(r)[1] for r in mine]
        medians[lib] = statistics.median(seconds)
        solved = sum(r["solved"] for r in mine)
        good = sum(r["final_mean"] >= THRESHOLD for r in mine)
        sps = statistics.median(r["env_steps"] / r["train_s"] for r in mine)
        final = statistics.mean(r["final_mean"] for r in mine)
        print(f"{lib:<8} {f'{solved}/{len(mine)}':>6} {medians[lib]:>16.2f} {max(seconds):>8.2f} "
              f"{statistics.median(steps):>18,.0f} {sps:>11,.0f} {final:>11.1f} {f'{good}/{len(mine)}':>12}")
    failed = [f"{r['lib']} seed {r['seed']}" for r in rows if r.get("failed")]
    if failed:
        print(f"failed, left out of the table: {', '.join(failed)}")
    if "deepq" in medians and "sb3" in medians:
        print(f"\nmedian time to solve, SB3 / deepq: {medians['sb3'] / medians['deepq']:.2f}x")
    print("time and env steps to solve: medians over seeds, an unsolved seed counting its whole budget; "
          "env steps/s: median over seeds of env steps / training seconds; final score: mean over seeds of the "
          "100-episode mean (seeds 1000-1099)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-9", help="seeds, e.g. 0-9 or 0,3,5 (default 0-9)")
    parser.add_argument("--libs", default="deepq,sb3", help="which to run (default deepq,sb3)")
    parser.add_argument("--deepq-budget", type=int, default=0,
                        help="deepq's env step budget (default: the preset's train.total_steps)")
    parser.add_argument("--sb3-budget", type=int, default=ZOO_N_TIMESTEPS,
                        help=f"SB3's env step budget (default: the zoo's n_timesteps, {ZOO_N_TIMESTEPS})")
    parser.add_argument("--eval-interval", type=int, default=0,
                        help="env steps between evaluations (default: the preset's eval.interval)")
    parser.add_argument("--eval-episodes", type=int, default=0,
                        help="episodes per evaluation (default: the preset's eval.episodes)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="changes to deepq's preset")
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    from benchinfo import code_line, key_values, machine_line, preset_lines

    from deepq.config.schema import parse_override, resolve
    from deepq.experiments.multiseed import parse_seeds

    libs = [lib for lib in args.libs.split(",") if lib]
    if "sb3" in libs:
        try:
            import stable_baselines3
        except ImportError:
            raise SystemExit('vs_sb3: needs Stable-Baselines3: pip install -c constraints.txt -e ".[bench]"')
        sb3_version = stable_baselines3.__version__
    else:
        sb3_version = "-"
    seeds = parse_seeds(args.seeds)
    overrides = dict(parse_override(o) for o in args.overrides)
    preset_cfg = resolve(env_id=ENV_ID, overrides=overrides)
    args.eval_interval = args.eval_interval or preset_cfg.eval.interval
    args.eval_episodes = args.eval_episodes or preset_cfg.eval.episodes
    cfg = preset_cfg.replace(**{"eval.interval": args.eval_interval, "eval.episodes": args.eval_episodes})
    deepq_budget = args.deepq_budget or cfg.train.total_steps
    deepq_threshold = max(THRESHOLD, cfg.eval.threshold or THRESHOLD)  # the preset's stricter check, if any
    deepq_cfg = cfg.replace(**{"eval.threshold": deepq_threshold, "eval.stop_when_solved": True, "log.tensorboard": False,
                               "train.torch_threads": 1, "train.total_steps": deepq_budget})

    print(f"bench/vs_sb3.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"{machine_line()}, stable-baselines3 {sb3_version}")
    print(code_line())
    print("\n".join(preset_lines()))
    if overrides:
        print(f"deepq overrides: {' '.join(args.overrides)}")
    print(f"deepq: {key_values(deepq_cfg)}")
    print(f"sb3:   rl-baselines3-zoo dqn.yml CartPole-v1: {' '.join(f'{k}={v}' for k, v in ZOO_CARTPOLE.items())}; "
          f"budget {args.sb3_budget} env steps")
    print(f"both:  torch threads 1; evaluation every {args.eval_interval} env steps on {args.eval_episodes} "
          f"episodes, solved at mean >= {THRESHOLD:g} (deepq: {deepq_threshold:g}); final score on 100 episodes, "
          "seeds 1000-1099\n")

    print(f"{'lib':<6} {'seed':>4} {'to solve s':>10} {'steps':>10} {'grad steps':>10} {'steps/s':>8} {'eval s':>7} "
          f"{'final mean':>10} {'final min':>9} {'load':>5}")
    rows = []
    for i, seed in enumerate(seeds):
        order = libs if i % 2 == 0 else libs[::-1]  # ABBA: neither library always runs first
        for lib in order:
            budget = deepq_budget if lib == "deepq" else args.sb3_budget
            job = {"lib": lib, "seed": seed, "budget": budget, "eval_interval": args.eval_interval,
                   "eval_episodes": args.eval_episodes, "config": deepq_cfg.to_dict()}
            row = spawn(job)
            rows.append(row)
            print_row(row)
    print("* not solved within the budget: the whole budget's seconds and env steps; load = 1-minute load "
          "average when the run started")
    summary(rows, libs)


if __name__ == "__main__":
    from deepq.errors import DeepQError

    try:
        main()
    except DeepQError as exc:  # a bad key=value or seed list: one line, as deepq's own CLI does
        print(f"vs_sb3: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
