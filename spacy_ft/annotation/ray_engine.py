"""The Ray Data engine: the same batches as the local engine, on a pool of
actors that each load the pipeline once (one GPU each when the cluster has GPUs).

Why this shape:

* The driver reads and screens the input with the local engine's code
  (:func:`~spacy_ft.annotation.preannotate.screen`), so the errors file is the
  same line for line, and cuts the records into the local engine's batches.
  One Ray row is one whole batch: every actor call runs
  :func:`~spacy_ft.annotation.preannotate.annotate_batch` on exactly the docs
  the local engine would pipe together, so even a transformer pads the same way
  and the scores are bit-identical, not merely close.
* ``map_batches`` with a callable class is Ray Data's way to keep state (the
  pipeline) per worker; ``concurrency`` is the actor count.
* Order: ``preserve_order`` plus a reorder buffer keyed by batch number, so
  predictions stream out in input order and the writers are the local ones.

The corpus passes through the driver (pickled records in Ray's object store,
about the size of the text), which is what bounds one run; split larger inputs
into files. The model, not the driver, is the bottleneck at any realistic
number of GPUs: reading and pickling run at well over 100k lines/s.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any, Iterable, Iterator, Optional

from spacy_ft.annotation.preannotate import annotate_batch, batches, scored_spans_key
from spacy_ft.annotation.records import InputRecord, Prediction
from spacy_ft.extras import import_extra


def import_ray() -> Any:
    """``ray`` with Ray Data, or an ImportError that names the extra to install."""
    return import_extra("ray", "ray", "the Ray engine", "ray.data")


class AnnotatorActor:
    """One Ray Data worker: loads the pipeline once, then annotates one batch of
    records per row it is given (pickled :class:`InputRecord` lists in, pickled
    :class:`Prediction` lists out)."""

    def __init__(
        self,
        model: str,
        spans_key: Optional[str] = None,
        code: Optional[str] = None,
        use_gpu: bool = False,
    ) -> None:
        import spacy
        from spacy.cli._util import import_code

        import_code(code)  # custom components register before the load
        if use_gpu:
            spacy.require_gpu(0)  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU
        self.nlp = spacy.load(model)
        self.spans_key = spans_key or scored_spans_key(self.nlp)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy

        out = []
        for payload in batch["records"]:
            records: list[InputRecord] = pickle.loads(payload)
            out.append(pickle.dumps(annotate_batch(self.nlp, records, self.spans_key)))
        return {"index": batch["index"], "predictions": numpy.array(out, dtype=object)}


def cluster_gpus(ray: Any) -> float:
    return float(ray.cluster_resources().get("GPU", 0.0))


def ray_preannotate(
    model: str,
    records: Iterable[InputRecord],
    *,
    batch_size: int = 64,
    actors: Optional[int] = None,
    gpus_per_actor: Optional[float] = None,
    spans_key: Optional[str] = None,
    code: Optional[str] = None,
    address: Optional[str] = None,
) -> Iterator[Prediction]:
    """Predictions for ``records`` in input order, computed by Ray Data actors.

    ``model`` is a pipeline path or package name every worker can load.
    ``actors`` defaults to one per GPU when the cluster has GPUs (with
    ``gpus_per_actor`` = 1), else one per CPU. Joins the running Ray instance
    (or ``address``, e.g. "auto" on a cluster node) or starts a local one, and
    shuts down only one it started.
    """
    ray = import_ray()
    chunks = [pickle.dumps(batch) for batch in batches(records, batch_size)]
    if not chunks:
        return
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        gpus = cluster_gpus(ray)
        per_actor = gpus_per_actor if gpus_per_actor is not None else (1.0 if gpus else 0.0)
        if actors is None:
            cpus = float(ray.cluster_resources().get("CPU", 1.0))
            actors = max(1, int(gpus // per_actor) if per_actor else int(cpus))
        if actors < 1:
            raise ValueError(f"actors must be at least 1, got {actors}")
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        items = [{"index": i, "records": chunk} for i, chunk in enumerate(chunks)]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            AnnotatorActor,
            fn_constructor_kwargs={
                "model": str(model),
                "spans_key": spans_key,
                "code": str(code) if code else None,
                "use_gpu": per_actor > 0,
            },
            concurrency=min(actors, len(items)),
            batch_size=1,
            num_gpus=per_actor,
            batch_format="numpy",
        )
        yield from _in_order(dataset.iter_rows())
    finally:
        if started:
            ray.shutdown()


def _in_order(rows: Iterable[dict[str, Any]]) -> Iterator[Prediction]:
    """Batches back in input order, whatever order they finish in."""
    pending: dict[int, bytes] = {}
    expected = 0
    for row in rows:
        pending[int(row["index"])] = row["predictions"]
        while expected in pending:
            yield from pickle.loads(pending.pop(expected))
            expected += 1
    if pending:
        raise RuntimeError(f"Ray returned batches {sorted(pending)[:5]} but never batch {expected}")
