"""Score every labelling unit (wordpiece, or character) of every doc: the NER head's network.

Output per doc: its ``DocUnits`` and a (units, tags) array of logits. A unit's
feature is the mean of its hidden-state rows (one row per window that saw the
wordpiece), then dropout and a linear layer, as ``BertForTokenClassification``.

With character units (``character_units`` "cjk" or "all"), the characters of a
multi-character piece share its rows; what tells them apart is added to the
piece's vector: a learned embedding of the character's position inside the
piece (``positions``: 0 .. ``max_position``) and a learned hashed embedding of
the character itself (``characters``: thinc ``HashEmbed``). Both start at
zero, so training starts exactly from the piece's vector. Units that are whole
pieces get neither.
"""

from typing import Callable, Dict, List, Optional, Tuple

import numpy
from thinc.api import Embed, HashEmbed, Linear, Model, zero_init
from thinc.types import Floats2d

from spacy_ft.ner.units import NO_POSITION, DocUnits, check_character_units, doc_units
from spacy_ft.transformer.alignment import hidden_states
from spacy_ft.transformer.head_dropout import head_dropout

#: Seed of the character embedding's hashes: fixed, so a rebuilt model hashes alike.
CHARACTER_SEED = 16


def unit_classifier(
    tok2vec: Model,
    dropout: float = 0.1,
    nO=None,
    crf: bool = False,
    character_units: str = "none",
    max_position: int = 15,
    character_rows: int = 4096,
) -> Model:
    """With ``crf``, the model also holds CRF transition, start and end scores
    (``crf_params``); the NER component uses them for its loss and decoding.
    With ``character_units`` other than "none", it also holds the position
    (``max_position + 1`` rows) and character (``character_rows`` hashed rows)
    embeddings; with "none" it is exactly ``spacy_ft.TokenClassifier.v1``'s model."""
    character_units = check_character_units(character_units)
    if max_position < 0 or character_rows < 1:
        raise ValueError(
            f"[spacy_ft_ner] max_position must be >= 0 and character_rows >= 1: got {max_position}, {character_rows}"
        )
    layers, refs = head_layers(tok2vec, dropout, nO, crf)
    attrs = {}
    if character_units != "none":
        refs["position_embed"] = Embed(nO=None, nV=max_position + 1, initializer=zero_init)
        refs["character_embed"] = HashEmbed(
            nO=None, nV=character_rows, seed=CHARACTER_SEED, initializer=zero_init
        )
        layers.extend([refs["position_embed"], refs["character_embed"]])
        attrs = {"character_units": character_units, "max_position": max_position}
    return Model(
        "unit_classifier", _forward, init=_init, layers=layers, refs=refs, dims={"nO": nO}, attrs=attrs
    )


def head_layers(tok2vec: Model, dropout: float, nO: Optional[int], crf: bool) -> Tuple[List[Model], Dict[str, Model]]:
    """The layers and refs every NER head has, in the order saved pipelines hold them:
    the encoder, the head's dropout (its configured rate, not nlp.update's drop), the
    output layer and, with ``crf``, the CRF's parameters."""
    output_layer = Linear(nO=nO)
    dropout_layer = head_dropout(dropout)
    layers = [tok2vec, dropout_layer, output_layer]
    refs = {"tok2vec": tok2vec, "dropout": dropout_layer, "output_layer": output_layer}
    if crf:
        refs["crf"] = crf_params(nO)
        layers.append(refs["crf"])
    return layers, refs


def init_output_dims(model: Model) -> None:
    """Give the output layer and the CRF the head's number of tags, once it is known."""
    if model.has_dim("nO"):
        model.get_ref("output_layer").set_dim("nO", model.get_dim("nO"))
        if model.has_ref("crf"):
            model.get_ref("crf").set_dim("nO", model.get_dim("nO"))
            model.get_ref("crf").initialize()


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
    init_output_dims(model)
    if X is None:
        return
    tok2vec.initialize(X=X)
    for trf_data in tok2vec.predict(X):
        hidden = hidden_states(trf_data)
        if hidden is not None:
            output_layer.set_dim("nI", int(hidden.shape[-1]))
            break
    output_layer.initialize()
    for name in ("position_embed", "character_embed"):
        if model.has_ref(name):
            model.get_ref(name).set_dim("nO", output_layer.get_dim("nI"))
            model.get_ref(name).initialize()


