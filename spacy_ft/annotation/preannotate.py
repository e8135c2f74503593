"""Pre-annotation: run a pipeline over raw text and keep what annotators need.

Annotation teams sort tasks by how unsure the model was, so every prediction
carries its entity scores (from the NER's scored span group), the classifier's
``doc.cats``, the pipeline's name and version, and one doc-level
``uncertainty``. The per-batch step (:func:`annotate_batch`) takes records and
returns plain, picklable :class:`Prediction` objects, so a distributed engine
(a Ray actor holding ``nlp``) can call it as it is; the local engine
(:func:`preannotate`) feeds it batches through ``nlp.pipe``.

Inputs keep their ids: a text file is one doc per line and the line number is
the id; empty and whitespace-only lines are kept as docs without entities, so
the output has one task per input line and ids never shift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence, Union

from ..corpora import CorpusFormatError, _error, _lines

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

PathLike = Union[str, Path]
INPUT_FORMATS = ("auto", "text", "jsonl")
#: The span group ``spacy_ft_ner`` writes when its config does not name another.
DEFAULT_SPANS_KEY = "ents_scored"


@dataclass(frozen=True)
class InputRecord:
    """One raw doc to pre-annotate. ``id`` is the JSONL record's ``id`` or the
    line number; ``meta`` is passed through to the exported task untouched."""

    text: str
    id: Any
    line: int
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "<input>"


@dataclass(frozen=True)
class ScoredEntity:
    start: int
    end: int
    label: str
    #: The NER's confidence; None when the pipeline writes no scores.
    score: Optional[float] = None


@dataclass(frozen=True)
class Token:
    """Kept so Prodigy tasks can show the pipeline's own (possibly split) tokens."""

    start: int
    end: int
    ws: bool


@dataclass(frozen=True)
class Prediction:
    """Everything a writer needs, without the Doc (cheap to pickle and ship)."""

    id: Any
    line: int
    text: str
    entities: list[ScoredEntity]
    cats: dict[str, float]
    tokens: list[Token]
    model: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def confidence(self) -> Optional[float]:
        """The least confident decision in the doc: the lowest entity score, or
        the top class probability if that is lower; None when nothing is scored
        (no entity found and no classifier), since there is nothing to rank."""
        scores = [ent.score for ent in self.entities if ent.score is not None]
        if self.cats:
            scores.append(max(self.cats.values()))
        return min(scores) if scores else None

    @property
    def uncertainty(self) -> Optional[float]:
        """``1 - confidence``: sort descending to review the shakiest docs first."""
        confidence = self.confidence
        return None if confidence is None else 1.0 - confidence

    @property
    def accepted_cats(self) -> list[str]:
        """Labels the model would assign (probability >= 0.5), in label order:
        what the exported task preselects for the annotator."""
        return [label for label, value in self.cats.items() if value >= 0.5]


# -- reading raw input ------------------------------------------------------------


def _input_format(path: PathLike, fmt: str) -> str:
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}")
    if fmt != "auto":
        return fmt
    return "jsonl" if Path(path).suffix.lower() in (".jsonl", ".ndjson") else "text"


def read_records(path: PathLike, fmt: str = "auto") -> Iterator[InputRecord]:
    """Raw docs from a text file (one per line, the line number is the id) or a
    JSONL file (``{"text": ..., "id"?: ..., "meta"?: {...}}`` per line; "auto"
    picks JSONL for ``.jsonl``/``.ndjson``). Blank JSONL lines are not records
    and are skipped; blank text lines are docs and are kept."""
    if _input_format(path, fmt) == "text":
        for lineno, line in _lines(path):
            yield InputRecord(line, lineno, lineno, source=str(path))
        return
    for lineno, line in _lines(path):
        if line.strip():
            yield _json_record(path, lineno, line)


def _json_record(path: PathLike, lineno: int, line: str) -> InputRecord:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise _error(path, lineno, f"not valid JSON ({err.msg})", line) from err
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        raise _error(path, lineno, 'expected an object with a string "text"', line)
    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        raise _error(path, lineno, '"meta" must be an object', line)
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


def annotate_batch(
    nlp: Language, records: Sequence[InputRecord], spans_key: Optional[str] = None
) -> list[Prediction]:
    """Records in, predictions out, in order: the unit of work of every engine."""
    key = spans_key or scored_spans_key(nlp)
    model = model_version(nlp)
    docs = nlp.pipe([record.text for record in records], batch_size=max(1, len(records)))
    predictions = [doc_prediction(doc, record, key, model) for doc, record in zip(docs, records)]
    for prediction, record in zip(predictions, records):
        if prediction.text != record.text:
            raise CorpusFormatError(
                f"{record.source}:{record.line}: the pipeline changed the text {record.text!r}"
            )
    return predictions


def batches(records: Iterable[InputRecord], size: int) -> Iterator[list[InputRecord]]:
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def preannotate(
    nlp: Language, records: Iterable[InputRecord], batch_size: int = 64, spans_key: Optional[str] = None
) -> Iterator[Prediction]:
    """The local engine: stream predictions batch by batch through ``nlp.pipe``."""
    key = spans_key or scored_spans_key(nlp)
    for batch in batches(records, batch_size):
        yield from annotate_batch(nlp, batch, key)
