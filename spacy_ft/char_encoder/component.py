"""``spacy_ft_char_encoder``: one vector per character, shared with listening heads.

spaCy's ``tok2vec`` shares token vectors through ``doc.tensor``, one row per token.
This encoder has one row per *character* of ``doc.text`` (so a character-level NER
head loses no entity to jieba's word boundaries), which ``doc.tensor`` cannot hold
without breaking spaCy's token-aligned uses of it (``token.vector``, retokenizing).
So the rows go to ``doc._.char_tensor`` and heads listen with
``spacy_ft.CharEncoderListener.v1``: spaCy's ``Tok2VecListener`` with that one
difference, so training shares the encoder's forward and backward passes exactly as
``tok2vec`` does.

The lexicon is the tokenizer's own dictionary: jieba's main dictionary plus the
pipeline's user dictionary (``spacy_ft.JiebaTokenizer.v1``). It is set at
``initialize`` and saved inside the model; words the user adds to the tokenizer
later join the lexicon on the next batch, so domain terms help recognition without
retraining (word vectors are hashed: a new word still maps to trained rows). The
tokenizer's user entries carry a version that counts their changes
(:class:`spacy_ft.jieba.user_entries.UserEntries`); the encoder reads it before every
batch and touches the lexicon only when it differs from the version it last saw.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.language import Language
from spacy.pipeline.tok2vec import Tok2Vec, Tok2VecListener
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry
from thinc.api import Config, Model
from thinc.types import Floats2d

if TYPE_CHECKING:
    from spacy_ft.char_encoder.model import CharEncoderModel
    from spacy_ft.jieba.user_entries import UserEntries

NAME = "spacy_ft_char_encoder"
#: Where the encoder leaves its rows for the listeners (and the pipeline's cleaner drops them).
EXTENSION = "char_tensor"

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_ft.CharLexiconEncoder.v2"
width = 128
depth = 4
embed_size = 20000
encoder = "cnn"
lexicon = true
"""
)["model"]


def register_extension() -> None:
    if not Doc.has_extension(EXTENSION):
        Doc.set_extension(EXTENSION, default=None)


@Language.factory(NAME, assigns=[f"doc._.{EXTENSION}"], default_config={"model": DEFAULT_MODEL})
def make_char_encoder(nlp: Language, name: str, model: Model) -> "CharEncoder":
    return CharEncoder(nlp.vocab, model, name, tokenizer=nlp.tokenizer)


