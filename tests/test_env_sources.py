"""Environments as users bring them: a factory, gym.make kwargs, wrappers, an env without render_mode, a module in
the current directory (issue 13). Real environments, tiny budgets, the CLI as real processes."""

import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import deepq
from deepq.envs import source
from deepq.envs.make import make_env, make_vec_env
from tiny import tiny_cfg, tiny_cli

pytestmark = pytest.mark.slow  # real training runs or processes; the unit tier skips them

# Shorter than the shared tiny config, short episodes, and stopping when solved (the schema's default).
SHORT = {"train.total_steps": 400, "train.learning_starts": 100, "eval.interval": 200, "eval.episodes": 2,
         "eval.screen_episodes": None, "eval.stop_when_solved": True, "env.num_envs": 2, "env.max_episode_steps": 20}
TINY_CLI = tiny_cli(**SHORT)

# A module a user would keep next to their script: an env whose constructor takes no render_mode, a factory, a
# wrapper. Written into each test's directory, so the CLI must find it in its working directory.
MODULE = textwrap.dedent('''
    import gymnasium as gym
    import numpy as np
    from gymnasium import spaces


    class Walk(gym.Env):
        """Walk right to the end of a line of `size` cells (+1 there); no render_mode argument at all."""

        def __init__(self, size=4):
            self.size = size
            self.observation_space = spaces.Box(0, size, (1,), np.float32)
            self.action_space = spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.pos = 0
            return np.array([self.pos], np.float32), {}

        def step(self, action):
            self.pos = max(0, self.pos + (1 if action == 1 else -1))
            done = self.pos >= self.size
            return np.array([self.pos], np.float32), float(done), done, False, {}


    def make_walk(size=4):
        return gym.wrappers.TimeLimit(Walk(size), 20)


    class Doubled(gym.ObservationWrapper):
        def __init__(self, env):
            super().__init__(env)
            self.observation_space = spaces.Box(0, 2 * env.observation_space.high, (1,), np.float32)

        def observation(self, obs):
            return 2 * obs
''')


@pytest.fixture
def userdir(tmp_path, monkeypatch):
    (tmp_path / "walkenvs.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "walkenvs"]:
        del sys.modules[name]
    source.LIVE.clear()


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "deepq.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def cfg(**extra):
    return tiny_cfg(**{**SHORT, **extra})


def test_an_env_factory_trains_evaluates_and_resumes_from_its_recorded_import_path(userdir):
    import walkenvs

    agent = deepq.train(cfg(**{"eval.threshold": 2.0, "env.kwargs.size": 3}), userdir / "run", env=walkenvs.make_walk,
                        quiet=True)
    assert agent.cfg.env.id == "walkenvs:make_walk" and agent.cfg.env.kwargs == {"size": 3}
    saved = (userdir / "run" / "config.yaml").read_text()
    assert "id: walkenvs:make_walk" in saved and "size: 3" in saved
    # Another process rebuilds it from config.yaml alone, finding walkenvs in its working directory.
    out = cli("evaluate", "run", "--episodes", "3", "--json", cwd=userdir)
    assert out.returncode == 0, out.stderr
    out = cli("train", "--resume", "run", "train.total_steps=600", "--quiet", cwd=userdir)
    assert out.returncode == 0, out.stderr


def test_an_env_without_render_mode_trains_and_evaluates_and_play_says_why_it_cannot_draw(userdir):
    out = cli("train", "--env", "walkenvs:Walk", "--run-dir", "walk", *TINY_CLI, "--quiet", cwd=userdir)
    assert out.returncode == 0, out.stderr  # the in-training evaluations ran (eval.interval=200)
    assert "last evaluation" in out.stdout and "nan" not in out.stdout
    out = cli("play", "walk", "--video", "walk.gif", cwd=userdir)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "takes no render_mode argument" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_env_kwargs_and_wrappers_from_the_command_line(userdir):
    out = cli("train", "--env", "walkenvs:Walk", "--env-kwargs", '{"size": 2}', "--run-dir", "w", "--quiet",
              "env.wrappers=walkenvs:Doubled", *TINY_CLI, cwd=userdir)
    assert out.returncode == 0, out.stderr
    env = make_env(deepq.load_agent(userdir / "w").cfg.env)
    obs, _ = env.reset(seed=0)
    obs, reward, terminated, *_ = env.step(1)
    obs, reward, terminated, *_ = env.step(1)
    assert obs.tolist() == [4.0] and terminated  # size 2 reached; the wrapper doubled the observation
    out = cli("evaluate", "--random", "--env", "walkenvs:make_walk", "--episodes", "3", "--json", cwd=userdir)
    assert out.returncode == 0, out.stderr
    out = cli("train", "--env", "walkenvs:Walk", "env.kwargs.sise=3", "--run-dir", "bad", cwd=userdir)
    assert out.returncode == 2 and "unexpected keyword argument 'sise'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_gym_make_kwargs_reach_a_registered_env():
    env = make_env(deepq.Config().replace(**{"env.kwargs": {"sutton_barto_reward": True}}).env)
    env.reset(seed=0)
    rewards = [env.step(0)[1] for _ in range(5)]
    assert rewards == [0.0] * 5  # Sutton and Barto's reward: 0 per step, -1 at the end
    envs = make_vec_env(deepq.Config().replace(**{"env.kwargs.sutton_barto_reward": True}).env, 2)
    assert isinstance(envs, gym.vector.SyncVectorEnv)


def test_a_lambda_env_trains_in_memory_and_loading_it_elsewhere_says_what_to_pass(userdir):
    import walkenvs

    agent = deepq.train(cfg(), userdir / "lam", env=lambda: walkenvs.make_walk(3), quiet=True)
    assert agent.cfg.env.id.startswith("test_env_sources:") and agent.cfg.env.id.endswith("<lambda>")
    assert deepq.evaluate(agent, episodes=2).episodes == 2  # same process: remembered
    out = cli("evaluate", "lam", cwd=userdir)
    assert out.returncode == 2 and "cannot be imported back" in out.stderr and "env=" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = cli("plot", "lam", "--out", "lam.png", cwd=userdir)  # the curve needs no env: drawn, minus the random line
    assert out.returncode == 0 and (userdir / "lam.png").is_file(), out.stderr
    source.LIVE.clear()  # as in a fresh session: the run asks for the factory, and takes it
    with pytest.raises(deepq.DeepQError, match="cannot be imported back"):
        deepq.evaluate(userdir / "lam", episodes=2)
    assert deepq.evaluate(userdir / "lam", episodes=2, env=lambda: walkenvs.make_walk(3)).episodes == 2


def test_an_env_object_is_refused_in_one_line():
    with pytest.raises(deepq.DeepQError, match="not an environment object") as info:
        deepq.train(cfg(), env=gym.make("CartPole-v1"))
    assert "\n" not in str(info.value)


def test_an_unknown_module_env_is_one_line(userdir):
    out = cli("train", "--env", "walkenvs:Nothing", cwd=userdir)
    assert out.returncode == 2 and "neither registers a Gymnasium id 'Nothing'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (userdir / "runs").exists()  # the numbered directory of a refused run is not left behind


def test_custom_env_space_check_still_applies(userdir):
    class Continuous(gym.Env):
        observation_space = spaces.Box(-1, 1, (2,), np.float32)
        action_space = spaces.Box(-1, 1, (1,), np.float32)

    with pytest.raises(deepq.DeepQError, match="DQN needs a Discrete action space"):
        deepq.train(cfg(), env=Continuous)
