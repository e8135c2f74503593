"""How a head reaches the transformer: registered listener and inline builders.

The heads (``spacy_ft_textcat``, ``spacy_ft_ner``) read ``TransformerData``
itself, not token-pooled vectors, so they need these instead of
spacy-transformers' pooling listener. spacy-transformers is imported inside the
builders, never at module level, because spaCy imports this module whenever a
config names one of these architectures.
"""

from typing import TYPE_CHECKING, Any, Callable, Dict, List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, chain

if TYPE_CHECKING:
    from spacy_transformers.data_classes import TransformerData

#: What a head reads: docs in, each doc's ``TransformerData`` out.
TransformerDataModel = Model[List[Doc], List["TransformerData"]]


@registry.architectures("spacy_ft.TransformerDataListener.v1")
def build_transformer_data_listener(upstream: str = "*") -> TransformerDataModel:
    """Listen to a shared transformer
    component and pass its raw output on (no token pooling), so a head can read
    the [CLS] vector or the wordpieces themselves."""
    from spacy_transformers.layers import TransformerListener

    return TransformerListener(upstream_name=upstream)


@registry.architectures("spacy_ft.InlineTransformer.v1")
def build_inline_transformer(
    name: str,
    get_spans: Callable,
    tokenizer_config: Dict[str, Any] = {},  # noqa: B006 - config defaults, never mutated
    transformer_config: Dict[str, Any] = {},  # noqa: B006
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = {},  # noqa: B006
) -> TransformerDataModel:
    """A transformer owned by one
    component (no listener), for pipelines where sharing is not wanted."""
    from spacy_transformers.layers.split_trf import split_trf_batch

    from spacy_ft.transformer.models import build_transformer_model_v1

    return chain(
        build_transformer_model_v1(
            name, get_spans, tokenizer_config, transformer_config, mixed_precision, grad_scaler_config
        ),
        split_trf_batch(),
    )
