"""Loading a pipeline must not run code hidden in its files.

spacy-transformers reads the transformer's weights with ``torch.load``, which
unpickles; torch >= 2.6 refuses anything but tensors there (``weights_only``
by default), and setup.cfg requires it. This test plants a ``__reduce__``
payload where the weights belong and checks that ``spacy.load`` refuses it and
the payload never runs.
"""

import io
import pickle
import shutil
from pathlib import Path

import pytest
import spacy
import srsly

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy_pipeline"


class Payload:
    """Creates a file when unpickled: proof that unpickling ran our code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_in_transformer_weights_is_refused(tmp_path):
    import torch

    pipeline = tmp_path / "pipeline"
    shutil.copytree(LEGACY, pipeline)
    model_file = pipeline / "transformer" / "model"
    msg = srsly.msgpack_loads(model_file.read_bytes())
    shim = srsly.msgpack_loads(msg["shims"][1][0])
    assert "state" in shim  # where spacy-transformers keeps torch.save'd weights
    marker = tmp_path / "payload-ran"
    buffer = io.BytesIO()
    torch.save({"weights": Payload(str(marker))}, buffer)
    shim["state"] = buffer.getvalue()
    msg["shims"][1][0] = srsly.msgpack_dumps(shim)
    model_file.write_bytes(srsly.msgpack_dumps(msg))
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        spacy.load(pipeline)
    assert not marker.exists()
