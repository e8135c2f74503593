"""Parquet input and output for batch annotation (pyarrow, from the ``ray`` extra).

Parquet is what Ray Data, Spark and pandas read and write natively, so a large
corpus can go in and the predictions come out without a JSON round trip, and
the scores stay typed for queries ("every PER below 0.6").

Input: a ``text`` column (string, or binary decoded per row so a non-UTF-8 row
becomes one ``bad_encoding`` error) and an optional ``id`` column; the 1-based
row number is the record's ``line`` and its id when there is no ``id``.

Output, one row per prediction, in input order::

    id: string            the record's id (str() of an integer line number)
    line: int64           the input line / row number
    text: string
    entities: list<struct<start: int32, end: int32, label: string, score: double?>>
    cats: map<string, double>
    model: string         lang_name-version of the pipeline
    score: double?        the doc's confidence (lowest decision), as in the JSON formats
    uncertainty: double?  1 - score: sort descending to review the shakiest docs first
    meta: string          the input meta as a JSON object

``id`` is a string because one column holds one type and JSONL ids may be
strings or integers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Union

from spacy_ft.annotation.records import InputRecord, Prediction, RecordError
from spacy_ft.extras import import_extra
from spacy_ft.types import PathLike

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

#: Predictions per Parquet row group: small enough to stream, large enough to compress.
ROW_GROUP = 2048


def import_pyarrow() -> Any:
    """pyarrow (it comes with the ``ray`` extra), or an ImportError that names the extra."""
    return import_extra("pyarrow", "ray", "Parquet input and output", "pyarrow.parquet")


def prediction_schema() -> pyarrow.Schema:
    pa = import_pyarrow()
    entity = pa.struct(
        [("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()), ("score", pa.float64())]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("line", pa.int64()),
            ("text", pa.string()),
            ("entities", pa.list_(entity)),
            ("cats", pa.map_(pa.string(), pa.float64())),
            ("model", pa.string()),
            ("score", pa.float64()),
            ("uncertainty", pa.float64()),
            ("meta", pa.string()),
        ]
    )


def prediction_row(prediction: Prediction) -> dict[str, Any]:
    return {
        "id": str(prediction.id),
        "line": prediction.line,
        "text": prediction.text,
        "entities": [
            {"start": ent.start, "end": ent.end, "label": ent.label, "score": ent.score}
            for ent in prediction.entities
        ],
        "cats": list(prediction.cats.items()),
        "model": prediction.model,
        "score": prediction.confidence,
        "uncertainty": prediction.uncertainty,
        "meta": json.dumps(prediction.meta, ensure_ascii=False, sort_keys=True),
    }


def write_parquet(predictions: Iterable[Prediction], path: PathLike, row_group: int = ROW_GROUP) -> int:
    """Write predictions a row group at a time (the whole output never sits in
    memory); returns the count. An empty input still gets the schema."""
    pa = import_pyarrow()
    schema = prediction_schema()
    count = 0
    rows: list[dict[str, Any]] = []
    with pa.parquet.ParquetWriter(str(path), schema) as writer:
        for prediction in predictions:
            rows.append(prediction_row(prediction))
            count += 1
            if len(rows) >= row_group:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows or count == 0:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return count


def read_parquet_inputs(
    path: PathLike, text_column: str = "text", id_column: str = "id", batch_rows: int = 4096
) -> Iterator[Union[InputRecord, RecordError]]:
    """Records from a Parquet file, streamed by record batch (see the module doc)."""
    pa = import_pyarrow()
    source = str(path)
    parquet_file = pa.parquet.ParquetFile(source)
    names = parquet_file.schema_arrow.names
    if text_column not in names:
        raise ValueError(
            f"{path}: no {text_column!r} column in the Parquet input (columns: {', '.join(names)})"
        )
    columns = [text_column] + ([id_column] if id_column in names else [])
    row = 0
    for batch in parquet_file.iter_batches(batch_size=batch_rows, columns=columns):
        texts = batch.column(text_column).to_pylist()
        ids = batch.column(id_column).to_pylist() if id_column in names else [None] * len(texts)
        for text, record_id in zip(texts, ids):
            row += 1
            record_id = row if record_id is None else record_id
            if isinstance(text, bytes):
                try:
                    text = text.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield RecordError(record_id, row, "bad_encoding", f"not UTF-8 ({err.reason})", source)
                    continue
            yield InputRecord("" if text is None else text, record_id, row, source=source)
