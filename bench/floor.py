"""Benchmark: know the floor. What one unit of DQN work costs on this machine, and how close deepq's training loop
comes to the sum of those costs.

    python bench/floor.py                         # unit costs, then 3 training runs of 20k env steps
    python bench/floor.py --budget 50000 --train-runs 5
    python bench/floor.py --skip-train            # unit costs only
    python bench/floor.py replay.batch_size=64    # a candidate preset: any override, as key=value

Unit costs (one table, microseconds): a CartPole-v1 step of one `gym.make` env (reset included when an episode
ends, as the evaluation loop does); a step of Gymnasium's native vector CartPole (`gym.make_vec(...,
vectorization_mode="vector_entry_point")`, autoreset included) with 1, 4, 8, 32 envs, per vector step and per
env; `DQNAgent.greedy` on a batch of 1, 4, 8 observations; `ReplayBuffer.add` of one vector step (and, when the
preset uses n-step returns, `NStepFolder.fold` of one vector step); one
`ReplayBuffer.sample` of 64/128/256 from a full 50k buffer; one `DQNAgent.update` of the preset's network on a
`Batch` of 64/128/256 with 1 and 2 torch threads; the gradient clipping and the Adam step alone; side by side,
the same update on the autograd back-end (`learner.backend=autograd`) and on the flat back-end's PyTorch path
(the NumPy path, deepq.fast.numpy_step, turned off); and `Learner.step` with 1, 2, 5 and 10
seeds' networks batched into one (per seed: does batching seeds in one process save work?). Each cost is the
median over `--repeats` timed loops (`time.perf_counter`), each loop long enough (~`--loop-ms`) to swamp the timer,
after an untimed warm-up loop. Random actions and observations: the env steps see short episodes, so resets are
amortised in.

Training throughput: `deepq.train` on the preset with `eval.interval=0 eval.stop_when_solved=false
log.tensorboard=false train.total_steps=BUDGET`, seed 0, no run directory (in memory), `--train-runs` times; the
median run is compared with its floor, the unit costs summed over that run's own mix of work:

    floor = vector_steps x (vector env step(N) + greedy(N) + buffer add(N) [+ n-step fold(N)])
            + gradient_steps x (sample(B) + update(B))

vector_steps = (env_steps + episodes) / N: every finished episode costs its sub-env one reset step that stores no
transition (Gymnasium's next-step autoreset). "fraction of floor" = floor seconds / measured seconds = measured
env steps per second / floor env steps per second; 100% would mean the loop costs nothing beyond its parts. The
run's own `time_breakdown_s` is printed next to the floor of each phase.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchinfo import code_line, key_values, machine_line, preset_lines  # noqa: E402

ENV_ID = "CartPole-v1"
TRAIN_OVERRIDES = {"eval.interval": 0, "eval.stop_when_solved": False, "log.tensorboard": False}
TRAIN_OVERRIDES_TEXT = "eval.interval=0 eval.stop_when_solved=false log.tensorboard=false"


def measure(run: Callable[[int], object], loop_s: float, repeats: int) -> tuple[float, float]:
    """Seconds per call of `run(calls)` (which makes `calls` calls): the median over `repeats` timed loops of about
    `loop_s` seconds each, after an untimed warm-up loop that also sizes the loops; as wall-clock
    (`time.perf_counter`) and as this process's CPU time (`time.process_time`, which does not count the time spent
    waiting while another process has the core)."""
    calls = 10
    while True:  # warm-up, doubling until a loop is long enough to size the timed ones
        t0 = time.perf_counter()
        run(calls)
        took = time.perf_counter() - t0
        if took >= loop_s / 4 or calls >= 1_000_000:
            break
        calls *= 2
    calls = max(10, int(calls * loop_s / max(took, 1e-9)))
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        run(calls)
        wall.append((time.perf_counter() - t0) / calls)
        cpu.append((time.process_time() - c0) / calls)
    return statistics.median(wall), statistics.median(cpu)


class Row:
    def __init__(self, what: str, size: str, threads: str, cost: tuple[float, float], per: int = 0,
                 unit: str = "") -> None:
        self.what, self.size, self.threads, self.per, self.unit = what, size, threads, per, unit
        self.us, self.cpu_us = cost[0] * 1e6, cost[1] * 1e6

    def line(self) -> str:
        per = f"{self.us / self.per:10.2f} {self.unit}" if self.per else ""
        return f"{self.what:<46} {self.size:>4} {self.threads:>7} {self.us:10.2f} {self.cpu_us:10.2f} {per}".rstrip()


def unit_costs(cfg, args) -> tuple[list[Row], dict]:
    import gymnasium as gym
    import torch

    from deepq.algo.agent import DQNAgent
    from deepq.data.replay import ReplayBuffer
    from deepq.machine import blas_threads

    loop_s, reps = args.loop_ms / 1000, args.repeats
    rng = np.random.default_rng(0)
    rows: list[Row] = []
    costs: dict = {}  # (unit, size[, threads]) -> (wall, CPU) seconds per call
    n_envs, batch = cfg.env.num_envs, cfg.replay.batch_size
    base_threads = cfg.train.torch_threads or torch.get_num_threads()
    torch.set_num_threads(base_threads)

    # --- environment ------------------------------------------------------------------------------------
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    actions = rng.integers(0, 2, size=1 << 16).tolist()

    def single(calls: int) -> None:
        step, reset = env.step, env.reset
        for i in range(calls):
            _, _, terminated, truncated, _ = step(actions[i & 0xFFFF])
            if terminated or truncated:
                reset()

    s = measure(single, loop_s, reps)
    costs[("env", "single")] = s
    rows.append(Row("env step, gym.make (reset amortised)", "1", "-", s, 1, "per env"))
    env.close()

    for n in sorted({1, 4, 8, 32, n_envs}):
        envs = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point")
        envs.reset(seed=0)
        vec_actions = rng.integers(0, 2, size=(256, n))

        def vector(calls: int, envs=envs, vec_actions=vec_actions) -> None:
            step = envs.step
            for i in range(calls):
                step(vec_actions[i & 255])

        s = measure(vector, loop_s, reps)
        costs[("vec", n)] = s
        rows.append(Row("env step, make_vec vector_entry_point", str(n), "-", s, n, "per env"))
        envs.close()

    # --- acting -----------------------------------------------------------------------------------------
    torch.manual_seed(0)
    agent = DQNAgent(4, 2, cfg)
    obs_pool = rng.standard_normal((1024, 4)).astype(np.float32)
    for n in sorted({1, 4, 8, n_envs}):
        def greedy(calls: int, n=n) -> None:
            g = agent.greedy
            for i in range(calls):
                j = (i * n) & 511
                g(obs_pool[j:j + n])

        s = measure(greedy, loop_s, reps)
        costs[("greedy", n)] = s
        rows.append(Row("DQNAgent.greedy", str(n), str(base_threads), s, n, "per obs"))

    # Side by side: the same argmax through the flat MLP's torch forward, which DQNAgent.greedy replaced with
    # NumPy (deepq.fast.numpy_greedy) on the CPU for batches of at most its max_rows.
    if getattr(agent.learner, "greedy_numpy", None) is not None:
        for n in sorted({1, 8, 30, 500}):
            def torch_greedy(calls: int, n=n) -> None:
                q = agent.learner.q_values
                for i in range(calls):
                    j = (i * n) & 511
                    q(torch.from_numpy(obs_pool[j:j + n])).argmax(dim=1).numpy()

            def numpy_greedy(calls: int, n=n) -> None:
                g = agent.learner.greedy_numpy
                for i in range(calls):
                    j = (i * n) & 511
                    g(obs_pool[j:j + n])

            for label, fn in (("greedy, torch forward (the library)", torch_greedy),
                              ("greedy, NumPy (deepq.fast.numpy_greedy)", numpy_greedy)):
                rows.append(Row(label, str(n), str(base_threads), measure(fn, loop_s, reps), n, "per obs"))

    act_rng = np.random.default_rng(1)

    def act(calls: int) -> None:
        a = agent.act
        for i in range(calls):
            j = (i * n_envs) & 511
            a(obs_pool[j:j + n_envs], 0.05, act_rng)

    s = measure(act, loop_s, reps)
    costs[("act", n_envs)] = s
    rows.append(Row("DQNAgent.act, epsilon 0.05 (training calls it)", str(n_envs), str(base_threads), s,
                    n_envs, "per obs"))

    # --- replay -----------------------------------------------------------------------------------------
    capacity = 50_000
    buffer = ReplayBuffer(capacity, (4,), 0.99)
    chunk = 1000
    for _ in range(capacity // chunk):
        buffer.add(rng.standard_normal((chunk, 4)).astype(np.float32), rng.integers(0, 2, chunk),
                   np.ones(chunk, np.float32), rng.standard_normal((chunk, 4)).astype(np.float32),
                   rng.random(chunk) < 0.05)
    add_buffer = ReplayBuffer(capacity, (4,), 0.99)
    add_obs = rng.standard_normal((n_envs, 4)).astype(np.float32)
    add_action = rng.integers(0, 2, n_envs)
    add_reward = np.ones(n_envs, np.float32)
    add_term = np.zeros(n_envs, bool)

    def add(calls: int) -> None:
        for _ in range(calls):
            add_buffer.add(add_obs, add_action, add_reward, add_obs, add_term)

    s = measure(add, loop_s, reps)
    costs[("add", n_envs)] = s
    rows.append(Row("ReplayBuffer.add (one vector step)", str(n_envs), "-", s, n_envs, "per transition"))

    if cfg.replay.n_step > 1:  # the preset folds n-step returns in the collector: part of storing a vector step
        from deepq.data.collector import NStepFolder

        folder = NStepFolder(cfg.replay.n_step, cfg.learner.gamma, n_envs, 4)
        ends = rng.random((256, n_envs)) < 0.05  # episode ends now and then, as in training
        prev = np.zeros(n_envs, bool)

        def fold(calls: int) -> None:
            nonlocal prev
            for i in range(calls):
                done = ends[i & 255]
                folder.fold(add_obs, add_action, add_reward, add_obs, done, np.zeros(n_envs, bool), ~prev)
                prev = done

        s = measure(fold, loop_s, reps)
        costs[("fold", n_envs)] = s
        rows.append(Row(f"NStepFolder.fold, n={cfg.replay.n_step} (one vector step)", str(n_envs), "-", s, n_envs,
                        "per env"))

    sample_rng = np.random.default_rng(2)
    for b in sorted({64, 128, 256, batch}):
        def sample(calls: int, b=b) -> None:
            for _ in range(calls):
                buffer.sample(b, sample_rng)

        s = measure(sample, loop_s, reps)
        costs[("sample", b)] = s
        rows.append(Row("ReplayBuffer.sample, 50k buffer", str(b), "-", s, b, "per transition"))

    # --- learning ---------------------------------------------------------------------------------------
    for threads in sorted({1, 2, base_threads}):
        torch.set_num_threads(threads)
        for b in sorted({64, 128, 256, batch}):
            torch.manual_seed(0)
            learner = DQNAgent(4, 2, cfg.replace(**{"train.torch_threads": threads}))  # the path a run takes
            batches = [buffer.sample(b, sample_rng) for _ in range(64)]

            def update(calls: int, learner=learner, batches=batches) -> None:
                u = learner.update
                for i in range(calls):
                    u(batches[i & 63])

            with blas_threads(1):  # as deepq.train holds NumPy's BLAS
                s = measure(update, loop_s, reps)
            costs[("update", b, threads)] = s
            rows.append(Row("DQNAgent.update (whole gradient step)", str(b), str(threads), s, b, "per transition"))
        # the parts that do not depend on the batch: clipping and Adam on the flat gradient the last update left
        from deepq.fast.handgrad import clip_grad_norm

        grad = learner.learner.flat.params_SP.grad
        max_norm = cfg.learner.max_grad_norm or 10.0

        def clip(calls: int) -> None:
            for _ in range(calls):
                clip_grad_norm(grad, max_norm)

        def adam(calls: int) -> None:
            step = learner.learner.flat.optimizer.step
            for _ in range(calls):
                step()

        s = measure(clip, loop_s, reps)
        costs[("clip", threads)] = s
        rows.append(Row("  of which gradient-norm clipping (flat)", "-", str(threads), s))
        s = measure(adam, loop_s, reps)
        costs[("adam", threads)] = s
        rows.append(Row("  of which Adam step alone (flat)", "-", str(threads), s))
    torch.set_num_threads(base_threads)

    # --- the same update on the autograd back-end (AutogradLearner: module forward, backward, torch.optim.Adam)
    torch.manual_seed(0)
    reference = DQNAgent(4, 2, cfg.replace(**{"learner.backend": "autograd"}))
    ref_batches = [buffer.sample(batch, sample_rng) for _ in range(64)]

    def plain(calls: int) -> None:
        u = reference.update
        for i in range(calls):
            u(ref_batches[i & 63])

    s = measure(plain, loop_s, reps)
    costs[("autograd", batch)] = s
    rows.append(Row("same update, learner.backend=autograd (fused Adam)", str(batch), str(base_threads), s, batch,
                    "per transition"))

    # --- the same update on the flat back-end's PyTorch path (deepq.fast.learner.FlatLearner.step), which the
    # NumPy path (deepq.fast.numpy_step) replaces for one network on the CPU
    torch.manual_seed(0)
    torch_path = DQNAgent(4, 2, cfg)
    torch_path.learner.numpy_step = None

    def flat_torch(calls: int) -> None:
        u = torch_path.update
        for i in range(calls):
            u(ref_batches[i & 63])

    torch.set_num_threads(1)  # the NumPy path's own setting
    s = measure(flat_torch, loop_s, reps)
    torch.set_num_threads(base_threads)
    costs[("flat_torch", batch)] = s
    rows.append(Row("same update, flat back-end in PyTorch (no NumPy path)", str(batch), "1", s, batch,
                    "per transition"))

    # --- several seeds as one batched network (deepq.learner with S networks) -----------------------------
    from deepq.algo.objectives import outputs_per_action
    from deepq.fast.learner import Learner
    from deepq.nets.build import build_q_network

    for seeds in (1, 2, 5, 10):
        torch.manual_seed(0)
        batched = Learner([build_q_network(4, 2, cfg.network, atoms=outputs_per_action(cfg.learner))
                           for _ in range(seeds)], 2, cfg, torch.device("cpu"))
        stacked = []
        for k in range(8):
            parts = [ref_batches[(k * seeds + j) & 63] for j in range(seeds)]
            stacked.append([torch.as_tensor(np.stack([getattr(p, f) for p in parts]))
                            for f in ("obs", "action", "reward", "next_obs", "done", "discount")])

        def batched_step(calls: int, batched=batched, stacked=stacked) -> None:
            for i in range(calls):
                batched.step(*stacked[i & 7])

        s = measure(batched_step, loop_s, reps)
        costs[("batched", seeds)] = s
        rows.append(Row(f"Learner.step, {seeds} seeds as one batched network", str(batch), str(base_threads), s,
                        seeds, "per seed"))
    torch.set_num_threads(base_threads)
    return rows, costs


def train_runs(cfg, runs: int) -> list[dict]:
    """`runs` in-memory training runs; each with its wall-clock (the run's own train_seconds) and the CPU seconds
    and involuntary context switches of this process during it: on a shared machine, wall-clock also counts the
    time spent waiting for a core, CPU time does not."""
    import resource

    import deepq

    out = []
    for i in range(runs):
        cpu0, ru0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        agent = deepq.train(cfg, quiet=True)
        cpu_s = time.process_time() - cpu0
        preempted = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - ru0.ru_nivcsw
        r = agent.result
        out.append({"result": r, "cpu_s": cpu_s, "preempted": preempted})
        print(f"  run {i + 1}/{runs}: {r.env_steps} env steps, {r.episodes} episodes, {r.grad_steps} gradient steps "
              f"in {r.train_seconds:.2f} s = {r.env_steps / r.train_seconds:,.0f} env steps/s; CPU {cpu_s:.2f} s, "
              f"{preempted} involuntary context switches", flush=True)
    return out


def report_training(cfg, costs: dict, runs: list[dict]) -> None:
    n, b = cfg.env.num_envs, cfg.replay.batch_size
    threads = cfg.train.torch_threads or 1
    run = sorted(runs, key=lambda x: x["result"].train_seconds)[len(runs) // 2]  # the median run
    r = run["result"]
    vector_steps = (r.env_steps + r.episodes) / n
    # (label, cost key, how many times the run did it); costs are (wall, cpu) seconds per call
    mix = [(f"vector env step ({n} envs)", ("vec", n), vector_steps),
           (f"DQNAgent.greedy ({n} obs)", ("greedy", n), vector_steps),
           (f"ReplayBuffer.add ({n} transitions)", ("add", n), vector_steps),
           *([(f"NStepFolder.fold (n={cfg.replay.n_step})", ("fold", n), vector_steps)]
             if cfg.replay.n_step > 1 else []),
           (f"ReplayBuffer.sample ({b})", ("sample", b), r.grad_steps),
           (f"DQNAgent.update ({b}, {threads} thread)", ("update", b, threads), r.grad_steps)]
    floor_wall = sum(costs[key][0] * count for _, key, count in mix)
    floor_cpu = sum(costs[key][1] * count for _, key, count in mix)

    print(f"\nmedian run: {r.env_steps} env steps in {vector_steps:.0f} vector steps of {n} envs "
          f"({r.env_steps / vector_steps:.3f} env steps per vector step), {r.grad_steps} gradient steps "
          f"({r.grad_steps / r.env_steps:.4f} per env step), {r.episodes} episodes, torch threads {threads}; "
          f"{run['preempted']} involuntary context switches (another process took the core)")
    print(f"{'floor of this mix':<40} {'count':>8} {'wall us':>9} {'CPU us':>9} {'wall s':>8}")
    for label, key, count in mix:
        wall, cpu = costs[key]
        print(f"{label:<40} {count:8.0f} {wall * 1e6:9.2f} {cpu * 1e6:9.2f} {wall * count:8.3f}")
    e = r.env_steps
    print(f"{'floor per env step':<40} {'':>8} {floor_wall / e * 1e6:9.2f} {floor_cpu / e * 1e6:9.2f} "
          f"{floor_wall:8.3f}")
    print(f"{'measured per env step':<40} {'':>8} {r.train_seconds / e * 1e6:9.2f} {run['cpu_s'] / e * 1e6:9.2f} "
          f"{r.train_seconds:8.3f}")
    print(f"env steps/s: floor {e / floor_wall:,.0f}, measured {e / r.train_seconds:,.0f} (wall-clock); "
          f"floor {e / floor_cpu:,.0f}, measured {e / run['cpu_s']:,.0f} (CPU time)")
    print(f"fraction of floor: {100 * floor_wall / r.train_seconds:.1f}% on wall-clock, "
          f"{100 * floor_cpu / run['cpu_s']:.1f}% on CPU time")

    floor = {"act": vector_steps * costs[("greedy", n)][0],
             "env+store": vector_steps * (costs[("vec", n)][0] + costs[("add", n)][0]
                                          + (costs[("fold", n)][0] if cfg.replay.n_step > 1 else 0.0)),
             "sample": r.grad_steps * costs[("sample", b)][0],
             "update": r.grad_steps * costs[("update", b, threads)][0]}
    print(f"\n{'phase (time_breakdown_s)':<26} {'measured s':>10} {'floor s':>8} {'measured/floor':>14} {'% of run':>8}")
    phases = list(dict.fromkeys([*floor, *r.time_breakdown_s]))
    for phase in phases:
        got = r.time_breakdown_s.get(phase, 0.0)
        want = floor.get(phase, 0.0)
        ratio = f"{got / want:14.2f}" if want else f"{'-':>14}"
        print(f"{phase:<26} {got:10.3f} {want:8.3f} {ratio} {100 * got / r.train_seconds:7.1f}%")
    other = r.train_seconds - sum(r.time_breakdown_s.values())
    print(f"{'other (setup, untimed)':<26} {other:10.3f} {0.0:8.3f} {'-':>14} {100 * other / r.train_seconds:7.1f}%")
    print(f"{'total':<26} {r.train_seconds:10.3f} {floor_wall:8.3f} {r.train_seconds / floor_wall:14.2f} "
          f"{100.0:7.1f}%")
    print("wall-clock; act = epsilon schedule + DQNAgent.act (+ the loop's bookkeeping); env+store = Collector.step; "
          "sample includes deciding how many updates are due")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=int, default=20_000, help="env steps per training run (default 20000)")
    parser.add_argument("--train-runs", type=int, default=3, help="training runs; the median is reported (default 3)")
    parser.add_argument("--repeats", type=int, default=7, help="timed loops per unit cost; the median is kept")
    parser.add_argument("--loop-ms", type=float, default=100.0, help="length of one timed loop in ms (default 100)")
    parser.add_argument("--skip-train", action="store_true", help="unit costs only")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="changes to the preset, as deepq train")
    args = parser.parse_args()

    import torch

    from deepq.config.schema import parse_override, resolve

    overrides = dict(parse_override(o) for o in args.overrides)
    cfg = resolve(env_id=ENV_ID, seed=0,
                  overrides={**overrides, **TRAIN_OVERRIDES, "train.total_steps": args.budget})
    print(f"bench/floor.py {' '.join(sys.argv[1:])}".rstrip())
    print(machine_line())
    print(code_line())
    print("\n".join(preset_lines()))
    if overrides:
        print(f"overrides: {' '.join(args.overrides)}")
    print(f"measured config: {key_values(cfg)}")
    print(f"torch default threads {torch.get_num_threads()}; timings: median of {args.repeats} loops of "
          f"~{args.loop_ms:g} ms after a warm-up\n")

    rows, costs = unit_costs(cfg, args)
    print(f"{'unit of work':<46} {'size':>4} {'threads':>7} {'us / call':>10} {'CPU us':>10} {'us / item':>10}")
    for row in rows:
        print(row.line())
    sys.stdout.flush()
    if args.skip_train:
        return

    print(f"\ntraining throughput: default preset + {TRAIN_OVERRIDES_TEXT} "
          f"train.total_steps={args.budget}, seed 0, in memory, {args.train_runs} runs")
    runs = train_runs(cfg, args.train_runs)
    report_training(cfg, costs, runs)


if __name__ == "__main__":
    from deepq.errors import DeepQError

    try:
        main()
    except DeepQError as exc:  # a bad key=value or seed list: one line, as deepq's own CLI does
        print(f"floor: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
