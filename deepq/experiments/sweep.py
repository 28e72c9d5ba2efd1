"""Hyperparameter sweeps on Ray Tune: every config of a sweep file, on every seed, one trial each.

    SWEEP/sweep.yaml, SWEEP/plan.json   the sweep file as given, and every config it resolved to
    SWEEP/config-03/seed-1/             one ordinary run directory per trial (config 3, seed 1)
    SWEEP/results.csv, results.png      configs ranked best first (see deepq.ranking)
    SWEEP/tune/                         Ray Tune's own state, logs and error files

With no address, Ray starts embedded on this machine with one CPU per worker and stops at the end; with one
(`auto`, `ray://head:10001`) the same code runs on that cluster, whose nodes must have deepq installed and see
SWEEP at the same path (a shared filesystem). Each trial takes one CPU and trains with PyTorch on one thread.

A trial reports each in-training evaluation to Tune and, at the end, its final score. A trial that crashes is
retried up to `max_failures` times, then reported as failed with its one-line error. Resuming (`resume=True`)
runs the same plan again: a trial whose run directory already holds a scored summary.json reports it without
training, any other starts over. This survives anything that stops a sweep (Ctrl-C, a killed driver, a
reboot), needs none of Tune's pickled state, and works unchanged on a cluster.

Ray is an optional dependency (`pip install -c constraints.txt -e ".[sweep]"`); it is imported only here.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

from deepq.experiments import ranking
from deepq.run.callbacks import Callback
from deepq.config.schema import Config
from deepq.errors import DeepQError
from deepq.experiments.multiseed import default_workers, finished_summary, one_line, train_and_score
from deepq.experiments.sweepfile import SweepConfig, SweepPlan, load_sweep

PLAN = "plan.json"
SWEEP_COPY = "sweep.yaml"
TUNE_DIR = "tune"
INSTALL_HINT = "pip install -c constraints.txt -e '.[sweep]'"


def require_ray() -> None:
    """A one-line error unless Ray is installed; finding it is instant, importing it takes a second."""
    try:
        found = importlib.util.find_spec("ray") is not None
    except ValueError:  # sys.modules["ray"] is None: imports of ray are blocked
        found = False
    if not found:
        raise DeepQError(f"deepq sweep runs on Ray Tune, which is not installed; install it with: {INSTALL_HINT}")


def _import_tune():
    try:
        from ray import tune
    except ImportError as exc:  # e.g. `pip install ray` without the [tune] extra
        raise DeepQError(f"Ray Tune cannot be imported ({exc}); install it with: {INSTALL_HINT}") from None
    return tune


class TrialCrashed(RuntimeError):
    """A trial's own exception as one line: Tune's error files then end with exactly that line."""


class _ReportEvaluations(Callback):
    def on_eval(self, counters: dict, result) -> None:
        from ray import tune

        tune.report({"env_steps": counters["env_steps"], "grad_steps": counters["grad_steps"],
                     "eval/mean_return": result.mean, "eval/std_return": result.std, "score": result.mean})


def _final_metrics(summary: dict, reused: bool) -> dict:
    final = summary["final_eval"]
    return {"env_steps": summary["env_steps"], "final/mean": final["mean"], "final/std": final["std"],
            "final/min": final["min"], "solved": summary["solved"],
            "env_steps_to_solve": summary.get("solved_at_env_steps"),
            "seconds_to_solve": summary.get("seconds_to_solve"), "train_seconds": summary["train_seconds"],
            "reused": reused}


def _run_trial(params: dict, configs: list, root: str) -> None:
    """One (config, seed) in a Ray worker: train it (or reuse a finished run from before a resume), report."""
    from ray import tune

    config = next(c for c in configs if c.config_id == params["config"])
    run_dir = ranking.trial_dir(root, config, params["seed"])
    summary = finished_summary(run_dir)
    reused = summary is not None
    if not reused:
        if run_dir.exists():
            shutil.rmtree(run_dir)  # what a crashed or interrupted attempt left: start this trial over
        cfg = Config.from_dict({**config.config, "seed": params["seed"]})
        try:
            summary = train_and_score(cfg, run_dir, callbacks=[_ReportEvaluations()])
        except Exception as exc:
            raise TrialCrashed(one_line(exc)) from None
    tune.report(_final_metrics(summary, reused))


def _file_loggers() -> list:
    """Tune's JSON and CSV result files per trial, without its TensorBoard events (deepq writes those)."""
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    return [JsonLoggerCallback(), CSVLoggerCallback()]


