"""Pixel tasks end to end: Atari and MinAtar ids found without imports, their preprocessing, the CNNs chosen by
the observation's shape, and training, checkpoints, evaluation and play on real games with tiny budgets."""

from __future__ import annotations

import json
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors import safe_open

import deepq
from deepq.config.schema import Config, resolve
from deepq.envs.make import make_env, make_vec_env
from deepq.data.collector import Collector
from deepq.data.replay import ReplayBuffer
from deepq.envs.pixels import EpisodicLife, FireReset
from deepq.errors import DeepQError
from deepq.nets.build import build_q_network
from deepq.nets.conv import auto_kind
from gymnasium import spaces


def fresh_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_ids_are_registered_on_demand_in_a_fresh_process():
    out = fresh_python("from deepq.envs.make import env_spec; import sys\n"
                       "print(env_spec('ALE/Pong-v5').id, env_spec('MinAtar/Breakout-v1').id, "
                       "env_spec('BreakoutNoFrameskip-v4').id)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ALE/Pong-v5", "MinAtar/Breakout-v1", "BreakoutNoFrameskip-v4"]


@pytest.mark.parametrize("env_id,package,extra", [("ALE/Pong-v5", "ale_py", "atari"),
                                                  ("MinAtar/Breakout-v1", "minatar", "minatar")])
def test_a_missing_package_is_one_line_naming_the_extra(env_id, package, extra):
    """`sys.modules[name] = None` makes the import fail as it does where the package is not installed."""
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.modules[{package!r}] = None\n"
                          "from deepq.cli import main; raise SystemExit(main())", "train", "--env", env_id, "--run-dir", "/nonexistent/x"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f'".[{extra}]"' in lines[0] and env_id in lines[0], out.stderr


def atari_cfg(**overrides) -> Config:
    return resolve("ALE/Breakout-v5", overrides={"env.max_episode_steps": 400, **overrides})


def test_atari_observations_are_stacks_of_four_84x84_frames_padded_with_the_first():
    env = make_env(atari_cfg().env)
    obs, _ = env.reset(seed=0)
    assert env.observation_space == spaces.Box(0, 255, (4, 84, 84), np.uint8)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert all(np.array_equal(obs[0], frame) for frame in obs[1:])  # a new episode: its first frame, 4 times
    after, *_ = env.step(0)
    assert np.array_equal(after[:3], obs[1:])  # the stack shifts by one frame per step
    env.close()


def wrappers(env: gym.Env) -> list[type]:
    kinds = []
    while isinstance(env, gym.Wrapper):
        kinds.append(type(env))
        env = env.env
    return kinds


def test_life_loss_and_reward_clipping_apply_to_training_only():
    train_env = make_vec_env(atari_cfg().env, 1).envs[0]
    eval_env = make_env(atari_cfg().env)
    assert EpisodicLife in wrappers(train_env) and gym.wrappers.TransformReward in wrappers(train_env)
    assert EpisodicLife not in wrappers(eval_env) and gym.wrappers.TransformReward not in wrappers(eval_env)
    assert FireReset in wrappers(eval_env)  # Breakout waits for FIRE
    no_life = make_vec_env(atari_cfg(**{"env.episodic_life": False, "env.clip_rewards": False}).env, 1).envs[0]
    assert EpisodicLife not in wrappers(no_life) and gym.wrappers.TransformReward not in wrappers(no_life)


def test_a_lost_life_ends_the_training_episode_but_not_the_game():
    env = make_vec_env(atari_cfg(**{"env.max_episode_steps": None}).env, 1).envs[0]
    env.reset(seed=3)
    ale = env.unwrapped.ale
    assert ale.lives() == 5
    rng = np.random.default_rng(0)
    for _ in range(2000):
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(4)))
        assert reward in (0.0, 1.0)  # clipped to its sign
        if terminated:
            break
    assert terminated and ale.lives() == 4  # a life lost: the training episode ended
    env.reset()
    assert ale.lives() == 4  # the game went on: not reset to 5 lives


def play_training_games(overrides: dict, vector_steps: int, seed: int = 3):
    """Random play in a real training vector env of Breakout through the Collector: (games it reports, per-life
    episode ends seen, the rewards the agent saw per step, the env's terminated flags per step)."""
    cfg = atari_cfg(**overrides)
    envs = make_vec_env(cfg.env, 1)
    buffer = ReplayBuffer(vector_steps, (4, 84, 84), cfg.learner.gamma, np.uint8)
    collector = Collector(envs, buffer, seed, whole_games=True)
    rng = np.random.default_rng(seed)
    games, lives_ended = [], 0
    for _ in range(vector_steps):
        reset_step = bool(collector.prev_done_N[0])  # the step after an end is a reset, not a transition
        _, finished = collector.step(rng.integers(4, size=1))
        games += finished
        lives_ended += int(collector.prev_done_N[0] and not reset_step)
    envs.close()
    return games, lives_ended, buffer.reward[:buffer.size].astype(np.float64)


