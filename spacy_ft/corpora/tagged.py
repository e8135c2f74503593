"""Readers for tag-per-line corpora: character-tagged BIO / BMES / BIOES and CoNLL columns.

Chinese NER corpora (Resume, Weibo, MSRA, ...) come as one character and its tag
a line. Tag sequences that break their scheme are repaired by a fixed rule and
counted (see :func:`decode_tags`), never silently dropped; malformed lines raise
:class:`~spacy_ft.corpora.records.CorpusFormatError` naming ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from spacy_ft.corpora.records import Sample, format_error, read_lines
from spacy_ft.types import Entity, PathLike
from spacy_ft.validation import check_choice

SCHEMES = ("bio", "bmes", "bioes")
#: Tag prefixes each scheme allows besides ``O``.
SCHEME_PREFIXES = {"bio": "BI", "bmes": "BMES", "bioes": "BIES"}
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class _Row:
    """One non-blank input line, split into fields; kept whole for error messages."""

    lineno: int
    fields: list[str]
    text: str


def _fields(line: str) -> list[str]:
    """Split on tabs when the line has any, else on any whitespace.

    Tab-separated files can then carry a whitespace character (a space, a
    full-width space) as the token itself: a field that is only whitespace is
    kept as it is, other fields lose surrounding spaces. In space-separated files
    such a token is indistinguishable from the separator, so the line comes out
    one field short and is rejected.
    """
    if "\t" in line:
        return [part.strip(" ") or part for part in line.rstrip(" \t").split("\t") if part]
    return line.split()


def _sentences(path: PathLike, skip_docstart: bool) -> Iterator[list[_Row]]:
    """Group rows into sentences at blank (or whitespace-only) lines.

    WNUT-17's train file separates sentences with lines holding just a tab.
    A ``-DOCSTART-`` line also ends a sentence when ``skip_docstart``.
    """
    rows: list[_Row] = []
    for lineno, line in read_lines(path):
        fields = _fields(line) if line.strip() else []
        if not fields or (skip_docstart and fields[0] == DOCSTART):
            if rows:
                yield rows
            rows = []
            continue
        rows.append(_Row(lineno, fields, line))
    if rows:
        yield rows


def _parse_tag(tag: str, scheme: str, path: PathLike, row: _Row) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. Labels may hold
    hyphens (``B-creative-work``); only the first one separates the prefix."""
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or not label or len(prefix) != 1 or prefix not in SCHEME_PREFIXES[scheme]:
        expected = ", ".join(f"{p}-X" for p in SCHEME_PREFIXES[scheme])
        raise format_error(
            path, row.lineno, f"unknown tag {tag!r} for scheme {scheme} (expected O, {expected})", row.text
        )
    return prefix, label


def detect_scheme(path: PathLike, tag_col: int = -1) -> str:
    """Pick the scheme from the tag prefixes in the file.

    ``M-`` means BMES; ``E-``/``S-`` with ``I-`` mean BIOES; only ``B-``/``I-``
    mean BIO. Files with ``B-``/``E-``/``S-`` alone read the same under BMES and
    BIOES, so they get "bmes". ``M-`` and ``I-`` together are contradictory and
    raise at the later one's first line. Unknown prefixes are left for the
    reader to reject at their line.
    """
    first: dict[str, tuple[int, str]] = {}
    for lineno, line in read_lines(path):
        fields = _fields(line)
        if len(fields) < 2:
            continue
        prefix, sep, _ = fields[tag_col].partition("-")
        if sep and prefix in "BIMES" and len(prefix) == 1:
            first.setdefault(prefix, (lineno, line))
    if "M" in first and "I" in first:
        lineno, line = max(first["M"], first["I"])
        problem = (
            f"tags mix BMES's M- (first at line {first['M'][0]}) with I- (first at line {first['I'][0]})"
        )
        raise format_error(path, lineno, problem, line)
    if "M" in first:
        return "bmes"
    if "E" in first or "S" in first:
        return "bioes" if "I" in first else "bmes"
    return "bio"


