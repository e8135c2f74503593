"""Import corrected annotations back into ``.spacy`` training data.

Each reader turns one tool's export into :class:`spacy_ft.corpora.Sample`
objects (``source`` is the file; ``line`` is the JSONL line number, or for
Label Studio's JSON list the task's 1-based position in the list), and
:func:`import_annotations` converts them with :func:`spacy_ft.corpora.sample_to_doc`,
which splits jieba tokens at entity edges, so 中 inside 中美 is kept and
counted as crossing a token edge.

Nothing is dropped silently: tasks that are not used (rejected, ignored,
unanswered, cancelled or never annotated) are counted in ``report.skipped``.
Malformed records raise :class:`~spacy_ft.corpora.CorpusFormatError` naming
``file:line`` (``file:position`` for Label Studio) and the problem.

Classifier labels: tools export only the chosen labels, so every doc that has
any gets 0.0 for the labels chosen elsewhere in the file, which is what an
exclusive or multi-label classifier needs to learn from them.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Collection, Iterator, Optional

from spacy_ft.annotation.writers import check_format
from spacy_ft.corpora import ConversionReport, write_docbin
from spacy_ft.corpora.readers import json_records
from spacy_ft.corpora.records import CorpusFormatError, Sample, every_label
from spacy_ft.types import Entity, PathLike

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

#: Prodigy answers; "unanswered" stands for a task without an ``answer`` key.
ANSWERS = ("accept", "reject", "ignore", "unanswered")
#: Keys doccano versions use for entities (sequence labeling, older exports,
#: relation projects) and for document labels (text classification, intent detection).
DOCCANO_SPAN_KEYS = ("label", "labels", "entities")


@dataclass
class ImportReport(ConversionReport):
    """A conversion report plus the tasks left out, by reason."""

    skipped: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "skipped": dict(self.skipped.most_common())}

    def summary(self) -> str:
        skipped = ", ".join(f"{n} {reason}" for reason, n in self.skipped.most_common()) or "none"
        return f"{super().summary()}; skipped: {skipped}"


# -- shared checks ------------------------------------------------------------------


def _json_lines(path: PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, task, _line in json_records(path):
        yield lineno, task


def _text(where: str, record: dict[str, Any], key: str = "text") -> str:
    text = record.get(key)
    if not isinstance(text, str):
        raise CorpusFormatError(f"{where}: no string {key!r} field (got {text!r})")
    return text


def _entity(where: str, text: str, start: Any, end: Any, label: Any, span_text: Optional[str]) -> Entity:
    """Check one span: integer offsets inside the text, a label, and (when the
    tool exported it) the span's text matching the text at those offsets."""
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
        raise CorpusFormatError(f"{where}: entity offsets must be integers, got {start!r}-{end!r}")
    if not isinstance(label, str) or not label:
        raise CorpusFormatError(f"{where}: entity at {start}-{end} has no string label (got {label!r})")
    if not 0 <= start < end <= len(text):
        raise CorpusFormatError(
            f"{where}: entity {label} offsets {start}-{end} out of range for a text of {len(text)} characters"
        )
    if span_text is not None and text[start:end] != span_text:
        raise CorpusFormatError(
            f"{where}: span text mismatch: {label} at {start}-{end} is {text[start:end]!r} in the text "
            f"but {span_text!r} in the task"
        )
    return start, end, label


