"""One trial: a config with the sampled values, trained by spaCy's own loop.

Shared by both engines; the engine passes ``report(step, score)``, which sends
each dev score to Optuna (``trial.report``) or Ray (``tune.report``) and may
raise to prune the trial. No model is saved: a study looks for settings, and
``best.cfg`` trains the final model with ``spacy train``.
"""

from __future__ import annotations

import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from spacy_ft.tune.logger import trial_callback
from spacy_ft.tune.space import apply_params

Report = Callable[[int, float], None]


def pick_score(info: Dict[str, Any], metric: str) -> float:
    """spaCy's weighted ``score`` or one of the ``other_scores`` (e.g. ents_f)."""
    if metric == "score":
        return float(info["score"])
    scores = info.get("other_scores") or {}
    value = scores.get(metric)
    if not isinstance(value, (int, float)):
        names = sorted(name for name, score in scores.items() if isinstance(score, (int, float)))
        raise ValueError(f"tune --metric {metric!r} is not a dev score of this pipeline: choose score or one of {', '.join(names)}")
    return float(value)


def train_trial(
    config: Any,
    params: Dict[str, Any],
    report: Report,
    *,
    metric: str = "score",
    use_gpu: int = -1,
    config_out: Optional[Path] = None,
    log_path: Optional[Path] = None,
) -> float:
    """Train ``config`` with ``params`` set; return the best dev score of the run."""
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train
    from thinc.api import require_gpu

    config = apply_params(config, params)
    if config_out is not None:
        config_out.parent.mkdir(parents=True, exist_ok=True)
        config.to_disk(config_out)
    scores = []

    def on_eval(info: Dict[str, Any]) -> None:
        score = pick_score(info, metric)
        scores.append(score)
        report(int(info["step"]), score)

    with trial_callback(on_eval) as key:
        config["training"]["logger"] = {
            "@loggers": "spacy_ft.TrialLogger.v1",
            "key": key,
            "wrapped": config["training"].get("logger"),
        }
        if use_gpu >= 0:
            require_gpu(use_gpu)
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "w", encoding="utf-8") if log_path else nullcontext(sys.stdout) as stream:
            nlp = init_nlp(config, use_gpu=use_gpu)
            train(nlp, None, use_gpu=use_gpu, stdout=stream, stderr=stream)
    finite = [score for score in scores if not math.isnan(score)]
    if not finite:
        raise ValueError("the trial trained without a dev evaluation: lower training.eval_frequency below training.max_steps")
    return max(finite)
