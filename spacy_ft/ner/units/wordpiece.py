"""Wordpiece units: the NER head over a transformer's wordpieces, or their characters.

Chinese NER is annotated per character, but jieba tokens are words; BERT-style
tokenizers split CJK text into one wordpiece per character. Labelling
wordpieces, not spaCy tokens, lets an entity start or end inside a jieba token
(邓小平 inside 邓小平理论). A token's wordpieces become units when their text,
without the ``##`` / ``▁`` / ``Ġ`` markers and compared case- and
accent-insensitively, spells the token exactly, with ``[UNK]`` pieces covering
the characters between their neighbours; otherwise (byte pieces) the whole
token is one unit. A wordpiece seen by two overlapping windows is one unit whose
feature rows come from both windows; a unit's feature is the mean of its rows.

Character units (``character_units`` "cjk" or "all", ``spacy_ft.TokenClassifier.v2``):
SentencePiece vocabularies (XLM-R, multilingual-e5, bge-m3) put several Chinese
characters in one piece (``中华人民共和国``), and then an entity edge inside the
piece cannot be labelled. So each character of a multi-character piece becomes
its own unit, with the piece's rows, its position inside the piece and its code
point. "cjk" splits the pieces holding a CJK, Kana or Hangul character, and leaves
tokens without one exactly as "none" does (English pipelines are unchanged);
"all" splits every multi-character piece (a Latin word inside Chinese text,
Weibo's "Big" + "wok" annotated inside "Bigwok"). Pieces may cross jieba's
token edges there (``的上`` over 的|上海站): each token gets the characters of
the piece inside it, positions counted from the piece's start. Where the pieces
do not spell a token, its characters are the units, with all the token's rows
and positions counted from the token's start.

The characters of a multi-character piece share its rows; what tells them apart
is added to the piece's vector: a learned embedding of the character's position
inside the piece (``positions``: 0 .. ``max_position``) and a learned hashed
embedding of the character itself (``characters``: thinc ``HashEmbed``). Both
start at zero, so training starts exactly from the piece's vector. Units that are
whole pieces get neither.
"""

import re
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy
from thinc.api import Embed, HashEmbed, Model, zero_init
from thinc.types import Floats2d

from spacy_ft.ner.head import (
    NO_POSITION,
    DocUnits,
    Gathered,
    HeadOutput,
    NERHeadModel,
    head_forward,
    head_layers,
    init_output_dims,
)
from spacy_ft.transformer.alignment import (
    hidden_states,
    piece_char_spans,
    piece_spans,
    rows_by_window,
    token_row_spans,
)
from spacy_ft.transformer.trf_data import with_hidden_gradient
from spacy_ft.validation import check_choice

#: ``character_units`` settings: which multi-character pieces become one unit a character.
CHARACTER_UNITS = ("none", "cjk", "all")
#: Seed of the character embedding's hashes: fixed, so a rebuilt model hashes alike.
CHARACTER_SEED = 16

#: CJK ideographs (with extensions, compatibility forms, radicals, CJK symbols and
#: punctuation, Bopomofo), Hiragana, Katakana and Hangul (syllables and jamo).
CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc\U00020000-\U0003134f]"
)


