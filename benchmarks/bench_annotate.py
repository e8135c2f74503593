"""Batch annotation throughput: the local engine (``nlp.pipe``, 1 and 2
processes) against the Ray Data engine (1 and 2 actors) on the same corpus.

What it shows, honestly: on one small CPU machine Ray Data adds worker start-up
(each actor imports spaCy and loads the pipeline), object-store traffic and
scheduling to the same ``nlp.pipe`` work, so it cannot beat the local engine
there; its point is that the same command runs with one actor per GPU on N
nodes. Every number is end to end through ``annotate_corpus`` (read, screen,
annotate, write doccano JSONL), including the pipeline load in every process,
because that is what a user waits for. Ray's own start (``ray.init``) is
measured once and reported apart: a cluster pays it once, not per run.

The pipeline: a random-weight BERT (``make_tiny_bert``, hidden 64, 2 layers by
default, the harness's transformer settings) + ``spacy_ft_ner`` +
``spacy_ft_trf_cleanup`` (as in every shipped config) on the spaCy English
tokenizer, initialised but not trained (speed does not depend on the weights).
Texts: the English demo corpus (``assets/en_demo_train.jsonl``) repeated to
``--docs`` lines.

Threads: Ray starts each actor with ``OMP_NUM_THREADS=1``; torch in a plain
process takes one thread per core, which on a 2-core machine under other load
(or with n_process=2) oversubscribes the cores and runs several times slower.
So every process here gets ``--threads`` torch threads (default 1, set through
``OMP_NUM_THREADS`` before torch loads), and the comparison is of engines, not
of thread settings. ``--threads 0`` leaves torch's default for the local runs.

Systems run in rotating order in each round; medians over rounds; ratios are
against local n_process=1 in the same run. Each Ray output is checked to be
byte-identical to the local one. Run from the repository root::

    python benchmarks/bench_annotate.py                      # 10k docs, 3 rounds (< 10 min)
    python benchmarks/bench_annotate.py --docs 1000 --rounds 1   # smoke run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness import ModelInfo, pipeline, quiet_libraries, table, write_report

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "assets" / "en_demo_train.jsonl"
DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "annotate.json"
SYSTEMS = (
    ("local n_process=1", "local", {"n_process": 1}),
    ("local n_process=2", "local", {"n_process": 2}),
    ("ray 1 actor", "ray", {"actors": 1}),
    ("ray 2 actors", "ray", {"actors": 2}),
)
BASELINE = SYSTEMS[0][0]


def build_pipeline(directory: Path, texts: list[str], hidden: int, layers: int) -> Path:
    """Tiny random BERT + spacy_ft_ner, initialised on the demo labels, saved."""
    from spacy.training import Example
    from thinc.api import fix_random_seed

    from spacy_ft.testing import make_tiny_bert

    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    bert = make_tiny_bert(
        directory / "bert", texts, hidden_size=hidden, layers=layers, heads=2, max_position=128
    )
    model = ModelInfo(str(bert), str(bert), "random tiny BERT", False, 128, 0)
    nlp, _ = pipeline("en", model)
    nlp.add_pipe("spacy_ft_ner")
    # As every shipped config: drop the transformer tensors at the end, or n_process
    # would ship them back to the parent with every doc.
    nlp.add_pipe("spacy_ft_trf_cleanup")
    examples = [
        Example.from_dict(nlp.make_doc(r["text"]), {"entities": [tuple(e) for e in r["entities"]]})
        for r in records[:50]
    ]
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    path = directory / "pipeline"
    nlp.to_disk(path)
    return path


def corpus_file(directory: Path, docs: int) -> tuple[Path, list[str]]:
    texts = [
        json.loads(line)["text"] for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    lines = [texts[i % len(texts)] for i in range(docs)]
    path = directory / "corpus.txt"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path, texts


def run_system(
    engine: str, settings: dict[str, Any], model: Path, corpus: Path, out: Path, batch_size: int
) -> tuple[int, float]:
    from spacy_ft.annotation import annotate_corpus

    report = annotate_corpus(model, corpus, out, "doccano", engine=engine, batch_size=batch_size, **settings)
    return report.written, report.seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10_000, help="corpus lines (default: 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per system (default: 3)")
    parser.add_argument(
        "--budget", type=float, default=540.0, help="start no round that would end after this many seconds"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64, help="BERT hidden size (default: 64)")
    parser.add_argument("--layers", type=int, default=2, help="BERT layers (default: 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (0: torch default)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # n_process forks after tokenizing
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    quiet_libraries()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    corpus, texts = corpus_file(work, args.docs)
    print(
        f"Building the pipeline (random BERT hidden {args.hidden}, {args.layers} layers) ...", file=sys.stderr
    )
    model = build_pipeline(work, texts, args.hidden, args.layers)

    import ray

    t0 = time.perf_counter()
    ray.init(
        num_cpus=os.cpu_count() or 2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ray_init = time.perf_counter() - t0
    timings: dict[str, list[float]] = {name: [] for name, _, _ in SYSTEMS}
    identical: dict[str, bool] = {}
    reference = work / "out-local n_process=1.jsonl"
    rounds = 0
    try:
        last_round = 0.0
        # A round starts only if it should end within the budget (judged by the last one).
        while rounds < args.rounds and (
            rounds == 0 or time.perf_counter() - started + last_round < args.budget
        ):
            round_start = time.perf_counter()
            order = SYSTEMS[rounds % len(SYSTEMS) :] + SYSTEMS[: rounds % len(SYSTEMS)]
            for name, engine, settings in order:
                out = work / f"out-{name}.jsonl"
                written, seconds = run_system(engine, settings, model, corpus, out, args.batch_size)
                assert written == args.docs, (name, written)
                timings[name].append(seconds)
                print(
                    f"  round {rounds + 1} {name}: {written / seconds:.0f} docs/s",
                    file=sys.stderr,
                    flush=True,
                )
            rounds += 1
            last_round = time.perf_counter() - round_start
            for name, _, _ in SYSTEMS[1:]:
                same = (work / f"out-{name}.jsonl").read_bytes() == reference.read_bytes()
                identical[name] = identical.get(name, True) and same
    finally:
        ray.shutdown()

    base = statistics.median(timings[BASELINE])
    rows = []
    for name, engine, settings in SYSTEMS:
        median = statistics.median(timings[name])
        rows.append(
            {
                "system": name,
                "engine": engine,
                **settings,
                "median_seconds": round(median, 2),
                "docs_per_second": round(args.docs / median, 1),
                "ratio_vs_local_1": round(base / median, 3),
                "seconds": [round(t, 2) for t in timings[name]],
                "output_identical_to_local_1": identical.get(name, True),
            }
        )
    print(
        f"\n{args.docs} docs, batch {args.batch_size}, {rounds} rounds, medians, {args.threads or 'default'} torch threads/process; ray.init {ray_init:.1f}s (not in the runs)"
    )
    header = ("system", "docs/s", "median s", "vs local 1", "identical")
    cells = [
        (row["system"], f"{row['docs_per_second']:.1f}", f"{row['median_seconds']:.2f}")
        + (f"{row['ratio_vs_local_1']:.2f}x", row["output_identical_to_local_1"])
        for row in rows
    ]
    print(table(header, cells, "lrrrl"))
    results = {
        "benchmark": "annotate",
        "command": "python benchmarks/bench_annotate.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "docs": args.docs,
        "batch_size": args.batch_size,
        "rounds": rounds,
        "pipeline": f"spacy.blank('en') + transformer (random BERT hidden {args.hidden}, {args.layers} layers, "
        "2 heads; spacy_ft.TransformerModel.v1, window 128/96) + spacy_ft_ner + spacy_ft_trf_cleanup, untrained",
        "ray_init_seconds": round(ray_init, 2),
        "torch_threads_per_process": args.threads or "torch default",
        "load_average": list(os.getloadavg()),
        "results": rows,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_report(args.output, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
