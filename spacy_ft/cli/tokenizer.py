"""``tokenize``: look at what the Jieba tokenizer does to text."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app, load_pipeline


@app.command("tokenize")
def tokenize_command(
    model: str = typer.Argument(
        ..., help="Pipeline directory or package, or 'zh' for the Jieba tokenizer alone"
    ),
    input_path: Optional[Path] = typer.Argument(None, exists=True, dir_okay=False, help="Text file, one doc per line (default: stdin)"),
    output_format: str = typer.Option(
        "text", "--format", "-f", help="'text' (tokens split by ' | ') or 'jsonl'"
    ),
) -> None:
    """Tokenize text and print the tokens with their character offsets."""
    if output_format not in ("text", "jsonl"):
        raise typer.BadParameter(f"--format must be 'text' or 'jsonl', got {output_format!r}")
    nlp = load_pipeline(model)
    stream = input_path.open(encoding="utf-8") if input_path else sys.stdin
    with stream:
        lines = [line.rstrip("\n") for line in stream]
    for doc in nlp.pipe(lines):
        if output_format == "jsonl":
            tokens = [
                {
                    "text": t.text,
                    "start": t.idx,
                    "end": t.idx + len(t),
                    "ws": bool(t.whitespace_),
                    "tag": t.tag_,
                }
                for t in doc
            ]
            typer.echo(json.dumps({"text": doc.text, "tokens": tokens}, ensure_ascii=False))
        else:
            typer.echo(" | ".join(t.text for t in doc if not t.is_space))
