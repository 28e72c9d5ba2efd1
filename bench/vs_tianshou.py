"""Benchmark: deepq's `rainbow` preset side by side with Tianshou's Rainbow on CartPole-v1, in one run.

    pip install -c constraints.txt -e ".[bench]"          # tianshou==2.0.1
    python bench/vs_tianshou.py --seeds 100-109 --json /tmp/vs_tianshou.jsonl

Tianshou's side is its own CartPole Rainbow, `test/discrete/test_rainbow.py::test_prainbow` in tianshou 2.0.1
(Rainbow with prioritized replay): a 128x4 MLP with NoisyLinear (std 0.1) dueling heads, C51 on [-10, 10] with 51
atoms, 3-step returns, gamma 0.95, Adam 1e-3, a hard target copy every 320 updates, 8 training envs, 8 env steps
per collection and one update per 8 env steps (batch 64), a prioritized buffer of 20,000 (alpha 0.6, beta 0.4 -> 1
from 10k to 50k env steps), epsilon 0.1 -> 0.01 from 10k to 50k env steps, and 512 env steps collected before
training (counted here). deepq's side is `--preset rainbow` on CartPole-v1, through bench/variants.py's worker.

The same for both: seeds (each library seeds its own generators and envs with it), budget (50,000 env steps,
Tianshou's epsilon and beta schedules end there), and deepq's evaluation, run on each library's greedy policy
(Tianshou's network in eval mode, so its noisy layers use their mean weights, argmax of the mean of the
distribution): every 1,000 env steps the CartPole preset's check (30 seeded episodes, the last 20 only if the
first 10 reach 475), a passing check confirmed on 100 fresh episodes at 2 standard errors above 475; training goes
on for 10 checks after the first passing one (or to the budget), and the final agent is scored on 100 greedy
episodes with reset seeds 1000-1099. Seconds include the evaluations on both sides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import variants  # noqa: E402  (bench/variants.py: the deepq side, the table)

ENV = "CartPole-v1"
BUDGET = 50_000
AFTER_SOLVE = 10

TIANSHOU_WORKER = r"""
import json, sys, time
import gymnasium as gym
import numpy as np
import torch
from tianshou.algorithm import RainbowDQN
from tianshou.algorithm.modelfree.c51 import C51Policy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, CollectStats, PrioritizedVectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.trainer import OffPolicyTrainerParams
from tianshou.utils.net.common import Net
from tianshou.utils.net.discrete import NoisyLinear
from tianshou.utils.torch_utils import policy_within_training_step
from deepq.config.schema import resolve
from deepq.evaluation.evaluate import EpisodeRunner
from deepq.evaluation.solved import is_solved, solve_threshold

class Stop(Exception):
    pass

# test/discrete/test_rainbow.py (tianshou 2.0.1), test_prainbow: its get_args() defaults with prioritized_replay
# and gamma 0.95
A = dict(eps_train=0.1, buffer_size=20000, lr=1e-3, gamma=0.95, num_atoms=51, v_min=-10.0, v_max=10.0,
         noisy_std=0.1, n_step=3, target_update_freq=320, collection_step_num_env_steps=8, update_per_step=0.125,
         batch_size=64, hidden_sizes=[128, 128, 128, 128], num_training_envs=8, alpha=0.6, beta=0.4, beta_final=1.0)
budget, after, seeds = int(sys.argv[1]), int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")]
torch.set_num_threads(1)

