"""jieba 0.42.1's accurate-mode algorithm, restated for speed with identical output.

jieba finds, for each block of Chinese/alphanumeric text, the most probable
route through its word graph (``get_DAG`` + ``calc``), then sends runs of
single characters that form no dictionary word through an HMM. Its Python
builds a dict of lists for the graph and a generator of tuples per position;
``dictionary_route`` fuses the two passes into one loop over plain lists (about
a third of the time), doing the same float operations in the same order and
breaking ties the same way (the later end wins), so routes are identical. The
word-emitting functions build lists instead of chaining generators.

Identity with jieba is tested on thousands of generated strings and checked
by the tokenizer benchmark on a 1 MB corpus.
"""

import re
from math import log
from typing import Callable, Dict, Iterable, List, Sequence

HmmCut = Callable[[str], Iterable[str]]
_IS_ALNUM_CHAR = re.compile("[a-zA-Z0-9]", re.U).match  # jieba's re_eng


def dictionary_route(block: str, freq: Dict[str, int], log_total: float) -> List[int]:
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


def words_with_hmm(block: str, route: Sequence[int], freq: Dict[str, int], hmm_cut: HmmCut) -> List[str]:
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


def _add_run(words: List[str], run: str, freq: Dict[str, int], hmm_cut: HmmCut) -> None:
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


def fast_hmm_cut(finalseg) -> HmmCut:
    """jieba's ``finalseg.cut`` (HMM for unknown words) with a Viterbi that keeps
    back-pointers instead of copying every path at every step.

    Same float operations in the same order, and the same tie-breaks as jieba's
    ``max`` over ``(probability, state)`` tuples: the larger state letter wins.
    (jieba_next's Rust Viterbi breaks ties differently, so it is not used: on
    repeated characters such as 江研研研北 exact ties are common.)
    """
    start, trans, emit = finalseg.start_P, finalseg.trans_P, finalseg.emit_P
    minimum = finalseg.MIN_FLOAT
    if {y: set(p) for y, p in finalseg.PrevStatus.items()} != {
        "B": set("ES"),
        "M": set("MB"),
        "S": set("SE"),
        "E": set("BM"),
    }:
        raise RuntimeError("jieba's HMM topology changed; spacy_ft's Viterbi needs updating")
    emit_b, emit_m, emit_e, emit_s = (emit[y].get for y in "BMES")
    t_eb, t_sb = trans["E"].get("B", minimum), trans["S"].get("B", minimum)
    t_mm, t_bm = trans["M"].get("M", minimum), trans["B"].get("M", minimum)
    t_ss, t_es = trans["S"].get("S", minimum), trans["E"].get("S", minimum)
    t_me, t_be = trans["M"].get("E", minimum), trans["B"].get("E", minimum)
    split_han, split_skip = finalseg.re_han.split, finalseg.re_skip.split

    def viterbi(observed: str) -> List[str]:
        # The four states unrolled. Each state has two possible predecessors;
        # on an exact tie jieba's max over (probability, letter) picks the
        # larger letter, hence the strict ">" against the larger letter first.
        first = observed[0]
        b = start["B"] + emit_b(first, minimum)
        m = start["M"] + emit_m(first, minimum)
        e = start["E"] + emit_e(first, minimum)
        s = start["S"] + emit_s(first, minimum)
        pointers = []
        for char in observed[1:]:
            em_b, em_m = emit_b(char, minimum), emit_m(char, minimum)
            em_e, em_s = emit_e(char, minimum), emit_s(char, minimum)
            from_s, from_e = s + t_sb + em_b, e + t_eb + em_b
            new_b, prev_b = (from_e, "E") if from_e > from_s else (from_s, "S")
            from_m, from_b = m + t_mm + em_m, b + t_bm + em_m
            new_m, prev_m = (from_b, "B") if from_b > from_m else (from_m, "M")
            from_s2, from_e2 = s + t_ss + em_s, e + t_es + em_s
            new_s, prev_s = (from_e2, "E") if from_e2 > from_s2 else (from_s2, "S")
            from_m2, from_b2 = m + t_me + em_e, b + t_be + em_e
            new_e, prev_e = (from_b2, "B") if from_b2 > from_m2 else (from_m2, "M")
            pointers.append({"B": prev_b, "M": prev_m, "S": prev_s, "E": prev_e})
            b, m, e, s = new_b, new_m, new_e, new_s
        state = "S" if s >= e else "E"
        path = [state]
        for step in reversed(pointers):
            state = step[state]
            path.append(state)
        path.reverse()
        return path

    def cut_han(sentence: str, words: List[str]) -> None:
        states_of = viterbi(sentence)
        force_split = finalseg.Force_Split_Words
        begin = next_index = 0
        for i, char in enumerate(sentence):
            state = states_of[i]
            word = None
            if state == "B":
                begin = i
            elif state == "E":
                word = sentence[begin : i + 1]
                next_index = i + 1
            elif state == "S":
                word = char
                next_index = i + 1
            if word is not None:
                if word in force_split:
                    words.extend(word)
                else:
                    words.append(word)
        if next_index < len(sentence):
            rest = sentence[next_index:]
            if rest in force_split:
                words.extend(rest)
            else:
                words.append(rest)

    def hmm_cut(text: str) -> List[str]:
        words: List[str] = []
        for i, block in enumerate(split_han(text)):
            if i % 2:
                cut_han(block, words)
            else:
                words.extend(part for part in split_skip(block) if part)
        return words

    return hmm_cut
