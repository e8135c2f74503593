"""The benchmark harness: paired bootstrap intervals on known data, the shared
schedule and batches, and the report tables the task adapters print."""

import random

import bench_classifier
import bench_ner
import pytest
from harness import (
    PerDataset,
    batch_schedule,
    entity_counts,
    gap_check,
    learn_rate_at,
    paired_difference,
    paired_f1_difference,
    subsample,
)


def test_paired_difference_of_identical_systems_is_zero():
    scores = [1, 0, 1, 1, 0, 1, 0, 1]
    result = paired_difference([(scores, scores)])
    assert result["difference"] == 0.0
    assert result["ci95"] == [0.0, 0.0]


def test_paired_difference_averages_the_seeds():
    a = [1] * 50 + [0] * 50
    b = [0] * 50 + [0] * 50
    result = paired_difference([(a, b), (a, a)])
    assert result["per_seed"] == [50.0, 0.0]
    assert result["difference"] == pytest.approx(25.0)
    low, high = result["ci95"]
    assert 0 < low < 25.0 < high


def test_paired_difference_needs_the_same_docs():
    with pytest.raises(ValueError, match="3 against 2 docs"):
        paired_difference([([1, 0, 1], [1, 0])])


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


def test_entity_counts_are_per_doc_tp_fp_fn():
    gold = [[(0, 2, "PER"), (3, 5, "ORG")], []]
    predicted = [{(0, 2, "PER"), (3, 4, "ORG")}, {(1, 2, "LOC")}]
    assert entity_counts(gold, predicted) == [(1, 1, 1), (0, 1, 0)]


def test_gap_check_says_where_the_interval_puts_the_bound():
    clear = gap_check("a >= b", 80.0, 70.0, {"difference": 10.0, "ci95": [5.0, 15.0]}, 0.0)
    assert clear["passed"] and "met beyond noise" in clear["value"]
    tie = gap_check("a >= b + 1", 80.5, 80.0, {"difference": 0.5, "ci95": [-2.0, 3.0]}, -1.0)
    assert not tie["passed"] and "a tie" in tie["value"]
    assert gap_check("a >= b", 1.0, 2.0, None, 0.0) == {
        "check": "a >= b",
        "value": "1.00 vs 2.00",
        "passed": False,
    }


def test_schedule_warms_up_then_decays_to_zero():
    rates = [learn_rate_at(step, 10, 1.0, 0.2) for step in range(10)]
    assert rates[:2] == [0.5, 1.0]
    assert rates[-1] == pytest.approx(0.125)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:]))


def test_batches_are_the_same_for_every_system_and_cover_the_steps():
    lengths = [random.Random(0).randint(1, 50) for _ in range(37)]
    batches = batch_schedule(lengths, steps=12, batch_size=4, seed=3, pool=5)
    assert batches == batch_schedule(lengths, steps=12, batch_size=4, seed=3, pool=5)
    assert len(batches) == 12 and all(len(batch) == 4 for batch in batches)
    assert subsample(list(range(10)), 0, random.Random(1)) != list(range(10))
    assert len(subsample(list(range(10)), 3, random.Random(1))) == 3


def test_per_dataset_options():
    option = PerDataset(float, "1e-3,sst2=2e-4", ["sst2", "chnsenticorp"])
    assert option("sst2") == 2e-4 and option("chnsenticorp") == 1e-3
    with pytest.raises(Exception, match="unknown dataset"):
        PerDataset(int, "wnut=3", ["sst2"])


TIMINGS = dict.fromkeys(("train_units_per_s", "infer_units_per_s", "train_s", "infer_s", "wall_s"), 1.0)
TIMING_COLUMNS = ["train u/s", "infer u/s", "train s", "infer s", "wall s"]


def header_of(table):
    return [cell.strip() for cell in table.splitlines()[0].split("  ") if cell.strip()]


def test_the_ner_table_keeps_its_columns():
    results = [
        {"system": system, "p": f, "r": f, "f": f, **TIMINGS}
        for system, f in (("spacy_ft_crf", 84.0), ("spacy_ner", 74.0))
    ]
    table = bench_ner.format_table([{"dataset": "resume", "lang": "zh", "unit": "chars", "results": results}])
    assert header_of(table) == ["dataset", "system", "P", "R", "F1", *TIMING_COLUMNS, "unit"]
    assert "spaCy ner (jieba tokens)" in table.splitlines()[3]


def test_the_classifier_table_keeps_its_columns():
    row = {"system": "spacy_ft", "accuracy": 86.0, "notes": {"head": {"pooling": "mean"}}, **TIMINGS}
    row["accuracy_per_seed"] = {0: 85.0, 1: 86.0}
    table = bench_classifier.format_table([{"dataset": "chnsenticorp", "unit": "chars", "summary": [row]}])
    assert header_of(table) == ["dataset", "system", "dev acc %", *TIMING_COLUMNS, "unit", "per seed"]
    assert "spacy_ft_textcat (mean)" in table.splitlines()[2] and "85.00 / 86.00" in table.splitlines()[2]


def test_the_training_benchmarks_parse_their_quick_settings():
    args = bench_ner.parse_args(["--quick", "--datasets", "resume"])
    assert args.steps("resume") == 10 and args.batch_size == 8 and args.zh_hidden == 32
    assert args.output.name == "ner_quick.json" and args.threads == 1
    args = bench_classifier.parse_args(["--datasets", "sst2", "--lr", "1e-4"])
    assert (
        args.lr("sst2") == 1e-4
        and args.runs("sst2") == 1
        and args.systems == ["spacy_ft", "spacy_textcat", "hf"]
    )
