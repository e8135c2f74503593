"""Readers for one-record-per-line corpora: CLUENER JSON, JSONL spans, CSV/TSV labels.

They follow :mod:`spacy_ft.corpora`'s conventions (split out to keep that module
about tag sequences): each yields :class:`~spacy_ft.corpora.Sample` objects whose
``line`` points at the record, and malformed input raises
:class:`~spacy_ft.corpora.CorpusFormatError` naming ``file:line``. Nothing is
dropped: a record that cannot be read is an error, never a skipped line (blank
lines between records are not records).

Classification labels given as names ("label": "POS", a CSV label column) are
turned into full ``doc.cats`` dicts, 1.0 for the record's labels and 0.0 for
every other label seen in the file, as spaCy's textcat expects every doc to
score every label. That needs the file's whole label set, so these readers
collect the file's records before yielding: fine for the classification and
NER files they are meant for, which fit in memory many times over.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from typing import Any, Iterator, Mapping, Optional, Sequence

from spacy_ft.corpora.records import Sample, every_label, format_error, read_lines
from spacy_ft.types import Entity, PathLike

#: Header names tried, in order, when no text / label column is named.
TEXT_COLUMNS = ("text", "sentence", "text_a", "review")
LABEL_COLUMNS = ("label", "labels")
#: Characters of a bad line quoted in an error message.
QUOTE_CHARS = 200

#: A sample waiting for the file's label set, with its positive labels (None: cats as given).
Pending = tuple[Sample, Optional[list[str]]]


def _clip(line: str) -> str:
    return line if len(line) <= QUOTE_CHARS else line[:QUOTE_CHARS] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_label_map(spec: str) -> dict[str, str]:
    """``"0=NEG,1=POS"`` -> ``{"0": "NEG", "1": "POS"}``: numeric class ids in a
    file become readable label names. A malformed spec is the caller's mistake:
    plain ValueError naming the bad item."""
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"label map item {item!r} in {spec!r} is not 'value=LABEL'")
        if key in mapping:
            raise ValueError(f"label map {spec!r} maps {key!r} twice")
        mapping[key] = value
    return mapping


def _map_label(path: PathLike, lineno: int, label: str, label_map: Optional[Mapping[str, str]]) -> str:
    if label_map is None:
        return label
    if label not in label_map:
        raise format_error(path, lineno, f"label {label!r} is not in the label map ({', '.join(label_map)})")
    return label_map[label]


def _with_all_labels(pending: Sequence[Pending]) -> Iterator[Sample]:
    """Give each sample with named labels the file's full label set (first-seen order)."""
    labels = list(dict.fromkeys(label for _, names in pending if names for label in names))
    for sample, names in pending:
        if names is None:
            yield sample
        else:
            yield dataclasses.replace(sample, cats=every_label(dict.fromkeys(names, 1.0), labels))


# -- JSON lines -----------------------------------------------------------------------


