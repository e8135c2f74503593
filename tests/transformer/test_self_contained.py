"""A saved pipeline carries its weights: loading it needs no weights package.

Configs may name the transformer ``pkg:PACKAGE/SUBDIR`` (weights inside an installed
Python package). The name is resolved when the pipeline is initialized; a saved
pipeline must load and predict in an interpreter where that package does not exist.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from tests.util import JIEBA, WINDOW, glued_words, ner_corpus, ner_examples, train_ner

PACKAGE = "spacy_ft_test_weights"

_LOAD = r"""
import importlib.util, json, sys
import spacy
assert importlib.util.find_spec(sys.argv[2]) is None, "the weights package is visible"
nlp = spacy.load(sys.argv[1])
texts = json.load(sys.stdin)
print(json.dumps([[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)]))
"""


def weights_package(root: Path, bert_dir: str) -> Path:
    """An importable package ``PACKAGE`` under ``root`` with the tiny BERT in ``model/``."""
    package = root / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    shutil.copytree(bert_dir, package / "model")
    return root


def pkg_pipeline(name: str) -> spacy.Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words(glued_words())
    nlp.add_pipe(
        "transformer",
        config={"model": {"@architectures": "spacy_ft.TransformerModel.v1", "name": name, "get_spans": WINDOW}},
    )
    nlp.add_pipe("spacy_ft_ner", config={"model": {"crf": True}})
    return nlp


def test_building_needs_no_package_and_initialize_names_it():
    nlp = pkg_pipeline("pkg:spacy_ft_no_such_package/model")  # building reads nothing
    examples = ner_examples(nlp, ner_corpus(4, seed=1))
    with pytest.raises(ValueError, match="spacy_ft_no_such_package.*is not installed"):
        nlp.initialize(lambda: examples)


@pytest.mark.slow
def test_saved_pipeline_loads_without_the_weights_package(ner_bert, tmp_path, monkeypatch):
    root = weights_package(tmp_path / "site", ner_bert)
    monkeypatch.syspath_prepend(str(root))
    nlp = pkg_pipeline(f"pkg:{PACKAGE}/model")
    examples = ner_examples(nlp, ner_corpus(200, seed=1))
    train_ner(nlp, examples, steps=40)
    texts = [eg.reference.text for eg in examples[:20]]
    expected = [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(texts)]
    assert sum(map(len, expected)) > 0
    nlp.to_disk(tmp_path / "pipeline")
    config = (tmp_path / "pipeline" / "config.cfg").read_text(encoding="utf-8")
    assert f'name = "pkg:{PACKAGE}/model"' in config  # no path of this machine in the config
    assert str(root) not in config
    shutil.rmtree(root)  # the weights package is gone, as on a production machine
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, str(tmp_path / "pipeline"), PACKAGE],
        input=json.dumps(texts), capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
