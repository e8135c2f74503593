"""Transformer-free Chinese: the character encoder with jieba's dictionary
(``configs/zh_cpu_fast.cfg``), with Baidu LAC's pretrained states (``configs/zh_cpu_lac.cfg``),
against the multilingual-e5 config (``configs/zh_cpu_e5.cfg``), spaCy's zh CNN and the
from-scratch character BERT,
each trained by ``python -m spacy train`` on ``spacy_ft convert``'s docs and scored on
character offsets of the raw dev texts. ``spacy project run bench-zh-fast`` runs it;
docs/benchmarks.md ("Transformer-free Chinese") holds the results. ``--quick`` is a smoke run."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import (
    CORPORA,
    DATA_ROOT,
    JIEBA,
    Corpus,
    check,
    directory_mb,
    entity_counts,
    markdown_table,
    paired_difference,
    paired_f1_difference,
    print_checks,
    script_parser,
    write_report,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path("benchmarks/results/zh_fast.json")
FAST_CONFIG = REPO / "configs/zh_cpu_fast.cfg"
CHAR_BERT_CONFIG = REPO / "configs/zh_cpu.cfg"
LAC_CONFIG = REPO / "configs/zh_cpu_lac.cfg"
E5_CONFIG = REPO / "configs/zh_cpu_e5.cfg"
INFER_BATCH = 64

#: Dev-set goals: (F1 or accuracy, training seconds, inference against spaCy's CNN) per system.
TARGETS = {
    "char_lexicon": {"resume": 94.0, "weibo": 55.0, "minutes": 10, "speed": 1.0},
    "char_lac": {"resume": 95.0, "weibo": 62.0, "chnsenticorp": 92.0, "minutes": 15, "speed": 0.5},
    "char_lac_frozen": {"chnsenticorp": 92.0, "minutes": 15, "speed": 0.5},
}


CORPORA = {
    "resume": replace(CORPORA["resume"], task="ner"),
    "weibo": replace(CORPORA["weibo"], task="ner"),
    "chnsenticorp": replace(
        CORPORA["chnsenticorp"],
        fmt="tsv",
        task="textcat",
        options=("--label-map", "0=NEG,1=POS", "--no-quoting"),
    ),
}


@dataclass(frozen=True)
class System:
    title: str
    kind: str  # "fast", "lac", "e5", "spacy" or "char_bert"
    overrides: tuple[tuple[str, str], ...] = ()
    optimize: str = ""
    tasks: tuple[str, ...] = ("ner", "textcat")

    @property
    def steps_key(self) -> str:
        return f"{self.kind}_{self.optimize}" if self.optimize else self.kind


SYSTEMS = {
    "char_lexicon": System("spacy_ft char encoder + jieba lexicon (BiLSTM)", "fast"),
    "char_no_lexicon": System(
        "same, no lexicon features",
        "fast",
        (("components.char_encoder.model.lexicon", "false"),),
        tasks=("ner",),
    ),
    "char_lexicon_cnn": System(
        "spacy_ft char encoder + jieba lexicon (CNN)",
        "fast",
        (("components.char_encoder.model.encoder", '"cnn"'), ("components.char_encoder.model.depth", "4")),
        tasks=("ner",),
    ),
    "char_lac": System("char encoder + jieba lexicon + LAC states, fine-tuned (BiLSTM)", "lac"),
    "char_lac_frozen": System(
        "same, LAC frozen", "lac", (("components.char_encoder.model.lac", '"frozen"'),)
    ),
    # bench-ner-e5's schedule: peak rate 1e-4, 10% warmup.
    "e5": System(
        "spacy_ft_ner on multilingual-e5 (pretrained transformer)",
        "e5",
        (
            ("training.optimizer.learn_rate.initial_rate", "1e-4"),
            ("training.optimizer.learn_rate.warmup_steps", "60"),
        ),
        tasks=("ner",),
    ),
    "spacy_cnn_efficiency": System(
        "spaCy zh CNN (efficiency) over jieba tokens", "spacy", optimize="efficiency"
    ),
    "spacy_cnn_accuracy": System("spaCy zh CNN (accuracy) over jieba tokens", "spacy", optimize="accuracy"),
    "char_bert": System("spacy_ft_ner on a from-scratch character BERT", "char_bert", tasks=("ner",)),
}
DEFAULT_SYSTEMS = (
    "char_lac",
    "char_lac_frozen",
    "e5",
    "char_lexicon",
    "char_no_lexicon",
    "spacy_cnn_efficiency",
    "spacy_cnn_accuracy",
    "char_bert",
)
BASELINE = "spacy_cnn_efficiency"  # speed ratios are against this one
#: The systems whose paired differences against every other one are reported.
OURS = ("char_lac", "char_lac_frozen", "char_lexicon")


@dataclass
class Result:
    system: str
    corpus: str
    score: dict[str, Any]
    train_seconds: float
    steps: int
    infer_chars_per_s: float
    infer_seconds: list[float] = field(default_factory=list)
    model_mb: float = 0.0


def run_cli(args: Sequence[str], threads: int, log: Path) -> float:
    """Seconds ``python -m ...`` took with ``threads`` threads; a failure raises with the log's tail."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    with log.open("w", encoding="utf8") as out:
        proc = subprocess.run(
            [sys.executable, "-m", *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(encoding="utf8").splitlines()[-25:]
        raise RuntimeError(
            f"{' '.join(args[:3])} failed (exit {proc.returncode}); log {log}:\n" + "\n".join(tail)
        )
    return seconds


def subsampled(path: Path, corpus: Corpus, size: int, workdir: Path) -> Path:
    """The first ``size`` samples of a corpus file, in its own format (0 = the file)."""
    if size <= 0:
        return path
    lines = path.read_text(encoding="utf8").splitlines(keepends=True)
    out = workdir / f"{corpus.name}_{path.stem}_{size}{path.suffix}"
    if corpus.fmt == "tsv":
        out.write_text("".join(lines[: size + 1]), encoding="utf8")
        return out
    kept, count = [], 0
    for line in lines:
        kept.append(line)
        if not line.strip():
            count += 1
            if count >= size:
                break
    out.write_text("".join(kept), encoding="utf8")
    return out


def stock_config(task: str, optimize: str, steps: int, eval_frequency: int, out: Path) -> Path:
    """spaCy's quickstart config for zh (``spacy init config``), over jieba tokens."""
    from spacy.cli.init_config import init_config

    config = init_config(lang="zh", pipeline=[task], optimize=optimize, gpu=False)
    config["nlp"]["tokenizer"] = dict(JIEBA)
    config["initialize"]["tokenizer"] = {}
    # No static vectors (zh_core_web_lg's cannot be had offline): embeddings learnt like every system's.
    config["paths"]["vectors"] = None
    config["initialize"]["vectors"] = None
    without_static_vectors(config)
    config["training"]["max_steps"] = steps
    config["training"]["eval_frequency"] = eval_frequency
    config.to_disk(out)
    return out


def without_static_vectors(section: Any) -> None:
    if isinstance(section, dict):
        if "include_static_vectors" in section:
            section["include_static_vectors"] = False
        for value in section.values():
            without_static_vectors(value)


def train_command(
    name: str, corpus: Corpus, data: dict[str, Path], settings: Any, workdir: Path
) -> list[str]:
    system = SYSTEMS[name]
    steps = settings.steps[system.steps_key]
    output = workdir / f"{corpus.name}_{name}"
    paths = ["--paths.train", str(data["train"]), "--paths.dev", str(data["dev"]), "--output", str(output)]
    common = ["--training.max_steps", str(steps), "--training.eval_frequency", str(settings.eval_frequency)]
    score = "cats_score" if corpus.task == "textcat" else "ents_f"
    if system.kind == "spacy":
        config = stock_config(
            corpus.task, system.optimize, steps, settings.eval_frequency, output.with_suffix(".cfg")
        )
        return ["spacy", "train", str(config), *paths]
    extra = [item for key, value in system.overrides for item in (f"--{key}", value)]
    if system.kind in ("char_bert", "e5"):
        pipeline = ["transformer", corpus.task]
        extra += ["--paths.transformer", str(data[system.kind])]
        config = CHAR_BERT_CONFIG if system.kind == "char_bert" else E5_CONFIG
    else:
        pipeline = ["char_encoder", corpus.task]
        config = FAST_CONFIG
        if system.kind == "lac":
            extra += ["--paths.lac", str(data["lac"])]
            config = LAC_CONFIG
    common += [
        *f"--training.optimizer.learn_rate.total_steps {steps} --nlp.pipeline".split(),
        json.dumps(pipeline),
    ]
    return [
        "spacy",
        "train",
        str(config),
        *paths,
        *common,
        "--training.score_weights",
        json.dumps({score: 1.0}),
        *extra,
    ]


def prf(counts: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    tp, fp, fn = (sum(column) for column in zip(*counts)) if counts else (0, 0, 0)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": 100 * p, "r": 100 * r, "f": 100 * f}


def predictions(docs: Sequence[Any], task: str) -> list[Any]:
    if task == "ner":
        return [{(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents} for doc in docs]
    return [max(doc.cats, key=doc.cats.get) if doc.cats else None for doc in docs]


def predict_interleaved(
    nlps: dict[str, Any], texts: Sequence[str], task: str, repeats: int
) -> tuple[dict[str, list[Any]], dict[str, list[float]]]:
    """Each pipeline's predictions and the seconds of each of its timed passes.

    Passes are interleaved (every system once per round) after one untimed pass each, so
    drift of the machine's speed over the run and warm caches (the Jieba tokenizer's) fall
    on all systems alike; timing one system's passes right after its training let the
    ratio of the same two models move by a third between runs."""
    outputs = {
        name: predictions(list(nlp.pipe(texts, batch_size=INFER_BATCH)), task) for name, nlp in nlps.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in nlps}
    for _ in range(repeats):
        for name, nlp in nlps.items():
            t0 = time.perf_counter()
            docs = list(nlp.pipe(texts, batch_size=INFER_BATCH))
            seconds[name].append(time.perf_counter() - t0)
            outputs[name] = predictions(docs, task)
    return outputs, seconds


def prepare(corpus: Corpus, settings: Any, workdir: Path, kinds: set[str]) -> dict[str, Path]:
    data: dict[str, Path] = {}
    if "lac" in kinds:
        data["lac"] = workdir / "lac"
        if not (data["lac"] / "lac.npz").is_file():
            run_cli(["spacy_ft", "init-lac", str(data["lac"])], 1, workdir / "init_lac.log")
    if "e5" in kinds:
        data["e5"] = workdir / "e5_small"
        if not (data["e5"] / "config.json").is_file():
            run_cli(["spacy_ft", "init-multilingual-e5", str(data["e5"])], 1, workdir / "init_e5.log")
    for split, size in (("train", settings.train_size), ("dev", settings.dev_size)):
        source = subsampled(getattr(corpus, split), corpus, size, workdir)
        data[f"{split}_source"] = source
        data[split] = workdir / f"{corpus.name}_{split}.spacy"
        command = [
            "spacy_ft",
            "convert",
            str(source),
            str(data[split]),
            "--format",
            corpus.fmt,
            "--lang",
            "zh",
        ]
        run_cli([*command, *corpus.options], 1, workdir / f"convert_{corpus.name}_{split}.log")
    if "char_bert" in kinds:
        texts = workdir / f"{corpus.name}_train_texts.txt"
        lines = [s.text + "\n" for s in read(corpus, data["train_source"])]
        texts.write_text("".join(lines), encoding="utf8")
        data["char_bert"] = workdir / f"{corpus.name}_char_bert"
        command = ["spacy_ft", "init-char-bert", str(data["char_bert"]), "--texts", str(texts)]
        run_cli(command, 1, workdir / "char_bert.log")
    return data


def read(corpus: Corpus, path: Path) -> list[Any]:
    from spacy_ft.corpora import read_samples

    options = {"label_map": {"0": "NEG", "1": "POS"}, "quoting": False} if corpus.fmt == "tsv" else {}
    return list(read_samples(path, corpus.fmt, **options))


def run_corpus(corpus: Corpus, systems: Sequence[str], settings: Any, workdir: Path) -> dict[str, Any]:
    import spacy
    import torch

    chosen = [name for name in systems if corpus.task in SYSTEMS[name].tasks]
    data = prepare(corpus, settings, workdir, {SYSTEMS[name].kind for name in chosen})
    gold = read(corpus, data["dev_source"])
    texts = [sample.text for sample in gold]
    chars = sum(len(text) - text.count(" ") for text in texts)
    results: dict[str, Result] = {}
    per_doc: dict[str, list[Any]] = {}
    trained: dict[str, tuple[Path, float]] = {}
    for name in chosen:
        command = train_command(name, corpus, data, settings, workdir)
        output = Path(command[command.index("--output") + 1])
        timing = output / "train_seconds.json"
        if settings.reuse and timing.is_file():
            train_seconds = json.loads(timing.read_text())["seconds"]
            print(f"[{corpus.name}] reusing {output} (trained in {train_seconds:.0f} s)", flush=True)
        else:
            print(f"[{corpus.name}] training {name} ...", flush=True)
            train_seconds = run_cli(command, settings.threads, workdir / f"train_{corpus.name}_{name}.log")
            timing.write_text(json.dumps({"seconds": train_seconds}))
        trained[name] = (output, train_seconds)
    torch.set_num_threads(settings.infer_threads)
    nlps = {name: spacy.load(output / "model-best") for name, (output, _) in trained.items()}
    all_outputs, all_seconds = predict_interleaved(nlps, texts, corpus.task, settings.repeats)
    del nlps
    for name, (output, train_seconds) in trained.items():
        system, outputs, seconds = SYSTEMS[name], all_outputs[name], all_seconds[name]
        if corpus.task == "ner":
            counts = entity_counts([sample.entities for sample in gold], outputs)
            score = prf(counts)
            per_doc[name] = counts
        else:
            if len(outputs) != len(gold):
                raise ValueError(f"{len(outputs)} predictions for {len(gold)} docs")
            correct = [
                int(pred is not None and sample.cats.get(pred) == 1.0) for sample, pred in zip(gold, outputs)
            ]
            score = {"accuracy": 100 * sum(correct) / len(correct)}
            per_doc[name] = correct
        median = statistics.median(seconds)
        steps, size = settings.steps[system.steps_key], directory_mb(output / "model-best")
        results[name] = Result(name, corpus.name, score, train_seconds, steps, chars / median, seconds, size)
        print(
            f"[{corpus.name}] {name}: {score} train {train_seconds:.0f}s infer {chars / median:,.0f} chars/s",
            flush=True,
        )
    return {
        "corpus": corpus.name,
        "task": corpus.task,
        "dev_docs": len(gold),
        "dev_chars": chars,
        "results": results,
        "per_doc": per_doc,
    }


def comparisons(run: dict[str, Any]) -> list[dict[str, Any]]:
    per_doc, results = run["per_doc"], run["results"]
    rows = []
    for ours in (name for name in OURS if name in per_doc):
        for other in per_doc:
            if other == ours or (other in OURS and OURS.index(other) < OURS.index(ours)):
                continue
            if run["task"] == "ner":
                diff = paired_f1_difference(per_doc[ours], per_doc[other])
            else:
                diff = paired_difference([(per_doc[ours], per_doc[other])])
                diff.pop("per_seed", None)
            speed = results[ours].infer_chars_per_s / results[other].infer_chars_per_s
            # The same round's passes are paired: their ratios show how far the ratio moves.
            rounds = [b / a for a, b in zip(results[ours].infer_seconds, results[other].infer_seconds)]
            rows.append(
                {
                    "a": ours,
                    "b": other,
                    **diff,
                    "a_ge_b": diff["ci95"][0] >= 0,
                    "speed_ratio": speed,
                    "speed_ratio_rounds": [min(rounds), max(rounds)],
                }
            )
    return rows


def targets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for run in runs:
        corpus = run["corpus"]
        for name, goals in TARGETS.items():
            ours = run["results"].get(name)
            if ours is None:
                continue
            if corpus in goals:
                value = ours.score["f"] if run["task"] == "ner" else ours.score["accuracy"]
                goal = goals[corpus]
                checks.append(check(f"{name} {corpus} dev >= {goal}", f"{value:.2f}", value >= goal))
                limit = goals["minutes"]
                minutes = f"{ours.train_seconds / 60:.1f} min"
                checks.append(
                    check(
                        f"{name} {corpus} training <= {limit} min", minutes, ours.train_seconds <= 60 * limit
                    )
                )
            base = run["results"].get(BASELINE)
            # The speed target is the NER's against spaCy's CNN; spaCy's efficiency textcat is a
            # bag of words with no CNN, so its speed is no yardstick for an encoder.
            if base is not None and run["task"] == "ner":
                ratio = ours.infer_chars_per_s / base.infer_chars_per_s
                goal = goals["speed"]
                checks.append(
                    check(f"{name} {corpus} inference >= {goal}x {BASELINE}", f"{ratio:.2f}", ratio >= goal)
                )
    return checks


def format_table(runs: list[dict[str, Any]]) -> str:
    lines = []
    for run in runs:
        metric = "F1 (P / R)" if run["task"] == "ner" else "accuracy"
        lines.append(f"\n{run['corpus']} dev ({run['dev_docs']} docs, {run['dev_chars']:,} chars)")
        header = ("system", metric, "training", "steps", "inference chars/s", "model MB")
        rows = []
        for name, res in run["results"].items():
            if run["task"] == "ner":
                value = f"{res.score['f']:.2f} ({res.score['p']:.1f} / {res.score['r']:.1f})"
            else:
                value = f"{res.score['accuracy']:.2f}"
            cells = (
                f"{res.train_seconds:.0f} s",
                res.steps,
                f"{res.infer_chars_per_s:,.0f}",
                f"{res.model_mb:.1f}",
            )
            rows.append((SYSTEMS[name].title, value, *cells))
        lines.append(markdown_table(header, rows, "lrrrrr"))
        for row in run.get("comparisons", []):
            lines.append(
                f"  {row['a']} - {row['b']}: {row['difference']:+.2f} [{row['ci95'][0]:+.2f}, {row['ci95'][1]:+.2f}]"
                f"  speed x{row['speed_ratio']:.2f} (rounds x{row['speed_ratio_rounds'][0]:.2f}-{row['speed_ratio_rounds'][1]:.2f})"
            )
    return "\n".join(lines)


def report(args: argparse.Namespace, runs: list[dict[str, Any]], started: float) -> dict[str, Any]:
    datasets = []
    for run in runs:
        results = {name: vars(result) for name, result in run["results"].items()}
        datasets.append({key: value for key, value in run.items() if key != "per_doc"} | {"results": results})
    settings = {key: value for key, value in vars(args).items() if key != "steps"}
    settings |= {"output": str(args.output), "workdir": str(args.workdir)}
    seconds = time.perf_counter() - started
    return {
        "benchmark": "zh_fast",
        "settings": settings,
        "seconds": seconds,
        "datasets": datasets,
        "checks": targets(runs),
    }


#: Training steps per system kind: (option, default, --quick); the defaults are the configs' own.
STEPS = {
    "fast": ("--fast-steps", 1500),
    "lac": ("--lac-steps", 1500),
    "e5": ("--e5-steps", 600),
    "spacy_efficiency": ("--spacy-steps", 3000),
    "spacy_accuracy": ("--spacy-accuracy-steps", 1000),  # ~0.5 s a step on one core: the others' budget
    "char_bert": ("--char-bert-steps", 600),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = script_parser(__doc__, DEFAULT_OUTPUT)
    parser.add_argument("--datasets", default="resume,weibo,chnsenticorp")
    parser.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS), help=f"any of {', '.join(SYSTEMS)}")
    for option, default in STEPS.values():
        parser.add_argument(option, type=int, default=default)
    parser.add_argument("--eval-frequency", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1, help="torch/BLAS threads for training")
    parser.add_argument(
        "--infer-threads", type=int, default=0, help="torch threads for inference (default: --threads)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --workdir: keep models a previous run trained there"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed inference rounds (every system once a round); medians are reported",
    )
    parser.add_argument("--train-size", type=int, default=0, help="first N training samples (0 = all)")
    parser.add_argument("--dev-size", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny subsample, few steps")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep models and logs here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    for option, names in (("system", args.systems), ("dataset", args.datasets)):
        known = SYSTEMS if option == "system" else CORPORA
        unknown = [name for name in names.split(",") if name not in known]
        if unknown:
            parser.error(f"unknown {option}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.quick:
        for option, _ in STEPS.values():
            setattr(args, option[2:].replace("-", "_"), 40)
        args.eval_frequency, args.train_size, args.dev_size, args.repeats = 20, 200, 60, 1
    args.steps = {kind: getattr(args, option[2:].replace("-", "_")) for kind, (option, _) in STEPS.items()}
    args.infer_threads = args.infer_threads or args.threads
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not DATA_ROOT.exists():
        print(f"{DATA_ROOT} not found: nothing to benchmark")
        return 0
    runs = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.datasets.split(","):
            corpus = CORPORA[name]
            if corpus.missing():
                continue
            run = run_corpus(corpus, args.systems.split(","), args, workdir)
            run["comparisons"] = comparisons(run)
            runs.append(run)
            write_report(args.output, report(args, runs, started))  # a later corpus's failure keeps this one
    print(format_table(runs))
    print_checks(targets(runs))
    write_report(args.output, report(args, runs, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
