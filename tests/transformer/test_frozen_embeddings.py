"""``spacy_ft.TransformerModel.v2(freeze_embeddings=true)``: training moves every weight
but the input word-embedding table, and the pipeline still round-trips."""

import numpy
import pytest
import spacy
from thinc.api import fix_random_seed

from tests.util import WINDOW, build_textcat, sentiment, textcat_examples


def transformer_weights(nlp):
    hf_model = nlp.get_pipe("transformer").model.transformer
    return {name: param.detach().numpy().copy() for name, param in hf_model.named_parameters()}


def train(textcat_bert, freeze):
    nlp = build_textcat(textcat_bert)
    nlp.replace_pipe(
        "transformer",
        "transformer",
        config={
            "model": {
                "@architectures": "spacy_ft.TransformerModel.v2",
                "name": textcat_bert,
                "tokenizer_config": {"use_fast": True},
                "get_spans": WINDOW,
                "freeze_embeddings": freeze,
            }
        },
    )
    examples = textcat_examples(nlp, sentiment(24, seed=0))
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    before = transformer_weights(nlp)
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    return nlp, before, transformer_weights(nlp)


@pytest.mark.parametrize("freeze", [True, False])
def test_only_the_embedding_table_is_frozen(textcat_bert, freeze):
    _, before, after = train(textcat_bert, freeze)
    table = "embeddings.word_embeddings.weight"
    assert table in before
    moved = {name for name in before if not numpy.array_equal(before[name], after[name])}
    assert (table in moved) is not freeze
    # The rest of the encoder trains either way.
    assert "encoder.layer.0.attention.self.query.weight" in moved
    assert len(moved) >= len(before) - 3  # at most the frozen table and unused rows' tables


def test_frozen_pipeline_round_trips(textcat_bert, tmp_path):
    nlp, _, _ = train(textcat_bert, freeze=True)
    texts = [text for text, _ in sentiment(6, seed=1)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "frozen")
    loaded = spacy.load(tmp_path / "frozen")
    got = [doc.cats for doc in loaded.pipe(texts)]
    assert len(got) == len(expected) == len(texts)
    for cats, reference in zip(got, expected):
        assert cats.keys() == reference.keys()
        for label in cats:
            assert cats[label] == pytest.approx(reference[label], abs=1e-6)
