"""What a study leaves behind: best.cfg, a table of trials and Optuna's plots.

Written from the study in its storage, so both engines and resumed runs give
the same files, and ``--trials 0`` rewrites them for a study that exists.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from spacy_ft.tune import require
from spacy_ft.tune.space import apply_params
from spacy_ft.validation import check_choice

PLOT_FORMATS = ("html", "png", "none")
COLUMNS = ["number", "state", "value", "steps", "duration_s"]


def trial_rows(study: Any) -> List[Dict[str, Any]]:
    """One row per trial: its number, state, best dev score, last reported step, params."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration else None
        row = {
            "number": trial.number,
            "state": trial.state.name,
            "value": trial.value,
            "steps": max(trial.intermediate_values, default=None),
            "duration_s": round(duration, 1) if duration is not None else None,
        }
        row.update(trial.params)
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(rows: List[Dict[str, Any]], columns: List[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_plots(study: Any, plots_dir: Path, fmt: str) -> List[Path]:
    """Optuna's optimization history, intermediate values and (with two or more
    completed trials) parameter importances, as plotly HTML or matplotlib PNG."""
    from optuna.trial import TrialState

    if fmt == "none":
        return []
    check_choice(fmt, PLOT_FORMATS, "plot format", component="tune --plots")
    backend = "optuna.visualization" if fmt == "html" else "optuna.visualization.matplotlib"
    visualization = require(backend, "tune")
    if fmt == "html":
        require("plotly", "tune")
    else:
        require("matplotlib", "tune")  # PNG plots use matplotlib (`pip install matplotlib`)
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    wanted = {"optimization_history": visualization.plot_optimization_history}
    if any(trial.intermediate_values for trial in study.get_trials(deepcopy=False)):
        wanted["intermediate_values"] = visualization.plot_intermediate_values
    if len(completed) >= 2:
        wanted["param_importances"] = visualization.plot_param_importances
    plots_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in wanted.items():
        path = plots_dir / f"{name}.{fmt}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna marks the matplotlib backend experimental
                figure = plot(study)
        except (ValueError, RuntimeError) as err:  # e.g. importances when every trial had the same params
            warnings.warn(f"tune: skipped the {name} plot: {err}", stacklevel=2)
            continue
        if fmt == "html":
            # plotly.js is written once beside the plots, so they open offline.
            figure.write_html(path, include_plotlyjs="directory")
        else:
            figure.figure.savefig(path, dpi=120, bbox_inches="tight")
            import matplotlib.pyplot as plt

            plt.close(figure.figure)
        written.append(path)
    return written


@dataclass(frozen=True)
class BestTrial:
    """The trial with the best dev score."""

    number: int
    value: float
    params: Dict[str, Any]


@dataclass
class TuneSummary:
    """What a tuning run wrote and found, for the CLI to print."""

    trials: int
    #: trials.md: one row a trial.
    table: Path
    best: Optional[BestTrial] = None
    #: best.cfg: the config with the best trial's values (None if no trial completed).
    best_config: Optional[Path] = None
    plots: List[Path] = field(default_factory=list)
    #: Settings of the search space that the config does not have.
    skipped: List[str] = field(default_factory=list)


def write_report(study: Any, config: Any, output_dir: Path, plots: str = "html") -> TuneSummary:
    """Write best.cfg (the config with the best trial's values), trials.csv,
    trials.md and the plots; return what was written and the best trial."""
    from optuna.trial import TrialState

    output_dir.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(study)
    param_names = sorted({name for trial in study.get_trials(deepcopy=False) for name in trial.params})
    columns = COLUMNS + param_names
    with (output_dir / "trials.csv").open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    (output_dir / "trials.md").write_text(markdown_table(rows, columns), encoding="utf-8")
    summary = TuneSummary(trials=len(rows), table=output_dir / "trials.md")
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        best = study.best_trial
        apply_params(config, best.params).to_disk(output_dir / "best.cfg")
        summary.best = BestTrial(best.number, best.value, dict(best.params))
        summary.best_config = output_dir / "best.cfg"
    summary.plots = write_plots(study, output_dir / "plots", plots)
    return summary
