"""Text-classification benchmark: spacy_ft_textcat (the head the shipped config trains)
against spaCy's textcat and Hugging Face sequence classification on the harness (SST-2,
ChnSentiCorp). ``spacy project run bench-classifier`` and ``bench-classifier-e5`` run it;
docs/benchmarks.md ("Text classifier") holds the results. ``--quick`` is a smoke run."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
from harness import INFER_BATCH, STRIDE, WINDOW, check

DEFAULT_OUTPUT = Path("benchmarks/results/classifier.json")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LABELS = ("NEG", "POS")  # index 0 / 1, as in both corpora (0 = negative, 1 = positive)
SYSTEM_TITLES = {
    "spacy_ft": "spacy_ft_textcat ({head[pooling]})",
    "spacy_textcat": "spaCy textcat (reduce_mean)",
    "hf": "HF BertForSeqCls",
}

# Targets from the project's claims (accuracy points).
TARGET_HF_MARGIN = 0.5
TARGET_SST2_ACC = 90.0


DATASETS = {name: harness.CORPORA[name] for name in ("sst2", "chnsenticorp")}
Item = tuple[str, int]  # (text, label index into LABELS)


@dataclass
class ClassifierResult(harness.Result):
    """One system on one dataset with one seed."""

    accuracy: float = float("nan")
    #: 1 where the dev doc was classified right, in dev order: pairs two systems doc by doc.
    correct: list[int] = field(default_factory=list)

    def set_predictions(self, predicted: Sequence[int], dev: Sequence[Item]) -> None:
        self.correct = [int(p == y) for p, (_, y) in zip(predicted, dev)]
        self.accuracy = 100.0 * statistics.fmean(self.correct)


STOCK_TEXTCAT = {
    "model": {
        "@architectures": "spacy.TextCatReduce.v1",
        "exclusive_classes": True,
        "use_reduce_first": False,
        "use_reduce_last": False,
        "use_reduce_max": False,
        "use_reduce_mean": True,
        "nO": None,
        "tok2vec": harness.LISTENER,
    }
}


def shipped_head(spec: harness.Corpus, args: argparse.Namespace) -> dict[str, Any]:
    """The spacy_ft_textcat head ``configs/<lang>_cpu.cfg`` (``zh_cpu_e5.cfg`` on a multilingual
    model) trains: the table measures what ships."""
    from thinc.api import Config

    config = "zh_cpu_e5.cfg" if spec.lang == "zh" and args.zh_model is not None else f"{spec.lang}_cpu.cfg"
    textcat = Config().from_disk(CONFIGS / config, interpolate=False)["components"]["textcat"]
    model = textcat["model"]
    return {
        "pooling": model.get("pooling", "cls"),
        "loss_reduction": textcat.get("loss_reduction", "sum"),
        "dropout": float(model.get("dropout", 0.1)),
        "output_init": model.get("output_init", "glorot"),
    }


def run_spacy(
    system: str,
    spec: harness.Corpus,
    setup: harness.Setup,
    train: list[Item],
    dev: list[Item],
    args: argparse.Namespace,
) -> ClassifierResult:
    """Train over the shared batches, then ``nlp.pipe`` the dev set (no head reads ``drop``)."""
    from spacy.training import Example

    result = ClassifierResult(system, spec.name, setup.settings.seed)
    t0 = time.perf_counter()
    harness.seed_everything(setup.settings.seed)
    head = shipped_head(spec, args)
    model = {key: head[key] for key in ("pooling", "dropout", "output_init")}
    component, config = ("spacy_ft_textcat", {"model": model, "loss_reduction": head["loss_reduction"]})
    if system != "spacy_ft":
        component, config = "textcat", STOCK_TEXTCAT
    nlp, name = harness.pipeline(spec.lang, setup.model, component, config, LABELS)

    def example(k: int) -> Example:
        text, y = train[k]
        return Example.from_dict(
            nlp.make_doc(text), {"cats": {c: float(i == y) for i, c in enumerate(LABELS)}}
        )

    harness.train_spacy(result, nlp, name, setup, spec.unit, example, [text for text, _ in train], t0)
    texts = [text for text, _ in dev]
    windows = []

    def read(doc: Any) -> int:
        windows.append(doc._.trf_data.wordpieces.input_ids.shape)
        return LABELS.index(max(doc.cats, key=doc.cats.get))

    def predict() -> list[int]:
        return [read(doc) for doc in nlp.pipe(texts, batch_size=INFER_BATCH)]

    result.set_predictions(harness.timed(result, texts, spec.unit, predict), dev)
    result.notes["dev_windows"] = sum(shape[0] for shape in windows)
    result.notes["max_wordpieces_per_window"] = max((s[1] if len(s) > 1 else 0 for s in windows), default=0)
    result.notes["loss"] = "squared error on softmax (its gradient p - y, summed over the batch)"
    if system == "spacy_ft":
        reduction = nlp.get_pipe(name).cfg["loss_reduction"]
        result.notes |= {"loss": f"weighted cross-entropy, {reduction} over the batch", "head": head}
    if args.save_pipelines is not None:
        seed = f"seed{result.seed}" if result.seed != args.seed else ""
        path = args.save_pipelines / seed / f"{spec.name}_{system}"
        path.parent.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(path)
        result.notes["saved_to"] = str(path)
    return result


def run_hf(
    spec: harness.Corpus, setup: harness.Setup, train: list[Item], dev: list[Item]
) -> ClassifierResult:
    """``AutoModelForSequenceClassification`` in the harness's PyTorch loop."""
    import torch
    from transformers import AutoModelForSequenceClassification

    result = ClassifierResult("hf", spec.name, setup.settings.seed)
    t0 = time.perf_counter()
    harness.seed_everything(setup.settings.seed)
    tokenizer, net = harness.load_hf(
        AutoModelForSequenceClassification, setup.model, setup.settings.dropout, num_labels=2
    )

    def encode(texts: Sequence[str]) -> Any:
        return tokenizer(list(texts), truncation=True, max_length=WINDOW, padding=True, return_tensors="pt")

    def loss_of(batch: list[int]) -> Any:
        return net(
            **encode([train[i][0] for i in batch]), labels=torch.tensor([train[i][1] for i in batch])
        ).loss

    harness.train_hf(result, net, setup, spec.unit, [text for text, _ in train], loss_of, t0)
    truncated = 0

    def predict(texts: Sequence[str]) -> list[int]:
        nonlocal truncated
        encoded = encode(texts)
        truncated += int((encoded["attention_mask"].sum(dim=1) >= WINDOW).sum())
        return net(**encoded).logits.argmax(dim=-1).tolist()

    texts = [text for text, _ in dev]
    result.set_predictions(
        harness.timed(result, texts, spec.unit, lambda: harness.in_batches(texts, predict)), dev
    )
    head = "BERT pooler (dense+tanh on [CLS]) -> dropout -> linear"
    result.notes |= {"dev_docs_at_max_length_128": truncated, "loss": "cross-entropy", "head": head}
    return result


