"""Counterfactual data augmentation: swapped copies of training docs.

A model that learns "她 -> negative" from skewed data sees, in the copies, the
same sentence with 他, and the same label. Each copy swaps every selected
attribute the doc mentions: attributes with the same groups move together
(gender and gender_names), so 张伟说他 becomes 张芳说她, not 张芳说他. Copies are
re-tokenized with the pipeline's tokenizer through the corpus converter, so
entity offsets stay exact (tokens are split at entity edges) and ``doc.cats``
and the example weight in ``user_data`` are copied.

A term that straddles an entity edge (the entity 北方 inside the term 北方人) is
left unswapped in that copy, so the entity keeps its exact text; the report
counts and shows these, nothing is dropped silently.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from spacy.language import Language
from spacy.tokens import Doc

from spacy_ft.bias.terms import Edit, Span, TermList, apply_edits
from spacy_ft.corpora import ConversionReport, sample_to_doc
from spacy_ft.corpora.records import Sample
from spacy_ft.validation import check_choice

MODES = ("add", "replace")
MAX_EXAMPLES = 5


@dataclass
class AugmentReport:
    """What an augmentation run wrote."""

    docs_in: int = 0
    docs_with_mentions: int = 0
    copies: int = 0
    docs_out: int = 0
    #: Terms swapped, per attribute.
    terms_swapped: Counter = field(default_factory=Counter)
    #: Entities written in the copies (each copy keeps all of its doc's entities).
    entities_kept: int = 0
    #: Terms left unswapped because an entity edge lies inside them.
    terms_at_entity_edges: int = 0
    examples_at_entity_edges: list[str] = field(default_factory=list)
    conversion: ConversionReport = field(default_factory=ConversionReport)

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_with_mentions": self.docs_with_mentions,
            "copies": self.copies,
            "docs_out": self.docs_out,
            "terms_swapped": dict(self.terms_swapped.most_common()),
            "entities_kept": self.entities_kept,
            "terms_at_entity_edges": self.terms_at_entity_edges,
            "examples_at_entity_edges": list(self.examples_at_entity_edges),
            "tokens_split": self.conversion.tokens_split,
        }

    def summary(self) -> str:
        swapped = ", ".join(f"{k} {v}" for k, v in self.terms_swapped.most_common()) or "none"
        text = (
            f"{self.docs_in} docs in, {self.docs_with_mentions} with mentions, {self.copies} copies written, "
            f"{self.docs_out} docs out; terms swapped: {swapped}; {self.entities_kept} entities kept in copies, "
            f"{self.conversion.tokens_split} tokens split at entity edges; "
            f"{self.terms_at_entity_edges} terms left unswapped at entity edges"
        )
        if self.examples_at_entity_edges:
            text += " (e.g. " + "; ".join(self.examples_at_entity_edges) + ")"
        return text


def augment_docs(
    docs: Iterable[Doc],
    terms: TermList,
    nlp: Language,
    *,
    attributes: Optional[Sequence[str]] = None,
    mode: str = "add",
    seed: int = 0,
) -> tuple[list[Doc], AugmentReport]:
    """Counterfactual copies of the docs that mention a selected attribute.

    ``mode="add"``: every doc plus one copy per doc with mentions; ``"replace"``: the
    copy takes the doc's place. Where an attribute has several other groups
    (ethnicity), the copy's group is drawn with ``seed``. ``nlp`` gives the tokenizer.
    """
    check_choice(mode, MODES, "mode", component="spacy_ft augment")
    selected = list(attributes) if attributes is not None else list(terms.attributes)
    unknown = [name for name in selected if name not in terms.attributes]
    if unknown:
        raise ValueError(
            f"[spacy_ft augment] attributes: unknown {unknown!r}; the term list has {sorted(terms.attributes)}"
        )
    rng = random.Random(seed)
    report = AugmentReport()
    out: list[Doc] = []
    for number, doc in enumerate(docs, start=1):
        report.docs_in += 1
        copy = _copy(doc, number, terms, nlp, selected, rng, report)
        if copy is None or mode == "add":
            out.append(doc)
        if copy is not None:
            out.append(copy)
    report.docs_out = len(out)
    return out, report


def _copy(
    doc: Doc,
    number: int,
    terms: TermList,
    nlp: Language,
    attributes: Sequence[str],
    rng: random.Random,
    report: AugmentReport,
) -> Optional[Doc]:
    """One counterfactual copy of ``doc``, or None when it mentions nothing to swap."""
    entities: list[Span] = [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
    edits = _family_edits(doc.text, terms, attributes, rng)
    if not edits:
        return None
    report.docs_with_mentions += 1
    kept = [(attribute, edit) for attribute, edit in edits if not _breaks_entity(doc.text, edit, entities, report)]
    if not kept:
        return None
    text, moved = apply_edits(doc.text, [edit for _, edit in kept], entities)
    sample = Sample(text, moved, source=f"augmented doc {number}", line=number, cats=dict(doc.cats))
    copy = sample_to_doc(nlp, sample, report.conversion)
    copy.user_data.update({key: value for key, value in doc.user_data.items() if isinstance(key, str)})
    report.copies += 1
    report.entities_kept += len(copy.ents)
    report.terms_swapped.update(attribute for attribute, _ in kept)
    return copy


def _family_edits(
    text: str, terms: TermList, attributes: Sequence[str], rng: random.Random
) -> list[tuple[str, Edit]]:
    """Edits swapping every mentioned family of attributes (same groups) to one
    other group, drawn from those that change the text."""
    mentions = terms.find(text, attributes)
    attribute_at = {(m.start, m.end): m.attribute for m in mentions}
    families: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for mention in mentions:
        family = families.setdefault(tuple(terms.groups_of(mention.attribute)), {})
        family.setdefault(mention.attribute, set()).add(mention.group)
    edits: list[tuple[str, Edit]] = []
    for groups, members in families.items():
        present = set().union(*members.values())
        target = rng.choice([group for group in groups if present != {group}])
        for edit in terms.counterfactual_edits(text, list(members), target):
            edits.append((attribute_at[edit[:2]], edit))
    return sorted(edits, key=lambda item: item[1])


def _breaks_entity(text: str, edit: Edit, entities: Sequence[Span], report: AugmentReport) -> bool:
    """True (and counted) when an entity edge lies strictly inside the swapped term."""
    start, end, new = edit
    for ent_start, ent_end, label in entities:
        if start < ent_start < end or start < ent_end < end:
            report.terms_at_entity_edges += 1
            if len(report.examples_at_entity_edges) < MAX_EXAMPLES:
                report.examples_at_entity_edges.append(
                    f"{text[start:end]}->{new} vs {label} {text[ent_start:ent_end]!r}"
                )
            return True
    return False
