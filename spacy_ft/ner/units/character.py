"""Character units: the NER head over a character encoder's rows.

The wordpiece head (``spacy_ft.ner.units.wordpiece``) reads ``TransformerData``; this one reads
one vector per character of ``doc.text`` (``spacy_ft.CharEncoderListener.v1`` or any
``Model[List[Doc], List[Floats2d]]`` with that layout). Every non-whitespace
character is a unit, so no entity is lost to jieba's word boundaries; the
component, BIO decoding, CRF and token splitting are the wordpiece head's own.
"""

from typing import Any, Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats2d

from spacy_ft.ner.head import (
    DocUnits,
    Gathered,
    HeadOutput,
    NERHeadModel,
    head_forward,
    head_layers,
    init_output_dims,
)


def build_char_head(tok2vec: Model, dropout: float = 0.1, crf: bool = True, nO: Optional[int] = None) -> NERHeadModel:
    """BIO logits per character."""
    layers, refs = head_layers(tok2vec, dropout, nO, crf)
    return Model("char_unit_classifier", _forward, init=_init, layers=layers, refs=refs, dims={"nO": nO})


def char_units(doc: Any) -> Tuple[DocUnits, List[int]]:
    """Units (one per non-whitespace character) and their rows in the doc's array."""
    units = DocUnits([], [], [], [])
    rows: List[int] = []
    for token in doc:
        for offset, char in enumerate(token.text):
            if char.isspace():
                continue
            start = token.idx + offset
            units.starts.append(start)
            units.ends.append(start + 1)
            units.token_index.append(token.i)
            units.rows.append([start])
            rows.append(start)
    return units, rows


def _init(model: Model, X: Optional[List[Any]] = None, Y: Any = None) -> None:
    tok2vec = model.get_ref("tok2vec")
    output_layer = model.get_ref("output_layer")
    init_output_dims(model)
    if X is not None:
        tok2vec.initialize(X=X)
    if tok2vec.has_dim("nO"):
        output_layer.set_dim("nI", tok2vec.get_dim("nO"))
    output_layer.initialize()


def _forward(model: Model, docs: List[Any], is_train: bool) -> Tuple[HeadOutput, Callable]:
    return head_forward(model, docs, is_train, _gather)


def _gather(model: Model, docs: List[Any], arrays: List[Floats2d]) -> Gathered:
    """Each doc's units and their rows of its array; the callback scatters the units'
    gradients back into arrays shaped as the encoder's."""
    ops = model.ops
    xp = ops.xp
    width = model.get_ref("output_layer").get_dim("nI")
    if len(arrays) != len(docs):
        raise ValueError(f"[spacy_ft_ner] the encoder gave {len(arrays)} outputs for {len(docs)} docs")
    all_units, all_rows = [], []
    for doc, array in zip(docs, arrays):
        if array.shape[0] != len(doc.text):
            raise ValueError(
                f"[spacy_ft_ner] CharTokenClassifier needs one row per character: got {array.shape[0]} "
                f"rows for {len(doc.text)} characters (is the listener a character encoder's?)"
            )
        units, rows = char_units(doc)
        all_units.append(units)
        all_rows.append(xp.asarray(rows, dtype="i"))
    features = [array[rows] if len(rows) else ops.alloc2f(0, width) for array, rows in zip(arrays, all_rows)]

    def backprop(d_features: List[Floats2d]) -> List[Floats2d]:
        d_arrays = []
        for array, rows, d_doc in zip(arrays, all_rows, d_features):
            d_array = ops.alloc2f(*array.shape)
            if len(rows):
                ops.scatter_add(d_array, rows, d_doc)
            d_arrays.append(d_array)
        return d_arrays

    return all_units, features, backprop
