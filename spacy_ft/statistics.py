"""Percentile-bootstrap intervals shared by the bias audit and the benchmarks.

A leaf module (numpy only). The bias audit resamples docs to put intervals on
group rates and gaps; the benchmarks resample docs to say whether "A >= B" is
beyond noise. Both need the same resampling, so it lives here once.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import numpy

#: Percentiles of a two-sided 95% interval.
CI_QUANTILES = (0.025, 0.975)
#: Samples per vectorised chunk: bounds memory at CHUNK x units.
CHUNK = 64
#: Resamples for a paired comparison of two systems.
PAIRED_SAMPLES = 2000


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


def paired_difference(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> dict[str, Any]:
    """Mean of A minus B in points, averaged over ``pairs`` (one per seed: A's
    and B's per-doc scores, e.g. 0/1 correctness, on the same docs in the same
    order), with a paired percentile-bootstrap 95% interval: each resample draws
    docs with replacement and scores both systems on the same docs.

    Why: with ~1,000 docs one point is about one standard error, so a gap between
    two accuracies means nothing until the interval says it is clear of zero (or
    of a target's margin). Pairing removes the docs both get right or wrong.
    """
    samples = numpy.zeros(PAIRED_SAMPLES)
    per_seed = []
    for k, (scores_a, scores_b) in enumerate(pairs):
        if len(scores_a) != len(scores_b):
            raise ValueError(f"pair {k}: {len(scores_a)} against {len(scores_b)} docs; pairs need the same docs")
        diff = numpy.asarray(scores_a, float) - numpy.asarray(scores_b, float)
        per_seed.append(float(diff.mean()))
        samples += diff[bootstrap_indices(len(diff), PAIRED_SAMPLES, random_state=k)].mean(axis=1)
    samples /= len(per_seed)
    low, high = numpy.quantile(samples, CI_QUANTILES)
    return {
        "difference": 100 * float(numpy.mean(per_seed)),
        "ci95": [100 * float(low), 100 * float(high)],
        "per_seed": [100 * d for d in per_seed],
    }


def paired_f1_difference(
    counts_a: Sequence[Sequence[int]], counts_b: Sequence[Sequence[int]]
) -> dict[str, Any]:
    """Micro F1 of A minus B in points, with a paired percentile-bootstrap 95%
    interval. ``counts_a[i]`` / ``counts_b[i]`` are doc i's (tp, fp, fn) under each
    system, the same docs in the same order.

    Why not :func:`paired_difference`: a corpus F1 is not the mean of per-doc
    scores (a doc without entities has none), so each resample sums the drawn
    docs' counts and recomputes both F1s on them.
    """
    a = numpy.asarray(counts_a, dtype=float).reshape(-1, 3)
    b = numpy.asarray(counts_b, dtype=float).reshape(-1, 3)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} against {len(b)} docs; a paired comparison needs the same docs")
    if len(a) == 0:
        raise ValueError("no docs to compare")

    def f1(tp: numpy.ndarray, fp: numpy.ndarray, fn: numpy.ndarray) -> numpy.ndarray:
        den = 2 * tp + fp + fn
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return numpy.where(den > 0, 2 * tp / den, 0.0)

    indices = bootstrap_indices(len(a), PAIRED_SAMPLES, random_state=0)
    samples = []
    for start in range(0, len(indices), CHUNK):
        chunk = indices[start : start + CHUNK]
        sums_a = a[chunk].sum(axis=1)
        sums_b = b[chunk].sum(axis=1)
        samples.append(f1(*sums_a.T) - f1(*sums_b.T))
    low, high = numpy.quantile(numpy.concatenate(samples), CI_QUANTILES)
    point = f1(*a.sum(axis=0)) - f1(*b.sum(axis=0))
    return {"difference": 100 * float(point), "ci95": [100 * float(low), 100 * float(high)]}
