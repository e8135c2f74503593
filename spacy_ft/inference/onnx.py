"""ONNX Runtime as the transformer's inference backend.

``python -m spacy_ft quantize MODEL OUT --backend onnx`` exports a trained
pipeline's Hugging Face encoder to an ONNX graph (optionally int8 through ONNX
Runtime's dynamic quantization), stores the graph inside the pipeline and points
the config at ``spacy_ft.OnnxTransformerModel.v1``. Plain ``spacy.load`` then runs
the encoder in ONNX Runtime. Why: ONNX Runtime runs the same wordpiece batches faster
than torch, int8 and fp32 alike (``bench-quantize``, docs/benchmarks.md).

Why the encoder alone: spacy-transformers does the wordpiece tokenization, the
windowing and the alignment in Python and calls the encoder once per batch;
everything around that call stays as it is. ``OnnxEncoder`` stands where the
Hugging Face model stood (a ``torch.nn.Module`` with ``config`` and ``device``
whose ``forward`` returns ``last_hidden_state``), so the spacy-transformers code
paths, ``doc._.trf_data`` and the heads are unchanged.

Loading never unpickles: the graph is protobuf bytes inside the shim's msgpack
message, beside the tokenizer files and the model config.

This module is an entry-point module (spaCy imports it to resolve the
architecture name): torch, spacy-transformers and onnxruntime are imported
inside functions only.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Sequence, Tuple

from spacy.util import registry

from spacy_ft.extras import import_extra
from spacy_ft.validation import check_choice

ONNX_ARCHITECTURE = "spacy_ft.OnnxTransformerModel.v1"
#: ``quantization`` settings of the ONNX backend: ORT dynamic int8, or the fp32 graph.
ONNX_SCHEMES = ("int8", "none")
#: The graph's output; spacy-transformers' heads read only this.
OUTPUT_NAME = "last_hidden_state"
OPSET = 17


def import_onnxruntime() -> Any:
    """onnxruntime, or an ImportError that names the extra to install."""
    return import_extra("onnxruntime", "onnx", f"[spacy_ft] {ONNX_ARCHITECTURE}")


def check_onnx_scheme(quantization: str) -> str:
    check_choice(quantization, ONNX_SCHEMES, "quantization", component=f"spacy_ft {ONNX_ARCHITECTURE}")
    return quantization


def _check_threads(threads: int) -> int:
    if not isinstance(threads, int) or threads < 0:
        raise ValueError(
            f"[spacy_ft] {ONNX_ARCHITECTURE}: threads = {threads!r} must be an integer >= 0 (0: ONNX Runtime's default)"
        )
    return threads


@contextmanager
def _quiet_export() -> Iterator[None]:
    """The TorchScript exporter warns that it is legacy, tracing warns about Python
    booleans in HF's mask code, and ORT's quantizer logs a pre-processing hint on the
    root logger. None of it is actionable for the user of this command."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _input_names(tokenizer: Any) -> List[str]:
    """The encoder inputs spacy-transformers passes for this tokenizer (BERT: with
    ``token_type_ids``; RoBERTa: without), in the order the graph declares them."""
    encoded = tokenizer(["a"], return_attention_mask=True, return_token_type_ids=None)
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in encoded:
        names.append("token_type_ids")
    return names


