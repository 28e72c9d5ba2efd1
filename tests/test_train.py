"""End-to-end: the training loop, the run directory, determinism and the learning test."""

import json

import numpy as np
import pytest
import torch
import yaml

import deepq
from deepq.checkpoint import load_checkpoint
from deepq.config.schema import resolve
from deepq.run.metrics import read_metrics


@pytest.mark.slow
def test_run_directory_describes_itself(tmp_path, tiny_cfg):
    run = tmp_path / "run"
    agent = deepq.train(tiny_cfg.replace(**{"log.tensorboard": True}), run, quiet=True)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["seed"] == 0 and saved["env"]["id"] == "CartPole-v1"
    assert {"deepq", "torch", "gymnasium", "numpy", "python"} <= set(saved["versions"])
    rows = read_metrics(run / "metrics.csv")
    episodes = [r for r in rows if r["kind"] == "episode"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(episodes) == agent.result.episodes and len(evals) == 3  # at 500, 1000, 1500 env steps
    assert sum(r["rollout/episode_length"] for r in episodes) <= agent.result.env_steps
    assert any(r["train/loss"] is not None for r in episodes)
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "final.safetensors").is_file()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] == agent.result.env_steps >= 1500


@pytest.mark.slow
def test_load_agent_gives_identical_greedy_actions(tmp_path, tiny_cfg):
    agent = deepq.train(tiny_cfg, tmp_path / "run", quiet=True)
    loaded = deepq.load_agent(tmp_path / "run")
    obs = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    assert np.array_equal(agent.q_values(obs), loaded.q_values(obs))
    assert deepq.evaluate(agent, episodes=5, seed=7) == deepq.evaluate(tmp_path / "run", episodes=5, seed=7)


@pytest.mark.slow
def test_same_seed_same_result_bit_for_bit(tmp_path, tiny_cfg):
    deepq.train(tiny_cfg, tmp_path / "a", quiet=True)
    deepq.train(tiny_cfg, tmp_path / "b", quiet=True)

    def strip_time(rows):
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]

    assert strip_time(read_metrics(tmp_path / "a" / "metrics.csv")) == \
        strip_time(read_metrics(tmp_path / "b" / "metrics.csv"))
    wa, _ = load_checkpoint(tmp_path / "a" / "checkpoints" / "final.safetensors")
    wb, _ = load_checkpoint(tmp_path / "b" / "checkpoints" / "final.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_other_seed_differs(tmp_path, tiny_cfg):
    a = deepq.train(tiny_cfg, quiet=True)
    b = deepq.train(tiny_cfg.replace(seed=1), quiet=True)
    first_a, first_b = next(a.online.parameters()), next(b.online.parameters())
    assert a.result.episodes != b.result.episodes or not torch.equal(first_a, first_b)


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "MountainCar-v0", "CartPole-v0"])
@pytest.mark.slow
def test_other_discrete_envs_train(env_id):
    cfg = resolve(env_id=env_id, overrides={"train.total_steps": 300, "train.learning_starts": 100,
                                            "eval.interval": 300, "eval.episodes": 1, "log.tensorboard": False,
                                            "env.max_episode_steps": 50})
    agent = deepq.train(cfg, quiet=True)
    assert agent.result.env_steps >= 300 and agent.result.grad_steps > 0


@pytest.mark.slow
def test_default_preset_solves_cartpole(tmp_path):
    """The learning test: the tuned default preset reaches a greedy mean >= 475 and its agent holds up on
    100 fresh evaluation episodes."""
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={"log.tensorboard": False})
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.solved, agent.result
    assert deepq.evaluate(tmp_path / "run", episodes=100, seed=1000).mean >= 475


@pytest.mark.slow
def test_acrobot_preset_solves_acrobot(tmp_path):
    """The learning test for the second task: Acrobot's preset confirms a solve (about 10k env steps) and its agent
    holds up on 100 fresh evaluation episodes. (The preset then trains on to its eval.target, -80, for ~70k env
    steps more: without the target here, to keep CI's time.)"""
    cfg = resolve(env_id="Acrobot-v1", seed=0, overrides={"log.tensorboard": False, "eval.target": None})
    assert resolve(env_id="Acrobot-v1").eval.target == -80
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.solved and agent.result.solved_at_env_steps <= 30_000, agent.result
    assert deepq.evaluate(tmp_path / "run", episodes=100, seed=1000).mean >= -100


