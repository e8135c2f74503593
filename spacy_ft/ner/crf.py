"""The NER head's linear-chain CRF over BIO tags: its parameters, loss, Viterbi and marginals.

:func:`build_crf` is the layer that holds the transition, start and end scores, so
thinc optimizes and serializes them; its forward hands them on beside the logits, and
its backprop takes their gradients, so the CRF trains through the model's backprop
like every other layer. :func:`batch_loss` (training) and :func:`batch_decode`
(inference) run a whole batch at once, on the host or, with ``on_device``, on the
device the model is on.

The PyPI CRF layers for torch have been unmaintained since 2019-2020, and the
head computes its loss in numpy anyway, so this is a small exact one: the
forward-backward algorithm in log space gives the negative log-likelihood and
its gradients (marginals minus gold counts) for emissions, transitions and the
start/end scores. Invalid BIO transitions are masked out in training and
decoding alike (a constrained CRF), so probability mass never goes to tag
sequences the decoder could not output. tests/ner/test_crf.py checks everything
against brute-force enumeration of all paths.

The batched functions (:func:`batch_viterbi`, :func:`batch_unit_marginals`,
:func:`batch_nll_and_gradients`) take numpy or CuPy arrays and run on the device the
arrays live on: on a GPU the logits never leave it for the CRF, and a batch costs one
kernel launch per position of its longest doc instead of one host copy per doc plus the
host's arithmetic. On numpy they do what the per-doc functions do, up to float rounding.
"""

from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from thinc.api import Model, Ops, get_array_module
from thinc.types import Floats2d
from thinc.util import to_numpy as to_host

Array = Any  # numpy.ndarray or cupy.ndarray
MASKED = -1e4  # added to invalid transitions: exp() of it is 0 in float32/64


class CRFParams(NamedTuple):
    """The CRF's scores (or their gradients): (tags, tags) transitions, start and end."""

    transitions: Array
    start: Array
    end: Array


class Constraints(NamedTuple):
    """Which tag may follow which ((tags, tags) booleans) and which may start a doc."""

    transitions: Array
    start: Array


#: The CRF layer: each doc's logits pass through, with the transition, start and end scores.
CRFModel = Model[List[Floats2d], Tuple[List[Floats2d], CRFParams]]


def build_crf(n_tags: Optional[int] = None) -> CRFModel:
    """The CRF's parameters as a layer.

    Passes each doc's logits through and adds the transition, start and end scores;
    its backprop takes the logits' and the scores' gradients, adds the scores' to the
    parameters and returns the logits'."""
    return Model(
        "crf_params",
        _forward,
        init=_init,
        params={"transitions": None, "start": None, "end": None},
        dims={"nO": n_tags},
    )


def _init(model: Model, X: Any = None, Y: Any = None) -> None:
    n_tags = model.get_dim("nO")
    model.set_param("transitions", model.ops.alloc2f(n_tags, n_tags))
    model.set_param("start", model.ops.alloc1f(n_tags))
    model.set_param("end", model.ops.alloc1f(n_tags))


def _forward(
    model: Model, logits: List[Floats2d], is_train: bool
) -> Tuple[Tuple[List[Floats2d], CRFParams], Callable]:
    params = CRFParams(*(model.get_param(name) for name in CRFParams._fields))

    def backprop(gradients: Tuple[List[Floats2d], CRFParams]) -> List[Floats2d]:
        d_logits, d_params = gradients
        for name, grad in zip(CRFParams._fields, d_params):
            model.inc_grad(name, model.ops.asarray_f(grad))
        return d_logits

    return (logits, params), backprop


def masked(transitions: Array, allowed: Array) -> Array:
    xp = get_array_module(transitions)
    return xp.where(xp.asarray(allowed), transitions, transitions + MASKED)


