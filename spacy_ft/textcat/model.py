"""``spacy_ft.TransformerClassifier.v1``: the classifier's registered model builder.

spaCy imports this module whenever a config names the architecture, so it holds
the builder only; the layers sit beside it.
"""

from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Linear, Model, chain, glorot_uniform_init, zero_init
from thinc.types import Floats2d

from spacy_ft.ml.head_dropout import head_dropout
from spacy_ft.textcat.doc_pooling import build_doc_pooling
from spacy_ft.validation import check_choice

#: Every classifier model: docs in, one row of logits per doc out.
DocClassifierModel = Model[List[Doc], Floats2d]

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
) -> DocClassifierModel:
    """Pooling -> dropout -> linear, as ``BertForSequenceClassification``.

    Outputs logits; ``spacy_ft_textcat`` applies softmax (exclusive classes) or
    sigmoid (multi-label) so the loss can use the numerically stable form.
    ``tok2vec`` must produce ``TransformerData`` (``TransformerDataListener`` or
    ``InlineTransformer``). ``dropout`` is the head's rate in training whatever
    ``nlp.update(drop=...)`` or ``[training] dropout`` says (``spacy_ft.ml.head_dropout``).

    ``output_init = "zero"`` starts every class at the same logit, so no gradient
    reaches the encoder until the head has learned something: stock textcat's
    choice. With mean pooling and no head dropout it is the stable head for an
    encoder trained from scratch (``configs/zh_cpu.cfg``), but it costs a
    pretrained encoder accuracy, so Glorot stays the default (the classifier
    benchmark in docs/benchmarks.md has the numbers).
    """
    check_choice(output_init, OUTPUT_INITS, "output_init", component="spacy_ft_textcat")
    return classifier_head(tok2vec, build_doc_pooling(pooling, grad_factor), pooling, dropout, nO, output_init)


def classifier_head(
    tok2vec: Model, pooling_layer: Model, pooling: str, dropout: float, nO: Optional[int], output_init: str
) -> DocClassifierModel:
    """encoder -> pooling -> head dropout -> linear, with the refs ``spacy_ft_textcat``
    and the tests read; shared by the transformer and the character classifiers, which
    check ``output_init`` before building their pooling."""
    output_layer = Linear(nO=nO, init_W=OUTPUT_INITS[output_init])
    dropout_layer = head_dropout(dropout)
    model: DocClassifierModel = chain(tok2vec, pooling_layer, dropout_layer, output_layer)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("head_dropout", dropout_layer)
    model.set_ref("output_layer", output_layer)
    model.attrs["pooling"] = pooling
    return model