def build_wordpiece_head(
    tok2vec: Model,
    dropout: float = 0.1,
    nO: Optional[int] = None,
    crf: bool = False,
    character_units: str = "none",
    max_position: int = 15,
    character_rows: int = 4096,
) -> NERHeadModel:
    """Model[List[Doc], HeadOutput] over ``TransformerData``. With ``crf``, the model
    also holds the CRF (``crf.build_crf``). With ``character_units`` other than
    "none", it also holds the position (``max_position + 1`` rows) and character
    (``character_rows`` hashed rows) embeddings; with "none" it is exactly
    ``spacy_ft.TokenClassifier.v1``'s model."""
    character_units = check_character_units(character_units)
    if max_position < 0 or character_rows < 1:
        raise ValueError(
            f"[spacy_ft_ner] max_position must be >= 0 and character_rows >= 1: got {max_position}, {character_rows}"
        )
    layers, refs = head_layers(tok2vec, dropout, nO, crf)
    attrs = {}
    if character_units != "none":
        position_embed: Model = Embed(nO=None, nV=max_position + 1, initializer=zero_init)
        # nO is set at initialize, from the encoder's width (thinc's stub wants an int now).
        character_embed: Model = HashEmbed(
            nO=None, nV=character_rows, seed=CHARACTER_SEED, initializer=zero_init  # type: ignore[arg-type]
        )
        refs["position_embed"], refs["character_embed"] = position_embed, character_embed
        layers.extend([position_embed, character_embed])
        attrs = {"character_units": character_units, "max_position": max_position}
    return Model(
        "unit_classifier", _forward, init=_init, layers=layers, refs=refs, dims={"nO": nO}, attrs=attrs
    )


def check_character_units(value: str) -> str:
    return check_choice(value, CHARACTER_UNITS, "character_units", component="spacy_ft_ner", lower=True)


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def _init(model: Model, X: Optional[List[Any]] = None, Y: Any = None) -> None:
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


def _forward(model: Model, docs: List[Any], is_train: bool) -> Tuple[HeadOutput, Callable]:
    return head_forward(model, docs, is_train, _gather, _add_character_embeddings)


def _gather(model: Model, docs: List[Any], trf_datas: List[Any]) -> Gathered:
    """Each doc's units and their features, the mean of each unit's rows; the
    callback turns the features' gradients into ``TransformerData`` gradients."""
    ops: Any = model.ops  # thinc's array stubs do not model numpy-style indexing
    xp = ops.xp
    width = model.get_ref("output_layer").get_dim("nI")
    character_units = model.attrs.get("character_units", "none")
    max_position = model.attrs.get("max_position", 0)
    all_units = [
        doc_units(doc, trf_data, character_units, max_position) for doc, trf_data in zip(docs, trf_datas)
    ]
    features = []
    gathers: List[Optional[tuple]] = []  # per doc: (trf_data, hidden shape, unit ids, rows, weights) or None
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

    def backprop(d_features: List[Floats2d]) -> List[Any]:
        d_trf_datas = []
        for gather, d_doc in zip(gathers, d_features):
            if gather is None:
                continue  # empty docs have no gradient entry (as in spacy-transformers)
            trf_data, shape, unit_ids, rows, weights = gather
            d_flat = ops.alloc2f(shape[0] * shape[1], width)
            if len(rows):
                ops.scatter_add(d_flat, rows, d_doc[unit_ids] * weights)
            d_trf_datas.append(with_hidden_gradient(trf_data, d_flat.reshape(shape)))
        return d_trf_datas

    return all_units, features, backprop


def _add_character_embeddings(
    model: Model, all_units: List[DocUnits], X: Floats2d, is_train: bool
) -> Tuple[Floats2d, Callable[[Floats2d], None]]:
    """Add the position and character embeddings to the rows of ``X`` (all docs'
    units, in order) that are characters of a multi-character piece: one lookup
    of each table for the whole batch. Returns ``X`` and a callback that passes
    ``X``'s gradient to both tables."""
    if not model.has_ref("position_embed"):
        return X, lambda d_X: None
    ops: Any = model.ops  # thinc's array stubs do not model numpy-style indexing
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


