"""Micro-batching: merge concurrent requests into one ``nlp.pipe`` call.

A transformer pipeline answers 32 texts in one batch much faster than in 32
calls (one padded forward pass instead of 32), but web clients send one or a
few texts each. The :class:`MicroBatcher` puts every request on an asyncio
queue; one worker task takes the first waiting request, keeps collecting for up
to ``max_wait_ms`` or until ``max_batch_texts`` texts, and runs one
``process(texts)`` call in a single model thread (``run_in_executor``), so the
event loop keeps accepting requests meanwhile. Each request waits on its own
future, with its own timeout.

One model thread, not a pool: the pipeline is loaded once and spaCy / torch
components are not documented as safe to call from several threads at once;
torch already uses the cores inside one call.

Backpressure: the queue holds at most ``max_queue`` requests; a request that
finds it full is refused at once (:class:`Overloaded`, a 503) rather than
waiting for minutes. A request that times out (:class:`RequestTimeout`, a 504)
is dropped from the queue before its texts reach the model.

With ``max_wait_ms = 0`` and ``max_batch_texts = 1`` every request is processed
alone: the same queue, timeouts and backpressure without batching, which the
``--no-batching`` server mode and the benchmark's baseline use.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Generic, Optional, Sequence, TypeVar

R = TypeVar("R")
T = TypeVar("T")
log = logging.getLogger(__name__)


class Overloaded(RuntimeError):
    """The queue is full: the server is busier than it can answer in time."""


class RequestTimeout(RuntimeError):
    """The request was not answered within its timeout."""


@dataclass
class _Job(Generic[R]):
    texts: Sequence[str]
    future: "asyncio.Future[list[R]]"


@dataclass
class BatchStats:
    """What the worker did, for ``/health`` and for tests that check batching."""

    batches: int = 0
    texts: int = 0
    sizes: list[int] = field(default_factory=list)  # texts per process() call, the last 1000

    def record(self, size: int) -> None:
        self.batches += 1
        self.texts += size
        self.sizes.append(size)
        del self.sizes[:-1000]


class MicroBatcher(Generic[R]):
    """Collects requests into batches for ``process`` (texts in, one result per text out)."""

    def __init__(
        self,
        process: Callable[[list[str]], list[R]],
        *,
        max_batch_texts: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        timeout_s: float = 30.0,
        executor: Optional[Executor] = None,
    ) -> None:
        if max_batch_texts < 1 or max_queue < 1 or max_wait_ms < 0 or not timeout_s > 0:
            raise ValueError(
                "MicroBatcher: expected max_batch_texts >= 1, max_queue >= 1, max_wait_ms >= 0 and "
                f"timeout_s > 0, got {max_batch_texts!r}, {max_queue!r}, {max_wait_ms!r}, {timeout_s!r}"
            )
        self.process = process
        self.max_batch_texts = max_batch_texts
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.stats = BatchStats()
        self._executor = executor
        self._own_executor = executor is None
        self._queue: Optional[asyncio.Queue[_Job[R]]] = None
        self._worker: Optional[asyncio.Task[None]] = None
        self._held: Optional[_Job[R]] = None  # a job that did not fit the last batch

    @property
    def queued(self) -> int:
        return (self._queue.qsize() if self._queue is not None else 0) + (self._held is not None)

    async def start(self) -> None:
        """Start the worker on the running loop (the app's lifespan calls this)."""
        if self._worker is not None:
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spacy_ft-model")
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._worker = asyncio.create_task(self._run(), name="spacy_ft-microbatcher")

    async def stop(self) -> None:
        """Stop the worker; requests still queued fail with :class:`Overloaded`."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            self._fail(self._queue.get_nowait(), Overloaded("the server is shutting down"))
        if self._held is not None:
            self._fail(self._held, Overloaded("the server is shutting down"))
            self._held = None
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def run_in_model_thread(self, func: Callable[[], T]) -> T:
        """Run ``func`` in the model thread (warm-up), serialized with the batches."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, func)

    async def submit(self, texts: Sequence[str]) -> list[R]:
        """One result per text, in order. Raises :class:`Overloaded` when the queue
        is full and :class:`RequestTimeout` after ``timeout_s``."""
        if self._queue is None:
            raise RuntimeError("MicroBatcher.submit before start(): run the app with its lifespan")
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Job(list(texts), future))
        except asyncio.QueueFull:
            raise Overloaded(
                f"{self.max_queue} requests are already waiting (max_queue); retry later"
            ) from None
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimeout(f"no answer within {self.timeout_s:g} s (request timeout)") from None

    async def _next_batch(self) -> list[_Job[R]]:
        assert self._queue is not None
        first = self._held if self._held is not None else await self._queue.get()
        self._held = None
        batch, size = [first], len(first.texts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while size < self.max_batch_texts:
            remaining = deadline - loop.time()
            try:
                job = (
                    self._queue.get_nowait()
                    if remaining <= 0
                    else await asyncio.wait_for(self._queue.get(), remaining)
                )
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
            if job.future.done():  # timed out while queued
                continue
            if size + len(job.texts) > self.max_batch_texts:
                self._held = job  # first in the next batch, so order is kept
                break
            batch.append(job)
            size += len(job.texts)
        return [job for job in batch if not job.future.done()]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            texts = [text for job in batch for text in job.texts]
            try:
                results = await loop.run_in_executor(self._executor, self.process, texts)
                if len(results) != len(texts):
                    raise RuntimeError(f"process returned {len(results)} results for {len(texts)} texts")
            except Exception:  # noqa: BLE001 - isolate the request that broke the batch
                if len(batch) == 1:
                    log.exception("processing a request failed")
                    self._fail(batch[0], RuntimeError("the pipeline failed on this request"))
                    continue
                await self._one_by_one(batch)
                continue
            self.stats.record(len(texts))
            offset = 0
            for job in batch:
                if not job.future.done():
                    job.future.set_result(results[offset : offset + len(job.texts)])
                offset += len(job.texts)

    async def _one_by_one(self, batch: list[_Job[R]]) -> None:
        """A failed batch is retried request by request, so one bad request fails
        alone and the others still get their answers."""
        loop = asyncio.get_running_loop()
        for job in batch:
            if job.future.done():
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.process, list(job.texts))
            except Exception:  # noqa: BLE001
                log.exception("processing a request failed")
                self._fail(job, RuntimeError("the pipeline failed on this request"))
                continue
            self.stats.record(len(job.texts))
            if not job.future.done():
                job.future.set_result(results)

    @staticmethod
    def _fail(job: _Job[R], error: Exception) -> None:
        if not job.future.done():
            job.future.set_exception(error)
