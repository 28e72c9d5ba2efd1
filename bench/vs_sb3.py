"""Benchmark: deepq's tuned preset for each task against Stable-Baselines3's DQN with the RL Zoo's tuned
hyperparameters for that task, side by side on the same machine, the same seeds and the same evaluation code.

    pip install -c constraints.txt -e ".[bench,box2d]"          # stable-baselines3, Box2D for LunarLander
    python bench/vs_sb3.py                                       # every task, seeds 100-109
    python bench/vs_sb3.py --envs Acrobot-v1,LunarLander-v3 --seeds 100-102
    python bench/vs_sb3.py --envs CartPole-v1 --seeds 0-4 learner.lr=0.001   # a candidate deepq preset
    python bench/vs_sb3.py --table runs-a.jsonl runs-b.jsonl     # the tables again from --json files

Protocol, identical for both libraries and every task:
- each (library, task, seed) trains in a fresh process with PyTorch on `--threads` threads (default 1;
  `torch.set_num_threads`), the same for both; deepq's run plays its in-training checks in a forked second
  process on the second core, as it does by default where it can (`eval.parallel`: the same results, the
  training does not wait for them); SB3's callback plays them inline; add `eval.parallel=false` (with
  `--libs deepq`) for deepq on one core, and say which in a report;
  the runs alternate deepq/SB3 in ABBA order over seeds, so that load from other work on the machine falls on
  both alike;
- during training, a greedy evaluation every `--eval-interval` env steps on `--eval-episodes` episodes (both
  default to deepq's preset for the task, eval.interval and eval.episodes, so SB3 is judged by deepq's own
  protocol) reset with seeds 1_000_000 + 1000 * seed + i, through `deepq.evaluation.evaluate.EpisodeRunner`;
  one with a mean >= the task's reward_threshold is then confirmed on `eval.confirm_episodes` fresh episodes
  (`eval.confirm_z`: its mean must clear the threshold by that many standard errors), and a passed confirmation
  stops training: that agent is the final agent. deepq does this itself (`eval.stop_when_solved`); for SB3 a
  callback runs deepq's own check (`deepq.evaluation.solved.is_solved`, the same screening, seeds and
  confirmation seeds; not deepq's gate, `eval.gate_episodes`: SB3 is checked at every interval, as the Zoo's
  exploration of 0.1 keeps its training episodes far below its greedy policy), counting env steps as SB3 does
  (`num_timesteps`). `--sb3-check zoo` judges SB3 by its
  first evaluation at the threshold, unconfirmed (the Zoo's own habit; the earlier protocol of this script): a
  weaker claim, since such agents can score below the threshold on fresh episodes. Never solved: the final
  agent is the one at the end of the budget, and its time and env steps "to solve" are the whole budget's
  (marked *);
- time to solve = wall-clock from the start of training (building env, networks and buffer included; imports not)
  to the end of the solving evaluation; in-training evaluations are part of it for both;
- final score: the final agent's mean return on 100 greedy episodes reset with seeds 1000-1099, through the same
  `EpisodeRunner`; SB3's policy is `model.predict(obs, deterministic=True)` on the batch of observations.
- the machine line names NumPy's BLAS kernel (deepq's update is mostly NumPy products; SB3's are PyTorch's). A
  machine that forces an older OpenBLAS kernel (OPENBLAS_CORETYPE, set on some machines for older OpenBLAS builds)
  slows deepq alone: to measure what a plain install runs, unset it for this command only,
  `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/vs_sb3.py ...`, and say which kernel in a report.

SB3's set-ups are rl-baselines3-zoo `hyperparams/dqn.yml` (commit 22e3ff2, 2026-04-23), one entry per task, in
ZOO below; everything else SB3's DQN defaults (one env, Huber loss, max_grad_norm 10, hard target copy, no Double
DQN). The Zoo has no CartPole-v0 entry: CartPole-v0 uses its CartPole-v1 one (labelled "Almost Tuned" there).
deepq's seeds 100-109 are held out: none of its presets was tuned on them.
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

TASKS = ["CartPole-v1", "CartPole-v0", "Acrobot-v1", "MountainCar-v0", "LunarLander-v3"]
FINAL_SEEDS = list(range(1000, 1100))

# rl-baselines3-zoo, hyperparams/dqn.yml (commit 22e3ff2): (SB3 DQN keyword arguments, n_timesteps = the budget
# given to learn()).
_ZOO_CARTPOLE = dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
                     target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                     exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))
_ZOO_SMALL = dict(learning_rate=6.3e-4, batch_size=128, buffer_size=50_000, learning_starts=0, gamma=0.99,
                  target_update_interval=250, train_freq=4, gradient_steps=-1, exploration_fraction=0.12,
                  exploration_final_eps=0.1, policy_kwargs=dict(net_arch=[256, 256]))
ZOO = {
    "CartPole-v1": (_ZOO_CARTPOLE, 50_000),
    "CartPole-v0": (_ZOO_CARTPOLE, 50_000),  # no CartPole-v0 entry in the Zoo: its CartPole-v1 one
    "Acrobot-v1": (_ZOO_SMALL, 100_000),
    "LunarLander-v3": (_ZOO_SMALL, 100_000),  # the same numbers as Acrobot-v1 in the Zoo
    "MountainCar-v0": (dict(learning_rate=4e-3, batch_size=128, buffer_size=10_000, learning_starts=1000,
                            gamma=0.98, target_update_interval=600, train_freq=16, gradient_steps=8,
                            exploration_fraction=0.2, exploration_final_eps=0.07,
                            policy_kwargs=dict(net_arch=[256, 256])), 120_000),
}


def threshold_of(env_id: str) -> float:
    from deepq.envs.make import reward_threshold

    return float(reward_threshold(env_id))


# --- workers: one (library, seed) per fresh process -------------------------------------------------------

def eval_seeds(seed: int, episodes: int) -> list[int]:
    from deepq.train import EVAL_SEED_BASE  # the seeds deepq's own in-training evaluation uses

    return [EVAL_SEED_BASE + 1000 * seed + i for i in range(episodes)]


def final_score(env, policy) -> tuple[float, float]:
    """`env`: an id, or deepq's cfg.env (its action repeat included: the agent as it was trained)."""
    from deepq.evaluation.evaluate import EpisodeRunner

    runner = EpisodeRunner(env, len(FINAL_SEEDS))
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
    mean, worst = final_score(cfg.env, agent.greedy)
    # with an action repeat, the same agent choosing at every env step of the plain task too
    every_step = final_score(cfg.env.id, agent.greedy)[0] if cfg.env.action_repeat > 1 else None
    confirm_s = sum(c["seconds"] for c in r.confirmations)
    return {"action_repeat": cfg.env.action_repeat, "final_every_step": every_step, "confirm_s": confirm_s,
            "confirmations": len(r.confirmations), "skipped": r.skipped_evaluations, "solved": r.solved,
            "seconds_to_solve": r.seconds_to_solve,
            "steps_to_solve": r.solved_at_env_steps,
            "env_steps": r.env_steps, "grad_steps": r.grad_steps, "train_s": r.train_seconds,
            "eval_s": r.time_breakdown_s.get("eval", 0.0), "final_mean": mean, "final_min": worst,
            "checks_in_worker": r.eval_parallel}


