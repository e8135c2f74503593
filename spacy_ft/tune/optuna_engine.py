"""``--engine optuna``: trials one after another in this process.

The pruner sees every dev evaluation (``trial.report``) and stops a trial whose
scores fall below the median of earlier trials at the same step, through
optuna.TrialPruned raised from inside spaCy's training loop.
"""

from __future__ import annotations

from typing import Any, Callable

from spacy_ft.tune import require
from spacy_ft.tune.objective import train_trial
from spacy_ft.tune.space import SearchSpace
from spacy_ft.tune.study import TuneSettings, finished_trials, make_pruner, open_study


def run_optuna(
    config: Any,
    space: SearchSpace,
    settings: TuneSettings,
    *,
    train: Callable[..., float] = train_trial,
) -> Any:
    """Run the trials the study still lacks; return the study. ``train`` is for tests."""
    optuna = require("optuna", "tune")
    study = open_study(settings, pruner=make_pruner(settings.pruner, settings.startup_trials))
    done = finished_trials(study)
    # A resumed run reseeds past the trials it already has, so it does not redraw them.
    study.sampler = optuna.samplers.TPESampler(seed=settings.seed + len(study.trials))
    trials_dir = settings.output_dir / "trials"

    def objective(trial: Any) -> float:
        params = space.suggest(trial)

        def report(step: int, score: float) -> None:
            trial.report(score, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"dev {settings.metric} {score:.4f} at step {step} is below the pruner's bar")

        return train(
            config,
            params,
            report,
            metric=settings.metric,
            use_gpu=settings.use_gpu,
            config_out=trials_dir / f"trial_{trial.number}.cfg",
            log_path=trials_dir / f"trial_{trial.number}.log",
        )

    if settings.trials > done:
        study.optimize(objective, n_trials=settings.trials - done)
    return study
