"""The classifier's scores and thresholds under spaCy's score names.

``spacy_ft.textcat_scorer.v1`` adds per-label decision thresholds to
``Scorer.score_cats``; ``best_threshold`` fits them on dev data.
"""

import bisect
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence

from spacy.scorer import PRFScore, Scorer
from spacy.training import Example
from spacy.util import registry


def score_cats(
    examples: Iterable[Example],
    *,
    labels: Sequence[str],
    multi_label: bool,
    threshold: float = 0.5,
    thresholds: Optional[Mapping[str, float]] = None,
    positive_label: Optional[str] = None,
) -> Dict[str, Any]:
    """``Scorer.score_cats`` (``cats_score``, ``cats_macro_f``, ``cats_macro_auc``,
    per-label P/R/F), with per-label decision thresholds for multi-label."""
    examples = list(examples)
    results = Scorer.score_cats(
        examples,
        "cats",
        labels=labels,
        multi_label=multi_label,
        threshold=threshold,
        positive_label=positive_label,
    )
    if not multi_label or not thresholds:
        return results
    per_label = {label: PRFScore() for label in labels}
    for example in examples:
        predicted, gold = example.predicted.cats, example.reference.cats
        for label in labels:
            if gold.get(label) is None:
                continue  # missing annotation
            guess = predicted.get(label, 0.0) >= thresholds.get(label, threshold)
            truth = gold[label] > 0
            prf = per_label[label]
            prf.tp += guess and truth
            prf.fp += guess and not truth
            prf.fn += truth and not guess
    micro = PRFScore()
    for prf in per_label.values():
        micro.tp, micro.fp, micro.fn = micro.tp + prf.tp, micro.fp + prf.fp, micro.fn + prf.fn
    n_labels = len(per_label) + 1e-100
    results.update(
        {
            "cats_micro_p": micro.precision,
            "cats_micro_r": micro.recall,
            "cats_micro_f": micro.fscore,
            "cats_macro_p": sum(p.precision for p in per_label.values()) / n_labels,
            "cats_macro_r": sum(p.recall for p in per_label.values()) / n_labels,
            "cats_macro_f": sum(p.fscore for p in per_label.values()) / n_labels,
            "cats_f_per_type": {label: prf.to_dict() for label, prf in per_label.items()},
        }
    )
    return results


@registry.scorers("spacy_ft.textcat_scorer.v1")
def make_textcat_scorer():
    def textcat_scorer(examples: Iterable[Example], **cfg: Any) -> Dict[str, Any]:
        return score_cats(
            examples,
            labels=cfg["labels"],
            multi_label=cfg.get("multi_label", False),
            threshold=cfg.get("threshold", 0.5),
            thresholds=cfg.get("thresholds"),
            positive_label=cfg.get("positive_label"),
        )

    return textcat_scorer


def best_threshold(scores: Sequence[float], truths: Sequence[bool], default: float = 0.5) -> float:
    """The decision threshold with the highest F1 on (score, truth) pairs.

    Candidates are midpoints between consecutive distinct scores, so the chosen
    threshold generalises better than a threshold equal to one dev score. Ties
    go to the candidate closest to ``default``.
    """
    pairs = sorted(zip(scores, truths))
    n_pos = sum(1 for _, truth in pairs if truth)
    if not pairs or n_pos == 0:
        return default
    sorted_scores = [score for score, _ in pairs]
    positives_from = [0] * (len(pairs) + 1)  # positives among pairs[j:]
    for j in range(len(pairs) - 1, -1, -1):
        positives_from[j] = positives_from[j + 1] + bool(pairs[j][1])
    distinct = sorted(set(sorted_scores))
    candidates = [distinct[0] / 2] + [(a + b) / 2 for a, b in zip(distinct, distinct[1:])]
    best_key, best = None, default
    for candidate in candidates:
        first = bisect.bisect_left(sorted_scores, candidate)
        tp = positives_from[first]
        fp = len(pairs) - first - tp
        f1 = 2 * tp / (2 * tp + fp + (n_pos - tp)) if tp else 0.0
        key = (f1, -abs(candidate - default))
        if best_key is None or key > best_key:
            best_key, best = key, candidate
    return float(best)