def masked_params(params: CRFParams, constraints: Constraints, ops: Ops, on_device: bool) -> CRFParams:
    """The scores the recursions use: invalid transitions and starts pushed down by
    ``MASKED`` (their gradient is the unmasked score's), on the host (numpy) or, with
    ``on_device``, where ``ops`` keeps its arrays."""
    convert = ops.asarray if on_device else ops.to_numpy
    xp = ops.xp if on_device else numpy
    start = convert(params.start) + xp.asarray([0.0 if ok else MASKED for ok in constraints.start])
    return CRFParams(masked(convert(params.transitions), constraints.transitions), start, convert(params.end))


def batch_loss(
    ops: Ops,
    logits: Sequence[Floats2d],
    params: CRFParams,
    golds: Sequence[Sequence[int]],
    constraints: Constraints,
    normalizer: int,
    on_device: bool = False,
) -> Tuple[float, Tuple[List[Floats2d], CRFParams]]:
    """The batch's negative log-likelihood of the gold tags divided by ``normalizer``,
    and its gradients, shaped as :func:`build_crf`'s output (per-doc logits, then the
    CRF's scores) for the model's backprop: one batched forward-backward for all docs,
    on the host or, with ``on_device``, on the model's device."""
    scores = masked_params(params, constraints, ops, on_device)
    to_array = ops.asarray2f if on_device else ops.to_numpy
    nll, d_logits, *d_params = batch_nll_and_gradients([to_array(x) for x in logits], *scores, golds)
    d_logits = [ops.asarray2f(d / normalizer) for d in d_logits]
    return nll / normalizer, (d_logits, CRFParams(*(grad / normalizer for grad in d_params)))


def batch_decode(
    ops: Ops, logits: Sequence[Floats2d], params: CRFParams, constraints: Constraints, on_device: bool = False
) -> Tuple[List[List[int]], List[numpy.ndarray]]:
    """Each doc's best tag path and its unit marginals (numpy), the whole batch at once:
    one step per position of the longest doc; with ``on_device``, without leaving the
    model's device."""
    scores = masked_params(params, constraints, ops, on_device)
    to_array = ops.asarray2f if on_device else ops.to_numpy
    emissions = [to_array(x) for x in logits]
    return batch_viterbi(emissions, *scores), batch_unit_marginals(emissions, *scores)


