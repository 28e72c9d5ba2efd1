"""The SB3-like surface: predict on one observation or a batch, save/load of an agent trained in memory, and
callbacks that see every step and can stop training cleanly."""

import json

import gymnasium as gym
import numpy as np
import pytest

import deepq
from deepq.errors import DeepQError
from deepq.run.callbacks import Callback
from tiny import tiny_cfg

pytestmark = pytest.mark.slow  # every test here trains an agent


@pytest.fixture
def small_cfg():
    return tiny_cfg()


def test_predict_one_observation_or_a_batch(small_cfg):
    agent = deepq.train(small_cfg, quiet=True)  # in memory, no run directory
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=1000)
    action, state = agent.predict(obs, deterministic=True)
    assert isinstance(action, int) and state is None
    assert action == int(agent.greedy(obs[None])[0])
    batch = np.stack([obs, obs * 0.5, -obs])
    actions, _ = agent.predict(batch)
    assert actions.shape == (3,) and np.array_equal(actions, agent.greedy(batch))
    explore = [agent.predict(obs, deterministic=False)[0] for _ in range(400)]
    assert set(explore) <= {0, 1}
    with pytest.raises(DeepQError, match=r"predict: an observation of shape \(5,\) fits neither"):
        agent.predict(np.zeros(5, np.float32))


