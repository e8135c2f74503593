"""Registers spacy_ft's commands under spaCy's own CLI: ``python -m spacy ft convert ...``.

Loaded through the ``spacy_cli`` entry point, as spacy-curated-transformers
registers its commands; ``python -m spacy_ft`` stays the short form.
"""

from spacy.cli._util import app as spacy_app

from spacy_ft.cli import app

spacy_app.add_typer(app, name="ft", help="spacy_ft: Chinese and English transformer pipelines")
