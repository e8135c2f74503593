"""The CRF against brute-force enumeration of every tag path."""

import itertools

import numpy
import pytest

from spacy_ft.ner.bio import allowed_transitions, bio_tags
from spacy_ft.ner.crf import forward_backward, masked, nll_and_gradients, path_score, viterbi

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
