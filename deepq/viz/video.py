"""Watch the trained agent: greedy episodes rendered to MP4 (imageio-ffmpeg) or GIF (Pillow).

Episode i is reset with seed `seed + i`, as `deepq evaluate` does, so a video shows exactly the episodes whose
returns `deepq evaluate --episodes N --seed S` reports. Each episode gives its first observation's frame, then
every `every`-th step's frame and always its last one; every frame carries the episode number, the step and the
return so far. Rendering uses `render_mode="rgb_array"`: no display is needed.
"""

from __future__ import annotations

import errno
import functools
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from deepq.envs.make import make_env
from deepq.envs.repeat import ActionRepeat
from deepq.errors import DeepQError
from deepq.run.faults import fault

FORMATS = (".mp4", ".gif")


@dataclass
class EpisodeStats:
    """Filled in while an episode's frames are drawn."""

    seed: int
    ret: float = 0.0
    length: int = 0  # env steps
    frames: int = 0


@dataclass
class Recording:
    path: Path
    fps: float
    episodes: list[EpisodeStats] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(e.frames for e in self.episodes)

    @property
    def returns(self) -> list[float]:
        return [e.ret for e in self.episodes]


def as_agent(run_or_agent):
    """An agent as given, or the one saved in a run directory."""
    from deepq.run.runs import load_agent

    return run_or_agent if hasattr(run_or_agent, "greedy") else load_agent(run_or_agent)


def frame_count(length: int, every: int = 1) -> int:
    """Frames of an episode of `length` steps: the first observation, every `every`-th step and the last one."""
    return 1 + length // every + (1 if length % every else 0)


def episode_frames(agent, env, stats: EpisodeStats, caption: str = "", every: int = 1, scale: float = 1.0,
                   max_steps: Optional[int] = None) -> Iterator[np.ndarray]:
    """Frames (H, W, 3) uint8 of one greedy episode reset with `stats.seed`, captioned; fills `stats`.

    An action repeat (env.action_repeat) is played here one env step at a time, the agent choosing every k-th:
    the video shows (and `stats.length` counts) every env step, not one frame a decision."""
    obs, _ = env.reset(seed=stats.seed)
    repeat, stepper = (env.repeat, env.env) if isinstance(env, ActionRepeat) else (1, env)
    done, action, held = False, 0, 0
    while True:
        if stats.length % every == 0 or done:  # only the frames kept are rendered: rendering is the slow part
            stats.frames += 1
            yield annotate(as_rgb(env.render()), f"{caption}step {stats.length}   return {stats.ret:g}", scale)
        if done:
            return
        if held == 0:
            action, held = int(agent.greedy(np.asarray(obs)[None])[0]), repeat
        obs, reward, terminated, truncated, _ = stepper.step(action)
        held -= 1
        stats.ret += float(reward)
        stats.length += 1
        done = terminated or truncated or (max_steps is not None and stats.length >= max_steps)


