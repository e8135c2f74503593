"""``spacy_ft.TransformerModel.v2(freeze_embeddings=true)``: training moves every weight
but the input word-embedding table, and the pipeline still round-trips; ``v3`` with
``frozen_embeddings_dtype = "float16"`` saves that table in fp16 without losing a bit."""

import numpy
import pytest
import spacy
from thinc.api import fix_random_seed

from tests.util import WINDOW, build_textcat, sentiment, textcat_examples


def transformer_weights(nlp):
    hf_model = nlp.get_pipe("transformer").model.transformer
    return {name: param.detach().numpy().copy() for name, param in hf_model.named_parameters()}


def textcat_pipeline(textcat_bert, architecture, **settings):
    """The tiny classifier pipeline with its transformer built by ``architecture``."""
    nlp = build_textcat(textcat_bert)
    model = {
        "@architectures": architecture,
        "name": textcat_bert,
        "tokenizer_config": {"use_fast": True},
        "get_spans": WINDOW,
        **settings,
    }
    nlp.replace_pipe("transformer", "transformer", config={"model": model})
    return nlp


def train(textcat_bert, freeze):
    nlp = textcat_pipeline(textcat_bert, "spacy_ft.TransformerModel.v2", freeze_embeddings=freeze)
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


def saved_table(path):
    """The input-embedding table as stored in a saved pipeline's transformer weights."""
    import io

    import srsly
    import torch

    msg = srsly.msgpack_loads((path / "transformer" / "model").read_bytes())
    (shim_bytes,) = [data for node_shims in msg["shims"] for data in node_shims]
    shim = srsly.msgpack_loads(shim_bytes)
    state = torch.load(io.BytesIO(shim["state"]), map_location="cpu")
    return state["embeddings.word_embeddings.weight"]


def half_table_pipeline(textcat_bert, freeze=True, dtype="float16"):
    return textcat_pipeline(
        textcat_bert, "spacy_ft.TransformerModel.v3", freeze_embeddings=freeze, frozen_embeddings_dtype=dtype
    )


def test_half_table_is_rounded_saved_in_fp16_and_round_trips_exactly(textcat_bert, tmp_path):
    import torch

    nlp = half_table_pipeline(textcat_bert)
    examples = textcat_examples(nlp, sentiment(24, seed=0))
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    table = nlp.get_pipe("transformer").model.transformer.get_input_embeddings().weight
    assert table.dtype == torch.float32  # computed with in fp32 ...
    assert torch.equal(table, table.half().float())  # ... holding fp16 values
    for _ in range(2):
        nlp.update(examples, sgd=optimizer)
    texts = [text for text, _ in sentiment(6, seed=1)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "half")
    assert saved_table(tmp_path / "half").dtype == torch.float16
    loaded = spacy.load(tmp_path / "half")
    loaded_table = loaded.get_pipe("transformer").model.transformer.get_input_embeddings().weight
    assert torch.equal(loaded_table, table)
    assert not loaded_table.requires_grad  # a loaded pipeline trained further keeps it frozen
    got = [doc.cats for doc in loaded.pipe(texts)]
    assert len(got) == len(expected) == len(texts)
    for cats, reference in zip(got, expected):
        assert cats == reference  # no precision lost between the trained and the saved pipeline
    # Saving the loaded pipeline again stores the same (fp16) table.
    loaded.to_disk(tmp_path / "again")
    assert torch.equal(saved_table(tmp_path / "again"), saved_table(tmp_path / "half"))


def test_half_table_needs_a_frozen_table(textcat_bert):
    with pytest.raises(ValueError, match="needs freeze_embeddings = true"):
        half_table_pipeline(textcat_bert, freeze=False)
    with pytest.raises(ValueError, match="frozen_embeddings_dtype"):
        half_table_pipeline(textcat_bert, dtype="bfloat16")