# --- Optuna: a search that proposes configs from the scores so far, pruning poor ones early ----------------------

def _optuna_space(space: dict) -> dict:
    """The sweep file's distributions as Optuna's; a choice becomes the index of its value (values may be lists,
    e.g. network.hidden_sizes, which Optuna cannot store)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, dist in space.items():
        kind, args = next(iter(dist.items()))
        if kind == "choice":
            out[key] = CategoricalDistribution(list(range(len(args))))
        elif kind == "randint":
            out[key] = IntDistribution(int(args[0]), int(args[1]))
        else:
            low, high = (float(a) for a in args)
            out[key] = FloatDistribution(low, high, log=kind == "loguniform")
    return out


def _values(space: dict, params: dict) -> dict:
    """Optuna's params as config values (a choice's index back to its value)."""
    out = {}
    for key, dist in space.items():
        kind, args = next(iter(dist.items()))
        out[key] = args[int(params[key])] if kind == "choice" else params[key]
    return out


TRIAL_JSON = "trial.json"  # in SWEEP/config-NN/: the Tune trial and the values Optuna proposed for it


def _claim_config_dir(root: Path, trial_id: str, values: dict) -> int:
    """This trial's config number: the directory it claimed before (a retried trial), else the first free
    config-NN, claimed by an atomic mkdir (trials start at once in several workers)."""
    for marker in sorted(root.glob(f"config-*/{TRIAL_JSON}")):
        if json.loads(marker.read_text()).get("trial_id") == trial_id:
            return int(marker.parent.name.removeprefix("config-"))
    number = 0
    while True:
        try:
            (root / f"config-{number:02d}").mkdir()
        except FileExistsError:
            number += 1
            continue
        (root / f"config-{number:02d}" / TRIAL_JSON).write_text(json.dumps({"trial_id": trial_id,
                                                                             "values": values}))
        return number


def _trial_numbers(root: Path) -> dict:
    """Tune trial id -> config number, from the markers the trials wrote."""
    return {json.loads(m.read_text())["trial_id"]: int(m.parent.name.removeprefix("config-"))
            for m in root.glob(f"config-*/{TRIAL_JSON}")}


def _run_optuna_trial(params: dict, plan: SweepPlan, root: str) -> None:
    """One config proposed by Optuna, trained on every seed in turn. Each in-training evaluation is reported
    (`score` = its mean return, the same seeds in the same order in every trial, so the pruner compares like with
    like); the last report's `score` is the IQM of the seeds' final scores, what Optuna optimises."""
    from ray import tune

    from deepq.experiments import stats

    values = _values(plan.optuna["space"], params)
    config_id = _claim_config_dir(Path(root), tune.get_context().get_trial_id(), values)
    config = plan.resolve_values(values)
    finals = []
    for seed in plan.seeds:
        run_dir = Path(root) / f"config-{config_id:02d}" / f"seed-{seed}"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a crashed attempt's leftovers: this trial starts over
        try:
            summary = train_and_score(Config.from_dict({**config, "seed": seed}), run_dir,
                                      callbacks=[_ReportEvaluations()])
        except Exception as exc:
            raise TrialCrashed(one_line(exc)) from None
        finals.append(summary["final_eval"]["mean"])
    tune.report({"score": stats.iqm(finals), "final/iqm": stats.iqm(finals), "env_steps": summary["env_steps"]})


def _fit_optuna(tune, plan: SweepPlan, root: Path, experiment: Path, workers: Optional[int], echo):
    """Run the Optuna search through Ray Tune's integration (OptunaSearch: TPE, seeded) with a Tune scheduler as
    the pruner (median: stop a trial whose best evaluation is below the median of the others' at the same
    point, Optuna's MedianPruner rule; asha: asynchronous successive halving)."""
    import optuna
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    from deepq.config.schema import Config as _Config

    import warnings

    spec = plan.optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A reused actor may report an iteration Optuna already has; it keeps the first value, which is what we want.
    warnings.filterwarnings("ignore", message="The reported value is ignored because this `step=")
    base = _Config.from_dict({**plan.resolve_values({}), "seed": 0})
    per_seed = (base.train.total_steps // base.eval.interval + 1) if base.eval.interval else 1
    reports = len(plan.seeds) * per_seed + 1
    grace = max(1, per_seed // 4)
    goal = {"metric": "score", "mode": "max"}
    scheduler = {"median": lambda: MedianStoppingRule(time_attr="training_iteration", grace_period=grace,
                                                      min_samples_required=3, **goal),
                 "asha": lambda: ASHAScheduler(time_attr="training_iteration", max_t=reports, grace_period=grace,
                                               reduction_factor=3, **goal),
                 "none": FIFOScheduler}[spec["pruner"]]()
    search = OptunaSearch(space=_optuna_space(spec["space"]), sampler=optuna.samplers.TPESampler(seed=spec["seed"]),
                          **goal)
    total = spec["samples"]

    def numbering(trial) -> str:
        number = _trial_numbers(root).get(trial.trial_id)
        return f"config-{number:02d}" if number is not None else f"trial {trial.trial_id}"

    class Progress(tune.Callback):
        done = 0

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            r = trial.last_result or {}
            name = numbering(trial)
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in _values(spec["space"], trial.config).items())
            last = r.get("score", float("nan"))
            how = (f"IQM of final scores {r['final/iqm']:.1f}" if "final/iqm" in r else
                   f"pruned after {r.get('training_iteration', 0)} evaluations (last {last:.1f})")
            echo(f"[{self.done}/{total}] {name} ({shown}): {how}")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            echo(f"[{self.done}/{total}] {numbering(trial)}: FAILED")

    trainable = tune.with_resources(tune.with_parameters(_run_optuna_trial, plan=plan, root=str(root)), {"cpu": 1})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=search, scheduler=scheduler,
                                    num_samples=total, max_concurrent_trials=workers, reuse_actors=True,
                                    trial_dirname_creator=lambda t: f"trial-{t.trial_id}"),
        run_config=tune.RunConfig(name=experiment.name, storage_path=str(experiment.parent), verbose=0,
                                  callbacks=[Progress(), *_file_loggers()],
                                  failure_config=tune.FailureConfig(max_failures=plan.max_failures)))
    return tuner.fit()


