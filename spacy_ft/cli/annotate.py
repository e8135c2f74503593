"""``annotate`` and ``import-annotations``: pre-annotation round trips with annotation tools."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

import typer

from spacy_ft.cli._util import app, fail, load_model, load_pipeline
from spacy_ft.corpora import CorpusFormatError

if TYPE_CHECKING:
    from spacy.language import Language


def check_annotation_format(fmt: str) -> None:
    """A bad --format as a usage error, before the model loads (typer checks the paths)."""
    from spacy_ft.annotation.writers import check_format

    try:
        check_format(fmt)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err


@app.command("annotate")
def annotate_command(
    model: str = typer.Argument(..., help="Pipeline directory or package"),
    input_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False,
        help='Raw text (one doc per line), JSONL ({"text", "id"?, "meta"?}) or Parquet (text, id?)',
    ),
    output_path: Optional[Path] = typer.Argument(None, help="Where to write the tasks (default: stdout)"),
    fmt: str = typer.Option(..., "--format", "-f", help="prodigy, label-studio, doccano or parquet"),
    input_format: str = typer.Option(
        "auto", help="text, jsonl, parquet or auto (by suffix: .jsonl/.ndjson, .parquet, else text)"
    ),
    batch_size: int = typer.Option(64, min=1, help="Docs per nlp.pipe batch (and per Ray task)"),
    engine: str = typer.Option("local", help="local (this process) or ray (Ray Data actors)"),
    errors: Optional[Path] = typer.Option(
        None, "--errors", help="JSONL file for records not annotated (id, line, reason)"
    ),
    max_chars: int = typer.Option(100_000, min=1, help="Longer texts go to the errors file (too_long)"),
    n_process: int = typer.Option(1, min=1, help="local engine: nlp.pipe worker processes"),
    actors: Optional[int] = typer.Option(
        None, min=1, help="ray engine: actors, each holding the pipeline (default: one per GPU, else per CPU)"
    ),
    gpus_per_actor: Optional[float] = typer.Option(
        None, help="ray engine: GPUs per actor (default 1 when the cluster has GPUs, else 0)"
    ),
    address: Optional[str] = typer.Option(
        None, help="ray engine: cluster to join ('auto' on a cluster node; default: start a local one)"
    ),
    code: Optional[Path] = typer.Option(
        None, "--code", "-c",
        help="Python file registering custom components, imported before the pipeline loads",
    ),
) -> None:
    """Pre-annotate raw text with entity scores and classifier labels, and write
    tasks for an annotation tool (or Parquet), each with a doc-level uncertainty
    to sort by. Lines that are not UTF-8, empty or longer than --max-chars are not
    annotated: they are counted, and listed in --errors with their id and reason."""
    from spacy_ft.annotation import ENGINES, OUTPUT_FORMATS, annotate_corpus

    for name, value, choices in (("--format", fmt, OUTPUT_FORMATS), ("--engine", engine, ENGINES)):
        if value not in choices:
            raise typer.BadParameter(f"{name} {value!r}: expected one of {', '.join(choices)}")
    if fmt == "parquet" and output_path is None:
        raise typer.BadParameter("--format parquet needs an OUTPUT file, not stdout")
    pipeline: Union[str, Language] = model
    if engine == "local":
        from spacy.cli._util import import_code

        import_code(code)
        pipeline = load_pipeline(model)
    try:
        report = annotate_corpus(
            pipeline,
            input_path,
            output_path,
            fmt,
            engine=engine,
            errors_path=errors,
            input_format=input_format,
            max_chars=max_chars,
            batch_size=batch_size,
            n_process=n_process,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            code=code if engine == "ray" else None,
            address=address,
        )
    except CorpusFormatError as err:  # a malformed input record: file and line in the message
        fail(f"Can't annotate {input_path}", str(err))
    except ImportError as err:  # the ray engine without the ray extra
        fail(f"Can't annotate with --engine {engine}", str(err))
    typer.echo(f"{input_path}: {report.summary()}", err=True)
    if report.examples:
        listed = "; ".join(f"{e.id} ({e.reason})" for e in report.examples)
        typer.echo(f"Not annotated: {listed}; pass --errors FILE to keep them all", err=True)
    typer.echo(f"Wrote {report.written} {fmt} tasks to {output_path or 'stdout'}", err=True)


@app.command("import-annotations")
def import_annotations_command(
    input_path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Corrected export: Prodigy JSONL, Label Studio JSON or doccano JSONL"
    ),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    fmt: str = typer.Option(..., "--format", "-f", help="prodigy, label-studio or doccano"),
    lang: str = typer.Option(
        "zh", help="zh (Jieba tokenizer) or another language code for spaCy's tokenizer"
    ),
    model: Optional[str] = typer.Option(
        None, help="Tokenize with this pipeline's tokenizer instead of --lang"
    ),
    answers: str = typer.Option(
        "accept", help="Prodigy: answers to keep, comma-separated (accept, reject, ignore, unanswered)"
    ),
    use_predictions: bool = typer.Option(
        False, help="Label Studio: use a task's prediction when nobody annotated it"
    ),
    text_key: str = typer.Option("text", help="Label Studio: the task data field holding the text"),
) -> None:
    """Import corrected annotations into .spacy training data without losing an
    entity (tokens an entity starts or ends inside are split); the report counts
    tasks left out (rejected, ignored, unannotated)."""
    from spacy_ft.annotation import import_annotations
    from spacy_ft.annotation.readers import ANSWERS

    check_annotation_format(fmt)
    kept = [answer.strip() for answer in answers.split(",") if answer.strip()]
    if not kept or set(kept) - set(ANSWERS):
        raise typer.BadParameter(f"--answers {answers!r}: expected some of {', '.join(ANSWERS)}")
    nlp = load_model(model) if model is not None else load_pipeline(lang)
    try:
        report = import_annotations(
            input_path,
            fmt,
            nlp,
            output_path,
            answers=kept,
            use_predictions=use_predictions,
            text_key=text_key,
        )
    except CorpusFormatError as err:  # a malformed record: file and line in the message
        fail(f"Can't import {input_path}", str(err))
    typer.echo(f"{input_path}: {report.summary()}")
    typer.echo(f"Saved {report.docs} docs to {output_path}")
