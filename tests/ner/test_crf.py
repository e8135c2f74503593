"""The CRF against brute-force enumeration of every tag path."""

import itertools

import numpy
import pytest

from spacy_ft.ner.bio import allowed_transitions, bio_tags
from spacy_ft.ner.crf import (
    batch_nll_and_gradients,
    batch_unit_marginals,
    batch_viterbi,
    forward_backward,
    masked,
    nll_and_gradients,
    path_score,
    viterbi,
)

TAGS = bio_tags(["PER"])


def random_crf(n, seed):
    rng = numpy.random.default_rng(seed)
    emissions = rng.normal(size=(n, len(TAGS)))
    transitions = masked(rng.normal(size=(len(TAGS), len(TAGS))), allowed_transitions(TAGS))
    start, end = rng.normal(size=len(TAGS)), rng.normal(size=len(TAGS))
    start[2] += -1e4  # I-PER cannot start
    return emissions, transitions, start, end


def all_paths(n):
    return [list(p) for p in itertools.product(range(len(TAGS)), repeat=n)]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_partition_and_marginals_match_brute_force(n):
    emissions, transitions, start, end = random_crf(n, seed=n)
    scores = numpy.array([path_score(emissions, transitions, start, end, p) for p in all_paths(n)])
    log_z, unit_marginals, pair_marginals = forward_backward(emissions, transitions, start, end)
    assert log_z == pytest.approx(numpy.log(numpy.exp(scores).sum()), rel=1e-9)
    probs = numpy.exp(scores - log_z)
    assert len(probs) == len(all_paths(n)) == len(TAGS) ** n
    for t in range(n):
        for tag in range(len(TAGS)):
            expected = sum(p for p, path in zip(probs, all_paths(n)) if path[t] == tag)
            assert unit_marginals[t, tag] == pytest.approx(expected, abs=1e-9)
    expected_pairs = numpy.zeros_like(pair_marginals)
    for p, path in zip(probs, all_paths(n)):
        for a, b in zip(path, path[1:]):
            expected_pairs[a, b] += p
    numpy.testing.assert_allclose(pair_marginals, expected_pairs, atol=1e-9)


def test_viterbi_is_the_best_path():
    emissions, transitions, start, end = random_crf(5, seed=7)
    best = max(all_paths(5), key=lambda p: path_score(emissions, transitions, start, end, p))
    assert viterbi(emissions, transitions, start, end) == best
    assert all(not (TAGS[a] == "O" and TAGS[b] == "I-PER") for a, b in zip(best, best[1:]))


def test_gradients_match_finite_differences():
    emissions, transitions, start, end = random_crf(4, seed=3)
    gold = [1, 2, 0, 1]
    _, d_em, d_tr, d_start, d_end = nll_and_gradients(emissions, transitions, start, end, gold)
    eps = 1e-6
    for array, grad in [(emissions, d_em), (transitions, d_tr), (start, d_start), (end, d_end)]:
        index = numpy.unravel_index(numpy.argmax(numpy.abs(grad)), grad.shape)
        original = array[index]
        array[index] = original + eps
        up = nll_and_gradients(emissions, transitions, start, end, gold)[0]
        array[index] = original - eps
        down = nll_and_gradients(emissions, transitions, start, end, gold)[0]
        array[index] = original
        assert (up - down) / (2 * eps) == pytest.approx(grad[index], rel=1e-4, abs=1e-6)


def log_space_forward(emissions, transitions, start, end):
    """The textbook log-sum-exp recursion: the reference for long sequences."""
    from scipy.special import logsumexp

    alpha = start + emissions[0]
    for t in range(1, len(emissions)):
        alpha = logsumexp(alpha[:, None] + transitions, axis=0) + emissions[t]
    return float(logsumexp(alpha + end))


