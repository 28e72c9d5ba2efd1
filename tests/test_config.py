import pytest
import yaml

from deepq.config.schema import Config, ConfigError, help_rows, parse_override, resolve


def test_defaults_and_dotted_overrides():
    cfg = Config().replace(**{"learner.lr": "1e-3", "network.hidden_sizes": "128,32", "learner.double": "true"})
    assert cfg.learner.lr == 0.001
    assert cfg.network.hidden_sizes == (128, 32)
    assert cfg.learner.double is True


def test_parse_override_reads_yaml_values():
    assert parse_override("replay.batch_size=64") == ("replay.batch_size", 64)
    assert parse_override("network.hidden_sizes=[64, 64]") == ("network.hidden_sizes", [64, 64])
    assert parse_override("eval.threshold=") == ("eval.threshold", None)
    with pytest.raises(ConfigError, match="not key=value"):
        parse_override("learner.lr")


@pytest.mark.parametrize("overrides, message", [
    ({"learner.lr": -0.1}, "learner.lr: must be > 0"),
    ({"learner.gamma": 1.5}, r"learner.gamma: must be in \[0, 1\]"),
    ({"replay.batch_size": 512, "replay.capacity": 100}, "larger than replay.capacity"),
    ({"learner.lr": "fast"}, "learner.lr: expected a number, got 'fast'"),
    ({"replay.batch_size": 3.5}, "replay.batch_size: expected a whole number"),
    ({"learner.double": "maybe"}, "learner.double: expected true or false"),
    ({"learner.lossy": 1}, "unknown config key learner.lossy; did you mean learner.loss"),
    ({"learner.loss": "l1"}, "learner.loss: must be one of huber, mse"),
    ({"nonsense.key": 1}, "unknown config key nonsense.key"),
    ({"train.learning_starts": 5000, "train.total_steps": 1000}, "no gradient step would run"),
    ({"exploration.end": -0.1}, r"exploration.end: must be in \[0, 1\]"),
    ({"eval.screen_episodes": 0}, r"eval.screen_episodes: must be >= 1 or empty, got 0"),
    ({"eval.gate_episodes": -1}, r"eval.gate_episodes: must be in \[0, 10000\] \(0 = off\), got -1"),
    ({"eval.gate_z": -0.5}, r"eval.gate_z: must be >= 0, got -0.5"),
    ({"learner.lr_decay_from": "solved"}, r"learner.lr_decay_from: solved needs learner.lr_end"),
    ({"learner.lr_decay_from": "later"}, r"learner.lr_decay_from: must be one of start, solved"),
])
def test_invalid_hyperparameters_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(**overrides)


def test_yaml_round_trip(tmp_path):
    cfg = Config().replace(**{"seed": 7, "network.hidden_sizes": [32], "eval.threshold": 100})
    cfg.save(tmp_path / "c.yaml", extra={"versions": {"deepq": "x"}})
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["seed"] == 7
    assert resolve(config_file=str(tmp_path / "c.yaml")) == cfg


def test_layering_preset_file_overrides_args(tmp_path):
    (tmp_path / "c.yaml").write_text("learner: {lr: 0.0005}\nreplay: {batch_size: 16}\n")
    cfg = resolve(env_id="CartPole-v1", config_file=str(tmp_path / "c.yaml"),
                  overrides={"replay.batch_size": 8}, seed=3)
    assert cfg.learner.lr == 0.0005  # file beats preset
    assert cfg.replay.batch_size == 8  # override beats file
    assert cfg.seed == 3 and cfg.env.id == "CartPole-v1"
    assert cfg.env.num_envs == resolve(env_id="CartPole-v1").env.num_envs  # rest from the tuned preset


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config_file=str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("learner: {lr: [}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve(config_file=str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="unknown preset 'CartPole-v9'; did you mean CartPole-v1"):
        resolve(preset="CartPole-v9")


def test_every_hyperparameter_has_help_with_units():
    rows = help_rows()
    keys = [k for k, _, _ in rows]
    assert "learner.lr" in keys and "train.train_freq" in keys and "target.update_interval" in keys
    assert all(text for _, _, text in rows)
    text = dict((k, h) for k, _, h in rows)
    assert "env steps" in text["train.train_freq"]
    assert "gradient steps" in text["target.update_interval"]


@pytest.mark.parametrize("key, value, message", [
    ("env.num_envs", 10**10, "env.num_envs: must be in [1, 4096]"),
    ("train.torch_threads", 100_000, "train.torch_threads: must be in [0, 1024]"),
    ("eval.episodes", 10**10, "eval.episodes: must be in [1, 10000]"),
    ("env.id", "", "env.id: is empty"),
])
def test_sizes_that_become_live_objects_are_bounded_in_one_line(key, value, message):
    from deepq.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Config().replace(**{key: value})
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_empty_env_id_is_not_the_default_env():
    from deepq.config import resolve
    from deepq.errors import ConfigError

    with pytest.raises(ConfigError, match="env.id: is empty"):
        resolve(env_id="")


def test_config_file_of_nested_aliases_is_one_line_and_fast(tmp_path):
    """A 1 KB 'billion laughs' YAML would expand to 10**9 values; the loader stops it at its bound."""
    import time

    from deepq.config.schema import ConfigError, resolve

    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 10)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ConfigError, match="expands to more than"):
        resolve(config_file=str(path))
    assert time.monotonic() - start < 5


def test_the_config_names_every_activation_the_networks_have():
    from deepq.config.schema import ACTIVATION_NAMES
    from deepq.nets.activations import ACTIVATIONS

    assert ACTIVATION_NAMES == tuple(ACTIVATIONS)


@pytest.mark.parametrize("make,message", [
    (lambda s: s.LearnerConfig(lr=float("inf")), "learner.lr: expected a finite number"),
    (lambda s: s.EnvConfig(terminal_reward=float("nan")), "env.terminal_reward: expected a finite number"),
    (lambda s: s.EvalConfig(threshold=float("nan")), "eval.threshold: expected a finite number"),
    (lambda s: s.Config(learner="fast"), "learner: expected a deepq.config.schema.LearnerConfig, got str"),
    (lambda s: s.Config(train=None), "train: expected a deepq.config.schema.TrainConfig"),
    (lambda s: s.Config(seed="a"), "seed: expected a whole number"),
    (lambda s: s.LearnerConfig(loss="l3"), "learner.loss: must be one of huber, mse"),
])
def test_sections_built_in_python_are_checked_as_the_command_line_is(make, message):
    """Issue 14: the Python API accepted LearnerConfig(lr=inf) and gave AttributeErrors for wrong types."""
    from deepq.config import schema
    from deepq.config.schema import ConfigError

    with pytest.raises(ConfigError, match=message):
        make(schema)


def test_python_values_are_coerced_as_yaml_values_are():
    from deepq.config.schema import Config, LearnerConfig, NetworkConfig

    assert LearnerConfig(lr="1e-3").lr == 0.001
    assert NetworkConfig(hidden_sizes=[64, 64]).hidden_sizes == (64, 64)
    assert Config(learner=LearnerConfig(lr=2)).learner.lr == 2.0