def run_dataset(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any] | None:
    """Every requested system on one dataset, once per seed (``--runs``; medians compared)."""
    spec = DATASETS[name]
    if spec.missing():
        return None
    all_train, all_dev = harness.read_tsv(spec.train, spec.fmt), harness.read_tsv(spec.dev, spec.fmt)
    seeds = [args.seed + i for i in range(args.runs(spec.name))]
    results: list[ClassifierResult] = []
    for seed in seeds:
        rng = random.Random(seed)
        train = harness.subsample(all_train, args.train_size(spec.name), rng)
        dev = harness.subsample(all_dev, args.dev_size(spec.name), rng)
        for split, items, full in (("train", train, all_train), ("dev", dev, all_dev)):
            pos, units = sum(y for _, y in items), harness.count_units([t for t, _ in items], spec.unit)
            print(
                f"{spec.name}: {split} {len(items)} of {len(full)} (seed {seed}; {pos} POS / "
                f"{len(items) - pos} NEG; {units} {spec.unit})"
            )
        texts = [text for text, _ in train]
        setup = harness.prepare_setup(spec.name, spec.lang, args, workdir, seed, texts, texts)
        if seed == seeds[0]:
            first = (train, dev, setup)
        results.extend(run_seed(spec, args, setup, train, dev))
    train, dev, setup = first  # sizes and settings other than the seed are the same for every seed
    sizes = harness.split_sizes(spec.unit, [t for t, _ in train], [t for t, _ in dev], all_train, all_dev)
    return (
        harness.dataset_record(spec, setup, results) | sizes | {"seeds": seeds, "summary": summarize(results)}
    )


