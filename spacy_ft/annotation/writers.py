"""Export predictions as tasks for Prodigy, Label Studio and doccano.

Offsets are Python character offsets (code points) in every format; scores are
plain floats. Shapes (``[...]?`` marks keys written only when there is a value):

Prodigy JSONL, one task per line (``ner.manual`` / ``spans.manual`` plus the
``choice`` interface's keys for classifier labels)::

    {"text": ..., "tokens": [{"text", "start", "end", "id", "ws"}],
     "spans": [{"start", "end", "label", "token_start", "token_end", "score"?}],
     "options"?: [{"id": "POS", "text": "POS"}, ...], "accept"?: ["POS"],
     "meta": {"id", "model", "score"?, "uncertainty"?, "cats"?, ...input meta}}

``token_end`` is inclusive, as in Prodigy. Tokens are the pipeline's, after the
NER split any token an entity edge fell inside. Prodigy adds ``_input_hash`` and
``_task_hash`` itself when it loads the file.

Label Studio JSON, a list of tasks for a labeling config with
``<Labels name="label" toName="text">``, ``<Text name="text" value="$text"/>``
and, for classifier labels, ``<Choices name="category" toName="text">``::

    [{"data": {"text", "id", "meta"?},
      "predictions": [{"model_version", "score"?, "result": [
          {"id": "ent0", "from_name": "label", "to_name": "text", "type": "labels",
           "value": {"start", "end", "text", "labels": ["PER"]}, "score"?},
          {"id": "cats", "from_name": "category", "to_name": "text", "type": "choices",
           "value": {"choices": ["POS"]}}]}]}]

The prediction's ``score`` is the doc's confidence, so Label Studio's "sort by
prediction score" puts the most uncertain tasks first.

doccano JSONL, one task per line: sequence labeling's ``label`` key for
entities, and document labels under ``cats`` (the key doccano's intent
detection projects use)::

    {"text", "label": [[start, end, "PER"], ...], "cats"?: ["POS"],
     "id", "model", "score"?, "uncertainty"?, "meta"?}
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, TextIO

from spacy_ft.annotation.records import Prediction
from spacy_ft.validation import check_choice

FORMATS = ("prodigy", "label-studio", "doccano")
#: Control tag names the Label Studio tasks refer to; the labeling config must match.
LS_LABELS, LS_TEXT, LS_CHOICES = "label", "text", "category"


def _without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def _summary(prediction: Prediction) -> dict[str, Any]:
    """Model, confidence and uncertainty: the keys every format carries for sorting."""
    return _without_none(
        {
            "id": prediction.id,
            "model": prediction.model,
            "score": prediction.confidence,
            "uncertainty": prediction.uncertainty,
        }
    )


def to_prodigy(prediction: Prediction) -> dict[str, Any]:
    text = prediction.text
    first = {token.start: i for i, token in enumerate(prediction.tokens)}
    last = {token.end: i for i, token in enumerate(prediction.tokens)}
    spans = [
        _without_none(
            {
                "start": ent.start,
                "end": ent.end,
                "label": ent.label,
                "token_start": first.get(ent.start),
                "token_end": last.get(ent.end),
                "score": ent.score,
            }
        )
        for ent in prediction.entities
    ]
    task: dict[str, Any] = {
        "text": text,
        "tokens": [
            {"text": text[t.start : t.end], "start": t.start, "end": t.end, "id": i, "ws": t.ws}
            for i, t in enumerate(prediction.tokens)
        ],
        "spans": spans,
    }
    if prediction.cats:
        task["options"] = [{"id": label, "text": label} for label in prediction.cats]
        task["accept"] = prediction.accepted_cats
    meta = {**prediction.meta, **_summary(prediction)}
    if prediction.cats:
        meta["cats"] = dict(prediction.cats)
    task["meta"] = meta
    return task


def to_label_studio(prediction: Prediction) -> dict[str, Any]:
    result: list[dict[str, Any]] = [
        _without_none(
            {
                "id": f"ent{i}",
                "from_name": LS_LABELS,
                "to_name": LS_TEXT,
                "type": "labels",
                "value": {
                    "start": ent.start,
                    "end": ent.end,
                    "text": prediction.text[ent.start : ent.end],
                    "labels": [ent.label],
                },
                "score": ent.score,
            }
        )
        for i, ent in enumerate(prediction.entities)
    ]
    if prediction.accepted_cats:
        result.append(
            {
                "id": "cats",
                "from_name": LS_CHOICES,
                "to_name": LS_TEXT,
                "type": "choices",
                "value": {"choices": prediction.accepted_cats},
            }
        )
    data: dict[str, Any] = {"text": prediction.text, "id": prediction.id}
    if prediction.meta:
        data["meta"] = prediction.meta
    model_prediction = _without_none(
        {"model_version": prediction.model, "score": prediction.confidence, "result": result}
    )
    return {"data": data, "predictions": [model_prediction]}


def to_doccano(prediction: Prediction) -> dict[str, Any]:
    task: dict[str, Any] = {
        "text": prediction.text,
        "label": [[ent.start, ent.end, ent.label] for ent in prediction.entities],
    }
    if prediction.cats:
        task["cats"] = prediction.accepted_cats
    task.update(_summary(prediction))
    if prediction.meta:
        task["meta"] = prediction.meta
    return task


WRITERS: dict[str, Callable[[Prediction], dict[str, Any]]] = {
    "prodigy": to_prodigy,
    "label-studio": to_label_studio,
    "doccano": to_doccano,
}


def check_format(fmt: str) -> str:
    return check_choice(fmt, FORMATS, "annotation format")


def write_tasks(predictions: Iterable[Prediction], stream: TextIO, fmt: str) -> int:
    """Write tasks as they come (JSONL, or one JSON list for Label Studio, which
    imports a list) so large inputs never sit in memory; returns the count."""
    to_task = WRITERS[check_format(fmt)]
    is_list = fmt == "label-studio"
    count = 0
    if is_list:
        stream.write("[")
    for prediction in predictions:
        line = json.dumps(to_task(prediction), ensure_ascii=False)
        stream.write(("\n" if count == 0 else ",\n") + line if is_list else line + "\n")
        count += 1
    if is_list:
        stream.write("\n]\n" if count else "]\n")
    return count
