"""Transformer plumbing, and nothing a pipeline without a transformer needs.

``models`` (``spacy_ft.TransformerModel.v1``-``v3``, shims), ``half_table`` (the
fp16 frozen piece table), ``listeners`` (``TransformerDataListener`` /
``InlineTransformer``), ``alignment`` (hidden states and wordpiece spans),
``trf_data`` (gradients back into ``TransformerData``), ``hf_serialization``.
"""
