"""fp32 vs int8 (``python -m spacy_ft quantize``) and the ONNX Runtime backend on the demo pipelines.

For the English (MiniLM-L6) and the Chinese (random-init character BERT) pipeline,
four pipelines loaded with plain ``spacy.load``: fp32 torch (the baseline), torch
dynamic int8 (``--backend torch``), ONNX Runtime dynamic int8 and ONNX Runtime
fp32 (``--backend onnx``, ``--quantization int8`` / ``none``):

* words/s of ``nlp.pipe`` at batch size 1 and 64 ("words" = spaCy tokens, jieba
  words for Chinese), all systems timed in alternation within every repeat so
  the shared machine's drift hits them alike; medians of ``--repeats`` and the
  median of per-repeat ratios to fp32;
* size on disk of each pipeline directory and its transformer;
* dev scores (``cats_score``, ``ents_f``) of each, and how often each predicts
  exactly the fp32 entities / the same top class;
* encoder only (no spaCy, no heads, no tokenization): each pipeline's encoder
  (torch module or ONNX Runtime session) on the *same* wordpiece batches.

``torch.set_num_threads(--threads)`` and ORT's ``intra_op_num_threads`` use the
same count. Pipelines come from the demo workflow (``spacy project run all``
writes training/{en,zh}/model-best) or ``--en-model`` / ``--zh-model``; a
missing one is skipped with a message. Run from the repository root::

    python benchmarks/bench_quantize.py                  # ~5 min on 2 cores
    python benchmarks/bench_quantize.py --skip-onnx --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from harness import (
    DATA_ROOT,
    entity_counts,
    paired_difference,
    paired_f1_difference,
    quiet_libraries,
    read_tsv,
    table,
    write_report,
)

DEFAULT_OUTPUT = Path("benchmarks/results/quantize.json")
TARGET_SPEEDUP = 1.5
TARGET_LOSS_POINTS = 1.0
#: Real text for accuracy and agreement (the demo dev sets are templates): sentiment
#: corpora whose 0/1 labels are the demo classifiers' NEG/POS, in words the demo
#: models never saw. (path, text column).
REAL_TEXTS = {
    "en": (DATA_ROOT / "sst2/alps_dev_split.tsv", "sentence"),
    "zh": (DATA_ROOT / "chnsenticorp/dev.tsv", "text_a"),
}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dev_examples(nlp: Any, lang: str, dev: Path | None = None) -> list:
    """Gold docs, tokenized by the pipeline itself: a DocBin (``--zh-dev``, say Resume
    dev converted by ``python -m spacy_ft convert``) or the committed demo dev set."""
    from spacy.tokens import DocBin
    from spacy.training import Example

    from spacy_ft.corpora import read_samples, samples_to_docs

    if dev is not None:
        docs = list(DocBin().from_disk(dev).get_docs(nlp.vocab))
    else:
        docs, _ = samples_to_docs(nlp, read_samples(f"assets/{lang}_demo_dev.jsonl", "jsonl"))
    return [Example(nlp.make_doc(doc.text), doc) for doc in docs]


def real_texts(lang: str, limit: int) -> list[tuple[str, str]]:
    """(text, NEG/POS) for the first ``limit`` rows of a public sentiment corpus, or []
    (with a message) when it is missing."""
    path, text_column = REAL_TEXTS[lang]
    if not path.is_file():
        print(f"[{lang}] no real-text check: {path} not found", file=sys.stderr)
        return []
    return [(text, ("NEG", "POS")[label]) for text, label in read_tsv(path, text_column)[:limit]]


def correctness(found: list[dict[str, Any]], labels: Sequence[str]) -> list[int]:
    """1 where a doc's top class is the corpus label."""
    return [int(max(d["cats"], key=d["cats"].get) == y) for d, y in zip(found, labels)]


