"""Percentile-bootstrap intervals of the bias audit.

A leaf module (numpy only): the bias audit resamples docs to put intervals on
group rates and gaps.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy

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
