"""Where a transformer's output sits in a doc: hidden states and wordpieces.

Shared by the classifier's pooling, the NER head's units and token splitting, so
all three read spacy-transformers' output the same way.
"""

import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

PIECE_MARKERS = ("##", "▁", "Ġ")
#: What tokenizers emit for text outside their vocabulary.
UNKNOWN_PIECES = frozenset({"[UNK]", "<unk>", "<UNK>"})


def hidden_states(trf_data) -> Optional[object]:
    """The (windows, length, width) last hidden state, or None for an empty doc."""
    output = getattr(trf_data, "model_output", None)
    if output is None or "last_hidden_state" not in output:
        return None
    hidden = output.last_hidden_state
    return hidden if hidden.size else None


def _fold(char: str) -> str:
    base = unicodedata.normalize("NFD", char.lower())
    return base[0] if base else char


def _strip_marker(piece: str) -> str:
    for marker in PIECE_MARKERS:
        if piece.startswith(marker):
            return piece[len(marker) :]
    return piece


def piece_spans(token_text: str, pieces: Sequence[str]) -> Optional[List[Tuple[int, int]]]:
    """Character spans of ``pieces`` inside ``token_text``, or None if they do not spell it.

    Unknown pieces (``[UNK]``) cover the characters between their known
    neighbours, one each when several are in a row (the last takes the rest):
    BERT maps each rare CJK character to its own ``[UNK]``, so 邓[UNK]平 still
    gives three one-character units and an entity edge next to the rare
    character stays representable.
    """
    folded = "".join(_fold(c) for c in token_text)
    texts = ["".join(_fold(c) for c in _strip_marker(p)) if p not in UNKNOWN_PIECES else None for p in pieces]
    spans: List[Tuple[int, int]] = []
    cursor = 0
    i = 0
    while i < len(texts):
        text = texts[i]
        if text is not None:
            if not text or not folded.startswith(text, cursor):
                return None
            spans.append((cursor, cursor + len(text)))
            cursor += len(text)
            i += 1
            continue
        run = 1
        while i + run < len(texts) and texts[i + run] is None:
            run += 1
        following = texts[i + run] if i + run < len(texts) else None
        stop = len(folded) if following is None else folded.find(following, cursor + run) if following else -1
        if stop < cursor + run:
            return None
        for k in range(run):
            spans.append((cursor + k, cursor + k + 1 if k < run - 1 else stop))
        cursor = stop
        i += run
    return spans if cursor == len(folded) else None


def rows_by_window(rows: Sequence[int], length: int) -> Dict[int, List[int]]:
    """A token's rows of the flattened (windows * length, width) hidden states,
    grouped by the window they come from (in first-seen order): overlapping
    strided windows see the same wordpiece twice, once in each."""
    by_window: Dict[int, List[int]] = {}
    for row in rows:
        by_window.setdefault(row // length, []).append(row)
    return by_window
