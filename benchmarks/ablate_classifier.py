"""Ablations of spacy_ft_textcat's head on one dataset, over several seeds.

Why this script exists: on ChnSentiCorp, where the Chinese character BERT is
trained from scratch, stock textcat beats spacy_ft_textcat by about a point and
one seed moves a system by several points. The benchmarks page's list of what was tried
(pooling, loss reduction, zero-initialised output layer, head dropout) comes from
here, so anyone can rerun it. Every variant shares bench_classifier's setup per
seed (subsample, initial weights, batches, optimizer); stock textcat runs once
per seed as the reference.

    python benchmarks/ablate_classifier.py                        # ~17 min on 2 cores
    python benchmarks/ablate_classifier.py --variants "cls/sum/0.1/zero,mean/mean/0/zero"

A variant is ``pooling/loss_reduction/head dropout/output_init`` (``output_init``:
``glorot``, thinc's default, or ``zero``); ``shipped`` is the head the dataset's
``configs/<lang>_cpu.cfg`` trains.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_classifier

from bench_classifier import (  # noqa: E402
    DATASETS,
    DEFAULTS,
    HeadVariant,
    parse_args,
    prepare_seed,
    read_tsv,
    run_spacy,
    shipped_head,
)
from bench_common import quiet_libraries, versions  # noqa: E402

from spacy_ft.textcat.model import OUTPUT_INITS  # noqa: E402

DEFAULT_VARIANTS = (
    "cls/mean/0.1/glorot,cls/sum/0.1/glorot,cls/sum/0.1/zero,mean/sum/0.1/glorot,mean/sum/0/zero"
)
DEFAULT_OUTPUT = Path("benchmarks/results/classifier_ablation.json")


def parse_variant(text: str, lang: str) -> HeadVariant:
    if text.strip() == "shipped":
        return shipped_head(lang)
    parts = text.strip().split("/")
    if len(parts) != 4 or parts[3] not in OUTPUT_INITS:
        raise argparse.ArgumentTypeError(
            f"variant {text!r}: expected pooling/loss_reduction/dropout/output_init, e.g. cls/sum/0.1/zero"
        )
    pooling, reduction, dropout, output_init = parts
    try:
        rate = float(dropout)
    except ValueError:
        raise argparse.ArgumentTypeError(f"variant {text!r}: dropout {dropout!r} is not a number") from None
    return HeadVariant(pooling, reduction, rate, output_init)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="chnsenticorp", choices=sorted(DATASETS))
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated, see the module doc")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--no-stock", action="store_true", help="skip the stock textcat reference runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    own, rest = parser.parse_known_args(argv)
    names = [text.strip() for text in own.variants.split(",") if text.strip()]
    try:
        variants = [parse_variant(name, DATASETS[own.dataset].lang) for name in names]
    except argparse.ArgumentTypeError as err:
        parser.error(str(err))
    seeds = [int(seed) for seed in own.seeds.split(",")]
    args = parse_args(["--datasets", own.dataset, *rest])  # sizes, steps, lr, model shape as the benchmark
    import torch

    torch.set_num_threads(args.threads)
    quiet_libraries()
    spec = DATASETS[own.dataset]
    all_train, all_dev = read_tsv(spec.train, spec.text_column), read_tsv(spec.dev, spec.text_column)
    systems = ([("spacy_textcat", "stock textcat", HeadVariant())] if not own.no_stock else []) + [
        ("spacy_ft", name, head) for name, head in zip(names, variants)
    ]
    runs: list[dict[str, Any]] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ablate_classifier_") as tmp:
        for seed in seeds:
            setup = prepare_seed(spec, args, Path(tmp), seed, all_train, all_dev)
            for system, name, head in systems:
                result = run_spacy(
                    system,
                    spec,
                    setup.model,
                    setup.train,
                    setup.dev,
                    setup.batches,
                    setup.settings,
                    head,
                )
                print(f"{name} seed {seed}: {result.accuracy:.2f}", file=sys.stderr, flush=True)
                runs.append(
                    {"variant": name, "seed": seed, "accuracy": result.accuracy, "train_s": result.train_s}
                )
    wall = time.perf_counter() - start

    print(f"\n{own.dataset}, {args.steps(own.dataset)} steps, seeds {seeds}: dev accuracy %")
    print(f"{'variant (pooling/reduction/dropout/init)':<42} {'median':>7}  per seed")
    for _, name, _ in systems:
        accs = [run["accuracy"] for run in runs if run["variant"] == name]
        print(f"{name:<42} {statistics.median(accs):>7.2f}  {' / '.join(f'{a:.2f}' for a in accs)}")
    print(f"\ntotal wall time {wall:.0f}s")
    report = {
        "benchmark": "spacy_ft_textcat head ablations",
        "dataset": own.dataset,
        "seeds": seeds,
        "steps": args.steps(own.dataset),
        "defaults": DEFAULTS,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "versions": versions(),
        "runs": runs,
        "wall_s": wall,
    }
    own.output.parent.mkdir(parents=True, exist_ok=True)
    own.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {own.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
