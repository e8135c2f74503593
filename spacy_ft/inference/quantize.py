"""int8 dynamic quantization of a trained pipeline's transformer.

``python -m spacy_ft quantize MODEL_DIR OUT_DIR`` replaces every ``nn.Linear`` of
the Hugging Face encoder with torch's dynamically quantized int8 Linear (weights
stored as int8 with a per-tensor scale, activations quantized on the fly), writes
the pipeline, and points its config at ``spacy_ft.QuantizedTransformerModel.v1``.

Why a registered architecture: a quantized Linear keeps its weights as packed
params, so its state dict does not fit an fp32 module. ``spacy.load`` builds the
model from the config first and loads the bytes second; the architecture's shim
therefore builds the encoder from its config, quantizes it, and only then loads
the int8 state dict. The weights are read with ``torch.load(weights_only=True)``
(torch's restricted unpickler: tensors, quantized tensors, dtypes and plain
containers; never arbitrary objects). safetensors cannot hold quantized tensors.

The heads (``spacy_ft_textcat``, ``spacy_ft_ner``) are Thinc numpy layers, not
torch: they are left in fp32 (one small matrix each; their cost is negligible
next to the encoder). Embeddings and LayerNorm stay fp32 too: dynamic
quantization speeds up matrix multiplications, and those are the Linears.

This module is an entry-point module (spaCy imports it to resolve the
architecture name), so torch and spacy-transformers are imported inside
functions only.
"""

from __future__ import annotations

import functools
import shutil
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Union

from spacy.util import registry

from spacy_ft.inference.onnx import (
    ONNX_ARCHITECTURE,
    OPSET,
    check_onnx_scheme,
    convert_component,
    import_onnxruntime,
)
from spacy_ft.validation import check_choice

QUANTIZED_ARCHITECTURE = "spacy_ft.QuantizedTransformerModel.v1"
#: fp32 transformer architectures the command knows how to replace.
FP32_ARCHITECTURES = (
    "spacy_ft.TransformerModel.v1",
    "spacy_ft.TransformerModel.v2",
    "spacy_ft.TransformerModel.v3",
    "spacy-transformers.TransformerModel.v1",
    "spacy-transformers.TransformerModel.v2",
    "spacy-transformers.TransformerModel.v3",
)
#: ``quantization`` setting -> torch dtype name.
SCHEMES = {"int8": "qint8"}
#: ``--backend``: torch dynamic quantization, or ONNX Runtime (``spacy_ft.inference.onnx``).
BACKENDS = ("torch", "onnx")


