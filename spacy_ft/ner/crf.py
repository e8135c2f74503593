"""A linear-chain CRF over BIO tags, in numpy, for the NER head.

The PyPI CRF layers for torch have been unmaintained since 2019-2020, and the
head computes its loss in numpy anyway, so this is a small exact one: the
forward-backward algorithm in log space gives the negative log-likelihood and
its gradients (marginals minus gold counts) for emissions, transitions and the
start/end scores. Invalid BIO transitions are masked out in training and
decoding alike (a constrained CRF), so probability mass never goes to tag
sequences the decoder could not output. tests/ner/test_crf.py checks everything
against brute-force enumeration of all paths.
"""

from typing import List, Tuple

import numpy

Array = numpy.ndarray
MASKED = -1e4  # added to invalid transitions: exp() of it is 0 in float32/64


def masked(transitions: Array, allowed: Array) -> Array:
    return numpy.where(allowed, transitions, transitions + MASKED)


def _logsumexp(values: Array, axis: int) -> Array:
    top = values.max(axis=axis, keepdims=True)
    return (top + numpy.log(numpy.exp(values - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def forward_backward(
    emissions: Array, transitions: Array, start: Array, end: Array
) -> Tuple[float, Array, Array]:
    """log Z, unit marginals (n, tags) and summed pairwise marginals (tags, tags)."""
    n = len(emissions)
    alpha = numpy.zeros_like(emissions)
    beta = numpy.zeros_like(emissions)
    alpha[0] = start + emissions[0]
    for t in range(1, n):
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + transitions, axis=0) + emissions[t]
    beta[n - 1] = end
    for t in range(n - 2, -1, -1):
        beta[t] = _logsumexp(transitions + (emissions[t + 1] + beta[t + 1])[None, :], axis=1)
    log_z = float(_logsumexp(alpha[n - 1] + end, axis=0))
    unit_marginals = numpy.exp(alpha + beta - log_z)
    pair_marginals = numpy.zeros_like(transitions)
    for t in range(1, n):
        pair = alpha[t - 1][:, None] + transitions + (emissions[t] + beta[t])[None, :] - log_z
        pair_marginals += numpy.exp(pair)
    return log_z, unit_marginals, pair_marginals


def path_score(emissions: Array, transitions: Array, start: Array, end: Array, path: List[int]) -> float:
    score = start[path[0]] + end[path[-1]] + sum(emissions[t, tag] for t, tag in enumerate(path))
    score += sum(transitions[a, b] for a, b in zip(path, path[1:]))
    return float(score)


def nll_and_gradients(
    emissions: Array, transitions: Array, start: Array, end: Array, gold: List[int]
) -> Tuple[float, Array, Array, Array, Array]:
    """-log p(gold) and its gradients for emissions, transitions, start, end."""
    log_z, unit_marginals, pair_marginals = forward_backward(emissions, transitions, start, end)
    nll = log_z - path_score(emissions, transitions, start, end, gold)
    d_emissions = unit_marginals.copy()
    d_emissions[numpy.arange(len(gold)), gold] -= 1.0
    d_transitions = pair_marginals
    for a, b in zip(gold, gold[1:]):
        d_transitions[a, b] -= 1.0
    d_start = unit_marginals[0].copy()
    d_start[gold[0]] -= 1.0
    d_end = unit_marginals[-1].copy()
    d_end[gold[-1]] -= 1.0
    return nll, d_emissions, d_transitions, d_start, d_end


def viterbi(emissions: Array, transitions: Array, start: Array, end: Array) -> List[int]:
    n, n_tags = emissions.shape
    if n == 0:
        return []
    score = start + emissions[0]
    back = numpy.zeros((n, n_tags), dtype="i")
    for t in range(1, n):
        candidates = score[:, None] + transitions
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + emissions[t]
    path = [int((score + end).argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]
