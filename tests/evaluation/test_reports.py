"""spacy_ft.evaluation: confusion matrices and the displaCy page, on hand-built
examples with a known answer; one CLI run on a small spaCy pipeline (no transformer)."""

from __future__ import annotations

import json
import random

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_ft.evaluation.confusion import (
    ClassifierSettings,
    classifier_settings,
    confusion_matrix,
    format_confusion,
)
from spacy_ft.evaluation.displacy_page import displacy_page

EXCLUSIVE = ClassifierSettings(labels=["POS", "NEG", "NEU"])


@pytest.fixture(scope="module")
def nlp() -> spacy.Language:
    return spacy.blank("en")


def make_doc(nlp, text: str, ents=(), cats=None) -> Doc:
    doc = nlp.make_doc(text)
    doc.ents = [doc.char_span(start, end, label=label) for start, end, label in ents]
    doc.cats = dict(cats or {})
    return doc


def cats_example(nlp, predicted: dict, gold: dict, text: str = "some text") -> Example:
    return Example(make_doc(nlp, text, cats=predicted), make_doc(nlp, text, cats=gold))


def one_hot(label: str, labels=("POS", "NEG", "NEU")) -> dict:
    return {name: float(name == label) for name in labels}


def scores(pos: float, neg: float, neu: float) -> dict:
    return {"POS": pos, "NEG": neg, "NEU": neu}


def test_exclusive_confusion_matrix_has_exact_counts(nlp):
    pairs = [  # (predicted scores, gold label)
        (scores(0.8, 0.1, 0.1), "POS"),
        (scores(0.6, 0.3, 0.1), "POS"),
        (scores(0.2, 0.7, 0.1), "POS"),
        (scores(0.1, 0.8, 0.1), "NEG"),
        (scores(0.5, 0.4, 0.1), "NEG"),
        (scores(0.3, 0.3, 0.4), "NEU"),
    ]
    examples = [cats_example(nlp, predicted, one_hot(gold)) for predicted, gold in pairs]
    examples.append(cats_example(nlp, scores(0.9, 0.05, 0.05), {}))  # no gold: skipped
    examples.append(cats_example(nlp, {}, one_hot("NEG")))  # no prediction: skipped
    examples.append(
        cats_example(nlp, scores(0.1, 0.1, 0.8), {"MIXED": 1.0})
    )  # gold label unknown to the model
    confusion = confusion_matrix(examples, EXCLUSIVE)
    assert confusion["multi_label"] is False
    assert confusion["labels"] == ["POS", "NEG", "NEU", "MIXED"]
    assert confusion["matrix"] == {
        "POS": {"POS": 2, "NEG": 1, "NEU": 0, "MIXED": 0},
        "NEG": {"POS": 1, "NEG": 1, "NEU": 0, "MIXED": 0},
        "NEU": {"POS": 0, "NEG": 0, "NEU": 1, "MIXED": 0},
        "MIXED": {"POS": 0, "NEG": 0, "NEU": 1, "MIXED": 0},
    }
    assert confusion["skipped"] == 2
    assert json.loads(json.dumps(confusion)) == confusion


def test_exclusive_table_shows_the_counts(nlp):
    examples = [cats_example(nlp, scores(0.8, 0.1, 0.1), one_hot("NEG")) for _ in range(12)]
    examples.append(cats_example(nlp, {}, {}))
    text = format_confusion(confusion_matrix(examples, EXCLUSIVE), "textcat")
    lines = text.splitlines()
    assert lines[0] == "textcat confusion (rows: gold, columns: predicted)"
    assert lines[1].split() == ["gold", "\\", "predicted", "POS", "NEG", "NEU"]
    assert lines[2].split() == ["POS", "0", "0", "0"]
    assert lines[3].split() == ["NEG", "12", "0", "0"]
    assert lines[-1] == "1 docs without gold or predicted cats not counted"
    assert len({line.index("NEU") for line in lines[1:2]}) == 1


