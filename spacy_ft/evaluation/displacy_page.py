"""An HTML page of sample predictions next to gold, for reviewers.

displaCy renders each doc's entities; the page around them is a Jinja2 template
(``templates/displacy_page.html.j2``; Jinja2 comes with spaCy), which escapes
every text it is given, so user text cannot inject markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from spacy.tokens import Doc
from spacy.training import Example

from spacy_ft.evaluation.confusion import ClassifierSettings
from spacy_ft.evaluation.templates import render

#: Entity colours cycled over the labels in a page (displaCy's own cover few labels).
PALETTE = (
    "#7aecec", "#bfeeb7", "#feca74", "#ff9561", "#aa9cfc", "#c887fb",
    "#9cc9cc", "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9", "#e4e7d2",
)  # fmt: skip
#: Predicted labels shown (with scores) under each doc in the page.
TOP_CATS = 3


@dataclass(frozen=True)
class PageSection:
    """One doc of the page: its markup and how it differs from gold."""

    predicted_markup: str
    gold_markup: str
    top_cats: str
    gold_cats: str
    ents_differ: bool
    cats_differ: bool

    @property
    def differs(self) -> bool:
        return self.ents_differ or self.cats_differ


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
    rendered on its own, because ``render(page=True)`` puts nothing between docs.
    """
    shown = list(examples)[:limit]
    labels = sorted({ent.label_ for eg in shown for doc in (eg.predicted, eg.reference) for ent in doc.ents})
    colors = {label.upper(): PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}
    sections = [_section(eg, settings, colors) for eg in shown]
    return render(
        "displacy_page.html.j2",
        lang=shown[0].predicted.lang_ if shown else "en",
        sections=sections,
        total=len(examples),
        n_differ=sum(section.differs for section in sections),
        show_gold=show_gold,
    )


def _section(example: Example, settings: Optional[ClassifierSettings], colors: dict) -> PageSection:
    predicted, gold = example.predicted, example.reference
    ents_differ = _ent_set(predicted) != _ent_set(gold)
    cats_differ = bool(gold.cats) and _decision(predicted.cats, settings) != _decision(gold.cats, None, True)
    return PageSection(
        predicted_markup=_render(predicted, colors),
        gold_markup=_render(gold, colors) if ents_differ else "",
        top_cats=_top_cats(predicted.cats),
        gold_cats=_top_cats(gold.cats),
        ents_differ=ents_differ,
        cats_differ=cats_differ,
    )


def _ent_set(doc: Doc) -> set[tuple[int, int, str]]:
    return {(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents}


def _decision(cats: Mapping[str, float], settings: Optional[ClassifierSettings], gold: bool = False) -> list:
    """The labels that apply; gold cats are 0/1, so a positive value applies."""
    if gold:
        return sorted(label for label, value in cats.items() if value > 0)
    settings = settings or ClassifierSettings(labels=list(cats))
    return sorted(settings.decide(cats))


def _top_cats(cats: Mapping[str, float]) -> str:
    """Plain text: the template escapes it."""
    top = sorted(cats.items(), key=lambda item: -item[1])[:TOP_CATS]
    return ", ".join(f"{label} {score:.3f}" for label, score in top)


def _render(doc: Doc, colors: dict) -> str:
    """One doc's entity markup (displaCy escapes the text). Manual data, so docs
    without entities render plainly instead of warning once per doc."""
    from spacy import displacy

    ents = [{"start": e.start_char, "end": e.end_char, "label": e.label_} for e in doc.ents]
    item = {"text": doc.text, "ents": ents, "title": None}
    return displacy.render(item, style="ent", manual=True, jupyter=False, options={"colors": colors})
