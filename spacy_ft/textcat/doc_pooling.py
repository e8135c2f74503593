"""Pool a transformer's output over a whole document into one vector.

spacy-transformers only offers token-aligned pooling (``trfs2arrays``), which
loses the [CLS] vector that ``BertForSequenceClassification`` classifies from
(spaCy #7139, #6501). This layer reads ``TransformerData`` directly:

- ``cls``: the first wordpiece of every window, averaged over the windows;
- ``mean``: the mean over the doc's tokens of each token's mean wordpiece, so a
  wordpiece seen by two overlapping windows is not counted twice;
- ``max``: the element-wise max over the wordpieces aligned to tokens.

A doc longer than the model window arrives as several strided windows and is
pooled over all of them. A doc whose tokens have no wordpieces (whitespace
only) falls back to ``cls``; an empty doc pools to zeros.
"""

from typing import Any, Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats2d

from spacy_ft.transformer.alignment import hidden_states
from spacy_ft.transformer.trf_data import with_hidden_gradient
from spacy_ft.validation import check_choice

POOLING_MODES = ("cls", "mean", "max")


def build_doc_pooling(mode: str = "cls", grad_factor: float = 1.0) -> Model:
    """Model[List[TransformerData], Floats2d]: one row per doc."""
    check_choice(mode, POOLING_MODES, "pooling", component="spacy_ft_textcat")
    return Model(
        "trf_doc_pooling",
        _forward,
        init=_init,
        dims={"nO": None},
        attrs={"mode": mode, "grad_factor": grad_factor},
    )


def _init(model: Model, X: Optional[List[Any]] = None, Y: Any = None) -> None:
    for trf_data in X or []:
        hidden = hidden_states(trf_data)
        if hidden is not None:
            model.set_dim("nO", int(hidden.shape[-1]))
            return


def _forward(model: Model, trf_datas: List[Any], is_train: bool) -> Tuple[Floats2d, Callable]:
    ops: Any = model.ops  # thinc's array stubs do not model numpy-style indexing
    xp = ops.xp
    mode = model.attrs["mode"]
    if not model.has_dim("nO"):
        _init(model, trf_datas)
    width = model.get_dim("nO")
    pooled = ops.alloc2f(len(trf_datas), width)
    columns = xp.arange(width)
    routes = []  # (doc index, trf_data, hidden shape, rows, weights or None for max)
    for i, trf_data in enumerate(trf_datas):
        hidden = hidden_states(trf_data)
        if hidden is None:
            continue
        flat = hidden.reshape(-1, width)
        rows, weights = _rows_and_weights(xp, trf_data, hidden.shape, mode)
        if weights is None:
            values = flat[rows]
            winners = values.argmax(axis=0)
            pooled[i] = values[winners, columns]
            rows = rows[winners]
        else:
            pooled[i] = (flat[rows] * weights[:, None]).sum(axis=0)
        routes.append((i, trf_data, hidden.shape, rows, weights))

    def backprop(d_pooled: Floats2d) -> List[Any]:
        grad_factor = model.attrs["grad_factor"]
        d_trf_datas = []
        # Empty docs get no gradient entry, as in spacy-transformers' trfs2arrays:
        # the transformer concatenates per-doc gradients over its windows.
        for i, trf_data, shape, rows, weights in routes:
            d_flat = ops.alloc2f(shape[0] * shape[1], width)
            if weights is None:
                d_flat[rows, columns] += d_pooled[i]
            else:
                ops.scatter_add(d_flat, rows, weights[:, None] * d_pooled[i : i + 1])
            d_flat *= grad_factor
            d_trf_datas.append(with_hidden_gradient(trf_data, d_flat.reshape(shape)))
        return d_trf_datas

    return pooled, backprop


def _rows_and_weights(xp: Any, trf_data: Any, shape: Tuple[int, ...], mode: str) -> Tuple[Any, Optional[Any]]:
    """Which flattened wordpiece rows feed the doc vector, and with what weight."""
    n_windows, length = shape[0], shape[1]
    align = trf_data.align
    lengths = xp.asarray(align.lengths, dtype="i")
    rows = xp.asarray(align.dataXd, dtype="i").ravel()
    if mode == "cls" or rows.size == 0:
        cls_rows = xp.arange(n_windows, dtype="i") * length
        return cls_rows, xp.full((n_windows,), 1.0 / n_windows, dtype="f")
    if mode == "max":
        return rows, None
    n_tokens = int((lengths > 0).sum())
    per_row_token_length = xp.repeat(lengths, lengths)
    return rows, (1.0 / (per_row_token_length * n_tokens)).astype("f")