MIN_SIDE = 160  # pixels: smaller game screens (MinAtar's 10x10) are enlarged, each cell a sharp square


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """A rendered frame as (H, W, 3) uint8: colours in [0, 1] (MinAtar) scaled to 0..255, and a small screen
    enlarged by a whole factor without blurring."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)
    factor = -(-MIN_SIDE // min(frame.shape[:2]))
    return frame.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else frame


def annotate(frame: np.ndarray, text: str, scale: float = 1.0) -> np.ndarray:
    """The frame resized by `scale` (to even sides, as H.264 needs) with `text` in its top-left corner."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    width, height = (max(2, round(side * scale / 2) * 2) for side in image.size)
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    size = max(10, height // 22)
    # A light outline keeps dark text readable on any background.
    ImageDraw.Draw(image).text((size // 2, size // 2), text, fill=(20, 20, 20), font=_font(size),
                               stroke_width=max(1, size // 8), stroke_fill=(255, 255, 255))
    return np.asarray(image)


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def render_env(agent):
    """The agent's environment with its own time limit, rendering to arrays."""
    # pygame initialises a video driver even for off-screen drawing; the dummy one needs no display.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    return make_env(agent.cfg.env, render_mode="rgb_array", max_episode_steps=agent.cfg.env.max_episode_steps)


def record(run_or_agent, out_path: str | Path, episodes: int = 1, seed: int = 1000, fps: float = 50,
           every: int = 1, scale: float = 1.0, *, env=None) -> Recording:
    """Write `episodes` greedy episodes (seeds `seed`, `seed + 1`, ...) to an .mp4 or .gif file.

    `run_or_agent` may also be a list of agents or run directories (the seeds of a `--seeds` directory): each
    plays the same episodes in turn, its frames captioned with its run's seed. `env`: the factory of a run trained
    with one that cannot be imported back."""
    out = Path(out_path)
    if out.suffix.lower() not in FORMATS:
        raise DeepQError(f"cannot write {out}: the video file name must end in .mp4 or .gif")
    for name, value, low in (("episodes", episodes, 1), ("every", every, 1)):
        if value < low:
            raise DeepQError(f"--{name} must be >= {low}, got {value}")
    if not fps > 0:
        raise DeepQError(f"--fps must be > 0, got {fps}")
    if not 0 < scale <= 4:
        raise DeepQError(f"--scale must be in (0, 4], got {scale}")
    from deepq.envs.source import remember

    agents = [as_agent(a) for a in (run_or_agent if isinstance(run_or_agent, (list, tuple)) else [run_or_agent])]
    for agent in agents:
        remember(agent.cfg.env.id, env)
    env = render_env(agents[0])
    recording = Recording(out, fps)
    # Written to a temp file beside `out` and renamed over it once complete: a full disk, a read-only directory or
    # a kill never leaves a truncated video (or replaces a good one) under the name asked for.
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.open("wb").close()  # ffmpeg opens it only at the first frame: a read-only directory fails here
        writer, in_memory = _open_writer(tmp, fps)
    except OSError as exc:
        env.close()
        _remove(tmp)
        raise DeepQError(f"cannot write {out} ({exc.strerror or exc}); choose a writable path") from None
    try:
        try:
            for agent in agents:
                who = f"seed {agent.cfg.seed}   " if len(agents) > 1 else ""
                for i in range(episodes):
                    stats = EpisodeStats(seed + i)
                    recording.episodes.append(stats)
                    for frame in episode_frames(agent, env, stats, f"{who}episode {i + 1}/{episodes}   ", every,
                                                scale):
                        fault("video")
                        writer.append_data(frame)
        finally:
            writer.close()
        if in_memory is not None:
            tmp.write_bytes(in_memory.getvalue())
        _check_complete(tmp)
        os.replace(tmp, out)
    except (OSError, RuntimeError) as exc:  # imageio reports ffmpeg's failures as either
        reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DeepQError(f"could not write {out} ({reason[:120]}); no video was written: free some space or "
                         "choose another --video path") from None
    finally:
        env.close()
        _remove(tmp)
    return recording


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # a read-only directory: nothing was created there
        pass


def _check_complete(path: Path) -> None:
    """Raise OSError unless the file ends as a complete video does. ffmpeg, out of space for the MP4's index
    (written last), says so on its stderr but exits as if it had succeeded; a GIF ends with its trailer byte."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if path.suffix.lower() == ".gif":
            fh.seek(max(0, size - 1))
            if size < 14 or fh.read(1) != b"\x3b":
                raise OSError(errno.EIO, "the GIF is incomplete (no trailer): the disk is probably full")
            return
        boxes, at = set(), 0
        while at + 8 <= size:  # MP4: top-level boxes, each (32-bit size, 4-byte type), must tile the file exactly
            fh.seek(at)
            length, kind = struct.unpack(">I4s", fh.read(8))
            if length == 1:  # a 64-bit size follows
                length = struct.unpack(">Q", fh.read(8))[0]
            if length < 8:
                break
            boxes.add(kind)
            at += length
        if at != size or b"moov" not in boxes:
            raise OSError(errno.EIO, "the MP4 is incomplete (no index): the disk is probably full")


def _open_writer(out: Path, fps: float):
    """(imageio writer, its BytesIO for a GIF, else None). A GIF is encoded in memory (Pillow holds every frame
    until the end anyway) and written by `record`: Pillow's own failed write would be retried, and fail again
    with a traceback, when the writer is garbage-collected."""
    import io

    import imageio.v2 as imageio

    if out.suffix.lower() == ".gif":
        buffer = io.BytesIO()
        return imageio.get_writer(buffer, format="GIF", extension=".gif", mode="I", duration=1000 / fps,
                                  loop=0), buffer  # duration per frame, in ms
    # yuv420p (what browsers and players expect) needs even sides: `annotate` makes them even.
    return imageio.get_writer(out, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                              ffmpeg_log_level="quiet"), None  # its failures are caught by _check_complete
