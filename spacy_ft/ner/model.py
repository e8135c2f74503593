"""The NER head's registered model builders.

``spacy_ft.TokenClassifier.v1`` labels wordpieces (pipelines saved with it load
and predict as they always did); ``spacy_ft.TokenClassifier.v2`` adds
``character_units``: the characters of multi-character pieces become units (see
``spacy_ft.ner.units.wordpiece``), with position and character embeddings, so
entity edges inside SentencePiece pieces (XLM-R, multilingual-e5) can be labelled.
``spacy_ft.CharTokenClassifier.v1`` labels the characters of a character encoder
(``spacy_ft.ner.units.character``).
"""

from typing import Optional

from spacy.util import registry
from thinc.api import Model

from spacy_ft.ner.head import NERHeadModel
from spacy_ft.ner.units.character import build_char_head
from spacy_ft.ner.units.wordpiece import build_wordpiece_head


@registry.architectures("spacy_ft.TokenClassifier.v1")
def build_token_classifier(
    tok2vec: Model, dropout: float = 0.1, crf: bool = False, nO: Optional[int] = None
) -> NERHeadModel:
    """BIO logits per wordpiece unit, as
    ``BertForTokenClassification``; ``crf`` adds a linear-chain CRF on top.
    ``tok2vec`` must produce ``TransformerData`` (``TransformerDataListener``
    or ``InlineTransformer``)."""
    return build_wordpiece_head(tok2vec, dropout=dropout, nO=nO, crf=crf)


@registry.architectures("spacy_ft.TokenClassifier.v2")
def build_token_classifier_v2(
    tok2vec: Model,
    dropout: float = 0.1,
    crf: bool = False,
    character_units: str = "cjk",
    max_position: int = 15,
    character_rows: int = 4096,
    nO: Optional[int] = None,
) -> NERHeadModel:
    """As ``spacy_ft.TokenClassifier.v1``, over character units where a piece
    holds several characters. ``character_units``: "none" (v1's units and
    parameters), "cjk" (split pieces holding a CJK, Kana or Hangul character;
    text without one is labelled as by "none", so English is unchanged) or "all"
    (split every multi-character piece: Latin words inside Chinese text too).
    A split piece's characters get its vector plus learned, zero-initialised
    embeddings of their position inside the piece (positions from
    ``max_position`` on share one) and of the character (``character_rows``
    hashed rows)."""
    return build_wordpiece_head(
        tok2vec,
        dropout=dropout,
        nO=nO,
        crf=crf,
        character_units=character_units,
        max_position=max_position,
        character_rows=character_rows,
    )


@registry.architectures("spacy_ft.CharTokenClassifier.v1")
def build_char_token_classifier(
    tok2vec: Model, dropout: float = 0.1, crf: bool = True, nO: Optional[int] = None
) -> NERHeadModel:
    """BIO logits per character of a character
    encoder's output (``spacy_ft.CharEncoderListener.v1``)."""
    return build_char_head(tok2vec, dropout=dropout, crf=crf, nO=nO)
