"""Pre-annotation: run a pipeline over raw text and keep what annotators need.

Annotation teams sort tasks by how unsure the model was, so every prediction
carries its entity scores (from the NER's scored span group), the classifier's
``doc.cats``, the pipeline's name and version, and one doc-level
``uncertainty``. The per-batch step (:func:`annotate_batch`) takes records and
returns plain, picklable :class:`Prediction` objects, so a distributed engine
(a Ray actor holding ``nlp``) can call it as it is; the local engine
(:func:`preannotate`) feeds it batches through ``nlp.pipe``.

Inputs keep their ids: a text file is one doc per line and the line number is
the id, so ids never shift. Which records reach the model is one rule shared
by every engine (:func:`validate_record`, :func:`screen`): a line that is not
UTF-8, empty or whitespace-only, or longer than ``max_chars`` becomes a
:class:`RecordError` (id, line, reason) for the errors file, and the rest goes
on. :func:`preannotate` itself annotates whatever records it is given.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional, Sequence, Union

from spacy_ft.annotation.records import InputRecord, Prediction, RecordError, ScoredEntity, Token
from spacy_ft.corpora.records import CorpusFormatError, decode_lines, format_error
from spacy_ft.types import PathLike
from spacy_ft.validation import check_choice

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

INPUT_FORMATS = ("auto", "text", "jsonl", "parquet")
#: Longest text sent to the model by default. Longer docs are windowed, so this
#: guards memory and time against a runaway record (a whole file on one line),
#: not the transformer's length limit.
DEFAULT_MAX_CHARS = 100_000
#: The span group ``spacy_ft_ner`` writes when its config does not name another.
DEFAULT_SPANS_KEY = "ents_scored"












# -- reading raw input ------------------------------------------------------------


def _input_format(path: PathLike, fmt: str) -> str:
    check_choice(fmt, INPUT_FORMATS, "input format")
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    return "jsonl" if suffix in (".jsonl", ".ndjson") else "text"


def _decoded_lines(path: PathLike) -> Iterator[tuple[int, Union[str, RecordError]]]:
    """``(line number, text)`` per line, or a ``bad_encoding`` error for a line
    that is not UTF-8, so one bad line costs one record, not the run."""
    for lineno, line in decode_lines(path):
        if isinstance(line, UnicodeDecodeError):
            yield lineno, RecordError(lineno, lineno, "bad_encoding", f"not UTF-8 ({line.reason})", str(path))
        else:
            yield lineno, line


def read_inputs(path: PathLike, fmt: str = "auto") -> Iterator[Union[InputRecord, RecordError]]:
    """Records in input order, with a :class:`RecordError` in place of each line
    that cannot be decoded. Text: one doc per line, the line number is the id,
    blank lines are records (``validate_record`` rejects them). JSONL:
    ``{"text": ..., "id"?: ..., "meta"?: {...}}`` per line, blank lines are not
    records. Parquet: see :mod:`spacy_ft.annotation.parquet`. "auto" picks by
    suffix (``.jsonl``/``.ndjson``, ``.parquet``, else text). Malformed JSON
    still stops the run with ``file:line``: the file is wrong, not one record."""
    kind = _input_format(path, fmt)
    if kind == "parquet":
        from spacy_ft.annotation.parquet import read_parquet_inputs

        yield from read_parquet_inputs(path)
        return
    for lineno, line in _decoded_lines(path):
        if isinstance(line, RecordError):
            yield line
        elif kind == "text":
            yield InputRecord(line, lineno, lineno, source=str(path))
        elif line.strip():
            yield _json_record(path, lineno, line)


def read_records(path: PathLike, fmt: str = "auto") -> Iterator[InputRecord]:
    """Every record of :func:`read_inputs`, blank text lines included, for
    callers that want all of them; a line that is not UTF-8 raises
    :class:`CorpusFormatError` naming ``file:line``."""
    for item in read_inputs(path, fmt):
        if isinstance(item, RecordError):
            raise format_error(path, item.line, item.detail)
        yield item


def validate_record(record: InputRecord, max_chars: int = DEFAULT_MAX_CHARS) -> Optional[RecordError]:
    """Why ``record`` must not go to the model (None when it may): the one rule
    both engines apply, so their outputs and errors files are identical."""
    if not record.text.strip():
        return RecordError(record.id, record.line, "empty", "empty or whitespace-only text", record.source)
    if len(record.text) > max_chars:
        detail = f"{len(record.text)} characters, more than max_chars={max_chars}"
        return RecordError(record.id, record.line, "too_long", detail, record.source)
    return None


def screen(
    items: Iterable[Union[InputRecord, RecordError]],
    on_error: Callable[[RecordError], None],
    max_chars: int = DEFAULT_MAX_CHARS,
) -> Iterator[InputRecord]:
    """The records fit for the model, in order; every other one goes to
    ``on_error`` as it is met (so the errors file streams too)."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    for item in items:
        error = item if isinstance(item, RecordError) else validate_record(item, max_chars)
        if error is None:
            yield item  # type: ignore[misc]
        else:
            on_error(error)


