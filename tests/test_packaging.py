"""A pipeline built by `spacy package` loads by name in a fresh environment and
predicts exactly what the training output predicted."""

import subprocess
import sys

import pytest
import spacy

from spacy_ft.packaging import differences, smoke_load
from spacy_ft.testing import make_tiny_bert
from tests.conftest import JIEBA
from tests.ner_data import corpus, glued_words
from tests.test_ner import WINDOW, examples, train

TEXTS = ["今天张伟队和北京站开始了。", "", "   ", "北京" * 300]


def test_differences_name_every_doc_that_disagrees():
    expected = [{"ents": [[0, 2, "PER"]], "cats": {"POS": 0.9, "NEG": 0.1}}] * 2
    got = [
        {"ents": [[0, 3, "PER"]], "cats": {"POS": 0.9, "NEG": 0.1}},
        {"ents": [[0, 2, "PER"]], "cats": {"POS": 0.8, "NEG": 0.2}},
    ]
    problems = differences(expected, got, ["a", "b"])
    assert len(problems) == 2
    assert problems[0].startswith("doc 0 'a': ents") and problems[1].startswith("doc 1 'b': cats")
    assert differences(expected, expected, ["a", "b"]) == []
    assert differences(expected, expected[:1], ["a", "b"]) == ["1 docs came back for 2 texts"]


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    """A Jieba + transformer + classifier + NER pipeline with a user dictionary, trained briefly."""
    data = corpus(200, seed=1)
    bert = make_tiny_bert(tmp_path_factory.mktemp("pkg_bert"), [t for t, _ in data] + TEXTS)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words(glued_words())
    nlp.add_pipe(
        "transformer",
        config={"model": {"@architectures": "spacy_ft.TransformerModel.v1", "name": str(bert), "get_spans": WINDOW}},
    )
    nlp.add_pipe("spacy_ft_textcat")
    nlp.add_pipe("spacy_ft_ner")
    nlp.add_pipe("spacy_ft_trf_cleanup")
    train_examples = examples(nlp, data)
    for eg in train_examples:  # a learnable class: does the doc have a LOC?
        has_loc = any(ent.label_ == "LOC" for ent in eg.reference.ents)
        eg.reference.cats = {"LOC": float(has_loc), "NOLOC": float(not has_loc)}
    train(nlp, train_examples, steps=30)
    path = tmp_path_factory.mktemp("pkg_model") / "model"
    nlp.meta["name"], nlp.meta["version"] = "ft_pkgtest", "0.0.1"
    nlp.to_disk(path)
    return path


def test_packaged_pipeline_loads_by_name_in_a_fresh_venv(trained_dir, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(trained_dir), str(tmp_path), "--force"],
        check=True,
        capture_output=True,
    )
    dist = tmp_path / "zh_ft_pkgtest-0.0.1" / "dist" / "zh_ft_pkgtest-0.0.1.tar.gz"
    texts = [t for t, _ in corpus(20, seed=2)] + TEXTS
    result = smoke_load(dist, "zh_ft_pkgtest", trained_dir, texts, tmp_path / "venv")
    assert result["pipeline"] == ["transformer", "spacy_ft_textcat", "spacy_ft_ner", "spacy_ft_trf_cleanup"]
    assert result["docs"] == len(texts) and result["entities"] > 0
    with pytest.raises(ModuleNotFoundError):  # installed only in the fresh environment
        __import__("zh_ft_pkgtest")


def test_loading_a_full_pipeline_imports_no_optional_extra(trained_dir):
    """Production apps call spacy.load: the extras (tuning, Ray, serving, ONNX, the bias
    audit's libraries) must stay out of that process."""
    code = f"""
import json, sys, spacy
nlp = spacy.load({str(trained_dir)!r})
nlp("张伟在北京工作。")
extras = ["optuna", "ray", "fastapi", "uvicorn", "onnxruntime", "fairlearn", "matplotlib", "plotly"]
print(json.dumps([m for m in extras if m in sys.modules]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