def decode_tags(tags: list[tuple[str, str]], scheme: str) -> tuple[list[Entity], int]:
    """Token-index entities ``(start, end, label)`` from parsed tags, and how
    many of them were repaired.

    Repair rule (so no annotated token is dropped): a continuation tag
    (``I-X``/``M-X``) that does not continue an open ``X`` entity starts a new
    one; an ``E-X`` that does not close an open ``X`` is a one-token entity; in
    BMES/BIOES an entity left open (by ``O``, a new ``B``/``S``, another label or
    the sentence end) is closed where it stopped. Each entity touched by such a
    repair counts once. In BIO an entity ending without ``E`` is normal.
    """
    end_tags = scheme != "bio"
    entities: list[Entity] = []
    repaired = 0
    start, label, clean = -1, "", True

    def close(end: int, properly: bool) -> None:
        nonlocal start, repaired
        if start >= 0:
            entities.append((start, end, label))
            repaired += not (clean and (properly or not end_tags))
        start = -1

    for i, (prefix, tag_label) in enumerate(tags):
        continues = start >= 0 and tag_label == label
        if prefix in "IM" and continues:
            continue
        if prefix == "E" and continues:
            close(i + 1, properly=True)
            continue
        close(i, properly=False)
        if prefix == "O":
            continue
        start, label, clean = i, tag_label, prefix in "BS"
        if prefix in "SE":
            close(i + 1, properly=True)
    close(len(tags), properly=False)
    return entities, repaired


def _sample(
    path: PathLike, rows: list[_Row], tokens: list[str], tags: list[tuple[str, str]], scheme: str, joiner: str
) -> Sample:
    """Join the tokens into the text and map token-index entities to characters."""
    starts, ends, offset = [], [], 0
    for token in tokens:
        starts.append(offset)
        offset += len(token)
        ends.append(offset)
        offset += len(joiner)
    spans, repaired = decode_tags(tags, scheme)
    entities = [(starts[a], ends[b - 1], label) for a, b, label in spans]
    return Sample(joiner.join(tokens), entities, str(path), rows[0].lineno, repaired)


def read_char_tagged(path: PathLike, scheme: str = "auto") -> Iterator[Sample]:
    """Read one ``character tag`` pair per line (space or tab separated), a blank
    line between sentences, with BIO, BMES or BIOES tags ("auto" detects which).

    A field longer than one character is kept whole (Weibo has ``p1``-style
    fields); offsets are computed on the actual text, so nothing shifts.
    """
    scheme = check_choice(scheme, ("auto", *SCHEMES), "tag scheme", lower=True)
    if scheme == "auto":
        scheme = detect_scheme(path)
    for rows in _sentences(path, skip_docstart=False):
        for row in rows:
            if len(row.fields) != 2:
                raise format_error(
                    path,
                    row.lineno,
                    f"expected a character and a tag, got {len(row.fields)} field(s)",
                    row.text,
                )
        tags = [_parse_tag(row.fields[1], scheme, path, row) for row in rows]
        yield _sample(path, rows, [row.fields[0] for row in rows], tags, scheme, "")


def read_conll(
    path: PathLike, token_col: int = 0, tag_col: int = -1, joiner: str = " ", scheme: str = "bio"
) -> Iterator[Sample]:
    """Read CoNLL columns (one token per line, a blank line between sentences,
    ``-DOCSTART-`` lines skipped). The text is the tokens joined by ``joiner``
    (use "" for Chinese), and entity offsets are computed in that text."""
    scheme = check_choice(scheme, SCHEMES, "tag scheme", lower=True)
    for rows in _sentences(path, skip_docstart=True):
        tokens, tags = [], []
        for row in rows:
            tokens.append(_column(path, row, token_col, tag_col, "token"))
            tags.append(_parse_tag(_column(path, row, tag_col, token_col, "tag"), scheme, path, row))
        yield _sample(path, rows, tokens, tags, scheme, joiner)


def _column(path: PathLike, row: _Row, col: int, other: int, what: str) -> str:
    """``row.fields[col]``, raising when it is missing or is the other column
    (a one-field line would otherwise serve as both token and tag)."""
    n = len(row.fields)
    if not -n <= col < n or not -n <= other < n or col % n == other % n:
        raise format_error(path, row.lineno, f"no {what} column {col} in {n} field(s)", row.text)
    return row.fields[col]