@pytest.mark.parametrize("scale", [1.0, 60.0, 400.0])
def test_scaled_recursion_survives_long_docs_and_confident_logits(scale):
    # 2,000 units with logits up to ~1,000 apart: a naive exp() overflows float64
    # and unscaled products underflow; the scaled recursion must still be exact.
    emissions, transitions, start, end = random_crf(2000, seed=7)
    emissions = emissions * scale
    log_z, unit_marginals, pair_marginals = forward_backward(emissions, transitions, start, end)
    assert numpy.isfinite(log_z)
    assert log_z == pytest.approx(log_space_forward(emissions, transitions, start, end), rel=1e-9)
    numpy.testing.assert_allclose(unit_marginals.sum(axis=1), 1.0, atol=1e-9)
    assert pair_marginals.sum() == pytest.approx(1999, rel=1e-6)
    # The marginals' best tags follow the Viterbi path wherever the model is sure.
    if scale >= 60:
        path = viterbi(emissions, transitions, start, end)
        assert (unit_marginals.argmax(axis=1) == numpy.array(path)).mean() > 0.99


def test_batched_decoding_equals_one_doc_at_a_time():
    # Docs of mixed lengths, an empty one among them, in no particular order.
    docs = [random_crf(n, seed=10 + n) for n in (5, 1, 0, 12, 3, 12)]
    _, transitions, start, end = docs[0]
    emissions = [doc[0] for doc in docs]
    paths = batch_viterbi(emissions, transitions, start, end)
    marginals = batch_unit_marginals(emissions, transitions, start, end)
    assert len(paths) == len(marginals) == len(emissions)
    for doc_emissions, path, doc_marginals in zip(emissions, paths, marginals):
        assert len(path) == len(doc_emissions) == len(doc_marginals)
        if not len(doc_emissions):
            continue
        assert path == viterbi(doc_emissions, transitions, start, end)
        expected = forward_backward(doc_emissions, transitions, start, end)[1]
        numpy.testing.assert_allclose(doc_marginals, expected, atol=1e-9)


def test_batched_marginals_fall_back_when_scores_underflow():
    emissions, transitions, start, end = random_crf(300, seed=3)
    extreme = [emissions * 400, emissions[:40]]
    marginals = batch_unit_marginals(extreme, transitions, start, end)
    for doc_emissions, doc_marginals in zip(extreme, marginals):
        expected = forward_backward(doc_emissions, transitions, start, end)[1]
        numpy.testing.assert_allclose(doc_marginals, expected, atol=1e-6)


def random_batch(lengths, seed, tags=TAGS):
    rng = numpy.random.default_rng(seed)
    n_tags = len(tags)
    transitions = masked(rng.normal(size=(n_tags, n_tags)), allowed_transitions(tags))
    start, end = rng.normal(size=n_tags), rng.normal(size=n_tags)
    start[[i for i, tag in enumerate(tags) if tag.startswith("I-")]] += -1e4
    emissions = [rng.normal(size=(n, n_tags)) for n in lengths]
    golds = [[int(t) for t in viterbi(e, transitions, start, end)] if len(e) else [] for e in emissions]
    # Gold paths that are not the best path, so the gradients are not trivially small.
    golds = [[0] * len(g) if i % 2 else g for i, g in enumerate(golds)]
    return emissions, transitions, start, end, golds


@pytest.mark.parametrize("lengths", [[3], [4, 0, 1, 6, 2], [0, 0, 2]])
def test_batched_nll_and_gradients_equal_the_per_doc_ones(lengths):
    emissions, transitions, start, end, golds = random_batch(lengths, seed=len(lengths))
    nll, d_emissions, d_transitions, d_start, d_end = batch_nll_and_gradients(
        emissions, transitions, start, end, golds)
    expected_nll, sums = 0.0, [numpy.zeros_like(transitions), numpy.zeros_like(start), numpy.zeros_like(end)]
    for doc, gold, d_doc in zip(emissions, golds, d_emissions):
        if not len(doc):
            assert d_doc.shape == (0, len(TAGS))
            continue
        doc_nll, expected_d_doc, *grads = nll_and_gradients(doc, transitions, start, end, gold)
        expected_nll += doc_nll
        numpy.testing.assert_allclose(d_doc, expected_d_doc, atol=1e-9)
        for total, grad in zip(sums, grads):
            total += grad
    assert nll == pytest.approx(expected_nll, rel=1e-9)
    for got, want in zip((d_transitions, d_start, d_end), sums):
        numpy.testing.assert_allclose(got, want, atol=1e-9)


