"""Score every labelling unit (wordpiece) of every doc: the NER head's network.

Output per doc: its ``DocUnits`` and a (units, tags) array of logits. A unit's
feature is the mean of its hidden-state rows (one row per window that saw the
wordpiece), then dropout and a linear layer, as ``BertForTokenClassification``.
"""

from typing import Callable, List, Tuple

from thinc.api import Linear, Model
from thinc.types import Floats2d

from spacy_ft.ner.units import DocUnits, doc_units
from spacy_ft.transformer.alignment import hidden_states
from spacy_ft.transformer.head_dropout import head_dropout


def unit_classifier(tok2vec: Model, dropout: float = 0.1, nO=None, crf: bool = False) -> Model:
    """With ``crf``, the model also holds CRF transition, start and end scores
    (``crf_params``); the NER component uses them for its loss and decoding."""
    output_layer = Linear(nO=nO)
    dropout_layer = head_dropout(dropout)  # the configured rate, not nlp.update's drop
    layers = [tok2vec, dropout_layer, output_layer]
    refs = {"tok2vec": tok2vec, "dropout": dropout_layer, "output_layer": output_layer}
    if crf:
        refs["crf"] = crf_params(nO)
        layers.append(refs["crf"])
    return Model("unit_classifier", _forward, init=_init, layers=layers, refs=refs, dims={"nO": nO})


def crf_params(n_tags=None) -> Model:
    """Holds the CRF's parameters so thinc optimizes and serializes them."""
    return Model(
        "crf_params",
        lambda model, X, is_train: (X, lambda dY: dY),
        init=_init_crf,
        params={"transitions": None, "start": None, "end": None},
        dims={"nO": n_tags},
    )


def _init_crf(model: Model, X=None, Y=None) -> None:
    n_tags = model.get_dim("nO")
    model.set_param("transitions", model.ops.alloc2f(n_tags, n_tags))
    model.set_param("start", model.ops.alloc1f(n_tags))
    model.set_param("end", model.ops.alloc1f(n_tags))


def _init(model: Model, X=None, Y=None) -> None:
    tok2vec = model.get_ref("tok2vec")
    output_layer = model.get_ref("output_layer")
    if model.has_dim("nO"):
        output_layer.set_dim("nO", model.get_dim("nO"))
        if model.has_ref("crf"):
            model.get_ref("crf").set_dim("nO", model.get_dim("nO"))
            model.get_ref("crf").initialize()
    if X is None:
        return
    tok2vec.initialize(X=X)
    for trf_data in tok2vec.predict(X):
        hidden = hidden_states(trf_data)
        if hidden is not None:
            output_layer.set_dim("nI", int(hidden.shape[-1]))
            break
    output_layer.initialize()


def _forward(model: Model, docs: List, is_train: bool) -> Tuple[List[Tuple[DocUnits, Floats2d]], Callable]:
    ops = model.ops
    xp = ops.xp
    tok2vec = model.get_ref("tok2vec")
    output_layer = model.get_ref("output_layer")
    width = output_layer.get_dim("nI")
    trf_datas, backprop_tok2vec = tok2vec(docs, is_train)
    all_units = [doc_units(doc, trf_data) for doc, trf_data in zip(docs, trf_datas)]
    features = []
    gathers = []  # per doc: (trf_data, hidden shape, unit ids, rows, weights) or None
    for units, trf_data in zip(all_units, trf_datas):
        hidden = hidden_states(trf_data)
        doc_features = ops.alloc2f(len(units), width)
        if hidden is None or not len(units):
            gathers.append(None)
            features.append(doc_features)
            continue
        unit_ids = [u for u, rows in enumerate(units.rows) for _ in rows]
        rows = [row for unit_rows in units.rows for row in unit_rows]
        weights = [1.0 / len(unit_rows) for unit_rows in units.rows for _ in unit_rows]
        unit_ids, rows = xp.asarray(unit_ids, dtype="i"), xp.asarray(rows, dtype="i")
        weights = xp.asarray(weights, dtype="f")[:, None]
        if len(rows):
            flat = hidden.reshape(-1, width)
            ops.scatter_add(doc_features, unit_ids, flat[rows] * weights)
        gathers.append((trf_data, hidden.shape, unit_ids, rows, weights))
        features.append(doc_features)
    sizes = [len(f) for f in features]
    X = xp.concatenate(features) if features else ops.alloc2f(0, width)
    X_dropped, backprop_dropout = model.get_ref("dropout")(X, is_train)
    logits, backprop_output = output_layer(X_dropped, is_train)
    splits = xp.cumsum(xp.asarray(sizes))[:-1].tolist() if sizes else []
    per_doc = xp.split(logits, splits) if sizes else []
    outputs = list(zip(all_units, per_doc))

    def backprop(d_outputs: List[Floats2d]) -> List:
        from spacy_transformers.data_classes import TransformerData
        from transformers.file_utils import ModelOutput

        d_logits = xp.concatenate(d_outputs) if d_outputs else ops.alloc2f(0, logits.shape[1])
        d_X = backprop_dropout(backprop_output(d_logits))
        d_per_doc = xp.split(d_X, splits) if sizes else []
        d_trf_datas = []
        for gather, d_features in zip(gathers, d_per_doc):
            if gather is None:
                continue  # empty docs have no gradient entry (as in spacy-transformers)
            trf_data, shape, unit_ids, rows, weights = gather
            d_flat = ops.alloc2f(shape[0] * shape[1], width)
            if len(rows):
                ops.scatter_add(d_flat, rows, d_features[unit_ids] * weights)
            d_trf_datas.append(
                TransformerData(
                    model_output=ModelOutput(last_hidden_state=d_flat.reshape(shape)),
                    wordpieces=trf_data.wordpieces,
                    align=trf_data.align,
                )
            )
        return backprop_tok2vec(d_trf_datas)

    return outputs, backprop
