"""NER corpus converters that never lose an entity.

Chinese NER corpora (Resume, Weibo, MSRA, ...) are tagged per character, but
the pipeline tokenizes with jieba, whose words often swallow an entity edge:
邓小平 is inside the single jieba token 邓小平理论. ``doc.ents`` only holds
token-aligned spans, so a naive conversion silently drops such entities. Here
every document is tokenized with the pipeline's own tokenizer and then split
at each entity edge that falls inside a token (``spacy_ft.token_split.split_at_edges``),
so every entity becomes a token span and lands in ``doc.ents`` exactly.

Nothing is dropped silently: malformed lines raise :class:`CorpusFormatError`
naming ``file:line``; tag sequences that break their scheme are repaired by a
fixed rule and counted (see :func:`decode_tags`); entity edges on whitespace are
trimmed and counted; overlapping or unalignable entities raise.

CLUENER JSON, JSONL spans and CSV/TSV label files are read by
:mod:`spacy_ft.corpus_readers` into the same :class:`Sample` objects.

Module imports stay light: spaCy, numpy and the standard library.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Union

from spacy.tokens import Doc, DocBin

from .token_split import split_at_edges

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

PathLike = Union[str, Path]
Entity = tuple[int, int, str]

SCHEMES = ("bio", "bmes", "bioes")
#: Tag formats read here, then the whole-line formats of :mod:`spacy_ft.corpus_readers`.
FORMATS = ("bio", "bmes", "bioes", "char", "conll", "cluener", "jsonl", "csv", "tsv")
#: Keyword options each format's reader takes (the rest take none).
FORMAT_OPTIONS = {
    "jsonl": ("label_map",),
    "csv": ("text_column", "label_column", "label_sep", "label_map"),
    "tsv": ("text_column", "label_column", "label_sep", "label_map"),
}
#: Tag prefixes each scheme allows besides ``O``.
SCHEME_PREFIXES = {"bio": "BI", "bmes": "BMES", "bioes": "BIES"}
DOCSTART = "-DOCSTART-"
BOM = "\ufeff"
#: Inputs with fewer lines than this convert without a progress bar.
PROGRESS_MIN_LINES = 10_000


class CorpusFormatError(ValueError):
    """Malformed corpus input; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Sample:
    """One sentence: its text, character-offset entities and where it came from.

    ``line`` is the 1-based line of the sentence's first row in ``source``, so
    every later error can point back at the input. ``repaired`` counts the
    entities whose tags broke the scheme and were kept by the repair rule.
    """

    text: str
    entities: list[Entity]
    source: str
    line: int
    repaired: int = 0
    #: Classifier labels (``doc.cats``); empty for NER-only corpora.
    cats: dict[str, float] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class ConversionReport:
    """What a conversion did, so a corpus's quirks are visible, not silent.

    ``entities_crossing_tokens``: entities with an edge inside a tokenizer token
    (they would have been lost without splitting); ``tokens_split``: tokens the
    splitting cut; ``repaired_entities``: entities whose tags broke the scheme
    (kept, see :func:`decode_tags`); ``entities_trimmed``: entities whose edges
    were on whitespace and were trimmed, since no token can end in whitespace.
    """

    docs: int = 0
    entities: int = 0
    entities_crossing_tokens: int = 0
    tokens_split: int = 0
    repaired_entities: int = 0
    entities_trimmed: int = 0
    labels: Counter = field(default_factory=Counter)
    #: Docs per positive classifier label.
    cats: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "entities": self.entities,
            "entities_crossing_tokens": self.entities_crossing_tokens,
            "tokens_split": self.tokens_split,
            "repaired_entities": self.repaired_entities,
            "entities_trimmed": self.entities_trimmed,
            "labels": dict(self.labels.most_common()),
            "cats": dict(self.cats.most_common()),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        return (
            f"{self.docs} docs, {self.entities} entities in {len(self.labels)} labels; "
            f"{self.entities_crossing_tokens} crossed token edges, {self.tokens_split} tokens split, "
            f"{self.repaired_entities} repaired, {self.entities_trimmed} trimmed"
            + (f"; cats {dict(self.cats.most_common())}" if self.cats else "")
            + f" ({self.seconds:.1f} s)"
        )


# -- reading lines ----------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One non-blank input line, split into fields; kept whole for error messages."""

    lineno: int
    fields: list[str]
    text: str


def _error(path: PathLike, lineno: int, problem: str, line: Optional[str] = None) -> CorpusFormatError:
    suffix = f": {line!r}" if line is not None else ""
    return CorpusFormatError(f"{path}:{lineno}: {problem}{suffix}")


