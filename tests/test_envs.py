import numpy as np
import pytest

from deepq.envs.make import make_env, make_vec_env
from deepq.errors import DeepQError


@pytest.mark.parametrize("env_id", ["CartPole-v0", "CartPole-v1", "Acrobot-v1", "MountainCar-v0"])
def test_discrete_classic_control_envs_are_accepted(env_id):
    envs = make_vec_env(env_id, 2)
    obs, _ = envs.reset(seed=0)
    assert obs.ndim == 2 and obs.shape[0] == 2
    envs.close()


@pytest.mark.parametrize("env_id, message", [
    ("CartPole-v7", "not a registered Gymnasium environment; did you mean CartPole-v1"),
    ("Pendulum-v1", "Box action space .* DQN needs a Discrete action space"),
    ("FrozenLake-v1", "Discrete observation space; deepq needs a Box observation"),
    ("Blackjack-v1", "Tuple observation space"),
])
def test_unsupported_envs_are_refused_in_one_line(env_id, message):
    with pytest.raises(DeepQError, match=message) as info:
        make_env(env_id)
    assert "\n" not in str(info.value)


def test_image_observations_pass_the_env_check_but_the_mlp_refuses_them_in_one_line():
    from deepq.config.schema import Config
    from deepq.envs.make import check_spaces
    from deepq.nets.build import build_q_network
    from gymnasium import spaces
    import numpy as np

    image = spaces.Box(0, 255, (84, 84, 3), np.uint8)
    assert check_spaces("Pixels-v0", image, spaces.Discrete(4)) == ((84, 84, 3), 4)
    with pytest.raises(DeepQError, match=r"observations of shape \(84, 84, 3\) need a network") as info:
        build_q_network(image, 4, Config().network)
    assert "FlattenObservation" in str(info.value) and "network=" in str(info.value) and "\n" not in str(info.value)


def test_actions_not_starting_at_zero_are_refused():
    from deepq.envs.make import check_spaces
    from gymnasium import spaces
    import numpy as np

    with pytest.raises(DeepQError, match="starting at 1"):
        check_spaces("Shifted-v0", spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(2, start=1))


def test_time_limit_override():
    envs = make_vec_env("CartPole-v1", 1, max_episode_steps=3)
    envs.reset(seed=0)
    truncated = [bool(envs.step(np.array([0]))[3][0]) for _ in range(3)]
    assert truncated == [False, False, True]
