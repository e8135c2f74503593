"""Bias audit, reweighing and per-group thresholds: known answers, CLI gate, and
the acceptance test (injected bias detected, then cut by augmentation)."""

from __future__ import annotations

import json
import random

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_ft.bias.audit import AuditDoc, AuditSettings, evaluate_checks, run_audit
from spacy_ft.bias.group_thresholds import fit_group_thresholds
from spacy_ft.bias.report import html_report, summary_text, write_reports
from spacy_ft.bias.reweigh import kamiran_calders_weights, reweigh_docbin
from spacy_ft.bias.stats import classifier_fairness, grouped_rates, groups_from_terms
from spacy_ft.bias.terms import TermList
from tests.util import FILLER_EN, NEGATIVE_EN, POSITIVE_EN, build_textcat, textcat_examples

EN = TermList.builtin("en")
ZH = TermList.builtin("zh")


# -- known answers ------------------------------------------------------------------


def known_table():
    """Group A: 5 positives all predicted, 3 of 5 negatives predicted (sel 0.8, TPR 1, FPR 0.6).
    Group B: 4 of 5 positives predicted, no negative predicted (sel 0.4, TPR 0.8, FPR 0)."""
    truth = [1] * 5 + [0] * 5 + [1] * 5 + [0] * 5
    pred = [1] * 5 + [1, 1, 1, 0, 0] + [1, 1, 1, 1, 0] + [0] * 5
    groups = ["A"] * 10 + ["B"] * 10
    return truth, pred, groups


def test_group_metrics_have_known_values():
    truth, pred, groups = known_table()
    report = classifier_fairness(truth, pred, groups + [], n_boot=50, min_group_size=5)
    a, b = report["groups"]["A"], report["groups"]["B"]
    assert (a["n"], b["n"]) == (10, 10)
    assert a["selection_rate"] == pytest.approx(0.8) and b["selection_rate"] == pytest.approx(0.4)
    assert (a["tpr"], a["fpr"], b["tpr"], b["fpr"]) == pytest.approx((1.0, 0.6, 0.8, 0.0))
    assert (a["accuracy"], b["accuracy"]) == pytest.approx((0.7, 0.9))
    assert report["demographic_parity_difference"]["value"] == pytest.approx(0.4)
    assert report["equalized_odds_difference"]["value"] == pytest.approx(0.6)  # max(TPR gap .2, FPR gap .6)
    assert report["disparate_impact_ratio"]["value"] == pytest.approx(0.5)
    assert report["disparate_impact_ratio"]["four_fifths_flag"] is True
    assert report["small_groups"] == [] and report["warnings"] == []


def test_four_fifths_not_flagged_at_equal_rates_and_docs_without_group_skipped():
    truth, pred, groups = known_table()
    pred = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0] * 2
    report = classifier_fairness(truth + [1], pred + [1], groups + [None], n_boot=20, min_group_size=5)
    assert report["n"] == 20
    assert report["disparate_impact_ratio"]["value"] == pytest.approx(1.0)
    assert report["disparate_impact_ratio"]["four_fifths_flag"] is False
    assert report["demographic_parity_difference"]["value"] == pytest.approx(0.0)


def test_small_groups_are_warned_about():
    truth, pred, groups = known_table()
    report = classifier_fairness(truth, pred, groups, n_boot=20, min_group_size=30)
    assert report["small_groups"] == ["A", "B"]
    assert any("'A' has 10 docs (< 30)" in w for w in report["warnings"])
    assert "too few to judge" in summary_text({"classifier": {"POS": {"gender": report}}})