def doc_units(doc: Any, trf_data: Any, character_units: str = "none", max_position: int = 15) -> DocUnits:
    """Units of one doc from spacy-transformers' ``TransformerData``; positions
    inside a piece above ``max_position`` are given as ``max_position``. The
    units keep the row spans they were found from (``DocUnits.row_spans``)."""
    character_units = check_character_units(character_units)
    units = DocUnits([], [], [], [], source=trf_data)
    hidden = hidden_states(trf_data)
    if hidden is None:
        for token in doc:
            _add(units, token.idx, token.idx + len(token), token.i, [])
        return units
    length = hidden.shape[1]
    lengths = [int(n) for n in trf_data.align.lengths]
    flat_rows = [int(r) for r in trf_data.align.dataXd.ravel()]
    strings = trf_data.wordpieces.strings
    offset = 0
    for token, n_rows in zip(doc, lengths):
        rows = flat_rows[offset : offset + n_rows]
        offset += n_rows
        windows = list(rows_by_window(rows, length).values())
        if character_units == "all" or character_units == "cjk" and has_cjk(token.text):
            _add_characters(units, token, windows, rows, strings, length, character_units, max_position)
            continue
        first = windows[0] if windows else []
        spans = None
        if first and all(len(w) == len(first) for w in windows):
            window = first[0] // length
            spans = piece_spans(token.text, [strings[window][row % length] for row in first])
            units.row_spans[token.i] = (
                None if spans is None else token_row_spans(token.text, token.idx, rows, strings, length, spans)
            )
        else:
            units.row_spans[token.i] = token_row_spans(token.text, token.idx, rows, strings, length)
        if spans is None:  # one unit for the whole token, from all its rows
            _add(units, token.idx, token.idx + len(token), token.i, rows)
            continue
        for j, (start, end) in enumerate(spans):
            _add(units, token.idx + start, token.idx + end, token.i, [w[j] for w in windows])
    return units


def _add_characters(
    units: DocUnits,
    token: Any,
    windows: List[List[int]],
    rows: List[int],
    strings: Sequence[Sequence[str]],
    length: int,
    mode: str,
    max_position: int,
) -> None:
    """One token's units under character units: a unit a character of each
    multi-character piece that ``mode`` splits, a unit a piece otherwise.

    The first window that saw the token lays out its units; each other window
    adds the row of its own piece holding the unit's first character (windows
    segment alike except at their edges, where a window's text starts with ``▁``
    or a piece crossing the edge is cut)."""
    text, idx = token.text, token.idx
    layouts = [piece_char_spans(text, [strings[w[0] // length][row % length] for row in w]) for w in windows]
    spans = layouts[0] if layouts else None
    if spans is None:  # the pieces do not spell the token: its characters, from all its rows
        if len(text) > 1 and not text.isspace() and (mode == "all" or has_cjk(text)):
            for k, char in enumerate(text):
                _add(units, idx + k, idx + k + 1, token.i, rows, min(k, max_position), ord(char))
        else:
            _add(units, idx, idx + len(text), token.i, rows)
        return
    others = [(w, layout) for w, layout in zip(windows[1:], layouts[1:]) if layout is not None]
    for j, span in enumerate(spans):
        if span is None:
            continue  # a lone marker, or the space after the token: no character of it
        start, end, inside, piece_length = span
        split = piece_length > 1 and (mode == "all" or has_cjk(text[start:end]))
        for k in range(start, end) if split else (start,):
            unit_rows = [windows[0][j]]
            for w, layout in others:
                row = _row_holding(w, layout, k)
                if row is not None and row not in unit_rows:
                    unit_rows.append(row)
            if split:
                position = min(inside + k - start, max_position)
                _add(units, idx + k, idx + k + 1, token.i, unit_rows, position, ord(text[k]))
            else:
                _add(units, idx + start, idx + end, token.i, unit_rows)


def _row_holding(window_rows: List[int], layout: Sequence[Any], char: int) -> Optional[int]:
    """The row of the piece (in one window) that holds character ``char`` of the token."""
    for row, span in zip(window_rows, layout):
        if span is not None and span[0] <= char < span[1]:
            return row
    return None


def _add(
    units: DocUnits,
    start: int,
    end: int,
    token_index: int,
    rows: List[int],
    position: int = NO_POSITION,
    character: int = 0,
) -> None:
    units.starts.append(start)
    units.ends.append(end)
    units.token_index.append(token_index)
    units.rows.append(rows)
    units.positions.append(position)
    units.characters.append(character)
