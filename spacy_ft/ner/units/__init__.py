"""The NER head's labelling units, one module a kind of encoder output.

``wordpiece`` (``TransformerData``: wordpieces, or the characters of
multi-character pieces; ``spacy_ft.TokenClassifier.v1/.v2``) and ``character``
(a character encoder's one row a character; ``spacy_ft.CharTokenClassifier.v1``).
Each turns a batch's encoder output into ``DocUnits`` and unit features for the
shared head (``spacy_ft.ner.head``) and builds its model.
"""

from spacy_ft.ner.units.wordpiece import doc_units

__all__ = ["doc_units"]
