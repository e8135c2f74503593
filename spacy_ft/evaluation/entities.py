"""Scores with spaCy's names, shared by components, evaluation and benchmarks."""

from typing import Any, Dict, Iterable

from spacy.scorer import PRFScore
from spacy.training import Example


def _count_char_entities(examples: Iterable[Example]):
    """Per-type and overall counts of exact (start char, end char, label) matches."""
    per_type: Dict[str, PRFScore] = {}
    support: Dict[str, int] = {}
    total = PRFScore()
    for example in examples:
        gold = {(e.start_char, e.end_char, e.label_) for e in example.reference.ents}
        guess = {(e.start_char, e.end_char, e.label_) for e in example.predicted.ents}
        for label in {e[2] for e in gold | guess}:
            per_type.setdefault(label, PRFScore()).score_set(
                {e for e in guess if e[2] == label}, {e for e in gold if e[2] == label}
            )
        for _, _, label in gold:
            support[label] = support.get(label, 0) + 1
        total.score_set(guess, gold)
    return per_type, support, total


def score_char_entities(examples: Iterable[Example]) -> Dict[str, Any]:
    """Entity P/R/F on exact character offsets, overall and per type.

    Scoring on characters, not tokens, judges a Chinese NER against the
    corpus's own character annotation, whatever the tokenizer did.
    """
    per_type, _, total = _count_char_entities(examples)
    return {
        "ents_p": total.precision,
        "ents_r": total.recall,
        "ents_f": total.fscore,
        "ents_per_type": {label: prf.to_dict() for label, prf in sorted(per_type.items())},
    }


def entity_report(examples: Iterable[Example]) -> Dict[str, Any]:
    """Per-type precision, recall, F1 and support (gold count), with micro,
    macro and support-weighted averages, as seqeval's ``classification_report``,
    on exact character offsets."""
    per_type, support, micro = _count_char_entities(examples)
    rows = {
        label: {
            "precision": prf.precision,
            "recall": prf.recall,
            "f1": prf.fscore,
            "support": support.get(label, 0),
        }
        for label, prf in sorted(per_type.items())
    }
    total = sum(support.values())

    def average(weights: Dict[str, float]) -> Dict[str, float]:
        norm = sum(weights.values()) or 1.0
        return {
            key: sum(rows[label][key] * w for label, w in weights.items()) / norm
            for key in ("precision", "recall", "f1")
        }

    return {
        "types": rows,
        "micro avg": {
            "precision": micro.precision,
            "recall": micro.recall,
            "f1": micro.fscore,
            "support": total,
        },
        "macro avg": {**average({label: 1.0 for label in rows}), "support": total},
        "weighted avg": {
            **average({label: float(row["support"]) for label, row in rows.items()}),
            "support": total,
        },
    }


def format_entity_report(report: Dict[str, Any], digits: int = 4) -> str:
    """The report as text, laid out like seqeval's ``classification_report``."""
    names = list(report["types"]) + ["micro avg", "macro avg", "weighted avg"]
    width = max([len(name) for name in names] + [len("weighted avg")])
    header = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1-score':>9}  {'support':>9}"
    lines = [header, ""]

    def line(name: str, row: Dict[str, float]) -> str:
        return (
            f"{name:>{width}}  {row['precision']:>9.{digits}f}  {row['recall']:>9.{digits}f}  "
            f"{row['f1']:>9.{digits}f}  {int(row['support']):>9d}"
        )

    lines += [line(name, row) for name, row in report["types"].items()]
    lines.append("")
    lines += [line(name, report[name]) for name in ("micro avg", "macro avg", "weighted avg")]
    return "\n".join(lines) + "\n"
