"""fp32 vs int8 (``python -m spacy_ft quantize``) on the demo pipelines, plus ONNX Runtime.

For the English (MiniLM-L6) and the Chinese (random-init character BERT) pipeline:

* words/s of ``nlp.pipe`` at batch size 1 and 64 ("words" = spaCy tokens, jieba
  words for Chinese), fp32 and int8 timed in alternation within every repeat so
  the shared machine's drift hits both alike; medians of ``--repeats`` and the
  median of per-repeat ratios;
* size on disk of the pipeline directory and of the transformer weights;
* dev scores (``cats_score``, ``ents_f``) of both, and how often int8 predicts
  exactly the fp32 entities / the same top class;
* encoder only (no spaCy, no heads, no tokenization): the Hugging Face encoder
  in torch fp32, torch int8, ONNX Runtime fp32 and ONNX Runtime dynamic int8
  (``onnxruntime.quantization.quantize_dynamic``) on the *same* wordpiece
  batches the pipeline builds, to see whether an ONNX backend would be worth it.

``torch.set_num_threads(--threads)`` and ORT's ``intra_op_num_threads`` use the
same count. Pipelines come from the demo workflow (``spacy project run all``
writes training/{en,zh}/model-best) or ``--en-model`` / ``--zh-model``; a
missing one is skipped with a message. Run from the repository root::

    python benchmarks/bench_quantize.py                  # ~5 min on 2 cores
    python benchmarks/bench_quantize.py --skip-onnx --repeats 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import quiet_libraries, versions  # noqa: E402

DEFAULT_OUTPUT = Path("benchmarks/results/quantize.json")
TARGET_SPEEDUP = 1.5
TARGET_LOSS_POINTS = 1.0


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def dev_examples(nlp: Any, lang: str) -> list:
    """Gold docs from the committed demo dev set, tokenized by the pipeline itself."""
    from spacy.training import Example

    from spacy_ft.corpora import read_samples, samples_to_docs

    docs, _ = samples_to_docs(nlp, read_samples(f"assets/{lang}_demo_dev.jsonl", "jsonl"))
    return [Example(nlp.make_doc(doc.text), doc) for doc in docs]


def outputs(nlp: Any, texts: Sequence[str]) -> list[dict[str, Any]]:
    from spacy_ft.packaging import predictions

    return predictions(nlp, texts)


def scores(nlp: Any, examples: list) -> dict[str, float]:
    found = nlp.evaluate(examples)
    return {key: round(100 * float(found.get(key) or 0.0), 2) for key in ("cats_score", "ents_f")}


def pipe_speed(systems: dict[str, Any], texts: Sequence[str], words: int, repeats: int) -> dict[str, Any]:
    """words/s per system and batch size; systems alternate inside each repeat."""
    result: dict[str, Any] = {}
    for batch_size in (1, 64):
        runs: dict[str, list[float]] = {name: [] for name in systems}
        for nlp in systems.values():  # warm-up: allocator, thread pools, tokenizer caches
            list(nlp.pipe(texts[:8], batch_size=batch_size))
        for repeat in range(repeats):
            order = list(systems) if repeat % 2 == 0 else list(reversed(systems))
            for name in order:
                seconds = timed(lambda n=systems[name], b=batch_size: list(n.pipe(texts, batch_size=b)))
                runs[name].append(words / seconds)
        ratios = [i / f for f, i in zip(runs["fp32"], runs["int8"])]
        result[f"batch_{batch_size}"] = {
            **{f"{name}_words_per_s": round(statistics.median(values), 1) for name, values in runs.items()},
            "speedup": round(statistics.median(ratios), 3),
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


def export_onnx(encoder: Any, batch: dict[str, Any], path: Path) -> None:
    import torch

    names = list(batch)
    inputs = tuple(torch.from_numpy(batch[name]) for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    torch.onnx.export(
        encoder,
        inputs,
        str(path),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,  # the TorchScript exporter: needs no onnxscript, handles HF BERT
    )


def encoder_speed(fp32_nlp: Any, int8_nlp: Any, texts: Sequence[str], words: int, args: argparse.Namespace,
                  workdir: Path) -> dict[str, Any]:
    """Encoder-only words/s: torch fp32 / int8 vs ONNX Runtime fp32 / int8, same batches."""
    import numpy
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32 = fp32_nlp.get_pipe("transformer").model.transformer.eval()
    int8 = int8_nlp.get_pipe("transformer").model.transformer.eval()
    onnx_fp32, onnx_int8 = workdir / "encoder.onnx", workdir / "encoder.int8.onnx"
    export_onnx(fp32, wordpiece_batches(fp32_nlp, texts[:2], 2)[0], onnx_fp32)
    quantize_dynamic(str(onnx_fp32), str(onnx_int8), weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    sessions = {
        name: onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for name, path in (("onnx_fp32", onnx_fp32), ("onnx_int8", onnx_int8))
    }

    def torch_runner(module: Any) -> Callable[[list], None]:
        def run(batches: list) -> None:
            with torch.inference_mode():
                for batch in batches:
                    module(**{k: torch.from_numpy(v) for k, v in batch.items()})

        return run

    def ort_runner(session: Any) -> Callable[[list], None]:
        def run(batches: list) -> None:
            for batch in batches:
                session.run(None, {k: v.astype(numpy.int64) for k, v in batch.items()})

        return run

    runners = {
        "torch_fp32": torch_runner(fp32),
        "torch_int8": torch_runner(int8),
        **{name: ort_runner(session) for name, session in sessions.items()},
    }
    result: dict[str, Any] = {
        "size_bytes": {"onnx_fp32": onnx_fp32.stat().st_size, "onnx_int8": onnx_int8.stat().st_size}
    }
    for batch_size in (1, 64):
        batches = wordpiece_batches(fp32_nlp, texts, batch_size)
        runs: dict[str, list[float]] = {name: [] for name in runners}
        for run in runners.values():
            run(batches[:2])
        for repeat in range(args.repeats):
            order = list(runners) if repeat % 2 == 0 else list(reversed(runners))
            for name in order:
                runs[name].append(words / timed(lambda r=runners[name], b=batches: r(b)))
        medians = {name: round(statistics.median(values), 1) for name, values in runs.items()}
        result[f"batch_{batch_size}"] = {
            **{f"{name}_words_per_s": value for name, value in medians.items()},
            "vs_torch_int8": {
                name: round(statistics.median(v / t for v, t in zip(values, runs["torch_int8"])), 3)
                for name, values in runs.items()
            },
        }
    return result


def run_language(lang: str, model_dir: Path, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import spacy

    from spacy_ft.quantize import directory_size, prediction_agreement, quantize_pipeline

    out_dir = workdir / f"{lang}_int8"
    started = time.perf_counter()
    report = quantize_pipeline(model_dir, out_dir)
    quantize_seconds = time.perf_counter() - started
    systems = {"fp32": spacy.load(model_dir), "int8": spacy.load(out_dir)}
    examples = dev_examples(systems["fp32"], lang)
    texts = [eg.reference.text for eg in examples][: args.max_docs]
    words = sum(len(eg.predicted) for eg in examples[: len(texts)])
    print(f"[{lang}] {len(texts)} dev docs, {words} spaCy tokens; timing nlp.pipe ...", file=sys.stderr)
    found = {name: scores(nlp, examples) for name, nlp in systems.items()}
    result: dict[str, Any] = {
        "model_dir": str(model_dir),
        "docs": len(texts),
        "words": words,
        "quantize_seconds": round(quantize_seconds, 1),
        "linear_layers": report.linear_layers,
        "size_bytes": {
            "fp32_dir": directory_size(model_dir),
            "int8_dir": directory_size(out_dir),
            "fp32_transformer": directory_size(model_dir / "transformer"),
            "int8_transformer": directory_size(out_dir / "transformer"),
        },
        "scores": found,
        "loss_points": {key: round(found["fp32"][key] - found["int8"][key], 2) for key in found["fp32"]},
        "agreement": prediction_agreement(outputs(systems["fp32"], texts), outputs(systems["int8"], texts)),
        "pipe": pipe_speed(systems, texts, words, args.repeats),
    }
    if not args.skip_onnx:
        print(f"[{lang}] encoder only: torch vs ONNX Runtime ...", file=sys.stderr)
        result["encoder"] = encoder_speed(systems["fp32"], systems["int8"], texts, words, args, workdir)
    return result


def print_table(report: dict[str, Any]) -> None:
    print(f"\nint8 dynamic quantization, torch threads = {report['threads']}, medians of {report['repeats']}")
    header = f"{'pipeline':8} {'batch':>5} {'fp32 w/s':>10} {'int8 w/s':>10} {'speedup':>8}"
    print(header + f" {'MB fp32':>8} {'MB int8':>8} {'cats fp32/int8':>15} {'ents_f fp32/int8':>17}")
    for lang, data in report["languages"].items():
        size = data["size_bytes"]
        sc = data["scores"]
        for batch in ("batch_1", "batch_64"):
            row = data["pipe"][batch]
            print(
                f"{lang:8} {batch[6:]:>5} {row['fp32_words_per_s']:>10.0f} {row['int8_words_per_s']:>10.0f} "
                f"{row['speedup']:>7.2f}x {size['fp32_dir'] / 1e6:>8.1f} {size['int8_dir'] / 1e6:>8.1f} "
                f"{sc['fp32']['cats_score']:>7.2f}/{sc['int8']['cats_score']:<7.2f} "
                f"{sc['fp32']['ents_f']:>8.2f}/{sc['int8']['ents_f']:<8.2f}"
            )
        print(f"{'':8} agreement int8 vs fp32: {data['agreement']}")
    for lang, data in report["languages"].items():
        if "encoder" not in data:
            continue
        print(f"\n[{lang}] encoder only (same wordpiece batches), words/s:")
        for batch in ("batch_1", "batch_64"):
            row = data["encoder"][batch]
            cells = "  ".join(f"{k[:-12]} {v:.0f}" for k, v in row.items() if k.endswith("_words_per_s"))
            print(f"  batch {batch[6:]:>2}: {cells}  (ratio to torch_int8: {row['vs_torch_int8']})")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--en-model", type=Path, default=Path("training/en/model-best"))
    parser.add_argument("--zh-model", type=Path, default=Path("training/zh/model-best"))
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and ORT intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-docs", type=int, default=200, help="dev docs timed per pass")
    parser.add_argument("--skip-onnx", action="store_true")
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
        "versions": versions(),
        "targets": {"speedup": TARGET_SPEEDUP, "max_loss_points": TARGET_LOSS_POINTS},
        "languages": {},
    }
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for lang, model_dir in (("en", args.en_model), ("zh", args.zh_model)):
            if not (model_dir / "config.cfg").is_file():
                print(f"[{lang}] skipped: no pipeline at {model_dir} (run `spacy project run all` first)", file=sys.stderr)
                continue
            report["languages"][lang] = run_language(lang, model_dir, args, Path(tmp))
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
