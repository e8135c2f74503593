"""Jieba segmentation backends behind one interface.

Why this module exists: jieba's module-level API shares one global dictionary
per process, so two pipelines with different user dictionaries would interfere.
Each ``Segmenter`` owns its own ``Tokenizer`` instance instead. The faster
``jieba_next`` backend differs from jieba 0.42.1 in two places: how it splits
text into blocks (it does not keep ``-`` inside a block) and its HMM for
characters missing from jieba's emission table. So block splitting is always
done here with jieba's own regular expressions, the backend finds the route
through the word graph, and jieba's HMM (restated for speed in
``jieba_algorithm``) handles unknown words: jieba_next's own HMM breaks ties
differently. That keeps its output identical.
The default backend runs jieba's algorithm restated for speed
(``jieba_algorithm``) on a private jieba dictionary.

Loading jieba's main dictionary is the slow part (about a second), so it is
done once per tokenizer by :class:`JiebaDictionary` when the pipeline is loaded
or initialized, as spaCy's own zh tokenizer does in ``spacy.load``, not on the
first text: a service's first request should not pay for it. User words are
then added to the loaded dictionary in place. jieba announces every load on
stderr through its own handler; that chatter is kept to spacy_ft's
``spacy_ft.tokenizer`` logger (DEBUG), while jieba's warnings and errors still
reach stderr.

jieba and jieba_next are imported when a dictionary is loaded, not at module
import: this module is imported by the registry and must stay light.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from spacy_ft.extras import install_command
from spacy_ft.tokenizer.jieba_algorithm import (
    dictionary_route,
    fast_hmm_cut,
    words_with_hmm,
    words_without_hmm,
)
from spacy_ft.tokenizer.user_dict import COMPONENT, UserDictEntry
from spacy_ft.validation import check_choice

BACKENDS = {"jieba": "jieba", "jieba_next": "jieba_next"}
EXTRA_FOR_BACKEND = {"jieba_next": "fast"}

# Copied from jieba 0.42.1 (jieba/__init__.py), the reference segmentation.
RE_HAN_DEFAULT = re.compile("([\u4e00-\u9fd5a-zA-Z0-9+#&\\._%\\-]+)", re.U)
RE_SKIP_DEFAULT = re.compile("(\r\n|\\s)", re.U)

#: Where the dictionary loads are reported (DEBUG), instead of jieba's own stderr handler.
logger = logging.getLogger("spacy_ft.tokenizer")
# jieba's logger is process-wide: loads in two threads must not restore each other's level.
_QUIET_LOCK = threading.Lock()


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
            self._cut_block = functools.lru_cache(maxsize=cache_size)(lambda block: tuple(cut_block(block)))
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


@contextmanager
def _quiet_jieba_logger() -> Iterator[None]:
    """Hold jieba's logger at WARNING or above while a dictionary loads.

    jieba attaches a stderr handler to its ``jieba`` logger at DEBUG and reports
    every dictionary load there ("Building prefix dict ...", "Loading model from
    cache ..."). Raising the level for the load only keeps those lines out of the
    output of every ``spacy.load``, leaves the user's own jieba calls as they were,
    and still lets a failure such as "Dump cache file failed." (ERROR) through.
    """
    jieba_logger = logging.getLogger("jieba")
    with _QUIET_LOCK:
        previous = jieba_logger.level
        jieba_logger.setLevel(max(previous, logging.WARNING))
        try:
            yield
        finally:
            jieba_logger.setLevel(previous)


class JiebaDictionary:
    """jieba's main dictionary in a private jieba (or jieba_next) ``Tokenizer``, plus user words.

    Each pipeline owns one, so user words never leak between pipelines. Words are
    added in place (:meth:`add`): adding user words to a loaded pipeline does not
    load the main dictionary again.
    """

    def __init__(self, backend: str) -> None:
        check_backend(backend)
        self.backend = backend
        self.entries: List[UserDictEntry] = []
        started = time.perf_counter()
        import jieba

        with _quiet_jieba_logger():
            if backend == "jieba_next":
                import jieba_next

                self.tokenizer: Any = jieba_next.Tokenizer()
            else:
                self.tokenizer = jieba.Tokenizer()
            self.tokenizer.initialize()
        logger.debug("Loaded jieba's dictionary (%s backend) in %.2f s", backend, time.perf_counter() - started)

    @property
    def initialized(self) -> bool:
        """Whether the main dictionary is in memory (jieba's own flag)."""
        return bool(self.tokenizer.initialized)

    def add(self, entries: Sequence[UserDictEntry]) -> None:
        """Add user words, in order (a word without a frequency gets one from the words before it)."""
        import jieba.finalseg

        with _quiet_jieba_logger():
            for entry in entries:
                self.tokenizer.add_word(entry.word, entry.freq, entry.tag)
                if self.backend == "jieba_next" and entry.freq == 0:
                    # jieba_next only tells its own HMM module; the HMM used here is jieba's
                    jieba.finalseg.add_force_split(entry.word)
        self.entries.extend(entries)
        if entries and self.backend == "jieba_next":
            # jieba_next rebuilds its route trie on the next text after a change; do it now
            rebuild = getattr(self.tokenizer, "_ensure_rust_prefix", None)
            if rebuild is not None:
                rebuild()


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

    tokenizer = dictionary.tokenizer
    if backend == "jieba_next":
        route = tokenizer._route_from_rust
    else:
        freq, log_total = tokenizer.FREQ, math.log(tokenizer.total)

        def route(block: str) -> List[int]:
            return dictionary_route(block, freq, log_total)

    freq = tokenizer.FREQ
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

        pos_tokenizer = jieba.posseg.POSTokenizer(tokenizer)

        def tag_text(text: str) -> List[Tuple[str, str]]:
            return [(pair.word, pair.flag) for pair in pos_tokenizer.cut(text, HMM=hmm)]

    return Segmenter(cut_block, cache_size, tag_text)
