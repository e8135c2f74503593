"""``serve``: the HTTP server (the serve extra)."""

from __future__ import annotations

import typer

from spacy_ft.cli._util import app, fail


@app.command("serve")
def serve_command(
    model: str = typer.Argument(..., help="Pipeline directory or package, loaded once"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 exposes it to the network)"),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port"),
    batching: bool = typer.Option(
        True, help="Merge concurrent requests into one nlp.pipe call (--no-batching: one nlp() call per text)"
    ),
    max_batch: int = typer.Option(32, min=1, help="Texts per nlp.pipe call when batching"),
    max_wait_ms: float = typer.Option(5.0, min=0, help="How long to wait for more requests to fill a batch"),
    max_queue: int = typer.Option(256, min=1, help="Waiting requests before new ones get a 503"),
    timeout: float = typer.Option(30.0, min=0.001, help="Seconds before a request gets a 504"),
    max_texts: int = typer.Option(64, min=1, help="Texts per request (more: 413)"),
    max_chars: int = typer.Option(10_000, min=1, help="Characters per text (more: 413)"),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, min=1, help="Request body size (more: 413)"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
    access_log: bool = typer.Option(True, help="Log every request (uvicorn's access log)"),
) -> None:
    """Serve a pipeline over HTTP (FastAPI + uvicorn): POST /v1/analyze, GET /health,
    OpenAPI docs at /docs. Needs the serve extra: pip install 'spacy_ft[serve]'."""
    try:
        from spacy_ft.serve.app import ServeSettings, serve
    except ImportError as err:  # the serve extra is not installed
        fail(f"Can't serve {model}", str(err))

    settings = ServeSettings(
        max_texts=max_texts,
        max_chars=max_chars,
        max_body_bytes=max_body_bytes,
        batching=batching,
        max_batch_texts=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        timeout_s=timeout,
    )
    serve(model, host=host, port=port, settings=settings, log_level=log_level, access_log=access_log)