def run_sb3(job: dict) -> dict:
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger

    from deepq.evaluation.evaluate import EpisodeRunner

    from deepq.config.schema import Config
    from deepq.evaluation.evaluate import screened_returns
    from deepq.evaluation.solved import is_solved, solve_threshold

    seed, interval, env_id = job["seed"], job["eval_interval"], job["env"]
    seeds = eval_seeds(seed, job["eval_episodes"])
    zoo, zoo_budget = ZOO[env_id]
    budget = job["budget"] or zoo_budget
    check = Config.from_dict(job["config"]).replace(seed=seed)  # deepq's evaluation and confirmation settings
    threshold = solve_threshold(check)  # the env's reward_threshold, unless an override set eval.threshold
    # SB3 is checked at every interval: deepq's gate (eval.gate_episodes) reads the training episodes, which the
    # Zoo's exploration (epsilon 0.1) holds far below SB3's greedy policy (seed 2311: the gate skipped 18 of its
    # 20 checks, its final greedy agent scoring 246), so it could hold back SB3's solves; the checks are a few %
    # of SB3's time.
    check = check.replace(**{"eval.gate_episodes": 0})
    if job.get("sb3_check") == "zoo":
        check = check.replace(**{"eval.confirm_episodes": 0, "eval.screen_episodes": 0})

    class SolveCallback(BaseCallback):
        """deepq's in-training evaluation protocol, for SB3: every `interval` env steps, a greedy evaluation on the
        same seeded episodes (screened as deepq screens), and one at or above the threshold confirmed as deepq
        confirms; the first confirmed one stops training."""

        def __init__(self) -> None:
            super().__init__()
            self.next_eval = interval
            self.runner = None
            self.eval_s = 0.0
            self.confirm_s = 0.0
            self.confirmations = 0
            self.solved_at = None
            self.seconds_to_solve = None

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_eval:
                return True
            self.next_eval += interval
            t0 = time.perf_counter()
            if self.runner is None:
                self.runner = EpisodeRunner(env_id, len(seeds))
            mean = float(screened_returns(self.runner, policy, seeds, check.eval.screen_episodes, threshold).mean())
            self.eval_s += time.perf_counter() - t0
            if is_solved(check, mean, threshold, policy, self.num_timesteps, self.confirmed,
                         attempt=self.confirmations + 1):  # eval.confirm_z_grows counts the tries as deepq does
                self.solved_at = self.num_timesteps
                self.seconds_to_solve = time.perf_counter() - started
                return False  # stop training; this model is the final agent
            return True

        def confirmed(self, outcome) -> None:
            self.confirm_s += outcome.seconds
            self.confirmations += 1

    def policy(obs_NO):
        return model.predict(obs_NO, deterministic=True)[0]

    callback = SolveCallback()
    started = time.perf_counter()
    model = DQN("MlpPolicy", gym.make(env_id), seed=seed, device="cpu", verbose=0, **zoo)
    model.set_logger(Logger(folder=None, output_formats=[]))  # SB3's default logger leaves a dir in /tmp per run
    model.learn(total_timesteps=budget, callback=callback)
    train_s = time.perf_counter() - started
    if callback.runner is not None:
        callback.runner.close()
    mean, worst = final_score(env_id, policy)
    return {"confirm_s": callback.confirm_s, "confirmations": callback.confirmations,
            "solved": callback.solved_at is not None, "seconds_to_solve": callback.seconds_to_solve,
            "steps_to_solve": callback.solved_at, "env_steps": int(model.num_timesteps),
            "grad_steps": int(model._n_updates), "train_s": train_s, "eval_s": callback.eval_s,
            "final_mean": mean, "final_min": worst}


