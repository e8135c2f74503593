"""``convert``: corpora to ``.spacy`` without losing an entity."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from spacy_ft.cli._util import app, fail, load_model, load_pipeline


@app.command("convert")
def convert_command(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Corpus file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    fmt: str = typer.Option(
        "char",
        "--format",
        "-f",
        help="char (auto BIO/BMES/BIOES), bio, bmes, bioes, conll, cluener, jsonl, csv or tsv",
    ),
    lang: str = typer.Option(
        "zh", help="zh (Jieba tokenizer) or another language code for spaCy's tokenizer"
    ),
    model: Optional[str] = typer.Option(
        None, help="Tokenize with this pipeline's tokenizer instead of --lang"
    ),
    joiner: Optional[str] = typer.Option(
        None, help="CoNLL: text between tokens (default '' for zh, ' ' otherwise)"
    ),
    text_column: Optional[str] = typer.Option(
        None, help="csv/tsv: text column (default: first of text, sentence, text_a, review)"
    ),
    label_column: Optional[str] = typer.Option(
        None, help="csv/tsv: label column (default: label or labels)"
    ),
    label_sep: Optional[str] = typer.Option(
        None, help="csv/tsv: separator of several labels in one cell (default '|')"
    ),
    label_map: Optional[str] = typer.Option(
        None, help="csv/tsv/jsonl: rename labels, e.g. '0=NEG,1=POS' (default: keep them as written)"
    ),
    quoting: Optional[bool] = typer.Option(
        None,
        "--quoting/--no-quoting",
        help="csv/tsv: --no-quoting reads quotes as text, one row a line (unquoted TSVs such as ChnSentiCorp)",
    ),
) -> None:
    """Convert a corpus to .spacy without losing an entity: tokens that an
    entity starts or ends inside are split, and the report counts them.
    Classification files (csv/tsv, jsonl labels) give every doc every label."""
    from spacy_ft.corpora import FORMAT_OPTIONS, FORMATS, convert
    from spacy_ft.corpora.readers import parse_label_map

    options: dict[str, Any] = {
        "text_column": text_column,
        "label_column": label_column,
        "label_sep": label_sep,
        "label_map": label_map,
        "quoting": quoting,
    }
    options = {key: value for key, value in options.items() if value is not None}
    unknown = set(options) - set(FORMAT_OPTIONS.get(fmt.lower(), ()))
    if fmt.lower() not in FORMATS or unknown:
        flags = ", ".join(sorted("--" + key.replace("_", "-") for key in unknown))
        raise typer.BadParameter(f"--format {fmt} takes no {flags}" if unknown else f"unknown --format {fmt}")
    if label_map is not None:
        try:
            options["label_map"] = parse_label_map(label_map)
        except ValueError as err:
            raise typer.BadParameter(f"--label-map: {err}") from err
    nlp = load_model(model) if model is not None else load_pipeline(lang)
    if joiner is None:
        joiner = "" if nlp.lang == "zh" else " "
    from spacy_ft.corpora import CorpusFormatError

    try:
        report = convert(input_path, output_path, nlp, fmt=fmt, joiner=joiner, **options)
    except CorpusFormatError as err:  # names the file and line; nothing was written
        fail(f"Can't convert {input_path}", str(err))
    typer.echo(f"{input_path}: {report.summary()}")
    if report.labels:
        typer.echo("entity labels: " + ", ".join(f"{k} {v}" for k, v in report.labels.most_common()))
    if report.cats:
        typer.echo("docs per class: " + ", ".join(f"{k} {v}" for k, v in report.cats.most_common()))
    typer.echo(f"Saved {report.docs} docs to {output_path}")
