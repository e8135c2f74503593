"""``TransformerData`` for the way back: what a head's backprop hands the transformer.

spacy-transformers' listener takes one ``TransformerData`` per doc (empty docs left
out) whose last hidden state holds the gradient and whose wordpieces and alignment
are the forward pass's; every head that reads ``TransformerData`` builds it here.
"""

from typing import Any


def with_hidden_gradient(trf_data: Any, d_hidden: Any) -> Any:
    """``TransformerData`` with ``trf_data``'s wordpieces and alignment and
    ``d_hidden`` (shaped as its last hidden state) as the gradient of that state."""
    # Imported here: spacy-transformers and transformers load slowly, and only training needs them.
    from spacy_transformers.data_classes import TransformerData
    from transformers.file_utils import ModelOutput

    return TransformerData(
        model_output=ModelOutput(last_hidden_state=d_hidden),
        wordpieces=trf_data.wordpieces,
        align=trf_data.align,
    )
