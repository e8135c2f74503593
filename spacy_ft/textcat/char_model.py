"""``spacy_ft.CharClassifier.v1``: the classifier over a character encoder's rows.

Pools one vector per character of ``doc.text`` (``spacy_ft.CharEncoderListener.v1``)
into one per doc, then dropout and a linear layer giving logits, as the
transformer classifier does; ``spacy_ft_textcat`` applies softmax or sigmoid.
"""

from typing import Optional

from spacy.util import registry
from thinc.api import Model, chain, list2ragged, reduce_max, reduce_mean

from spacy_ft.textcat.model import OUTPUT_INITS, DocClassifierModel, classifier_head
from spacy_ft.validation import check_choice

POOLINGS = {"mean": reduce_mean, "max": reduce_max}


@registry.architectures("spacy_ft.CharClassifier.v1")
def build_char_classifier(
    tok2vec: Model,
    pooling: str = "mean",
    dropout: float = 0.0,
    nO: Optional[int] = None,
    output_init: str = "zero",
) -> DocClassifierModel:
    """``output_init = "zero"`` and no dropout by default: the recipe that trains a
    classifier from scratch most stably (docs/benchmarks.md, classifier)."""
    check_choice(output_init, OUTPUT_INITS, "output_init", component="spacy_ft_textcat")
    check_choice(pooling, POOLINGS, "pooling", component="spacy_ft_textcat")
    return classifier_head(tok2vec, chain(list2ragged(), POOLINGS[pooling]()), pooling, dropout, nO, output_init)
