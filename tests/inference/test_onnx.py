"""ONNX Runtime backend: ``quantize --backend onnx`` writes a pipeline whose encoder runs in
ONNX Runtime; plain spacy.load runs it and it predicts what the torch pipeline did."""

from __future__ import annotations

import json
import sys

import numpy
import onnxruntime  # noqa: F401 - the test extra installs it: fail, not skip, without it
import pytest
import spacy
import srsly
from spacy.util import load_config

from spacy_ft.inference.onnx import ONNX_ARCHITECTURE
from spacy_ft.inference.quantize import prediction_agreement, quantize_pipeline
from spacy_ft.packaging import predictions
from tests.util import ner_corpus, run_child_json

# Mixed lengths in one batch (padding), the empty doc and one longer than the window.
TEXTS = [t for t, _ in ner_corpus(60, seed=3)] + ["", "  ", "北京" * 200]

_CHILD = r"""
import json, sys
import spacy
imported_by_hand = "spacy_ft" in sys.modules
nlp = spacy.load(sys.argv[1])
docs = [{"ents": [[e.start_char, e.end_char, e.label_] for e in d.ents], "cats": d.cats}
        for d in nlp.pipe(json.load(sys.stdin))]
print(json.dumps({"docs": docs, "imported_by_hand": imported_by_hand,
                  "backend": nlp.get_pipe("transformer").model.attrs.get("backend")}))
"""


@pytest.fixture(scope="module")
def onnx_fp32(trained_dir, tmp_path_factory):
    return quantize_pipeline(trained_dir, tmp_path_factory.mktemp("onnx") / "fp32", backend="onnx", quantization="none")


@pytest.fixture(scope="module")
def onnx_int8(trained_dir, tmp_path_factory):
    return quantize_pipeline(trained_dir, tmp_path_factory.mktemp("onnx") / "int8", backend="onnx", threads=1)


def _hidden_states(nlp, texts):
    docs = list(nlp.pipe(texts))
    return [numpy.asarray(doc._.trf_data.model_output.last_hidden_state) for doc in docs]


def test_fp32_graph_gives_the_torch_predictions(trained_dir, onnx_fp32):
    expected = predictions(spacy.load(trained_dir), TEXTS)
    got = predictions(spacy.load(onnx_fp32.out_dir), TEXTS)
    assert len(got) == len(expected) == len(TEXTS)
    assert sum(len(d["ents"]) for d in expected) > 0
    assert [d["ents"] for d in got] == [d["ents"] for d in expected]
    deltas = [abs(a["cats"][k] - b["cats"][k]) for a, b in zip(expected, got) for k in a["cats"]]
    assert max(deltas) < 1e-4


def test_hidden_states_match_torch_for_padded_and_single_batches(trained_dir, onnx_fp32):
    torch_nlp, onnx_nlp = spacy.load(trained_dir), spacy.load(onnx_fp32.out_dir)
    for nlp in (torch_nlp, onnx_nlp):
        nlp.remove_pipe("spacy_ft_trf_cleanup")
    for batch in (TEXTS[:8], TEXTS[5:6]):  # padding inside the batch, and a batch of one
        torch_states, onnx_states = _hidden_states(torch_nlp, batch), _hidden_states(onnx_nlp, batch)
        assert len(torch_states) == len(onnx_states) == len(batch)
        for a, b in zip(torch_states, onnx_states):
            assert a.shape == b.shape
            assert numpy.abs(a - b).max() < 1e-4


def test_int8_graph_is_smaller_and_agrees(trained_dir, onnx_fp32, onnx_int8):
    model = load_config(f"{onnx_int8.out_dir}/config.cfg", interpolate=False)["components"]["transformer"]["model"]
    assert model["@architectures"] == ONNX_ARCHITECTURE
    assert model["quantization"] == "int8" and model["threads"] == 1 and model["mixed_precision"] is False
    assert onnx_int8.bytes_after < onnx_fp32.bytes_after
    assert "int8 in ONNX Runtime" in onnx_int8.summary() and "fp32 in ONNX Runtime" in onnx_fp32.summary()
    nlp = spacy.load(onnx_int8.out_dir)
    found = prediction_agreement(predictions(spacy.load(trained_dir), TEXTS), predictions(nlp, TEXTS))
    assert found["same_entities"] >= 0.9 and found["same_top_class"] >= 0.9, found
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    assert shim._model.session().get_session_options().intra_op_num_threads == 1
    with pytest.raises(ValueError, match="cannot be trained"):
        shim.begin_update(None)


def test_round_trip_through_bytes_is_identical(onnx_int8):
    nlp = spacy.load(onnx_int8.out_dir)
    reloaded = spacy.load(onnx_int8.out_dir).from_bytes(nlp.to_bytes())
    expected = predictions(nlp, TEXTS)
    assert sum(len(d["ents"]) for d in expected) > 0  # something to compare
    assert predictions(reloaded, TEXTS) == expected