for seed in seeds:
    cfg = resolve(env_id="CartPole-v1", seed=seed)    # deepq's evaluation settings for CartPole-v1
    threshold = solve_threshold(cfg)
    env = gym.make("CartPole-v1")
    np.random.seed(seed)
    torch.manual_seed(seed)
    training_envs = DummyVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(A["num_training_envs"])])
    training_envs.seed(seed)
    noisy = lambda x, y: NoisyLinear(x, y, A["noisy_std"])
    net = Net(state_shape=env.observation_space.shape, action_shape=env.action_space.n,
              hidden_sizes=A["hidden_sizes"], softmax=True, num_atoms=A["num_atoms"],
              dueling_param=({"linear_layer": noisy}, {"linear_layer": noisy}))
    policy = C51Policy(model=net, action_space=env.action_space, num_atoms=A["num_atoms"], v_min=A["v_min"],
                       v_max=A["v_max"], eps_training=A["eps_train"], eps_inference=0.0)
    algorithm = RainbowDQN(policy=policy, optim=AdamOptimizerFactory(lr=A["lr"]), gamma=A["gamma"],
                           n_step_return_horizon=A["n_step"], target_update_freq=A["target_update_freq"])
    buf = PrioritizedVectorReplayBuffer(A["buffer_size"], buffer_num=A["num_training_envs"], alpha=A["alpha"],
                                        beta=A["beta"], weight_norm=True)
    collector = Collector[CollectStats](algorithm, training_envs, buf, exploration_noise=True)
    support = torch.linspace(A["v_min"], A["v_max"], A["num_atoms"])

    def greedy(obs_NO):  # the mean network (NoisyLinear in eval mode), argmax of the distribution's mean
        was_training = net.training
        net.eval()
        with torch.no_grad():
            probs_NAK = net(torch.as_tensor(obs_NO, dtype=torch.float32))[0]
            action_N = (probs_NAK * support).sum(2).argmax(1).numpy()
        net.train(was_training)
        return action_N

    eval_seeds = [1_000_000 + 1000 * seed + i for i in range(cfg.eval.episodes)]
    runner = EpisodeRunner(cfg.env, cfg.eval.episodes, cfg.env.max_episode_steps)
    k = cfg.eval.screen_episodes
    state = dict(next_eval=cfg.eval.interval, evals=[], first=None, solved_at=None, s_to_solve=None, steps=0, tries=0)
    initial = A["batch_size"] * A["num_training_envs"]
    started = time.perf_counter()

    def check(env_steps):
        returns = runner.run(greedy, eval_seeds[:k])
        if returns.mean() >= threshold:
            returns = np.concatenate([returns, runner.run(greedy, eval_seeds[k:])])
        mean = float(returns.mean())
        state["evals"].append((env_steps, mean))
        if state["solved_at"] is None and is_solved(cfg, mean, threshold, greedy, env_steps,
                                                    lambda _: state.update(tries=state["tries"] + 1),
                                                    attempt=state["tries"] + 1):
            state["solved_at"], state["s_to_solve"] = env_steps, time.perf_counter() - started
        if state["first"] is None and mean >= threshold:
            state["first"] = len(state["evals"])
        if after and state["first"] is not None and len(state["evals"]) - state["first"] >= after:
            raise Stop

    def training_fn(epoch, env_step):  # test_rainbow.py's schedules, plus deepq's evaluation every 1000 env steps
        steps = env_step + initial
        state["steps"] = steps
        while steps >= state["next_eval"]:
            state["next_eval"] += cfg.eval.interval
            check(steps)
        if steps >= budget:
            raise Stop
        if env_step <= 10000:
            policy.set_eps_training(A["eps_train"])
            buf.set_beta(A["beta"])
        elif env_step <= 50000:
            frac = (env_step - 10000) / 40000
            policy.set_eps_training(A["eps_train"] - frac * 0.9 * A["eps_train"])
            buf.set_beta(A["beta"] - frac * (A["beta"] - A["beta_final"]))
        else:
            policy.set_eps_training(0.1 * A["eps_train"])
            buf.set_beta(A["beta_final"])

    with policy_within_training_step(policy):
        collector.reset()
        collector.collect(n_step=initial)
    epoch_steps = 5000
    try:
        algorithm.run_training(OffPolicyTrainerParams(
            training_collector=collector, test_collector=None, max_epochs=(budget - initial) // epoch_steps + 1,
            epoch_num_steps=epoch_steps, collection_step_num_env_steps=A["collection_step_num_env_steps"],
            batch_size=A["batch_size"], update_step_num_gradient_steps_per_sample=A["update_per_step"],
            training_fn=training_fn, verbose=False, show_progress=False))
    except Stop:
        pass
    train_s = time.perf_counter() - started
    final = EpisodeRunner(cfg.env, 100, cfg.env.max_episode_steps).run(greedy, list(range(1000, 1100)))
    solved_at = state["solved_at"]
    later = [m for s, m in state["evals"] if solved_at is not None and s > solved_at]
    print(json.dumps({"env": "CartPole-v1", "row": "tianshou rainbow", "seed": seed, "threshold": threshold,
                      "solved": solved_at is not None, "solved_at": solved_at, "s_to_solve": state["s_to_solve"],
                      "checks_after": len(later), "held": sum(m >= threshold for m in later),
                      "env_steps": state["steps"], "budget": budget, "train_s": train_s,
                      "final_mean": float(final.mean()), "final_std": float(final.std()),
                      "final_min": float(final.min()), "evals": state["evals"]}), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="100-109", help="held-out seeds (deepq's presets were tuned on 0-29)")
    parser.add_argument("--json", help="append one JSON line per run to this file; runs already there are skipped")
    parser.add_argument("--budget", type=int, default=BUDGET, help="env steps per run, both sides (50000)")
    parser.add_argument("--sides", default="deepq,tianshou", help="which sides to run (the table shows both)")
    args = parser.parse_args()
    seeds = variants.parse_seeds(args.seeds)
    path = Path(args.json) if args.json else None
    done = set()
    if path and path.exists():
        done = {(r["row"], r["seed"]) for r in map(json.loads, path.read_text().splitlines())}

    preset, overrides = variants.variant_rows(ENV)["rainbow"]
    deepq_cmd = [sys.executable, "-c", variants.WORKER, ENV, preset, "rainbow", str(AFTER_SOLVE)]
    deepq_args = [*overrides, *variants.common_overrides(ENV, args.budget)]
    sides = {"deepq": ("rainbow", lambda todo: [*deepq_cmd, todo, *deepq_args]),
             "tianshou": ("tianshou rainbow", lambda todo: [sys.executable, "-c", TIANSHOU_WORKER, str(args.budget),
                                                            str(AFTER_SOLVE), todo])}
    runs = []
    for side in args.sides.split(","):
        row, command = sides[side]
        todo = [s for s in seeds if (row, s) not in done]
        if not todo:
            continue
        runs += variants.stream_rows(command(",".join(map(str, todo))), f"{row:<16}", path)
    if path:
        runs = [r for r in map(json.loads, path.read_text().splitlines()) if r["seed"] in seeds]
    variants.print_table(runs)


if __name__ == "__main__":
    main()
