"""HTTP serving for spacy_ft pipelines: ``python -m spacy_ft serve MODEL``.

FastAPI + uvicorn (the ``serve`` extra). Nothing here is imported by
``spacy.load``; :func:`create_app` pulls the web stack in only when called, so
a missing extra fails there with the install command in the message.

- ``schemas``: request and response models (the OpenAPI docs come from them).
- ``batching``: the micro-batcher, an asyncio queue with one worker that merges
  concurrent requests into one ``nlp.pipe`` call.
- ``analysis``: docs to JSON-ready results, reusing the annotation code.
- ``app``: the FastAPI application, limits and error handling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from spacy_ft.serve.app import ServeSettings


def create_app(nlp: Any, settings: "ServeSettings | None" = None) -> Any:
    """The FastAPI application serving ``nlp`` (see :mod:`spacy_ft.serve.app`)."""
    from spacy_ft.serve.app import create_app as _create_app

    return _create_app(nlp, settings)


__all__ = ["create_app"]
