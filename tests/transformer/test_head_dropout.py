"""The heads' dropout keeps its configured rate whatever ``nlp.update(drop=...)`` says."""

import numpy
import pytest
from spacy.training import Example
from thinc.api import set_dropout_rate

from spacy_ft.transformer.head_dropout import head_dropout
from tests.test_classifier import bert_path, build  # noqa: F401 - bert_path is a fixture


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


def test_classifier_keeps_its_configured_rate_through_nlp_update(bert_path):  # noqa: F811
    nlp = build(bert_path, model={"dropout": 0.25})
    examples = [Example.from_dict(nlp.make_doc("good day"), {"cats": {"POS": 1.0, "NEG": 0.0}})]
    optimizer = nlp.initialize(lambda: examples)
    model = nlp.get_pipe("spacy_ft_textcat").model
    for drop in (0.0, 0.9):
        nlp.update(examples, sgd=optimizer, drop=drop)
        assert model.get_ref("head_dropout").attrs["head_dropout_rate"] == 0.25
    set_dropout_rate(model, 0.9)  # what every spaCy component's update does
    assert model.get_ref("head_dropout").attrs["head_dropout_rate"] == 0.25
