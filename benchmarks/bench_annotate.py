"""Batch annotation docs/s end to end through ``annotate_corpus``: the local engine
(``nlp.pipe``, 1 and 2 processes) against Ray Data (1 and 2 actors) on a tiny untrained
random-BERT NER pipeline, with each Ray output checked byte-identical to the local one.
``spacy project run bench-annotate`` runs it; docs/benchmarks.md ("Batch annotation") says
what it measures and holds the results. Smoke run: ``--docs 1000 --rounds 1``."""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness import (
    ModelInfo,
    jsonl_texts,
    pipeline,
    quiet_libraries,
    rotated,
    script_parser,
    table,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "assets" / "en_demo_train.jsonl"
SYSTEMS = (
    ("local n_process=1", "local", {"n_process": 1}),
    ("local n_process=2", "local", {"n_process": 2}),
    ("ray 1 actor", "ray", {"actors": 1}),
    ("ray 2 actors", "ray", {"actors": 2}),
)
LAYERS = 2
BUDGET_SECONDS = 540.0  # no round starts that would end after this


def build_pipeline(directory: Path, texts: list[str], hidden: int) -> Path:
    """Tiny random BERT + spacy_ft_ner + spacy_ft_trf_cleanup (as every shipped config), initialised, saved."""
    from spacy.training import Example
    from thinc.api import fix_random_seed

    from spacy_ft.testing import make_tiny_bert

    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    bert = make_tiny_bert(
        directory / "bert", texts, hidden_size=hidden, layers=LAYERS, heads=2, max_position=128
    )
    nlp, _ = pipeline("en", ModelInfo(str(bert), str(bert), "random tiny BERT", False, 128, 0))
    nlp.add_pipe("spacy_ft_ner")
    nlp.add_pipe("spacy_ft_trf_cleanup")  # or n_process would ship the tensors back with every doc
    examples = [
        Example.from_dict(nlp.make_doc(r["text"]), {"entities": [tuple(e) for e in r["entities"]]})
        for r in records[:50]
    ]
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    nlp.to_disk(directory / "pipeline")
    return directory / "pipeline"


def main(argv: Sequence[str] | None = None) -> int:
    parser = script_parser(__doc__, ROOT / "benchmarks" / "results" / "annotate.json")
    parser.add_argument("--docs", type=int, default=10_000, help="corpus lines (default: 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per system (default: 3)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64, help="BERT hidden size (default: 64)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (0: torch default)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # n_process forks after tokenizing
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported: Ray's actors get 1 too
    quiet_libraries()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench_annotate_"))
    texts = jsonl_texts(CORPUS)
    corpus = work / "corpus.txt"
    corpus.write_text("".join(texts[i % len(texts)] + "\n" for i in range(args.docs)), encoding="utf-8")
    print(f"Building the pipeline (random BERT hidden {args.hidden}, {LAYERS} layers) ...", file=sys.stderr)
    model = build_pipeline(work, texts, args.hidden)

    import ray

    from spacy_ft.annotation import annotate_corpus

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
    rounds, last_round = 0, 0.0
    try:
        while rounds < args.rounds and (
            rounds == 0 or time.perf_counter() - started + last_round < BUDGET_SECONDS
        ):
            round_start = time.perf_counter()
            for name, engine, settings in rotated(SYSTEMS, rounds):
                out = work / f"out-{name}.jsonl"
                found = annotate_corpus(
                    model, corpus, out, "doccano", engine=engine, batch_size=args.batch_size, **settings
                )
                assert found.written == args.docs, (name, found.written)
                timings[name].append(found.seconds)
                print(
                    f"  round {rounds + 1} {name}: {found.written / found.seconds:.0f} docs/s",
                    file=sys.stderr,
                    flush=True,
                )
            rounds += 1
            last_round = time.perf_counter() - round_start
            reference = (work / f"out-{SYSTEMS[0][0]}.jsonl").read_bytes()
            for name, _, _ in SYSTEMS[1:]:
                identical[name] = (
                    identical.get(name, True) and (work / f"out-{name}.jsonl").read_bytes() == reference
                )
    finally:
        ray.shutdown()

    base = statistics.median(timings[SYSTEMS[0][0]])
    rows = []
    for name, engine, settings in SYSTEMS:
        median = statistics.median(timings[name])
        rows.append(
            {"system": name, "engine": engine, **settings, "median_seconds": round(median, 2)}
            | {"docs_per_second": round(args.docs / median, 1), "ratio_vs_local_1": round(base / median, 3)}
            | {
                "seconds": [round(t, 2) for t in timings[name]],
                "output_identical_to_local_1": identical.get(name, True),
            }
        )
    threads = args.threads or "default"
    print(
        f"\n{args.docs} docs, batch {args.batch_size}, {rounds} rounds, medians, {threads} torch threads/process; "
        f"ray.init {ray_init:.1f}s (not in the runs)"
    )
    header = ("system", "docs/s", "median s", "vs local 1", "identical")
    cells = [
        (r["system"], f"{r['docs_per_second']:.1f}", f"{r['median_seconds']:.2f}")
        + (f"{r['ratio_vs_local_1']:.2f}x", r["output_identical_to_local_1"])
        for r in rows
    ]
    print(table(header, cells, "lrrrl"))
    results = {
        "benchmark": "annotate",
        "command": "python benchmarks/bench_annotate.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "docs": args.docs,
        "batch_size": args.batch_size,
        "rounds": rounds,
        "pipeline": f"spacy.blank('en') + transformer (random BERT hidden {args.hidden}, {LAYERS} layers, 2 heads; "
        "spacy_ft.TransformerModel.v1, window 128/96) + spacy_ft_ner + spacy_ft_trf_cleanup, untrained",
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