def _lines(path: PathLike, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)``, without the line break unless ``keepends``
    (the csv module needs the breaks to read quoted fields spanning lines).

    Decoding per line lets a non-UTF-8 byte be reported at its line. A byte
    order mark is removed at the start of *every* line, not just the file's:
    concatenated files carry one mid-file (WNUT-17's emerging.dev.conll ends with
    a line holding only a BOM), and U+FEFF is not whitespace to ``str.split``.
    """
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _error(path, lineno, f"not UTF-8 ({err.reason})", None) from err
            yield lineno, (line if keepends else line.rstrip("\r\n")).lstrip(BOM)


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
    for lineno, line in _lines(path):
        fields = _fields(line) if line.strip() else []
        if not fields or (skip_docstart and fields[0] == DOCSTART):
            if rows:
                yield rows
            rows = []
            continue
        rows.append(_Row(lineno, fields, line))
    if rows:
        yield rows


# -- tags ---------------------------------------------------------------------------


def _check_choice(value: str, allowed: Iterable[str], what: str = "tag scheme") -> str:
    """A bad argument is the caller's mistake, not the file's: plain ValueError."""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value.lower()


def _parse_tag(tag: str, scheme: str, path: PathLike, row: _Row) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``. Labels may hold
    hyphens (``B-creative-work``); only the first one separates the prefix."""
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or not label or len(prefix) != 1 or prefix not in SCHEME_PREFIXES[scheme]:
        expected = ", ".join(f"{p}-X" for p in SCHEME_PREFIXES[scheme])
        raise _error(
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
    for lineno, line in _lines(path):
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
        raise _error(path, lineno, problem, line)
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


# -- readers ----------------------------------------------------------------------


def read_char_tagged(path: PathLike, scheme: str = "auto") -> Iterator[Sample]:
    """Read one ``character tag`` pair per line (space or tab separated), a blank
    line between sentences, with BIO, BMES or BIOES tags ("auto" detects which).

    A field longer than one character is kept whole (Weibo has ``p1``-style
    fields); offsets are computed on the actual text, so nothing shifts.
    """
    scheme = _check_choice(scheme, ("auto", *SCHEMES))
    if scheme == "auto":
        scheme = detect_scheme(path)
    for rows in _sentences(path, skip_docstart=False):
        for row in rows:
            if len(row.fields) != 2:
                raise _error(
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
    scheme = _check_choice(scheme, SCHEMES)
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
        raise _error(path, row.lineno, f"no {what} column {col} in {n} field(s)", row.text)
    return row.fields[col]


def read_samples(path: PathLike, fmt: str = "char", joiner: str = " ", **options: Any) -> Iterator[Sample]:
    """Dispatch on ``fmt``: a scheme name or "char" (auto) for character-tagged
    files, "conll" for token columns with BIO tags joined by ``joiner``, and
    "cluener", "jsonl", "csv", "tsv" (see :mod:`spacy_ft.corpus_readers`).

    ``options`` go to the reader (see :data:`FORMAT_OPTIONS`); an option the
    format does not take is an error rather than a silently ignored setting.
    """
    fmt = _check_choice(fmt, FORMATS, "format")
    unknown = sorted(set(options) - set(FORMAT_OPTIONS.get(fmt, ())))
    if unknown:
        raise ValueError(f"format {fmt!r} takes no option {', '.join(unknown)}")
    if fmt in ("csv", "tsv"):
        from .corpus_readers import read_table

        return read_table(path, delimiter="," if fmt == "csv" else "\t", **options)
    if fmt == "jsonl":
        from .corpus_readers import read_jsonl

        return read_jsonl(path, **options)
    if fmt == "cluener":
        from .corpus_readers import read_cluener

        return read_cluener(path)
    if fmt == "conll":
        return read_conll(path, joiner=joiner)
    return read_char_tagged(path, scheme="auto" if fmt == "char" else fmt)


# -- samples to docs ------------------------------------------------------------


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def checked_entities(sample: Sample) -> tuple[list[Entity], int]:
    """The sample's entities sorted, with whitespace edges trimmed (no token can
    start or end in whitespace), and how many were trimmed. Out-of-range, empty,
    all-whitespace, unlabeled or overlapping entities raise at ``source:line``."""
    out: list[Entity] = []
    trimmed = 0
    for start, end, label in sorted(sample.entities):
        if not (0 <= start < end <= len(sample.text)) or not label:
            raise CorpusFormatError(
                f"{sample.where}: invalid entity {(start, end, label)!r} in {sample.text!r}"
            )
        new_start, new_end = _trim(sample.text, start, end)
        if new_start == new_end:
            raise CorpusFormatError(f"{sample.where}: entity {label} at {start}-{end} is only whitespace")
        trimmed += (new_start, new_end) != (start, end)
        if out and new_start < out[-1][1]:
            raise CorpusFormatError(
                f"{sample.where}: overlapping entities {out[-1]!r} and {(start, end, label)!r}"
            )
        out.append((new_start, new_end, label))
    return out, trimmed


def sample_to_doc(nlp: Language, sample: Sample, report: ConversionReport) -> Doc:
    """Tokenize with the pipeline's tokenizer, split tokens at entity edges inside
    them, set ``doc.ents``, and verify every entity landed exactly."""

    entities, trimmed = checked_entities(sample)
    doc = nlp.make_doc(sample.text)
    if doc.text != sample.text:
        raise CorpusFormatError(
            f"{sample.where}: the tokenizer changed the text {sample.text!r} to {doc.text!r}"
        )
    crossing = sum(doc.char_span(start, end) is None for start, end, _ in entities)
    split = split_at_edges(doc, {edge for start, end, _ in entities for edge in (start, end)})
    spans = []
    for start, end, label in entities:
        span = doc.char_span(start, end, label=label)
        if span is None:
            raise CorpusFormatError(
                f"{sample.where}: entity {label} {sample.text[start:end]!r} at {start}-{end} "
                "does not align with tokens even after splitting"
            )
        spans.append(span)
    doc.ents = spans
    if sample.cats:
        doc.cats = dict(sample.cats)
    landed = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
    if landed != entities or doc.text != sample.text:
        raise CorpusFormatError(f"{sample.where}: entities {entities!r} came out as {landed!r}")
    report.docs += 1
    report.entities += len(entities)
    report.entities_crossing_tokens += crossing
    report.tokens_split += split
    report.repaired_entities += sample.repaired
    report.entities_trimmed += trimmed
    report.labels.update(label for _, _, label in entities)
    report.cats.update(label for label, value in sample.cats.items() if value)
    return doc


def iter_docs(nlp: Language, samples: Iterable[Sample], report: ConversionReport) -> Iterator[Doc]:
    """Stream docs, filling ``report`` as they go (for corpora too big for a list)."""
    for sample in samples:
        yield sample_to_doc(nlp, sample, report)


def samples_to_docs(nlp: Language, samples: Iterable[Sample]) -> tuple[list[Doc], ConversionReport]:
    """Convert samples to docs whose ``doc.ents`` hold every entity exactly."""
    report = ConversionReport()
    started = time.perf_counter()
    docs = list(iter_docs(nlp, samples, report))
    report.seconds = time.perf_counter() - started
    return docs, report


# -- files ----------------------------------------------------------------------


def _count_lines(path: PathLike) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _progress(samples: Iterable[Sample], path: PathLike, enabled: Optional[bool]) -> Iterator[Sample]:
    """Show a per-line progress bar on a terminal for inputs of
    ``PROGRESS_MIN_LINES`` lines or more (``enabled`` forces it on or off)."""
    if enabled is None:
        enabled = sys.stderr.isatty() and _count_lines(path) >= PROGRESS_MIN_LINES
    if not enabled:
        yield from samples
        return
    from tqdm import tqdm

    total = _count_lines(path)
    with tqdm(total=total, unit="line", desc=Path(path).name) as bar:
        for sample in samples:
            bar.update(sample.line - bar.n)
            yield sample
        bar.update(total - bar.n)


def convert(
    input_path: PathLike,
    output_path: PathLike,
    nlp: Language,
    fmt: str = "char",
    joiner: str = " ",
    *,
    progress: Optional[bool] = None,
    **options: Any,
) -> ConversionReport:
    """Convert a corpus file to a ``.spacy`` DocBin, tokenized by ``nlp``.

    ``fmt``: "bio", "bmes", "bioes" or "char" (scheme detected) for
    character-tagged files; "conll" for token columns joined by ``joiner``;
    "cluener", "jsonl", "csv" or "tsv" (``options`` as :func:`read_samples`).
    The DocBin is written only after every sentence converted, so a malformed
    line never leaves a partial file behind.
    """
    started = time.perf_counter()
    report = ConversionReport()
    samples = _progress(read_samples(input_path, fmt, joiner, **options), input_path, progress)
    write_docbin(nlp, samples, output_path, report)
    report.seconds = time.perf_counter() - started
    return report


def write_docbin(
    nlp: Language, samples: Iterable[Sample], output_path: PathLike, report: ConversionReport
) -> None:
    """Convert every sample, then write the DocBin (creating its folder): the
    file appears only once all samples converted, so an error leaves none."""
    doc_bin = DocBin(store_user_data=False)
    for doc in iter_docs(nlp, samples, report):
        doc_bin.add(doc)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin.to_disk(output_path)
