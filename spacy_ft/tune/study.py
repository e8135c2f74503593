"""What both engines share: settings, the Optuna study in its storage, and resuming.

The study (Optuna's, in ``storage``) is the record of a search under either
engine: Ray's OptunaSearch writes its trials into the same study, so the report
and resuming work the same way. ``--trials N`` is the total the study should
hold, so an interrupted run resumes with what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from spacy_ft.tune import require
from spacy_ft.validation import check_choice

PRUNERS = ("median", "hyperband", "none")


@dataclass
class TuneSettings:
    """The command's settings, shared by both engines."""

    config_name: str
    output_dir: Path
    trials: int = 10
    storage: Optional[str] = None
    study_name: str = "spacy_ft"
    metric: str = "score"
    pruner: str = "median"
    startup_trials: int = 2
    seed: int = 0
    use_gpu: int = -1

    @property
    def storage_url(self) -> str:
        # A file in the output directory by default, so every study can resume.
        return self.storage or f"sqlite:///{(self.output_dir / 'study.db').resolve()}"


def make_pruner(name: str, startup_trials: int) -> Any:
    optuna = require("optuna", "tune")
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    check_choice(name, PRUNERS, "pruner", component="tune --pruner")
    raise AssertionError(f"pruner {name!r} is listed in PRUNERS but not built")


def open_study(settings: TuneSettings, pruner: Any = None, sampler: Any = None) -> Any:
    """Create the study, or load it from its storage to resume."""
    optuna = require("optuna", "tune")
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=settings.study_name,
        storage=settings.storage_url,
        load_if_exists=True,
        direction="maximize",
        pruner=pruner,
        sampler=sampler,
    )
    previous = study.user_attrs.get("metric")
    if previous is not None and previous != settings.metric:
        raise ValueError(
            f"study {settings.study_name!r} in {settings.storage_url} optimizes {previous!r}, not "
            f"--metric {settings.metric!r}: pass --study-name to start another study"
        )
    study.set_user_attr("metric", settings.metric)
    study.set_user_attr("config", settings.config_name)
    return study


def finished_trials(study: Any) -> int:
    """Trials that count toward --trials: completed or pruned (failed ones are retried)."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
