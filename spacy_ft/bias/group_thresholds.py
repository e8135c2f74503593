"""Per-group decision thresholds (post-processing), fitted on dev predictions and
saved in the pipeline's ``spacy_ft_bias`` component.

Why not fairlearn's ``ThresholdOptimizer``: its solution mixes two thresholds per
group at random (a randomized classifier), which cannot be stored as the one
threshold per group that ``spacy_ft_bias`` applies, and it wants an sklearn
estimator. The search here is small and deterministic instead: for a grid of
target rates (0.00, 0.01, ... 1.00) each group gets the threshold that brings its
selection rate (``demographic_parity``) or true-positive rate
(``equal_opportunity``) closest to the target; among the settings whose largest
rate gap is within ``tolerance``, the one with the best dev accuracy wins. The
decision rule is the component's: positive when ``p >= threshold``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy
from spacy.language import Language

from spacy_ft.bias.stats import groups_from_terms
from spacy_ft.bias.terms import TermList
from spacy_ft.types import PathLike
from spacy_ft.validation import check_choice

CONSTRAINTS = ("demographic_parity", "equal_opportunity")
TARGET_GRID = numpy.linspace(0.0, 1.0, 101)


def _threshold_for_rate(scores: numpy.ndarray, rate: float) -> float:
    """A threshold in [0, 1] that selects about ``rate`` of ``scores`` (midway
    between neighbouring scores, so small score shifts keep the decision)."""
    if scores.size == 0:
        return 0.5
    ordered = numpy.sort(scores)[::-1]
    k = int(round(rate * len(ordered)))
    if k <= 0:
        return float(min(1.0, ordered[0] + (1.0 - ordered[0]) / 2))
    if k >= len(ordered):
        return float(ordered[-1] / 2)
    return float((ordered[k - 1] + ordered[k]) / 2)


@dataclass(frozen=True)
class GroupRates:
    """Per-group rates under one set of thresholds, and what they cost."""

    accuracy: float
    #: Largest difference of the constrained rate between two groups.
    gap: float
    selection_rate: dict[str, float]
    #: True positive rate per group (None for a group without positives).
    tpr: dict[str, Optional[float]]


@dataclass(frozen=True)
class ThresholdFit:
    """What ``fit-group-thresholds`` found: the thresholds and the rates before and after."""

    constraint: str
    tolerance: float
    met: bool
    thresholds: dict[str, float]
    before: GroupRates
    after: GroupRates
    n_docs: int
    #: Docs left out of the fit because no group term was found in them.
    excluded: int
    attribute: Optional[str] = None
    positive_label: Optional[str] = None


def _rates(
    scores: numpy.ndarray, truth: numpy.ndarray, groups: numpy.ndarray, names: Sequence[str], thresholds: dict[str, float]
) -> tuple[dict[str, dict[str, Any]], float]:
    pred = scores >= numpy.array([thresholds.get(g, 0.5) for g in groups])
    return {
        "selection_rate": {g: float(pred[groups == g].mean()) for g in names},
        "tpr": {
            g: float(pred[(groups == g) & truth].mean()) if ((groups == g) & truth).any() else None
            for g in names
        },
    }, float((pred == truth).mean())


def _gap(values: dict[str, Optional[float]]) -> float:
    known = [v for v in values.values() if v is not None]
    return max(known) - min(known) if len(known) > 1 else 0.0


def fit_group_thresholds(
    scores: Sequence[float],
    truth: Sequence[bool],
    groups: Sequence[Optional[str]],
    *,
    constraint: str = "demographic_parity",
    tolerance: float = 0.02,
) -> ThresholdFit:
    """Thresholds per group equalising the constrained rate within ``tolerance``
    at the best accuracy; docs without a group are left out of the fit."""
    check_choice(constraint, CONSTRAINTS, "constraint", component="spacy_ft_bias")
    keep = [i for i, g in enumerate(groups) if g is not None]
    s = numpy.asarray(scores, dtype=float)[keep]
    t = numpy.asarray(truth, dtype=bool)[keep]
    g = numpy.asarray([groups[i] for i in keep], dtype=object)
    names = sorted(set(g.tolist()))
    if len(names) < 2:
        raise ValueError(f"[spacy_ft_bias] need docs of two or more groups to fit thresholds, got {names}")
    metric = "selection_rate" if constraint == "demographic_parity" else "tpr"
    before, before_acc = _rates(s, t, g, names, {})
    best: Optional[tuple] = None
    for target in TARGET_GRID:
        thresholds: dict[str, float] = {}
        for name in names:
            pool = s[g == name] if metric == "selection_rate" else s[(g == name) & t]
            thresholds[name] = _threshold_for_rate(pool, target)
        rates, accuracy = _rates(s, t, g, names, thresholds)
        gap = _gap(rates[metric])
        key = (gap <= tolerance, accuracy if gap <= tolerance else -gap)
        if best is None or key > best[0]:
            best = (key, thresholds, rates, accuracy, gap)
    assert best is not None  # TARGET_GRID is not empty
    _, thresholds, rates, accuracy, gap = best
    return ThresholdFit(
        constraint=constraint,
        tolerance=tolerance,
        met=bool(gap <= tolerance),
        thresholds=thresholds,
        before=GroupRates(before_acc, _gap(before[metric]), before["selection_rate"], before["tpr"]),
        after=GroupRates(accuracy, gap, rates["selection_rate"], rates["tpr"]),
        n_docs=len(keep),
        excluded=len(groups) - len(keep),
    )


def fit_on_dev(
    nlp: Language,
    dev_path: PathLike,
    terms: TermList,
    attribute: str,
    positive_label: Optional[str] = None,
    **options: Any,
) -> ThresholdFit:
    """Predict the dev docs and fit thresholds for ``positive_label`` by ``attribute``
    (groups from term mentions, as ``spacy_ft_bias`` assigns them when deciding)."""
    from spacy_ft.bias.audit import default_positive_label, find_textcat
    from spacy_ft.evaluation.gold import predict_gold

    textcat = find_textcat(nlp)
    if textcat is None:
        raise ValueError("[spacy_ft_bias] the pipeline has no component that sets doc.cats")
    label = positive_label or default_positive_label(list(textcat.labels))
    examples = [eg for eg in predict_gold(nlp, dev_path) if label in eg.reference.cats]
    if not examples:
        raise ValueError(f"[spacy_ft_bias] no dev doc in '{dev_path}' has a gold value for {label!r}")
    groups = groups_from_terms([eg.reference.text for eg in examples], terms, attribute).groups
    fit = fit_group_thresholds(
        [eg.predicted.cats.get(label, 0.0) for eg in examples],
        [eg.reference.cats[label] >= 0.5 for eg in examples],
        groups,
        **options,
    )
    return dataclasses.replace(fit, attribute=attribute, positive_label=label)


def store_thresholds(
    nlp: Language, attribute: str, thresholds: dict[str, float], positive_label: Optional[str]
) -> str:
    """Put the thresholds in the pipeline's ``spacy_ft_bias`` (added last if
    missing), so they are saved with it; returns the component's name."""
    names = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "spacy_ft_bias"]
    if not names:
        nlp.add_pipe("spacy_ft_bias", last=True)
        names = [nlp.pipe_names[-1]]
    name = names[0]
    checker: Any = nlp.get_pipe(name)
    checker.set_group_thresholds(attribute, thresholds, positive_label)
    return name
