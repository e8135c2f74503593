"""``spacy_ft.CharLexiconEncoder.v1``: a transformer-free encoder with one vector per character.

Per character of ``doc.text`` (whitespace included, so row ``i`` is ``doc.text[i]`` and a
component can align rows to tokens with ``token.idx``): a hashed embedding of the
character, hashed embeddings of its bigrams with the previous and with the next
character, and the four SoftLexicon vectors (B/M/E/S word sets, see
:meth:`Lexicon.match`) pooled from a hashed word table. These are concatenated, mixed by
a Maxout layer and contextualised by spaCy's ``MaxoutWindowEncoder`` (``"cnn"``) or a
bidirectional LSTM (``"bilstm"``).

Every table is a thinc ``HashEmbed``: its size is fixed by ``embed_size`` whatever the
number of characters, bigrams or words, and a key never seen in training (a user word
added to the lexicon later) still maps to trained rows instead of needing a new one.
The :class:`Lexicon` is an attribute of the pooling node, serialised with the model
through thinc's ``serialize_attr`` hook, so a saved pipeline carries its dictionary.

``spacy_ft.CharLexiconEncoder.v3`` adds, next to those features, the per-character states
of Baidu LAC's pretrained BiGRU encoder (:mod:`spacy_ft.char_encoder.lac_states`), whose
arrays :func:`set_lac` copies into the model at ``initialize``.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
from spacy.ml.models.tok2vec import MaxoutWindowEncoder
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, HashEmbed, Linear, Maxout, Model, PyTorchLSTM, chain, with_array
from thinc.model import deserialize_attr, serialize_attr
from thinc.types import Floats2d

from .lac_file import LAC_DIMS, LAC_OFFSET, LacCharTable, LacEncoderFiles
from .lexicon import Lexicon

_CP_BITS = 21
_BOUNDARY = 0x110000  # one past the last code point: the "character" before and after a doc
# Fixed seeds: the hashing (which rows a key uses) must not depend on layer creation order.
_CHAR_SEED, _BIGRAM_SEED, _WORD_SEED = 31, 32, 33
ENCODERS = ("cnn", "bilstm")
#: Per character, per B/M/E/S set: total weight, log(1 + number of words).
PRESENCE_COLUMNS = 8
#: v3's ``lac``: no LAC states, LAC's weights fixed, or LAC's GRUs trained too.
LAC_MODES = ("none", "frozen", "finetune")
#: v3's ``lac_layers``: the states of both GRU layers, or of the last one.
LAC_LAYERS = ("both", "last")


#: The encoder: docs in, one row per character of ``doc.text`` out.
CharEncoderModel = Model[List[Doc], List[Floats2d]]
#: Features of texts: one row per character.
TextFeaturesModel = Model[List[str], List[Floats2d]]
#: Rows in, rows out (the contextual layers).
RowsModel = Model[List[Floats2d], List[Floats2d]]


@registry.architectures("spacy_ft.CharLexiconEncoder.v1")
def build_char_lexicon_encoder_v1(
    width: int = 128,
    depth: int = 4,
    embed_size: int = 20000,
    encoder: str = "cnn",
    lexicon: bool = True,
    char_width: int = 64,
    word_width: int = 64,
    window_size: int = 1,
    maxout_pieces: int = 3,
) -> CharEncoderModel:
    """The first version: its ``"bilstm"`` is thinc's ``PyTorchLSTM``, which runs over the
    padded batch, so a doc's rows depend on the other docs of its batch (see
    :mod:`spacy_ft.char_encoder.packed_lstm`). Kept so pipelines trained with it load."""
    return _char_lexicon_encoder(
        width, depth, embed_size, encoder, lexicon, char_width, word_width, window_size, maxout_pieces,
        packed=False,
    )


@registry.architectures("spacy_ft.CharLexiconEncoder.v2")
def build_char_lexicon_encoder_v2(
    width: int = 128,
    depth: int = 4,
    embed_size: int = 20000,
    encoder: str = "cnn",
    lexicon: bool = True,
    char_width: int = 64,
    word_width: int = 64,
    window_size: int = 1,
    maxout_pieces: int = 3,
) -> CharEncoderModel:
    """One ``(len(doc.text), width)`` array per doc, whatever else is in the batch.

    ``embed_size`` is the number of rows of each of the three hashed tables (characters,
    bigrams, lexicon words). ``lexicon=False`` drops the four lexicon vectors (the
    ablation): the model then never reads a dictionary. With ``lexicon=True`` call
    :func:`set_lexicon` before ``initialize``; otherwise initialisation loads jieba's
    dictionary with no user words.
    """
    return _char_lexicon_encoder(
        width, depth, embed_size, encoder, lexicon, char_width, word_width, window_size, maxout_pieces,
        packed=True,
    )


@registry.architectures("spacy_ft.CharLexiconEncoder.v3")
def build_char_lexicon_encoder_v3(
    width: int = 128,
    depth: int = 4,
    embed_size: int = 20000,
    encoder: str = "cnn",
    lexicon: bool = True,
    char_width: int = 64,
    word_width: int = 64,
    window_size: int = 1,
    maxout_pieces: int = 3,
    lac: str = "frozen",
    lac_layers: str = "both",
    lac_emissions: bool = False,
    lac_learn_rate_factor: float = 0.1,
    lac_projection: int = 64,
) -> CharEncoderModel:
    """v2 plus Baidu LAC's pretrained character states next to its features.

    ``lac``: ``"frozen"`` (LAC's weights never change; its GRUs run without autograd),
    ``"finetune"`` (LAC's GRUs train, at ``lac_learn_rate_factor`` times the learning
    rate; see :mod:`spacy_ft.char_encoder.lac_states`) or ``"none"`` (exactly v2).
    ``lac_layers``: ``"both"`` GRU layers' states (512 columns) or the ``"last"`` one
    (256). ``lac_emissions``: also LAC's 59 tag scores. ``lac_projection``: a trained
    linear layer takes those columns down to this many before they join the other
    features (the mixing Maxout's cost grows with its input width); 0 joins them as they
    are. The weights are read at
    ``initialize`` from the directory ``init-lac`` writes (the component's
    ``lac_dir`` setting, see :func:`set_lac`) and saved in the pipeline.
    """
    if lac not in LAC_MODES:
        raise ValueError(f"lac must be one of {LAC_MODES}, got {lac!r}")
    if lac_layers not in LAC_LAYERS:
        raise ValueError(f"lac_layers must be one of {LAC_LAYERS}, got {lac_layers!r}")
    if lac == "finetune" and not lac_learn_rate_factor > 0:
        raise ValueError(f"lac_learn_rate_factor must be above 0 with lac = 'finetune', got {lac_learn_rate_factor}")
    if lac_projection < 0:
        raise ValueError(f"lac_projection must be 0 (no projection) or more, got {lac_projection}")
    extra: Optional[TextFeaturesModel] = None
    if lac != "none":
        # torch is imported when a model is built, never when spaCy loads the entry points.
        from .lac_states import lac_states

        n_layers = LAC_DIMS.layers if lac_layers == "both" else 1
        lac_width = n_layers * 2 * LAC_DIMS.hidden + (LAC_DIMS.tags if lac_emissions else 0)
        extra = lac_states(lac, lac_layers, lac_emissions, lac_learn_rate_factor, lac_width)
        if lac_projection:
            projection: RowsModel = skip_empty(with_array(Linear(nO=lac_projection, nI=lac_width)))
            extra = chain(extra, projection)
    model = _char_lexicon_encoder(
        width, depth, embed_size, encoder, lexicon, char_width, word_width, window_size, maxout_pieces,
        packed=True, extra=extra,
    )
    model.attrs["lac"] = lac
    return model


def _char_lexicon_encoder(
    width: int,
    depth: int,
    embed_size: int,
    encoder: str,
    lexicon: bool,
    char_width: int,
    word_width: int,
    window_size: int,
    maxout_pieces: int,
    *,
    packed: bool,
    extra: Optional[TextFeaturesModel] = None,
) -> CharEncoderModel:
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    if encoder == "bilstm" and width % 2:
        raise ValueError(f"a bilstm splits width between two directions: width must be even, got {width}")
    features: TextFeaturesModel = char_features(char_width, embed_size)
    n_features = 3 * char_width
    if lexicon:
        features = concat_columns(features, lexicon_pooling(word_width, embed_size))
        n_features += 4 * word_width + PRESENCE_COLUMNS
    if extra is not None:  # v3's LAC states
        features = concat_columns(features, extra)
        n_features += extra.get_dim("nO")
    if encoder == "cnn":
        context = MaxoutWindowEncoder(width, window_size, maxout_pieces, depth)
    elif packed:
        # torch is imported when a model is built, never when spaCy loads the entry points.
        from .packed_lstm import packed_bilstm

        context = packed_bilstm(width, depth)
    else:
        context = PyTorchLSTM(width, width, bi=True, depth=depth)  # type: ignore[assignment]  # v1's padded layer
    mix: RowsModel = with_array(Maxout(nO=width, nI=n_features, nP=maxout_pieces, normalize=True))
    # Dropout on the mixed features: everything here is learned from scratch and
    # overfits the training corpus within an epoch. Its rate is [training] dropout
    # (spaCy sets every Dropout layer to nlp.update's drop).
    regularize: RowsModel = with_array(Dropout(0.1))
    model: CharEncoderModel = chain(
        doc_texts(), features, skip_empty(chain(mix, regularize, context))
    )
    model.set_dim("nO", width)
    model.attrs["encoder"] = encoder
    model.attrs["lexicon_features"] = lexicon
    return model


# -- the lexicon: where it lives and how it is saved ---------------------------------------


def set_lexicon(model: Model, lexicon: Lexicon) -> int:
    """Give every lexicon-pooling node of ``model`` this lexicon; return how many there were.

    The component calls it with the tokenizer's own dictionary (jieba's plus its user
    words) before ``model.initialize``; 0 means the model was built with
    ``lexicon=False`` and ignores dictionaries. Setting a new lexicon on a trained model is
    allowed: word rows are found by hashing the word text, not by lexicon id.
    """
    count = 0
    for node in model.walk():
        if "lexicon" in node.attrs:
            node.attrs["lexicon"] = lexicon
            count += 1
    return count


def get_lexicon(model: Model) -> Optional[Lexicon]:
    """The lexicon of the first pooling node, ``None`` for a ``lexicon=False`` model."""
    for node in model.walk():
        if "lexicon" in node.attrs:
            return node.attrs["lexicon"]
    return None


@serialize_attr.register(Lexicon)
def _serialize_lexicon(_: Lexicon, value: Lexicon, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(Lexicon)
def _deserialize_lexicon(_: Lexicon, value: bytes, name: str, model: Model) -> Lexicon:
    # thinc dispatches on the attribute's current value: every fresh pooling node holds an
    # empty Lexicon, so a model built from the config loads the saved one here.
    return Lexicon.from_bytes(value)


# -- LAC's weights: set at initialize, saved in the model --------------------------------------


def set_lac(model: Model, files: LacEncoderFiles) -> int:
    """Copy LAC's arrays and character table (read by
    :func:`spacy_ft.char_encoder.lac_file.load_lac`) into every LAC node of ``model``;
    return how many there were (0: the model reads no LAC states).

    The component calls it at ``initialize`` with its ``lac_dir``. A finetuned node's
    offsets start again at zero."""
    if (files.dims.hidden, files.dims.layers, files.dims.tags) != (LAC_DIMS.hidden, LAC_DIMS.layers, LAC_DIMS.tags):
        raise ValueError(
            f"{files.path}: LAC dims {files.dims} are not those of LAC's network ({LAC_DIMS}): "
            "write the directory with `python -m spacy ft init-lac DIR`"
        )
    count = 0
    for node in model.walk():
        if "lac_table" not in node.attrs:
            continue
        for name in node.param_names:
            value: Any  # numpy arrays: thinc's stubs type parameters as their own array types
            if name in files.arrays:
                value = np.array(files.arrays[name], dtype=np.float32, copy=True, order="C")
            elif name.startswith(LAC_OFFSET):  # a finetuned node's trained offset from the pretrained array
                value = np.zeros_like(files.arrays[name[len(LAC_OFFSET) :]], dtype=np.float32)
            else:
                continue
            node.set_param(name, value)
        node.attrs["lac_table"] = files.char_ids()
        count += 1
    return count


@serialize_attr.register(LacCharTable)
def _serialize_lac_table(_: LacCharTable, value: LacCharTable, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(LacCharTable)
def _deserialize_lac_table(_: LacCharTable, value: bytes, name: str, model: Model) -> LacCharTable:
    return LacCharTable.from_bytes(value)


# -- layers ----------------------------------------------------------------------------------


def doc_texts() -> Model[List[Doc], List[str]]:
    """Docs -> their texts: everything below works on characters of ``doc.text``."""

    def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[str], Callable]:
        return [doc.text for doc in docs], lambda d_texts: []

    return Model("doc_texts", forward)


def char_features(width: int, embed_size: int) -> TextFeaturesModel:
    """Per character: [char embedding, bigram(prev, char), bigram(char, next)], 3 * width.

    A doc of ``n`` characters has ``n + 1`` bigrams (with a boundary symbol at both
    ends); character ``i`` uses bigrams ``i`` and ``i + 1``, so each bigram is embedded
    once per doc and its gradient is the sum from its two characters.
    """
    return Model(
        "char_features",
        _char_features_forward,
        init=_init_children,
        layers=[
            HashEmbed(width, embed_size, seed=_CHAR_SEED),
            HashEmbed(width, embed_size, seed=_BIGRAM_SEED),
        ],
        dims={"nO": 3 * width},
    )


def _char_features_forward(
    model: TextFeaturesModel, texts: List[str], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    ops: Any = model.ops  # thinc's array stubs do not model numpy-style reshape and indexing
    char_embed, bigram_embed = model.layers
    width = char_embed.get_dim("nO")
    lengths = [len(text) for text in texts]
    total = sum(lengths)
    cps = _code_points("".join(texts))
    doc_of_char = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    # One boundary between consecutive docs and one at each end of the batch:
    # seq = [B, doc0..., B, doc1..., B]; bigram k is (seq[k], seq[k + 1]).
    seq = np.full(total + len(texts) + 1, _BOUNDARY, dtype=np.uint64)
    left = np.arange(total, dtype=np.int64) + doc_of_char  # bigram (prev, char) of each char
    seq[left + 1] = cps
    bigram_keys = (seq[:-1] << np.uint64(_CP_BITS)) | seq[1:]

    chars, bp_chars = _embed(char_embed, cps, is_train)
    bigrams, bp_bigrams = _embed(bigram_embed, bigram_keys, is_train)
    left_idx = ops.asarray1i(left)
    right_idx = ops.asarray1i(left + 1)
    output = ops.xp.hstack([chars, bigrams[left_idx], bigrams[right_idx]])

    def backprop(d_outputs: List[Floats2d]) -> List[str]:
        d_output = _flatten(model, d_outputs, 3 * width, chars.dtype)
        d_bigrams = ops.alloc2f(bigrams.shape[0], width, dtype=bigrams.dtype)
        # left and right indices are each strictly increasing: plain += never loses a row.
        d_bigrams[left_idx] += d_output[:, width : 2 * width]
        d_bigrams[right_idx] += d_output[:, 2 * width :]
        bp_chars(ops.as_contig(d_output[:, :width]))
        bp_bigrams(d_bigrams)
        return []

    return _split(model, output, lengths), backprop


def lexicon_pooling(width: int, embed_size: int) -> TextFeaturesModel:
    """Per character: the four SoftLexicon vectors ``v_B, v_M, v_E, v_S`` (4 * width),
    then for each set its total weight and log(1 + its number of words) (8 columns).

    ``v_s(c) = sum_k weight_k * e(word_k)`` over the entries of set ``s`` of ``c`` (the
    weights already hold SoftLexicon's ``4 * freq / Z_c``). Batched as a gather of the
    batch's distinct words, a scale, and one segment sum over the (char, set) rows; the
    backward pass is the transposed scatter-add into those words' embeddings.

    The 8 presence columns carry what a word vector cannot for a word never seen in
    training (a user word added for a new domain: its hashed row is untrained noise):
    that a dictionary word begins, continues or ends here, and how much weight it has.
    Measured on a corpus whose dev entities are unseen user words: F1 0.68 without them.
    """
    return Model(
        "lexicon_pooling",
        _lexicon_pooling_forward,
        init=_init_lexicon_pooling,
        layers=[HashEmbed(width, embed_size, seed=_WORD_SEED)],
        dims={"nO": 4 * width + PRESENCE_COLUMNS},
        attrs={"lexicon": Lexicon()},
    )


def _init_lexicon_pooling(
    model: Model, X: Optional[List[str]] = None, Y: Optional[List[Floats2d]] = None
) -> None:
    if len(model.attrs["lexicon"]) == 0:
        model.attrs["lexicon"] = Lexicon.from_jieba()
    _init_children(model)


def _lexicon_pooling_forward(
    model: TextFeaturesModel, texts: List[str], is_train: bool
) -> Tuple[List[Floats2d], Callable]:
    ops: Any = model.ops  # thinc's array stubs do not model numpy-style reshape and indexing
    (word_embed,) = model.layers
    width = word_embed.get_dim("nO")
    lexicon: Lexicon = model.attrs["lexicon"]
    lengths = [len(text) for text in texts]
    matches = lexicon.match_many(texts)
    total = matches.n_chars
    unique_words, inverse = np.unique(matches.words, return_inverse=True)
    vectors, bp_vectors = _embed(word_embed, lexicon.keys[unique_words], is_train)
    inverse_idx = ops.asarray1i(inverse.reshape(-1))
    weights = ops.asarray(matches.weights, dtype=vectors.dtype).reshape(-1, 1)
    row_lengths = ops.asarray1i(matches.row_lengths())
    xp = ops.xp
    if len(matches):
        pooled = ops.reduce_sum(vectors[inverse_idx] * weights, row_lengths)
        set_weights = ops.reduce_sum(weights, row_lengths)
    else:
        pooled = ops.alloc2f(4 * total, width, dtype=vectors.dtype)
        set_weights = ops.alloc2f(4 * total, 1, dtype=vectors.dtype)
    presence = xp.hstack(
        [set_weights.reshape(total, 4), xp.log1p(row_lengths.astype(vectors.dtype)).reshape(total, 4)]
    )
    output = xp.hstack([pooled.reshape(total, 4 * width), presence.astype(vectors.dtype)])

    def backprop(d_outputs: List[Floats2d]) -> List[str]:
        if len(matches):
            d_vectors_only = [ops.as_contig(d[:, : 4 * width]) for d in d_outputs]
            d_pooled = _flatten(model, d_vectors_only, 4 * width, vectors.dtype).reshape((4 * total, width))
            d_entries = ops.backprop_reduce_sum(d_pooled, row_lengths) * weights
            d_vectors = ops.alloc2f(*vectors.shape, dtype=vectors.dtype)
            ops.scatter_add(d_vectors, inverse_idx, ops.as_contig(d_entries))
            bp_vectors(d_vectors)
        return []

    return _split(model, output, lengths), backprop


def concat_columns(
    first: TextFeaturesModel, second: TextFeaturesModel
) -> TextFeaturesModel:
    """Per doc, the columns of ``first`` then ``second``; unlike thinc's ``concatenate`` it
    accepts an empty batch."""

    def forward(model: Model, texts: List[str], is_train: bool) -> Tuple[List[Floats2d], Callable]:
        Ys1, bp1 = first(texts, is_train)
        Ys2, bp2 = second(texts, is_train)
        split = first.get_dim("nO")
        Ys = [model.ops.xp.hstack([Y1, Y2]) for Y1, Y2 in zip(Ys1, Ys2)]

        def backprop(dYs: List[Floats2d]) -> List[str]:
            bp1([model.ops.as_contig(dY[:, :split]) for dY in dYs])
            bp2([model.ops.as_contig(dY[:, split:]) for dY in dYs])
            return []

        return Ys, backprop

    return Model(
        "concat_columns",
        forward,
        init=_init_children,
        layers=[first, second],
        dims={"nO": first.get_dim("nO") + second.get_dim("nO")},
    )


def skip_empty(layer: RowsModel) -> RowsModel:
    """Run ``layer`` on the non-empty arrays only.

    PyTorch's packed LSTM rejects length 0, and thinc's padded window encoder fails in
    backprop on a batch of only empty docs; an empty doc's output is ``(0, nO)`` anyway.
    """

    def forward(model: Model, Xs: List[Floats2d], is_train: bool) -> Tuple[List[Floats2d], Callable]:
        keep = [i for i, X in enumerate(Xs) if X.shape[0]]
        width = model.get_dim("nO")
        Ys = [model.ops.alloc2f(0, width, dtype=X.dtype) for X in Xs]
        if not keep:
            return Ys, lambda dYs: [model.ops.alloc2f(*X.shape, dtype=X.dtype) for X in Xs]
        inner_Ys, bp_inner = layer([Xs[i] for i in keep], is_train)
        for i, Y in zip(keep, inner_Ys):
            Ys[i] = Y

        def backprop(dYs: List[Floats2d]) -> List[Floats2d]:
            inner_dXs = bp_inner([dYs[i] for i in keep])
            dXs = [model.ops.alloc2f(*X.shape, dtype=X.dtype) for X in Xs]
            for i, dX in zip(keep, inner_dXs):
                dXs[i] = dX
            return dXs

        return Ys, backprop

    def init(model: Model, X: Optional[List[Floats2d]] = None, Y: Optional[List[Floats2d]] = None) -> None:
        if X is not None:
            X = [x for x in X if x.shape[0]] or None
        layer.initialize(X=X)

    return Model("skip_empty", forward, init=init, layers=[layer], dims={"nO": layer.get_dim("nO")})


# -- helpers ---------------------------------------------------------------------------------


def _init_children(model: Model, X: Optional[List[str]] = None, Y: Optional[List[Floats2d]] = None) -> None:
    for layer in model.layers:
        layer.initialize()


def _code_points(text: str) -> np.ndarray:
    """uint64 code point of every character (no Python loop; lone surrogates kept)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def _embed(layer: Model, keys: np.ndarray, is_train: bool) -> Tuple[Floats2d, Callable]:
    """``HashEmbed`` that tolerates zero keys (its backprop fails on an empty batch)."""
    if keys.shape[0] == 0:
        E: Any = layer.get_param("E")
        return layer.ops.alloc2f(0, E.shape[1], dtype=E.dtype), lambda d_vectors: None
    ops: Any = layer.ops
    return layer(ops.asarray(keys, dtype="uint64"), is_train)


def _split(model: Model, output: Floats2d, lengths: Sequence[int]) -> List[Floats2d]:
    offsets = np.cumsum(lengths)[:-1].tolist()
    return list(model.ops.xp.split(output, offsets)) if lengths else []


def _flatten(model: Model, arrays: List[Floats2d], width: int, dtype) -> Floats2d:
    if not arrays:
        return model.ops.alloc2f(0, width, dtype=dtype)
    return model.ops.xp.concatenate(arrays, axis=0)