def run_seed(
    spec: harness.Corpus, args: argparse.Namespace, setup: harness.Setup, train: list[Item], dev: list[Item]
) -> list[ClassifierResult]:
    """Every requested system on one seed's shared setup."""

    def run_one(system: str) -> list[ClassifierResult]:
        if system == "hf":
            return [run_hf(spec, setup, train, dev)]
        return [run_spacy(system, spec, setup, train, dev, args)]

    return harness.run_systems(spec.name, args.systems, run_one, lambda r: f"acc {r.accuracy:.2f}%")


MEDIAN_FIELDS = ("accuracy", "train_units_per_s", "infer_units_per_s", "train_s", "infer_s", "wall_s")


def summarize(results: list[ClassifierResult]) -> list[dict[str, Any]]:
    """Per system: the median of each measurement over the seeds, and the accuracies themselves."""
    summary = []
    for system in dict.fromkeys(result.system for result in results):
        own = [result for result in results if result.system == system]
        row: dict[str, Any] = {"system": system, "notes": own[0].notes}
        row.update({name: statistics.median(getattr(r, name) for r in own) for name in MEDIAN_FIELDS})
        row["accuracy_per_seed"] = {r.seed: r.accuracy for r in own}
        summary.append(row)
    return summary


def compared(
    check: str, data: dict[str, Any], acc: dict[str, float], a: str, b: str, margin: float
) -> dict[str, Any]:
    """ "A >= B - margin" on the medians, with the paired interval of A - B on the dev docs of each seed."""
    runs_b = {r["seed"]: r["correct"] for r in data["results"] if r["system"] == b}
    pairs = [(r["correct"], runs_b[r["seed"]]) for r in data["results"] if r["system"] == a]
    return harness.gap_check(check, acc[a], acc[b], harness.paired_difference(pairs), margin)


