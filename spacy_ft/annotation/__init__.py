"""Annotation round trip: pre-annotate raw text with scores, export tasks for
Prodigy, Label Studio or doccano, and import the corrected files back into
``.spacy`` training data without losing text, entities or labels.

``preannotate`` (the model side and the screening rule), ``writers`` (task
shapes, documented there), ``parquet`` and ``readers`` (imports) are separate
modules so the per-batch work can run on another engine without the file
formats; ``batch.annotate_corpus`` ties a file to an engine (``local`` or
``ray``, the latter in ``ray_engine``, imported only when used).
"""

from spacy_ft.annotation.batch import ENGINES, OUTPUT_FORMATS, AnnotateReport, annotate_corpus
from spacy_ft.annotation.preannotate import (
    annotate_batch,
    preannotate,
    read_inputs,
    read_records,
    validate_record,
)
from spacy_ft.annotation.readers import ImportReport, import_annotations, read_annotations
from spacy_ft.annotation.records import InputRecord, Prediction, RecordError, ScoredEntity
from spacy_ft.annotation.writers import FORMATS, write_tasks

__all__ = [
    "ENGINES",
    "FORMATS",
    "OUTPUT_FORMATS",
    "AnnotateReport",
    "RecordError",
    "annotate_corpus",
    "read_inputs",
    "validate_record",
    "ImportReport",
    "InputRecord",
    "Prediction",
    "ScoredEntity",
    "annotate_batch",
    "import_annotations",
    "preannotate",
    "read_annotations",
    "read_records",
    "write_tasks",
]
