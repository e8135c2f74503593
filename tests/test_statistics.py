"""The benchmarks' "A >= B" intervals: paired bootstraps on known data."""

import pytest

from spacy_ft.statistics import paired_difference, paired_f1_difference


def test_paired_difference_of_identical_systems_is_zero():
    scores = [1, 0, 1, 1, 0, 1, 0, 1]
    result = paired_difference([(scores, scores)])
    assert result["difference"] == 0.0
    assert result["ci95"] == [0.0, 0.0]


def test_paired_f1_difference_is_the_corpus_f1_gap():
    # A: tp 8, fp 2, fn 2 -> F1 0.8; B: tp 6, fp 4, fn 4 -> F1 0.6.
    counts_a = [(2, 0, 1), (3, 1, 0), (3, 1, 1), (0, 0, 0)]
    counts_b = [(1, 1, 2), (2, 2, 1), (3, 1, 1), (0, 0, 0)]
    result = paired_f1_difference(counts_a, counts_b)
    assert result["difference"] == pytest.approx(20.0)
    low, high = result["ci95"]
    assert low <= 20.0 <= high


def test_paired_f1_interval_clears_zero_only_for_a_consistent_gap():
    # A finds every entity of 200 docs; B misses one in every doc: a clear gap.
    counts_a = [(2, 0, 0)] * 200
    counts_b = [(1, 0, 1)] * 200
    clear = paired_f1_difference(counts_a, counts_b)
    assert clear["ci95"][0] > 0
    # Half the docs favour A, half favour B by the same amount: no clear winner.
    mixed_a = [(2, 0, 0), (1, 0, 1)] * 100
    mixed_b = [(1, 0, 1), (2, 0, 0)] * 100
    mixed = paired_f1_difference(mixed_a, mixed_b)
    assert mixed["difference"] == pytest.approx(0.0)
    assert mixed["ci95"][0] < 0 < mixed["ci95"][1]


def test_paired_f1_needs_the_same_docs():
    with pytest.raises(ValueError, match="3 against 2 docs"):
        paired_f1_difference([(1, 0, 0)] * 3, [(1, 0, 0)] * 2)