def test_training_reports_whole_games_with_raw_scores_not_lives():
    """Breakout has 5 lives: each reported game is 5 training episodes, and its score and length are those of the
    stored transitions of those 5 lives, plus the steps the resets take unseen (FIRE and then action 2 after each
    of the 5 resets, a no-op to continue the game after each of the 4 lost lives), which score nothing here."""
    games, lives_ended, rewards = play_training_games({"env.max_episode_steps": None, "env.clip_rewards": False},
                                                      1200)
    assert len(games) >= 2 and lives_ended >= 5 * len(games)
    assert all(g.terminated for g in games)
    unseen = 5 * 2 + 4
    start = 0
    for game in games:  # the stored transitions, in order, game after game
        seen = game.length - unseen
        assert game.ret == rewards[start:start + seen].sum()
        start += seen
    assert sum(g.ret for g in games) > 0
    clipped, *_ = play_training_games({"env.max_episode_steps": None}, 1200)
    assert [g.ret for g in clipped] == [g.ret for g in games]  # clipping changes what is learned, not the score
    assert [g.length for g in clipped] == [g.length for g in games]


def test_the_atari_time_limit_counts_a_whole_game_and_a_truncated_game_restarts():
    env = make_vec_env(atari_cfg().env, 1, 120).envs[0]
    env.reset(seed=3)
    ale = env.unwrapped.ale
    rng = np.random.default_rng(0)
    steps, life_ends, info = 0, 0, {}
    for _ in range(1000):
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        steps += 1
        if truncated:
            break
        if terminated:
            life_ends += 1
            env.reset()
    assert truncated and life_ends >= 1  # the limit ran on across lives: per game, not per life
    assert info["game_length"] == 120 and steps <= 120
    env.reset()
    assert ale.lives() == 5  # a truncated game starts over; the next life does not continue it
    env.close()


def test_minatar_observations_are_channels_first_uint8():
    env = make_env(resolve("MinAtar/Breakout-v1").env)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 10, 10) and obs.dtype == np.uint8 and set(np.unique(obs)) <= {0, 1}
    assert env.observation_space == spaces.Box(0, 1, (4, 10, 10), np.uint8)
    env.close()


def test_presets_for_pixel_families():
    assert resolve("ALE/Pong-v5").network.kind == "nature_cnn"
    assert resolve("PongNoFrameskip-v4").replay.capacity == 1_000_000
    breakout = resolve("MinAtar/Breakout-v1")
    assert breakout.network.kind == "minatar_cnn" and breakout.network.hidden_sizes == (128,)
    assert resolve("MinAtar/Asterix-v0").network.kind == "minatar_cnn"  # no file of its own: the family's preset


def test_the_network_is_chosen_by_the_observation_shape():
    assert auto_kind((4,)) == "mlp" and auto_kind((4, 84, 84)) == "nature_cnn" and auto_kind((6, 10, 10)) == \
        "minatar_cnn"
    cfg = Config()
    nature = build_q_network(spaces.Box(0, 255, (4, 84, 84), np.uint8), 6, cfg.network.__class__(
        hidden_sizes=(512,), dueling=False))
    convs = [m for m in nature.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(32, (8, 8), (4, 4)), (64, (4, 4), (2, 2)),
                                                                          (64, (3, 3), (1, 1))]
    assert nature.torso[0].in_features == 3136 and nature(torch.zeros(2, 4, 84, 84)).shape == (2, 6)
    minatar = build_q_network(spaces.Box(0, 1, (4, 10, 10), np.uint8), 3, cfg.network.__class__(hidden_sizes=(128,)))
    assert minatar.torso[0].in_features == 16 * 8 * 8 and minatar(torch.zeros(5, 4, 10, 10)).shape == (5, 3)
    # pixels are scaled in the network: 255 in a uint8 frame is 1.0 for the first convolution
    assert nature.encoder[0](torch.full((1, 1), 255, dtype=torch.uint8)).item() == 1.0
    assert minatar.encoder[0](torch.ones((1, 1), dtype=torch.uint8)).item() == 1.0
    c51 = build_q_network(spaces.Box(0, 1, (4, 10, 10), np.uint8), 3, cfg.network, atoms=51)
    assert c51(torch.zeros(2, 4, 10, 10)).shape == (2, 3, 51)


