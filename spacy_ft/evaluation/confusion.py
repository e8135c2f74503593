"""The classifier's decision rule and its confusion matrix.

Scores (:mod:`spacy_ft.evaluation.entities`, :mod:`spacy_ft.textcat.scoring`)
say how good a pipeline is; a confusion matrix says which classes the classifier
mixes up. ``ClassifierSettings.decide`` is the one copy of the rule that turns
``doc.cats`` into labels: ``spacy_ft_textcat`` applies it too. ``python -m spacy_ft evaluate`` writes
them; the functions take plain :class:`~spacy.training.Example` objects, so a
notebook can call them on any pipeline's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from spacy.training import Example


@dataclass(frozen=True)
class ClassifierSettings:
    """How a classifier turns ``doc.cats`` scores into decisions: the top label
    (exclusive) or every label at or above its threshold (multi-label)."""

    labels: list[str]
    multi_label: bool = False
    threshold: float = 0.5
    #: Per-label thresholds (multi-label); labels not here use ``threshold``.
    thresholds: dict[str, float] = field(default_factory=dict)

    def threshold_for(self, label: str) -> float:
        return self.thresholds.get(label, self.threshold)

    def decide(self, cats: Mapping[str, float]) -> list[str]:
        """The labels that apply, as ``TransformerTextCategorizer.decide``."""
        if not self.multi_label:
            scored = [label for label in self.labels if label in cats]
            return [max(scored, key=lambda label: cats[label])] if scored else []
        return [label for label in self.labels if cats.get(label, 0.0) >= self.threshold_for(label)]


def classifier_settings(component: Any) -> ClassifierSettings:
    """Read a text classifier's decision settings from the component itself:
    ``spacy_ft_textcat`` (``multi_label``, tuned per-label ``thresholds``) or
    spaCy's ``textcat`` / ``textcat_multilabel`` (one ``threshold``)."""
    from spacy.pipeline.textcat_multilabel import MultiLabel_TextCategorizer

    multi_label = getattr(component, "multi_label", isinstance(component, MultiLabel_TextCategorizer))
    return ClassifierSettings(
        labels=list(component.labels),
        multi_label=bool(multi_label),
        threshold=float(component.cfg.get("threshold", 0.5)),
        thresholds=dict(getattr(component, "thresholds", {}) if multi_label else {}),
    )


# -- confusion matrices ------------------------------------------------------------


def confusion_matrix(examples: Iterable[Example], settings: ClassifierSettings) -> dict[str, Any]:
    """Classifier confusion on gold ``doc.cats``, JSON-ready.

    Exclusive: ``matrix[gold][predicted]`` counts docs by their top gold label
    and top predicted label; gold labels the classifier lacks get a row, so no
    doc goes uncounted, and docs without gold or predicted cats are counted
    in ``skipped``. Multi-label: per label a 2x2 (tp, fp, fn, tn) at the
    classifier's own threshold for it; docs whose gold lacks the label are
    missing annotation, counted in ``missing``, not negatives.
    """
    examples = list(examples)
    if settings.multi_label:
        return _multi_label_confusion(examples, settings)
    labels = list(settings.labels)
    for example in examples:
        labels += [label for label in example.reference.cats if label not in labels]
    matrix = {gold: dict.fromkeys(labels, 0) for gold in labels}
    skipped = 0
    for example in examples:
        gold = _gold_label(example.reference.cats, labels)
        guess = settings.decide(example.predicted.cats)
        if gold is None or not guess:
            skipped += 1
            continue
        matrix[gold][guess[0]] += 1
    return {"multi_label": False, "labels": labels, "matrix": matrix, "skipped": skipped}


def _gold_label(cats: Mapping[str, float], labels: Sequence[str]) -> Optional[str]:
    positive = [label for label in labels if cats.get(label, 0.0) > 0]
    return max(positive, key=lambda label: cats[label]) if positive else None


def _multi_label_confusion(examples: list[Example], settings: ClassifierSettings) -> dict[str, Any]:
    per_label = {}
    for label in settings.labels:
        counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "missing": 0}
        threshold = settings.threshold_for(label)
        for example in examples:
            gold = example.reference.cats.get(label)
            if gold is None:
                counts["missing"] += 1
                continue
            guess = example.predicted.cats.get(label, 0.0) >= threshold
            counts[("t" if guess == (gold > 0) else "f") + ("p" if guess else "n")] += 1
        per_label[label] = {**counts, "threshold": threshold}
    return {"multi_label": True, "labels": per_label}


def format_confusion(confusion: Mapping[str, Any], name: str = "") -> str:
    """The confusion as a text table: gold rows x predicted columns, or one
    row of tp / fp / fn / tn per label."""
    title = f"{name} confusion" if name else "confusion"
    if confusion["multi_label"]:
        header = ["label", "threshold", "tp", "fp", "fn", "tn", "missing"]
        rows = [
            [label, f"{c['threshold']:.4f}", *(str(c[key]) for key in header[2:])]
            for label, c in confusion["labels"].items()
        ]
        return f"{title} (multi-label, per label)\n{_table(header, rows)}"
    labels = confusion["labels"]
    rows = [[gold, *(str(confusion["matrix"][gold][guess]) for guess in labels)] for gold in labels]
    header = ["gold \\ predicted", *labels]
    text = f"{title} (rows: gold, columns: predicted)\n{_table(header, rows)}"
    if confusion["skipped"]:
        text += f"{confusion['skipped']} docs without gold or predicted cats not counted\n"
    return text


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned first column, right-aligned numbers, two spaces between."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    return "\n".join(line(row) for row in [header, *rows]) + "\n"


# -- displaCy page -----------------------------------------------------------------
