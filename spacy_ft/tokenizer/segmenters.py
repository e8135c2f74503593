"""Jieba segmentation backends behind one interface.

Each ``Segmenter`` cuts with its tokenizer's private jieba dictionary
(:class:`spacy_ft.jieba.dictionary.JiebaDictionary`). The faster ``jieba_next``
backend differs from jieba 0.42.1 in two places: how it splits text into blocks
(it does not keep ``-`` inside a block) and its HMM for characters missing from
jieba's emission table. So block splitting is always done here with jieba's own
regular expressions, the backend finds the route through the word graph, and
jieba's HMM (restated for speed in :mod:`spacy_ft.jieba.hmm`) handles unknown
words: jieba_next's own HMM breaks ties differently. That keeps its output
identical. The default backend runs jieba's route restated for speed
(:mod:`spacy_ft.jieba.route`) on the private jieba dictionary.

jieba and jieba_next are imported when a dictionary is loaded, not at module
import: this module is imported by the registry and must stay light.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Callable, List, Optional, Sequence, Tuple

from spacy_ft.extras import install_command
from spacy_ft.jieba.dictionary import BACKENDS, JiebaDictionary
from spacy_ft.jieba.hmm import fast_hmm_cut
from spacy_ft.jieba.route import dictionary_route, log_of_total, words_with_hmm, words_without_hmm
from spacy_ft.jieba.user_entries import COMPONENT, UserDictEntry
from spacy_ft.validation import check_choice

EXTRA_FOR_BACKEND = {"jieba_next": "fast"}

# Copied from jieba 0.42.1 (jieba/__init__.py), the reference segmentation.
RE_HAN_DEFAULT = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
RE_SKIP_DEFAULT = re.compile("(\r\n|\\s)", re.U)

def check_backend(backend: str, *, pos_tags: bool = False) -> None:
    """Fail at config time, not on the first document, for a backend that cannot run."""
    check_choice(backend, sorted(BACKENDS), "backend", component=COMPONENT)
    if importlib.util.find_spec(BACKENDS[backend]) is None:
        extra = EXTRA_FOR_BACKEND.get(backend)
        hint = install_command(extra) if extra else f"pip install {backend}"
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
        cut_block: Callable[[str], List[str]],
        cache_size: int,
        tag_text: Optional[Callable[[str], Sequence[Tuple[str, str]]]] = None,
    ) -> None:
        # Real text repeats short clauses between punctuation; an LRU cache of
        # block -> words saves the dictionary search for them without changing output.
        if cache_size > 0:
            self._cut_block: Callable[[str], Sequence[str]] = functools.lru_cache(maxsize=cache_size)(
                lambda block: tuple(cut_block(block))
            )
        else:
            self._cut_block = cut_block
        self._tag_text = tag_text

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
    dictionary: Optional[JiebaDictionary] = None,
) -> Segmenter:
    """A segmenter on ``dictionary`` (loaded here with ``entries`` when not given).

    Building one on a loaded dictionary is cheap: it only makes the closures and
    the empty LRU caches, so it is redone after every change of user words.
    """
    check_backend(backend, pos_tags=pos_tags)
    if dictionary is None:
        dictionary = JiebaDictionary(backend)
        dictionary.add(entries)
    import jieba.finalseg

    freq = dictionary.freq
    if backend == "jieba_next":
        route = dictionary.tokenizer._route_from_rust
    else:
        log_total = log_of_total(dictionary.total)

        def route(block: str) -> List[int]:
            return dictionary_route(block, freq, log_total)

    hmm_cut = fast_hmm_cut(jieba.finalseg)
    if cache_size > 0:  # unknown-word runs repeat even more than blocks do
        hmm_cut = functools.lru_cache(maxsize=cache_size)(lambda run, cut=hmm_cut: tuple(cut(run)))
    if hmm:

        def cut_block(block: str) -> List[str]:
            return words_with_hmm(block, route(block), freq, hmm_cut)
    else:

        def cut_block(block: str) -> List[str]:
            return words_without_hmm(block, route(block))

    tag_text = None
    if pos_tags:
        import jieba.posseg

        pos_tokenizer = jieba.posseg.POSTokenizer(dictionary.tokenizer)

        def tag_text(text: str) -> List[Tuple[str, str]]:
            return [(pair.word, pair.flag) for pair in pos_tokenizer.cut(text, HMM=hmm)]

    return Segmenter(cut_block, cache_size, tag_text)
