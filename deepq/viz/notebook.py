"""Notebook helpers: an episode as an inline animation, learning curves inline, a live curve during training.

    from deepq.viz.notebook import LiveCurve, animate_episode, show_curve
    agent = deepq.train(cfg, "runs/cp0", callbacks=[LiveCurve()])   # the curve redraws itself while training
    show_curve(["runs/cp0", "runs/cp1"])
    animate_episode("runs/cp0", seed=1000)                           # last line of a cell: the animation

IPython is imported only when a helper is used: `pip install ipython` (or deepq[notebook]) if it is missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from deepq.run.callbacks import Callback
from deepq.errors import DeepQError


def _display():
    try:
        from IPython import display
    except ImportError:
        raise DeepQError("the notebook helpers need IPython: pip install ipython") from None
    return display


def animate_episode(run_or_agent, seed: int = 1000, max_steps: Optional[int] = 500, fps: float = 30,
                    every: int = 1, scale: float = 0.5):
    """One greedy episode (reset with `seed`) as an `IPython.display.HTML` animation with play controls.

    Frames are embedded as PNG images, so long episodes make large notebooks: `every` keeps every k-th step's
    frame, `scale` shrinks them and `max_steps` stops the episode early.
    """
    from matplotlib.animation import FuncAnimation

    from deepq.viz.plots import new_figure
    from deepq.viz.video import EpisodeStats, as_agent, episode_frames, render_env

    display = _display()
    agent = as_agent(run_or_agent)
    env = render_env(agent)
    try:
        frames = list(episode_frames(agent, env, EpisodeStats(seed), every=every, scale=scale, max_steps=max_steps))
    finally:
        env.close()
    height, width = frames[0].shape[:2]
    fig = new_figure(width, height)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    image = ax.imshow(frames[0])

    def show(frame: np.ndarray):
        image.set_data(frame)
        return (image,)

    animation = FuncAnimation(fig, show, frames=frames, interval=1000 / fps)
    return display.HTML(animation.to_jshtml())


def curve_image(run_dirs: Sequence[str | Path] | str | Path, smooth: Optional[int] = None, panels: Sequence[str] = ()):
    """The learning curves of one or more run directories as an `IPython.display.Image`."""
    from deepq.viz import plots

    display = _display()
    fig = plots.curve_figure(plots.load_runs(run_dirs), smooth=smooth or plots.DEFAULT_SMOOTH, panels=panels)
    return display.Image(plots.figure_png(fig))


def show_curve(run_dirs: Sequence[str | Path] | str | Path, smooth: Optional[int] = None,
               panels: Sequence[str] = ()) -> None:
    """Show the learning curves of one or more run directories inline (see `deepq.viz.plots.plot_runs`)."""
    _display().display(curve_image(run_dirs, smooth, panels))


class LiveCurve(Callback):
    """A learning curve that redraws itself in the notebook cell while `deepq.train` runs.

    Redraws at most every `every_s` seconds and never spends more than about a tenth of the wall-clock on
    drawing (each redraw waits ten times as long as the last one took); the last redraw comes when training ends.
    """

    def __init__(self, every_s: float = 2.0, smooth: Optional[int] = None, threshold: Optional[float] = None):
        from deepq.viz.plots import DEFAULT_SMOOTH

        self._ipython = _display()  # fail at once, with the fix, when IPython is missing
        self.every_s = every_s
        self.smooth = smooth or DEFAULT_SMOOTH
        self.threshold = threshold
        self.steps: list[int] = []
        self.returns: list[float] = []
        self.eval_steps: list[int] = []
        self.eval_means: list[float] = []
        self.draws = 0
        self._handle = None
        self._next_draw = 0.0

    def on_episode(self, counters: dict, episode_return: float, episode_length: int, epsilon: float) -> None:
        self.steps.append(counters["env_steps"])
        self.returns.append(episode_return)
        if time.monotonic() >= self._next_draw:
            self.draw()

    def on_eval(self, counters: dict, result) -> None:
        self.eval_steps.append(counters["env_steps"])
        self.eval_means.append(result.mean)

    def on_end(self, result, run_dir) -> None:
        if self.threshold is None:
            self.threshold = result.threshold
        self.draw()

    def figure(self):
        """The curve so far, as a matplotlib Figure."""
        from deepq.viz.plots import EVAL, RETURN, RunCurve, curve_figure

        series = {RETURN: (np.asarray(self.steps, dtype=np.float64), np.asarray(self.returns, dtype=np.float64)),
                  EVAL: (np.asarray(self.eval_steps, dtype=np.float64), np.asarray(self.eval_means, dtype=np.float64))}
        curve = RunCurve(name="training return", env_id=None, config={}, threshold=self.threshold, series=series)
        return curve_figure([curve], smooth=self.smooth, random_baseline=False)

    def draw(self) -> None:
        from deepq.viz.plots import figure_png

        started = time.monotonic()
        image = self._ipython.Image(figure_png(self.figure()))
        if self._handle is None:
            self._handle = self._ipython.DisplayHandle()
            self._handle.display(image)
        else:
            self._handle.update(image)
        self.draws += 1
        now = time.monotonic()
        self._next_draw = now + max(self.every_s, 10 * (now - started))
