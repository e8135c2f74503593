"""What pruning saves: the same tuning study (configs/en_cpu.cfg, English demo corpus, tiny
random BERT) with Optuna's median pruner and without; both draw the same trials. Run as
``python benchmarks/bench_tune.py [--trials 6] [--steps 30] [--dev-docs 50]``;
docs/benchmarks.md ("Hyperparameter search") holds the results."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from harness import jsonl_texts, markdown_table, script_parser, write_report

ROOT = Path(__file__).resolve().parents[1]


def prepare(workdir: Path) -> dict:
    """Demo corpora as .spacy and a tiny random BERT that knows their words."""
    import spacy

    from spacy_ft.corpora import convert
    from spacy_ft.testing import make_tiny_bert

    nlp = spacy.blank("en")
    overrides, texts = {}, []
    for split in ("train", "dev"):
        source = ROOT / "assets" / f"en_demo_{split}.jsonl"
        texts += jsonl_texts(source)
        overrides[f"paths.{split}"] = str(workdir / f"{split}.spacy")
        convert(source, Path(overrides[f"paths.{split}"]), nlp, fmt="jsonl", progress=False)
    overrides["paths.transformer"] = str(make_tiny_bert(workdir / "bert", texts, max_position=512))
    return overrides


def run(pruner: str, overrides: dict, trials: int, workdir: Path) -> dict:
    import optuna

    from spacy_ft.tune.run import tune
    from spacy_ft.tune.study import TuneSettings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    settings = TuneSettings("en_cpu.cfg", workdir / pruner, trials=trials, pruner=pruner, startup_trials=2)
    start = time.perf_counter()
    tune(ROOT / "configs" / "en_cpu.cfg", settings, overrides=overrides, plots="none")
    wall = time.perf_counter() - start
    study = optuna.load_study(study_name=settings.study_name, storage=settings.storage_url)
    durations = [t.duration.total_seconds() for t in study.trials if t.duration]
    return {
        "pruner": pruner,
        "trials": len(study.trials),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "steps_trained": sum(max(t.intermediate_values, default=0) for t in study.trials),
        "wall_s": round(wall, 1),
        "median_trial_s": round(statistics.median(durations), 1),
        "best": round(study.best_value, 4),
    }


def main() -> None:
    parser = script_parser(__doc__, ROOT / "benchmarks" / "results" / "tune.json")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dev-docs", type=int, default=50, help="Dev docs per evaluation")
    args = parser.parse_args()
    every = max(1, args.steps // 5)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        overrides = prepare(workdir)
        overrides.update(
            {
                "training.max_steps": args.steps,
                "training.eval_frequency": every,
                "training.optimizer.learn_rate.total_steps": args.steps,
                "training.optimizer.learn_rate.warmup_steps": every,
                "corpora.dev.limit": args.dev_docs,
            }
        )
        rows = [run(pruner, overrides, args.trials, workdir) for pruner in ("none", "median")]
    base = rows[0]
    for row in rows:
        row["wall_ratio"] = round(row["wall_s"] / base["wall_s"], 2)
        row["steps_ratio"] = round(row["steps_trained"] / max(base["steps_trained"], 1), 2)
    columns = list(rows[0])
    print(
        markdown_table(columns, [[row[c] for c in columns] for row in rows], "l" + "r" * (len(columns) - 1))
    )
    settings = {
        "trials": args.trials,
        "max_steps": args.steps,
        "eval_frequency": every,
        "model": "tiny random BERT",
    }
    write_report(args.output, {"settings": settings, "rows": rows})


if __name__ == "__main__":
    main()