def json_records(path: PathLike) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Yield ``(line number, object, line)`` for each non-blank line."""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise format_error(
                path, lineno, f"invalid JSON ({err.msg} at column {err.colno})", _clip(line)
            ) from err
        if not isinstance(record, dict):
            raise format_error(path, lineno, f"expected a JSON object, got {type(record).__name__}", _clip(line))
        yield lineno, record, line


def _text(path: PathLike, lineno: int, record: dict[str, Any], line: str) -> str:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise format_error(path, lineno, f'"text" must be a non-empty string, got {text!r}', _clip(line))
    return text


def read_cluener(path: PathLike) -> Iterator[Sample]:
    """Read CLUENER2020 JSON lines::

        {"text": "...", "label": {"name": {"叶老桂": [[9, 11]]}, "company": {...}}}

    CLUENER's end index is *inclusive*; each mention must equal
    ``text[start:end + 1]``, else the line is reported (a shifted offset would
    otherwise train on the wrong characters). Lines without "label" (the test
    split) give samples without entities.
    """
    for lineno, record, line in json_records(path):
        text = _text(path, lineno, record, line)
        labels = record.get("label") or {}
        if not isinstance(labels, dict):
            raise format_error(path, lineno, f'"label" must map types to mentions, got {labels!r}', _clip(line))
        entities: list[Entity] = []
        for label, mentions in labels.items():
            if not isinstance(mentions, dict):
                raise format_error(
                    path, lineno, f"{label}: expected {{mention: [[start, end], ...]}}, got {mentions!r}"
                )
            for mention, positions in mentions.items():
                for position in positions if isinstance(positions, list) else [positions]:
                    entities.append(_cluener_entity(path, lineno, text, label, mention, position))
        yield Sample(text, sorted(entities), str(path), lineno)


def _cluener_entity(
    path: PathLike, lineno: int, text: str, label: str, mention: str, position: Any
) -> Entity:
    ok = isinstance(position, list) and len(position) == 2 and all(_is_int(x) for x in position)
    if not ok:
        raise format_error(path, lineno, f"{label} {mention!r}: expected [start, end], got {position!r}")
    start, end = position
    found = text[start : end + 1] if 0 <= start <= end else ""
    if found != mention:
        raise format_error(
            path,
            lineno,
            f"{label} mention {mention!r} at [{start}, {end}] (end inclusive) reads {found!r} in the text",
        )
    return start, end + 1, label


def read_jsonl(path: PathLike, label_map: Optional[Mapping[str, str]] = None) -> Iterator[Sample]:
    """Read one JSON object per line, end offsets exclusive::

        {"text": "...", "entities": [[0, 2, "PER"]]}
        {"text": "...", "spans": [{"start": 0, "end": 2, "label": "PER"}]}   # Prodigy
        {"text": "...", "cats": {"POS": 1, "NEG": 0}}
        {"text": "...", "label": "POS"}          # exclusive class
        {"text": "...", "labels": ["A", "B"]}    # multi-label

    A span dict's "text", when present, must match the text at its offsets.
    Named labels get every label of the file (see the module docstring), so the
    file is read whole before the first sample. ``label_map`` renames labels
    and cats keys (``{"0": "NEG", "1": "POS"}``).
    """
    pending: list[Pending] = []
    for lineno, record, line in json_records(path):
        text = _text(path, lineno, record, line)
        entities = [_span(path, lineno, text, span) for span in _spans(path, lineno, record)]
        cats, names = _record_cats(path, lineno, record, label_map)
        pending.append((Sample(text, entities, str(path), lineno, cats=cats), names))
    yield from _with_all_labels(pending)


def _spans(path: PathLike, lineno: int, record: dict[str, Any]) -> list[Any]:
    if "entities" in record and "spans" in record:
        raise format_error(path, lineno, 'give "entities" or "spans", not both')
    spans = record.get("entities", record.get("spans", []))
    if not isinstance(spans, list):
        raise format_error(path, lineno, f"entities must be a list, got {spans!r}")
    return spans


def _span(path: PathLike, lineno: int, text: str, span: Any) -> Entity:
    """``[start, end, label]`` or ``{"start", "end", "label"}`` -> an entity."""
    if isinstance(span, dict):
        start, end, label = span.get("start"), span.get("end"), span.get("label")
    elif isinstance(span, list) and len(span) == 3:
        start, end, label = span
    else:
        start = end = label = None
    if not (_is_int(start) and _is_int(end) and isinstance(label, str) and label):
        raise format_error(path, lineno, f"expected [start, end, label] or {{start, end, label}}, got {span!r}")
    if isinstance(span, dict) and "text" in span and text[start:end] != span["text"]:
        raise format_error(path, lineno, f"span {span!r} reads {text[start:end]!r} in the text")
    return int(start), int(end), label  # type: ignore[arg-type]  # checked by _is_int above


def _record_cats(
    path: PathLike, lineno: int, record: dict[str, Any], label_map: Optional[Mapping[str, str]]
) -> tuple[dict[str, float], Optional[list[str]]]:
    """``(cats as given, None)`` or ``({}, positive label names)`` for later filling."""
    given = [key for key in ("cats", "label", "labels") if key in record]
    if len(given) > 1:
        raise format_error(path, lineno, f"give one of cats, label, labels; got {', '.join(given)}")
    if not given:
        return {}, None
    key, value = given[0], record[given[0]]
    if key == "cats":
        if not isinstance(value, dict) or not all(_is_score(v) for v in value.values()):
            raise format_error(path, lineno, f'"cats" must map labels to numbers in [0, 1], got {value!r}')
        return {_map_label(path, lineno, str(k), label_map): float(v) for k, v in value.items()}, None
    names = [value] if key == "label" else value
    if not isinstance(names, list) or not all(isinstance(n, str) or _is_int(n) for n in names):
        hint = " (CLUENER files: --format cluener)" if isinstance(value, dict) else ""
        raise format_error(path, lineno, f'"{key}" must be a label name or a list of them, got {value!r}{hint}')
    return {}, [_map_label(path, lineno, str(name), label_map) for name in names]


def _is_score(value: Any) -> bool:
    return isinstance(value, (int, float)) and 0 <= value <= 1


# -- CSV / TSV -------------------------------------------------------------------------


def _table_rows(path: PathLike, delimiter: str, quoting: bool = True) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first line of the row, fields)``; quoted fields may span lines.

    ``strict`` quoting: a stray quote would otherwise swallow the rest of the
    file into one field, so it is reported at the line its row starts.
    ``quoting=False`` reads every quote as text, one row a line: many TSV corpora
    (ChnSentiCorp, GLUE's) never quote and have bare quotes inside their texts.
    """
    lines = (line for _, line in read_lines(path, keepends=True))
    if quoting:
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
    else:
        reader = csv.reader(lines, delimiter=delimiter, quoting=csv.QUOTE_NONE)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            kind = "TSV" if delimiter == "\t" else "CSV"
            hint = "; if its quotes are part of the text, read it with quoting off (--no-quoting)"
            raise format_error(
                path, start, f"bad {kind} row ({err}; read up to line {reader.line_num}){hint if quoting else ''}"
            ) from err
        yield start, fields
        start = reader.line_num + 1


