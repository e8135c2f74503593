"""jieba's main dictionary: the ``dict.txt`` it ships, and a private jieba instance loaded with it.

The file is read in two ways. The tokenizer needs jieba itself loaded with it
(:class:`JiebaDictionary`), because jieba (or jieba_next) finds the routes and tags the
words. The character encoder needs only the words and their counts
(:func:`read_dictionary`): its lexicon matches them as SoftLexicon features and the
character BERT takes its vocabulary from their characters. Both start from the same
file, found by :func:`bundled_dictionary_path`.

Loading jieba's main dictionary is the slow part of a Chinese pipeline's load, so
:class:`JiebaDictionary` is made once per tokenizer when the pipeline is loaded or
initialized, as spaCy's own zh tokenizer does in ``spacy.load``, not on the first text:
a service's first request should not pay for it. User words are then added to the loaded
dictionary in place. jieba announces every load on stderr through its own handler; that
chatter is kept to the ``spacy_ft.tokenizer`` logger (DEBUG), while jieba's warnings and
errors still reach stderr.

jieba and jieba_next are imported when a dictionary is read or loaded, not at module
import: the tokenizer and the encoder import this module when spaCy loads any pipeline.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from spacy_ft.jieba.user_entries import UserDictEntry

#: Backend name -> the package that holds its dictionary and finds its routes.
BACKENDS = {"jieba": "jieba", "jieba_next": "jieba_next"}

#: Where the dictionary loads are reported (DEBUG), instead of jieba's own stderr handler.
#: The tokenizer's logger: loading the dictionary is part of loading the tokenizer.
logger = logging.getLogger("spacy_ft.tokenizer")
# jieba's logger is process-wide: loads in two threads must not restore each other's level.
_QUIET_LOCK = threading.Lock()


class DictionaryError(ValueError):
    """A dictionary file that cannot be read: the message names the file and line."""


@dataclass(frozen=True)
class DictionaryFile:
    """The words of a jieba-format dictionary file with their counts, in file order.

    A word on two lines is listed twice, as in the file: jieba keeps the last count, and
    its ``total`` counts both lines, so keeping them lets a reader reproduce both.
    """

    path: str
    words: Tuple[str, ...]
    freqs: Tuple[int, ...]

    @property
    def total(self) -> int:
        """jieba's ``total``: the sum of the counts of every line, repeated words included."""
        return sum(self.freqs)

    def characters(self) -> List[str]:
        """Every character of the words, in first-seen order."""
        chars: dict[str, None] = {}
        for word in self.words:
            chars.update(dict.fromkeys(word))
        return list(chars)


def bundled_dictionary_path() -> str:
    """The ``dict.txt`` shipped inside the installed jieba package (``word freq tag`` lines)."""
    import jieba

    return os.path.join(os.path.dirname(jieba.__file__), "dict.txt")


def read_dictionary(path: Optional[str] = None) -> DictionaryFile:
    """Read a jieba-format main dictionary (``word freq [tag]`` a line; blank lines skipped).

    ``path`` defaults to jieba's bundled dictionary. A line without a count fails with the
    file and line, rather than later as a word that never matches.
    """
    path = path or bundled_dictionary_path()
    words: List[str] = []
    freqs: List[int] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2 or not parts[1].isdigit():
                raise DictionaryError(f"{path}:{line_no}: expected 'word freq [tag]', got {line.rstrip()!r}")
            words.append(parts[0])
            freqs.append(int(parts[1]))
    return DictionaryFile(path=str(path), words=tuple(words), freqs=tuple(freqs))


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

    Why private: jieba's module-level API shares one global dictionary per process, so two
    pipelines with different user dictionaries would interfere. Each tokenizer owns one of
    these instead, so user words never leak between pipelines. Words are added in place
    (:meth:`add`): adding user words to a loaded pipeline does not load the main dictionary
    again.

    Whether ``backend`` can run (its package installed) is checked by the caller, which
    knows what to suggest installing.
    """

    def __init__(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown jieba backend {backend!r}; expected one of {sorted(BACKENDS)}")
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

    @property
    def freq(self) -> Any:
        """jieba's ``FREQ``: every word and every prefix of a word (0) -> its count."""
        return self.tokenizer.FREQ

    @property
    def total(self) -> int:
        """jieba's ``total``, the denominator of every word's probability."""
        return int(self.tokenizer.total)

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
