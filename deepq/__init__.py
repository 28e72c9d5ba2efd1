"""deepq: Deep Q-Networks for Gymnasium tasks with discrete actions."""

__version__ = "0.1.0"

from deepq.config.schema import Config  # noqa: E402
from deepq.errors import DeepQError  # noqa: E402
from deepq.evaluation.evaluate import EvalResult, evaluate, random_baseline  # noqa: E402
from deepq.experiments.multiseed import train_seeds  # noqa: E402
from deepq.run.runs import load_agent  # noqa: E402
from deepq.train import resume, train  # noqa: E402

__all__ = ["Config", "DeepQError", "EvalResult", "evaluate", "load_agent", "random_baseline", "resume", "train",
           "train_seeds", "__version__"]
