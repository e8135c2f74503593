"""``--engine ray``: the same study on Ray Tune, one trial per CPU or GPU slot.

Ray's OptunaSearch samples from the same space (our ``suggest`` as its
define-by-run function) and writes every trial into the same Optuna storage,
so the report and resuming are the ones of the Optuna engine. Early stopping
is Ray's: an ASHA or median-stopping scheduler reads the dev scores each
trial sends with ``ray.tune.report``. A trial it stops is recorded by Ray's
OptunaSearch as COMPLETE with its last best score (Ray's behaviour), so the
table's ``steps`` column shows how far it got.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from spacy_ft.tune import require
from spacy_ft.tune.objective import train_trial
from spacy_ft.tune.space import SearchSpace
from spacy_ft.tune.study import TuneSettings, finished_trials, open_study
from spacy_ft.validation import check_choice

SCHEDULERS = ("asha", "median", "none")
METRIC = "best_score"  # the running best dev score: what a finished trial is worth


def _evaluations(config: Any) -> int:
    """How many dev evaluations a trial makes (ASHA's max_t)."""
    training = config["training"]
    steps, every = training.get("max_steps"), training.get("eval_frequency")
    if isinstance(steps, int) and isinstance(every, int) and steps > 0 and every > 0:
        return steps // every + 1
    return 100


def make_scheduler(name: str, config: Any, startup_trials: int) -> Any:
    schedulers = require("ray.tune.schedulers", "ray")
    if name == "asha":
        return schedulers.ASHAScheduler(
            metric=METRIC, mode="max", time_attr="training_iteration", max_t=_evaluations(config), grace_period=1
        )
    if name == "median":
        return schedulers.MedianStoppingRule(
            metric=METRIC, mode="max", time_attr="training_iteration", grace_period=1, min_samples_required=startup_trials
        )
    if name == "none":
        return schedulers.FIFOScheduler()
    check_choice(name, SCHEDULERS, "scheduler", component="tune --scheduler")
    raise AssertionError(f"scheduler {name!r} is listed in SCHEDULERS but not built")


def ray_trial(params: Dict[str, Any], *, config_text: str, cwd: str, metric: str, use_gpu: int) -> None:
    """Runs in a Ray worker: train one trial and send each dev score to Tune."""
    from ray import tune
    from thinc.api import Config

    if os.path.isdir(cwd):  # Tune runs trials in their own directory; relative corpus paths need ours
        os.chdir(cwd)
    trial_dir = Path(tune.get_context().get_trial_dir() or ".")
    config = Config().from_str(config_text, interpolate=False)
    best = [float("-inf")]

    def report(step: int, score: float) -> None:
        best[0] = max(best[0], score)
        tune.report({"score": score, METRIC: best[0], "step": step})

    train_trial(
        config, params, report, metric=metric, use_gpu=use_gpu,
        config_out=trial_dir / "trial.cfg", log_path=trial_dir / "train.log",
    )


def run_ray(
    config: Any,
    space: SearchSpace,
    settings: TuneSettings,
    *,
    scheduler: str = "asha",
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    address: Optional[str] = None,
) -> Any:
    """Run the trials the study still lacks on Ray (a running cluster, ``address``,
    or a local one started here); return the Optuna study."""
    ray = require("ray", "ray")
    tune = require("ray.tune", "ray")
    optuna_search = require("ray.tune.search.optuna", "ray")
    optuna = require("optuna", "ray")

    study = open_study(settings)
    done = finished_trials(study)
    if settings.trials <= done:
        return study
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False)
    try:
        searcher = optuna_search.OptunaSearch(
            space=space.suggest,
            metric=METRIC,
            mode="max",
            study_name=settings.study_name,
            storage=optuna.storages.RDBStorage(settings.storage_url),
            seed=settings.seed + len(study.trials),
        )
        trainable = tune.with_parameters(
            ray_trial,
            config_text=config.to_str(),
            cwd=os.getcwd(),
            metric=settings.metric,
            use_gpu=0 if gpus_per_trial > 0 else -1,
        )
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=make_scheduler(scheduler, config, settings.startup_trials),
                num_samples=settings.trials - done,
            ),
            run_config=tune.RunConfig(
                name=settings.study_name,
                storage_path=str((settings.output_dir / "ray").resolve()),
                verbose=0,
            ),
        )
        results = tuner.fit()
        errors = [str(error) for error in results.errors]
        if errors and len(errors) == len(results):
            raise RuntimeError(f"every Ray trial failed; the first error:\n{errors[0]}")
    finally:
        if started:
            ray.shutdown()
    return optuna.load_study(study_name=settings.study_name, storage=settings.storage_url)
