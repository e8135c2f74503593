"""``spacy_ft.TokenClassifier.v1``: the NER head's registered model builder."""

from typing import Optional

from spacy.util import registry
from thinc.api import Model

from spacy_ft.ner.unit_classifier import unit_classifier


@registry.architectures("spacy_ft.TokenClassifier.v1")
def build_token_classifier(
    tok2vec: Model, dropout: float = 0.1, crf: bool = False, nO: Optional[int] = None
) -> Model:
    """Model[List[Doc], List[Tuple[DocUnits, Floats2d]]]: BIO logits per wordpiece
    unit, as ``BertForTokenClassification``; ``crf`` adds a linear-chain CRF on
    top. ``tok2vec`` must produce ``TransformerData`` (``TransformerDataListener``
    or ``InlineTransformer``)."""
    return unit_classifier(tok2vec, dropout=dropout, nO=nO, crf=crf)