def _forward(model: Model, docs: List, is_train: bool) -> Tuple[List[Tuple[DocUnits, Floats2d]], Callable]:
    ops = model.ops
    xp = ops.xp
    tok2vec = model.get_ref("tok2vec")
    output_layer = model.get_ref("output_layer")
    width = output_layer.get_dim("nI")
    trf_datas, backprop_tok2vec = tok2vec(docs, is_train)
    character_units = model.attrs.get("character_units", "none")
    max_position = model.attrs.get("max_position", 0)
    all_units = [
        doc_units(doc, trf_data, character_units, max_position) for doc, trf_data in zip(docs, trf_datas)
    ]
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
    per_doc, backprop_scores = score_units(
        model, features, width, is_train, lambda X: _add_character_embeddings(model, all_units, X, is_train)
    )
    outputs = list(zip(all_units, per_doc))

    def backprop(d_outputs: List[Floats2d]) -> List:
        from spacy_transformers.data_classes import TransformerData
        from transformers.file_utils import ModelOutput

        d_per_doc = backprop_scores(d_outputs)
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


def score_units(
    model: Model,
    features: List[Floats2d],
    width: int,
    is_train: bool,
    before_dropout: Optional[Callable[[Floats2d], Tuple[Floats2d, Callable]]] = None,
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], List[Floats2d]]]:
    """The part every NER head shares: per-doc unit features, all docs at once, through
    the head's dropout and output layer to per-doc logits; the callback maps per-doc
    logit gradients back to per-doc feature gradients. ``before_dropout`` may add to
    the features (the wordpiece head's character embeddings)."""
    ops = model.ops
    xp = ops.xp
    output_layer = model.get_ref("output_layer")
    sizes = [len(f) for f in features]
    X = xp.concatenate(features) if features else ops.alloc2f(0, width)
    backprop_added: Callable = lambda d_X: None  # noqa: E731
    if before_dropout is not None:
        X, backprop_added = before_dropout(X)
    X_dropped, backprop_dropout = model.get_ref("dropout")(X, is_train)
    logits, backprop_output = output_layer(X_dropped, is_train)
    splits = xp.cumsum(xp.asarray(sizes))[:-1].tolist() if sizes else []
    per_doc = xp.split(logits, splits) if sizes else []

    def backprop(d_outputs: List[Floats2d]) -> List[Floats2d]:
        d_logits = xp.concatenate(d_outputs) if d_outputs else ops.alloc2f(0, logits.shape[1])
        d_X = backprop_dropout(backprop_output(d_logits))
        backprop_added(d_X)
        return xp.split(d_X, splits) if sizes else []

    return per_doc, backprop


def _add_character_embeddings(model: Model, all_units: List[DocUnits], X: Floats2d, is_train: bool):
    """Add the position and character embeddings to the rows of ``X`` (all docs'
    units, in order) that are characters of a multi-character piece: one lookup
    of each table for the whole batch. Returns ``X`` and a callback that passes
    ``X``'s gradient to both tables."""
    if not model.has_ref("position_embed"):
        return X, lambda d_X: None
    ops = model.ops
    which, positions, characters = [], [], []
    offset = 0
    for units in all_units:
        if units.positions:
            doc_positions = numpy.asarray(units.positions, dtype="i")
            chosen = numpy.flatnonzero(doc_positions != NO_POSITION)
            if len(chosen):
                which.append(chosen + offset)
                positions.append(doc_positions[chosen])
                characters.append(numpy.asarray(units.characters, dtype="uint64")[chosen])
        offset += len(units)
    if not which:
        return X, lambda d_X: None
    which_xp = ops.asarray1i(numpy.concatenate(which))
    position_vectors, backprop_positions = model.get_ref("position_embed")(
        ops.asarray1i(numpy.concatenate(positions)), is_train
    )
    character_vectors, backprop_characters = model.get_ref("character_embed")(
        ops.asarray(numpy.concatenate(characters), dtype="uint64"), is_train
    )
    ops.scatter_add(X, which_xp, position_vectors + character_vectors)

    def backprop(d_X: Floats2d) -> None:
        d_vectors = d_X[which_xp]
        backprop_positions(d_vectors)
        backprop_characters(d_vectors)

    return X, backprop