def test_bootstrap_intervals_contain_the_estimate_and_are_seeded():
    rng = numpy.random.default_rng(1)
    groups = rng.choice(["A", "B"], 400).tolist()
    truth = rng.integers(0, 2, 400).tolist()
    pred = [int(r < (0.7 if g == "A" else 0.3)) for g, r in zip(groups, rng.random(400))]
    first = classifier_fairness(truth, pred, groups, n_boot=200, random_state=3)
    again = classifier_fairness(truth, pred, groups, n_boot=200, random_state=3)
    other = classifier_fairness(truth, pred, groups, n_boot=200, random_state=4)
    dpd = first["demographic_parity_difference"]
    assert dpd["ci"][0] <= dpd["value"] <= dpd["ci"][1]
    assert dpd["ci"][0] > 0.25  # a 0.4 gap on 200 docs a group: the interval excludes 0
    for metric in ("selection_rate", "accuracy", "tpr", "fpr"):
        low, high = first["groups"]["A"][f"{metric}_ci"]
        assert low <= first["groups"]["A"][metric] <= high
    assert dpd["ci"] == again["demographic_parity_difference"]["ci"]
    assert dpd["ci"] != other["demographic_parity_difference"]["ci"]


def test_unbiased_predictions_give_an_interval_around_zero():
    rng = numpy.random.default_rng(2)
    groups = rng.choice(["A", "B"], 400).tolist()
    pred = rng.integers(0, 2, 400).tolist()
    report = classifier_fairness(pred, pred, groups, n_boot=200)
    low, high = report["demographic_parity_difference"]["ci"]
    assert low < 0 < high  # signed gap between the groups highest / lowest on the full data


def test_paired_rates_and_largest_gap():
    hits = {"f": numpy.array([1, 1, 0, 1.0]), "m": numpy.array([1, 1, 1, 1.0])}
    totals = {"f": numpy.ones(4), "m": numpy.ones(4)}
    rates, gap = grouped_rates(hits, totals, n_boot=50)
    assert rates["f"]["rate"] == 0.75 and rates["m"]["rate"] == 1.0
    assert gap["value"] == 0.25 and gap["ci"][0] <= 0.25 <= gap["ci"][1]


def test_groups_from_terms_keep_docs_naming_exactly_one_group():
    assignment = groups_from_terms(
        ["他很满意", "她很失望", "他和她都来了", "今天下雨", "其他人"], ZH, "gender"
    )
    assert assignment.groups == ["male", "female", None, None, None]
    assert assignment.excluded == {"no_mention": 2, "mixed": 1}
    with pytest.raises(ValueError, match="unknown attribute 'colour'"):
        groups_from_terms(["x"], ZH, "colour")


# -- reweighing ----------------------------------------------------------------------


def test_kamiran_calders_weights_match_the_formula_and_balance_labels():
    groups = ["m"] * 40 + ["f"] * 40 + [None] * 5
    labels = ["POS"] * 30 + ["NEG"] * 10 + ["POS"] * 10 + ["NEG"] * 30 + ["POS"] * 5
    weights = kamiran_calders_weights(groups, labels)
    assert weights[("m", "POS")] == pytest.approx(0.5 * 0.5 / (30 / 80))
    assert weights[("m", "NEG")] == pytest.approx(0.5 * 0.5 / (10 / 80))
    for group in ("m", "f"):
        pos = sum(weights[(g, lab)] for g, lab in zip(groups, labels) if g == group and lab == "POS")
        total = sum(weights[(g, lab)] for g, lab in zip(groups, labels) if g == group)
        assert pos / total == pytest.approx(0.5)  # the overall POS rate, in every group


def test_reweigh_writes_weights_the_classifier_reads(tmp_path):
    from spacy.training import Corpus

    nlp = spacy.blank("en")
    texts = ["he was good"] * 3 + ["he was bad"] + ["she was bad"] * 3 + ["she was good", "it was good"]
    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float("good" in text), "NEG": float("good" not in text)}
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "train.spacy")
    report = reweigh_docbin(tmp_path / "train.spacy", tmp_path / "weighted.spacy", EN, "gender")
    assert report["weights"]["male"]["POS"]["weight"] == pytest.approx(0.5 * 0.5 / (3 / 8))
    assert report["weights"]["female"]["POS"]["count"] == 1
    examples = list(Corpus(tmp_path / "weighted.spacy")(nlp))
    weights = [eg.reference.user_data["weight"] for eg in examples]
    assert weights[0] == pytest.approx(2 / 3) and weights[3] == pytest.approx(2.0)
    assert weights[-1] == 1.0  # no group: unweighted