def test_an_agent_trained_in_memory_saves_to_one_file_and_loads_back(small_cfg, tmp_path):
    agent = deepq.train(small_cfg, quiet=True)
    path = agent.save(tmp_path / "cartpole.safetensors")
    assert path.is_file() and not (tmp_path / "config.yaml").exists()  # one file, no run directory
    loaded = deepq.load_agent(path)
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    assert np.array_equal(loaded.q_values(obs), agent.q_values(obs))
    assert loaded.cfg == agent.cfg and loaded.counters["env_steps"] == agent.result.env_steps
    assert np.array_equal(deepq.evaluate(path, episodes=5, seed=1000).returns,
                          deepq.evaluate(agent, episodes=5, seed=1000).returns)
    with pytest.raises(DeepQError, match="is not a deepq checkpoint"):
        (tmp_path / "junk.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
        deepq.load_agent(tmp_path / "junk.safetensors")


def test_a_runs_checkpoint_file_loads_as_an_agent(small_cfg, tmp_path):
    agent = deepq.train(small_cfg, tmp_path / "run", quiet=True)
    loaded = deepq.load_agent(tmp_path / "run" / "checkpoints" / "final.safetensors")
    obs = np.random.default_rng(1).normal(size=(20, 4)).astype(np.float32)
    assert np.array_equal(loaded.q_values(obs), agent.q_values(obs))


class StopAt(Callback):
    """Sees every step; stops training once `limit` env steps are collected."""

    def __init__(self, limit):
        self.limit, self.steps, self.agents = limit, [], set()

    def on_step(self, agent, counters):
        self.steps.append(counters["env_steps"])
        self.agents.add(id(agent))
        return counters["env_steps"] < self.limit


def test_a_callback_that_returns_false_stops_training_cleanly(small_cfg, tmp_path):
    cfg = small_cfg.replace(**{"train.total_steps": 50_000})
    stopper = StopAt(1000)
    agent = deepq.train(cfg, tmp_path / "run", quiet=True, callbacks=[stopper])
    n = cfg.env.num_envs
    # once per vector step (n sub-envs: up to n real transitions each, fewer where an episode's reset step was)
    assert all(0 <= b - a <= n for a, b in zip([0] + stopper.steps, stopper.steps))
    assert stopper.steps[-2] < 1000 <= stopper.steps[-1]
    assert stopper.agents == {id(agent)}
    assert agent.result.stopped == "callback" and agent.result.env_steps == stopper.steps[-1] < 1100
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stopped"] == "callback" and summary["env_steps"] == agent.result.env_steps
    assert (tmp_path / "run" / "checkpoints" / "final.safetensors").is_file()
    assert (tmp_path / "run" / "checkpoints" / "latest.safetensors").is_file()
    resumed = deepq.resume(tmp_path / "run", quiet=True, callbacks=[StopAt(1500)])  # the run goes on from there
    assert 1500 <= resumed.result.env_steps < 1600 and resumed.result.stopped == "callback"


def test_an_episode_hook_that_returns_false_stops_too(small_cfg):
    class FirstEpisode(Callback):
        def on_episode(self, counters, episode_return, episode_length, epsilon):
            return False

    agent = deepq.train(small_cfg.replace(**{"train.total_steps": 50_000}), quiet=True, callbacks=[FirstEpisode()])
    assert agent.result.stopped == "callback" and agent.result.episodes >= 1 and agent.result.env_steps < 200


def test_evaluate_and_play_take_a_saved_agent_file(small_cfg, tmp_path):
    import subprocess
    import sys

    agent = deepq.train(small_cfg, quiet=True)
    path = agent.save(tmp_path / "agent.safetensors")
    expected = list(deepq.evaluate(agent, episodes=4, seed=1000).returns)
    out = subprocess.run([sys.executable, "-m", "deepq.cli", "evaluate", str(path), "--episodes", "4", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["returns"] == expected
    out = subprocess.run([sys.executable, "-m", "deepq.cli", "play", str(path), "--video", str(tmp_path / "a.gif"),
                          "--episodes", "1"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "a.gif").stat().st_size > 0 and f"returns: {expected[0]:g}" in out.stdout


def test_a_checkpoint_with_nan_weights_is_refused_for_acting_and_resuming(small_cfg, tmp_path):
    import torch

    from deepq.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    deepq.train(small_cfg.replace(**{"log.checkpoint_interval": 500, "train.total_steps": 1000}), run, quiet=True)
    for which in ("final", "latest"):
        path = run / "checkpoints" / f"{which}.safetensors"
        tensors, state = load_checkpoint(path)
        key = next(k for k in tensors if k.startswith("online.") and k.endswith("weight"))
        tensors[key] = torch.full_like(tensors[key], float("nan"))
        save_checkpoint(path, tensors, state)
    with pytest.raises(DeepQError, match="holds NaN or infinite weights: its agent cannot act"):
        deepq.load_agent(run)
    with pytest.raises(DeepQError, match="holds NaN or infinite weights: it cannot continue"):
        deepq.resume(run, total_steps=2000, quiet=True)


def test_python_users_get_the_same_one_line_errors(small_cfg):
    with pytest.raises(DeepQError, match="episodes must be a whole number in"):
        deepq.evaluate(deepq.train(small_cfg.replace(**{"train.total_steps": 300, "train.learning_starts": 100}),
                                   quiet=True), episodes=0)
    with pytest.raises(DeepQError, match="seed must be a whole number"):
        deepq.random_baseline("CartPole-v1", episodes=5, seed=-1)
    with pytest.raises(DeepQError, match="deepq.train takes a deepq.Config .* got list"):
        deepq.train([1, 2])
    agent = deepq.train({"env.id": "CartPole-v1", "train.total_steps": 300, "train.learning_starts": 100,
                         "eval.interval": 0, "log": {"progress": False}}, quiet=True)  # a dict is a config too
    assert agent.result.env_steps >= 300


def test_on_solved_is_called_once_at_the_confirmed_solve_and_can_stop_the_run():
    from deepq.config.schema import resolve

    class Solved(Callback):
        def __init__(self):
            self.evals, self.solved = [], []

        def on_eval(self, counters, result):
            self.evals.append((counters["env_steps"], result.mean))

        def on_solved(self, counters, result):
            self.solved.append((counters["env_steps"], result.mean))
            return False  # early stopping is off: this callback stops the run instead

    hook = Solved()
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={"eval.stop_when_solved": False, "log.tensorboard": False})
    agent = deepq.train(cfg, quiet=True, callbacks=[hook])
    r = agent.result
    assert r.solved and hook.solved == [(r.solved_at_env_steps, hook.evals[-1][1])]
    assert hook.evals[-1][0] == r.solved_at_env_steps and hook.evals[-1][1] >= 475  # the solving evaluation
    assert r.stopped == "callback" and r.env_steps < r.solved_at_env_steps + 2 * cfg.env.num_envs