def _logsumexp(values: Array, axis: int) -> Array:
    top = values.max(axis=axis, keepdims=True)
    return (top + numpy.log(numpy.exp(values - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def log_space_forward_backward(
    emissions: Array, transitions: Array, start: Array, end: Array
) -> Tuple[float, Array, Array]:
    """The log-sum-exp recursion: slower, but exact however extreme the scores."""
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


def forward_backward(
    emissions: Array, transitions: Array, start: Array, end: Array
) -> Tuple[float, Array, Array]:
    """log Z, unit marginals (n, tags) and summed pairwise marginals (tags, tags).

    Computed in probability space with per-position scaling (Rabiner's scaled
    forward-backward, :func:`_scaled_recursions`, the batched functions' recursion on a
    batch of one) rather than with a log-sum-exp per position: one small vector-matrix
    product per step. log Z agrees with the log-space recursion up to float rounding;
    scores so extreme that every allowed tag underflows fall back to
    :func:`log_space_forward_backward`.
    """
    batch = _longest_first([emissions])
    recursions = _scaled_recursions(batch, transitions, start, end)
    if recursions is None:
        return log_space_forward_backward(emissions, transitions, start, end)
    emit, trans, alpha, beta, scale, z_end = recursions
    emit, alpha, beta, scale = emit[0], alpha[0], beta[0], scale[0]  # the batch's one doc
    n = len(emissions)
    # The shifts every exp() took off: per-position emission maxima, one transition
    # maximum between each pair of neighbours, the start and end maxima.
    shifts = batch.padded[0].max(axis=1).sum() + (n - 1) * transitions.max() + start.max() + end.max()
    log_z = float(numpy.log(scale).sum() + numpy.log(z_end[0]) + shifts)
    after = emit[1:] * beta[1:] / scale[1:, None]
    pair_marginals = trans * (alpha[:-1].T @ after)
    dtype = emissions.dtype
    return log_z, (alpha * beta).astype(dtype), pair_marginals.astype(dtype)


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
    """The best tag path of one doc (:func:`batch_viterbi` of a batch of one)."""
    return batch_viterbi([emissions], transitions, start, end)[0]


class _Batch(NamedTuple):
    """Docs sorted longest first (``order``: their indices), their lengths, the
    zero-padded (docs, steps, tags) float64 emissions and, per step, how many docs are
    still running: always a prefix of the rows, so no masking is needed."""

    order: List[int]
    lengths: Array
    padded: Array
    active: List[int]


def _longest_first(emissions: Sequence[Array]) -> _Batch:
    order = sorted(range(len(emissions)), key=lambda i: -len(emissions[i]))
    lengths = numpy.array([len(emissions[i]) for i in order])
    n_tags = emissions[order[0]].shape[1]
    xp = get_array_module(emissions[order[0]])
    if xp is numpy:
        padded = numpy.zeros((len(order), int(lengths[0]), n_tags), dtype=numpy.float64)
        for row, i in enumerate(order):
            padded[row, : lengths[row]] = emissions[i]
    else:  # one scatter instead of one copy kernel per doc
        padded = xp.zeros((len(order), int(lengths[0]), n_tags), dtype="float64")
        rows = numpy.repeat(numpy.arange(len(order)), lengths)
        steps = numpy.concatenate([numpy.arange(n) for n in lengths])
        values = xp.concatenate([emissions[i] for i in order if len(emissions[i])])
        padded[xp.asarray(rows), xp.asarray(steps)] = values
    active = [int((lengths > t).sum()) for t in range(padded.shape[1])]
    return _Batch(order, lengths, padded, active)


def batch_viterbi(
    emissions: Sequence[Array], transitions: Array, start: Array, end: Array
) -> List[List[int]]:
    """The best tag path of each doc, for many docs at once: one numpy step per position
    of the longest doc instead of one per position of every doc."""
    if not any(len(e) for e in emissions):
        return [[] for _ in emissions]
    order, lengths, padded, active = _longest_first(emissions)
    xp = get_array_module(padded)
    n_docs, steps, n_tags = padded.shape
    score = start[None, :] + padded[:, 0]
    back = xp.zeros((steps, n_docs, n_tags), dtype=numpy.int32)
    for t in range(1, steps):
        k = active[t]
        candidates = score[:k, :, None] + transitions[None]
        back[t, :k] = candidates.argmax(axis=1)
        score[:k] = candidates.max(axis=1) + padded[:k, t]
    best_last = to_host((score + end[None, :]).argmax(axis=1))
    back = to_host(back)
    paths: List[List[int]] = [[] for _ in emissions]
    for row, i in enumerate(order):
        n = int(lengths[row])
        if n == 0:
            continue
        path = [int(best_last[row])]
        for t in range(n - 1, 0, -1):
            path.append(int(back[t, row, path[-1]]))
        paths[i] = path[::-1]
    return paths


def _scaled_recursions(batch: _Batch, transitions: Array, start: Array, end: Array) -> Optional[tuple]:
    """The scaled forward and backward passes over a batch: (exp'd emissions, exp'd
    transitions, alpha, beta, scale, z_end), all but the transitions with one row per
    doc in ``batch`` order, or None when a step underflows (every allowed tag's score
    is > ~700 below the best one).

    Every score is shifted by its maximum before ``exp`` (the caller adds the shifts
    back for log Z), alpha is normalised at every step by ``scale``, and beta uses the
    same scales, so ``alpha * beta`` are the unit marginals; masked transitions
    (``MASKED``) become exact zeros. Underflow is checked once, after the forward pass
    (a zero scale turns every later one into NaN), so a GPU never waits on the host
    in the middle of the recursion.
    """
    order, lengths, padded, active = batch
    xp = get_array_module(padded)
    n_docs, steps, _ = padded.shape
    emit = xp.exp(padded - padded.max(axis=2, keepdims=True))
    trans, first, last = (
        xp.exp(scores - scores.max())
        for scores in (xp.asarray(a, dtype="float64") for a in (transitions, start, end))
    )
    alpha = xp.zeros_like(emit)
    scale = xp.ones((n_docs, steps))
    current = first[None, :] * emit[: active[0], 0]
    with numpy.errstate(divide="ignore", invalid="ignore"):
        for t in range(steps):
            k = active[t]
            if t:
                current = (alpha[:k, t - 1] @ trans) * emit[:k, t]
            scale[:k, t] = current.sum(axis=1)
            alpha[:k, t] = current / scale[:k, t, None]
    if not bool((scale > 0).all()):
        return None
    beta = xp.zeros_like(emit)
    rows = xp.asarray(numpy.flatnonzero(lengths))
    ends = xp.asarray(lengths[numpy.flatnonzero(lengths)] - 1)
    z_end = xp.ones(n_docs)
    z_end[rows] = (alpha[rows, ends] * last[None, :]).sum(axis=1)
    beta[rows, ends] = last[None, :] / z_end[rows, None]
    for t in range(steps - 2, -1, -1):
        k = active[t + 1]  # docs with a step t + 1 take it from there; the others ended at t
        beta[:k, t] = ((emit[:k, t + 1] * beta[:k, t + 1]) @ trans.T) / scale[:k, t + 1, None]
    return emit, trans, alpha, beta, scale, z_end


def batch_unit_marginals(
    emissions: Sequence[Array], transitions: Array, start: Array, end: Array
) -> List[Array]:
    """Each doc's unit marginals (:func:`forward_backward`'s second output), batched as in
    :func:`batch_viterbi`: what inference needs for the entity confidences. Returned as
    numpy arrays whatever the input's device (one copy for the whole batch)."""
    if not any(len(e) for e in emissions):
        return [numpy.zeros((0, len(start)), dtype=e.dtype) for e in emissions]
    batch = _longest_first(emissions)
    recursions = _scaled_recursions(batch, transitions, start, end)
    if recursions is None:
        host = [to_host(a) for a in (transitions, start, end)]
        return [log_space_forward_backward(to_host(e), *host)[1] if len(e) else to_host(e) for e in emissions]
    _, _, alpha, beta, _, _ = recursions
    marginals = to_host(alpha * beta)
    out: List[Array] = [numpy.zeros((0, start.shape[0]))] * len(emissions)
    for row, i in enumerate(batch.order):
        out[i] = marginals[row, : batch.lengths[row]].astype(emissions[i].dtype)
    return out


def batch_nll_and_gradients(
    emissions: Sequence[Array], transitions: Array, start: Array, end: Array, golds: Sequence[Sequence[int]]
) -> Tuple[float, List[Array], Array, Array, Array]:
    """:func:`nll_and_gradients` for a whole batch in one pass: the summed -log p(gold),
    each doc's emission gradient (on the emissions' device, their dtype) and the
    transition, start and end gradients summed over the docs.

    Empty docs get an empty gradient and add nothing. Scores so extreme that the scaled
    recursion underflows fall back to the exact per-doc log-space path on the host.
    """
    xp = get_array_module(transitions)
    n_tags = int(transitions.shape[0])
    dtype = next((e.dtype for e in emissions), numpy.float32)
    d_emissions: List[Array] = [xp.zeros((0, n_tags), dtype=dtype)] * len(emissions)
    d_trans, d_start, d_end = xp.zeros((n_tags, n_tags)), xp.zeros(n_tags), xp.zeros(n_tags)
    present = [i for i, e in enumerate(emissions) if len(e)]
    if not present:
        return 0.0, d_emissions, d_trans, d_start, d_end
    batch = _longest_first([emissions[i] for i in present])
    recursions = _scaled_recursions(batch, transitions, start, end)
    if recursions is None:
        return _per_doc_on_host(emissions, transitions, start, end, golds, xp)
    emit, trans, alpha, beta, scale, z_end = recursions
    order, lengths, padded, _ = batch
    n_docs, steps, _ = padded.shape
    # Gold as padded (docs, steps) indices, built on the host and sent once.
    gold = numpy.zeros((n_docs, steps), dtype=numpy.int64)
    valid = numpy.zeros((n_docs, steps), dtype=bool)
    for row, i in enumerate(order):
        gold[row, : lengths[row]] = golds[present[i]]
        valid[row, : lengths[row]] = True
    gold_d, valid_d = xp.asarray(gold), xp.asarray(valid)
    rows = xp.arange(n_docs)
    last_step = xp.asarray(lengths - 1)
    transitions64, start64, end64 = (xp.asarray(a, dtype="float64") for a in (transitions, start, end))
    # log Z: the scales, the end sum and every shift the recursion took off.
    shifts = (
        (padded.max(axis=2) * valid_d).sum(axis=1)
        + xp.asarray(lengths - 1) * transitions64.max() + start64.max() + end64.max()
    )
    log_z = xp.log(xp.where(valid_d, scale, 1.0)).sum(axis=1) + xp.log(z_end) + shifts
    gold_emissions = (xp.take_along_axis(padded, gold_d[:, :, None], axis=2)[:, :, 0] * valid_d).sum(axis=1)
    pair_valid = valid_d[:, 1:]
    gold_transitions = (transitions64[gold_d[:, :-1], gold_d[:, 1:]] * pair_valid).sum(axis=1)
    gold_last = gold_d[rows, last_step]
    path = gold_emissions + gold_transitions + start64[gold_d[:, 0]] + end64[gold_last]
    nll = float((log_z - path).sum())
    marginals = alpha * beta
    one_hot = (xp.arange(n_tags)[None, None, :] == gold_d[:, :, None]) & valid_d[:, :, None]
    d_padded = marginals - one_hot
    after = emit[:, 1:] * beta[:, 1:] / scale[:, 1:, None]
    d_trans = trans * (alpha[:, :-1].reshape(-1, n_tags).T @ after.reshape(-1, n_tags))
    flat_pairs = (gold_d[:, :-1] * n_tags + gold_d[:, 1:]).ravel()
    pair_counts = xp.bincount(flat_pairs, weights=pair_valid.ravel().astype("float64"), minlength=n_tags * n_tags)
    d_trans = d_trans - pair_counts.reshape(n_tags, n_tags)
    d_start = d_padded[:, 0].sum(axis=0)
    d_end = d_padded[rows, last_step].sum(axis=0)
    for row, i in enumerate(order):
        d_emissions[present[i]] = d_padded[row, : lengths[row]].astype(dtype)
    return nll, d_emissions, d_trans, d_start, d_end


def _per_doc_on_host(
    emissions: Sequence[Array], transitions: Array, start: Array, end: Array, golds: Sequence[Sequence[int]],
    xp: Any,
) -> Tuple[float, List[Array], Array, Array, Array]:
    """The exact per-doc path (:func:`nll_and_gradients`), with results on ``xp``'s device."""
    host = [to_host(a) for a in (transitions, start, end)]
    n_tags = host[0].shape[0]
    total, d_emissions = 0.0, []
    sums = [numpy.zeros((n_tags, n_tags)), numpy.zeros(n_tags), numpy.zeros(n_tags)]
    for doc_emissions, gold in zip(emissions, golds):
        if not len(doc_emissions):
            d_emissions.append(xp.zeros((0, n_tags), dtype=doc_emissions.dtype))
            continue
        nll, d_doc, *grads = nll_and_gradients(to_host(doc_emissions), host[0], host[1], host[2], list(gold))
        total += nll
        d_emissions.append(xp.asarray(d_doc))
        for acc, grad in zip(sums, grads):
            acc += grad
    return total, d_emissions, *(xp.asarray(a) for a in sums)