def test_n_process_2_gives_the_same_docs(onnx_int8):
    nlp = spacy.load(onnx_int8.out_dir)
    texts = TEXTS[:20]
    # Same batches in both: dynamic int8 scales activations per batch, so batch composition matters.
    one = [
        (d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents], d.cats) for d in nlp.pipe(texts, batch_size=5)
    ]
    two = [
        (d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents], d.cats)
        for d in nlp.pipe(texts, n_process=2, batch_size=5)
    ]
    assert len(one) == len(texts) and any(ents for _, ents, _ in one)
    assert two == one


def test_fresh_process_loads_without_importing_spacy_ft(onnx_int8):
    out = run_child_json(_CHILD, onnx_int8.out_dir, TEXTS)
    assert not out["imported_by_hand"] and out["backend"] == "onnxruntime"
    expected = predictions(spacy.load(onnx_int8.out_dir), TEXTS)
    assert sum(len(d["ents"]) for d in expected) > 0  # something to compare
    assert out["docs"] == expected


def test_stored_bytes_hold_the_graph_not_a_pickle(onnx_int8):
    shim = spacy.load(onnx_int8.out_dir).get_pipe("transformer").model.layers[0].shims[0]
    msg = srsly.msgpack_loads(shim.to_bytes())
    assert msg["state"] == b"" and msg["onnx"]["quantization"] == "int8"
    assert msg["onnx"]["input_names"][:2] == ["input_ids", "attention_mask"]
    damaged = dict(msg, onnx=dict(msg["onnx"], graph=b"not a graph"))
    with pytest.raises(ValueError, match=r"stored ONNX graph \(11 bytes\) does not load"):
        shim.from_bytes(srsly.msgpack_dumps(damaged))
    torch_weights = dict(msg)
    del torch_weights["onnx"]
    with pytest.raises(ValueError, match="hold no ONNX graph.*--backend onnx"):
        shim.from_bytes(srsly.msgpack_dumps(torch_weights))


def test_initialize_from_weights_exports_on_the_fly(tmp_path):
    """A config that names the ONNX architecture and a weights directory works from
    ``initialize`` too, with no export step of the user's."""
    from spacy_ft.testing import make_tiny_bert

    bert = make_tiny_bert(tmp_path / "bert", ["hello world from onnx"])
    nlp = spacy.blank("en")
    window = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24}
    model = {"@architectures": ONNX_ARCHITECTURE, "name": str(bert), "get_spans": window, "quantization": "none"}
    nlp.add_pipe("transformer", config={"model": model})
    nlp.initialize()
    doc = nlp("hello world from onnx")
    assert doc._.trf_data.model_output.last_hidden_state.shape[-1] == 32
    nlp.to_disk(tmp_path / "pipeline")
    again = spacy.load(tmp_path / "pipeline")("hello world from onnx")
    assert numpy.allclose(
        again._.trf_data.model_output.last_hidden_state, doc._.trf_data.model_output.last_hidden_state, atol=1e-6
    )


def test_bad_settings_name_the_value(tmp_path, trained_dir, onnx_int8):
    with pytest.raises(ValueError, match="unknown quantization 'int4': choose one of int8, none"):
        quantize_pipeline(trained_dir, tmp_path / "out", backend="onnx", quantization="int4")
    with pytest.raises(ValueError, match="unknown quantization 'none': choose one of int8"):
        quantize_pipeline(trained_dir, tmp_path / "out", backend="torch", quantization="none")
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'"):
        quantize_pipeline(trained_dir, tmp_path / "out", backend="tensorrt")
    with pytest.raises(ValueError, match="already quantized or exported"):
        quantize_pipeline(onnx_int8.out_dir, tmp_path / "out", backend="onnx")
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="threads = -1"):
        window = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24}
        model = {"@architectures": ONNX_ARCHITECTURE, "name": "x", "get_spans": window, "threads": -1}
        nlp.add_pipe("transformer", config={"model": model})


def test_missing_onnxruntime_names_the_extra(monkeypatch, trained_dir, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'spacy_ft\[onnx\]'"):
        quantize_pipeline(trained_dir, tmp_path / "out", backend="onnx")
    assert not (tmp_path / "out").exists()


def test_cli_exports(trained_dir, tmp_path):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["quantize", str(trained_dir), str(out), "--backend", "onnx"])
    assert result.exit_code == 0, result.output
    assert "int8 in ONNX Runtime" in result.output
    assert json.loads((out / "meta.json").read_text())["spacy_ft"]["quantization"]["scheme"].startswith("ONNX Runtime")
