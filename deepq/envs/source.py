"""Where a run's environment comes from, and how to build it again from the run's config.yaml.

`env.id` names it one of three ways:

    CartPole-v1              a registered Gymnasium id
    mypkg.envs:Maze-v0       `module:Id`: deepq imports `module` first (it registers the id), as gym.make does
    mypkg.envs:make_maze     `module:function` (or a class): a *factory* called with `env.kwargs`, returning a
                             gymnasium.Env

plus `env.kwargs` (keyword arguments for gym.make or the factory) and `env.wrappers` (`module:Class` paths, each
applied as `Class(env)`, in order). The current directory is searched for `module` too, as `python -m` does, so
a file next to where you run deepq needs no PYTHONPATH.

`deepq.train(cfg, env=make_maze)` records the factory's import path in `env.id`, so `deepq evaluate`, `play`,
`--resume` and the worker processes of `--seeds` build it again. A factory that cannot be imported back (a
lambda, a nested function, one defined in a script's `__main__` or in a notebook) is remembered in this process
(`LIVE`): training, evaluation and plots in the same session work; elsewhere the error says what to pass.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional

import gymnasium as gym
from gymnasium.wrappers import TimeLimit

from deepq.envs.families import ensure_registered
from deepq.envs.pixels import Preprocessing
from deepq.envs.repeat import ActionRepeat
from deepq.errors import DeepQError
from deepq.importing import import_callable, import_module

EnvFactory = Callable[..., gym.Env]

# Factories passed as objects in this process (deepq.train(cfg, env=...), deepq.evaluate(run, env=...)), by the
# name recorded in env.id: the only way back to a lambda or a notebook's function.
LIVE: dict[str, EnvFactory] = {}


@dataclass(frozen=True)
class EnvSource:
    """What builds one environment: the id (or factory path), gym.make/factory kwargs, wrapper paths, and the
    pixel preprocessing (deepq.envs.pixels) applied before the user's wrappers."""

    id: str
    kwargs: dict = field(default_factory=dict)
    wrappers: tuple = ()
    preprocess: Optional[Preprocessing] = None
    action_repeat: int = 1  # deepq.envs.repeat, applied after the pixel preprocessing and before the wrappers

    @classmethod
    def of(cls, env: Any) -> "EnvSource":
        """From an id string (pixel tasks get their default preprocessing), an `EnvConfig` (cfg.env) or an
        EnvSource."""
        if isinstance(env, EnvSource):
            return env
        if isinstance(env, str):
            return cls(env, preprocess=Preprocessing.for_id(env))
        return cls(env.id, dict(getattr(env, "kwargs", None) or {}), tuple(getattr(env, "wrappers", None) or ()),
                   Preprocessing.of(env), int(getattr(env, "action_repeat", 1)))

    @property
    def plain(self) -> bool:
        """A registered id as it is: Gymnasium's own fast paths (native vector envs) apply."""
        return (not self.kwargs and not self.wrappers and self.preprocess is None and self.action_repeat == 1
                and factory_of(self.id) is None)


# --- naming and finding factories -----------------------------------------------------------------------------

def factory_name(factory: Callable) -> str:
    """`module:qualname`, what env.id records for a factory (not always importable: see `importable`)."""
    if isinstance(factory, partial):
        return f"{factory_name(factory.func)}(partial)"
    module = getattr(factory, "__module__", None) or "__main__"
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}:{name}"


def _not_importable(env_id: str) -> bool:
    module, _, name = env_id.rpartition(":")
    return module == "__main__" or "<" in name or "(" in name


def importable(env_id: str) -> bool:
    """Whether a fresh process (a `--seeds` worker, `deepq evaluate`) can build this env from its id alone."""
    if _not_importable(env_id):
        return False
    try:
        resolve(env_id, live=False)
    except DeepQError:
        return False
    return True


def _cannot_import(env_id: str) -> DeepQError:
    return DeepQError(
        f"environment {env_id} was made by a factory that cannot be imported back (a lambda, a nested function, or "
        f"one defined in a script's __main__ or a notebook); pass it again (deepq.evaluate(run, env=factory), "
        f"deepq.resume(run, env=factory), deepq.viz.video.record(run, path, env=factory)), or define it in a module "
        f"next to your script and train with env=module.function (deepq train --env module:function)")


