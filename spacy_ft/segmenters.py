"""Jieba segmentation backends behind one interface.

Why this module exists: jieba's module-level API shares one global dictionary
per process, so two pipelines with different user dictionaries would interfere.
Each ``Segmenter`` owns its own ``Tokenizer`` instance instead. The faster
``jieba_next`` backend differs from jieba 0.42.1 in how it splits text into
blocks (it does not keep ``-`` inside a block), so block splitting is always
done here with jieba's own regular expressions and only the per-block
dictionary search (DAG + HMM), where the time goes, is delegated to the backend.
That keeps the fast backend's output identical to jieba's.

jieba and jieba_next are imported inside ``build_segmenter`` only: this module
is imported on ``spacy.load`` and must stay light.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Callable, Iterable, List, Optional, Sequence, Tuple

from .user_dict import COMPONENT, UserDictEntry

BACKENDS = {"jieba": "jieba", "jieba_next": "jieba_next"}
EXTRA_FOR_BACKEND = {"jieba_next": "fast"}

# Copied from jieba 0.42.1 (jieba/__init__.py), the reference segmentation.
RE_HAN_DEFAULT = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
RE_SKIP_DEFAULT = re.compile("(\r\n|\\s)", re.U)


def check_backend(backend: str, *, pos_tags: bool = False) -> None:
    """Fail at config time, not on the first document, for a backend that cannot run."""
    if backend not in BACKENDS:
        raise ValueError(f"[{COMPONENT}] unknown backend {backend!r}: choose one of {sorted(BACKENDS)}")
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        extra = EXTRA_FOR_BACKEND.get(backend)
        hint = f"pip install 'spacy_ft[{extra}]'" if extra else f"pip install {backend}"
        raise ImportError(
            f"[{COMPONENT}] backend {backend!r} needs the package '{BACKENDS[backend]}', "
            f"which is not installed: {hint}"
        )
    if pos_tags and backend != "jieba":
        raise ValueError(
            f'[{COMPONENT}] pos_tags = true is only supported with backend = "jieba" '
            f"(got backend = {backend!r}): jieba's POS tagger segments differently "
            "and has no verified fast equivalent"
        )


class Segmenter:
    """Cuts text into a list of words whose concatenation is the text (jieba's accurate mode)."""

    def __init__(
        self,
        cut_block: Callable[[str], Iterable[str]],
        cache_size: int,
        tag_text: Optional[Callable[[str], Sequence[Tuple[str, str]]]] = None,
    ) -> None:
        block_words = lambda block: tuple(cut_block(block))  # noqa: E731
        # Real text repeats short clauses between punctuation; an LRU cache of
        # block -> words saves the dictionary search for them without changing output.
        self._cut_block = (
            functools.lru_cache(maxsize=cache_size)(block_words) if cache_size > 0 else block_words
        )
        self._tag_text = tag_text

    @property
    def has_tags(self) -> bool:
        return self._tag_text is not None

    def cut(self, text: str) -> List[str]:
        words: List[str] = []
        cut_block = self._cut_block
        for i, piece in enumerate(RE_HAN_DEFAULT.split(text)):
            if not piece:
                continue
            if i % 2:  # odd pieces are the regex's matches: Chinese / alphanumeric blocks
                words.extend(cut_block(piece))
            else:
                for part in RE_SKIP_DEFAULT.split(piece):
                    if RE_SKIP_DEFAULT.match(part):
                        words.append(part)
                    else:
                        words.extend(part)
        return words

    def cut_with_tags(self, text: str) -> Tuple[List[str], List[str]]:
        if self._tag_text is None:
            raise RuntimeError("this segmenter was built without POS tags")
        pairs = self._tag_text(text)
        return [word for word, _ in pairs], [tag for _, tag in pairs]


def build_segmenter(
    backend: str,
    *,
    hmm: bool,
    pos_tags: bool,
    entries: Sequence[UserDictEntry],
    cache_size: int,
) -> Segmenter:
    """Create a private jieba instance with the user dictionary applied."""
    check_backend(backend, pos_tags=pos_tags)
    if backend == "jieba_next":
        import jieba_next

        tokenizer = jieba_next.Tokenizer()
        tokenizer.initialize()
        _add_entries(tokenizer, entries)
        cut_block = tokenizer._cut_dag if hmm else tokenizer._cut_dag_no_hmm
        return Segmenter(cut_block, cache_size)

    import jieba

    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    _add_entries(tokenizer, entries)
    # jieba 0.42.1 exposes no public per-block cut; these are the methods its own
    # Tokenizer.cut calls for each block, so the output is identical to jieba.cut.
    cut_block = tokenizer._Tokenizer__cut_DAG if hmm else tokenizer._Tokenizer__cut_DAG_NO_HMM
    tag_text = None
    if pos_tags:
        import jieba.posseg

        pos_tokenizer = jieba.posseg.POSTokenizer(tokenizer)

        def tag_text(text: str) -> List[Tuple[str, str]]:
            return [(pair.word, pair.flag) for pair in pos_tokenizer.cut(text, HMM=hmm)]

    return Segmenter(cut_block, cache_size, tag_text)


def _add_entries(tokenizer, entries: Sequence[UserDictEntry]) -> None:
    for entry in entries:
        tokenizer.add_word(entry.word, entry.freq, entry.tag)