def test_multi_label_confusion_uses_each_labels_threshold(nlp):
    settings = ClassifierSettings(labels=["SPORT", "FOOD"], multi_label=True, thresholds={"FOOD": 0.2})
    pairs = [  # (predicted, gold)
        ({"SPORT": 0.9, "FOOD": 0.3}, {"SPORT": 1.0, "FOOD": 1.0}),  # SPORT tp, FOOD tp (0.3 >= 0.2)
        ({"SPORT": 0.4, "FOOD": 0.1}, {"SPORT": 1.0, "FOOD": 0.0}),  # SPORT fn, FOOD tn
        ({"SPORT": 0.6, "FOOD": 0.25}, {"SPORT": 0.0, "FOOD": 0.0}),  # SPORT fp, FOOD fp
        ({"SPORT": 0.1, "FOOD": 0.15}, {"SPORT": 0.0, "FOOD": 1.0}),  # SPORT tn, FOOD fn
        ({"SPORT": 0.5, "FOOD": 0.9}, {"FOOD": 1.0}),  # SPORT missing, FOOD tp
    ]
    confusion = confusion_matrix([cats_example(nlp, p, g) for p, g in pairs], settings)
    assert confusion == {
        "multi_label": True,
        "labels": {
            "SPORT": {"tp": 1, "fp": 1, "fn": 1, "tn": 1, "missing": 1, "threshold": 0.5},
            "FOOD": {"tp": 2, "fp": 1, "fn": 1, "tn": 1, "missing": 0, "threshold": 0.2},
        },
    }
    lines = format_confusion(confusion, "topics").splitlines()
    assert lines[0] == "topics confusion (multi-label, per label)"
    assert lines[1].split() == ["label", "threshold", "tp", "fp", "fn", "tn", "missing"]
    assert lines[2].split() == ["SPORT", "0.5000", "1", "1", "1", "1", "1"]
    assert lines[3].split() == ["FOOD", "0.2000", "2", "1", "1", "1", "0"]


def test_settings_are_read_from_the_component():
    pipeline = spacy.blank("en")
    exclusive = pipeline.add_pipe("textcat")
    multi = pipeline.add_pipe("textcat_multilabel", config={"threshold": 0.3})
    ours = pipeline.add_pipe("spacy_ft_textcat", config={"multi_label": True, "threshold": 0.4})
    for pipe, labels in ((exclusive, "AB"), (multi, "XY"), (ours, "CD")):
        for label in labels:
            pipe.add_label(label)
    ours.cfg["thresholds"] = {"C": 0.2}  # as tune_thresholds stores them
    settings = classifier_settings(exclusive)  # its threshold is unused: exclusive takes the top label
    assert (settings.labels, settings.multi_label, settings.decide({"A": 0.4, "B": 0.6})) == (
        ["A", "B"],
        False,
        ["B"],
    )
    assert classifier_settings(multi) == ClassifierSettings(["X", "Y"], True, 0.3, {})
    settings = classifier_settings(ours)
    assert (settings.multi_label, settings.threshold_for("C"), settings.threshold_for("D")) == (
        True,
        0.2,
        0.4,
    )
    assert settings.decide({"C": 0.25, "D": 0.35}) == ["C"]


def test_displacy_page_marks_differences_and_shows_entities(nlp):
    zh = spacy.blank("zh")
    right = Example(
        make_doc(nlp, "John lives in Paris", [(0, 4, "PER"), (14, 19, "LOC")], scores(0.7, 0.2, 0.1)),
        make_doc(nlp, "John lives in Paris", [(0, 4, "PER"), (14, 19, "LOC")], one_hot("POS")),
    )
    missed = Example(
        make_doc(nlp, "Mary met Bob <b>today</b>", [(0, 4, "PER")], scores(0.2, 0.7, 0.1)),
        make_doc(nlp, "Mary met Bob <b>today</b>", [(0, 4, "PER"), (9, 12, "PER")], one_hot("NEG")),
    )
    chinese = Example(
        make_doc(zh, "张三在北京", [(0, 2, "PER")], scores(0.1, 0.1, 0.8)),
        make_doc(zh, "张三在北京", [(0, 2, "PER")], one_hot("POS")),
    )
    page = displacy_page([right, missed, chinese, right], limit=3, settings=EXCLUSIVE)
    assert page.lstrip().startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page
    assert "The first 3 of 4 docs; 2 differ from gold" in page
    for text in ("John", "Paris", "Mary", "张三", "北京", "PER", "LOC"):
        assert text in page
    assert "&lt;b&gt;today&lt;/b&gt;" in page and "<b>today" not in page
    sections = page.split("<section")[1:]
    assert len(sections) == 3
    assert 'class="agrees"' in sections[0] and "differs from gold" not in sections[0]
    assert "POS 0.700, NEG 0.200, NEU 0.100" in sections[0]
    # entities differ: the gold doc, with the missed Bob, is rendered too
    assert 'class="differs"' in sections[1] and sections[1].count("Bob") == 2
    # only the cats differ: gold cats shown, entities rendered once
    assert "differs from gold" in sections[2] and "gold</b> cats: POS 1.000" in sections[2]
    assert sections[2].count("张三") == 1
    plain = displacy_page([missed], show_gold=False)
    assert "differs from gold" in plain and plain.count("Bob") == 1


