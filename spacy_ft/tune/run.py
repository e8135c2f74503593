"""The ``tune`` command's work, apart from argument parsing: load and check the
config and the space, run the engine, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from . import require
from .report import PLOT_FORMATS, write_report
from .space import SearchSpace, load_space
from .study import PRUNERS, TuneSettings

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
) -> Dict[str, Any]:
    """Run (or resume) a study and write its report; return the report summary."""
    if engine not in ENGINES:
        raise ValueError(f"tune --engine {engine!r}: choose optuna or ray")
    if plots not in PLOT_FORMATS:
        raise ValueError(f"tune --plots {plots!r}: choose one of {', '.join(PLOT_FORMATS)}")
    if settings.pruner not in PRUNERS:
        raise ValueError(f"tune --pruner {settings.pruner!r}: choose one of {', '.join(PRUNERS)}")
    # Missing extras fail before the config is even read.
    require("optuna", "ray" if engine == "ray" else "tune")
    if engine == "ray":
        require("ray.tune", "ray")
    config, space = load_checked(config_path, overrides or {}, space_path)
    study = _run_engine(engine, config, space, settings, ray_options or {})
    summary = write_report(study, config, settings.output_dir, plots)
    summary["skipped"] = space.skipped
    summary["space"] = space
    return summary


def _run_engine(engine: str, config: Any, space: SearchSpace, settings: TuneSettings, ray_options: Dict[str, Any]):
    if engine == "ray":
        from .ray_engine import run_ray

        return run_ray(config, space, settings, **ray_options)
    from .optuna_engine import run_optuna

    return run_optuna(config, space, settings)
