"""Run the GPU configs for real and measure them: ``scripts/gpu_check.sh`` calls this.

What it measures, for ``configs/zh_gpu.cfg`` (Resume NER) and ``configs/en_gpu.cfg``
(WNUT-17), on a transformer of bert-base (zh) and roberta-base (en) shape with random
weights (the hub weights cannot be fetched on an offline GPU machine; what is measured
is the GPU path, not accuracy):

* training on the GPU with and without mixed precision: words/s, the GPU memory peak,
  where a step's time goes (the NER head's loss, and inside it the CRF that runs on the
  host), dev scores;
* the same config trained on the machine's CPU cores, for the GPU/CPU speed ratio;
* inference words/s on the GPU and on the CPU (a child process with the GPU hidden),
  and whether the pipeline trained on the GPU predicts the same entities on a CPU.

Every stage runs in its own process, so a failure costs that stage alone, and its
numbers land in ``OUT/gpu_check.json`` as soon as they exist.

    python scripts/gpu_check.py run --out OUT [--steps 150] [--cpu-steps 6]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".gpu" / "data"
WORK = Path(os.environ.get("GPU_CHECK_WORK", "/tmp/gpu_check"))
CONFIGS = {"zh": ROOT / "configs" / "zh_gpu.cfg", "en": ROOT / "configs" / "en_gpu.cfg"}


# -- models ----------------------------------------------------------------------


def build_models(hidden: int, layers: int, heads: int) -> dict[str, str]:
    """bert-base-chinese and roberta-base shapes, random weights, saved as model directories."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_ft.encoders.char_bert import character_vocab, save_random_bert

    nlp = spacy.blank("en")
    texts = {
        lang: [doc.text for doc in DocBin().from_disk(DATA / f"{lang}_train.spacy").get_docs(nlp.vocab)]
        for lang in ("zh", "en")
    }
    zh_dir = WORK / "zh_bert_base_shape"
    save_random_bert(zh_dir, character_vocab(texts["zh"]), hidden_size=hidden, layers=layers, heads=heads,
                     intermediate_size=hidden * 4, max_position=512)
    en_dir = WORK / "en_roberta_base_shape"
    save_random_roberta(en_dir, texts["en"], hidden=hidden, layers=layers, heads=heads)
    return {"zh": str(zh_dir), "en": str(en_dir)}


