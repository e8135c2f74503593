"""fp32 against int8 (``python -m spacy_ft quantize``, torch and ONNX Runtime backends) and
ONNX Runtime fp32: words/s of ``nlp.pipe`` at batch 1 and 64, size, dev scores with paired
intervals, agreement with fp32 and the encoder alone. ``spacy project run bench-quantize``
and ``bench-quantize-e5`` run it; docs/benchmarks.md ("Inference: int8 and ONNX Runtime on
the demo pipelines") holds the results. Smoke run: ``--skip-onnx --repeats 1``."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import (
    CORPORA,
    DATA_ROOT,
    entity_counts,
    paired_difference,
    paired_f1_difference,
    quiet_libraries,
    read_tsv,
    script_parser,
    table,
    write_report,
)

DEFAULT_OUTPUT = Path("benchmarks/results/quantize.json")
TARGET_SPEEDUP = 1.5
TARGET_LOSS_POINTS = 1.0
#: Real text for accuracy and agreement (the demo dev sets are templates), labels 0/1 = NEG/POS.
REAL_TEXTS = {"en": CORPORA["sst2"], "zh": CORPORA["chnsenticorp"]}
#: The pipelines compared with fp32 torch.
SYSTEMS = {
    "int8": {"backend": "torch", "quantization": "int8"},
    "onnx_int8": {"backend": "onnx", "quantization": "int8"},
    "onnx_fp32": {"backend": "onnx", "quantization": "none"},
}


def dev_examples(nlp: Any, lang: str, dev: Path | None = None) -> list:
    """Gold docs tokenized by the pipeline: a DocBin (``--zh-dev``) or the committed demo dev set."""
    from spacy.tokens import DocBin
    from spacy.training import Example

    from spacy_ft.corpora import read_samples, samples_to_docs

    if dev is not None:
        docs = list(DocBin().from_disk(dev).get_docs(nlp.vocab))
    else:
        docs, _ = samples_to_docs(nlp, read_samples(f"assets/{lang}_demo_dev.jsonl", "jsonl"))
    return [Example(nlp.make_doc(doc.text), doc) for doc in docs]


def real_texts(lang: str, limit: int) -> list[tuple[str, str]]:
    """(text, NEG/POS) of the first ``limit`` rows of a public sentiment corpus, or [] without it."""
    corpus = REAL_TEXTS[lang]
    if not corpus.dev.is_file():
        print(f"[{lang}] no real-text check: {corpus.dev} not found", file=sys.stderr)
        return []
    return [(text, ("NEG", "POS")[label]) for text, label in read_tsv(corpus.dev, corpus.fmt)[:limit]]


def char_spans(doc: Any) -> list[tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def scores(nlp: Any, examples: list) -> tuple[dict[str, float], list[tuple[int, int, int]]]:
    """Dev scores and per-doc entity (tp, fp, fn), from one prediction pass."""
    from spacy.scorer import Scorer
    from spacy.training import Example

    docs = nlp.pipe((eg.reference.text for eg in examples), batch_size=nlp.batch_size)
    predicted = [Example(doc, eg.reference) for doc, eg in zip(docs, examples, strict=True)]
    found = Scorer(nlp).score(predicted)
    counts = entity_counts(
        [char_spans(eg.reference) for eg in predicted], [set(char_spans(eg.predicted)) for eg in predicted]
    )
    return {key: round(100 * float(found.get(key) or 0.0), 2) for key in ("cats_score", "ents_f")}, counts


def speeds(
    runners: dict[str, Callable[[Any], Any]],
    inputs: Callable[[int], tuple[Any, Any]],
    words: int,
    repeats: int,
) -> dict[str, Any]:
    """Per batch size: median words/s of every runner and the median of per-round ratios to fp32.
    One warm-up each; the order alternates between rounds so drift hits all systems alike."""
    result: dict[str, Any] = {}
    for batch_size in (1, 64):
        timed_input, warm_input = inputs(batch_size)
        for run in runners.values():
            run(warm_input)
        runs: dict[str, list[float]] = {name: [] for name in runners}
        for repeat in range(repeats):
            for name in list(runners)[:: -1 if repeat % 2 else 1]:
                start = time.perf_counter()
                runners[name](timed_input)
                runs[name].append(words / (time.perf_counter() - start))
        medians = {
            f"{name}_words_per_s": round(statistics.median(values), 1) for name, values in runs.items()
        }
        ratios = {
            name: round(statistics.median(v / f for v, f in zip(values, runs["fp32"])), 3)
            for name, values in runs.items()
        }
        result[f"batch_{batch_size}"] = {
            **medians,
            "ratios": ratios,
            "runs": {n: [round(v, 1) for v in r] for n, r in runs.items()},
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
        batches.append(
            {key: data[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in data}
        )
    return batches


def pipe_speed(systems: dict[str, Any], texts: Sequence[str], words: int, repeats: int) -> dict[str, Any]:
    """``nlp.pipe`` words/s per system and batch size, with speedups over fp32."""
    runners = {
        name: lambda batch, n=nlp: list(n.pipe(batch[0], batch_size=batch[1]))
        for name, nlp in systems.items()
    }
    found = speeds(runners, lambda size: ((texts, size), (texts[:8], size)), words, repeats)
    for row in found.values():
        row["speedup"] = {name: ratio for name, ratio in row.pop("ratios").items() if name != "fp32"}
    return found


def encoder_speed(systems: dict[str, Any], texts: Sequence[str], words: int, repeats: int) -> dict[str, Any]:
    """Each pipeline's encoder (torch module or ONNX Runtime session) alone on the same wordpiece batches."""
    import torch

    def runner(encoder: Any) -> Callable[[list], None]:
        def run(batches: list) -> None:
            with torch.inference_mode():
                for batch in batches:
                    encoder(**{k: torch.from_numpy(v) for k, v in batch.items()})

        return run

    runners = {
        name: runner(nlp.get_pipe("transformer").model.transformer.eval()) for name, nlp in systems.items()
    }

    def inputs(size: int) -> tuple[list, list]:
        batches = wordpiece_batches(systems["fp32"], texts, size)
        return batches, batches[:2]

    found = speeds(runners, inputs, words, repeats)
    for row in found.values():
        row["vs_fp32"] = row.pop("ratios")
        del row["runs"]
    return found


