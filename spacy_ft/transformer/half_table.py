"""A frozen input-embedding table kept at fp16 precision and saved in fp16.

Why: a multilingual encoder's piece table is most of its size (multilingual-e5-small:
96M of 118M weights, ~370 of its ~470 MB in fp32), and once frozen it never changes.
Rounding it to fp16 when the weights are loaded (``initialize``) makes every later
save exact in half the bytes: the pipeline, ``spacy package``'s archive and the wheel a
service installs all shrink (docs/encoders.md has the sizes), and a saved pipeline predicts exactly what
the trained one did. The table is computed with in fp32 as before (rounded values,
fp32 storage in memory), so speed is unchanged.

Loading needs nothing special: ``HFShim.from_bytes`` copies the fp16 tensor into the
fp32 parameter (``load_state_dict`` casts). :class:`HalfTableShim` only re-freezes the
table after loading (so a loaded pipeline trained further keeps it fp16-exact) and
halves it while saving.
"""

from __future__ import annotations

from typing import Any

import torch
from spacy_transformers.layers.hf_shim import HFShim


def round_word_embeddings_to_half(hf_model: Any) -> Any:
    """The encoder of ``hf_model`` with its input table rounded to fp16 values (kept fp32)."""
    transformer = hf_model.transformer
    table = transformer.get_input_embeddings().weight
    with torch.no_grad():
        table.copy_(table.half().float())
    return transformer


class HalfTableShim(HFShim):
    """``HFShim`` that saves the input-embedding table in fp16 and loads it frozen."""

    def to_bytes(self) -> bytes:
        if self._model is None:
            return super().to_bytes()
        table = self._model.get_input_embeddings().weight
        if table.requires_grad:
            raise ValueError(
                "[spacy_ft] frozen_embeddings_dtype = float16 saves the input-embedding table in fp16, "
                "but the table is trainable here (requires_grad): its trained values would be rounded "
                "at every save. Freeze it (freeze_embeddings = true) or use float32."
            )
        full = table.data
        table.data = full.half()
        try:
            return super().to_bytes()
        finally:
            table.data = full

    def from_bytes(self, bytes_data: bytes) -> "HalfTableShim":
        super().from_bytes(bytes_data)
        if self._model is not None:
            self._model.get_input_embeddings().weight.requires_grad_(False)
        return self
