"""Where a transformer's output sits in a doc: hidden states and wordpieces.

Shared by the classifier's pooling, the NER head's units and token splitting, so
all three read spacy-transformers' output the same way.
"""

import unicodedata
from typing import Any, Dict, List, Optional, Sequence, Tuple

PIECE_MARKERS = ("##", "▁", "Ġ")
#: What tokenizers emit for text outside their vocabulary.
UNKNOWN_PIECES = frozenset({"[UNK]", "<unk>", "<UNK>"})


def hidden_states(trf_data: Any) -> Optional[Any]:
    """The (windows, length, width) last hidden state, or None for an empty doc."""
    output = getattr(trf_data, "model_output", None)
    if output is None or "last_hidden_state" not in output:
        return None
    hidden = output.last_hidden_state
    return hidden if hidden.size else None


def _fold(char: str) -> str:
    base = unicodedata.normalize("NFD", char.lower())
    return base[0] if base else char


def _fold_compatible(char: str) -> str:
    """As :func:`_fold`, and compatibility forms too (full-width Ａ, １ fold to a, 1),
    which SentencePiece normalizers (XLM-R's NFKC) write into the pieces."""
    base = unicodedata.normalize("NFKD", char.lower())
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


def token_row_spans(
    token_text: str,
    token_start: int,
    token_rows: Sequence[int],
    strings: Sequence[Sequence[str]],
    length: int,
    first_window_spans: Optional[List[Tuple[int, int]]] = None,
) -> Optional[List[Tuple[int, int]]]:
    """The doc character span of each of a token's rows (the token starting at
    ``token_start``; ``strings``: the wordpieces of each window, ``length`` long),
    or None where the pieces of one of its windows do not spell it.
    ``first_window_spans``: :func:`piece_spans` of the first window, where the
    caller has them already."""
    span_of: Dict[int, Tuple[int, int]] = {}
    for k, (window, window_rows) in enumerate(rows_by_window(token_rows, length).items()):
        spans = first_window_spans if k == 0 and first_window_spans is not None else None
        if spans is None:
            spans = piece_spans(token_text, [strings[window][row % length] for row in window_rows])
        if spans is None:
            return None
        span_of.update({row: (token_start + a, token_start + b) for row, (a, b) in zip(window_rows, spans)})
    return [span_of[row] for row in token_rows]


#: Markers that stand for a space before the piece (``##`` joins without one).
SPACE_MARKERS = ("▁", "Ġ")

#: (start, end, offset, length): the characters ``start:end`` of a token that a
#: piece covers, where inside the piece they begin and how many characters the
#: piece has (its text without the marker; an ``[UNK]``: the characters it covers).
PieceSpan = Tuple[int, int, int, int]


def piece_char_spans(token_text: str, pieces: Sequence[str]) -> Optional[List[Optional[PieceSpan]]]:
    """Per piece, the part of ``token_text`` it covers, or None for a piece
    covering none of it; None when the pieces do not spell the token.

    Unlike :func:`piece_spans`, a piece may cross the token's edges, as
    SentencePiece pieces cross jieba's words (the piece ``的上`` over 的|上海站):
    the first piece covering a character may begin before the token, the last
    may end after it, and the piece spelling only the space after the token
    (spacy-transformers aligns the character after a token to it) or a lone
    ``▁`` before it covers nothing. With ``[UNK]`` pieces, the spans are
    :func:`piece_spans`' (lone markers left out), none crossing.
    """
    texts: List[str] = []
    marks: List[int] = []  # characters of each text that stand for a marker
    for piece in pieces:
        if piece in UNKNOWN_PIECES:
            return _spans_with_unknowns(token_text, pieces)
        stripped = _strip_marker(piece)
        space = piece.startswith(SPACE_MARKERS)
        texts.append((" " if space else "") + "".join(_fold_compatible(c) for c in stripped))
        marks.append(1 if space else 0)
    folded = "".join(_fold_compatible(c) for c in token_text)
    if not folded or not texts:
        return None
    bounds = [0]
    for text in texts:
        bounds.append(bounds[-1] + len(text))
    joined = "".join(texts)
    first = next((i for i, text in enumerate(texts) if text.strip()), None)
    if first is None:
        return None
    start = joined.find(folded, bounds[first])
    if start < 0 or start >= bounds[first + 1]:
        return None
    end = start + len(folded)
    spans: List[Optional[PieceSpan]] = []
    for i in range(len(texts)):
        a, b = max(bounds[i], start), min(bounds[i + 1], end)
        if a >= b or not joined[a:b].strip():
            spans.append(None)
            continue
        spans.append((a - start, b - start, max(0, a - bounds[i] - marks[i]), len(texts[i]) - marks[i]))
    return spans


def _spans_with_unknowns(token_text: str, pieces: Sequence[str]) -> Optional[List[Optional[PieceSpan]]]:
    kept = [i for i, piece in enumerate(pieces) if piece in UNKNOWN_PIECES or _strip_marker(piece)]
    spans = piece_spans(token_text, [pieces[i] for i in kept])
    if spans is None:
        return None
    out: List[Optional[PieceSpan]] = [None] * len(pieces)
    for i, (start, end) in zip(kept, spans):
        out[i] = (start, end, 0, end - start)
    return out
