"""Registered model builders (``spacy_architectures`` entry points).

Builders only: the layers live in ``spacy_ft.layers``. spacy-transformers is
imported inside the builders, never at module level, because spaCy imports this
module whenever a config names one of these architectures.
"""

from typing import Any, Callable, Dict, List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, chain, glorot_uniform_init, zero_init
from thinc.types import Floats2d

from .layers.doc_pooling import transformer_doc_pooling
from .layers.head_dropout import head_dropout
from .layers.unit_classifier import unit_classifier


@registry.architectures("spacy_ft.TransformerDataListener.v1")
def transformer_data_listener(upstream: str = "*") -> Model:
    """Model[List[Doc], List[TransformerData]]: listen to a shared transformer
    component and pass its raw output on (no token pooling), so a head can read
    the [CLS] vector or the wordpieces themselves."""
    from spacy_transformers.layers import TransformerListener

    return TransformerListener(upstream_name=upstream)


@registry.architectures("spacy_ft.InlineTransformer.v1")
def inline_transformer(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
) -> Model:
    """Model[List[Doc], List[TransformerData]]: a transformer owned by one
    component (no listener), for pipelines where sharing is not wanted."""
    from spacy_transformers.layers.split_trf import split_trf_batch

    from .models import transformer_model

    return chain(
        transformer_model(
            name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
        ),
        split_trf_batch(),
    )


#: How the classifier's output weights start: thinc's Glorot default, or zeros.
OUTPUT_INITS = {"glorot": glorot_uniform_init, "zero": zero_init}


@registry.architectures("spacy_ft.TransformerClassifier.v1")
def build_transformer_classifier(
    tok2vec: Model,
    pooling: str = "cls",
    dropout: float = 0.1,
    grad_factor: float = 1.0,
    nO: Optional[int] = None,
    output_init: str = "glorot",
) -> Model[List[Doc], Floats2d]:
    """Pooling -> dropout -> linear, as ``BertForSequenceClassification``.

    Outputs logits; ``spacy_ft_textcat`` applies softmax (exclusive classes) or
    sigmoid (multi-label) so the loss can use the numerically stable form.
    ``tok2vec`` must produce ``TransformerData`` (``TransformerDataListener`` or
    ``InlineTransformer``). ``dropout`` is the head's rate in training whatever
    ``nlp.update(drop=...)`` or ``[training] dropout`` says (``layers.head_dropout``).

    ``output_init = "zero"`` starts every class at the same logit, so no gradient
    reaches the encoder until the head has learned something: stock textcat's
    choice. With mean pooling and no head dropout it is the stable head for an
    encoder trained from scratch (``configs/zh_cpu.cfg``; ChnSentiCorp seeds
    0/1/2: 87.08/87.33/87.25 against [CLS]/0.1/Glorot's 87.00/86.42/86.08), but
    it cost pretrained MiniLM 1.5 points on SST-2, so Glorot stays the default.
    """
    if output_init not in OUTPUT_INITS:
        raise ValueError(
            f"[spacy_ft] unknown output_init {output_init!r}: choose one of {list(OUTPUT_INITS)}"
        )
    output_layer = Linear(nO=nO, init_W=OUTPUT_INITS[output_init])
    dropout_layer = head_dropout(dropout)
    model = chain(tok2vec, transformer_doc_pooling(pooling, grad_factor), dropout_layer, output_layer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("head_dropout", dropout_layer)
    model.set_ref("output_layer", output_layer)
    model.attrs["pooling"] = pooling
    return model


@registry.architectures("spacy_ft.TokenClassifier.v1")
def build_token_classifier(
    tok2vec: Model, dropout: float = 0.1, crf: bool = False, nO: Optional[int] = None
) -> Model:
    """Model[List[Doc], List[Tuple[DocUnits, Floats2d]]]: BIO logits per wordpiece
    unit, as ``BertForTokenClassification``; ``crf`` adds a linear-chain CRF on
    top. ``tok2vec`` must produce ``TransformerData`` (``TransformerDataListener``
    or ``InlineTransformer``)."""
    return unit_classifier(tok2vec, dropout=dropout, nO=nO, crf=crf)