def outputs(nlp: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    from spacy_ft.packaging import predictions

    return predictions(nlp, texts)


def char_spans(doc: Any) -> list[tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def scores(nlp: Any, examples: list) -> tuple[dict[str, float], list[tuple[int, int, int]]]:
    """Dev scores, and per doc (tp, fp, fn) of exact entity spans (what the paired
    bootstrap of a quantized pipeline's F1 against fp32 resamples), from one prediction
    pass: what ``nlp.evaluate`` does, keeping the predicted docs it would discard."""
    from spacy.scorer import Scorer
    from spacy.training import Example

    docs = nlp.pipe((eg.reference.text for eg in examples), batch_size=nlp.batch_size)
    predicted = [Example(doc, eg.reference) for doc, eg in zip(docs, examples, strict=True)]
    found = Scorer(nlp).score(predicted)
    counts = entity_counts(
        [char_spans(eg.reference) for eg in predicted], [set(char_spans(eg.predicted)) for eg in predicted]
    )
    return {key: round(100 * float(found.get(key) or 0.0), 2) for key in ("cats_score", "ents_f")}, counts


#: The pipelines compared: fp32 torch (baseline), torch int8, ONNX Runtime int8 and fp32.
SYSTEMS = {
    "int8": {"backend": "torch", "quantization": "int8"},
    "onnx_int8": {"backend": "onnx", "quantization": "int8"},
    "onnx_fp32": {"backend": "onnx", "quantization": "none"},
}


def alternating_words_per_s(
    runners: dict[str, Callable[[], Any]], warm_ups: dict[str, Callable[[], Any]], words: int, repeats: int
) -> dict[str, list[float]]:
    """words/s of every runner in each of ``repeats`` rounds, after one warm-up each
    (allocator, thread pools, tokenizer caches); the order alternates between rounds
    so the shared machine's drift hits all systems alike."""
    for warm_up in warm_ups.values():
        warm_up()
    runs: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(repeats):
        order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
        for name in order:
            runs[name].append(words / timed(runners[name]))
    return runs


def medians_and_ratios(runs: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Median words/s per system, and the median of per-round ratios to fp32."""
    medians = {f"{name}_words_per_s": round(statistics.median(values), 1) for name, values in runs.items()}
    ratios = {
        name: round(statistics.median(v / f for v, f in zip(values, runs["fp32"])), 3)
        for name, values in runs.items()
    }
    return medians, ratios


def pipe_speed(systems: dict[str, Any], texts: Sequence[str], words: int, repeats: int) -> dict[str, Any]:
    """``nlp.pipe`` words/s per system and batch size, with speedups over fp32."""
    result: dict[str, Any] = {}
    for batch_size in (1, 64):
        runs = alternating_words_per_s(
            {
                name: lambda n=nlp, b=batch_size: list(n.pipe(texts, batch_size=b))
                for name, nlp in systems.items()
            },
            {
                name: lambda n=nlp, b=batch_size: list(n.pipe(texts[:8], batch_size=b))
                for name, nlp in systems.items()
            },
            words,
            repeats,
        )
        medians, ratios = medians_and_ratios(runs)
        result[f"batch_{batch_size}"] = {
            **medians,
            "speedup": {name: ratio for name, ratio in ratios.items() if name != "fp32"},
            "runs": {name: [round(v, 1) for v in values] for name, values in runs.items()},
        }
    return result


def wordpiece_batches(nlp: Any, texts: Sequence[str], batch_size: int) -> list[dict[str, Any]]:
    """The encoder inputs the pipeline's transformer builds for these texts (same windows)."""
    from spacy_transformers.layers.transformer_model import huggingface_tokenize

    model = nlp.get_pipe("transformer").model
    batches = []
    for start in range(0, len(texts), batch_size):
        docs = [nlp.make_doc(text) for text in texts[start : start + batch_size]]
        spans = [span for doc_spans in model.attrs["get_spans"](docs) for span in doc_spans]
        data = huggingface_tokenize(model.tokenizer, [span.text for span in spans])
        batch = {"input_ids": data["input_ids"], "attention_mask": data["attention_mask"]}
        if "token_type_ids" in data:
            batch["token_type_ids"] = data["token_type_ids"]
        batches.append(batch)
    return batches


def encoder_speed(systems: dict[str, Any], texts: Sequence[str], words: int, repeats: int) -> dict[str, Any]:
    """Encoder-only words/s of each pipeline's encoder (torch module or ONNX Runtime
    session) on the same wordpiece batches: what the backend itself gains, without
    tokenization and heads."""
    import torch

    def run(encoder: Any, batches: list) -> None:
        with torch.inference_mode():
            for batch in batches:
                encoder(**{k: torch.from_numpy(v) for k, v in batch.items()})

    encoders = {name: nlp.get_pipe("transformer").model.transformer.eval() for name, nlp in systems.items()}
    result: dict[str, Any] = {}
    for batch_size in (1, 64):
        batches = wordpiece_batches(systems["fp32"], texts, batch_size)
        runs = alternating_words_per_s(
            {name: lambda e=encoder, b=batches: run(e, b) for name, encoder in encoders.items()},
            {name: lambda e=encoder, b=batches[:2]: run(e, b) for name, encoder in encoders.items()},
            words,
            repeats,
        )
        medians, ratios = medians_and_ratios(runs)
        result[f"batch_{batch_size}"] = {**medians, "vs_fp32": ratios}
    return result


def run_language(lang: str, model_dir: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import spacy

    from spacy_ft.inference.quantize import directory_size, prediction_agreement, quantize_pipeline

    names = ["fp32", *(name for name in SYSTEMS if args.skip_onnx is False or not name.startswith("onnx"))]
    dirs, quantize_seconds, reports = {"fp32": model_dir}, {}, {}
    for name in names[1:]:
        dirs[name] = workdir / f"{lang}_{name}"
        started = time.perf_counter()
        reports[name] = quantize_pipeline(model_dir, dirs[name], threads=args.threads, **SYSTEMS[name])
        quantize_seconds[name] = round(time.perf_counter() - started, 1)
    systems = {name: spacy.load(path) for name, path in dirs.items()}
    dev = getattr(args, f"{lang}_dev")
    examples = dev_examples(systems["fp32"], lang, dev)
    texts = [eg.reference.text for eg in examples][: args.max_docs]
    words = sum(len(eg.predicted) for eg in examples[: len(texts)])
    chars = sum(len(text) for text in texts)
    print(f"[{lang}] {len(texts)} dev docs, {words} spaCy tokens; timing nlp.pipe ...", file=sys.stderr)
    found, counts = {}, {}
    for name, nlp in systems.items():
        found[name], counts[name] = scores(nlp, examples)
    expected = outputs(systems["fp32"], texts)
    result: dict[str, Any] = {
        "model_dir": str(model_dir),
        "dev": str(dev) if dev else f"assets/{lang}_demo_dev.jsonl",
        "docs": len(texts),
        "words": words,
        "chars": chars,
        "quantize_seconds": quantize_seconds,
        "linear_layers": reports["int8"].linear_layers,
        "size_bytes": {name: directory_size(path) for name, path in dirs.items()},
        "transformer_bytes": {
            name: directory_size(Path(path) / "transformer") for name, path in dirs.items()
        },
        "scores": found,
        "loss_points": {
            name: {key: round(found["fp32"][key] - found[name][key], 2) for key in found["fp32"]}
            for name in names[1:]
        },
        "agreement": {
            name: prediction_agreement(expected, outputs(systems[name], texts)) for name in names[1:]
        },
    }
    if any(eg.reference.ents for eg in examples):
        # quantized minus fp32 entity F1, paired over dev docs: is a loss more than noise?
        result["ents_vs_fp32"] = {
            name: paired_f1_difference(counts[name], counts["fp32"]) for name in names[1:]
        }
    # Sentiment accuracy needs a classifier: an NER-only pipeline (Resume) has none.
    real = real_texts(lang, args.real_docs) if "textcat" in systems["fp32"].pipe_names else []
    if real:
        print(
            f"[{lang}] accuracy and agreement on {len(real)} texts of {REAL_TEXTS[lang][0].parent.name} ...",
            file=sys.stderr,
        )
        real_texts_only, labels = [t for t, _ in real], [y for _, y in real]
        found_real = {name: outputs(nlp, real_texts_only) for name, nlp in systems.items()}
        correct = {name: correctness(found, labels) for name, found in found_real.items()}
        result["real_text"] = {
            "source": str(REAL_TEXTS[lang][0].relative_to(DATA_ROOT)),
            "docs": len(real),
            "accuracy": {name: round(100 * statistics.fmean(hits), 2) for name, hits in correct.items()},
            "agreement": {
                name: prediction_agreement(found_real["fp32"], found_real[name]) for name in names[1:]
            },
            # quantized minus fp32, paired on the same texts: is a loss more than noise?
            "vs_fp32": {name: paired_difference([(correct[name], correct["fp32"])]) for name in names[1:]},
        }
    result["pipe"] = pipe_speed(systems, texts, words, args.repeats)
    for row in result["pipe"].values():  # characters/s: the unit of the Chinese benchmarks
        row["chars_per_s"] = {name: round(row[f"{name}_words_per_s"] * chars / words, 1) for name in systems}
    print(f"[{lang}] encoder only ...", file=sys.stderr)
    result["encoder"] = encoder_speed(systems, texts, words, args.repeats)
    return result


def print_table(report: dict[str, Any]) -> None:
    print(f"\nfp32 vs int8 / ONNX Runtime, {report['threads']} threads, medians of {report['repeats']}")
    header = (
        "pipeline",
        "system",
        "b1 w/s",
        "x fp32",
        "b64 w/s",
        "x fp32",
        "MB",
        "cats",
        "ents_f",
        "agreement",
    )
    rows = []
    for lang, data in report["languages"].items():
        for name, size in data["size_bytes"].items():
            cells = []
            for batch in ("batch_1", "batch_64"):
                row = data["pipe"][batch]
                cells += [f"{row[f'{name}_words_per_s']:.0f}", f"{row['speedup'].get(name, 1.0):.2f}x"]
            sc = data["scores"][name]
            rows.append(
                [lang, name, *cells, f"{size / 1e6:.1f}", f"{sc['cats_score']:.2f}", f"{sc['ents_f']:.2f}"]
            )
            rows[-1].append(data["agreement"].get(name, ""))
    print(table(header, rows, "llrrrrrrrl"))
    for lang, data in report["languages"].items():
        cells = "  ".join(
            f"{name} {data['pipe']['batch_1']['chars_per_s'][name]:.0f} / {data['pipe']['batch_64']['chars_per_s'][name]:.0f}"
            for name in data["size_bytes"]
        )
        print(f"[{lang}] chars/s at batch 1 / 64 ({data['chars']} chars of {data['dev']}): {cells}")
    for lang, data in report["languages"].items():
        for name, paired in data.get("ents_vs_fp32", {}).items():
            low, high = paired["ci95"]
            print(
                f"[{lang}] {name} entity F1 minus fp32: {paired['difference']:+.2f} [{low:+.2f}, {high:+.2f}]"
            )
    for lang, data in report["languages"].items():
        if "real_text" in data:
            real = data["real_text"]
            print(
                f"\n[{lang}] on {real['docs']} texts of {real['source']}: sentiment accuracy, agreement with fp32"
            )
            for name, value in real["accuracy"].items():
                paired = real["vs_fp32"].get(name)  # fp32 is the reference: no entry
                delta = (
                    f"vs fp32 {paired['difference']:+.2f} [{paired['ci95'][0]:+.2f}, {paired['ci95'][1]:+.2f}]  "
                    if paired
                    else ""
                )
                print(f"  {name:10} acc {value:6.2f}  {delta}{real['agreement'].get(name, '')}")
    for lang, data in report["languages"].items():
        print(f"\n[{lang}] encoder only (same wordpiece batches), words/s (ratio to torch fp32):")
        for batch in ("batch_1", "batch_64"):
            row = data["encoder"][batch]
            cells = "  ".join(
                f"{k[:-12]} {v:.0f} ({row['vs_fp32'][k[:-12]]:.2f}x)"
                for k, v in row.items()
                if k.endswith("_words_per_s")
            )
            print(f"  batch {batch[6:]:>2}: {cells}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--en-model", type=Path, default=Path("training/en/model-best"))
    parser.add_argument("--zh-model", type=Path, default=Path("training/zh/model-best"))
    parser.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads and ORT intra-op threads"
    )
    for lang in ("en", "zh"):
        parser.add_argument(
            f"--{lang}-dev",
            type=Path,
            default=None,
            help=f"gold {lang} docs (.spacy) for scores and timing instead of assets/{lang}_demo_dev.jsonl",
        )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-docs", type=int, default=200, help="dev docs timed per pass")
    parser.add_argument("--skip-onnx", action="store_true", help="only fp32 and torch int8")
    parser.add_argument(
        "--real-docs",
        type=int,
        default=7000,
        help="public-corpus texts for accuracy and agreement (default: all of SST-2's 6,735 and ChnSentiCorp's "
        "1,200 dev texts; 500 gave a point of noise either way; 0: off)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    quiet_libraries()
    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "threads": args.threads,
        "repeats": args.repeats,
        "targets": {"speedup": TARGET_SPEEDUP, "max_loss_points": TARGET_LOSS_POINTS},
        "languages": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for lang, model_dir in (("en", args.en_model), ("zh", args.zh_model)):
            if not (model_dir / "config.cfg").is_file():
                print(
                    f"[{lang}] skipped: no pipeline at {model_dir} (run `spacy project run all` first)",
                    file=sys.stderr,
                )
                continue
            report["languages"][lang] = run_language(lang, model_dir, args, Path(tmp))
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_table(report)
    write_report(args.output, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
