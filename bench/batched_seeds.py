"""Benchmark: many seeds as ONE batched network in one process (lockstep), against deepq's process pool.

    python bench/batched_seeds.py                 # seeds 0-9: pool of 2; one process x 10 seeds; 2 processes x 5
    python bench/batched_seeds.py --seeds 0-3

`deepq train --seeds` runs one seed at a time per worker process. This script measures the other design the
speed issue names, end to end: every seed keeps its own vector env, replay buffer, random generators, epsilon and
evaluation, but acting is one forward pass and learning one gradient step (`deepq.fast.learner.Learner` with S
networks, one `bmm` per layer) for all seeds together. A seed stops when its evaluation is solved (its network
then idles in the batch); the group ends when every seed has solved or used its budget. Each seed's final agent
is then scored on 100 greedy episodes (seeds 1000-1099), as the pool does.

It is a measurement prototype, not a deepq mode: it writes no run directory, metrics, checkpoints or plots (the
pool does all of that, which costs it about 0.3 s per seed), and lockstep changes a seed's trajectory (a batched
update computes in another order, and updates are due per group, not per seed), so its seeds solve at other
steps than the same seeds trained alone. Compare wall-clock, solve rate and final scores, not steps per seed.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def lockstep(seeds: list[int], overrides: dict) -> list[dict]:
    """Train `seeds` of the default CartPole preset as one batched network; one dict per seed."""
    import torch

    from deepq.data.collector import Collector
    from deepq.config.schema import resolve
    from deepq.envs.make import make_vec_env, reward_threshold
    from deepq.evaluation.evaluate import EpisodeRunner, evaluate
    from deepq.fast.learner import Learner
    from deepq.nets.build import build_q_network
    from deepq.algo.objectives import make_objective, outputs_per_action
    from deepq.data.replay import make_buffer
    from deepq.algo.schedules import epsilon_at, linear
    from deepq.train import EVAL_SEED_BASE

    started = time.perf_counter()
    torch.set_num_threads(1)
    cfg = resolve(env_id="CartPole-v1", overrides=overrides)
    n_seeds = len(seeds)
    envs = [make_vec_env(cfg.env.id, cfg.env.num_envs) for _ in seeds]
    obs_dim, n_actions = int(envs[0].single_observation_space.shape[0]), int(envs[0].single_action_space.n)
    nets = []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(build_q_network(obs_dim, n_actions, cfg.network, atoms=outputs_per_action(cfg.learner)))
    learner = Learner(nets, n_actions, cfg, torch.device("cpu"))
    buffers = [make_buffer(cfg.replay, (obs_dim,), cfg.learner.gamma, cfg.env.num_envs) for _ in seeds]
    collectors = [Collector(e, b, s, cfg.replay.n_step, cfg.env.terminal_reward) for e, b, s in zip(envs, buffers, seeds)]
    rngs = [[np.random.default_rng(r) for r in np.random.SeedSequence(s).spawn(2)] for s in seeds]
    threshold = reward_threshold(cfg.env.id)
    runner = EpisodeRunner(cfg.env.id, cfg.eval.episodes)
    env_steps, episodes, credit = [0] * n_seeds, [0] * n_seeds, [0] * n_seeds
    next_eval = [max(cfg.eval.interval, cfg.train.learning_starts)] * n_seeds
    solved_at: list = [None] * n_seeds
    seconds: list = [None] * n_seeds
    active = set(range(n_seeds))
    screen = cfg.eval.screen_episodes

    objective = None if outputs_per_action(cfg.learner) is None else make_objective(cfg.learner)  # Q from logits
    frozen: dict = {}  # seed index -> a copy of its network when it solved (the batch goes on updating it)

    def greedy(i):
        def policy(obs):
            with torch.no_grad():
                net = frozen.get(i, nets[i])
                out = net(torch.from_numpy(np.asarray(obs, dtype=np.float32)))
                return (out if objective is None else objective.q_values(out)).argmax(1).numpy()
        return policy

    while active:
        step = statistics.mean(env_steps[i] for i in active)
        if cfg.learner.lr_end is not None:  # one Adam for all seeds: the lr follows the active seeds' mean step
            learner.set_lr(linear(cfg.learner.lr, cfg.learner.lr_end, cfg.train.total_steps, int(step)))
        obs = torch.from_numpy(np.stack([c.obs_NO for c in collectors]).astype(np.float32))
        greedy_SN = learner.q_values(obs).argmax(-1).numpy()
        for i in list(active):
            act_rng = rngs[i][0]
            eps = epsilon_at(cfg.exploration, env_steps[i], episodes[i])
            explore = act_rng.random(cfg.env.num_envs) < eps
            random_a = act_rng.integers(0, n_actions, size=cfg.env.num_envs)
            n_real, finished = collectors[i].step(np.where(explore, random_a, greedy_SN[i]))
            env_steps[i] += n_real
            episodes[i] += len(finished)
            credit[i] += n_real
        if min(env_steps[i] for i in active) >= cfg.train.learning_starts:
            due = min(credit[i] for i in active) // cfg.train.train_freq
            for i in active:
                credit[i] -= due * cfg.train.train_freq
            for _ in range(due * cfg.train.gradient_steps):
                batches = [buffers[i].sample(cfg.replay.batch_size, rngs[i][1]) for i in range(n_seeds)]
                learner.step(*[torch.from_numpy(np.stack([getattr(b, f) for b in batches]))
                               for f in ("obs", "action", "reward", "next_obs", "done", "discount")])
        for i in list(active):
            if env_steps[i] >= next_eval[i]:
                next_eval[i] += cfg.eval.interval
                eval_seeds = [EVAL_SEED_BASE + 1000 * seeds[i] + k for k in range(cfg.eval.episodes)]
                returns = runner.run(greedy(i), eval_seeds[:screen] if screen else eval_seeds)
                if screen and returns.mean() >= threshold:
                    returns = np.concatenate([returns, runner.run(greedy(i), eval_seeds[screen:])])
                if len(returns) == cfg.eval.episodes and returns.mean() >= threshold:
                    solved_at[i], seconds[i] = env_steps[i], time.perf_counter() - started
                    frozen[i] = copy.deepcopy(nets[i])
                    active.discard(i)
            if env_steps[i] >= cfg.train.total_steps:
                active.discard(i)
    train_s = time.perf_counter() - started

    class Scored:  # what deepq.evaluate needs of an agent
        def __init__(self, i):
            self.greedy, self.cfg = greedy(i), cfg

    finals = [evaluate(Scored(i), episodes=100, seed=1000).mean for i in range(n_seeds)]
    return [{"seed": s, "solved_at": solved_at[i], "seconds_to_solve": seconds[i], "final": finals[i],
             "group_train_s": train_s} for i, s in enumerate(seeds)]


def run_groups(groups: list[list[int]], overrides: list[str]) -> tuple[float, list[dict]]:
    """Each group in its own fresh process, all groups at once; (wall seconds, rows)."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--group", ",".join(map(str, g)), *overrides],
                              stdout=subprocess.PIPE, text=True) for g in groups]
    rows = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a group failed (exit {p.returncode})")
        rows += json.loads(out.strip().splitlines()[-1])
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--group", help=argparse.SUPPRESS)  # internal: train this group, print JSON rows
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args()
    from deepq.config.schema import parse_override
    from deepq.experiments.multiseed import parse_seeds

    overrides = dict(parse_override(o) for o in args.overrides)
    if args.group:
        print(json.dumps(lockstep([int(s) for s in args.group.split(",")], overrides)))
        return

    from benchinfo import machine_line, preset_lines

    from deepq.config.schema import resolve
    from deepq.experiments.multiseed import train_seeds

    seeds = parse_seeds(args.seeds)
    print(machine_line())
    print("\n".join(preset_lines()))
    half = (len(seeds) + 1) // 2
    modes = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = resolve(env_id="CartPole-v1", overrides={**overrides, "log.plot": False, "log.tensorboard": False})
        started = time.perf_counter()
        table = train_seeds(cfg, seeds, Path(tmp) / "pool", workers=2)
        pool_rows = [{"seed": r.seed, "solved_at": r.env_steps_to_solve, "final": r.final_mean} for r in table.rows]
        modes.append(("deepq train --seeds: pool of 2 (log.plot=false, no TB)", time.perf_counter() - started, pool_rows))
    modes.append((f"1 process, {len(seeds)} seeds batched", *run_groups([seeds], args.overrides)))
    modes.append((f"2 processes, {half}+{len(seeds) - half} seeds batched",
                   *run_groups([seeds[:half], seeds[half:]], args.overrides)))
    print(f"\n{'mode':<52} {'wall s':>7} {'solved':>7} {'median steps':>12} {'final >= 475':>12} {'min final':>9}")
    for label, wall, rows in modes:
        solved = [r["solved_at"] for r in rows if r["solved_at"] is not None]
        finals = [r["final"] for r in rows]
        med = f"{statistics.median(solved):,.0f}" if solved else "-"
        print(f"{label:<52} {wall:7.1f} {len(solved):>3}/{len(rows):<3} {med:>12} "
              f"{sum(f >= 475 for f in finals):>8}/{len(rows):<3} {min(finals):9.1f}")
    print("wall = everything a user waits for: processes, imports, training to solved, the 100-episode final score")


if __name__ == "__main__":
    main()
