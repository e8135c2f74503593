"""``spacy_ft_trf_cleanup``: drop transformer outputs nobody reads any more.

Every doc from a transformer pipeline keeps ``doc._.trf_data``: the hidden
states of all its windows, tens of kilobytes per sentence. Services that keep
docs (or their spans) grow without bound (spaCy #8554, #12037), and users write
this component by hand. Put it last: the heads have used the data by then.
``keep_alignment = true`` keeps the wordpieces and alignment (cheap) and drops
only the tensors. The character encoder's rows (``doc._.char_tensor``, one vector
per character) go the same way.
"""

from spacy.language import Language
from spacy.tokens import Doc


@Language.factory("spacy_ft_trf_cleanup", default_config={"keep_alignment": False})
def make_trf_cleanup(nlp: Language, name: str, keep_alignment: bool) -> "TransformerDataCleanup":
    return TransformerDataCleanup(name, keep_alignment=keep_alignment)


class TransformerDataCleanup:
    def __init__(self, name: str, *, keep_alignment: bool = False) -> None:
        self.name = name
        self.keep_alignment = keep_alignment

    def __call__(self, doc: Doc) -> Doc:
        if Doc.has_extension("char_tensor"):
            doc._.char_tensor = None
        if not Doc.has_extension("trf_data") or doc._.trf_data is None:
            return doc
        from spacy_transformers.data_classes import TransformerData
        from transformers.file_utils import ModelOutput

        old = doc._.trf_data
        if self.keep_alignment:
            doc._.trf_data = TransformerData(
                wordpieces=old.wordpieces, model_output=ModelOutput(), align=old.align
            )
        else:
            doc._.trf_data = TransformerData.empty()
        return doc