def _labels(where: str, value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CorpusFormatError(f"{where}: {what} must be a list of label strings, got {value!r}")
    return value


def with_all_cat_labels(samples: list[Sample]) -> list[Sample]:
    """Give every doc that has classifier labels a 0.0 for each label seen in
    the file but not chosen for it. Docs without any stay without: a missing
    decision is not a negative one."""
    labels = list(dict.fromkeys(label for sample in samples for label in sample.cats))
    return [
        replace(sample, cats=every_label(sample.cats, labels))
        if sample.cats
        else sample
        for sample in samples
    ]


# -- Prodigy ------------------------------------------------------------------------


def read_prodigy(
    path: PathLike, skipped: Counter, answers: Collection[str] = ("accept",)
) -> Iterator[Sample]:
    """Prodigy JSONL (``db-out``): ``spans`` become entities; classifier labels
    come from ``options``/``accept`` (choice) or a binary task's ``label``.
    Only tasks whose answer is in ``answers`` are used; the rest are counted."""
    unknown = set(answers) - set(ANSWERS)
    if unknown:
        raise ValueError(f"unknown answers {sorted(unknown)}; expected some of {', '.join(ANSWERS)}")
    for lineno, task in _json_lines(path):
        where = f"{path}:{lineno}"
        answer = task.get("answer") or "unanswered"
        if answer not in answers:
            skipped[answer if answer in ANSWERS else f"answer {answer!r}"] += 1
            continue
        text = _text(where, task)
        spans = task.get("spans") or []
        if not isinstance(spans, list) or not all(isinstance(span, dict) for span in spans):
            raise CorpusFormatError(f"{where}: 'spans' must be a list of objects, got {spans!r}")
        entities = [
            _entity(where, text, span.get("start"), span.get("end"), span.get("label"), span.get("text"))
            for span in spans
        ]
        yield Sample(text, entities, str(path), lineno, cats=_prodigy_cats(where, task, answer))


def _prodigy_cats(where: str, task: dict[str, Any], answer: str) -> dict[str, float]:
    if "options" in task:
        options = task["options"]
        if not isinstance(options, list) or not all(isinstance(o, dict) and "id" in o for o in options):
            raise CorpusFormatError(f"{where}: 'options' must be a list of objects with an 'id'")
        accepted = {str(choice) for choice in task.get("accept") or []}
        return {str(o["id"]): float(str(o["id"]) in accepted) for o in options}
    label = task.get("label")
    if isinstance(label, str) and label and answer in ("accept", "reject"):
        return {label: float(answer == "accept")}
    return {}


# -- Label Studio -------------------------------------------------------------------


def _load_json_list(path: PathLike) -> list[Any]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            tasks = json.load(handle)
    except json.JSONDecodeError as err:
        raise CorpusFormatError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err
    except UnicodeDecodeError as err:
        raise CorpusFormatError(f"{path}: not UTF-8 ({err.reason})") from err
    if not isinstance(tasks, list):
        raise CorpusFormatError(f"{path}: expected a JSON list of tasks (Label Studio's JSON export)")
    return tasks


def _code_points(text: str, utf16_offset: int) -> Optional[int]:
    """A UTF-16 offset (JavaScript string index) as a Python index, or None if
    it falls inside a surrogate pair or past the text."""
    units = 0
    for index, char in enumerate(text):
        if units == utf16_offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) if units == utf16_offset else None


def _ls_offsets(text: str, value: dict[str, Any]) -> tuple[Any, Any]:
    """``value``'s offsets in code points. Some Label Studio versions count
    UTF-16 units (emoji count twice); when the exported span text matches only
    under that reading, use it rather than reject the task."""
    start, end, span_text = value.get("start"), value.get("end"), value.get("text")
    if not isinstance(start, int) or not isinstance(end, int) or span_text is None:
        return start, end
    if text[start:end] == span_text:
        return start, end
    start16, end16 = _code_points(text, start), _code_points(text, end)
    if start16 is not None and end16 is not None and text[start16:end16] == span_text:
        return start16, end16
    return start, end


def _ls_result(task: dict[str, Any], skipped: Counter, use_predictions: bool) -> Optional[list[Any]]:
    """The last completed (not cancelled) annotation's result, else the first
    prediction's if asked; None (counted) when neither is there."""
    annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict)]
    completed = [a for a in annotations if not a.get("was_cancelled")]
    if completed:
        return completed[-1].get("result") or []
    if annotations:
        skipped["cancelled"] += 1
        return None
    predictions = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if use_predictions and predictions:
        return predictions[0].get("result") or []
    skipped["unannotated"] += 1
    return None


def read_label_studio(
    path: PathLike, skipped: Counter, use_predictions: bool = False, text_key: str = "text"
) -> Iterator[Sample]:
    """Label Studio's JSON export: ``labels`` regions become entities and
    ``choices`` become classifier labels; other result types are counted."""
    for position, task in enumerate(_load_json_list(path), 1):
        where = f"{path}:{position}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise CorpusFormatError(f"{where}: expected a task object with a 'data' object")
        if "id" in task:
            where += f" (task {task['id']})"
        text = _text(where, task["data"], text_key)
        result = _ls_result(task, skipped, use_predictions)
        if result is None:
            continue
        entities, cats = _ls_regions(where, text, result, skipped)
        yield Sample(text, entities, str(path), position, cats=cats)


