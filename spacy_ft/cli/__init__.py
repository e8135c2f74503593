"""``python -m spacy_ft`` (and ``python -m spacy ft``): the command-line interface.

One command group a module, all registered on :data:`spacy_ft.cli._util.app`.
Commands are thin: typer checks the paths, the library does the work. Each
command imports what it needs inside its body, so ``--help`` stays fast.
"""

from spacy_ft.cli import (  # noqa: F401 - importing a module registers its commands
    annotate,
    bias,
    corpora,
    encoders,
    evaluate,
    inference,
    init_config,
    package,
    serve,
    tokenizer,
    tune,
)
from spacy_ft.cli._util import app

__all__ = ["app", "main"]


def main() -> None:
    app()
