"""The FastAPI application: ``/health``, ``/v1/analyze`` and the OpenAPI docs.

Why the body is read and parsed here instead of by FastAPI's body parameter:
a request must be refused for its size *before* it is read whole (413 at
``max_body_bytes``), and every malformed body (bytes that are not UTF-8, bad
JSON, JSON nested deeper than Python's recursion limit, lone surrogates that
cannot be written back as UTF-8) must be a 4xx with a message saying what is
wrong, never a 500. The request schema is still published in the OpenAPI docs.

Status codes: 400 body not UTF-8 / not JSON; 413 body, a text or the number of
texts over a limit (the message names the server option that sets it); 422
wrong shape or types, or an empty text; 503 queue full (retry later); 504 no
answer within the request timeout.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Optional

from spacy_ft.extras import import_extra, missing_extra

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise missing_extra("fastapi", "serve", "spacy_ft's HTTP server", err) from err
from pydantic import ValidationError

from spacy_ft.serve.analysis import Analyzer
from spacy_ft.serve.batching import MicroBatcher, Overloaded, RequestTimeout
from spacy_ft.serve.schemas import AnalyzeRequest, AnalyzeResponse, ErrorResponse, HealthResponse

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of one server (the ``serve`` command's options)."""

    max_texts: int = 64  # texts per request (--max-texts)
    max_chars: int = 10_000  # characters per text (--max-chars)
    max_body_bytes: int = 8 * 1024 * 1024  # request body (--max-body-bytes)
    batching: bool = True  # False: one nlp() call per text, no merging (--no-batching)
    max_batch_texts: int = 32  # texts per nlp.pipe call (--max-batch)
    max_wait_ms: float = 5.0  # how long the worker waits to fill a batch (--max-wait-ms)
    max_queue: int = 256  # waiting requests before 503 (--max-queue)
    timeout_s: float = 30.0  # per-request timeout, 504 after it (--timeout)

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_body_bytes", "max_batch_texts", "max_queue"):
            if getattr(self, name) < 1:
                raise ValueError(f"ServeSettings.{name} must be at least 1, got {getattr(self, name)!r}")
        if self.max_wait_ms < 0 or not self.timeout_s > 0:
            raise ValueError(
                f"ServeSettings: max_wait_ms must be >= 0 and timeout_s > 0, got {self.max_wait_ms!r}, "
                f"{self.timeout_s!r}"
            )


def _safe(text: str) -> str:
    """Error messages may quote client input; lone surrogates in it would make
    the JSON response itself fail to encode (a 500)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=_safe(message))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _error(
            413, f"request body of {declared} bytes is over the limit of {limit} bytes (--max-body-bytes)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _error(413, f"request body is over the limit of {limit} bytes (--max-body-bytes)")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise _error(400, 'empty request body: expected JSON like {"texts": ["..."]}')
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _error(400, f"request body is not valid UTF-8 (byte {err.start}: {err.reason})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise _error(
            400, f"request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise _error(400, "request body is not valid JSON: nested too deeply") from None


def _validate(payload: Any, settings: ServeSettings) -> AnalyzeRequest:
    if isinstance(payload, dict) and isinstance(payload.get("texts"), list):
        # Checked before the schema so a huge batch is refused without validating every item.
        if len(payload["texts"]) > settings.max_texts:
            raise _error(
                413,
                f"{len(payload['texts'])} texts in one request; the limit is {settings.max_texts} (--max-texts)",
            )
    try:
        request = AnalyzeRequest.model_validate(payload)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}"
            for problem in err.errors(include_url=False, include_input=False)
        ]
        raise _error(422, "invalid request: " + "; ".join(problems[:10])) from None
    for i, text in enumerate(request.texts):
        if len(text) > settings.max_chars:
            raise _error(
                413, f"texts.{i} has {len(text)} characters; the limit is {settings.max_chars} (--max-chars)"
            )
        if not text:
            raise _error(422, f"texts.{i} is empty: every text needs at least one character")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise _error(
                422, f"texts.{i} is not valid Unicode (lone surrogate at character {err.start})"
            ) from None
    return request


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in (
        (400, "The body is not UTF-8 or not JSON."),
        (413, "The body, a text or the number of texts is over a limit."),
        (422, "Wrong shape or types, or an empty text."),
        (503, "Too many requests are waiting: retry later."),
        (504, "No answer within the request timeout."),
    )
}


def create_app(nlp: Language, settings: Optional[ServeSettings] = None) -> FastAPI:
    """A FastAPI app serving ``nlp``, loaded once by the caller and shared by
    every request through one :class:`MicroBatcher`."""
    settings = settings or ServeSettings()
    analyzer = Analyzer(nlp, batched=settings.batching)
    batcher: MicroBatcher[dict[str, Any]] = MicroBatcher(
        analyzer,
        max_batch_texts=settings.max_batch_texts if settings.batching else 1,
        max_wait_ms=settings.max_wait_ms if settings.batching else 0.0,
        max_queue=settings.max_queue,
        timeout_s=settings.timeout_s,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        await batcher.run_in_model_thread(lambda: analyzer(["warm up"]))  # first request is not a cold start
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="spacy_ft",
        summary="Entities with scores, categories and bias flags from a spacy_ft pipeline.",
        version="1",
        lifespan=lifespan,
    )
    app.state.nlp, app.state.settings, app.state.batcher = nlp, settings, batcher

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health", response_model=HealthResponse)
    async def health() -> Any:
        """Liveness: the model is loaded and the batching worker runs."""
        return {
            "status": "ok",
            "model": analyzer.model,
            "pipeline": list(nlp.pipe_names),
            "batching": settings.batching,
            "queued": batcher.queued,
        }

    @app.post(
        "/v1/analyze",
        response_model=AnalyzeResponse,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": AnalyzeRequest.model_json_schema()}},
            }
        },
    )
    async def analyze(request: Request) -> Any:
        """Tokens, entities with scores, ``doc.cats`` and (with ``spacy_ft_bias`` in
        the pipeline) bias flags for each text. Concurrent requests are merged
        into one ``nlp.pipe`` call unless the server runs with ``--no-batching``.

        Limits: see the 413 answer's message for the server option to change."""
        body = _validate(_parse(await _read_body(request, settings.max_body_bytes)), settings)
        try:
            results = await batcher.submit(body.texts)
        except Overloaded as err:
            raise HTTPException(503, detail=str(err), headers={"Retry-After": "1"}) from None
        except RequestTimeout as err:
            raise _error(504, str(err)) from None
        except RuntimeError as err:
            raise _error(500, str(err)) from None
        if not body.tokens:
            results = [{**result, "tokens": None} for result in results]
        return {"model": analyzer.model, "docs": results}

    return app


def serve(
    model: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    settings: Optional[ServeSettings] = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Load ``model`` once and serve it with uvicorn (one process: the model and
    its queue live in it, so workers would each load a copy)."""
    uvicorn = import_extra("uvicorn", "serve", "spacy_ft serve")
    import spacy

    nlp = spacy.load(model)
    uvicorn.run(create_app(nlp, settings), host=host, port=port, log_level=log_level, access_log=access_log)
