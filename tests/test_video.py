"""Videos of the trained agent: frame counts, what the frames show, and the `deepq play` command."""

import subprocess
import sys

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

import deepq
from deepq.viz import video
from deepq.config.schema import resolve
from deepq.errors import DeepQError

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "run"
    cfg = resolve(env_id="CartPole-v1", seed=0, overrides={
        "train.total_steps": 600, "train.learning_starts": 200, "eval.interval": 0, "log.tensorboard": False,
        "log.progress": False, "log.plot": False})
    deepq.train(cfg, path, quiet=True)
    return path


def gif_frames(path):
    with Image.open(path) as image:
        frames = []
        for i in range(image.n_frames):
            image.seek(i)
            frames.append(np.asarray(image.convert("RGB")))
    return frames


def cart_x(frame):
    """Mean column of the cart: dark pixels in the lower half, in rows narrower than the full-width track."""
    lower = frame[frame.shape[0] // 2:]
    dark = lower.max(axis=2) < 80
    per_row = dark.sum(axis=1)
    cart_rows = (per_row > 5) & (per_row < frame.shape[1] // 3)
    assert cart_rows.sum() >= 5, "no cart in the lower half of the frame"
    return np.flatnonzero(dark[cart_rows].any(axis=0)).mean()


def test_frame_count_counts_first_every_kth_and_last():
    assert video.frame_count(9) == 10
    assert video.frame_count(9, every=3) == 4  # steps 0, 3, 6, 9
    assert video.frame_count(10, every=3) == 5  # steps 0, 3, 6, 9 and the last, 10
    assert video.frame_count(0, every=4) == 1


def test_gif_shows_the_evaluated_episodes(run, tmp_path):
    out = tmp_path / "play.gif"
    rec = video.record(run, out, episodes=2, seed=1000, fps=25)
    # The same seeds as `deepq evaluate`, so the same episodes and returns.
    assert rec.returns == deepq.evaluate(run, episodes=2, seed=1000).returns
    lengths = [e.length for e in rec.episodes]
    assert lengths == [int(r) for r in rec.returns]  # CartPole pays 1 per step
    frames = gif_frames(out)
    assert len(frames) == rec.frames == sum(length + 1 for length in lengths)  # first observation + each step
    assert frames[0].shape == (400, 600, 3)
    with Image.open(out) as image:
        assert image.info["duration"] == 40 and image.info["loop"] == 0
    first, last = frames[0], frames[lengths[0]]  # episode 1's first and last frames
    assert abs(cart_x(last) - cart_x(first)) > 2, "the cart did not move"
    assert first[:40].max(axis=2).min() < 80  # the caption is drawn at the top


def test_an_action_repeat_is_filmed_one_env_step_at_a_time(tmp_path):
    cfg = resolve(env_id="MountainCar-v0", seed=0, overrides={
        "env.action_repeat": 4, "env.max_episode_steps": 30, "train.total_steps": 300, "train.learning_starts": 100,
        "eval.interval": 0, "log.tensorboard": False, "log.progress": False, "log.plot": False})
    deepq.train(cfg, tmp_path / "run", quiet=True)
    rec = video.record(tmp_path / "run", tmp_path / "play.gif", episodes=1, seed=1000)
    assert rec.returns == deepq.evaluate(tmp_path / "run", episodes=1, seed=1000).returns == [-30.0]
    # 30 env steps (-1 each, the time limit counting env steps) in decisions of 4: a frame for every env step
    assert rec.episodes[0].length == 30 and len(gif_frames(tmp_path / "play.gif")) == rec.frames == 31


def test_mp4_frame_count_every_and_scale(run, tmp_path):
    out = tmp_path / "play.mp4"
    rec = video.record(run, out, episodes=1, seed=1001, fps=50, every=3, scale=0.5)
    length = rec.episodes[0].length
    with imageio.get_reader(out) as reader:
        assert reader.count_frames() == rec.frames == video.frame_count(length, every=3)
        assert reader.get_meta_data()["fps"] == 50
        frame = reader.get_data(0)
    assert frame.shape == (200, 300, 3)
    cart_x(frame)


def test_bad_input_is_one_line(run, tmp_path):
    with pytest.raises(DeepQError, match=r"must end in \.mp4 or \.gif"):
        video.record(run, tmp_path / "play.avi")
    with pytest.raises(DeepQError, match="not a deepq run directory"):
        video.record(tmp_path, tmp_path / "play.gif")
    with pytest.raises(DeepQError, match="--episodes must be >= 1"):
        video.record(run, tmp_path / "play.gif", episodes=0)
    assert not (tmp_path / "play.gif").exists() and not (tmp_path / "play.avi").exists()


def test_cli_play(run, tmp_path):
    out = tmp_path / "cli.gif"
    done = subprocess.run([sys.executable, "-m", "deepq.cli", "play", str(run), "--video", str(out),
                           "--episodes", "2", "--seed", "1000", "--scale", "0.25"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    returns = deepq.evaluate(run, episodes=2, seed=1000).returns
    assert f"wrote {out}" in done.stdout and f"returns: {returns[0]:g}, {returns[1]:g}" in done.stdout
    assert len(gif_frames(out)) == sum(int(r) + 1 for r in returns)
    bad = subprocess.run([sys.executable, "-m", "deepq.cli", "play", str(run), "--video", str(tmp_path / "x.webm")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "must end in .mp4 or .gif" in bad.stderr and "Traceback" not in bad.stderr
