"""The ``tune`` command's work, apart from argument parsing: load and check the
config and the space, run the engine, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from spacy_ft.tune import require
from spacy_ft.tune.report import PLOT_FORMATS, TuneSummary, write_report
from spacy_ft.tune.space import SearchSpace, load_space
from spacy_ft.tune.study import PRUNERS, TuneSettings
from spacy_ft.validation import check_choice

ENGINES = ("optuna", "ray")


def load_checked(config_path: Path, overrides: Dict[str, Any], space_path: Optional[Path]) -> tuple:
    """The config (with CLI overrides, uninterpolated, as best.cfg will be) and
    the space, checked against each other before any training."""
    from spacy.util import load_config

    if not config_path.is_file():
        raise ValueError(f"config file not found: {config_path}")
    config = load_config(config_path, overrides=overrides, interpolate=False)
    space = load_space(space_path)
    if space_path is None:
        space = space.restrict_to(config)
        if not space.params:
            raise ValueError(f"none of the default search space's settings exist in {config_path}: pass --space")
    space.check_config(config, str(config_path))
    return config, space


def tune(
    config_path: Path,
    settings: TuneSettings,
    *,
    space_path: Optional[Path] = None,
    overrides: Optional[Dict[str, Any]] = None,
    engine: str = "optuna",
    plots: str = "html",
    ray_options: Optional[Dict[str, Any]] = None,
) -> TuneSummary:
    """Run (or resume) a study and write its report; return the report summary."""
    check_choice(engine, ENGINES, "engine", component="tune --engine")
    check_choice(plots, PLOT_FORMATS, "plot format", component="tune --plots")
    check_choice(settings.pruner, PRUNERS, "pruner", component="tune --pruner")
    # Missing extras fail before the config is even read.
    require("optuna", "ray" if engine == "ray" else "tune")
    if engine == "ray":
        require("ray.tune", "ray")
    config, space = load_checked(config_path, overrides or {}, space_path)
    study = _run_engine(engine, config, space, settings, ray_options or {})
    summary = write_report(study, config, settings.output_dir, plots)
    summary.skipped = list(space.skipped)
    return summary


def _run_engine(engine: str, config: Any, space: SearchSpace, settings: TuneSettings, ray_options: Dict[str, Any]):
    if engine == "ray":
        from spacy_ft.tune.ray_engine import run_ray

        return run_ray(config, space, settings, **ray_options)
    from spacy_ft.tune.optuna_engine import run_optuna

    return run_optuna(config, space, settings)
