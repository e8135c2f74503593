"""The packed BiLSTM: values equal to torch's LSTM run on each doc alone, gradients
equal to finite differences, and no doc sees another."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spacy_ft.char_encoder.packed_lstm import packed_bilstm


@pytest.fixture
def layer():
    torch.manual_seed(0)
    model = packed_bilstm(4, depth=2)
    model.initialize()
    return model


def docs(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 4)).astype("float32") for n in lengths]


def test_each_doc_is_run_alone(layer) -> None:
    Xs = docs([3, 1, 7, 2])
    lstm = layer.layers[0].shims[0]._model.lstm
    outputs = layer.predict(Xs)
    assert [Y.shape for Y in outputs] == [(3, 4), (1, 4), (7, 4), (2, 4)]
    for X, Y in zip(Xs, outputs):
        with torch.no_grad():
            reference, _ = lstm(torch.from_numpy(X)[:, None, :])  # one unpadded doc, (len, 1, 4)
        np.testing.assert_allclose(Y, reference[:, 0, :].numpy(), atol=1e-6)


def test_gradient_matches_finite_differences(layer) -> None:
    Xs = docs([3, 1, 5])
    rng = np.random.default_rng(1)
    outputs, backprop = layer.begin_update(Xs)
    targets = [rng.normal(size=Y.shape).astype("float32") for Y in outputs]
    d_inputs = backprop(targets)
    assert [dX.shape for dX in d_inputs] == [X.shape for X in Xs]

    def loss(inputs) -> float:
        return float(sum((Y.astype("float64") * T).sum() for Y, T in zip(layer.predict(inputs), targets)))

    eps = 1e-2
    for doc, row, col in [(0, 0, 0), (0, 2, 3), (1, 0, 1), (2, 4, 2), (2, 0, 0)]:
        plus = [X.copy() for X in Xs]
        minus = [X.copy() for X in Xs]
        plus[doc][row, col] += eps
        minus[doc][row, col] -= eps
        numeric = (loss(plus) - loss(minus)) / (2 * eps)
        assert d_inputs[doc][row, col] == pytest.approx(numeric, rel=2e-2, abs=2e-3)


def test_odd_width_is_an_error() -> None:
    with pytest.raises(ValueError, match="width must be even, got 5"):
        packed_bilstm(5, depth=1)