def resolve(env_id: str, live: bool = True) -> tuple[Optional[str], Optional[EnvFactory]]:
    """(registered id, None) or (None, factory) for an env.id; a one-line DeepQError for anything else."""
    if live and env_id in LIVE:
        return None, LIVE[env_id]
    module, _, name = env_id.rpartition(":")
    if not module:
        ensure_registered(env_id)
        return env_id, None
    if module == "__main__" and live and "<" not in name:
        # The script that trained it, in its own process or in a `--seeds` worker (which imports it as __main__).
        obj: Any = sys.modules.get("__main__")
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if callable(obj) and not isinstance(obj, type(sys)):
            return None, obj
    if _not_importable(env_id):
        raise _cannot_import(env_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod = import_module(module)
    except ImportError as exc:
        raise DeepQError(f"environment {env_id!r}: cannot import {module} ({exc}); run deepq where {module} is "
                         "importable (the current directory counts) or install it") from None
    if name in gym.registry:
        return env_id, None
    obj = mod
    for part in name.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        raise DeepQError(f"environment {env_id!r}: {module} neither registers a Gymnasium id {name!r} nor defines "
                         f"a function or class {name!r} that makes one")
    if not callable(obj):
        raise DeepQError(f"environment {env_id!r}: {module}.{name} is a {type(obj).__name__}, not a function or "
                         "class that makes an environment")
    return None, obj


def factory_of(env_id: str) -> Optional[EnvFactory]:
    """The factory an env.id names, or None for a registered id (errors only for ids that name nothing)."""
    module, _, name = env_id.rpartition(":")
    if env_id in LIVE:
        return LIVE[env_id]
    if not module or name in gym.registry:
        return None
    return resolve(env_id)[1]


def bind(cfg, env: Any, keep_id: bool = False):
    """`cfg` with `env` (deepq.train's argument) recorded in env.id: an id string as it is, a factory as its
    import path (remembered in this process). `keep_id` (a resume, an evaluation): the factory is the one the
    run recorded, whatever its name here."""
    if env is None:
        return cfg
    if isinstance(env, str):  # on a resume, another id is then refused as any change of the run is
        return cfg.replace(**{"env.id": env})
    if isinstance(env, (gym.Env, gym.vector.VectorEnv)):
        raise DeepQError("env= takes an environment id or a function (or class) that makes one, not an environment "
                         "object: training needs several copies and evaluation fresh ones; pass e.g. env=MyEnv or "
                         "env=make_env, where make_env() returns a new gymnasium.Env")
    if not callable(env):
        raise DeepQError(f"env= takes an environment id or a function that makes one, got {type(env).__name__}")
    if keep_id:
        LIVE[cfg.env.id] = env
        return cfg
    name = factory_name(env)
    LIVE[name] = env
    return cfg.replace(**{"env.id": name})


def remember(env_id: str, factory: Optional[EnvFactory]) -> None:
    """Use `factory` for `env_id` in this process (a run recorded with a factory that cannot be imported)."""
    if factory is not None:
        if not callable(factory) or isinstance(factory, (gym.Env, gym.vector.VectorEnv)):
            raise DeepQError("env= takes the function (or class) that makes the run's environment, e.g. env=make_env")
        LIVE[env_id] = factory


# --- building ---------------------------------------------------------------------------------------------

def import_wrapper(path: str) -> Callable:
    return import_callable(path, "env.wrappers", " (e.g. gymnasium.wrappers:FlattenObservation)")


def _takes(factory: Callable, keyword: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def make(env: Any, render_mode: Optional[str] = None, max_episode_steps: Optional[int] = None,
         training: bool = False) -> gym.Env:
    """One environment as the source says (not yet checked: `deepq.envs.make.make_env` checks the spaces).

    `render_mode` is passed only when one is asked for: an environment whose constructor takes none still trains
    and evaluates; only drawing it (deepq play) needs one. `training`: a pixel task's training-only wrappers
    (life loss as episode end, reward clipping) apply."""
    src = EnvSource.of(env)
    registered, factory = resolve(src.id)
    pixels = src.preprocess
    kwargs = {**(pixels.make_kwargs() if pixels else {}), **src.kwargs}
    limit = max_episode_steps
    if pixels is not None:  # the time limit counts agent steps, outside the frame skip
        max_episode_steps = None
    if render_mode is not None:
        if factory is not None and not _takes(factory, "render_mode"):
            raise _no_render_mode(src.id)
        kwargs["render_mode"] = render_mode
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if factory is None:
                made = gym.make(registered, **kwargs,
                                **({} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}))
            else:
                made = factory(**kwargs)
        except TypeError as exc:
            if render_mode is not None and "render_mode" in str(exc):
                raise _no_render_mode(src.id) from None
            raise DeepQError(f"could not create {src.id} with env.kwargs {src.kwargs} ({_first_line(exc)}); "
                             "check env.kwargs against its constructor") from None
        except (gym.error.Error, ImportError, ValueError) as exc:
            raise DeepQError(f"could not create {src.id}: {_first_line(exc)}") from None
    if not isinstance(made, gym.Env):
        raise DeepQError(f"environment factory {src.id} returned a {type(made).__name__}, not a gymnasium.Env")
    if factory is not None and max_episode_steps is not None:
        made = TimeLimit(made, max_episode_steps)
    if pixels is not None:
        made = pixels.wrap(made, training, limit)
    if src.action_repeat > 1:
        made = ActionRepeat(made, src.action_repeat)
    for path in src.wrappers:
        wrapper = import_wrapper(path)
        try:
            made = wrapper(made)
        except Exception as exc:  # noqa: BLE001 - a user's wrapper: whatever it raises, one line
            raise DeepQError(f"env.wrappers: {path} failed on {src.id} ({type(exc).__name__}: "
                             f"{_first_line(exc)})") from None
    return made


def make_vec(env: Any, num_envs: int, max_episode_steps: Optional[int] = None) -> gym.vector.VectorEnv:
    """`num_envs` copies in a synchronous vector env with next-step autoreset (what the training loop expects)."""
    src = EnvSource.of(env)
    make(src, max_episode_steps=max_episode_steps).close()  # errors surface here, once, as one line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gym.vector.SyncVectorEnv([partial(make, src, None, max_episode_steps, True) for _ in range(num_envs)],
                                        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)


def reward_threshold(env_id: str) -> Optional[float]:
    """A factory's env spec's reward_threshold (None when it has no spec, as most hand-made envs)."""
    made = make(env_id)
    try:
        spec = made.spec
        return None if spec is None else spec.reward_threshold
    finally:
        made.close()


def _no_render_mode(env_id: str) -> DeepQError:
    return DeepQError(f"{env_id} takes no render_mode argument, so its episodes cannot be drawn; give its "
                      "constructor a render_mode=None parameter and return RGB frames from render() when it is "
                      "'rgb_array' (training and evaluation work without it)")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