def _optuna_outcome(plan: SweepPlan, grid, root: Path) -> tuple[SweepPlan, dict, set]:
    """The plan with the configs Optuna tried (for ranking), their failures and the pruned config ids."""
    import dataclasses

    configs, failures, pruned = [], {}, set()
    numbers = _trial_numbers(root)
    for result in grid:
        trial_id = Path(result.path).name.removeprefix("trial-")
        if trial_id not in numbers:
            continue  # never started (interrupted before it ran)
        config_id = numbers[trial_id]
        values = _values(plan.optuna["space"], result.config)
        configs.append(SweepConfig(config_id, values, plan.resolve_values(values)))
        if result.error is not None:
            line = _error_line(str(result.error))
            for seed in plan.seeds:
                failures[config_id, seed] = (1, line)
        elif "final/iqm" not in (result.metrics or {}):
            pruned.add(config_id)
    configs.sort(key=lambda c: c.config_id)
    return dataclasses.replace(plan, configs=configs), failures, pruned


def _error_line(text: Optional[str]) -> str:
    """The one-line error from a Tune error file or exception text (it ends with `...TrialCrashed: LINE`)."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    marked = [line.split("TrialCrashed: ", 1)[1] for line in lines if "TrialCrashed: " in line]
    return marked[-1] if marked else (lines[-1].strip() if lines else "unknown error (see SWEEP/tune)")


def _trial_name(config_id: int, seed: int) -> str:
    return f"config-{config_id:02d}-seed-{seed}"


def _failures(experiment: Path) -> dict[tuple[int, int], tuple[int, str]]:
    """(config_id, seed) -> (crashed attempts, the last one's error), from the error.txt Tune keeps per trial.

    Read from storage rather than gathered by a callback: with a `ray://` address Tune's driver loop, and so
    its callbacks, run on the cluster, but the files still land in the sweep directory.
    """
    out = {}
    for error_file in experiment.glob("config-*-seed-*/error.txt"):
        config_id, seed = error_file.parent.name.removeprefix("config-").split("-seed-")
        text = error_file.read_text(errors="replace")
        out[int(config_id), int(seed)] = (max(1, text.count("Failure # ")), _error_line(text))
    return out


def _progress(plan: SweepPlan, echo: Callable[[str], None]):
    """A Tune callback that prints one line per finished, retried or failed trial (where the driver runs)."""
    from ray import tune

    total = len(plan.configs) * len(plan.seeds)
    names = {c.config_id: c.name for c in plan.configs}

    def label(trial) -> str:
        return f"{names[trial.config['config']]} seed {trial.config['seed']}"

    def last_error(trial) -> str:
        try:
            return _error_line(Path(trial.error_file).read_text())
        except (OSError, TypeError):
            return "unknown error (see SWEEP/tune)"

    class Progress(tune.Callback):
        done = 0

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            r = trial.last_result or {}
            how = "already finished before the resume" if r.get("reused") else (
                f"solved at {r.get('env_steps_to_solve')} env steps" if r.get("solved") else "not solved")
            echo(f"[{self.done}/{total}] {label(trial)}: final score {r.get('final/mean', float('nan')):.1f} ({how})")

        def on_trial_recover(self, iteration, trials, trial, **info) -> None:
            echo(f"{label(trial)} crashed ({last_error(trial)}); retrying, attempt {trial.num_failures + 1} of "
                 f"{plan.max_failures + 1}")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            echo(f"[{self.done}/{total}] {label(trial)}: FAILED after {trial.num_failures} attempt(s): "
                 f"{last_error(trial)}")

    return Progress()


@dataclass
class SweepResult:
    results: list  # ranking.ConfigResult, best first
    plan: SweepPlan
    root: Path
    finished: bool  # False when interrupted: some trials neither finished nor failed

    def format(self) -> str:
        return ranking.format_table(self.results, self.plan)


def _check_dir(root: Path, plan: SweepPlan, sweep_file: Path, resume: bool) -> None:
    """A new sweep needs an empty directory; a resumed one the same plan as the one it started with."""
    if not resume:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DeepQError(f"sweep directory {root} exists and is not empty; continue it with --resume or "
                             "choose a new --run-dir")
        return
    try:
        started = json.loads((root / PLAN).read_text())
    except (OSError, ValueError):
        raise DeepQError(f"nothing to resume in {root} (no readable {PLAN}); start the sweep without "
                         "--resume") from None
    if started != _plan_json(plan):
        raise DeepQError(f"{sweep_file} does not describe the sweep in {root} any more (configs, seeds or "
                         "max_failures changed); resume with the same file or start a new --run-dir")


def _plan_json(plan: SweepPlan) -> dict:
    return json.loads(json.dumps(plan.to_json()))  # as it reads back from disk (tuples become lists)


def _start_dir(root: Path, plan: SweepPlan, sweep_file: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sweep_file, root / SWEEP_COPY)
        (root / PLAN).write_text(json.dumps(_plan_json(plan), indent=1))
    except OSError as exc:
        raise DeepQError(f"sweep directory {root} is not writable ({exc.strerror}); choose another --run-dir") \
            from None


def _check_reachable(address: str) -> None:
    """Fail in seconds where nothing listens: ray.init retries an unreachable head for many minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise DeepQError(f"--address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as exc:
        raise DeepQError(f"nothing answers at {address} ({exc.strerror or exc}); start the cluster with "
                         "`ray start --head` or check the address") from None


def _connect(address: Optional[str], workers: Optional[int]) -> bool:
    """Start or join Ray; True when this call started it (and so must stop it). A session the caller already
    started (e.g. one per test module) is used as it is."""
    import ray

    if address and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        else:
            # "local": a fresh instance even where `ray start` left a cluster running that ray.init() would join
            ray.init(address="local", num_cpus=workers or default_workers(), include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise DeepQError(f"could not start or reach {where} ({one_line(exc)}); start a cluster with "
                         "`ray start --head` or leave out --address") from None
    return True


def run_sweep(sweep_file: str | Path, run_dir: str | Path, address: Optional[str] = None,
              workers: Optional[int] = None, resume: bool = False,
              echo: Callable[[str], None] = print) -> SweepResult:
    """Run (or resume) a sweep into `run_dir`; returns the ranked configs, also in results.csv and results.png.

    `workers` caps the trials running at once (default: one per CPU Ray has). Progress lines go to `echo`.
    After Ctrl-C the result has `finished=False` and the trials done so far; `resume=True` continues it.
    """
    require_ray()
    if workers is not None and workers < 1:
        raise DeepQError(f"--workers must be >= 1, got {workers}")
    plan = load_sweep(sweep_file)
    for line in plan.warnings:
        echo(f"deepq: {line}")
    root = Path(run_dir).resolve()  # Tune needs an absolute path, and trials must not depend on their cwd
    if plan.optuna is not None:
        if resume:
            raise DeepQError("an Optuna search cannot be resumed (what it learned lives in its sampler); start it "
                             "again in a new --run-dir")
        if importlib.util.find_spec("optuna") is None:
            raise DeepQError(f"the sweep file's optuna section needs Optuna, which is not installed; install it "
                             f"with: {INSTALL_HINT}")
    _check_dir(root, plan, Path(sweep_file), resume)

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the classic reporter honours verbose=0: no tables
    # Each trial's run directory has deepq's own TensorBoard events; Tune's would show every trial twice. Its
    # result.json and progress.csv stay (passed explicitly below), its TensorBoard logger goes.
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    tune = _import_tune()
    owns_ray = _connect(address, workers)
    if not resume:
        _start_dir(root, plan, Path(sweep_file))  # only once Ray is up: a failed start leaves nothing behind
    tune_logger = logging.getLogger("ray.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.CRITICAL)  # each crash is reported as one line by `_progress`, not a traceback
    experiment = root / TUNE_DIR / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")  # this invocation's files
    try:
        if plan.optuna is not None:
            grid = _fit_optuna(tune, plan, root, experiment, workers, echo)
        else:
            trainable = tune.with_resources(tune.with_parameters(_run_trial, configs=plan.configs, root=str(root)),
                                            {"cpu": 1})
            tuner = tune.Tuner(
                trainable,
                param_space={"config": tune.grid_search([c.config_id for c in plan.configs]),
                             "seed": tune.grid_search(plan.seeds)},
                tune_config=tune.TuneConfig(max_concurrent_trials=workers, reuse_actors=True,
                                            trial_dirname_creator=lambda t: _trial_name(t.config["config"],
                                                                                        t.config["seed"])),
                run_config=tune.RunConfig(name=experiment.name, storage_path=str(experiment.parent), verbose=0,
                                          callbacks=[_progress(plan, echo), *_file_loggers()],
                                          failure_config=tune.FailureConfig(max_failures=plan.max_failures)))
            tuner.fit()
    finally:
        tune_logger.setLevel(level)
        if owns_ray:
            import ray

            ray.shutdown()
    pruned: set = set()
    if plan.optuna is not None:
        plan, failures, pruned = _optuna_outcome(plan, grid, root)
        (root / PLAN).write_text(json.dumps(_plan_json(plan), indent=1))  # the configs Optuna tried, as run
    else:
        failures = _failures(experiment)
    results = ranking.collect(plan, root, errors={k: line for k, (_, line) in failures.items()},
                              crashes={k: n for k, (n, _) in failures.items()}, pruned=pruned)
    ranking.write_csv(results, plan, root / ranking.RESULTS_CSV)
    ranking.plot(results, root / ranking.RESULTS_PNG)
    finished = all(r.status != "interrupted" for result in results for r in result.rows)
    return SweepResult(results, plan, root, finished)