def _json_record(path: PathLike, lineno: int, line: str) -> InputRecord:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise format_error(path, lineno, f"not valid JSON ({err.msg})", line) from err
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise format_error(path, lineno, 'expected an object with a string "text"', line)
    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        raise format_error(path, lineno, '"meta" must be an object', line)
    return InputRecord(record["text"], record.get("id", lineno), lineno, meta, str(path))


# -- predicting -------------------------------------------------------------------


def model_version(nlp: Language) -> str:
    """``lang_name-version``, the way spaCy names packages, so tools can tell
    predictions of two model versions apart."""
    meta = nlp.meta
    return f"{meta.get('lang', nlp.lang)}_{meta.get('name', 'pipeline')}-{meta.get('version', '0.0.0')}"


def scored_spans_key(nlp: Language) -> str:
    """The span group holding entity scores: the first component that declares
    a ``spans_key`` (``spacy_ft_ner`` does), else spacy_ft_ner's default."""
    for _, pipe in nlp.pipeline:
        cfg = getattr(pipe, "cfg", None)
        if isinstance(cfg, dict) and cfg.get("spans_key"):
            return cfg["spans_key"]
    return DEFAULT_SPANS_KEY


def doc_entities(doc: Doc, spans_key: str) -> list[ScoredEntity]:
    """``doc.ents`` with the score the scored span group gives the same span."""
    scores: dict[tuple[int, int, str], float] = {}
    group = doc.spans.get(spans_key) if spans_key in doc.spans else None
    if group is not None and "scores" in group.attrs:
        for span, score in zip(group, group.attrs["scores"]):
            scores[(span.start_char, span.end_char, span.label_)] = float(score)
    return [
        ScoredEntity(
            ent.start_char, ent.end_char, ent.label_, scores.get((ent.start_char, ent.end_char, ent.label_))
        )
        for ent in doc.ents
    ]


def doc_prediction(doc: Doc, record: InputRecord, spans_key: str, model: str) -> Prediction:
    tokens = [Token(t.idx, t.idx + len(t), bool(t.whitespace_)) for t in doc]
    cats = {label: float(value) for label, value in doc.cats.items()}
    return Prediction(
        record.id, record.line, doc.text, doc_entities(doc, spans_key), cats, tokens, model, dict(record.meta)
    )


def _checked(prediction: Prediction, record: InputRecord) -> Prediction:
    if prediction.text != record.text:
        raise CorpusFormatError(f"{record.source}:{record.line}: the pipeline changed the text {record.text!r}")
    return prediction


def annotate_batch(
    nlp: Language, records: Sequence[InputRecord], spans_key: Optional[str] = None
) -> list[Prediction]:
    """Records in, predictions out, in order: the unit of work of every engine."""
    key = spans_key or scored_spans_key(nlp)
    model = model_version(nlp)
    docs = nlp.pipe([record.text for record in records], batch_size=max(1, len(records)))
    return [_checked(doc_prediction(doc, record, key, model), record) for doc, record in zip(docs, records)]


def batches(records: Iterable[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def preannotate(
    nlp: Language,
    records: Iterable[InputRecord],
    batch_size: int = 64,
    spans_key: Optional[str] = None,
    n_process: int = 1,
) -> Iterator[Prediction]:
    """The local engine: stream predictions batch by batch through ``nlp.pipe``
    (``n_process`` > 1: spaCy's worker processes, same batches, same order)."""
    key = spans_key or scored_spans_key(nlp)
    if n_process == 1:
        for batch in batches(records, batch_size):
            yield from annotate_batch(nlp, batch, key)
        return
    if n_process < 1:
        raise ValueError(f"n_process must be at least 1, got {n_process}")
    model = model_version(nlp)
    pairs = ((record.text, record) for record in records)
    for doc, record in nlp.pipe(pairs, as_tuples=True, batch_size=batch_size, n_process=n_process):
        yield _checked(doc_prediction(doc, record, key, model), record)