# -- CLI ---------------------------------------------------------------------------

POSITIVE = ["good", "great", "nice"]
NEGATIVE = ["bad", "awful", "poor"]
NAMES = ["John", "Mary", "Anna"]


def sentiment_docs(nlp, n: int, seed: int) -> list[Doc]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        positive = rng.random() < 0.5
        name = rng.choice(NAMES)
        text = f"{name} says the film was {rng.choice(POSITIVE if positive else NEGATIVE)}"
        docs.append(
            make_doc(nlp, text, [(0, len(name), "PER")], {"POS": float(positive), "NEG": float(not positive)})
        )
    return docs


def test_evaluate_command_writes_confusion_text_and_html(tmp_path):
    """A small spaCy pipeline (entity ruler + bag-of-words textcat) stands in
    for a trained transformer: the command treats any text classifier alike."""
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    bow = {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "ngram_size": 1,
        "no_output_layer": False,
    }
    nlp.add_pipe("textcat", config={"model": bow})
    train = [Example(nlp.make_doc(doc.text), doc) for doc in sentiment_docs(nlp, 40, seed=0)]
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: train)
    optimizer.learn_rate = 0.05
    for _ in range(20):
        nlp.update(train, sgd=optimizer)
    ruler.add_patterns([{"label": "PER", "pattern": name} for name in NAMES[:2]])  # misses Anna
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=sentiment_docs(nlp, 12, seed=1)).to_disk(tmp_path / "dev.spacy")

    out = {name: tmp_path / name for name in ("s.json", "report.txt", "sample.html")}
    args = [str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "-o", str(out["s.json"])]
    args += ["--text", str(out["report.txt"]), "--html", str(out["sample.html"]), "--html-limit", "5"]
    result = CliRunner().invoke(app, ["evaluate", *args])
    assert result.exit_code == 0, result.output

    scores_json = json.loads(out["s.json"].read_text())
    assert scores_json["docs"] == 12
    assert {"ents", "textcat", "confusion"} <= set(scores_json)
    confusion = scores_json["confusion"]["textcat"]
    assert confusion["labels"] == ["POS", "NEG"] and confusion["skipped"] == 0
    assert confusion["matrix"] == {"POS": {"POS": 7, "NEG": 0}, "NEG": {"POS": 0, "NEG": 5}}

    report = out["report.txt"].read_text(encoding="utf-8")
    assert "weighted avg" in report and "textcat confusion" in report
    assert report.strip() in result.output.replace("\r", "")
    page = out["sample.html"].read_text(encoding="utf-8")
    assert page.count("<section") == 5 and "PER" in page and "The first 5 of 12 docs" in page
    assert "differ from gold" in page
    assert scores_json["ents"]["micro avg"]["recall"] < 1.0  # the ruler misses Anna


def test_evaluate_command_imports_code_like_spacy_evaluate(tmp_path):
    """``-c/--code`` and ``-g/--gpu-id`` as spaCy's own evaluate has them: the user's code
    file is imported before the pipeline loads."""
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    marker = tmp_path / "imported.txt"
    code = tmp_path / "functions.py"
    code.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Anna"}])
    nlp.to_disk(tmp_path / "model")
    DocBin(docs=[nlp("Anna was here")]).to_disk(tmp_path / "dev.spacy")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "model"), str(tmp_path / "dev.spacy"),
                                      "-c", str(code), "-g", "-1", "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    assert marker.is_file()  # the command imported the user's code
    assert json.loads((tmp_path / "s.json").read_text())["ents"]["micro avg"]["f1"] == 1.0
