"""CartPole's vector step: Gymnasium's `CartPoleVectorEnv` against deepq's leaner subclass (deepq.envs.cartpole).

    python bench/cartpole_vector.py                    # step costs, then the CartPole-v1 preset on seeds 100-104
    python bench/cartpole_vector.py --seeds 100-109 --repeats 2

First the cost of one vector step for 1, 8, 10, 30 and 100 copies (the same seed and the same random actions for
both, timed alternately in blocks of 200 steps; the fastest block of 40 for each, as the machine may be shared).
Then the CartPole-v1 preset trained until solved on each seed twice, once with each env (each run in a fresh
process, alternating which goes first from seed to seed), with the run's own time split: both make the same
transitions, so the same env steps and the same final agent (the table checks it), and only the seconds differ.
"""

from __future__ import annotations

import time
import warnings

import gymnasium as gym
import numpy as np

from benchinfo import preset_lines
from side_by_side import alternate, arguments, report
from deepq.envs.cartpole import CartPoleArrays
from deepq.experiments.multiseed import parse_seeds

def step_costs(n: int, blocks: int = 40, block: int = 200) -> tuple[float, float]:
    """(Gymnasium's, deepq's) seconds a vector step: the fastest of `blocks` blocks of `block` steps each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point").unwrapped
    ours = CartPoleArrays(n)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, 2, n) for _ in range(block)]
    times = {id(theirs): [], id(ours): []}
    for env in (theirs, ours):
        env.reset(seed=0)
    for _ in range(blocks):
        for env in (theirs, ours):
            start = time.perf_counter()
            for a in actions:
                env.step(a)
            times[id(env)].append((time.perf_counter() - start) / block)
    return min(times[id(theirs)]), min(times[id(ours)])


def main() -> None:
    args = arguments(__doc__)
    print("\n".join(preset_lines("CartPole-v1")))
    print("\none vector step (us), random actions (episodes of ~20 steps: an autoreset in most steps from 10 copies)"
          "\ncopies  gymnasium  deepq  saved  speed-up")
    for n in (1, 8, 10, 30, 100):
        a, b = (t * 1e6 for t in step_costs(n))
        print(f"{n:6d}  {a:9.1f}  {b:5.1f}  {a - b:5.1f}  {a / b:7.2f}x")

    rows = alternate("CartPole-v1", "cartpole", parse_seeds(args.seeds), args.repeats)
    report("CartPole-v1", rows)

if __name__ == "__main__":
    main()
