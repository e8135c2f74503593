"""Labelling units for the NER head: wordpieces, or their characters, with exact character spans.

Chinese NER is annotated per character, but jieba tokens are words; BERT-style
tokenizers split CJK text into one wordpiece per character. Labelling
wordpieces, not spaCy tokens, lets an entity start or end inside a jieba token
(邓小平 inside 邓小平理论). A token's wordpieces become units when their text,
without the ``##`` / ``▁`` / ``Ġ`` markers and compared case- and
accent-insensitively, spells the token exactly, with ``[UNK]`` pieces covering
the characters between their neighbours; otherwise (byte pieces) the whole
token is one unit. A wordpiece seen by two overlapping
windows is one unit whose feature rows come from both windows.

Character units (``character_units`` "cjk" or "all", ``spacy_ft.TokenClassifier.v2``):
SentencePiece vocabularies (XLM-R, multilingual-e5, bge-m3) put several Chinese
characters in one piece (``中华人民共和国``), and then an entity edge inside the
piece cannot be labelled. So each character of a multi-character piece becomes
its own unit, with the piece's rows, its position inside the piece and its code
point (the classifier adds learned embeddings of both, see ``unit_classifier``).
"cjk" splits the pieces holding a CJK, Kana or Hangul character, and leaves
tokens without one exactly as "none" does (English pipelines are unchanged);
"all" splits every multi-character piece (a Latin word inside Chinese text,
Weibo's "Big" + "wok" annotated inside "Bigwok"). Pieces may cross jieba's
token edges there (``的上`` over 的|上海站): each token gets the characters of
the piece inside it, positions counted from the piece's start. Where the pieces
do not spell a token, its characters are the units, with all the token's rows
and positions counted from the token's start.
"""

import re
from dataclasses import dataclass, field
from typing import List, Optional

from spacy_ft.transformer.alignment import hidden_states, piece_char_spans, piece_spans, rows_by_window
from spacy_ft.validation import check_choice

#: ``character_units`` settings: which multi-character pieces become one unit a character.
CHARACTER_UNITS = ("none", "cjk", "all")
#: Position of a unit that is a whole piece or token, not one character of a piece.
NO_POSITION = -1

#: CJK ideographs (with extensions, compatibility forms, radicals, CJK symbols and
#: punctuation, Bopomofo), Hiragana, Katakana and Hangul (syllables and jamo).
CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc\U00020000-\U0003134f]"
)


@dataclass
class DocUnits:
    """Per unit: character span in the doc, index of its token, feature rows; and,
    filled by :func:`doc_units`, its position inside its piece (``NO_POSITION``
    unless the unit is one character of a multi-character piece) and that
    character's code point (0 otherwise). Builders that leave the last two
    empty make units that are never characters of a piece."""

    starts: List[int]
    ends: List[int]
    token_index: List[int]
    rows: List[List[int]]  # rows of the flattened (windows * length, width) hidden states
    positions: List[int] = field(default_factory=list)
    characters: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def has_characters(self) -> bool:
        """Whether any unit is one character of a multi-character piece."""
        return any(position != NO_POSITION for position in self.positions)


def check_character_units(value: str) -> str:
    return check_choice(value, CHARACTER_UNITS, "character_units", component="spacy_ft_ner", lower=True)


def has_cjk(text: str) -> bool:
    return CJK.search(text) is not None


def doc_units(doc, trf_data, character_units: str = "none", max_position: int = 15) -> DocUnits:
    """Units of one doc from spacy-transformers' ``TransformerData``; positions
    inside a piece above ``max_position`` are given as ``max_position``."""
    character_units = check_character_units(character_units)
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
        if character_units == "all" or character_units == "cjk" and has_cjk(token.text):
            _add_characters(units, token, windows, rows, strings, length, character_units, max_position)
            continue
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


def _add_characters(
    units: DocUnits, token, windows, rows, strings, length: int, mode: str, max_position: int
):
    """One token's units under character units: a unit a character of each
    multi-character piece that ``mode`` splits, a unit a piece otherwise.

    The first window that saw the token lays out its units; each other window
    adds the row of its own piece holding the unit's first character (windows
    segment alike except at their edges, where a window's text starts with ``▁``
    or a piece crossing the edge is cut)."""
    text, idx = token.text, token.idx
    layouts = [piece_char_spans(text, [strings[w[0] // length][row % length] for row in w]) for w in windows]
    spans = layouts[0] if layouts else None
    if spans is None:  # the pieces do not spell the token: its characters, from all its rows
        if len(text) > 1 and not text.isspace() and (mode == "all" or has_cjk(text)):
            for k, char in enumerate(text):
                _add(units, idx + k, idx + k + 1, token.i, rows, min(k, max_position), ord(char))
        else:
            _add(units, idx, idx + len(text), token.i, rows)
        return
    others = [(w, layout) for w, layout in zip(windows[1:], layouts[1:]) if layout is not None]
    for j, span in enumerate(spans):
        if span is None:
            continue  # a lone marker, or the space after the token: no character of it
        start, end, inside, piece_length = span
        split = piece_length > 1 and (mode == "all" or has_cjk(text[start:end]))
        for k in range(start, end) if split else (start,):
            unit_rows = [windows[0][j]]
            for w, layout in others:
                row = _row_holding(w, layout, k)
                if row is not None and row not in unit_rows:
                    unit_rows.append(row)
            if split:
                position = min(inside + k - start, max_position)
                _add(units, idx + k, idx + k + 1, token.i, unit_rows, position, ord(text[k]))
            else:
                _add(units, idx + start, idx + end, token.i, unit_rows)


def _row_holding(window_rows: List[int], layout, char: int) -> Optional[int]:
    """The row of the piece (in one window) that holds character ``char`` of the token."""
    for row, span in zip(window_rows, layout):
        if span is not None and span[0] <= char < span[1]:
            return row
    return None


def _add(
    units: DocUnits,
    start: int,
    end: int,
    token_index: int,
    rows: List[int],
    position: int = NO_POSITION,
    character: int = 0,
) -> None:
    units.starts.append(start)
    units.ends.append(end)
    units.token_index.append(token_index)
    units.rows.append(rows)
    units.positions.append(position)
    units.characters.append(character)
