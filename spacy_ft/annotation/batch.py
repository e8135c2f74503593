"""Annotate a corpus file: input -> screening -> engine -> output + errors file.

One function for both engines (``annotate`` on the command line calls it), so
the reading, the screening rule, the writers and the counts are shared and only
the step that runs the model differs:

* ``local``: :func:`~spacy_ft.annotation.preannotate.preannotate` in this
  process (``n_process`` > 1 uses spaCy's worker processes);
* ``ray``: :func:`~spacy_ft.annotation.ray_engine.ray_preannotate`, Ray Data
  actors on a local instance or a cluster.

Every record read is either written or in the errors file (JSONL, one
``{"id", "line", "reason", "detail", "source"}`` per line, in input order):
``report.read == report.written + sum(report.errors.values())``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, TextIO, Union

from spacy_ft.annotation.preannotate import DEFAULT_MAX_CHARS, read_inputs, screen
from spacy_ft.annotation.records import InputRecord, Prediction, RecordError
from spacy_ft.annotation.writers import FORMATS, write_tasks
from spacy_ft.types import PathLike
from spacy_ft.validation import check_choice

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

ENGINES = ("local", "ray")
OUTPUT_FORMATS = FORMATS + ("parquet",)
#: Error examples kept for the summary when there is no errors file.
EXAMPLES = 5


@dataclass
class AnnotateReport:
    engine: str
    read: int = 0
    written: int = 0
    errors: Counter = field(default_factory=Counter)
    examples: list[RecordError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "read": self.read,
            "written": self.written,
            "errors": dict(self.errors.most_common()),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        errors = sum(self.errors.values())
        text = f"{self.read} records read, {self.written} annotated, {errors} errors"
        if errors:
            text += " (" + ", ".join(f"{n} {reason}" for reason, n in self.errors.most_common()) + ")"
        return text + f" in {self.seconds:.1f}s ({self.engine} engine)"


@contextmanager
def _atomic(path: Optional[Path]) -> Iterator[Optional[Path]]:
    """A ``.part`` path beside ``path``, moved into place on success and removed
    on failure, so a crash never leaves half a file that looks complete."""
    if path is None:
        yield None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)


def write_output(
    predictions: Iterable[Prediction], path: Optional[Path], fmt: str, stream: Optional[TextIO] = None
) -> int:
    """Write ``predictions`` to ``path`` (atomically) or, for the JSON formats,
    to ``stream`` / stdout; returns the count."""
    if fmt == "parquet":
        if path is None:
            raise ValueError("--format parquet needs an output file, not stdout")
        from spacy_ft.annotation.parquet import write_parquet

        with _atomic(path) as partial:
            assert partial is not None  # path is not None
            return write_parquet(predictions, partial)
    if path is None:
        return write_tasks(predictions, stream or sys.stdout, fmt)
    with _atomic(path) as partial:
        assert partial is not None  # path is not None
        with partial.open("w", encoding="utf-8") as handle:
            return write_tasks(predictions, handle, fmt)


def annotate_corpus(
    model: Union[str, Path, Language],
    input_path: PathLike,
    output_path: Optional[PathLike],
    fmt: str,
    *,
    engine: str = "local",
    errors_path: Optional[PathLike] = None,
    input_format: str = "auto",
    max_chars: int = DEFAULT_MAX_CHARS,
    batch_size: int = 64,
    n_process: int = 1,
    actors: Optional[int] = None,
    gpus_per_actor: Optional[float] = None,
    code: Optional[PathLike] = None,
    address: Optional[str] = None,
    stream: Optional[TextIO] = None,
) -> AnnotateReport:
    """Pre-annotate ``input_path`` (text lines, JSONL or Parquet) into
    ``output_path`` (None: ``stream`` / stdout) as Prodigy, Label Studio,
    doccano or Parquet, with the records that fail screening (bad encoding,
    empty, longer than ``max_chars``) in ``errors_path``.

    ``model`` is a pipeline path or package (a loaded ``Language`` works for
    the local engine only: Ray workers load their own). ``code`` is a Python
    file registering custom components, imported before the pipeline loads.
    Ray settings: ``actors``, ``gpus_per_actor``, ``address``.
    """
    check_choice(engine, ENGINES, "engine")
    check_choice(fmt, OUTPUT_FORMATS, "output format")
    if fmt == "parquet" and output_path is None:
        raise ValueError("--format parquet needs an output file, not stdout")
    started = time.perf_counter()
    report = AnnotateReport(engine)
    output = Path(output_path) if output_path is not None else None
    errors_file = Path(errors_path) if errors_path is not None else None
    with _atomic(errors_file) as partial_errors:
        errors_handle = partial_errors.open("w", encoding="utf-8") if partial_errors else None
        try:

            def on_error(error: RecordError) -> None:
                report.errors[error.reason] += 1
                if errors_handle is not None:
                    errors_handle.write(json.dumps(error.to_dict(), ensure_ascii=False) + "\n")
                elif len(report.examples) < EXAMPLES:
                    report.examples.append(error)

            def counted(items: Iterable[Any]) -> Iterator[Any]:
                for item in items:
                    report.read += 1
                    yield item

            records = screen(counted(read_inputs(input_path, input_format)), on_error, max_chars)
            predictions = _engine_predictions(
                engine, model, records, batch_size, n_process, actors, gpus_per_actor, code, address
            )
            report.written = write_output(predictions, output, fmt, stream)
        finally:
            if errors_handle is not None:
                errors_handle.close()
    report.seconds = time.perf_counter() - started
    return report


def _engine_predictions(
    engine: str,
    model: Union[str, Path, Language],
    records: Iterable[InputRecord],
    batch_size: int,
    n_process: int,
    actors: Optional[int],
    gpus_per_actor: Optional[float],
    code: Optional[PathLike],
    address: Optional[str],
) -> Iterable[Prediction]:
    if engine == "ray":
        from spacy_ft.annotation.ray_engine import import_ray, ray_preannotate

        import_ray()  # fail on a missing extra before reading anything
        if not isinstance(model, (str, Path)):
            raise ValueError(
                "the Ray engine needs a pipeline path or package name: workers load their own copy"
            )
        return ray_preannotate(
            str(model),
            records,
            batch_size=batch_size,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            code=str(code) if code else None,
            address=address,
        )
    from spacy_ft.annotation.preannotate import preannotate

    return preannotate(load_pipeline(model, code), records, batch_size=batch_size, n_process=n_process)


def load_pipeline(model: Union[str, Path, Language], code: Optional[PathLike] = None) -> Language:
    import spacy
    from spacy.cli._util import import_code

    import_code(code)
    if isinstance(model, (str, Path)):
        return spacy.load(model)
    return model
