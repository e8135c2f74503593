"""Report artifacts from scored examples: classifier confusion matrices and a
displaCy page of sample predictions.

Scores (``spacy_ft.scoring``) say how good a pipeline is; these say where it
goes wrong: which classes the classifier mixes up, and what its predictions
look like next to the gold annotation. ``python -m spacy_ft evaluate`` writes
them; the functions take plain :class:`~spacy.training.Example` objects, so a
notebook can call them on any pipeline's output.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from spacy.tokens import Doc
from spacy.training import Example

#: Entity colours cycled over the labels in a page (displaCy's own cover few labels).
PALETTE = (
    "#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb",
    "#9cc9cc", "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2",
)  # fmt: skip
#: Predicted labels shown (with scores) under each doc in the page.
TOP_CATS = 3


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


def displacy_page(
    examples: Sequence[Example],
    limit: int = 20,
    *,
    settings: Optional[ClassifierSettings] = None,
    show_gold: bool = True,
) -> str:
    """A self-contained HTML page of the first ``limit`` predicted docs, each
    rendered by ``displacy.render(style="ent")`` and followed by its top cats.

    A doc whose predicted entities or classifier decision differ from gold is
    marked, and (``show_gold``) its gold entities are rendered below it, so a
    reviewer sees the miss without a second file. Cats decisions follow
    ``settings`` (default: exclusive over the predicted labels). Each doc is
    rendered on its own and the sections are wrapped in displaCy's page
    template, because ``render(page=True)`` puts nothing between docs.
    """
    from spacy.displacy.templates import TPL_PAGE

    shown = list(examples)[:limit]
    labels = sorted({ent.label_ for eg in shown for doc in (eg.predicted, eg.reference) for ent in doc.ents})
    colors = {label.upper(): PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    differences = [_differences(eg, settings) for eg in shown]
    sections = [
        _section(i, eg, ents_differ, cats_differ, show_gold, colors)
        for i, (eg, (ents_differ, cats_differ)) in enumerate(zip(shown, differences), 1)
    ]
    intro = (
        f"<h1>Sample predictions</h1><p>The first {len(shown)} of {len(examples)} docs; "
        f"{sum(map(any, differences))} differ from gold (marked &#10007;).</p>"
    )
    lang = shown[0].predicted.lang_ if shown else "en"
    page = TPL_PAGE.format(content=intro + "\n".join(sections), lang=lang, dir="ltr")
    # Declared, so a browser opening the file from disk reads Chinese right.
    return page.replace("<head>", '<head>\n        <meta charset="utf-8">', 1)


def _differences(example: Example, settings: Optional[ClassifierSettings]) -> tuple[bool, bool]:
    """Whether the predicted entities, and the classifier decision, differ from gold."""
    predicted, gold = example.predicted, example.reference
    ents_differ = _ent_set(predicted) != _ent_set(gold)
    cats_differ = bool(gold.cats) and _decision(predicted.cats, settings) != _decision(gold.cats, None, True)
    return ents_differ, cats_differ


def _section(
    index: int, example: Example, ents_differ: bool, cats_differ: bool, show_gold: bool, colors: dict
) -> str:
    predicted, gold = example.predicted, example.reference
    differs = ents_differ or cats_differ
    mark = " &#10007; differs from gold" if differs else ""
    parts = [
        f'<section class="{"differs" if differs else "agrees"}" style="border-left: 4px solid '
        f'{"#d33" if differs else "#ccc"}; padding-left: 1rem; margin-bottom: 2rem">',
        f"<h3>#{index}{mark}</h3>",
        _render(predicted, colors),
    ]
    if predicted.cats:
        parts.append(f"<p><b>cats</b>: {_top_cats(predicted.cats)}</p>")
    if differs and show_gold:
        parts.append("<p><b>gold</b>" + (f" cats: {_top_cats(gold.cats)}" if gold.cats else "") + "</p>")
        if ents_differ:
            parts.append(_render(gold, colors))
    parts.append("</section>")
    return "\n".join(parts)


def _ent_set(doc: Doc) -> set[tuple[int, int, str]]:
    return {(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents}


def _decision(cats: Mapping[str, float], settings: Optional[ClassifierSettings], gold: bool = False) -> list:
    """The labels that apply; gold cats are 0/1, so a positive value applies."""
    if gold:
        return sorted(label for label, value in cats.items() if value > 0)
    settings = settings or ClassifierSettings(labels=list(cats))
    return sorted(settings.decide(cats))


def _top_cats(cats: Mapping[str, float]) -> str:
    top = sorted(cats.items(), key=lambda item: -item[1])[:TOP_CATS]
    return ", ".join(f"{html.escape(label)} {score:.3f}" for label, score in top)


def _render(doc: Doc, colors: dict) -> str:
    """One doc's entity markup. Manual data, so docs without entities render
    plainly instead of warning once per doc."""
    from spacy import displacy

    ents = [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents]
    item = {"text": doc.text, "ents": ents, "title": None}
    return displacy.render(item, style="ent", manual=True, jupyter=False, options={"colors": colors})
