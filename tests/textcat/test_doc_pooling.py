"""The doc pooling layer against spacy-transformers' own alignment, and its gradient."""

import numpy
import pytest
import spacy
from thinc.api import reduce_mean

from spacy_ft.textcat.doc_pooling import build_doc_pooling

TEXTS = ["the movie was good", "the food was bad and the day was very poor " * 6, "   "]


@pytest.fixture(scope="module")
def trf_datas(textcat_bert):
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": textcat_bert,
                "get_spans": {
                    "@span_getters": "spacy-transformers.strided_spans.v1",
                    "window": 16,
                    "stride": 12,
                },
            }
        },
    )
    nlp.initialize()
    datas = [doc._.trf_data for doc in nlp.pipe(TEXTS)]
    assert datas[1].model_output.last_hidden_state.shape[0] > 2  # the long doc spans several windows
    return datas


def pool(mode, datas):
    layer = build_doc_pooling(mode)
    layer.initialize(X=datas)
    return layer.begin_update(datas)


def hidden(data):
    return data.model_output.last_hidden_state


def test_cls_averages_first_wordpiece_of_every_window(trf_datas):
    pooled, _ = pool("cls", trf_datas)
    assert len(pooled) == len(trf_datas) == len(TEXTS)
    for row, data in zip(pooled, trf_datas):
        numpy.testing.assert_allclose(row, hidden(data)[:, 0, :].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_mean_matches_spacy_transformers_token_alignment(trf_datas):
    from spacy_transformers.layers.trfs2arrays import trfs2arrays

    token_vectors, _ = trfs2arrays(reduce_mean(), 1.0).begin_update(trf_datas[:2])
    pooled, _ = pool("mean", trf_datas[:2])
    assert len(pooled) == len(token_vectors) == 2
    for row, tokens, data in zip(pooled, token_vectors, trf_datas):
        has_wordpieces = data.align.lengths > 0
        numpy.testing.assert_allclose(row, tokens[has_wordpieces].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_max_covers_all_windows(trf_datas):
    pooled, _ = pool("max", trf_datas[:2])
    assert len(pooled) == 2
    for row, data in zip(pooled, trf_datas):
        flat = hidden(data).reshape(-1, hidden(data).shape[-1])
        numpy.testing.assert_allclose(row, flat[data.align.dataXd.ravel()].max(axis=0), rtol=1e-6)


def test_whitespace_doc_falls_back_to_cls(trf_datas):
    cls, _ = pool("cls", trf_datas[2:])
    for mode in ("mean", "max"):
        pooled, _ = pool(mode, trf_datas[2:])
        numpy.testing.assert_allclose(pooled, cls)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match=r"unknown pooling 'sum'"):
        build_doc_pooling("sum")


@pytest.mark.parametrize("mode", ["cls", "mean", "max"])
def test_gradient_matches_finite_differences(trf_datas, mode):
    from spacy_transformers.data_classes import TransformerData
    from transformers.file_utils import ModelOutput

    rng = numpy.random.default_rng(0)
    datas = trf_datas[:2]
    pooled, backprop = pool(mode, datas)
    direction = rng.normal(size=pooled.shape).astype("f")
    d_datas = backprop(direction)
    assert len(d_datas) == len(datas)
    deltas = [rng.normal(size=hidden(d).shape).astype("f") * 1e-3 for d in datas]
    moved = [
        TransformerData(
            wordpieces=d.wordpieces,
            model_output=ModelOutput(last_hidden_state=hidden(d) + delta),
            align=d.align,
        )
        for d, delta in zip(datas, deltas)
    ]
    pooled_moved, _ = pool(mode, moved)
    actual = float(((pooled_moved - pooled) * direction).sum())
    predicted = sum(float((hidden(g) * delta).sum()) for g, delta in zip(d_datas, deltas))
    assert predicted == pytest.approx(actual, rel=1e-2, abs=1e-5)
