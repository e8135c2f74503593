"""``smoke-load``: check a packaged pipeline in a fresh environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app


@app.command("smoke-load")
def smoke_load_command(
    dist: Path = typer.Argument(..., exists=True, dir_okay=False, help="Built pipeline package (.tar.gz or .whl from spacy package)"),
    name: str = typer.Argument(..., help="Its package name, e.g. zh_ft_demo"),
    reference: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained pipeline directory it was built from"),
    texts_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Texts to compare on: one per line, or JSONL with 'text'"),
    venv_dir: Path = typer.Option(Path("packages/smoke-venv"), help="Where to create the fresh environment"),
    limit: int = typer.Option(100, help="Compare on at most this many texts"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the result as JSON here"),
) -> None:
    """Install a packaged pipeline into a fresh virtual environment, spacy.load it
    by name there (never importing spacy_ft by hand) and check that it gives the
    same entities and cats as the training output."""
    import srsly

    from spacy_ft.packaging import smoke_load

    lines = texts_path.read_text(encoding="utf-8").splitlines()
    if texts_path.suffix == ".jsonl":
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
    else:
        texts = [line for line in lines if line.strip()]
    result = smoke_load(dist, name, reference, texts[:limit], venv_dir)
    typer.echo(
        f"spacy.load({name!r}) in a fresh environment: pipeline {result['pipeline']}, "
        f"{result['docs']} docs, {result['entities']} entities, identical to {reference}"
    )
    if output is not None:
        srsly.write_json(output, result)