def test_wrong_network_for_the_shape_is_one_line():
    cfg = Config()
    with pytest.raises(DeepQError, match="nature_cnn needs frames of at least 36x36"):
        build_q_network(spaces.Box(0, 1, (4, 10, 10), np.uint8), 3, cfg.network.__class__(kind="nature_cnn"))
    with pytest.raises(DeepQError, match="takes image observations"):
        build_q_network(spaces.Box(-1, 1, (4,), np.float32), 2, cfg.network.__class__(kind="minatar_cnn"))
    with pytest.raises(DeepQError, match="network.kind=nature_cnn or minatar_cnn"):
        build_q_network(spaces.Box(0, 1, (4, 10, 10), np.uint8), 3, cfg.network.__class__(kind="mlp"))


TINY_PIXELS = {"train.total_steps": 600, "train.learning_starts": 200, "replay.capacity": 1000,
               "replay.batch_size": 16, "eval.interval": 300, "eval.episodes": 2, "log.checkpoint_interval": 250,
               "log.tensorboard": False, "log.plot": False, "network.hidden_sizes": (32,)}


@pytest.mark.slow
def test_minatar_trains_checkpoints_frames_once_and_resumes(tmp_path):
    cfg = resolve("MinAtar/Breakout-v1", overrides=TINY_PIXELS, seed=4)
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.env_steps >= 600 and agent.online.encoder is not None
    with safe_open(str(tmp_path / "run" / "checkpoints" / "latest.safetensors"), "pt") as f:
        keys = set(f.keys())
        frames = f.get_tensor("replay.frames")
    assert "replay.next_obs" not in keys  # each frame once
    assert frames.dtype == torch.uint8 and tuple(frames.shape[1:]) == (4, 4, 10, 10)  # (rows, envs, C, 10, 10)
    grown = deepq.resume(tmp_path / "run", total_steps=800, quiet=True)
    assert grown.result.env_steps >= 800
    score = deepq.evaluate(tmp_path / "run", episodes=3)
    assert score.episodes == 3 and np.isfinite(score.mean)


@pytest.mark.slow
def test_atari_pipeline_end_to_end_with_a_tiny_budget(tmp_path):
    """Train, evaluate on raw game scores and record a video of Pong, all from the command line."""
    run = tmp_path / "pong"
    cmd = [sys.executable, "-m", "deepq.cli"]
    out = subprocess.run(cmd + ["train", "--env", "ALE/Pong-v5", "--run-dir", str(run), "--quiet",
                                "env.max_episode_steps=150", "train.total_steps=400", "train.learning_starts=200",
                                "replay.capacity=1000", "replay.batch_size=8", "eval.interval=0",
                                "network.hidden_sizes=32", "log.tensorboard=false"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] >= 400
    out = subprocess.run(cmd + ["evaluate", str(run), "--episodes", "1"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and "over 1 episodes" in out.stdout, out.stderr
    score = float(out.stdout.split("mean ")[1].split()[0])
    assert -21 <= score <= 21 and score == int(score)  # a raw Pong score, not clipped per life
    video = tmp_path / "pong.mp4"
    out = subprocess.run(cmd + ["play", str(run), "--video", str(video), "--episodes", "1"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert video.stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["minatar", "MinAtar-Asterix-v1", "MinAtar-Freeway-v1", "MinAtar-Seaquest-v1",
                                    "MinAtar-SpaceInvaders-v1"])
def test_every_minatar_preset_trains_a_tiny_budget(preset, tmp_path):
    env_id = "MinAtar/Breakout-v1" if preset == "minatar" else preset.replace("MinAtar-", "MinAtar/")
    cfg = resolve(env_id, preset=preset, overrides={**TINY_PIXELS, "train.total_steps": 300, "eval.interval": 300,
                                                    "eval.episodes": 1}, seed=1)
    agent = deepq.train(cfg, tmp_path / "run", quiet=True)
    assert agent.result.grad_steps > 0 and agent.result.last_eval is not None


def test_a_network_too_large_to_allocate_is_one_line():
    """Sizes from a checkpoint or config from elsewhere: refused before allocating, not killed by the OOM killer."""
    cfg = Config()
    with pytest.raises(DeepQError, match="the Q-network would have"):
        build_q_network(spaces.Box(-1, 1, (40_000_000,), np.float32), 2, cfg.network)
    with pytest.raises(DeepQError, match="the Q-network would have"):
        build_q_network(spaces.Box(-1, 1, (4,), np.float32), 1 << 20, cfg.network, atoms=51)