def worker(job: dict) -> None:
    import torch

    torch.set_num_threads(job["threads"])
    load = os.getloadavg()[0]
    out = run_deepq(job) if job["lib"] == "deepq" else run_sb3(job)
    print(json.dumps({"lib": job["lib"], "env": job["env"], "seed": job["seed"], "load": load,
                      "threads": job["threads"], **out}))


# --- driver -----------------------------------------------------------------------------------------------

def spawn(job: dict) -> dict:
    """Run one (library, seed) in a fresh process; a crash becomes a row with `failed` set and the others go on."""
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"lib": job["lib"], "env": job["env"], "seed": job["seed"], "failed": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def to_solve(row: dict) -> tuple[float, int]:
    """(seconds, env steps) to solve; an unsolved run counts its whole budget. deepq with an action repeat k
    counts decisions: k env steps each (at most; a repeat cut short by an episode's end plays fewer)."""
    repeat = row.get("action_repeat") or 1
    if row["solved"]:
        return row["seconds_to_solve"], row["steps_to_solve"] * repeat
    return row["train_s"], row["env_steps"] * repeat


def env_steps_per_s(row: dict) -> float:
    return row["env_steps"] * (row.get("action_repeat") or 1) / row["train_s"]


def print_row(row: dict) -> None:
    if row.get("failed"):
        print(f"{row['env']:<15} {row['lib']:<6} {row['seed']:>4} failed ({row['failed']})", flush=True)
        return
    s, steps = to_solve(row)
    mark = " " if row["solved"] else "*"
    print(f"{row['env']:<15} {row['lib']:<6} {row['seed']:>4} {s:9.2f}{mark} {steps:>9}{mark} {row['grad_steps']:>10} "
          f"{env_steps_per_s(row):>8,.0f} {row['eval_s']:>7.2f} {row.get('confirm_s', 0.0):>7.2f} "
          f"{row['final_mean']:>10.1f} {row['final_min']:>9.0f} {row['load']:>5.2f}", flush=True)