@contextmanager
def _quiet_torch_quantization() -> Iterator[None]:
    """torch >= 2.9 marks ``torch.ao.quantization`` deprecated (moving to torchao) and warns
    about TypedStorage and quantized tensor creation when (de)serializing quantized tensors. The API still works and is
    what this module needs; the warnings would reach every ``spacy.load`` user, so they
    are silenced here only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*TypedStorage is deprecated.*")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*quantized tensor creation functions.*")
        yield


def _check_scheme(quantization: str) -> str:
    check_choice(quantization, SCHEMES, "quantization", component=f"spacy_ft {QUANTIZED_ARCHITECTURE}")
    return quantization


def quantize_module(module: Any, quantization: str = "int8") -> Any:
    """A copy of ``module`` with every ``nn.Linear`` dynamically quantized (eval mode)."""
    import torch

    dtype = getattr(torch, SCHEMES[_check_scheme(quantization)])
    module.eval()
    with _quiet_torch_quantization():
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=dtype)


def count_quantized_linears(module: Any) -> int:
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    return sum(isinstance(m, QuantizedLinear) for m in module.modules())


@functools.lru_cache(maxsize=None)
def _shim_class() -> type:
    """``HFShim`` that quantizes the encoder before loading an int8 state dict.

    Built on first use so importing this module never imports torch.
    """
    from io import BytesIO

    import srsly
    import torch
    from spacy.util import SimpleFrozenDict
    from spacy_transformers.data_classes import HFObjects
    from spacy_transformers.layers.hf_shim import HFShim
    from thinc.api import get_torch_default_device

    from spacy_ft.transformer.hf_serialization import config_and_tokenizer

    class QuantizedHFShim(HFShim):
        quantization = "int8"

        def begin_update(self, inputs: Any):
            raise ValueError(
                f"[spacy_ft] {QUANTIZED_ARCHITECTURE}: an int8 transformer cannot be trained. "
                "Add its component to training.frozen_components, or train the fp32 pipeline "
                "and run `python -m spacy_ft quantize` afterwards."
            )

        def to_bytes(self) -> bytes:
            with _quiet_torch_quantization():
                return super().to_bytes()

        def from_bytes(self, bytes_data: bytes) -> "QuantizedHFShim":
            """As ``HFShim.from_bytes``, but: quantize before loading, load with
            ``weights_only=True``, strict keys (no silent partial load), CPU only."""
            msg = srsly.msgpack_loads(bytes_data)
            if not msg["config"]:
                self._hfmodel = HFObjects(
                    None, None, None, msg["_init_tokenizer_config"], msg["_init_transformer_config"]
                )
                return self
            device = get_torch_default_device()
            if device.type != "cpu":
                raise ValueError(
                    f"[spacy_ft] {QUANTIZED_ARCHITECTURE}: int8 dynamic quantization runs on CPU only, "
                    f"but the torch device is {device}; load the fp32 pipeline for GPU inference"
                )
            config, tokenizer, vocab_file_contents = config_and_tokenizer(self, msg)
            transformer = quantize_module(self.model_cls.from_config(config), self.quantization)
            with _quiet_torch_quantization():
                state = torch.load(BytesIO(msg["state"]), map_location="cpu", weights_only=True)
            transformer.load_state_dict(state, strict=True)
            self._hfmodel = HFObjects(
                tokenizer, transformer, vocab_file_contents, SimpleFrozenDict(), SimpleFrozenDict()
            )
            self._model = transformer
            return self

    return QuantizedHFShim


@registry.architectures(QUANTIZED_ARCHITECTURE)
def build_quantized_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
    quantization: str = "int8",
):
    """``spacy_ft.TransformerModel.v1`` whose encoder Linears are int8 (torch dynamic
    quantization), for CPU inference. Written by ``python -m spacy_ft quantize``."""
    _check_scheme(quantization)
    if mixed_precision:
        raise ValueError(
            f"[spacy_ft] {QUANTIZED_ARCHITECTURE}: mixed_precision = true cannot be combined with "
            f"quantization = {quantization!r} (int8 runs on CPU); set mixed_precision = false"
        )
    from spacy_ft.transformer.models import build_inference_transformer_model

    model = build_inference_transformer_model(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        grad_scaler_config,
        _shim_class(),
        lambda hf: quantize_module(hf.transformer, quantization),
        quantization=quantization,
    )
    model.attrs["quantization"] = quantization
    return model


@dataclass
class QuantizeReport:
    """What ``quantize_pipeline`` did, for the CLI and the benchmark."""

    model_dir: str
    out_dir: str
    components: List[str]
    linear_layers: int
    bytes_before: int
    bytes_after: int
    quantization: str = "int8"
    backend: str = "torch"
    notes: List[str] = field(default_factory=list)

    def summary(self) -> str:
        ratio = self.bytes_after / self.bytes_before if self.bytes_before else float("nan")
        now = self.quantization
        if self.backend == "onnx":
            now = f"{'int8' if self.quantization == 'int8' else 'fp32'} in ONNX Runtime"
        return (
            f"{self.model_dir} -> {self.out_dir}: {self.linear_layers} Linear layers of "
            f"{', '.join(self.components)} now {now}; size {self.bytes_before / 1e6:.1f} MB -> "
            f"{self.bytes_after / 1e6:.1f} MB ({ratio:.2f}x)"
        )


def prediction_agreement(expected: List[Dict[str, Any]], got: List[Dict[str, Any]]) -> Dict[str, float]:
    """How close int8 predictions stay to fp32 ones (``spacy_ft.packaging.predictions`` dicts):
    share of docs with exactly the same entities, with the same top class, and the largest
    change of any class probability. Quantization noise is expected, so this is a rate,
    not the exact equality ``packaging.differences`` checks. A pipeline without a
    classifier (NER only) has no classes: its class entries are None."""
    if len(expected) != len(got) or not expected:
        raise ValueError(f"[spacy_ft] agreement: {len(got)} predictions for {len(expected)} docs")
    ents = sum(a["ents"] == b["ents"] for a, b in zip(expected, got))
    classified = [(a, b) for a, b in zip(expected, got) if a["cats"]]
    if not classified:
        return {"same_entities": round(ents / len(expected), 4), "same_top_class": None, "max_cats_delta": None}
    top = sum(max(a["cats"], key=a["cats"].get) == max(b["cats"], key=b["cats"].get) for a, b in classified)
    delta = max(abs(a["cats"][k] - b["cats"][k]) for a, b in classified for k in a["cats"])
    return {
        "same_entities": round(ents / len(expected), 4),
        "same_top_class": round(top / len(classified), 4),
        "max_cats_delta": round(delta, 4),
    }


def directory_size(path: Union[str, Path]) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def transformer_components(config_path: Path) -> List[str]:
    """Names of the components whose model is an fp32 transformer we can quantize.

    Raises ``ValueError`` naming the config file when there is none.
    """
    from spacy.util import load_config

    config = load_config(config_path, interpolate=False)
    found, already = [], []
    for name, component in config.get("components", {}).items():
        architecture = component.get("model", {}).get("@architectures") if isinstance(component, dict) else None
        if architecture in FP32_ARCHITECTURES:
            found.append(name)
        elif architecture in (QUANTIZED_ARCHITECTURE, ONNX_ARCHITECTURE):
            already.append(name)
    if found:
        return found
    if already:
        raise ValueError(
            f"[spacy_ft] quantize: {config_path}: component(s) {', '.join(already)} are already quantized "
            "or exported; quantize the fp32 pipeline instead"
        )
    raise ValueError(
        f"[spacy_ft] quantize: {config_path}: no transformer component to quantize (looked for a component "
        f"whose [components.*.model] is one of {', '.join(FP32_ARCHITECTURES)}; components: "
        f"{', '.join(config.get('components', {})) or 'none'})"
    )


def _rewrite_config(config_path: Path, components: List[str], settings: Dict[str, Any]) -> None:
    """Point the written config at the inference architecture (``settings`` holds its
    name and arguments), keeping ``${...}`` variables."""
    from spacy.util import load_config

    config = load_config(config_path, interpolate=False)
    for name in components:
        model = config["components"][name]["model"]
        model.update(settings)
        model["mixed_precision"] = False
        # Training-only settings of spacy_ft.TransformerModel.v2 / v3 the inference
        # architectures do not take (the weights they load are already rounded).
        model.pop("freeze_embeddings", None)
        model.pop("frozen_embeddings_dtype", None)
    config.to_disk(config_path)


def _check_backend(backend: str, quantization: str) -> None:
    check_choice(backend, BACKENDS, "backend", component="spacy_ft quantize")
    if backend == "onnx":
        check_onnx_scheme(quantization)
    else:
        _check_scheme(quantization)


def quantize_pipeline(
    model_dir: Union[str, Path],
    out_dir: Union[str, Path],
    *,
    quantization: str = "int8",
    backend: str = "torch",
    threads: int = 0,
    force: bool = False,
) -> QuantizeReport:
    """Write an int8 copy of the pipeline in ``model_dir`` to ``out_dir``: torch dynamic
    quantization, or (``backend = "onnx"``) the encoder exported to ONNX Runtime, int8
    or (``quantization = "none"``) fp32, with ``threads`` intra-op threads (0: ORT's default).

    The result loads with plain ``spacy.load(out_dir)`` wherever spacy_ft is installed
    (with ``spacy_ft[onnx]`` for the ONNX backend).
    """
    import spacy

    _check_backend(backend, quantization)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    config_path = model_dir / "config.cfg"
    if not model_dir.is_dir():
        raise ValueError(f"[spacy_ft] quantize: pipeline directory not found: {model_dir}")
    if not config_path.is_file():
        raise ValueError(f"[spacy_ft] quantize: {model_dir} is not a spaCy pipeline directory (no config.cfg)")
    if out_dir.resolve() == model_dir.resolve():
        raise ValueError(f"[spacy_ft] quantize: the output directory must differ from the input: {out_dir}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        if not force:
            raise ValueError(f"[spacy_ft] quantize: output {out_dir} exists and is not empty (use --force to replace it)")
        if out_dir.is_dir():
            shutil.rmtree(out_dir)
        else:
            out_dir.unlink()
    components = transformer_components(config_path)
    if backend == "onnx":
        import_onnxruntime()  # fail before the slow load and export
    nlp = spacy.load(model_dir)
    linears = 0
    for name in components:
        component: Any = nlp.get_pipe(name)
        if backend == "onnx":
            linears += convert_component(component.model, quantization, threads)
            continue
        shim = component.model.layers[0].shims[0]
        quantized = quantize_module(shim._model, quantization)
        shim._model = quantized
        shim._hfmodel.transformer = quantized
        linears += count_quantized_linears(quantized)
    if backend == "onnx":
        scheme = f"ONNX Runtime, {'dynamic int8' if quantization == 'int8' else 'fp32'} (opset {OPSET})"
        settings = {"@architectures": ONNX_ARCHITECTURE, "quantization": quantization, "threads": threads}
    else:
        scheme = f"torch dynamic {quantization} (nn.Linear)"
        settings = {"@architectures": QUANTIZED_ARCHITECTURE, "quantization": quantization}
    nlp.meta.setdefault("spacy_ft", {})["quantization"] = {"scheme": scheme, "components": components}
    with _quiet_torch_quantization():
        nlp.to_disk(out_dir)
    _rewrite_config(out_dir / "config.cfg", components, settings)
    return QuantizeReport(
        model_dir=str(model_dir),
        out_dir=str(out_dir),
        components=components,
        linear_layers=linears,
        bytes_before=directory_size(model_dir),
        bytes_after=directory_size(out_dir),
        quantization=quantization,
        backend=backend,
        notes=["heads (spacy_ft_textcat, spacy_ft_ner) are Thinc numpy layers and stay fp32"],
    )
