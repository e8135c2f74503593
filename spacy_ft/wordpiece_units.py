"""Labelling units for the NER head: wordpieces with exact character spans.

Chinese NER is annotated per character, but jieba tokens are words; BERT-style
tokenizers split CJK text into one wordpiece per character. Labelling
wordpieces, not spaCy tokens, lets an entity start or end inside a jieba token
(邓小平 inside 邓小平理论). A token's wordpieces become units when their text,
without the ``##`` / ``▁`` / ``Ġ`` markers and compared case- and
accent-insensitively, spells the token exactly, with ``[UNK]`` pieces covering
the characters between their neighbours; otherwise (byte pieces) the whole
token is one unit. A wordpiece seen by two overlapping
windows is one unit whose feature rows come from both windows.
"""

import unicodedata
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from .layers.doc_pooling import hidden_states

PIECE_MARKERS = ("##", "▁", "Ġ")
#: What tokenizers emit for text outside their vocabulary.
UNKNOWN_PIECES = frozenset({"[UNK]", "<unk>", "<UNK>"})


@dataclass
class DocUnits:
    """Per unit: character span in the doc, index of its token, feature rows."""

    starts: List[int]
    ends: List[int]
    token_index: List[int]
    rows: List[List[int]]  # rows of the flattened (windows * length, width) hidden states

    def __len__(self) -> int:
        return len(self.starts)


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


def doc_units(doc, trf_data) -> DocUnits:
    """Units of one doc from spacy-transformers' ``TransformerData``."""
    units = DocUnits([], [], [], [])
    hidden = hidden_states(trf_data)
    if hidden is None:
        for token in doc:
            _add(units, token.idx, token.idx + len(token), token.i, [])
        return units
    length = hidden.shape[1]
    lengths = [int(n) for n in trf_data.align.lengths]
    flat_rows = [int(r) for r in trf_data.align.dataXd.ravel()]
    strings = trf_data.wordpieces.strings
    offset = 0
    for token, n_rows in zip(doc, lengths):
        rows = flat_rows[offset : offset + n_rows]
        offset += n_rows
        by_window: dict = {}
        for row in rows:
            by_window.setdefault(row // length, []).append(row)
        windows = list(by_window.values())
        first = windows[0] if windows else []
        spans = None
        if first and all(len(w) == len(first) for w in windows):
            window = first[0] // length
            spans = piece_spans(token.text, [strings[window][row % length] for row in first])
        if spans is None:  # one unit for the whole token, from all its rows
            _add(units, token.idx, token.idx + len(token), token.i, rows)
            continue
        for j, (start, end) in enumerate(spans):
            _add(units, token.idx + start, token.idx + end, token.i, [w[j] for w in windows])
    return units


def _add(units: DocUnits, start: int, end: int, token_index: int, rows: List[int]) -> None:
    units.starts.append(start)
    units.ends.append(end)
    units.token_index.append(token_index)
    units.rows.append(rows)
