"""``smoke-load``: check a packaged pipeline in a fresh environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app, fail


@app.command("smoke-load")
def smoke_load_command(
    dist: Path = typer.Argument(..., exists=True, dir_okay=False, help="Built pipeline package (.tar.gz or .whl from spacy package)"),
    name: str = typer.Argument(..., help="Its package name, e.g. zh_ft_demo"),
    reference: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained pipeline directory it was built from"),
    texts_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Texts to compare on: one per line, or JSONL with 'text'"),
    venv_dir: Path = typer.Option(Path("packages/smoke-venv"), help="Where to create the clean environment"),
    source: Optional[Path] = typer.Option(None, help="spacy_ft source tree to build the wheel from (default: the one running)"),
    wheelhouse: Optional[Path] = typer.Option(None, help="Where the spacy_ft wheel goes (default: beside the environment)"),
    torch: Optional[str] = typer.Option(None, help="torch requirement installed first (default: this environment's version)"),
    limit: int = typer.Option(100, help="Compare on at most this many texts"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the result as JSON here"),
) -> None:
    """Deploy a packaged pipeline as production does and check it: a clean virtual
    environment with no view of this one, torch, spacy_ft from a wheel built from the
    source tree, the package with pip resolving its requirements; then spacy.load it by
    name in a child process started in an empty directory, and compare its entities and
    cats with the training output."""
    import srsly

    from spacy_ft.packaging import smoke_load

    texts = read_texts(texts_path)
    if not texts:
        fail(f"No texts in {texts_path}", "Give one text a line, or JSONL records with a 'text'")
    try:
        result = smoke_load(dist, name, reference, texts[:limit], venv_dir, source=source, wheelhouse=wheelhouse,
                            torch=torch)
    except RuntimeError as err:  # pip could not install it, or spacy.load failed there
        fail(f"Smoke load of {dist} failed", str(err))
    except AssertionError as err:  # it loaded, but predicts differently from the reference
        fail(f"{name} from {dist} differs from {reference}", str(err))
    typer.echo(
        f"spacy.load({name!r}) in a clean environment: pipeline {result['pipeline']}, "
        f"{result['docs']} docs, {result['entities']} entities, identical to {reference}; "
        f"install to load {result['install_to_load_seconds']:.0f} s, package {result['package_bytes'] / 1e6:.1f} MB, "
        f"environment {result['venv_bytes'] / 1e6:.0f} MB, {len(result['installed'])} distributions"
    )
    if output is not None:
        srsly.write_json(output, result)


def read_texts(path: Path) -> list[str]:
    """The non-empty lines of ``path``, or the ``text`` of each JSONL record: checked
    here, before the slow part (a fresh environment), and failing with file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        fail(f"Can't read {path}", f"not UTF-8 text (byte {err.start})")
    if path.suffix != ".jsonl":
        return [line for line in lines if line.strip()]
    texts = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            fail(f"Can't read {path}:{lineno}", f"not valid JSON ({err.msg})")
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            fail(f"Can't read {path}:{lineno}", 'expected a JSON object with a string "text"')
        texts.append(text)
    return texts
