"""``tune``: hyperparameter search (the tune / ray extras)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app, fail


@app.command(
    "tune",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def tune_command(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config, e.g. configs/zh_cpu.cfg"),
    space: Optional[Path] = typer.Option(
        None, "--space", help="Search space (.yml/.json; default: learn rate, batch size, dropouts, pooling, CRF)"
    ),
    trials: int = typer.Option(10, "--trials", min=0, help="Trials the study should hold in total (resumes)"),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Optuna storage URL (default: sqlite:///OUTPUT/study.db)"
    ),
    study_name: str = typer.Option("spacy_ft", "--study-name", help="Study name inside the storage"),
    output_dir: Path = typer.Option(Path("tuning"), "--output", "-o", help="Where best.cfg, trials and plots go"),
    metric: str = typer.Option("score", help="Dev score to maximize: spaCy's weighted 'score' or e.g. ents_f"),
    engine: str = typer.Option("optuna", help="optuna (trials in this process) or ray (Ray Tune)"),
    pruner: str = typer.Option("median", help="optuna engine: median, hyperband or none"),
    scheduler: str = typer.Option("asha", help="ray engine: asha, median or none"),
    startup_trials: int = typer.Option(2, min=0, help="Completed trials before pruning starts"),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="optuna engine: GPU to train on (-1: CPU)"),
    cpus_per_trial: float = typer.Option(1.0, help="ray engine: CPUs per trial"),
    gpus_per_trial: float = typer.Option(0.0, help="ray engine: GPUs per trial (0: CPU trials)"),
    ray_address: Optional[str] = typer.Option(None, help="ray engine: cluster address (default: start a local one)"),
    plots: str = typer.Option("html", help="html (plotly), png (matplotlib) or none"),
    seed: int = typer.Option(0, help="Sampler seed"),
) -> None:
    """Search hyperparameters with Optuna: each trial trains the config through
    spaCy's loop with sampled overrides, reports dev scores so bad trials are
    pruned early, and the study resumes from its storage. Extra --section.key
    arguments override the config as in `spacy train`. Writes best.cfg, trials.csv,
    trials.md and plots. Needs the tune extra (--engine ray: the ray extra)."""
    from spacy.cli._util import parse_config_overrides

    from spacy_ft.tune.report import PLOT_FORMATS
    from spacy_ft.tune.run import ENGINES, tune
    from spacy_ft.tune.study import PRUNERS, TuneSettings

    choices = [("--engine", engine, ENGINES), ("--pruner", pruner, PRUNERS), ("--plots", plots, PLOT_FORMATS)]
    if engine == "ray":
        from spacy_ft.tune.ray_engine import SCHEDULERS

        choices.append(("--scheduler", scheduler, SCHEDULERS))
    for name, value, allowed in choices:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r}: expected one of {', '.join(allowed)}", param_hint=name)
    settings = TuneSettings(
        config_name=str(config_path), output_dir=output_dir, trials=trials, storage=storage,
        study_name=study_name, metric=metric, pruner=pruner, startup_trials=startup_trials,
        seed=seed, use_gpu=gpu_id,
    )
    ray_options = {"scheduler": scheduler, "cpus_per_trial": cpus_per_trial,
                   "gpus_per_trial": gpus_per_trial, "address": ray_address}
    try:
        summary = tune(
            config_path, settings, space_path=space, overrides=parse_config_overrides(ctx.args),
            engine=engine, plots=plots, ray_options=ray_options,
        )
    except ImportError as err:  # the tune (or ray) extra is not installed
        fail(f"Can't tune with --engine {engine}", str(err))
    except ValueError as err:  # the config, the space file, or a metric the pipeline lacks
        fail(f"Can't tune {config_path}", str(err))
    if summary.skipped:
        typer.echo("Not in this config, so not tuned: " + ", ".join(summary.skipped))
    typer.echo(summary.table.read_text(encoding="utf-8"))
    best = summary.best
    if best is None:
        typer.echo("No trial completed yet: no best.cfg")
    else:
        typer.echo(f"Best: trial {best.number}, dev {metric} {best.value:.4f}; config: {summary.best_config}")
    for path in summary.plots:
        typer.echo(f"Plot: {path}")
    typer.echo(f"Study {study_name!r}: {settings.storage_url} ({summary.trials} trials; rerun to resume)")