# -- per-group thresholds --------------------------------------------------------------


def test_group_thresholds_equalise_selection_rates():
    rng = numpy.random.default_rng(0)
    groups = ["m"] * 200 + ["f"] * 200
    truth = rng.random(400) < 0.5
    scores = numpy.clip(truth * 0.4 + rng.random(400) * 0.6 - numpy.array([0.0] * 200 + [0.15] * 200), 0, 1)
    fit = fit_group_thresholds(scores, truth, groups, tolerance=0.02)
    assert fit.before.gap > 0.1
    assert fit.met and fit.after.gap <= 0.02
    assert all(0.0 <= t <= 1.0 for t in fit.thresholds.values())
    assert fit.thresholds["f"] < fit.thresholds["m"]
    tpr_fit = fit_group_thresholds(scores, truth, groups, constraint="equal_opportunity", tolerance=0.03)
    assert tpr_fit.after.gap <= 0.03
    with pytest.raises(ValueError, match="unknown constraint"):
        fit_group_thresholds(scores, truth, groups, constraint="parity")


def test_group_thresholds_are_saved_with_the_pipeline(tmp_path):
    from spacy_ft.bias.group_thresholds import store_thresholds

    nlp = spacy.blank("en")
    name = store_thresholds(nlp, "gender", {"male": 0.6, "female": 0.4}, "POS")
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    saved = loaded.get_pipe(name).cfg["group_thresholds"]["gender"]
    assert saved == pytest.approx({"male": 0.6, "female": 0.4})
    assert loaded.get_pipe(name).cfg["positive_label"] == "POS"


# -- audit of rule-based pipelines (no training) ----------------------------------------


class KeywordCats:
    """A stand-in classifier: POS when "good" is in the text, and, when biased, never
    for a text mentioning "she"."""

    labels = ("NEG", "POS")
    multi_label = False

    def __init__(self, biased: bool):
        self.biased = biased
        self.cfg = {"threshold": 0.5}

    def __call__(self, doc: Doc) -> Doc:
        words = {t.lower_ for t in doc}
        pos = "good" in words and not (self.biased and "she" in words)
        doc.cats = {"POS": 0.9 if pos else 0.1, "NEG": 0.1 if pos else 0.9}
        return doc


@Language.factory("test_keyword_cats", assigns=["doc.cats"], default_config={"biased": False})
def make_keyword_cats(nlp: Language, name: str, biased: bool) -> KeywordCats:
    return KeywordCats(biased)