def export_encoder(transformer: Any, tokenizer: Any, quantization: str = "int8") -> Tuple[bytes, List[str]]:
    """(ONNX graph bytes, input names) for a Hugging Face encoder.

    Exported with the TorchScript exporter (it handles HF BERT-family models and
    needs no onnxscript), batch and sequence axes dynamic, traced on a padded batch
    so the attention-mask path is in the graph. ``quantization = "int8"`` then runs
    ONNX Runtime's ``quantize_dynamic`` (int8 weights, activations quantized on the fly).
    Graphs over protobuf's 2 GB limit are not supported.
    """
    import io
    import tempfile
    from pathlib import Path

    import torch

    check_onnx_scheme(quantization)
    names = _input_names(tokenizer)
    sample = tokenizer(["a", "a a a a"], padding="longest", return_tensors="pt", return_token_type_ids=None)
    args = tuple(sample[name] for name in names)

    class LastHiddenState(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, *tensors: Any) -> Any:
            return self.encoder(**dict(zip(names, tensors))).last_hidden_state

    was_training = transformer.training
    transformer.eval()
    buffer = io.BytesIO()
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, OUTPUT_NAME]}
    try:
        with _quiet_export(), torch.no_grad():
            torch.onnx.export(
                LastHiddenState(transformer).eval(),
                args,
                buffer,  # type: ignore[arg-type]  # torch.onnx.export writes to file objects too
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        transformer.train(was_training)
    graph = buffer.getvalue()
    if quantization == "int8":
        import_onnxruntime()
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory() as temp, _quiet_export():
            source, target = Path(temp) / "encoder.onnx", Path(temp) / "encoder.int8.onnx"
            source.write_bytes(graph)
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            graph = target.read_bytes()
    return graph, names


def new_session(graph: bytes, threads: int) -> Any:
    """An ONNX Runtime CPU session for ``graph``; a damaged graph gets an error that says what it is."""
    onnxruntime = import_onnxruntime()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types (Fail, InvalidProtobuf, ...)
        raise ValueError(
            f"[spacy_ft] {ONNX_ARCHITECTURE}: the stored ONNX graph ({len(graph)} bytes) does not load in "
            f"ONNX Runtime: {err}"
        ) from err


@functools.lru_cache(maxsize=None)
def _encoder_class() -> type:
    """``OnnxEncoder``, built on first use so importing this module never imports torch."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    class OnnxEncoder(torch.nn.Module):
        """Runs an exported encoder in ONNX Runtime where spacy-transformers expects the
        Hugging Face model. The session is per process: it is rebuilt after a fork
        (``nlp.pipe(n_process=...)``) and dropped when pickled."""

        def __init__(self, config: Any, graph: bytes, input_names: Sequence[str], quantization: str, threads: int):
            super().__init__()
            self.config = config
            self.graph = graph
            self.input_names = list(input_names)
            self.quantization = quantization
            self.threads = threads
            self._session = new_session(graph, threads)
            self._pid = os.getpid()

        @property
        def device(self) -> Any:
            return torch.device("cpu")

        def session(self) -> Any:
            if self._session is None or self._pid != os.getpid():
                self._session, self._pid = new_session(self.graph, self.threads), os.getpid()
            return self._session

        def forward(self, **inputs: Any) -> Any:
            missing = [name for name in self.input_names if name not in inputs]
            if missing:
                raise ValueError(
                    f"[spacy_ft] {ONNX_ARCHITECTURE}: the graph needs inputs {self.input_names}, "
                    f"but the tokenizer gave no {missing}"
                )
            # The graph was traced on the tokenizer's int64 arrays; spacy-transformers
            # passes the attention mask as floats.
            feeds = {name: inputs[name].detach().cpu().numpy().astype("int64") for name in self.input_names}
            (hidden,) = self.session().run([OUTPUT_NAME], feeds)
            return BaseModelOutput(last_hidden_state=torch.from_numpy(hidden))  # type: ignore[arg-type]

        def __getstate__(self) -> Dict[str, Any]:
            state = dict(self.__dict__)
            state["_session"] = None  # ORT sessions do not pickle; session() rebuilds it
            return state

    return OnnxEncoder


def make_encoder(config: Any, graph: bytes, input_names: Sequence[str], quantization: str, threads: int) -> Any:
    return _encoder_class()(config, graph, input_names, quantization, threads)


def _not_trainable(inputs: Any) -> Any:
    raise ValueError(
        f"[spacy_ft] {ONNX_ARCHITECTURE}: an ONNX Runtime transformer cannot be trained. Add its "
        "component to training.frozen_components, or train the fp32 pipeline and run "
        "`python -m spacy_ft quantize --backend onnx` afterwards."
    )


@functools.lru_cache(maxsize=None)
def _shim_class() -> type:
    """``HFShim`` whose model is an ``OnnxEncoder``; built on first use (torch import)."""
    import srsly
    from spacy.util import SimpleFrozenDict
    from spacy_transformers.data_classes import HFObjects
    from spacy_transformers.layers.hf_shim import HFShim
    from thinc.api import get_torch_default_device

    from spacy_ft.transformer.hf_serialization import config_and_tokenizer

    class OnnxHFShim(HFShim):
        #: ORT intra-op threads for sessions built at load (from the config). Whether the
        #: graph is int8 is a property of the stored graph, not of the shim.
        threads = 0

        def begin_update(self, inputs: Any):
            return _not_trainable(inputs)

        def to_bytes(self) -> bytes:
            """HFShim's message (config, tokenizer files) with the graph instead of torch weights."""
            msg = srsly.msgpack_loads(super().to_bytes())
            encoder = self._hfmodel.transformer
            if encoder is not None:
                msg["state"] = b""
                msg["onnx"] = {
                    "graph": encoder.graph,
                    "input_names": encoder.input_names,
                    "quantization": encoder.quantization,
                }
            return srsly.msgpack_dumps(msg)

        def from_bytes(self, bytes_data: bytes) -> "OnnxHFShim":
            msg = srsly.msgpack_loads(bytes_data)
            if not msg["config"]:
                self._hfmodel = HFObjects(
                    None, None, None, msg["_init_tokenizer_config"], msg["_init_transformer_config"]
                )
                return self
            stored = msg.get("onnx")
            if not stored or not stored.get("graph"):
                raise ValueError(
                    f"[spacy_ft] {ONNX_ARCHITECTURE}: the transformer's stored bytes hold no ONNX graph "
                    "(torch weights instead?). Write the pipeline with "
                    "`python -m spacy_ft quantize MODEL OUT --backend onnx`."
                )
            device = get_torch_default_device()
            if device.type != "cpu":
                raise ValueError(
                    f"[spacy_ft] {ONNX_ARCHITECTURE}: the ONNX backend runs on CPU, but the torch device is "
                    f"{device}; load the fp32 pipeline for GPU inference"
                )
            config, tokenizer, vocab_file_contents = config_and_tokenizer(self, msg)
            encoder = make_encoder(
                config, stored["graph"], stored["input_names"], stored.get("quantization", "int8"), self.threads
            )
            self._hfmodel = HFObjects(tokenizer, encoder, vocab_file_contents, SimpleFrozenDict(), SimpleFrozenDict())
            self._model = encoder
            return self

    return OnnxHFShim


def onnx_encoder_for(hf_model: Any, quantization: str, threads: int) -> Any:
    """An ``OnnxEncoder`` for loaded Hugging Face objects (exports their encoder)."""
    graph, names = export_encoder(hf_model.transformer, hf_model.tokenizer, quantization)
    return make_encoder(hf_model.transformer.config, graph, names, quantization, threads)


@registry.architectures(ONNX_ARCHITECTURE)
def build_onnx_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
    quantization: str = "int8",
    threads: int = 0,
):
    """``spacy_ft.TransformerModel.v1`` whose encoder runs in ONNX Runtime on CPU
    (``quantization``: "int8" or "none"; ``threads``: intra-op threads, 0 = ORT's
    default). Written by ``python -m spacy_ft quantize --backend onnx``."""
    check_onnx_scheme(quantization)
    _check_threads(threads)
    if mixed_precision:
        raise ValueError(
            f"[spacy_ft] {ONNX_ARCHITECTURE}: mixed_precision = true has no meaning for the ONNX Runtime "
            "CPU backend; set mixed_precision = false"
        )
    import_onnxruntime()
    from spacy_ft.transformer.models import build_inference_transformer_model

    model = build_inference_transformer_model(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        grad_scaler_config,
        _shim_class(),
        lambda hf: onnx_encoder_for(hf, quantization, threads),
        threads=threads,
    )
    model.attrs["quantization"] = quantization
    model.attrs["backend"] = "onnxruntime"
    return model


def convert_component(model: Any, quantization: str, threads: int = 0) -> int:
    """Swap a loaded fp32 transformer model's encoder for an ONNX one, in place.

    Returns the number of ``nn.Linear`` layers of the source encoder (the MatMuls
    that ``quantization = "int8"`` makes int8)."""
    import torch
    from spacy_transformers.data_classes import HFObjects

    from spacy_ft.transformer.models import replace_shim

    old = model.layers[0].shims[0]
    hf = old._hfmodel
    linears = sum(isinstance(m, torch.nn.Linear) for m in hf.transformer.modules())
    encoder = onnx_encoder_for(hf, quantization, threads)
    shim = replace_shim(model, _shim_class(), {})
    shim._hfmodel = HFObjects(hf.tokenizer, encoder, hf.vocab_file_contents)
    shim._model = encoder
    shim.threads = threads
    return linears
