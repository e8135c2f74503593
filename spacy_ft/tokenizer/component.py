"""The Jieba tokenizer, ``spacy_ft.JiebaTokenizer.v1``.

Compared with spaCy's built-in ``spacy.zh.ChineseTokenizer`` (segmenter "jieba"),
this one keeps its user dictionary inside the pipeline (spaCy #6606, #8576),
gives each pipeline its own jieba instance, pickles for ``n_process`` (spaCy
#5088, #6936), and offers a faster backend with identical output.

jieba's dictionary (the slow part of loading) is loaded with the pipeline:
``spacy.load`` (``from_disk`` / ``from_bytes``) and ``nlp.initialize`` load it
with the user words, as spaCy's ``ChineseTokenizer`` loads jieba in
``spacy.load``, so a service's first request does not pay for it. A blank
pipeline (``spacy.blank``) stays light, without even importing jieba, until
its first text.
"""

import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import DummyTokenizer, registry
from spacy.vocab import Vocab

from spacy_ft.jieba.dictionary import JiebaDictionary
from spacy_ft.jieba.user_entries import (
    COMPONENT,
    EntryLike,
    UserDictEntry,
    UserEntries,
    entries_from_lists,
    entries_to_lists,
    read_user_dict,
    write_user_dict,
)
from spacy_ft.tokenizer.segmenters import Segmenter, build_segmenter, check_backend

USER_DICT_FILE = "user_dict.txt"
CFG_FILE = "cfg.json"
_HAS_WHITESPACE = re.compile(r"\s").search


@registry.tokenizers("spacy_ft.JiebaTokenizer.v1")
def create_jieba_tokenizer(
    hmm: bool = True,
    pos_tags: bool = False,
    backend: str = "jieba",
    cache_size: int = 20000,
) -> Callable[[Language], "JiebaTokenizer"]:
    """Config entry point. ``cache_size`` bounds the per-pipeline LRU cache of
    segmented blocks (0 disables it)."""
    _check_settings(backend=backend, pos_tags=pos_tags, cache_size=cache_size)

    def jieba_tokenizer_factory(nlp: Language) -> JiebaTokenizer:
        return JiebaTokenizer(nlp.vocab, hmm=hmm, pos_tags=pos_tags, backend=backend, cache_size=cache_size)

    return jieba_tokenizer_factory


def _check_settings(*, backend: str, pos_tags: bool, cache_size: int) -> None:
    if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
        raise ValueError(f"[{COMPONENT}] cache_size must be a non-negative integer, got {cache_size!r}")
    check_backend(backend, pos_tags=pos_tags)


