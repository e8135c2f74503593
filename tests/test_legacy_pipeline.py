"""A pipeline saved by the code before the package restructuring loads and
predicts as it did then: registered names, saved bytes and behaviour held.

The fixture was written by ``tests/fixtures/make_legacy_pipeline.py`` at commit
8c7a67e, with its predictions beside it.
"""

import json
from pathlib import Path

import pytest
import spacy

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def expected():
    return json.loads((FIXTURES / "legacy_predictions.json").read_text(encoding="utf8"))


@pytest.fixture(scope="module")
def legacy_nlp():
    return spacy.load(FIXTURES / "legacy_pipeline")


def test_legacy_pipeline_has_every_component(legacy_nlp):
    assert legacy_nlp.pipe_names == ["transformer", "spacy_ft_textcat", "spacy_ft_ner", "spacy_ft_bias", "spacy_ft_trf_cleanup"]
    assert "张伟队" in {entry.word for entry in legacy_nlp.tokenizer.user_dict}


def test_legacy_pipeline_predicts_as_before(legacy_nlp, expected):
    texts = [record["text"] for record in expected]
    docs = list(legacy_nlp.pipe(texts))
    assert len(docs) == len(expected) == 16
    assert sum(len(record["ents"]) for record in expected) > 0  # the fixture predicts something
    assert sum(len(record["bias_terms"]) for record in expected) > 0
    for doc, record in zip(docs, expected):
        assert [t.text for t in doc] == record["tokens"], record["text"]
        assert [[e.start_char, e.end_char, e.label_] for e in doc.ents] == record["ents"], record["text"]
        assert [[s.start_char, s.end_char, s.label_] for s in doc.spans.get("bias_terms", [])] == record["bias_terms"]
        assert set(doc.cats) == set(record["cats"])
        for label, score in record["cats"].items():
            assert doc.cats[label] == pytest.approx(score, abs=1e-6), (record["text"], label)