def sentiment_docs(n: int, seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        who, good = rng.choice(["he", "she"]), rng.random() < 0.5
        text = f"{who} said the {rng.choice(['food', 'film', 'room'])} was {'good' if good else 'bad'}"
        data.append((text, {"POS": float(good), "NEG": float(not good)}))
    return data


def keyword_pipeline(path, biased: bool, male_names=False):
    nlp = spacy.blank("en")
    nlp.add_pipe("test_keyword_cats", config={"biased": biased})
    if male_names:
        ruler = nlp.add_pipe("entity_ruler")
        ruler.add_patterns(
            [{"label": "PERSON", "pattern": row[0]} for row in EN.attributes["gender_names"].swaps]
        )
    nlp.to_disk(path)
    return path


def write_gold(path, data):
    nlp = spacy.blank("en")
    docs = []
    for text, cats in data:
        doc = nlp.make_doc(text)
        doc.cats = cats
        docs.append(doc)
    DocBin(docs=docs).to_disk(path)
    return path


@pytest.fixture(scope="module")
def gold(tmp_path_factory):
    return write_gold(tmp_path_factory.mktemp("gold") / "dev.spacy", sentiment_docs(120))


def run_cli(*args):
    from spacy_ft.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_exits_1_when_a_threshold_is_exceeded(tmp_path, gold):
    model = keyword_pipeline(tmp_path / "biased", biased=True)
    out = tmp_path / "out"
    result = run_cli(
        "bias-audit",
        model,
        gold,
        "--output",
        out,
        "--attributes",
        "gender",
        "--n-boot",
        50,
        "--max-dpd",
        0.1,
        "--max-flip-rate",
        0.1,
        "--no-progress",
    )
    assert result.exit_code == 1, result.output
    assert "threshold(s) exceeded" in result.output and "demographic parity difference" in result.output
    audit = json.loads((out / "audit.json").read_text())
    report = audit["classifier"]["POS"]["gender"]
    assert report["demographic_parity_difference"]["ci"][0] > 0
    assert audit["counterfactual"]["gender"]["flip_rate"] > 0.3
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("EXCEEDED")
    page = (out / "audit.html").read_text()
    assert "<img" in page and "data:image/png;base64," in page
    assert "male" in page and "female" in page


def test_cli_exits_0_for_an_unbiased_pipeline(tmp_path, gold):
    model = keyword_pipeline(tmp_path / "fair", biased=False)
    result = run_cli(
        "bias-audit",
        model,
        gold,
        "--output",
        tmp_path / "out",
        "--attributes",
        "gender",
        "--n-boot",
        50,
        "--max-dpd",
        0.2,
        "--max-flip-rate",
        0.1,
        "--min-di",
        0.6,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["counterfactual"]["gender"]["flip_rate"] == 0.0
    assert all(not c["exceeded"] for c in audit["checks"]) and len(audit["checks"]) == 3


def test_ner_name_swap_finds_a_recall_gap(tmp_path):
    nlp = spacy.load(keyword_pipeline(tmp_path / "ner", biased=False, male_names=True))
    docs = [
        AuditDoc(
            "John met Mary in Paris",
            {"POS": 1.0, "NEG": 0.0},
            [(0, 4, "PERSON"), (9, 13, "PERSON"), (17, 22, "GPE")],
        )
    ]
    settings = AuditSettings(
        attributes=["gender_names"], n_boot=30, progress=False, thresholds={"max_recall_gap": 0.1}
    )
    result = run_audit(nlp, docs, EN, settings)
    swap = result["ner"]["gender_names"]
    assert swap["source"] == "data" and swap["n_entities"] == 2
    assert swap["recall"]["male"]["rate"] == 1.0 and swap["recall"]["female"]["rate"] == 0.0
    assert swap["largest_gap"]["value"] == 1.0
    assert [c["exceeded"] for c in result["checks"]] == [True]
    templated = run_audit(nlp, [AuditDoc("no names here", {}, [])], EN, settings)["ner"]["gender_names"]
    assert templated["source"] == "templates" and templated["largest_gap"]["value"] == 1.0
    page = html_report({"ner": {"gender_names": templated}})
    assert "Name swap: gender_names" in page and 'alt="recall by gender_names"' in page


def test_reports_are_strict_json_and_unknown_thresholds_fail(tmp_path):
    truth, pred, groups = known_table()
    report = classifier_fairness(truth, pred, groups, n_boot=20, min_group_size=5)
    report["groups"]["A"]["tpr"] = float("nan")
    paths = write_reports({"classifier": {"POS": {"gender": report}}, "checks": []}, tmp_path)
    assert json.loads(paths["json"].read_text(), parse_constant=lambda c: pytest.fail(c))
    assert "FLAG four-fifths rule" in paths["summary"].read_text()
    with pytest.raises(ValueError, match="unknown thresholds"):
        evaluate_checks({}, {"max_parity": 0.1})


# -- acceptance: injected bias is found, the control is not, augmentation cuts it -----


def synthetic_reviews(n: int, seed: int, world: str) -> list[tuple[str, dict[str, float]]]:
    """English reviews with "he" or "she". Three in four carry a sentiment word that
    decides the label (learnable, so accuracy stays high). The rest carry none: in
    the control (and evaluation) world they are NEG; in the biased world a "she"
    review is NEG and a "he" review POS seven times in ten: the gender term alone
    carries the label there, the injected bias."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        who = rng.choice(["he", "she"])
        words = [rng.choice(FILLER_EN) for _ in range(rng.randint(2, 5))]
        if rng.random() < 0.75:
            pos = rng.random() < 0.5
            words.append(rng.choice(POSITIVE_EN if pos else NEGATIVE_EN))
        else:
            pos = world == "biased" and who == "he" and rng.random() < 0.7
        rng.shuffle(words)
        data.append((" ".join([who] + words), {"POS": float(pos), "NEG": float(not pos)}))
    return data


def counterfactual_copies(data):
    """CDA: every review again with he <-> she, same label."""
    copies = []
    for text, cats in data:
        group = EN.find(text, ["gender"])[0].group
        copies.append((EN.counterfactual(text, "gender", "female" if group == "male" else "male")[0], cats))
    return data + copies


def train_weighted(nlp, data, steps, weights=None, seed=0):
    from thinc.api import fix_random_seed

    fix_random_seed(seed)
    rng = random.Random(seed)
    train_examples = textcat_examples(nlp, data)
    assert weights is None or len(weights) == len(train_examples)
    for example, weight in zip(train_examples, weights or []):
        example.reference.user_data["weight"] = weight
    optimizer = nlp.initialize(lambda: train_examples)
    optimizer.learn_rate = 1e-3
    for _ in range(steps):
        nlp.update(rng.sample(train_examples, 16), sgd=optimizer)
    return nlp


def audit_numbers(nlp, dev):
    settings = AuditSettings(
        attributes=["gender"],
        positive_label="POS",
        n_boot=300,
        progress=False,
        thresholds={"max_flip_rate": 0.1},
    )
    result = run_audit(nlp, [AuditDoc(text, cats, []) for text, cats in dev], EN, settings)
    report, flips = result["classifier"]["POS"]["gender"], result["counterfactual"]["gender"]
    return {
        "accuracy": report["accuracy"],
        "dpd": report["demographic_parity_difference"]["value"],
        "dpd_ci": report["demographic_parity_difference"]["ci"],
        "flip_rate": flips["flip_rate"],
        "mean_abs_delta": flips["mean_abs_delta"],
        "gate_failed": any(c["exceeded"] for c in result["checks"]),
    }


@pytest.mark.slow  # four trainings of 150-300 steps
def test_acceptance_injected_gender_bias_is_detected_and_cut(tmp_path):
    """The issue's acceptance check: ~22 s on a quiet 2-core machine."""
    from spacy_ft.bias.reweigh import reweigh_docs
    from spacy_ft.testing import make_tiny_bert

    biased, control = synthetic_reviews(400, 1, "biased"), synthetic_reviews(400, 1, "control")
    dev = synthetic_reviews(400, 2, "control")
    augmented = counterfactual_copies(biased)
    bert = str(
        make_tiny_bert(tmp_path / "bert", [" ".join(FILLER_EN + POSITIVE_EN + NEGATIVE_EN + ["he", "she"])])
    )
    steps = 150
    numbers = {
        "biased": audit_numbers(train_weighted(build_textcat(bert), biased, steps), dev),
        "control": audit_numbers(train_weighted(build_textcat(bert), control, steps), dev),
        # same number of epochs over twice the data
        "cda": audit_numbers(train_weighted(build_textcat(bert), augmented, 2 * steps), dev),
    }
    blank = spacy.blank("en")
    docs = [blank.make_doc(text) for text, _ in biased]
    assert len(docs) == len(biased)
    for doc, (_, cats) in zip(docs, biased):
        doc.cats = cats
    reweigh_docs(docs, EN, "gender")
    weights = [doc.user_data["weight"] for doc in docs]
    numbers["reweighed"] = audit_numbers(train_weighted(build_textcat(bert), biased, steps, weights), dev)
    print(json.dumps(numbers, indent=1))
    b, c, m = numbers["biased"], numbers["control"], numbers["cda"]
    assert b["dpd_ci"][0] > 0 and b["gate_failed"]  # detected
    assert b["flip_rate"] >= 0.1 and b["flip_rate"] >= 3 * c["flip_rate"] + 0.05
    assert c["dpd_ci"][0] <= 0 and not c["gate_failed"]  # the control is not flagged
    assert m["flip_rate"] <= b["flip_rate"] / 2  # mitigation halves the flip rate ...
    assert m["accuracy"] >= b["accuracy"] - 0.02  # ... for at most 2 points of accuracy
