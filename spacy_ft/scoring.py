"""Scores with spaCy's names, shared by components, evaluation and benchmarks."""

import bisect
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from spacy.scorer import PRFScore, Scorer
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import registry


def score_cats(
    examples: Iterable[Example],
    *,
    labels: Sequence[str],
    multi_label: bool,
    threshold: float = 0.5,
    thresholds: Optional[Mapping[str, float]] = None,
    positive_label: Optional[str] = None,
) -> Dict[str, Any]:
    """``Scorer.score_cats`` (``cats_score``, ``cats_macro_f``, ``cats_macro_auc``,
    per-label P/R/F), with per-label decision thresholds for multi-label."""
    examples = list(examples)
    results = Scorer.score_cats(
        examples,
        "cats",
        labels=labels,
        multi_label=multi_label,
        threshold=threshold,
        positive_label=positive_label,
    )
    if not multi_label or not thresholds:
        return results
    per_label = {label: PRFScore() for label in labels}
    for example in examples:
        predicted, gold = example.predicted.cats, example.reference.cats
        for label in labels:
            if gold.get(label) is None:
                continue  # missing annotation
            guess = predicted.get(label, 0.0) >= thresholds.get(label, threshold)
            truth = gold[label] > 0
            prf = per_label[label]
            prf.tp += guess and truth
            prf.fp += guess and not truth
            prf.fn += truth and not guess
    micro = PRFScore()
    for prf in per_label.values():
        micro.tp, micro.fp, micro.fn = micro.tp + prf.tp, micro.fp + prf.fp, micro.fn + prf.fn
    n_labels = len(per_label) + 1e-100
    results.update(
        {
            "cats_micro_p": micro.precision,
            "cats_micro_r": micro.recall,
            "cats_micro_f": micro.fscore,
            "cats_macro_p": sum(p.precision for p in per_label.values()) / n_labels,
            "cats_macro_r": sum(p.recall for p in per_label.values()) / n_labels,
            "cats_macro_f": sum(p.fscore for p in per_label.values()) / n_labels,
            "cats_f_per_type": {label: prf.to_dict() for label, prf in per_label.items()},
        }
    )
    return results


def predict_gold(nlp, gold_path: Union[str, Path]) -> List[Example]:
    """Examples pairing the pipeline's predictions with the gold docs of a .spacy file."""
    path = Path(gold_path)
    if not path.is_file():
        raise ValueError(f"[spacy_ft] gold data not found: '{path}'")
    references = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    if not references:
        raise ValueError(f"[spacy_ft] gold data '{path}' holds no documents")
    predictions = nlp.pipe(reference.text for reference in references)
    return [Example(predicted, reference) for predicted, reference in zip(predictions, references)]


@registry.scorers("spacy_ft.textcat_scorer.v1")
def make_textcat_scorer():
    def textcat_scorer(examples: Iterable[Example], **cfg: Any) -> Dict[str, Any]:
        return score_cats(
            examples,
            labels=cfg["labels"],
            multi_label=cfg.get("multi_label", False),
            threshold=cfg.get("threshold", 0.5),
            thresholds=cfg.get("thresholds"),
            positive_label=cfg.get("positive_label"),
        )

    return textcat_scorer


def best_threshold(scores: Sequence[float], truths: Sequence[bool], default: float = 0.5) -> float:
    """The decision threshold with the highest F1 on (score, truth) pairs.

    Candidates are midpoints between consecutive distinct scores, so the chosen
    threshold generalises better than a threshold equal to one dev score. Ties
    go to the candidate closest to ``default``.
    """
    pairs = sorted(zip(scores, truths))
    n_pos = sum(1 for _, truth in pairs if truth)
    if not pairs or n_pos == 0:
        return default
    sorted_scores = [score for score, _ in pairs]
    positives_from = [0] * (len(pairs) + 1)  # positives among pairs[j:]
    for j in range(len(pairs) - 1, -1, -1):
        positives_from[j] = positives_from[j + 1] + bool(pairs[j][1])
    distinct = sorted(set(sorted_scores))
    candidates = [distinct[0] / 2] + [(a + b) / 2 for a, b in zip(distinct, distinct[1:])]
    best_key, best = None, default
    for candidate in candidates:
        first = bisect.bisect_left(sorted_scores, candidate)
        tp = positives_from[first]
        fp = len(pairs) - first - tp
        f1 = 2 * tp / (2 * tp + fp + (n_pos - tp)) if tp else 0.0
        key = (f1, -abs(candidate - default))
        if best_key is None or key > best_key:
            best_key, best = key, candidate
    return float(best)


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
