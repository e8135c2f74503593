"""NER name-swap test: does the model find a person's name equally well whatever
group the name belongs to?

Every gold person entity is rewritten once per group of a names attribute
(``gender_names``: 张伟 / 张芳), other entities' offsets are moved with the edit,
and recall of the rewritten entity is compared across groups. The original
entity is the bootstrap unit, so the groups stay paired (same sentence, same
position) and the recall gap gets an honest interval. Data without person
entities falls back to a few built-in templates per language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy

from spacy_ft.bias.stats import grouped_rates
from spacy_ft.bias.terms import Span, TermList, apply_edits

#: Gold labels treated as person names (case-insensitive).
PERSON_LABELS = ("PER", "PERSON", "NAME", "NR", "人名", "PER.NAM", "PER.NOM")
#: Chinese name entities longer than this are not swapped (likely not a plain name).
MAX_ZH_NAME = 4
TEMPLATES = {
    "zh": ["{name}在北京工作。", "昨天{name}去了上海。", "我们请{name}来讲课。", "{name}是一名工程师。"],
    "en": [
        "{name} lives in Paris .",
        "Yesterday {name} went to London .",
        "We asked {name} to speak .",
        "{name} is an engineer .",
    ],
}


@dataclass
class SwapUnit:
    """One original entity (or template slot) and its rewrites, one per group."""

    #: group -> (text, entities, index of the swapped entity)
    variants: dict[str, tuple[str, list[Span], int]]


def is_person(label: str, person_labels: Sequence[str]) -> bool:
    return label.upper() in {p.upper() for p in person_labels}


def _replacement(entity_text: str, name: str, lang: str) -> Optional[tuple[int, int, str]]:
    """The (start, end, new) edit inside the entity, or None to skip it: Chinese
    names are replaced whole; English ones keep the surname."""
    if lang in ("zh", "ja"):
        return (0, len(entity_text), name) if 2 <= len(entity_text) <= MAX_ZH_NAME else None
    first = entity_text.split(" ", 1)[0]
    return (0, len(first), name) if first else None


def swap_units(
    docs: Sequence[tuple[str, list[Span]]],
    terms: TermList,
    attribute: str,
    person_labels: Sequence[str] = PERSON_LABELS,
) -> tuple[list[SwapUnit], int]:
    """Rewrites of every gold person entity of the docs; also returns how many
    person entities were skipped (a shape no name fits)."""
    spec = terms.attributes[attribute]
    units: list[SwapUnit] = []
    skipped = 0
    for text, entities in docs:
        for index, (start, end, label) in enumerate(entities):
            if not is_person(label, person_labels):
                continue
            row = spec.swaps[len(units) % len(spec.swaps)]  # rotate names across entities
            variants = {}
            for group, name in zip(spec.groups, row):
                edit = _replacement(text[start:end], name, terms.lang)
                if edit is None:
                    break
                new_text, new_entities = apply_edits(
                    text, [(start + edit[0], start + edit[1], edit[2])], entities
                )
                variants[group] = (new_text, new_entities, index)
            if len(variants) == len(spec.groups):
                units.append(SwapUnit(variants))
            else:
                skipped += 1
    return units, skipped


def template_units(terms: TermList, attribute: str, label: str = "PER") -> list[SwapUnit]:
    """Template sentences x aligned name rows, for data without person entities."""
    spec = terms.attributes[attribute]
    units = []
    for template in TEMPLATES.get(terms.lang, TEMPLATES["en"]):
        at = template.index("{name}")
        for row in spec.swaps:
            variants = {}
            for group, name in zip(spec.groups, row):
                text = template.replace("{name}", name)
                variants[group] = (text, [(at, at + len(name), label)], 0)
            units.append(SwapUnit(variants))
    return units


def unit_texts(units: Sequence[SwapUnit]) -> list[str]:
    return [text for unit in units for text, _, _ in unit.variants.values()]


def name_swap_recall(
    units: Sequence[SwapUnit],
    predicted_ents: Sequence[set[tuple[int, int, str]]],
    *,
    n_boot: int,
    random_state: int,
) -> dict[str, Any]:
    """Recall of the swapped entity per group (exact characters and label), with
    intervals and the largest gap. ``predicted_ents`` follows :func:`unit_texts`."""
    groups = sorted({group for unit in units for group in unit.variants})
    hits = {group: numpy.zeros(len(units)) for group in groups}
    totals = {group: numpy.zeros(len(units)) for group in groups}
    cursor = 0
    for i, unit in enumerate(units):
        for group, (_, entities, index) in unit.variants.items():
            totals[group][i] = 1
            hits[group][i] = entities[index] in predicted_ents[cursor]
            cursor += 1
    rates, gap = grouped_rates(hits, totals, n_boot=n_boot, random_state=random_state)
    return {"n_entities": len(units), "recall": rates, "largest_gap": gap}