def run_language(lang: str, model_dir: Path, args: Any, workdir: Path) -> dict[str, Any]:
    import spacy

    from spacy_ft.inference.quantize import directory_size, prediction_agreement, quantize_pipeline
    from spacy_ft.packaging import predictions as outputs

    names = ["fp32", *(name for name in SYSTEMS if not (args.skip_onnx and name.startswith("onnx")))]
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
            name: {k: round(found["fp32"][k] - found[name][k], 2) for k in found["fp32"]}
            for name in names[1:]
        },
        "agreement": {
            name: prediction_agreement(expected, outputs(systems[name], texts)) for name in names[1:]
        },
    }
    if any(eg.reference.ents for eg in examples):  # quantized minus fp32 entity F1, paired over dev docs
        result["ents_vs_fp32"] = {
            name: paired_f1_difference(counts[name], counts["fp32"]) for name in names[1:]
        }
    # Sentiment accuracy needs a classifier: an NER-only pipeline (Resume) has none.
    real = real_texts(lang, args.real_docs) if "textcat" in systems["fp32"].pipe_names else []
    if real:
        source = REAL_TEXTS[lang].dev
        print(
            f"[{lang}] accuracy and agreement on {len(real)} texts of {source.parent.name} ...",
            file=sys.stderr,
        )
        found_real = {name: outputs(nlp, [t for t, _ in real]) for name, nlp in systems.items()}
        correct = {
            name: [int(max(d["cats"], key=d["cats"].get) == y) for d, (_, y) in zip(docs, real)]
            for name, docs in found_real.items()
        }
        result["real_text"] = {
            "source": str(source.relative_to(DATA_ROOT)),
            "docs": len(real),
            "accuracy": {name: round(100 * statistics.fmean(hits), 2) for name, hits in correct.items()},
            "agreement": {
                name: prediction_agreement(found_real["fp32"], found_real[name]) for name in names[1:]
            },
            "vs_fp32": {name: paired_difference([(correct[name], correct["fp32"])]) for name in names[1:]},
        }
    result["pipe"] = pipe_speed(systems, texts, words, args.repeats)
    for row in result["pipe"].values():  # characters/s: the unit of the Chinese benchmarks
        row["chars_per_s"] = {name: round(row[f"{name}_words_per_s"] * chars / words, 1) for name in systems}
    print(f"[{lang}] encoder only ...", file=sys.stderr)
    result["encoder"] = encoder_speed(systems, texts, words, args.repeats)
    return result


