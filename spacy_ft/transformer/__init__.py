"""Transformer plumbing shared by every head: loading, listeners, alignment.

``models`` (``spacy_ft.TransformerModel.v1``, shims), ``listeners``
(``TransformerDataListener`` / ``InlineTransformer``), ``alignment`` (hidden
states and wordpiece spans), ``token_split`` (split tokens without breaking the
alignment), ``trf_data`` (gradients back into ``TransformerData``),
``head_dropout``, ``hf_serialization``, ``char_bert`` (the from-scratch character
BERT), ``fork_safety``.
"""