def _ls_regions(
    where: str, text: str, result: Any, skipped: Counter
) -> tuple[list[Entity], dict[str, float]]:
    if not isinstance(result, list) or not all(isinstance(item, dict) for item in result):
        raise CorpusFormatError(f"{where}: 'result' must be a list of objects")
    entities: list[Entity] = []
    cats: dict[str, float] = {}
    for item in result:
        kind, value = item.get("type"), item.get("value")
        if kind not in ("labels", "choices"):
            skipped[f"{kind} results"] += 1
            continue
        if not isinstance(value, dict):
            raise CorpusFormatError(f"{where}: {kind} result without a 'value' object")
        if kind == "choices":
            cats.update((label, 1.0) for label in _labels(where, value.get("choices"), "choices"))
            continue
        labels = _labels(where, value.get("labels"), "labels")
        if len(labels) != 1:
            raise CorpusFormatError(
                f"{where}: region {value.get('start')}-{value.get('end')} has labels {labels}; expected exactly one"
            )
        start, end = _ls_offsets(text, value)
        entities.append(_entity(where, text, start, end, labels[0], value.get("text")))
    return entities, cats


# -- doccano ------------------------------------------------------------------------


def read_doccano(path: PathLike, skipped: Counter) -> Iterator[Sample]:
    """doccano JSONL, whichever version exported it: entities as
    ``[start, end, label]`` triples or ``{"start_offset", "end_offset", "label"}``
    objects under ``label``, ``labels`` or ``entities``; document labels as
    strings under ``label`` (text classification) or ``cats`` (intent detection).
    doccano has no accept/reject, so every task is used."""
    del skipped  # every doccano task is an annotation
    for lineno, task in _json_lines(path):
        where = f"{path}:{lineno}"
        text = _text(where, task)
        entities: list[Entity] = []
        cats: dict[str, float] = {}
        for key in DOCCANO_SPAN_KEYS:
            items = task.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise CorpusFormatError(f"{where}: {key!r} must be a list, got {items!r}")
            for item in items:
                if isinstance(item, str):
                    cats[item] = 1.0
                else:
                    entities.append(_doccano_span(where, text, item))
        if task.get("cats") is not None:
            cats.update((label, 1.0) for label in _labels(where, task["cats"], "'cats'"))
        yield Sample(text, entities, str(path), lineno, cats=cats)


def _doccano_span(where: str, text: str, item: Any) -> Entity:
    if isinstance(item, list) and len(item) == 3:
        return _entity(where, text, item[0], item[1], item[2], None)
    if isinstance(item, dict):
        start = item.get("start_offset", item.get("start"))
        end = item.get("end_offset", item.get("end"))
        return _entity(where, text, start, end, item.get("label"), None)
    raise CorpusFormatError(f"{where}: entity {item!r} is neither [start, end, label] nor an object")


# -- import -------------------------------------------------------------------------


def read_annotations(
    path: PathLike,
    fmt: str,
    skipped: Counter,
    *,
    answers: Collection[str] = ("accept",),
    use_predictions: bool = False,
    text_key: str = "text",
) -> Iterator[Sample]:
    """Dispatch on ``fmt`` ("prodigy", "label-studio" or "doccano")."""
    fmt = check_format(fmt)
    if fmt == "prodigy":
        return read_prodigy(path, skipped, answers)
    if fmt == "label-studio":
        return read_label_studio(path, skipped, use_predictions, text_key)
    return read_doccano(path, skipped)


def import_annotations(
    input_path: PathLike,
    fmt: str,
    nlp: Language,
    output_path: PathLike,
    *,
    answers: Collection[str] = ("accept",),
    use_predictions: bool = False,
    text_key: str = "text",
) -> ImportReport:
    """Convert an annotation tool's export to a ``.spacy`` DocBin tokenized by
    ``nlp``. Every record is read and checked before anything is written, so a
    malformed one never leaves a partial file behind."""
    started = time.perf_counter()
    report = ImportReport()
    samples = with_all_cat_labels(
        list(
            read_annotations(
                input_path,
                fmt,
                report.skipped,
                answers=answers,
                use_predictions=use_predictions,
                text_key=text_key,
            )
        )
    )
    write_docbin(nlp, samples, output_path, report)
    report.seconds = time.perf_counter() - started
    return report