class CharEncoder(Tok2Vec):
    """A ``Tok2Vec`` whose outputs are per character, and whose lexicon follows the tokenizer."""

    def __init__(self, vocab, model: Model, name: str = NAME, *, tokenizer: Any = None) -> None:
        super().__init__(vocab, model, name)
        register_extension()
        self._tokenizer = tokenizer
        # The user entries the lexicon was last brought in step with, and their version then.
        self._synced: Optional[Tuple["UserEntries", int]] = None

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        lac_dir: Optional[Union[str, Path]] = None,
    ) -> None:
        """Set the lexicon from the tokenizer's dictionary and, with ``lac_dir`` (the
        directory ``python -m spacy ft init-lac`` writes; ``[initialize.components.NAME]``
        in a config), LAC's weights, then initialize the model. Both are saved in the
        model: ``spacy.load`` reads neither again.

        This module has no ``from __future__ import annotations``: spaCy validates
        ``[initialize.components]`` settings against these annotations, which must be types."""
        from spacy_ft.char_encoder.lexicon import Lexicon
        from spacy_ft.char_encoder.model import set_lexicon

        if lac_dir is not None:
            from spacy_ft.char_encoder.lac_file import load_lac
            from spacy_ft.char_encoder.model import set_lac

            if not set_lac(self.model, load_lac(Path(lac_dir))):
                raise ValueError(
                    f"[{self.name}] lac_dir is set ({lac_dir}) but the model reads no LAC states: use "
                    "spacy_ft.CharLexiconEncoder.v3 with lac = \"frozen\" or \"finetune\", or leave lac_dir unset"
                )
        if nlp is not None:
            self._tokenizer = nlp.tokenizer
        entries = self._user_entries()
        user_words = [(e.word, e.freq) for e in entries] if entries is not None else []
        set_lexicon(self.model, Lexicon.from_jieba(user_words=user_words))
        self._synced = (entries, entries.version) if entries is not None else None
        super().initialize(get_examples, nlp=nlp)

    def _user_entries(self) -> Optional["UserEntries"]:
        """The tokenizer's user entries; ``None`` for a tokenizer without a user dictionary."""
        return getattr(self._tokenizer, "user_entries", None)

    def sync_lexicon(self) -> int:
        """Add the tokenizer's user words that the lexicon lacks; returns how many.

        Called before every batch; when the user entries have not changed since the last
        call (same entries, same version) it reads one number and returns 0."""
        entries = self._user_entries()
        if entries is None:
            return 0
        synced = self._synced
        if synced is not None and synced[0] is entries and synced[1] == entries.version:
            return 0
        from spacy_ft.char_encoder.model import get_lexicon

        version = entries.version
        lexicon = get_lexicon(self.model)
        added = 0
        if lexicon is not None:
            for entry in entries:
                if entry.word not in lexicon or entry.freq is not None:
                    lexicon.add_word(entry.word, entry.freq)
                    added += 1
        self._synced = (entries, version)
        return added

    def predict(self, docs: Iterable[Doc]):
        docs = list(docs)
        self.sync_lexicon()
        if not docs:
            return []
        return self.model.predict(docs)

    def update(self, examples: Iterable[Example], **kwargs: Any):
        self.sync_lexicon()
        return super().update(examples, **kwargs)

    def set_annotations(self, docs: Sequence[Doc], char_vectors: List[Floats2d]) -> None:
        if len(docs) != len(char_vectors):
            raise ValueError(f"[{self.name}] {len(char_vectors)} outputs for {len(docs)} docs")
        for doc, rows in zip(docs, char_vectors):
            if rows.shape[0] != len(doc.text):
                raise ValueError(
                    f"[{self.name}] {rows.shape[0]} rows for a doc of {len(doc.text)} characters: "
                    "the model must give one row per character of doc.text"
                )
            doc._.set(EXTENSION, rows)


@registry.architectures("spacy_ft.CharEncoderListener.v1")
def build_char_encoder_listener(width: int, upstream: str = "*") -> "CharEncoderModel":
    """The upstream ``spacy_ft_char_encoder``'s rows, one per character of ``doc.text``; ``width`` is the encoder's."""
    return CharEncoderListener(upstream, width)


class CharEncoderListener(Tok2VecListener):
    """``Tok2VecListener`` reading ``doc._.char_tensor`` instead of ``doc.tensor`` at prediction."""

    name = "char_encoder_listener"

    def __init__(self, upstream_name: str, width: int) -> None:
        Model.__init__(self, self.name, _listener_forward, dims={"nO": width})
        self.upstream_name = upstream_name
        self._batch_id = None
        self._outputs = None
        self._backprop = None


def _listener_forward(model: CharEncoderListener, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    if is_train and model._batch_id is not None:
        model.verify_inputs(docs)
        return model._outputs, model._backprop  # type: ignore[return-value]  # set with _batch_id
    # Predicting: the encoder ran earlier in the pipeline and left its rows on the
    # docs. A doc without them gets zeros, as spaCy's listener gives a doc without a
    # tensor: thinc's chain initialisation predicts on docs nothing has annotated.
    width = model.get_dim("nO")
    outputs = []
    for doc in docs:
        rows = doc._.get(EXTENSION) if Doc.has_extension(EXTENSION) else None
        outputs.append(rows if rows is not None else model.ops.alloc2f(len(doc.text), width))
    return outputs, lambda d_outputs: []
