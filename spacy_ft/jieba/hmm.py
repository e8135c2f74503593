"""jieba's HMM for runs of characters that form no dictionary word, restated for speed.

jieba's ``finalseg.cut`` copies every Viterbi path at every step; the restatement keeps
back-pointers instead and does the same float operations in the same order, with the
same tie-breaks, so its words are identical. jieba's own tables (start, transition and
emission probabilities) are read from the ``finalseg`` module passed in, so this module
imports nothing of jieba.
"""

from types import ModuleType
from typing import List

from spacy_ft.jieba.route import HmmCut


def fast_hmm_cut(finalseg: ModuleType) -> HmmCut:
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