def save_random_roberta(path: Path, texts: list[str], *, hidden: int, layers: int, heads: int) -> None:
    """A byte-level BPE learned from ``texts`` and a RoBERTa of the given shape, random weights."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(texts, vocab_size=20000, min_frequency=2, special_tokens=specials)
    bpe.save_model(str(path))
    tokenizer = RobertaTokenizerFast(
        vocab_file=str(path / "vocab.json"), merges_file=str(path / "merges.txt"), model_max_length=512
    )
    tokenizer.save_pretrained(str(path))
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=hidden * 4, max_position_embeddings=514,
        type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(str(path))


# -- training ----------------------------------------------------------------------


class StepTimer:
    """Times ``Language.update`` and, inside it, the NER head's loss and its CRF.

    The GPU runs asynchronously, so every timer synchronizes first: otherwise the
    device-to-host copy at the start of the loss would absorb the forward pass."""

    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.steps: list[dict[str, float]] = []
        self._loss = 0.0
        self._crf = 0.0

    def sync(self) -> None:
        if self.gpu:
            import torch

            torch.cuda.synchronize()

    def install(self) -> None:
        from spacy.language import Language

        from spacy_ft.ner import component, crf

        timer = self
        update, get_loss = Language.update, component.TransformerNER.get_loss
        # The CRF's whole loss on a batch (host or device); the per-doc path runs inside it.
        batch_loss = crf.batch_loss

        def timed_update(nlp: Any, examples: Any, *args: Any, **kwargs: Any) -> Any:
            examples = list(examples)
            timer._loss = timer._crf = 0.0
            timer.sync()
            start = time.perf_counter()
            result = update(nlp, examples, *args, **kwargs)
            timer.sync()
            timer.steps.append({
                "seconds": time.perf_counter() - start,
                "words": float(sum(len(eg.reference) for eg in examples)),
                "docs": float(len(examples)),
                "ner_loss_seconds": timer._loss,
                "crf_seconds": timer._crf,
            })
            return result

        def timed_get_loss(pipe: Any, examples: Any, outputs: Any) -> Any:
            timer.sync()
            start = time.perf_counter()
            result = get_loss(pipe, examples, outputs)
            timer.sync()
            timer._loss += time.perf_counter() - start
            return result

        def timed(function: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                result = function(*args, **kwargs)
                timer.sync()
                timer._crf += time.perf_counter() - start
                return result

            return wrapper

        Language.update = timed_update
        component.TransformerNER.get_loss = timed_get_loss
        crf.batch_loss = timed(batch_loss)

    def summary(self, skip: int) -> dict[str, float]:
        steps = self.steps[skip:] or self.steps
        seconds = sum(s["seconds"] for s in steps)
        return {
            "steps_timed": len(steps),
            "words_per_second": sum(s["words"] for s in steps) / seconds,
            "median_step_seconds": statistics.median(s["seconds"] for s in steps),
            "median_words_per_step": statistics.median(s["words"] for s in steps),
            "ner_loss_share": sum(s["ner_loss_seconds"] for s in steps) / seconds,
            "crf_share": sum(s["crf_seconds"] for s in steps) / seconds,
        }


def train(args: dict[str, Any]) -> dict[str, Any]:
    """One training run in this process (a child of ``run``)."""
    from spacy.cli.train import train as spacy_train

    gpu = args["gpu"] >= 0
    timer = StepTimer(gpu)
    timer.install()

    steps = args["steps"]
    overrides = {
        "paths.train": str(DATA / f"{args['lang']}_train.spacy"),
        "paths.dev": str(DATA / f"{args['lang']}_dev.spacy"),
        "paths.transformer": args["model"],
        "nlp.pipeline": ["transformer", "ner"],
        "training.score_weights": {"ents_f": 1.0},
        "training.max_steps": steps,
        "training.optimizer.learn_rate.total_steps": steps,
        "training.optimizer.learn_rate.warmup_steps": max(1, steps // 10),
        "training.optimizer.learn_rate.initial_rate": 1e-4,
        "training.eval_frequency": max(steps, 1),
        "training.patience": 0,
        "components.transformer.model.mixed_precision": args["mixed_precision"],
        # The NER head's CRF on the GPU (batched CuPy recursion) or on the host (numpy, per doc).
        "components.ner.crf_on_device": not args.get("crf_on_host", False),
    }
    if args["lang"] == "zh":
        overrides["paths.user_dict"] = str(ROOT / "assets" / "user_dict_zh.txt")
    if not gpu:
        overrides["system.gpu_allocator"] = None
        overrides["training.gpu_allocator"] = None
        # A CPU run is here for its training speed; scoring the whole dev set would cost
        # more than its few steps.
        overrides["corpora.dev.limit"] = args.get("dev_limit", 0)
    start = time.perf_counter()
    spacy_train(CONFIGS[args["lang"]], args["output"], use_gpu=args["gpu"], overrides=overrides)
    wall = time.perf_counter() - start
    result = {"wall_seconds": wall, "steps": len(timer.steps), **timer.summary(skip=args["skip"])}
    if gpu:
        import torch

        result["gpu_memory_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    meta = json.loads((Path(args["output"]) / "model-last" / "meta.json").read_text(encoding="utf-8"))
    result["dev_scores"] = {k: meta["performance"].get(k) for k in ("ents_f", "ents_p", "ents_r")}
    return result


# -- inference ----------------------------------------------------------------------


def predict(args: dict[str, Any]) -> dict[str, Any]:
    """Load a trained pipeline (on the GPU or the CPU), time ``nlp.pipe`` and return the entities."""
    import spacy
    from spacy.tokens import DocBin

    if args["gpu"] >= 0:
        spacy.require_gpu(args["gpu"])
    nlp = spacy.load(args["model"])
    docs = list(DocBin().from_disk(args["data"]).get_docs(nlp.vocab))[: args["limit"]]
    texts = [doc.text for doc in docs]
    words = sum(len(doc) for doc in docs)
    list(nlp.pipe(texts[:32], batch_size=32))  # warm-up: kernels, allocator, jieba
    timings, ents = [], []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        out = list(nlp.pipe(texts, batch_size=64))
        if args["gpu"] >= 0:
            import torch

            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
        ents = [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in out]
    from spacy.training import Example

    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    scores = nlp.evaluate(examples)
    return {
        "docs": len(texts),
        "words": words,
        "median_seconds": statistics.median(timings),
        "words_per_second": words / statistics.median(timings),
        "entities": sum(len(e) for e in ents),
        "ents_f": scores.get("ents_f"),
        "predictions": ents,
        "device": "gpu" if args["gpu"] >= 0 else "cpu",
        "torch_threads": __import__("torch").get_num_threads(),
    }


# -- orchestration -------------------------------------------------------------------


def child(stage: str, args: dict[str, Any], *, hide_gpu: bool = False, timeout: float = 600) -> dict[str, Any]:
    """Run ``stage`` in a child process; its JSON result, or ``{"error": ...}``."""
    env = dict(os.environ)
    if hide_gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    result_file = WORK / f"result_{time.monotonic_ns()}.json"
    command = [sys.executable, __file__, stage, json.dumps(args), str(result_file)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        return {"error": f"timed out after {timeout:.0f} s", "log_tail": str(error.stdout or "")[-3000:]}
    log = proc.stdout + proc.stderr
    print(log[-6000:], flush=True)
    if proc.returncode != 0 or not result_file.is_file():
        return {"error": f"exit {proc.returncode}", "log_tail": log[-3000:]}
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["process_seconds"] = time.perf_counter() - start
    return result


def run(out: Path, steps: int, cpu_steps: int, limit: int, budget: float, langs: list[str],
        shape: tuple[int, int, int], runs_wanted: list[str]) -> None:
    deadline = time.monotonic() + budget
    # GPU_CHECK_DEVICE=-1 runs every stage on the CPU: a dry run of the script itself.
    device = int(os.environ.get("GPU_CHECK_DEVICE", "0"))
    WORK.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"steps": steps, "cpu_steps": cpu_steps, "limit": limit, "shape": shape}

    def save() -> None:
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2), encoding="utf-8")

    def left() -> float:
        return deadline - time.monotonic()

    report["environment"] = environment()
    save()
    start = time.perf_counter()
    models = build_models(*shape)
    report["model_build_seconds"] = time.perf_counter() - start
    save()
    # Stages in order of what matters most, so a run cut short by its budget still has
    # the comparisons: each language's fp16 run (CRF on the device and on the host), its
    # CPU run and inference first, the fp32 runs last.
    stages: list[tuple[str, str]] = []
    for lang in langs:
        stages += [(lang, "gpu_fp16"), (lang, "gpu_fp16_host_crf"), (lang, "cpu_fp32"), (lang, "infer")]
    stages += [(lang, "gpu_fp32") for lang in langs]
    settings = {  # name: (device, mixed precision, steps, CRF on the host)
        "gpu_fp16": (device, device >= 0, steps, False),
        "gpu_fp16_host_crf": (device, device >= 0, steps, True),
        "gpu_fp32": (device, False, steps, False),
        "cpu_fp32": (-1, False, cpu_steps, False),
    }
    for lang, name in stages:
        runs: dict[str, Any] = report.setdefault(lang, {})
        if name == "infer":
            infer(runs, lang, device, limit, left)
        elif name in runs_wanted:
            if left() < 60:
                runs[name] = {"error": "skipped: out of time"}
                continue
            gpu, mixed, n_steps, host_crf = settings[name]
            args = {"lang": lang, "gpu": gpu, "mixed_precision": mixed, "steps": n_steps, "crf_on_host": host_crf,
                    "model": models[lang], "output": str(WORK / f"{lang}_{name}"), "skip": min(5, n_steps // 3),
                    "dev_limit": 40}
            runs[name] = child("train", args, hide_gpu=gpu < 0, timeout=max(30, left() - 30))
            print(f"== {lang} {name}: {summarize(runs[name])}", flush=True)
        runs["ratios"] = ratios(runs)
        save()
    report["total_seconds"] = budget - left()
    save()
    print(table(report), flush=True)
    (out / "gpu_check.md").write_text(table(report), encoding="utf-8")


def infer(runs: dict[str, Any], lang: str, device: int, limit: int, left: Any) -> None:
    """Inference words/s on the GPU and the CPU, and whether their entities agree."""
    trained = WORK / f"{lang}_gpu_fp16" / "model-last"
    if not trained.is_dir():
        return
    data = str(DATA / f"{lang}_dev.spacy")
    for name, gpu in (("infer_gpu", device), ("infer_cpu", -1)):
        if left() < 45:
            runs[name] = {"error": "skipped: out of time"}
            continue
        args = {"model": str(trained), "gpu": gpu, "data": data, "limit": limit, "repeats": 2 if gpu >= 0 else 1}
        runs[name] = child("predict", args, hide_gpu=gpu < 0, timeout=max(30, left() - 15))
    gpu_pred = runs.get("infer_gpu", {}).get("predictions")
    cpu_pred = runs.get("infer_cpu", {}).get("predictions")
    if gpu_pred is not None and cpu_pred is not None:
        differing = [i for i, (a, b) in enumerate(zip(gpu_pred, cpu_pred)) if a != b]
        runs["gpu_vs_cpu_predictions"] = {"docs": len(gpu_pred), "docs_differing": len(differing),
                                          "first_differing": differing[:10],
                                          "examples": [[gpu_pred[i], cpu_pred[i]] for i in differing[:3]]}
    for name in ("infer_gpu", "infer_cpu"):
        runs.get(name, {}).pop("predictions", None)


def ratios(runs: dict[str, Any]) -> dict[str, float]:
    """GPU over CPU words/s, and the device CRF's training speed over the host CRF's."""
    pairs = {
        "train_gpu_fp16_over_cpu": ("gpu_fp16", "cpu_fp32"),
        "train_gpu_fp32_over_cpu": ("gpu_fp32", "cpu_fp32"),
        "train_device_crf_over_host_crf": ("gpu_fp16", "gpu_fp16_host_crf"),
        "infer_gpu_over_cpu": ("infer_gpu", "infer_cpu"),
    }
    out = {}
    for key, (a, b) in pairs.items():
        try:
            out[key] = runs[a]["words_per_second"] / runs[b]["words_per_second"]
        except (KeyError, TypeError, ZeroDivisionError):
            continue
    return out


def summarize(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}\n{result.get('log_tail', '')[-1500:]}"
    keys = ("words_per_second", "median_step_seconds", "ner_loss_share", "crf_share", "gpu_memory_peak_gib",
            "dev_scores")
    return json.dumps({k: result.get(k) for k in keys})


def table(report: dict[str, Any]) -> str:
    """The measured table, as Markdown."""
    lines = ["| lang | run | train words/s | step s (median) | NER loss share | CRF share | GPU peak GiB "
             "| dev F1 |", "|---|---|---|---|---|---|---|---|"]
    for lang in ("zh", "en"):
        for name in ("gpu_fp16", "gpu_fp16_host_crf", "gpu_fp32", "cpu_fp32"):
            r = report.get(lang, {}).get(name)
            if not r:
                continue
            if "error" in r:
                lines.append(f"| {lang} | {name} | {r['error']} | | | | | |")
                continue
            peak = r.get("gpu_memory_peak_gib")
            lines.append(
                f"| {lang} | {name} | {r['words_per_second']:,.0f} | {r['median_step_seconds']:.3f} "
                f"| {r['ner_loss_share']:.0%} | {r['crf_share']:.0%} | {'' if peak is None else f'{peak:.1f}'} "
                f"| {100 * (r['dev_scores'].get('ents_f') or 0):.2f} |")
    lines += ["", "| lang | inference | words/s | dev F1 | GPU/CPU agreement |", "|---|---|---|---|---|"]
    for lang in ("zh", "en"):
        runs = report.get(lang, {})
        agree = runs.get("gpu_vs_cpu_predictions", {})
        for name in ("infer_gpu", "infer_cpu"):
            r = runs.get(name)
            if not r:
                continue
            if "error" in r:
                lines.append(f"| {lang} | {name} | {r['error']} | | |")
                continue
            same = f"{agree['docs'] - agree['docs_differing']}/{agree['docs']} docs identical" if agree else ""
            lines.append(f"| {lang} | {name} | {r['words_per_second']:,.0f} | {100 * (r['ents_f'] or 0):.2f} "
                         f"| {same} |")
    lines += ["", "Ratios: " + json.dumps({lang: report.get(lang, {}).get("ratios") for lang in ("zh", "en")})]
    return "\n".join(lines) + "\n"


def environment() -> dict[str, Any]:
    import spacy
    import thinc
    import torch
    import transformers

    info: dict[str, Any] = {
        "python": sys.version.split()[0], "torch": torch.__version__, "spacy": spacy.__version__,
        "thinc": thinc.__version__, "transformers": transformers.__version__,
        "cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        import cupy

        info["cupy"] = cupy.__version__
    except ImportError:
        info["cupy"] = None
    return info


def main() -> None:
    stage = sys.argv[1]
    if stage == "run":
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("stage")
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--steps", type=int, default=100)
        parser.add_argument("--cpu-steps", type=int, default=4)
        parser.add_argument("--limit", type=int, default=150, help="dev docs for inference")
        parser.add_argument("--runs", default="gpu_fp16,gpu_fp16_host_crf,gpu_fp32,cpu_fp32")
        parser.add_argument("--budget", type=float, default=480, help="seconds for everything")
        parser.add_argument("--langs", default="zh,en")
        parser.add_argument("--shape", default="768,12,12", help="hidden,layers,heads (bert-base: 768,12,12)")
        args = parser.parse_args()
        shape = tuple(int(x) for x in args.shape.split(","))
        run(args.out, args.steps, args.cpu_steps, args.limit, args.budget, args.langs.split(","), shape,
            args.runs.split(","))
        return
    args, result_file = json.loads(sys.argv[2]), Path(sys.argv[3])
    result = {"train": train, "predict": predict}[stage](args)
    result_file.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