def summary(rows: list[dict], envs: list[str], libs: list[str]) -> None:
    """One line per (task, library), then SB3 / deepq per task."""
    print(f"\n{'task':<15} {'library':<8} {'solved':>6} {'final >= thr':>12} {'time to solve s':>16} {'worst s':>8} "
          f"{'env steps to solve':>18} {'env steps/s':>11} {'final score':>11} {'min final':>9} {'run s':>7}")
    ratios = []
    for env_id in envs:
        threshold = threshold_of(env_id)
        medians = {}
        for lib in libs:
            mine = [r for r in rows if r["env"] == env_id and r["lib"] == lib and not r.get("failed")]
            if not mine:
                print(f"{env_id:<15} {lib:<8} no completed run")
                continue
            seconds = [to_solve(r)[0] for r in mine]
            steps = [to_solve(r)[1] for r in mine]
            medians[lib] = statistics.median(seconds)
            solved = sum(r["solved"] for r in mine)
            good = sum(r["final_mean"] >= threshold for r in mine)
            sps = statistics.median(env_steps_per_s(r) for r in mine)
            final = statistics.mean(r["final_mean"] for r in mine)
            worst_final = min(r["final_mean"] for r in mine)
            print(f"{env_id:<15} {lib:<8} {f'{solved}/{len(mine)}':>6} {f'{good}/{len(mine)}':>12} "
                  f"{medians[lib]:>16.2f} {max(seconds):>8.2f} {statistics.median(steps):>18,.0f} {sps:>11,.0f} "
                  f"{final:>11.1f} {worst_final:>9.1f} {statistics.median(r['train_s'] for r in mine):>7.1f}")
        if "deepq" in medians and "sb3" in medians:
            ratios.append(f"{env_id} {medians['sb3'] / medians['deepq']:.1f}x")
    every = [r for r in rows if r.get("final_every_step") is not None and not r.get("failed")]
    if every:
        print(f"deepq's final agents choosing at every env step of the plain task (no action repeat): mean "
              f"{statistics.mean(r['final_every_step'] for r in every):.1f}, worst "
              f"{min(r['final_every_step'] for r in every):.1f} over {len(every)} seeds")
    failed = [f"{r['env']} {r['lib']} seed {r['seed']}" for r in rows if r.get("failed")]
    if failed:
        print(f"failed, left out of the table: {', '.join(failed)}")
    if ratios:
        print(f"\nmedian time to solve, SB3 / deepq: {', '.join(ratios)}")
    print("solved: the in-training check passed and its confirmation (SB3's too unless --sb3-check zoo); final >= thr: the final agent's "
          "100-episode mean (seeds 1000-1099) at or above the task's reward_threshold; time and env steps to solve: "
          "medians over seeds, an unsolved seed counting its whole budget; env steps/s: median over seeds of env "
          "steps / training seconds; final score: mean over seeds of the 100-episode mean; min final: the worst "
          "seed's; run s: median training seconds of the whole run (past the solve where eval.target trains on)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(TASKS), help=f"tasks, comma-separated (default: {','.join(TASKS)})")
    parser.add_argument("--seeds", default="100-109", help="seeds, e.g. 100-109 or 0,3,5 (default 100-109, held "
                                                           "out from deepq's tuning)")
    parser.add_argument("--libs", default="deepq,sb3", help="which to run (default deepq,sb3)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads for both libraries (default 1)")
    parser.add_argument("--deepq-budget", type=int, default=0,
                        help="deepq's env step budget (default: the preset's train.total_steps)")
    parser.add_argument("--sb3-budget", type=int, default=0,
                        help="SB3's env step budget (default: the Zoo's n_timesteps for the task)")
    parser.add_argument("--eval-interval", type=int, default=0,
                        help="env steps between evaluations (default: the preset's eval.interval)")
    parser.add_argument("--eval-episodes", type=int, default=0,
                        help="episodes per evaluation (default: the preset's eval.episodes)")
    parser.add_argument("--sb3-check", choices=("same", "zoo"), default="same",
                        help="same: SB3's solve is screened and confirmed exactly as deepq's preset does (default); "
                             "zoo: its first evaluation at the threshold, unconfirmed")
    parser.add_argument("--json", help="append every row to this JSON-lines file")
    parser.add_argument("--table", nargs="+", metavar="JSONL", help="print the tables from saved --json rows and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="changes to deepq's presets")
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.table:
        rows = [json.loads(line) for f in args.table for line in Path(f).read_text().splitlines() if line]
        for row in rows:
            print_row(row)
        summary(rows, list(dict.fromkeys(r["env"] for r in rows)), list(dict.fromkeys(r["lib"] for r in rows)))
        return

    from benchinfo import code_line, key_values, machine_line, preset_lines

    from deepq.config.schema import parse_override, resolve
    from deepq.experiments.multiseed import parse_seeds

    libs = [lib for lib in args.libs.split(",") if lib]
    envs = [env for env in args.envs.split(",") if env]
    unknown = [env for env in envs if env not in ZOO]
    if unknown:
        raise SystemExit(f"vs_sb3: no RL Zoo set-up for {', '.join(unknown)}; tasks: {', '.join(TASKS)}")
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

    print(f"bench/vs_sb3.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"{machine_line()}, stable-baselines3 {sb3_version}")
    print(code_line())
    if overrides:
        print(f"deepq overrides: {' '.join(args.overrides)}")
    plans = {}
    for env_id in envs:
        preset_cfg = resolve(env_id=env_id, overrides=overrides)
        interval = args.eval_interval or preset_cfg.eval.interval
        episodes = args.eval_episodes or preset_cfg.eval.episodes
        deepq_cfg = preset_cfg.replace(**{
            "eval.interval": interval, "eval.episodes": episodes, "eval.stop_when_solved": True,
            "log.tensorboard": False, "log.plot": False, "train.torch_threads": args.threads,
            "train.total_steps": args.deepq_budget or preset_cfg.train.total_steps})
        zoo, zoo_budget = ZOO[env_id]
        plans[env_id] = (deepq_cfg, interval, episodes, args.sb3_budget or zoo_budget)
        print(f"\n== {env_id}: solved at a mean >= {threshold_of(env_id):g} (reward_threshold)")
        print("\n".join(preset_lines(env_id)))
        print(f"deepq: {key_values(deepq_cfg)} eval.confirm_episodes={deepq_cfg.eval.confirm_episodes} "
              f"eval.confirm_z={deepq_cfg.eval.confirm_z}")
        print(f"sb3:   rl-baselines3-zoo dqn.yml {'CartPole-v1' if env_id == 'CartPole-v0' else env_id}: "
              f"{' '.join(f'{k}={v}' for k, v in zoo.items())}; budget {plans[env_id][3]} env steps")
        repeat = deepq_cfg.env.action_repeat
        if repeat > 1:
            print(f"deepq: env.action_repeat={repeat}: its steps are decisions of {repeat} env steps; tables count "
                  f"env steps as decisions x {repeat}, and SB3 checks every {interval * repeat} env steps")
        every = f"{interval} env steps" if repeat == 1 else \
            f"{interval} decisions (deepq), {interval * repeat} env steps (SB3)"
        print(f"both:  torch threads {args.threads}; evaluation every {every} on {episodes} episodes; "
              "final score on 100 episodes, seeds 1000-1099; SB3's solves "
              + ("confirmed as deepq's" if args.sb3_check == "same" else "unconfirmed (--sb3-check zoo)"))

    print(f"\n{'task':<15} {'lib':<6} {'seed':>4} {'to solve s':>10} {'steps':>10} {'grad steps':>10} {'steps/s':>8} "
          f"{'eval s':>7} {'conf s':>7} {'final mean':>10} {'final min':>9} {'load':>5}")
    rows = []
    for env_id in envs:
        deepq_cfg, interval, episodes, sb3_budget = plans[env_id]
        for i, seed in enumerate(seeds):
            order = libs if i % 2 == 0 else libs[::-1]  # ABBA: neither library always runs first
            for lib in order:
                # SB3 checks after as many env steps as deepq's eval.interval decisions cover
                steps_between = interval * (deepq_cfg.env.action_repeat if lib == "sb3" else 1)
                job = {"lib": lib, "env": env_id, "seed": seed, "eval_interval": steps_between, "eval_episodes": episodes,
                       "budget": deepq_cfg.train.total_steps if lib == "deepq" else sb3_budget,
                       "config": deepq_cfg.to_dict(), "sb3_check": args.sb3_check, "threads": args.threads}
                row = spawn(job)
                rows.append(row)
                print_row(row)
                if args.json:
                    with open(args.json, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print("* not solved within the budget: the whole budget's seconds and env steps; conf s: the confirmation "
          "episodes, part of the time to solve; load = 1-minute load average when the run started")
    summary(rows, envs, libs)


if __name__ == "__main__":
    from deepq.errors import DeepQError

    try:
        main()
    except DeepQError as exc:  # a bad key=value or seed list: one line, as deepq's own CLI does
        print(f"vs_sb3: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