def checks(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The project's targets, wherever the systems they compare were run."""
    found = []
    for data in datasets:
        acc = {r["system"]: r["accuracy"] for r in data["summary"]}
        name = data["dataset"]
        if len(data["seeds"]) > 1:
            name = f"{name} (median of {len(data['seeds'])} seeds)"
        if "spacy_ft" in acc and "hf" in acc:
            title = f"{name}: spacy_ft >= HF - {TARGET_HF_MARGIN} points"
            found.append(compared(title, data, acc, "spacy_ft", "hf", TARGET_HF_MARGIN))
        if "spacy_ft" in acc and "spacy_textcat" in acc:
            found.append(
                compared(f"{name}: spacy_ft >= spaCy textcat", data, acc, "spacy_ft", "spacy_textcat", 0.0)
            )
        if data["dataset"] == "sst2" and "spacy_ft" in acc:
            title, ours = f"sst2: spacy_ft dev >= {TARGET_SST2_ACC:g} (MiniLM)", acc["spacy_ft"]
            found.append(check(title, f"{ours:.2f}", ours >= TARGET_SST2_ACC))
    return found


def format_table(datasets: list[dict[str, Any]]) -> str:
    """Medians over the seeds; each seed's accuracy in the last column when there are several."""
    header = ("dataset", "system", "dev acc %", *harness.TIMING_COLUMNS, "unit", "per seed")
    rows = []
    for data in datasets:
        for r in data["summary"]:
            per_seed = r["accuracy_per_seed"]
            seeds = " / ".join(f"{acc:.2f}" for acc in per_seed.values()) if len(per_seed) > 1 else ""
            title = SYSTEM_TITLES[r["system"]].format(**r["notes"])
            rows.append(
                (
                    data["dataset"],
                    title,
                    f"{r['accuracy']:.2f}",
                    *harness.timing_cells(r),
                    data["unit"],
                    seeds,
                )
            )
    return harness.table(header, rows, "llrrrrrrll")


def print_notes(datasets: list[dict[str, Any]]) -> None:
    print("units: sst2 = whitespace words, chnsenticorp = characters (non-space); u/s = units per second")
    print(
        f"inference: dev set, batch {INFER_BATCH} (nlp.pipe vs HF batched forward under torch.no_grad); "
        "train s excludes model loading"
    )
    print(
        f"lengths: HF truncates at {WINDOW} wordpieces; spaCy windows docs (strided spans of {WINDOW} "
        f"spaCy tokens, stride {STRIDE}) and sees the whole text"
    )
    for data in datasets:
        notes = {r["system"]: r["notes"] for r in data["results"]}
        if "hf" in notes:
            print(
                f"{data['dataset']}: HF truncated {notes['hf']['dev_docs_at_max_length_128']} of "
                f"{data['dev_size']} dev docs (its u/s still counts their whole text)"
            )
        spacy_notes = notes.get("spacy_ft") or notes.get("spacy_textcat")
        if spacy_notes:
            print(
                f"{data['dataset']}: spaCy saw {spacy_notes['dev_windows']} windows for {data['dev_size']} "
                f"dev docs, longest {spacy_notes['max_wordpieces_per_window']} wordpieces"
            )
        if not data["model"]["pretrained"]:
            print(f"{data['dataset']}: {data['model']['description']} (same initial weights for all systems)")


# Full-run defaults: docs/benchmarks.md ("How the scripts measure") says how they were chosen.
DEFAULTS = {
    "train_size": "sst2=25600,chnsenticorp=0",
    "dev_size": "sst2=1500,chnsenticorp=0",
    "steps": "sst2=800,chnsenticorp=300",
    "lr": "sst2=2e-4,chnsenticorp=1e-3",
    "runs": "sst2=1,chnsenticorp=3",
}
QUICK = {"train_size": "128", "dev_size": "64", "steps": "20", "batch_size": 8, "runs": "1"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = harness.training_parser(__doc__, DATASETS, ("spacy_ft", "spacy_textcat", "hf"), DEFAULT_OUTPUT)
    runs = "seeds per dataset (seed, seed + 1, ...), medians reported (default sst2=1, chnsenticorp=3)"
    parser.add_argument("--runs", type=lambda text: harness.PerDataset(int, text, DATASETS), help=runs)
    parser.add_argument(
        "--save-pipelines", type=Path, help="write each trained spaCy pipeline to DIR/<dataset>_<system>"
    )
    return harness.finish_args(parser, argv, DEFAULTS, QUICK, quick_hidden=64)


def main(argv: Sequence[str] | None = None) -> int:
    # Before torch loads libgomp: sleeping, not spinning, OpenMP threads (see docs/benchmarks.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_args(argv)
    settings = {
        "dropout": "spacy_ft: the head's own rate (shipped_head); HF: classifier_dropout 0.1; "
        "0.1 inside the transformer for all",
        "runs": args.runs.as_dict(args.datasets),
        "spacy_ft_head": {name: shipped_head(DATASETS[name], args) for name in args.datasets},
        "hf_max_length": WINDOW,
    }
    title = "text classification: spacy_ft_textcat vs spaCy textcat vs Hugging Face"
    return harness.run_training_benchmark(
        args, title, run_dataset, format_table, print_notes, checks, settings
    )


if __name__ == "__main__":
    sys.exit(main())
