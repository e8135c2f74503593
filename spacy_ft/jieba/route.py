"""jieba 0.42.1's dictionary route, restated for speed with identical output.

jieba finds, for each block of Chinese/alphanumeric text, the most probable
route through its word graph (``get_DAG`` + ``calc``), then sends runs of
single characters that form no dictionary word through an HMM (``hmm``). Its
Python builds a dict of lists for the graph and a generator of tuples per
position; ``dictionary_route`` fuses the two passes into one loop over plain
lists, doing the same float operations in the same order and breaking ties the
same way (the later end wins), so routes are identical. The word-emitting
functions build lists instead of chaining generators.

The route has two users: the tokenizer cuts text with it, and the character
encoder's lexicon cuts a user word with it to give that word jieba's
``suggest_freq``. Both go through the functions here, so there is one route.

Identity with jieba is tested on thousands of generated strings and checked
by the tokenizer benchmark.
"""

import math
import re
from math import log
from typing import Callable, Iterable, List, Optional, Protocol, Sequence

HmmCut = Callable[[str], Iterable[str]]
_IS_ALNUM_CHAR = re.compile("[a-zA-Z0-9]", re.U).match  # jieba's re_eng


class Frequencies(Protocol):
    """What the route reads of jieba's ``FREQ``: a dict from every word, and every prefix
    of a word (with 0), to its count.

    ``fragment in freq`` is the scan's stop test (no word continues the fragment),
    ``freq[fragment]`` a count, 0 for a mere prefix, and ``freq.get`` jieba's look-ups
    with a default. jieba's own dict is one; the lexicon gives a view of itself.
    """

    def __contains__(self, fragment: object) -> bool: ...

    def __getitem__(self, fragment: str) -> int: ...

    def get(self, fragment: str, default: Optional[int] = None) -> Optional[int]: ...


def log_of_total(total: int) -> float:
    """The ``log(total)`` the route subtracts; 0 for an empty dictionary, which has no route to score."""
    return math.log(total) if total > 0 else 0.0


def dictionary_route(block: str, freq: Frequencies, log_total: float) -> List[int]:
    """``route[x]``: the last index of the best word starting at ``x`` (jieba's
    ``calc(get_DAG(block))[x][1]``)."""
    n = len(block)
    score = [0.0] * (n + 1)
    route = [0] * n
    for start in range(n - 1, -1, -1):
        best = None
        best_end = start
        end = start
        fragment = block[start]
        while end < n and fragment in freq:
            count = freq[fragment]
            if count:
                candidate = log(count) - log_total + score[end + 1]
                if best is None or candidate >= best:
                    best = candidate
                    best_end = end
            end += 1
            fragment = block[start : end + 1]
        if best is None:
            best = log(freq.get(block[start]) or 1) - log_total + score[start + 1]
        score[start] = best
        route[start] = best_end
    return route


def words_with_hmm(block: str, route: Sequence[int], freq: Frequencies, hmm_cut: HmmCut) -> List[str]:
    """jieba's ``__cut_DAG``: route words, with unknown single-character runs through the HMM."""
    words: List[str] = []
    x = 0
    run_start = -1  # start of the current run of single characters
    n = len(block)
    while x < n:
        y = route[x] + 1
        if y - x == 1:
            if run_start < 0:
                run_start = x
        else:
            if run_start >= 0:
                if x - run_start == 1:  # the common case, inlined
                    words.append(block[run_start])
                else:
                    _add_run(words, block[run_start:x], freq, hmm_cut)
                run_start = -1
            words.append(block[x:y])
        x = y
    if run_start >= 0:
        _add_run(words, block[run_start:], freq, hmm_cut)
    return words


def _add_run(words: List[str], run: str, freq: Frequencies, hmm_cut: HmmCut) -> None:
    if len(run) == 1:
        words.append(run)
    elif not freq.get(run):
        words.extend(hmm_cut(run))
    else:
        words.extend(run)


def words_without_hmm(block: str, route: Sequence[int]) -> List[str]:
    """jieba's ``__cut_DAG_NO_HMM``: route words, runs of single letters/digits joined."""
    words: List[str] = []
    x = 0
    run_start = -1
    n = len(block)
    while x < n:
        y = route[x] + 1
        word = block[x:y]
        if y - x == 1 and _IS_ALNUM_CHAR(word):
            if run_start < 0:
                run_start = x
        else:
            if run_start >= 0:
                words.append(block[run_start:x])
                run_start = -1
            words.append(word)
        x = y
    if run_start >= 0:
        words.append(block[run_start:])
    return words


def cut_without_hmm(block: str, freq: Frequencies, total: int) -> List[str]:
    """jieba's ``cut(block, HMM=False)`` of one block: the most probable route, single
    letters and digits joined into runs."""
    return words_without_hmm(block, dictionary_route(block, freq, log_of_total(total)))


def suggest_freq(word: str, freq: Frequencies, total: int) -> int:
    """jieba's ``suggest_freq(word, tune=False)``: ``max(int(P(split) * total) + 1, freq)``.

    ``P(split)`` is the product of the relative frequencies of the pieces that the cut
    without HMM splits ``word`` into, so the result is the smallest count at which jieba
    keeps ``word`` whole; it is the count jieba's ``add_word`` gives a word added without
    one. ``word`` is cut as one block: exact for words of CJK characters and ASCII
    letters and digits, which is what user dictionaries hold; jieba's pre-splitting of
    other punctuation is not mirrored.
    """
    ftotal = float(total) if total > 0 else 1.0
    prob = 1.0
    for piece in cut_without_hmm(word, freq, total):
        prob *= (freq.get(piece, 1) or 0) / ftotal
    return max(int(prob * ftotal) + 1, freq.get(word) or 1)
