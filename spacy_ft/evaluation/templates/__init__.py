"""Jinja2 templates of the HTML reports (displaCy page, bias audit).

One environment with autoescaping on: every value a template prints is escaped
unless the template marks it ``| safe`` (markup displaCy or matplotlib made).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=None)
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("spacy_ft.evaluation", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **context: Any) -> str:
    """Render one of this folder's templates."""
    return _environment().get_template(template).render(**context)