@pytest.mark.slow
def test_learning_rate_anneals_linearly_over_the_budget(tiny_cfg):
    # lr 0.004 -> 0.0 over 1500 env steps; the loop sets it before each vector step from the step count, so at
    # the end lr = 0.004 * (1 - s/1500) with s the count before the last vector step: the final count less 4 (4
    # envs), or a little more where a sub-env's autoreset step in it stored no transition.
    cfg = tiny_cfg.replace(**{"learner.lr": 0.004, "learner.lr_end": 0.0, "eval.interval": 0})
    agent = deepq.train(cfg, quiet=True)
    final = agent.result.env_steps
    candidates = [0.004 * (1 - s / 1500) for s in range(final - cfg.env.num_envs, final)]
    assert any(agent.learner.lr == pytest.approx(lr) for lr in candidates), (agent.learner.lr, final)


@pytest.mark.slow
def test_learning_rate_decays_from_the_solve(tmp_path, tiny_cfg):
    # learner.lr_decay_from=solved: lr until the confirmed solve, then a straight line to lr_end at the budget's
    # end. The episode rows log the lr of the vector step that ended them.
    cfg = tiny_cfg.replace(**{"learner.lr": 0.004, "learner.lr_end": 0.0, "learner.lr_decay_from": "solved",
                              "eval.threshold": 30.0, "eval.confirm_episodes": 20, "eval.confirm_z": 0.0,
                              "eval.interval": 250})
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    solved_at, total = agent.result.solved_at_env_steps, cfg.train.total_steps
    assert agent.result.solved and solved_at < total - 200, agent.result
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.csv") if r["kind"] == "episode"]
    before = [r["train/lr"] for r in rows if r["env_steps"] <= solved_at]
    after = [r for r in rows if r["env_steps"] > solved_at + cfg.env.num_envs]
    assert before and set(before) == {0.004}
    assert after and after[-1]["train/lr"] < 0.004 * (total - after[-1]["env_steps"] + cfg.env.num_envs) / (total - solved_at)
    for r in after:  # set from the count before the row's vector step: up to num_envs env steps earlier
        steps = range(int(r["env_steps"]) - cfg.env.num_envs, int(r["env_steps"]))
        assert any(r["train/lr"] == pytest.approx(0.004 * (1 - (s - solved_at) / (total - solved_at)), rel=1e-4)
                   for s in steps), (r, solved_at)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.mark.slow
def test_numpy_blas_trains_on_one_thread_and_is_given_back(tiny_cfg):
    # The NumPy update path (deepq.fast.numpy_step) multiplies in NumPy's BLAS: held to one thread while the run
    # trains (OpenBLAS threads thrash against PyTorch's), as it was afterwards.
    from threadpoolctl import threadpool_limits

    from deepq.run.callbacks import Callback

    seen = []

    class Watch(Callback):
        def on_step(self, agent, counters):
            seen.append(_blas_threads())

    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        agent = deepq.train(tiny_cfg.replace(**{"train.total_steps": 600}), quiet=True, callbacks=[Watch()])
        assert agent.learner.numpy_step is not None and before and _blas_threads() == before
        two = deepq.train(tiny_cfg.replace(**{"train.total_steps": 600, "train.torch_threads": 2}), quiet=True)
        assert two.learner.numpy_step is None  # more threads: PyTorch's kernels, which use them
    assert seen and all(threads == [1] * len(before) for threads in seen)


@pytest.mark.slow
def test_screened_evaluations_stop_early_only_below_the_threshold(tmp_path, tiny_cfg):
    # The same training with and without screening (evaluation never changes training): every screened evaluation
    # is either cut at 2 episodes with a mean below the threshold, or complete and equal to the unscreened one.
    cfg = tiny_cfg.replace(**{"train.total_steps": 4000, "eval.interval": 250, "eval.episodes": 6,
                              "eval.threshold": 30.0, "eval.stop_when_solved": False})
    deepq.train(cfg, tmp_path / "all", quiet=True)
    deepq.train(cfg.replace(**{"eval.screen_episodes": 2}), tmp_path / "screened", quiet=True)
    full, screened = ([r for r in read_metrics(tmp_path / d / "metrics.csv") if r["kind"] == "eval"]
                      for d in ("all", "screened"))
    assert len(full) == len(screened) > 10
    cut = [s for s in screened if s["eval/episodes"] == 2]
    assert cut and len(cut) < len(screened)  # both outcomes happen in this run
    for f, s in zip(full, screened):
        assert f["eval/episodes"] == 6 and f["env_steps"] == s["env_steps"]
        if s["eval/episodes"] == 2:
            assert s["eval/mean_return"] < 30.0
        else:
            assert s["eval/episodes"] == 6 and s["eval/mean_return"] == f["eval/mean_return"]
