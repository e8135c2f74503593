"""A bidirectional LSTM over packed sequences, so a doc's rows never depend on its batch.

Why not thinc's ``PyTorchLSTM``: it hands torch the padded ``(max_len, batch, width)``
tensor without packing. The backward direction of a shorter doc then starts in the
padding and reaches the doc's last character with a state that depends on the longest
doc of the batch: on a trained model a short doc's encoder rows moved visibly between
being run alone and next to a long doc, so predictions depended on ``batch_size`` and
on the neighbours a doc happened to have. Every step also
computed over the padding. Packed (``torch.nn.utils.rnn.pack_sequence``), each
direction runs over each doc's own characters only.
"""

from __future__ import annotations

from typing import Any, Callable, List, Tuple

import numpy as np
import torch
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch
from thinc.types import Floats2d
from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence


class PackedBiLSTM(torch.nn.Module):
    """``(rows of all docs, lengths) -> rows``: one bidirectional LSTM pass per doc."""

    def __init__(self, n_in: int, n_hidden: int, depth: int) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(n_in, n_hidden, depth, bidirectional=True)

    def forward(self, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_sequence(list(torch.split(rows, lengths.tolist())), enforce_sorted=False)
        output, _ = self.lstm(packed)
        padded, _ = pad_packed_sequence(output, batch_first=True)  # (docs, longest, 2 * hidden)
        real = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
        return padded[real]  # doc by doc, in order: the rows' own layout


def packed_bilstm(width: int, depth: int) -> Model[List[Floats2d], List[Floats2d]]:
    """``width`` in and out (half per direction); every array must be non-empty."""
    if width % 2:
        raise ValueError(f"a bilstm splits width between two directions: width must be even, got {width}")
    lstm = PyTorchWrapper_v2(PackedBiLSTM(width, width // 2, depth), convert_inputs=_convert_inputs)
    return Model("packed_bilstm", _forward, layers=[lstm], dims={"nO": width, "nI": width})


def _forward(model: Model, Xs: List[Floats2d], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    lengths = np.array([X.shape[0] for X in Xs], dtype=np.int64)
    ops: Any = model.ops  # thinc's stubs take Ints1d lengths; a numpy int64 array is one
    Y, backprop_lstm = model.layers[0]((ops.flatten(Xs), lengths), is_train)
    Ys = ops.unflatten(Y, lengths)

    def backprop(dYs: List[Floats2d]) -> List[Floats2d]:
        return ops.unflatten(backprop_lstm(ops.flatten(dYs)), lengths)

    return Ys, backprop


def _convert_inputs(model: Model, X: Tuple[Floats2d, np.ndarray], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    rows, lengths = X
    shim: Any = model.shims[0]  # a PyTorchShim, which has a device
    device = shim.device
    args = (xp2torch(rows, requires_grad=is_train, device=device), torch.as_tensor(lengths, dtype=torch.int64))

    def reverse(d_inputs: ArgsKwargs) -> Any:
        return torch2xp(d_inputs.args[0])

    return ArgsKwargs(args=args, kwargs={}), reverse