def interval(paired: dict[str, Any]) -> str:
    return f"{paired['difference']:+.2f} [{paired['ci95'][0]:+.2f}, {paired['ci95'][1]:+.2f}]"


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
    languages = report["languages"]
    for lang, data in languages.items():
        for name, size in data["size_bytes"].items():
            cells = []
            for row in (data["pipe"]["batch_1"], data["pipe"]["batch_64"]):
                cells += [f"{row[f'{name}_words_per_s']:.0f}", f"{row['speedup'].get(name, 1.0):.2f}x"]
            sc = data["scores"][name]
            rows.append(
                [lang, name, *cells, f"{size / 1e6:.1f}", f"{sc['cats_score']:.2f}", f"{sc['ents_f']:.2f}"]
            )
            rows[-1].append(data["agreement"].get(name, ""))
    print(table(header, rows, "llrrrrrrrl"))
    for lang, data in languages.items():
        pipe = data["pipe"]
        cells = "  ".join(
            f"{name} {pipe['batch_1']['chars_per_s'][name]:.0f} / {pipe['batch_64']['chars_per_s'][name]:.0f}"
            for name in data["size_bytes"]
        )
        print(f"[{lang}] chars/s at batch 1 / 64 ({data['chars']} chars of {data['dev']}): {cells}")
    for lang, data in languages.items():
        for name, paired in data.get("ents_vs_fp32", {}).items():
            print(f"[{lang}] {name} entity F1 minus fp32: {interval(paired)}")
    for lang, data in languages.items():
        if "real_text" in data:
            real = data["real_text"]
            print(
                f"\n[{lang}] on {real['docs']} texts of {real['source']}: sentiment accuracy, agreement with fp32"
            )
            for name, value in real["accuracy"].items():
                paired = real["vs_fp32"].get(name)  # fp32 is the reference: no entry
                delta = f"vs fp32 {interval(paired)}  " if paired else ""
                print(f"  {name:10} acc {value:6.2f}  {delta}{real['agreement'].get(name, '')}")
    for lang, data in languages.items():
        print(f"\n[{lang}] encoder only (same wordpiece batches), words/s (ratio to torch fp32):")
        for batch in ("batch_1", "batch_64"):
            row = data["encoder"][batch]
            cells = "  ".join(
                f"{k[:-12]} {v:.0f} ({row['vs_fp32'][k[:-12]]:.2f}x)"
                for k, v in row.items()
                if k.endswith("_words_per_s")
            )
            print(f"  batch {batch[6:]:>2}: {cells}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = script_parser(__doc__, DEFAULT_OUTPUT)
    parser.add_argument("--en-model", type=Path, default=Path("training/en/model-best"))
    parser.add_argument("--zh-model", type=Path, default=Path("training/zh/model-best"))
    parser.add_argument(
        "--threads", type=int, default=2, help="torch.set_num_threads and ORT intra-op threads"
    )
    for lang in ("en", "zh"):
        parser.add_argument(
            f"--{lang}-dev", type=Path, help=f"gold docs (.spacy) instead of assets/{lang}_demo_dev.jsonl"
        )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-docs", type=int, default=200, help="dev docs timed per pass")
    parser.add_argument("--skip-onnx", action="store_true", help="only fp32 and torch int8")
    parser.add_argument(
        "--real-docs", type=int, default=7000, help="public-corpus texts for accuracy and agreement (0: off)"
    )
    args = parser.parse_args(argv)
    import torch

    quiet_libraries()
    torch.set_num_threads(args.threads)
    targets = {"speedup": TARGET_SPEEDUP, "max_loss_points": TARGET_LOSS_POINTS}
    report: dict[str, Any] = {
        "threads": args.threads,
        "repeats": args.repeats,
        "targets": targets,
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