def test_batched_nll_matches_brute_force():
    emissions, transitions, start, end, golds = random_batch([3, 2], seed=11)
    nll, *_ = batch_nll_and_gradients(emissions, transitions, start, end, golds)
    expected = 0.0
    for doc, gold in zip(emissions, golds):
        scores = numpy.array([path_score(doc, transitions, start, end, p) for p in all_paths(len(doc))])
        expected += numpy.log(numpy.exp(scores).sum()) - path_score(doc, transitions, start, end, gold)
    assert nll == pytest.approx(expected, rel=1e-9)


def test_batched_nll_falls_back_when_the_scaled_recursion_underflows():
    emissions, transitions, start, end, golds = random_batch([4, 3], seed=5)
    emissions[0][2] = [-2e3, 0.0, -2e3]  # only B-PER survives at position 2...
    emissions[0][3] = [-2e3, -2e3, 0.0]
    emissions[0][1] = [0.0, -2e3, -2e3]  # ...after a forced O: every path underflows in scaled space
    transitions = transitions.copy()
    transitions[0, 1] = -1.5e3
    nll, d_emissions, *_ = batch_nll_and_gradients(emissions, transitions, start, end, golds)
    expected = sum(nll_and_gradients(e, transitions, start, end, g)[0] for e, g in zip(emissions, golds))
    assert numpy.isfinite(nll)
    assert nll == pytest.approx(expected, rel=1e-9)
    assert all(numpy.isfinite(d).all() for d in d_emissions)


def test_crf_layer_passes_the_logits_and_takes_its_scores_gradients():
    from thinc.api import NumpyOps

    from spacy_ft.ner.crf import CRFParams, build_crf

    layer = build_crf(len(TAGS))
    layer.initialize()
    logits = [NumpyOps().alloc2f(4, len(TAGS)) + 1.0]
    (passed, params), backprop = layer(logits, is_train=True)
    assert passed is logits
    assert [p.shape for p in params] == [(3, 3), (3,), (3,)] and not any(p.any() for p in params)
    d_logits = [numpy.ones((4, len(TAGS)), dtype="f")]
    grads = CRFParams(numpy.full((3, 3), 0.5), numpy.full(3, 0.25), numpy.full(3, 2.0))
    assert backprop((d_logits, grads)) is d_logits
    for name, grad in zip(CRFParams._fields, grads):
        assert layer.get_grad(name).dtype == numpy.float32
        numpy.testing.assert_array_equal(layer.get_grad(name), grad)


def test_batch_loss_and_decode_mask_invalid_tags_and_normalize():
    from thinc.api import NumpyOps

    from spacy_ft.ner.bio import bio_constraints
    from spacy_ft.ner.crf import CRFParams, batch_decode, batch_loss

    ops = NumpyOps()
    rng = numpy.random.default_rng(3)
    raw = CRFParams(*(rng.normal(size=shape).astype("f") for shape in ((3, 3), (3,), (3,))))
    constraints = bio_constraints(TAGS)
    start = raw.start + numpy.where(constraints.start, 0.0, -1e4)
    scores = (masked(raw.transitions, constraints.transitions), start, raw.end)
    logits = [rng.normal(size=(n, len(TAGS))).astype("f") for n in (3, 0, 5)]
    golds = [[1, 2, 0], [], [0, 1, 2, 2, 0]]
    loss, (d_logits, d_params) = batch_loss(ops, logits, raw, golds, constraints, normalizer=8)
    want = [nll_and_gradients(x, *scores, g) for x, g in zip(logits, golds) if len(g)]
    assert loss == pytest.approx(sum(w[0] for w in want) / 8, rel=1e-6)
    numpy.testing.assert_allclose(d_logits[0], want[0][1] / 8, atol=1e-6)
    assert d_logits[1].shape == (0, len(TAGS))
    for k, grad in enumerate(d_params):
        numpy.testing.assert_allclose(grad, (want[0][2 + k] + want[1][2 + k]) / 8, atol=1e-6)
    paths, probs = batch_decode(ops, logits, raw, constraints)
    assert paths[1] == [] and paths[2] == viterbi(logits[2], *scores)
    numpy.testing.assert_allclose(probs[2], forward_backward(logits[2], *scores)[1], atol=1e-6)
    assert all(TAGS[path[0]] != "I-PER" for path in paths if path)
