"""int8 quantization: the quantized pipeline loads with plain spacy.load, through
torch's restricted unpickler only, and predicts nearly what the fp32 one did."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import pytest
import spacy
import srsly
from spacy.util import load_config

from spacy_ft.inference.quantize import QUANTIZED_ARCHITECTURE, prediction_agreement, quantize_pipeline
from spacy_ft.packaging import predictions
from tests.util import ner_corpus, run_child_json

TEXTS = [t for t, _ in ner_corpus(60, seed=3)] + ["", "北京" * 200]

_CHILD = r"""
import json, sys
import torch
loads = []
_load = torch.load
def spy(*args, **kwargs):
    loads.append(kwargs.get("weights_only"))
    return _load(*args, **kwargs)
torch.load = spy
import spacy
imported_by_hand = "spacy_ft" in sys.modules
nlp = spacy.load(sys.argv[1])
docs = [{"ents": [[e.start_char, e.end_char, e.label_] for e in d.ents], "cats": d.cats}
        for d in nlp.pipe(json.load(sys.stdin))]
print(json.dumps({"docs": docs, "weights_only": loads, "imported_by_hand": imported_by_hand}))
"""


@pytest.fixture(scope="module")
def quantized(trained_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("quantized") / "model"
    return quantize_pipeline(trained_dir, out)


def test_quantized_pipeline_is_smaller_and_names_the_architecture(quantized):
    assert quantized.components == ["transformer"] and quantized.linear_layers > 0
    assert quantized.bytes_after < quantized.bytes_before
    model = load_config(f"{quantized.out_dir}/config.cfg", interpolate=False)["components"]["transformer"]["model"]
    assert model["@architectures"] == QUANTIZED_ARCHITECTURE and model["quantization"] == "int8"
    assert "now int8" in quantized.summary()


def test_quantized_pipeline_agrees_with_fp32_in_process(trained_dir, quantized):
    import spacy_ft.inference.quantize  # noqa: F401 - registers the architecture until the entry point is installed

    expected = predictions(spacy.load(trained_dir), TEXTS)
    nlp = spacy.load(quantized.out_dir)
    got = predictions(nlp, TEXTS)
    assert len(got) == len(expected) == len(TEXTS)
    assert sum(len(d["ents"]) for d in expected) > 0 and sum(len(d["ents"]) for d in got) > 0
    found = prediction_agreement(expected, got)
    assert found["same_entities"] >= 0.9 and found["same_top_class"] >= 0.9, found
    shim = nlp.get_pipe("transformer").model.layers[0].shims[0]
    assert type(shim).__name__ == "QuantizedHFShim"
    with pytest.raises(ValueError, match="cannot be trained"):
        shim.begin_update(None)


def test_agreement_of_a_pipeline_without_classifier_counts_entities_only():
    expected = [{"ents": [(0, 2, "PER")], "cats": {}}, {"ents": [], "cats": {}}]
    got = [{"ents": [(0, 2, "PER")], "cats": {}}, {"ents": [(1, 3, "LOC")], "cats": {}}]
    assert prediction_agreement(expected, got) == {
        "same_entities": 0.5,
        "same_top_class": None,
        "max_cats_delta": None,
    }
    with pytest.raises(ValueError, match="1 predictions for 2 docs"):
        prediction_agreement(expected, got[:1])


def test_fresh_process_loads_with_weights_only_and_agrees(trained_dir, quantized):
    out = run_child_json(_CHILD, quantized.out_dir, TEXTS)
    assert len(out["docs"]) == len(TEXTS) and sum(len(d["ents"]) for d in out["docs"]) > 0
    assert not out["imported_by_hand"]
    assert out["weights_only"] and all(flag is True for flag in out["weights_only"]), out["weights_only"]
    found = prediction_agreement(predictions(spacy.load(trained_dir), TEXTS), out["docs"])
    assert found["same_entities"] >= 0.9 and found["same_top_class"] >= 0.9, found


class _Payload:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_loading_refuses_arbitrary_pickles(quantized):
    import torch

    import spacy_ft.inference.quantize  # noqa: F401

    shim = spacy.load(quantized.out_dir).get_pipe("transformer").model.layers[0].shims[0]
    msg = srsly.msgpack_loads(shim.to_bytes())
    from io import BytesIO

    buffer = BytesIO()
    torch.save({"weight": _Payload()}, buffer)
    msg["state"] = buffer.getvalue()
    with pytest.raises(pickle.UnpicklingError):
        shim.from_bytes(srsly.msgpack_dumps(msg))


def test_errors_name_the_path(tmp_path, trained_dir, quantized):
    with pytest.raises(ValueError, match="not found: .*missing"):
        quantize_pipeline(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*no config.cfg"):
        quantize_pipeline(tmp_path / "empty", tmp_path / "out")
    blank = tmp_path / "blank"
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(blank)
    with pytest.raises(ValueError, match=r"blank/config.cfg: no transformer component.*sentencizer"):
        quantize_pipeline(blank, tmp_path / "out")
    with pytest.raises(ValueError, match="already quantized"):
        quantize_pipeline(quantized.out_dir, tmp_path / "out")
    with pytest.raises(ValueError, match="is not empty.*--force"):
        quantize_pipeline(trained_dir, blank)
    with pytest.raises(ValueError, match="unknown quantization 'int4'"):
        quantize_pipeline(trained_dir, tmp_path / "out", quantization="int4")


def test_cli_quantize(trained_dir, tmp_path):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    out = tmp_path / "q"
    result = CliRunner().invoke(app, ["quantize", str(trained_dir), str(out)])
    assert result.exit_code == 0, result.output
    assert "now int8" in result.output and (out / "config.cfg").is_file()
    result = CliRunner().invoke(app, ["quantize", str(tmp_path / "nope"), str(tmp_path / "q2")])
    assert result.exit_code != 0 and "nope" in result.output


def test_module_is_light():
    code = textwrap.dedent(
        """
        import sys
        import spacy_ft.inference.quantize
        print(sorted(m for m in ("transformers", "spacy_transformers", "onnxruntime") if m in sys.modules))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
