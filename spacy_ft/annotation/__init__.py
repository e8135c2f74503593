"""Annotation round trip: pre-annotate raw text with scores, export tasks for
Prodigy, Label Studio or doccano, and import the corrected files back into
``.spacy`` training data without losing text, entities or labels.

``preannotate`` (the model side), ``writers`` (task shapes, documented there)
and ``readers`` (imports) are separate modules so the per-batch work can run
on another engine without the file formats.
"""

from .preannotate import (
    InputRecord,
    Prediction,
    ScoredEntity,
    annotate_batch,
    preannotate,
    read_records,
)
from .readers import ImportReport, import_annotations, read_annotations
from .writers import FORMATS, write_tasks

__all__ = [
    "FORMATS",
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
