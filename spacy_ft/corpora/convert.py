"""NER corpus converters that never lose an entity.

Chinese NER corpora (Resume, Weibo, MSRA, ...) are tagged per character, but
the pipeline tokenizes with jieba, whose words often swallow an entity edge:
邓小平 is inside the single jieba token 邓小平理论. ``doc.ents`` only holds
token-aligned spans, so a naive conversion silently drops such entities. Here
every document is tokenized with the pipeline's own tokenizer and then split
at each entity edge that falls inside a token (:func:`spacy_ft.corpora.token_split.split_at_edges`),
so every entity becomes a token span and lands in ``doc.ents`` exactly.

Nothing is dropped silently: malformed lines raise :class:`CorpusFormatError`
naming ``file:line``; tag sequences that break their scheme are repaired by a
fixed rule and counted (see :func:`spacy_ft.corpora.tagged.decode_tags`); entity edges on whitespace are
trimmed and counted; overlapping or unalignable entities raise.

CLUENER JSON, JSONL spans and CSV/TSV label files are read by
:mod:`spacy_ft.corpora.readers` into the same :class:`Sample` objects; the
formats sit behind one table, :data:`spacy_ft.corpora.formats.READERS`.

Module imports stay light: spaCy, numpy and the standard library.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

from spacy.tokens import Doc, DocBin

from spacy_ft.corpora.formats import read_samples
from spacy_ft.corpora.records import ConversionReport, CorpusFormatError, Sample
from spacy_ft.corpora.token_split import split_at_edges
from spacy_ft.types import Entity, PathLike

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language


#: Inputs with fewer lines than this convert without a progress bar.
PROGRESS_MIN_LINES = 10_000


# -- reading lines ----------------------------------------------------------------


# -- tags ---------------------------------------------------------------------------


# -- readers ----------------------------------------------------------------------


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
