"""What the command modules share: the typer app and how a command loads a pipeline.

As in ``spacy/cli/_util.py``: every command module registers on this one ``app``,
and ``spacy_ft.cli`` imports them all.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="spacy_ft",
    help="spacy_ft: Chinese and English transformer pipelines for spaCy.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    """spacy_ft command-line tools (keeps typer in multi-command mode)."""


def load_pipeline(model: str):
    """Accept a pipeline path / package name, or a bare language code for a blank pipeline."""
    import spacy

    if len(model) <= 3 and model.isalpha() and not Path(model).exists():
        if model == "zh":
            return spacy.blank(
                "zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}}
            )
        return spacy.blank(model)
    return spacy.load(model)
