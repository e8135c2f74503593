"""Group assignment and group-fairness statistics with bootstrap intervals.

Point values come from fairlearn (``MetricFrame``, ``demographic_parity_difference``,
``equalized_odds_difference``), so the numbers mean what fairlearn's documentation
says. Confidence intervals come from :func:`bootstrap_ratios` below,
a vectorised percentile bootstrap with fairlearn's resampling scheme (whole data,
with replacement): ``MetricFrame(n_boot=...)`` rebuilds a pandas group-by per
sample, which makes a few hundred samples cost seconds per attribute, and the NER
recall gap and flip rates need the same machinery over other units anyway.
Every metric here is a ratio of two per-unit counts (selection rate = positive
predictions / docs of the group), so one set of resampled indices gives all
metrics and every derived gap (DPD, EOD, DI ratio) its own interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import numpy

from spacy_ft.bias.terms import TermList

#: Percentiles of a two-sided 95% interval.
CI_QUANTILES = (0.025, 0.975)
#: Samples per vectorised chunk: bounds memory at CHUNK x units.
CHUNK = 64


def percentile_interval(samples: numpy.ndarray) -> Optional[list[float]]:
    """The 95% percentile interval of the finite samples (None if there are none)."""
    finite = samples[numpy.isfinite(samples)]
    if finite.size == 0:
        return None
    low, high = numpy.quantile(finite, CI_QUANTILES)
    return [float(low), float(high)]


def bootstrap_indices(n_units: int, n_boot: int, random_state: int) -> numpy.ndarray:
    """``n_boot`` resamples of ``n_units`` unit indices (rows), fixed by the seed."""
    rng = numpy.random.default_rng(random_state)
    return rng.integers(0, n_units, size=(n_boot, n_units))


def bootstrap_ratios(
    numerators: Mapping[str, numpy.ndarray],
    denominators: Mapping[str, numpy.ndarray],
    indices: numpy.ndarray,
) -> dict[str, numpy.ndarray]:
    """For each key, sum(num[idx]) / sum(den[idx]) per resample (NaN where the
    denominator is 0: the group or class was not drawn)."""
    out: dict[str, list[numpy.ndarray]] = {key: [] for key in numerators}
    for start in range(0, len(indices), CHUNK):
        chunk = indices[start : start + CHUNK]
        for key, num in numerators.items():
            den = denominators[key][chunk].sum(axis=1).astype(float)
            with numpy.errstate(invalid="ignore", divide="ignore"):
                out[key].append(numpy.where(den > 0, num[chunk].sum(axis=1) / den, numpy.nan))
    return {key: numpy.concatenate(parts) if parts else numpy.zeros(0) for key, parts in out.items()}


#: The four-fifths rule: a disparate-impact ratio below this is flagged.
FOUR_FIFTHS = 0.8


@dataclass
class GroupAssignment:
    """One group (or None) per doc, and why docs were left out."""

    groups: list[Optional[str]]
    source: str
    excluded: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for group in self.groups:
            if group is not None:
                counts[group] = counts.get(group, 0) + 1
        return dict(sorted(counts.items()))


def groups_from_terms(texts: Sequence[str], terms: TermList, attribute: str) -> GroupAssignment:
    """A doc belongs to a group when its mentions of ``attribute`` name exactly that
    group; docs naming none or several groups are excluded (and counted), because
    whom a mixed doc is "about" cannot be read off the terms."""
    if attribute not in terms.attributes:
        raise ValueError(
            f"[spacy_ft_bias] unknown attribute {attribute!r}; known: {sorted(terms.attributes)}"
        )
    groups: list[Optional[str]] = []
    excluded = {"no_mention": 0, "mixed": 0}
    for text in texts:
        found = {mention.group for mention in terms.find(text, [attribute])}
        if len(found) == 1:
            groups.append(found.pop())
        else:
            groups.append(None)
            excluded["mixed" if found else "no_mention"] += 1
    return GroupAssignment(groups, f"terms:{attribute}", excluded)


def groups_from_values(values: Sequence[Any], source: str) -> GroupAssignment:
    """Groups given with the data (``doc.user_data[field]``, a JSONL field); missing
    or empty values are excluded."""
    groups = [None if value in (None, "") else str(value) for value in values]
    return GroupAssignment(groups, source, {"missing": sum(g is None for g in groups)})








def _spread(per_group: Sequence[numpy.ndarray], points: Sequence[Optional[float]], how: str) -> numpy.ndarray:
    """Resampled gap between the groups that are highest and lowest on the full
    data (roles fixed), so the interval is of a signed difference and can reach
    below 0: max - min over each resample would be >= 0 by construction and its
    interval would "exclude 0" even for a fair model."""
    known = [i for i, p in enumerate(points) if p is not None and numpy.isfinite(p)]
    if len(known) < 2:
        return numpy.full(len(per_group[0]), numpy.nan)
    known_points = {i: float(points[i]) for i in known}  # type: ignore[arg-type]  # None filtered above
    high = max(known, key=known_points.__getitem__)
    low = min(known, key=known_points.__getitem__)
    if how == "difference":
        return per_group[high] - per_group[low]
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return numpy.where(per_group[high] > 0, per_group[low] / per_group[high], numpy.nan)


# -- classifier ----------------------------------------------------------------


def _rate(num: numpy.ndarray, den: numpy.ndarray) -> Optional[float]:
    total = float(den.sum())
    return float(num.sum() / total) if total else None


def _masks(y_true: numpy.ndarray, y_pred: numpy.ndarray, in_group: numpy.ndarray) -> dict[str, tuple]:
    """metric -> (numerator, denominator) per doc, for the docs of one group."""
    correct = y_true == y_pred
    return {
        "accuracy": (in_group & correct, in_group),
        "selection_rate": (in_group & y_pred, in_group),
        "tpr": (in_group & y_true & y_pred, in_group & y_true),
        "fpr": (in_group & ~y_true & y_pred, in_group & ~y_true),
    }


def classifier_fairness(
    y_true: Sequence[bool],
    y_pred: Sequence[bool],
    groups: Sequence[Optional[str]],
    *,
    n_boot: int = 300,
    random_state: int = 0,
    min_group_size: int = 30,
) -> dict[str, Any]:
    """Per-group accuracy, selection rate, TPR and FPR for one binary decision,
    with demographic parity difference, equalized-odds difference and the
    disparate-impact ratio (min / max selection rate), each with a 95% bootstrap
    interval. Docs whose group is None are left out."""
    keep = [i for i, group in enumerate(groups) if group is not None]
    truth = numpy.asarray(y_true, dtype=bool)[keep]
    pred = numpy.asarray(y_pred, dtype=bool)[keep]
    labels = numpy.asarray([groups[i] for i in keep], dtype=object)
    names = sorted(set(labels.tolist()))
    result: dict[str, Any] = {"n": len(keep), "groups": {}, "warnings": []}
    if not names:
        result["warnings"].append("no doc could be assigned a group")
        return result
    masks = {name: _masks(truth, pred, labels == name) for name in names}
    samples = bootstrap_ratios(
        {f"{g}|{m}": nd[0] for g, ms in masks.items() for m, nd in ms.items()},
        {f"{g}|{m}": nd[1] for g, ms in masks.items() for m, nd in ms.items()},
        bootstrap_indices(len(keep), n_boot, random_state),
    )
    frame = _metric_frame(truth, pred, labels)
    for name in names:
        stats: dict[str, Any] = {"n": int((labels == name).sum())}
        for metric, (num, den) in masks[name].items():
            stats[metric] = _rate(num, den)
            if stats[metric] is not None and frame is not None:
                stats[metric] = float(frame.loc[name, metric])
            stats[f"{metric}_ci"] = percentile_interval(samples[f"{name}|{metric}"])
        result["groups"][name] = stats
    small = [name for name in names if result["groups"][name]["n"] < min_group_size]
    result["small_groups"] = small
    for name in small:
        result["warnings"].append(
            f"group {name!r} has {result['groups'][name]['n']} docs (< {min_group_size}): too few to judge"
        )
    if len(names) < 2:
        result["warnings"].append(f"only one group present ({names[0]!r}): no differences to compute")
        return result
    result.update(_gaps(truth, pred, labels, names, samples, result["groups"]))
    return result


def _metric_frame(truth: numpy.ndarray, pred: numpy.ndarray, labels: numpy.ndarray):
    """fairlearn's per-group values (the reference numbers the report shows)."""
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    metrics = {
        "accuracy": accuracy_score,
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a group without positives: sklearn warns, value 0
        frame = MetricFrame(
            metrics=metrics, y_true=truth.astype(int), y_pred=pred.astype(int), sensitive_features=labels
        ).by_group
    for metric, class_ in (("tpr", True), ("fpr", False)):  # undefined there, not 0
        for name in frame.index:
            if not ((labels == name) & (truth == class_)).any():
                frame.loc[name, metric] = numpy.nan
    return frame


def _gaps(truth, pred, labels, names, samples, points) -> dict[str, Any]:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    def gap(metric: str, how: str = "difference") -> numpy.ndarray:
        return _spread([samples[f"{n}|{metric}"] for n in names], [points[n][metric] for n in names], how)

    dpd, di = gap("selection_rate"), gap("selection_rate", "ratio")
    tpr_gap, fpr_gap = gap("tpr"), gap("fpr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eod_samples = numpy.fmax(tpr_gap, fpr_gap)
        dpd_value = float(demographic_parity_difference(truth, pred, sensitive_features=labels))
        eod_value = float(equalized_odds_difference(truth, pred, sensitive_features=labels))
    rates = [float(pred[labels == name].mean()) for name in names]
    di_value = min(rates) / max(rates) if max(rates) > 0 else None
    return {
        "demographic_parity_difference": {"value": dpd_value, "ci": percentile_interval(dpd)},
        "equalized_odds_difference": {
            "value": eod_value,
            "ci": percentile_interval(eod_samples),
            "tpr_difference_ci": percentile_interval(tpr_gap),
            "fpr_difference_ci": percentile_interval(fpr_gap),
        },
        "disparate_impact_ratio": {
            "value": di_value,
            "ci": percentile_interval(di),
            "four_fifths_flag": di_value is not None and di_value < FOUR_FIFTHS,
        },
    }


# -- per-unit rates (flip rate, NER recall) --------------------------------------


def grouped_rates(
    hits: Mapping[str, numpy.ndarray],
    totals: Mapping[str, numpy.ndarray],
    *,
    n_boot: int = 300,
    random_state: int = 0,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Rate per key (hits / totals over shared units, e.g. swapped entities per
    original entity) with intervals, and the largest gap between keys with its
    interval; resampling the shared units keeps paired designs paired."""
    keys = sorted(hits)
    n_units = len(next(iter(hits.values()))) if hits else 0
    samples = (
        bootstrap_ratios(hits, totals, bootstrap_indices(n_units, n_boot, random_state)) if n_units else {}
    )
    rates: dict[str, dict[str, Any]] = {
        key: {
            "n": int(totals[key].sum()),
            "rate": _rate(hits[key], totals[key]),
            "ci": percentile_interval(samples[key]) if n_units else None,
        }
        for key in keys
    }
    values = [r["rate"] for r in rates.values() if r["rate"] is not None]
    gap: dict[str, Any] = {"value": None, "ci": None}
    if len(values) >= 2:
        spread = _spread([samples[k] for k in keys], [rates[k]["rate"] for k in keys], "difference")
        gap = {"value": max(values) - min(values), "ci": percentile_interval(spread)}
    return rates, gap