def _column(
    path: PathLike, lineno: int, header: list[str], name: Optional[str], defaults: Sequence[str], what: str
) -> int:
    """The index of the named column, or of the first default name present
    (names compare without case or surrounding spaces)."""
    names = [cell.strip().lower() for cell in header]
    for candidate in [name] if name is not None else defaults:
        if candidate.strip().lower() in names:
            return names.index(candidate.strip().lower())
    wanted = repr(name) if name is not None else "one of " + ", ".join(defaults)
    raise format_error(path, lineno, f"no {what} column {wanted} in the header {header!r}")


def read_table(
    path: PathLike,
    delimiter: str = ",",
    *,
    text_column: Optional[str] = None,
    label_column: Optional[str] = None,
    label_sep: str = "|",
    label_map: Optional[Mapping[str, str]] = None,
    quoting: bool = True,
) -> Iterator[Sample]:
    """Read a CSV (``delimiter=","``) or TSV (``"\\t"``) file with a header row,
    one text and its label(s) per row, into samples with full ``cats``.

    Columns default to the first of :data:`TEXT_COLUMNS` / :data:`LABEL_COLUMNS`
    in the header. A label cell holding several labels split by ``label_sep``
    makes a multi-label row ("," would clash with CSV, hence "|"). Labels stay
    strings ("0", "1") unless ``label_map`` renames them. Every doc gets every
    label of the file (see the module docstring), so the whole file is read
    first. Empty text, a missing label or a row whose column count differs from
    the header's raise at the row's line. ``quoting=False``: quotes are text (see
    :func:`_table_rows`).
    """
    rows = _table_rows(path, delimiter, quoting)
    header_line, header = next(rows, (1, []))
    if not header:
        raise format_error(path, header_line, "expected a header row naming the text and label columns")
    text_at = _column(path, header_line, header, text_column, TEXT_COLUMNS, "text")
    label_at = _column(path, header_line, header, label_column, LABEL_COLUMNS, "label")
    pending: list[Pending] = []
    for lineno, fields in rows:
        if not fields:
            continue  # a blank line is no row
        if len(fields) != len(header):
            raise format_error(
                path,
                lineno,
                f"expected {len(header)} columns as in the header, got {len(fields)}",
                _clip(delimiter.join(fields)),
            )
        text, cell = fields[text_at], fields[label_at]
        if not text.strip():
            raise format_error(path, lineno, f"empty text in column {header[text_at]!r}")
        names = _cell_labels(path, lineno, cell, label_sep, label_map, header[label_at])
        pending.append((Sample(text, [], str(path), lineno), names))
    yield from _with_all_labels(pending)


def _cell_labels(
    path: PathLike, lineno: int, cell: str, sep: str, label_map: Optional[Mapping[str, str]], column: str
) -> list[str]:
    parts = [part.strip() for part in cell.split(sep)] if sep else [cell.strip()]
    if not any(parts):
        raise format_error(path, lineno, f"missing label in column {column!r}")
    if not all(parts):
        raise format_error(path, lineno, f"empty label in {cell!r} (labels separated by {sep!r})")
    return list(dict.fromkeys(_map_label(path, lineno, part, label_map) for part in parts))
