"""Split tokens at character offsets, keeping the doc consistent.

Both the NER head (an entity predicted inside a jieba token) and the corpus
converters (a gold entity inside a token) need tokens cut at entity edges. The
pieces must keep the token's annotation and the transformer alignment, or
later components and training data silently go wrong.
"""

import bisect
import dataclasses
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy
from spacy.tokens import Doc

from spacy_ft.transformer.alignment import token_row_spans

#: Per token index: the doc character span of each of its aligned rows, or None
#: where its wordpieces do not spell it.
RowSpans = Mapping[int, Optional[List[Tuple[int, int]]]]


def split_at_edges(doc: Doc, edges: Iterable[int], row_spans: Optional[RowSpans] = None) -> int:
    """Split tokens at character offsets that fall inside them; returns how many
    tokens were split. The pieces keep the token's annotation (tag, POS, morph,
    dependency head, sentence start on the first piece only, entities), and the
    transformer alignment is divided along with them.

    ``row_spans``: what the caller already found of ``doc._.trf_data``'s rows
    (:func:`spacy_ft.transformer.alignment.token_row_spans` of some tokens, by
    token index); the tokens it leaves out are matched to their wordpieces here."""
    cuts_sorted = sorted(set(edges))
    plans = []
    for token in doc:
        first = bisect.bisect_right(cuts_sorted, token.idx)
        last = bisect.bisect_left(cuts_sorted, token.idx + len(token))
        cuts = [c - token.idx for c in cuts_sorted[first:last]]
        if cuts:
            pieces = [token.text[a:b] for a, b in zip([0] + cuts, cuts + [len(token)])]
            plans.append((token.i, pieces))
    if not plans:
        return 0
    old_trf = doc._.trf_data if Doc.has_extension("trf_data") else None
    old_spans = [(t.idx, t.idx + len(t)) for t in doc]
    old_ents = [(e.start_char, e.end_char, e.label_, e.kb_id_) for e in doc.ents]
    annotated = [(i, pieces, _piece_annotation(doc, doc[i], len(pieces))) for i, pieces in plans]
    with doc.retokenize() as retokenizer:
        for i, pieces, (heads, attrs) in annotated:
            retokenizer.split(doc[i], pieces, heads=heads, attrs=attrs)
    if old_ents:  # spaCy leaves the new pieces' entity tags undefined
        doc.ents = [doc.char_span(s, e, label=label, kb_id=kb_id) for s, e, label, kb_id in old_ents]  # type: ignore[misc]  # edges are token edges after the split
    if old_trf is not None and getattr(old_trf, "align", None) is not None and len(old_trf.align.lengths):
        doc._.trf_data = _split_alignment(doc, old_trf, old_spans, row_spans or {})
    return len(plans)


def _piece_annotation(doc: Doc, token: Any, n: int) -> Tuple[List[Any], Dict[Union[str, int], List[Any]]]:
    """Heads and attributes for the pieces of ``token``: spaCy's split leaves
    the pieces after the first with whatever the following token had."""
    # spaCy's split cannot write -1 ("not a start"); 0 ("unknown") also keeps a
    # piece from starting a sentence.
    attrs: Dict[Union[str, int], List[Any]] = {"SENT_START": [1 if token.is_sent_start else 0] + [0] * (n - 1)}
    for attr, value in (("TAG", token.tag_), ("POS", token.pos_), ("MORPH", str(token.morph))):
        if doc.has_annotation(attr):
            attrs[attr] = [value] * n
    if doc.has_annotation("DEP"):
        first_head = token.head if token.head.i != token.i else (token, 0)
        attrs["DEP"] = [token.dep_] + ["dep"] * (n - 1)
        return [first_head] + [(token, 0)] * (n - 1), attrs
    return [(token, 0)] * n, attrs


def _split_alignment(doc: Doc, trf_data: Any, old_spans: List[Tuple[int, int]], known: RowSpans) -> Any:
    """Give each new token the rows of the wordpieces inside it, so components
    after the split read the features of their own characters (张伟 split out of
    张伟队 gets the rows of 张 and 伟, not of 队). Where the wordpieces do not
    spell the old token (byte pieces) a piece keeps all of its old token's rows,
    which keeps every token aligned."""
    from thinc.types import Ragged

    lengths = [int(n) for n in trf_data.align.lengths]
    rows = trf_data.align.dataXd.ravel().tolist()
    offsets = numpy.cumsum([0] + lengths)
    row_spans = _row_char_spans(doc, trf_data, old_spans, rows, offsets, known)
    new_rows, new_lengths = [], []
    old = 0
    for token in doc:
        while old_spans[old][1] <= token.idx:
            old += 1
        token_rows = rows[offsets[old] : offsets[old + 1]]
        spans = row_spans.get(old)
        if spans is not None:
            start, end = token.idx, token.idx + len(token)
            own = [row for row, (a, b) in zip(token_rows, spans) if a < end and b > start]
            token_rows = own or token_rows
        new_rows.extend(token_rows)
        new_lengths.append(len(token_rows))
    align = Ragged(numpy.asarray(new_rows, dtype="i"), numpy.asarray(new_lengths, dtype="i"))  # type: ignore[arg-type]
    return dataclasses.replace(trf_data, align=align)


def _row_char_spans(
    doc: Doc,
    trf_data: Any,
    old_spans: List[Tuple[int, int]],
    rows: List[int],
    offsets: numpy.ndarray,
    known: RowSpans,
) -> Dict[int, List[Tuple[int, int]]]:
    """Doc character span of each aligned row of every old token that was split
    (old index -> one span per row), where its wordpieces spell it: from ``known``
    where the caller found them, else matched here."""
    wordpieces: Any = getattr(trf_data, "wordpieces", None)
    input_ids = getattr(wordpieces, "input_ids", None)
    if input_ids is None or len(getattr(input_ids, "shape", ())) != 2:
        return {}
    length = int(input_ids.shape[1])
    new_starts = {token.idx for token in doc}
    out: Dict[int, List[Tuple[int, int]]] = {}
    for old, (start, end) in enumerate(old_spans):
        if not any(start < idx < end for idx in new_starts):
            continue
        if old in known:
            spans = known[old]
        else:
            token_rows = rows[offsets[old] : offsets[old + 1]]
            spans = token_row_spans(doc.text[start:end], start, token_rows, wordpieces.strings, length)
        if spans is not None:
            out[old] = spans
    return out
