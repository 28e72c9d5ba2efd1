"""Notebook helpers, tested without a notebook: the HTML animation, the inline curve and the live curve."""

import base64
import io
import re
import sys

import matplotlib

matplotlib.use("Agg")  # tests never need a display (deepq itself never touches pyplot)

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import deepq  # noqa: E402
from deepq.viz import notebook  # noqa: E402
from deepq.errors import DeepQError  # noqa: E402
from tiny import tiny_cfg  # noqa: E402

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = tmp_path_factory.mktemp("notebook") / "run"
    deepq.train(tiny_cfg(), path, quiet=True)
    return path


def embedded_frames(html: str) -> list[bytes]:
    """The PNG frames of a jshtml animation (its base64 is wrapped with backslash-newlines)."""
    found = re.findall(r'data:image/png;base64,([^"]+)"', html)
    return [base64.b64decode(data.replace("\\\n", "")) for data in found]


def test_animate_episode_embeds_one_frame_per_step(run):
    agent = deepq.load_agent(run)
    html = notebook.animate_episode(agent, seed=1000, max_steps=5, scale=0.5)
    frames = embedded_frames(html.data)
    assert len(frames) == 6  # the first observation and 5 steps (the episode is cut at max_steps)
    with Image.open(io.BytesIO(frames[0])) as image:
        assert image.size == (300, 200)
    assert "Animation" in html.data and "<input" in html.data  # matplotlib's player controls
    full = notebook.animate_episode(run, seed=1000, max_steps=None, every=2, scale=0.25)
    length = int(deepq.evaluate(run, episodes=1, seed=1000).returns[0])
    assert len(embedded_frames(full.data)) == 1 + length // 2 + length % 2


def test_curve_image_is_the_learning_curve(run, capsys):
    image = notebook.curve_image(run, panels=("epsilon",))
    with Image.open(io.BytesIO(image.data)) as png:
        assert png.size == (800, 650)
    notebook.show_curve([run])  # outside IPython, display() prints the object
    assert "Image object" in capsys.readouterr().out


def test_live_curve_follows_training_and_is_throttled(capsys):
    live = notebook.LiveCurve(every_s=3600)
    agent = deepq.train(tiny_cfg(), callbacks=[live])
    assert live.draws == 2  # the first episode, then nothing until training ends
    assert len(live.returns) == agent.result.episodes and len(live.eval_means) == 3
    assert live.threshold == agent.result.threshold == 475  # the env's threshold, learnt from the result at the end
    top = live.figure().axes[0]
    returns_line = next(line for line in top.get_lines() if line.get_label() == "training return")
    assert len(returns_line.get_ydata()) == agent.result.episodes
    assert capsys.readouterr().out.count("Image object") == 2


def test_missing_ipython_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)  # what `import IPython` sees when it is not installed
    with pytest.raises(DeepQError, match="pip install ipython"):
        notebook.LiveCurve()
