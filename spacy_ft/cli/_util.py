"""What the command modules share: the typer app, how a command loads a pipeline
and how it fails.

As in ``spacy/cli/_util.py``: every command module registers on this one ``app``,
and ``spacy_ft.cli`` imports them all.

Help texts are plain text, not Rich markup: spaCy's app sets ``rich_markup_mode=None``
and typer renders a group added to it (``python -m spacy ft``) with the settings
of spaCy's app, so this app does the same, and ``pip install 'spacy_ft[serve]'``
reads the same under both entry points (as markup, ``[serve]`` would vanish).

Failures follow spaCy's CLI: ``typer.BadParameter`` (exit status 2, "Invalid
value") only for an option or argument that is wrong in itself; anything that
goes wrong while running (a file's contents, a pipeline that does not load, a
failed check, a missing extra) ends with :func:`fail`, wasabi's ``msg.fail``
naming the file or value, exit status 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer
from wasabi import msg

if TYPE_CHECKING:
    from spacy.language import Language

app = typer.Typer(
    name="spacy_ft",
    help="spacy_ft: Chinese and English transformer pipelines for spaCy.",
    no_args_is_help=True,
    add_completion=False,
    # As spaCy's own app: help texts are plain, so square brackets in them stay.
    rich_markup_mode=None,
)


@app.callback()
def _main() -> None:
    """spacy_ft command-line tools (keeps typer in multi-command mode)."""


def fail(title: str, text: Optional[str] = None) -> NoReturn:
    """End a command as spaCy's CLI does: ``✘ title`` (and ``text``) on stdout, exit status 1."""
    msg.fail(title, text, exits=1)
    raise SystemExit(1)  # not reached: msg.fail exits; this tells type checkers so


def load_model(name: str) -> "Language":
    """``spacy.load(name)``, failing with the name when there is no such pipeline."""
    import spacy

    try:
        return spacy.load(name)
    except OSError as err:  # spaCy's E050 (no such package or directory), E053 (no config)
        fail(f"Can't load pipeline {name!r}", str(err))


def load_pipeline(model: str) -> "Language":
    """Accept a pipeline path / package name, or a bare language code for a blank pipeline."""
    import spacy

    if len(model) <= 3 and model.isalpha() and not Path(model).exists():
        if model == "zh":
            return spacy.blank(
                "zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}}
            )
        return spacy.blank(model)
    return load_model(model)
