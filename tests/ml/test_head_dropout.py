"""The heads' dropout applies its configured rate in training whatever
``nlp.update(drop=...)`` says, and none in prediction: measured on what the layer
actually outputs during ``nlp.update``, not read back from a setting."""

import numpy
import pytest
from thinc.api import fix_random_seed

from spacy_ft.ml.head_dropout import head_dropout
from tests.util import build_ner, build_textcat, ner_corpus, ner_examples, sentiment, textcat_examples

#: How far the share of zeroed elements may stray from the rate (thousands of elements
#: per measurement: a few standard deviations).
TOLERANCE = 0.04


def test_drops_in_training_only():
    layer = head_dropout(0.5)
    X = numpy.ones((200, 50), dtype="f")
    trained, backprop = layer(X, is_train=True)
    dropped = float((trained == 0).mean())
    assert 0.4 < dropped < 0.6
    numpy.testing.assert_array_equal(backprop(numpy.ones_like(X)) == 0, trained == 0)
    predicted = layer.predict(X)
    numpy.testing.assert_array_equal(predicted, X)


def test_zero_rate_is_the_identity_in_training():
    X = numpy.arange(12, dtype="f").reshape(3, 4)
    trained, _ = head_dropout(0.0)(X, is_train=True)
    numpy.testing.assert_array_equal(trained, X)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_a_rate_outside_0_1_is_an_error(rate):
    with pytest.raises(ValueError, match=r"head dropout must be in \[0, 1\), got"):
        head_dropout(rate)


def spy_on(layer):
    """Record (input, output, is_train) of every forward pass of ``layer``."""
    calls = []
    forward = layer._func

    def recording(model, X, is_train):
        Y, backprop = forward(model, X, is_train)
        calls.append((numpy.array(model.ops.to_numpy(X)), numpy.array(model.ops.to_numpy(Y)), is_train))
        return Y, backprop

    layer._func = recording
    return calls


def applied_rate(calls, rate):
    """The share of the head's (non-zero) inputs that its output zeroed; the kept ones
    must be scaled by 1 / (1 - rate), as inverted dropout does."""
    assert calls, "the head dropout layer never ran"
    X = numpy.concatenate([x.ravel() for x, _, _ in calls])
    Y = numpy.concatenate([y.ravel() for _, y, _ in calls])
    live = X != 0
    assert live.sum() > 2000  # enough elements for the tolerance
    zeroed = Y[live] == 0
    kept = ~zeroed
    numpy.testing.assert_allclose(Y[live][kept], X[live][kept] / (1.0 - rate), rtol=1e-5, atol=1e-6)
    return float(zeroed.mean())


def measure(nlp, component, ref, examples, rate):
    """Train with nlp.update(drop=0.0) and drop=0.9: both must apply ``rate``; predicting
    must apply none."""
    optimizer = nlp.initialize(lambda: examples)
    calls = spy_on(nlp.get_pipe(component).model.get_ref(ref))
    fix_random_seed(0)
    for drop in (0.0, 0.9):
        calls.clear()
        for _ in range(2):
            nlp.update(examples, sgd=optimizer, drop=drop)
        assert all(is_train for _, _, is_train in calls)
        assert applied_rate(calls, rate) == pytest.approx(rate, abs=TOLERANCE), f"drop={drop}"
    calls.clear()
    list(nlp.pipe([eg.reference.text for eg in examples]))
    assert calls and not any(is_train for _, _, is_train in calls)
    assert all(numpy.array_equal(x, y) for x, y, _ in calls)  # no dropout in prediction


@pytest.mark.parametrize("rate", [0.0, 0.25])
def test_classifier_applies_its_configured_rate_in_nlp_update(textcat_bert, rate):
    nlp = build_textcat(textcat_bert, model={"dropout": rate})
    measure(nlp, "spacy_ft_textcat", "head_dropout", textcat_examples(nlp, sentiment(64, seed=3)), rate)


def test_ner_applies_its_configured_rate_in_nlp_update(ner_bert):
    nlp = build_ner(ner_bert, model={"dropout": 0.25})
    measure(nlp, "spacy_ft_ner", "dropout", ner_examples(nlp, ner_corpus(32, seed=1)), 0.25)
