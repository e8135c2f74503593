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

from dataclasses import dataclass
from typing import List

from spacy_ft.transformer.alignment import hidden_states, piece_spans, rows_by_window


@dataclass
class DocUnits:
    """Per unit: character span in the doc, index of its token, feature rows."""

    starts: List[int]
    ends: List[int]
    token_index: List[int]
    rows: List[List[int]]  # rows of the flattened (windows * length, width) hidden states

    def __len__(self) -> int:
        return len(self.starts)


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
        windows = list(rows_by_window(rows, length).values())
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