class JiebaTokenizer(DummyTokenizer):
    """Segments Chinese (and mixed) text with jieba into a ``Doc`` whose text is the input.

    Whitespace follows spaCy's convention: one plain space after a token becomes
    its trailing whitespace, any other run of whitespace becomes one token.
    """

    def __init__(
        self,
        vocab: Vocab,
        *,
        hmm: bool = True,
        pos_tags: bool = False,
        backend: str = "jieba",
        cache_size: int = 20000,
        user_dict: Iterable[EntryLike] = (),
    ) -> None:
        _check_settings(backend=backend, pos_tags=pos_tags, cache_size=cache_size)
        self.vocab = vocab
        self.hmm = bool(hmm)
        self.pos_tags = bool(pos_tags)
        self.backend = backend
        self.cache_size = cache_size
        self._entries = UserEntries(user_dict)
        self._dictionary: Optional[JiebaDictionary] = None
        self._segmenter: Optional[Segmenter] = None

    # -- segmentation -------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """Whether jieba's dictionary (with the user words) is loaded, so the next
        text is segmented without waiting for the load."""
        return self._segmenter is not None and self._dictionary is not None and self._dictionary.initialized

    def load(self) -> None:
        """Load jieba's dictionary and add the user words now, not on the first text.

        Called by ``from_disk``, ``from_bytes`` and ``initialize``, and after the
        user words change once it is loaded. Words appended to those already
        loaded are added in place; any other change reloads the dictionary.
        """
        dictionary = self._dictionary
        if dictionary is None or self._entries[: len(dictionary.entries)] != dictionary.entries:
            dictionary = JiebaDictionary(self.backend)
        new_entries = self._entries[len(dictionary.entries) :]
        if new_entries or dictionary is not self._dictionary or self._segmenter is None:
            dictionary.add(new_entries)
            self._dictionary = dictionary
            self._segmenter = self._build_segmenter(dictionary)

    def _build_segmenter(self, dictionary: JiebaDictionary) -> Segmenter:
        return build_segmenter(
            self.backend,
            hmm=self.hmm,
            pos_tags=self.pos_tags,
            entries=self._entries,
            cache_size=self.cache_size,
            dictionary=dictionary,
        )

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter on this tokenizer's private jieba dictionary.

        Normally built by :meth:`load`; built here when it was dropped, e.g. in an
        ``n_process`` worker after unpickling, or to start with empty caches.
        """
        if self._segmenter is None:
            self.load()
        assert self._segmenter is not None
        return self._segmenter

    def __call__(self, text: str) -> Doc:
        if not isinstance(text, str):
            raise TypeError(
                f"[{COMPONENT}] expected a str to tokenize, got {type(text).__name__}: {text!r:.80}"
            )
        if self.pos_tags:
            cut_words, cut_tags = self.segmenter.cut_with_tags(text)
            words, spaces, tags = merge_whitespace(cut_words, cut_tags)
            return Doc(self.vocab, words=words, spaces=spaces, tags=tags)
        words = self.segmenter.cut(text)
        if _HAS_WHITESPACE(text) is None:
            return Doc(self.vocab, words=words, spaces=[False] * len(words))
        words, spaces, _ = merge_whitespace(words)
        return Doc(self.vocab, words=words, spaces=spaces)

    # -- user dictionary ----------------------------------------------------

    @property
    def user_dict(self) -> Tuple[UserDictEntry, ...]:
        return tuple(self._entries)

    @property
    def user_entries(self) -> UserEntries:
        """The user dictionary with its version, for readers that keep a copy in step
        (the character encoder's lexicon); change it through this tokenizer's methods,
        which also update the loaded jieba dictionary."""
        return self._entries

    def add_words(self, words: Iterable[EntryLike]) -> None:
        """Add user dictionary words (``"词"``, ``"词 10 nz"`` or ``(word, freq, tag)``)."""
        self._entries.extend(words)
        self._apply_entries()

    def load_user_dict(self, path: Union[str, Path]) -> None:
        """Add the words of a jieba-format dictionary file."""
        self._entries.extend(read_user_dict(path))
        self._apply_entries()

    def _set_entries(self, entries: List[UserDictEntry]) -> None:
        self._entries.replace(entries)
        self._apply_entries()

    def _apply_entries(self) -> None:
        if self._segmenter is not None:  # loaded: apply now; else on load or the first text
            self.load()

    def initialize(
        self,
        get_examples: Optional[Callable[[], Iterable[Any]]] = None,
        *,
        nlp: Optional[Language] = None,
        user_dict: Optional[Union[str, Path]] = None,
        pkuseg_model: Optional[str] = None,
        pkuseg_user_dict: Optional[str] = "default",
    ) -> None:
        """``[initialize.tokenizer] user_dict = "path"`` sets the dictionary that is
        then saved with the pipeline, so loading needs no dictionary file.

        The ``pkuseg_*`` settings exist only because spaCy's zh defaults fill them
        into ``[initialize.tokenizer]``; they must keep those defaults.
        """
        if pkuseg_model is not None or pkuseg_user_dict not in (None, "default"):
            raise ValueError(
                f"[{COMPONENT}] pkuseg settings do not apply to the Jieba tokenizer "
                f"(got pkuseg_model={pkuseg_model!r}, pkuseg_user_dict={pkuseg_user_dict!r}); "
                "use [initialize.tokenizer] user_dict for a jieba user dictionary"
            )
        if user_dict is not None:
            self._set_entries(read_user_dict(user_dict))
        self.load()

    # -- serialization --------------------------------------------------------

    def _cfg(self) -> Dict[str, Any]:
        return {
            "hmm": self.hmm,
            "pos_tags": self.pos_tags,
            "backend": self.backend,
            "cache_size": self.cache_size,
        }

    def to_bytes(self, *, exclude: Iterable[str] = tuple(), **kwargs: Any) -> bytes:
        return srsly.msgpack_dumps({"cfg": self._cfg(), "user_dict": entries_to_lists(self._entries)})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = tuple(), **kwargs: Any) -> "JiebaTokenizer":
        # Only the dictionary (data) is restored; settings (behaviour) come from
        # the config, so `spacy.load(path, config=...)` can switch the backend.
        msg = srsly.msgpack_loads(data)
        self._set_entries(entries_from_lists(msg.get("user_dict", [])))
        self.load()
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple(), **kwargs: Any) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / CFG_FILE, self._cfg())
        write_user_dict(self._entries, path / USER_DICT_FILE)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple(), **kwargs: Any) -> "JiebaTokenizer":
        dict_path = Path(path) / USER_DICT_FILE
        self._set_entries(read_user_dict(dict_path) if dict_path.exists() else [])
        self.load()
        return self

    # -- pickling (n_process > 1) ---------------------------------------------

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        # jieba instances hold locks; each process loads its own on its first text
        state["_segmenter"] = None
        state["_dictionary"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)


def merge_whitespace(
    words: Sequence[str], tags: Optional[Sequence[str]] = None
) -> Tuple[List[str], List[bool], Optional[List[str]]]:
    """Turn jieba's one-token-per-whitespace-char output into spaCy's whitespace convention."""
    out_words: List[str] = []
    out_spaces: List[bool] = []
    out_tags: Optional[List[str]] = [] if tags is not None else None
    run: List[str] = []
    run_tag = ""

    def flush() -> None:
        text = "".join(run)
        run.clear()
        if out_words and text[0] == " " and not out_words[-1].isspace():
            out_spaces[-1] = True
            text = text[1:]
        if text:
            out_words.append(text)
            out_spaces.append(False)
            if out_tags is not None:
                out_tags.append(run_tag)

    for i, word in enumerate(words):
        if word.isspace():
            if not run and tags is not None:
                run_tag = tags[i]
            run.append(word)
            continue
        if run:
            flush()
        out_words.append(word)
        out_spaces.append(False)
        if out_tags is not None and tags is not None:
            out_tags.append(tags[i])
    if run:
        flush()
    return out_words, out_spaces, out_tags
