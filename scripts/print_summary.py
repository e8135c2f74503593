"""Print what the demo workflow produced: scores, packages and report files.

The last step of `spacy project run all`, so a new user sees at a glance
whether the pipelines learned and where to find them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _score_line(lang: str, scores: dict) -> str:
    parts = [f"{scores.get('docs', 0)} dev docs"]
    ents = scores.get("ents")
    if ents:
        micro = ents.get("micro avg", {})
        if "f1" in micro:
            parts.append(f"NER micro F1 {micro['f1']:.3f}")
    for name, value in scores.items():
        if isinstance(value, dict) and "cats_score" in value:
            parts.append(f"{name} {value.get('cats_score_desc', 'cats_score')} {value['cats_score']:.3f}")
    return f"{lang}: " + ", ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, default=Path("metrics"))
    parser.add_argument("--packages", type=Path, default=Path("packages"))
    args = parser.parse_args()
    print("\n=== spacy_ft demo: results ===")
    for scores_path in sorted(args.metrics.glob("*_scores.json")):
        # "zh_scores.json" -> "zh", "zh_fast_scores.json" -> "zh_fast" (the transformer-free pipeline)
        lang = scores_path.name[: -len("_scores.json")]
        print(_score_line(lang, json.loads(scores_path.read_text(encoding="utf-8"))))
    for smoke_path in sorted(args.metrics.glob("*_smoke.json")):
        smoke = json.loads(smoke_path.read_text(encoding="utf-8"))
        print(f"spacy.load({smoke['name']!r}) in a fresh venv: identical on {smoke['docs']} docs")
    for summary_path in sorted(args.metrics.glob("*_bias/summary.txt")):
        lines = summary_path.read_text(encoding="utf-8").strip().splitlines()
        print(f"\nBias audit ({summary_path.parent.name}, full report {summary_path.parent / 'audit.html'}):")
        for line in lines[:8]:
            print(f"  {line}")
    print("\nPackaged pipelines (pip install one, then spacy.load('<name>')):")
    for dist in sorted(args.packages.glob("*/dist/*")):
        print(f"  {dist}")
    print("\nReports:")
    for report in sorted(p for p in args.metrics.glob("*") if p.is_file()):
        print(f"  {report}")


if __name__ == "__main__":
    main()
