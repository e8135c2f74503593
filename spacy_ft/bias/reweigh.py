"""Reweighing (Kamiran and Calders 2012) for ``spacy_ft_textcat`` training data.

Each (group, label) cell gets ``P(group) * P(label) / P(group, label)``: cells
over-represented relative to independence are down-weighted and rare ones
up-weighted, so in the weighted data the label rate is the same in every group.
The weight goes into ``doc.user_data["weight"]``, which ``spacy_ft_textcat``
multiplies into each example's loss (``weight_key``). Unlike augmentation, the
texts are untouched; unlike post-processing, the model itself changes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Optional, Sequence

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_ft.bias.stats import groups_from_terms, groups_from_values
from spacy_ft.bias.terms import TermList
from spacy_ft.types import PathLike

Cell = tuple[str, str]


def kamiran_calders_weights(groups: Sequence[Optional[str]], labels: Sequence[str]) -> dict[Cell, float]:
    """Weight per (group, label) cell, estimated on the docs that have a group."""
    pairs = [(g, label) for g, label in zip(groups, labels) if g is not None]
    n = len(pairs)
    if n == 0:
        return {}
    by_group = Counter(g for g, _ in pairs)
    by_label = Counter(label for _, label in pairs)
    by_cell = Counter(pairs)
    return {
        (g, label): (by_group[g] / n) * (by_label[label] / n) / (count / n)
        for (g, label), count in sorted(by_cell.items())
    }


def doc_label(doc: Doc, positive_label: Optional[str] = None) -> str:
    """The label reweighing balances: the gold top label, or whether
    ``positive_label`` applies (multi-label data)."""
    if not doc.cats:
        raise ValueError(f"[spacy_ft reweigh] doc has no doc.cats: {doc.text[:60]!r}")
    if positive_label is not None:
        if positive_label not in doc.cats:
            raise ValueError(f"[spacy_ft reweigh] doc.cats has no {positive_label!r}: {doc.text[:60]!r}")
        return positive_label if doc.cats[positive_label] >= 0.5 else f"not {positive_label}"
    return max(doc.cats, key=doc.cats.__getitem__)


def reweigh_docs(
    docs: Sequence[Doc],
    terms: TermList,
    attribute: str,
    *,
    group_field: Optional[str] = None,
    weight_key: str = "weight",
    positive_label: Optional[str] = None,
) -> dict[str, Any]:
    """Set ``doc.user_data[weight_key]`` on every doc (1.0 where no group is
    known) and return the weights table with its cell counts."""
    if group_field:
        assignment = groups_from_values([d.user_data.get(group_field) for d in docs], f"field:{group_field}")
    else:
        assignment = groups_from_terms([d.text for d in docs], terms, attribute)
    labels = [doc_label(doc, positive_label) for doc in docs]
    weights = kamiran_calders_weights(assignment.groups, labels)
    for doc, group, label in zip(docs, assignment.groups, labels):
        doc.user_data[weight_key] = float(weights.get((group, label), 1.0)) if group is not None else 1.0
    counts = Counter((g, label) for g, label in zip(assignment.groups, labels) if g is not None)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for (group, label), weight in weights.items():
        table.setdefault(group, {})[label] = {"weight": weight, "count": counts[(group, label)]}
    return {
        "attribute": attribute,
        "group_source": assignment.source,
        "weight_key": weight_key,
        "n_docs": len(docs),
        "excluded": assignment.excluded,
        "weights": table,
    }


def reweigh_docbin(
    input_path: PathLike,
    output_path: PathLike,
    terms: TermList,
    attribute: str,
    **options: Any,
) -> dict[str, Any]:
    """Read a training DocBin, weight it, write it with user data kept."""
    path = Path(input_path)
    if not path.is_file():
        raise ValueError(f"[spacy_ft reweigh] training data not found: '{path}'")
    docs = list(DocBin().from_disk(path).get_docs(Vocab()))
    if not docs:
        raise ValueError(f"[spacy_ft reweigh] '{path}' holds no documents")
    report = reweigh_docs(docs, terms, attribute, **options)
    out = DocBin(store_user_data=True, docs=docs)  # without store_user_data the weights are dropped
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(output_path)
    return report


def format_weights(report: dict[str, Any]) -> str:
    """The weights table as text lines: group, label, count, weight."""
    lines = [f"reweighing by {report['attribute']} ({report['group_source']}), key {report['weight_key']!r}"]
    for group, cells in report["weights"].items():
        for label, cell in cells.items():
            lines.append(f"  {group:<16} {label:<16} n={cell['count']:<6} weight={cell['weight']:.3f}")
    excluded = sum(report["excluded"].values())
    lines.append(f"  {excluded} of {report['n_docs']} docs without a group keep weight 1.0")
    return "\n".join(lines)
