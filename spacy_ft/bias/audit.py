"""Bias audit of a trained pipeline on gold data (``python -m spacy_ft bias-audit``).

Three questions, each per protected attribute of the term list:

- *Group fairness* (classifier): do docs about one group get the positive label,
  or the right label, as often as docs about another? Groups come from term
  mentions (a doc naming exactly one group) or from a field given with the data.
- *Counterfactual token fairness* (classifier): does swapping 他 for 她 alone
  change the decision (flip rate) or the score (mean |Δp|)?
- *Name swap* (NER): is a person's name found as often when it is a female or a
  male, a Han or a Uyghur name? (see :mod:`spacy_ft.bias.audit_ner`)

Every text the audit needs (originals, counterfactuals, name swaps) goes through
the pipeline in one ``nlp.pipe`` call, so batching works for all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import numpy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from spacy_ft.bias import audit_ner
from spacy_ft.bias.stats import (
    GroupAssignment,
    classifier_fairness,
    grouped_rates,
    groups_from_terms,
    groups_from_values,
)
from spacy_ft.bias.terms import Span, TermList
from spacy_ft.types import PathLike

#: Label names read as "the positive class" when none is given.
POSITIVE_NAMES = ("pos", "positive", "1", "true", "yes", "正面", "积极", "好评", "正向")


@dataclass
class AuditDoc:
    """What the audit reads from one gold doc."""

    text: str
    cats: dict[str, float]
    entities: list[Span]
    group: Optional[str] = None


@dataclass
class AuditSettings:
    """Knobs of :func:`run_audit` (the CLI's options)."""

    attributes: Optional[list[str]] = None
    positive_label: Optional[str] = None
    group_field: Optional[str] = None
    n_boot: int = 300
    random_state: int = 0
    min_group_size: int = 30
    person_labels: Sequence[str] = audit_ner.PERSON_LABELS
    templates: Optional[bool] = None  # None: only when the data has no person entities
    batch_size: int = 64
    progress: bool = True
    thresholds: dict[str, float] = field(default_factory=dict)


# -- data ----------------------------------------------------------------------


def load_audit_docs(path: PathLike, nlp: Language, group_field: Optional[str] = None) -> list[AuditDoc]:
    """Gold docs from a ``.spacy`` DocBin (group in ``doc.user_data[group_field]``)
    or a JSONL file read like ``convert --format jsonl`` (group in a field)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"[spacy_ft_bias] audit data not found: '{path}'")
    if path.suffix in (".jsonl", ".json"):
        return _jsonl_docs(path, group_field)
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    if not docs:
        raise ValueError(f"[spacy_ft_bias] audit data '{path}' holds no documents")
    return [_audit_doc(doc, group_field) for doc in docs]


def _audit_doc(doc: Doc, group_field: Optional[str]) -> AuditDoc:
    entities = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
    group = doc.user_data.get(group_field) if group_field else None
    return AuditDoc(doc.text, dict(doc.cats), entities, group)


def _jsonl_docs(path: Path, group_field: Optional[str]) -> list[AuditDoc]:
    from spacy_ft.corpora.readers import read_jsonl

    lines = path.read_text(encoding="utf-8").splitlines()
    docs = []
    for sample in read_jsonl(path):
        group = json.loads(lines[sample.line - 1]).get(group_field) if group_field else None
        docs.append(AuditDoc(sample.text, dict(sample.cats), list(sample.entities), group))
    return docs


# -- the pipeline ----------------------------------------------------------------


def _components_assigning(nlp: Language, attr: str) -> list[str]:
    return [name for name in nlp.pipe_names if attr in nlp.get_pipe_meta(name).assigns]


def find_textcat(nlp: Language):
    """The last component that sets ``doc.cats`` (its decisions are the ones served)."""
    names = _components_assigning(nlp, "doc.cats")
    return nlp.get_pipe(names[-1]) if names else None


def predict(nlp: Language, texts: Sequence[str], settings: AuditSettings) -> list[Doc]:
    """All audit texts in one batched ``nlp.pipe``, with a progress bar."""
    from tqdm import tqdm

    stream: Iterable[Doc] = nlp.pipe(texts, batch_size=settings.batch_size)
    return list(tqdm(stream, total=len(texts), unit="doc", desc="bias audit", disable=not settings.progress))


def default_positive_label(labels: Sequence[str]) -> str:
    """A label whose name reads positive, else the second label (the first of a
    two-label set is usually the negative one)."""
    for label in labels:
        if label.lower() in POSITIVE_NAMES:
            return label
    if not labels:
        raise ValueError("[spacy_ft_bias] the classifier has no labels")
    return labels[1] if len(labels) > 1 else labels[0]


def positive_labels(settings_labels: Sequence[str], multi_label: bool, given: Optional[str]) -> list[str]:
    """The labels judged as binary decisions: the one given, every label of a
    multi-label classifier, or the default positive label."""
    if given is not None:
        if given not in settings_labels:
            raise ValueError(
                f"[spacy_ft_bias] --positive-label {given!r} is not a classifier label: {list(settings_labels)}"
            )
        return [given]
    return list(settings_labels) if multi_label else [default_positive_label(settings_labels)]


# -- classifier ------------------------------------------------------------------


def assign_groups(
    docs: Sequence[AuditDoc], terms: TermList, attribute: str, settings: AuditSettings
) -> GroupAssignment:
    if settings.group_field:
        return groups_from_values([doc.group for doc in docs], f"field:{settings.group_field}")
    return groups_from_terms([doc.text for doc in docs], terms, attribute)


def classifier_audit(
    docs: Sequence[AuditDoc],
    predicted: Sequence[Doc],
    decide,
    label: str,
    assignment: GroupAssignment,
    settings: AuditSettings,
) -> dict[str, Any]:
    """Group fairness of one binary decision (``label`` applies or not)."""
    rows = [i for i, doc in enumerate(docs) if label in doc.cats]
    truth = [docs[i].cats[label] >= 0.5 for i in rows]
    pred = [label in decide(predicted[i].cats) for i in rows]
    groups = [assignment.groups[i] for i in rows]
    result = classifier_fairness(
        truth,
        pred,
        groups,
        n_boot=settings.n_boot,
        random_state=settings.random_state,
        min_group_size=settings.min_group_size,
    )
    result["group_source"] = assignment.source
    result["excluded"] = dict(assignment.excluded)
    result["accuracy"] = float(numpy.mean(numpy.equal(truth, pred))) if rows else None
    return result


def counterfactual_audit(
    originals: Sequence[Doc],
    variants: Sequence[tuple[int, str, str]],
    variant_docs: Sequence[Doc],
    decide,
    score_label: Optional[str],
    settings: AuditSettings,
) -> dict[str, Any]:
    """Flip rate (decision changed) and mean |Δp| per attribute; ``variants`` are
    (original index, attribute, target group). The doc is the bootstrap unit."""
    out: dict[str, Any] = {}
    for attribute in sorted({attr for _, attr, _ in variants}):
        flips = numpy.zeros(len(originals))
        counts = numpy.zeros(len(originals))
        deltas: list[float] = []
        by_target: dict[str, list] = {}
        for (i, attr, target), doc in zip(variants, variant_docs):
            if attr != attribute:
                continue
            flipped = decide(doc.cats) != decide(originals[i].cats)
            flips[i] += flipped
            counts[i] += 1
            deltas.append(_delta(originals[i].cats, doc.cats, score_label))
            by_target.setdefault(target, []).append(flipped)
        rates, _ = grouped_rates(
            {"all": flips}, {"all": counts}, n_boot=settings.n_boot, random_state=settings.random_state
        )
        out[attribute] = {
            "n_docs": int((counts > 0).sum()),
            "n_variants": int(counts.sum()),
            "flip_rate": rates["all"]["rate"],
            "flip_rate_ci": rates["all"]["ci"],
            "mean_abs_delta": float(numpy.mean(deltas)) if deltas else None,
            "flip_rate_by_target": {t: float(numpy.mean(v)) for t, v in sorted(by_target.items())},
        }
    return out


def _delta(original: dict[str, float], variant: dict[str, float], label: Optional[str]) -> float:
    """|Δp| of the judged label, or the largest change of any label."""
    if label is not None:
        return abs(variant.get(label, 0.0) - original.get(label, 0.0))
    return max((abs(variant.get(k, 0.0) - v) for k, v in original.items()), default=0.0)


def _counterfactual_texts(
    docs: Sequence[AuditDoc], terms: TermList, attributes: Sequence[str]
) -> Iterator[tuple[tuple[int, str, str], str]]:
    for i, doc in enumerate(docs):
        for attribute, group, text, _ in terms.variants(doc.text):
            if attribute in attributes:
                yield (i, attribute, group), text


# -- the audit -------------------------------------------------------------------


def run_audit(
    nlp: Language, docs: Sequence[AuditDoc], terms: TermList, settings: AuditSettings
) -> dict[str, Any]:
    """The whole audit as one JSON-ready dict (see ``spacy_ft.bias.report``)."""
    attributes = settings.attributes or list(terms.attributes)
    unknown = [a for a in attributes if a not in terms.attributes]
    if unknown:
        raise ValueError(f"[spacy_ft_bias] unknown attributes {unknown}; known: {sorted(terms.attributes)}")
    textcat = find_textcat(nlp)
    has_ner = bool(_components_assigning(nlp, "doc.ents"))
    plan = _plan_texts(docs, terms, attributes, settings, textcat is not None, has_ner, nlp)
    predicted = predict(nlp, plan.texts, settings)
    result: dict[str, Any] = {
        "meta": {
            "n_docs": len(docs),
            "lang": terms.lang,
            "attributes": attributes,
            "n_boot": settings.n_boot,
            "random_state": settings.random_state,
            "min_group_size": settings.min_group_size,
            "term_list": terms.source,
        },
        "classifier": None,
        "counterfactual": None,
        "ner": None,
        "warnings": [],
    }
    if textcat is not None:
        _audit_classifier(result, docs, predicted, plan, textcat, terms, attributes, settings)
    if has_ner:
        _audit_ner(result, predicted, plan, settings)
    result["checks"] = evaluate_checks(result, settings.thresholds)
    return result


@dataclass
class NameSwaps:
    """One attribute's name-swap texts for the NER audit, and where they start."""

    start: int
    units: list
    skipped: int
    source: str


@dataclass
class AuditPlan:
    """Every text the audit runs through the pipeline, in one list (one
    ``nlp.pipe`` pass), and where each part of it starts: the docs themselves,
    then the classifier's counterfactual variants, then the NER name swaps."""

    texts: list[str] = field(default_factory=list)
    #: (doc index, attribute, group) of each counterfactual variant, in order.
    variants: list = field(default_factory=list)
    #: Index just past the last counterfactual variant.
    variant_end: int = 0
    swaps: dict[str, NameSwaps] = field(default_factory=dict)


def _plan_texts(docs, terms, attributes, settings, has_textcat, has_ner, nlp) -> AuditPlan:
    plan = AuditPlan(texts=[doc.text for doc in docs])
    if has_textcat:
        for key, text in _counterfactual_texts(docs, terms, attributes):
            plan.variants.append(key)
            plan.texts.append(text)
    plan.variant_end = len(plan.texts)
    if has_ner:
        for attribute in attributes:
            if not terms.attributes[attribute].is_names:
                continue
            units, skipped, source = _swap_units(docs, terms, attribute, settings, nlp)
            plan.swaps[attribute] = NameSwaps(len(plan.texts), units, skipped, source)
            plan.texts.extend(audit_ner.unit_texts(units))
    return plan


def _swap_units(docs, terms, attribute, settings, nlp):
    pairs = [(doc.text, doc.entities) for doc in docs]
    units, skipped = audit_ner.swap_units(pairs, terms, attribute, settings.person_labels)
    use_templates = settings.templates if settings.templates is not None else not units
    if not use_templates:
        return units, skipped, "data"
    label = _person_label(nlp, settings.person_labels)
    return audit_ner.template_units(terms, attribute, label), skipped, "templates"


def _person_label(nlp: Language, person_labels: Sequence[str]) -> str:
    for name in _components_assigning(nlp, "doc.ents"):
        for label in getattr(nlp.get_pipe(name), "labels", ()):
            if audit_ner.is_person(label, person_labels):
                return label
    return person_labels[0]


def _audit_classifier(result, docs, predicted, plan, textcat, terms, attributes, settings) -> None:
    from spacy_ft.evaluation.confusion import classifier_settings

    clf = classifier_settings(textcat)
    labels = positive_labels(clf.labels, clf.multi_label, settings.positive_label)
    decide = clf.decide
    originals = predicted[: len(docs)]
    group_attributes = [a for a in attributes if not terms.attributes[a].is_names] or attributes
    if settings.group_field:
        group_attributes = [settings.group_field]
    result["meta"]["positive_labels"] = labels
    result["classifier"] = {}
    for label in labels:
        per_attribute = {}
        for attribute in group_attributes:
            assignment = assign_groups(docs, terms, attribute, settings)
            per_attribute[attribute] = classifier_audit(docs, originals, decide, label, assignment, settings)
        result["classifier"][label] = per_attribute
    score_label = labels[0] if len(labels) == 1 else None
    variant_docs = predicted[len(docs) : plan.variant_end]
    result["counterfactual"] = counterfactual_audit(
        originals, plan.variants, variant_docs, lambda cats: sorted(decide(cats)), score_label, settings
    )


def _audit_ner(result, predicted, plan, settings) -> None:
    result["ner"] = {}
    for attribute, swaps in plan.swaps.items():
        start, units, skipped, source = swaps.start, swaps.units, swaps.skipped, swaps.source
        docs = predicted[start : start + len(audit_ner.unit_texts(units))]
        ents = [{(e.start_char, e.end_char, e.label_) for e in doc.ents} for doc in docs]
        report = audit_ner.name_swap_recall(
            units, ents, n_boot=settings.n_boot, random_state=settings.random_state
        )
        report.update({"source": source, "skipped_entities": skipped})
        result["ner"][attribute] = report


# -- gates -----------------------------------------------------------------------

#: threshold name -> (what it bounds, "max" or "min")
CHECKS = {
    "max_dpd": ("demographic parity difference", "max"),
    "max_eod": ("equalized-odds difference", "max"),
    "min_di": ("disparate-impact ratio", "min"),
    "max_flip_rate": ("counterfactual flip rate", "max"),
    "max_recall_gap": ("NER name-swap recall gap", "max"),
}


def _measured(result: dict[str, Any]) -> Iterator[tuple[str, str, Optional[float]]]:
    """(threshold name, where, value) for every gated number of the audit."""
    for label, per_attribute in (result.get("classifier") or {}).items():
        for attribute, report in per_attribute.items():
            where = f"classifier label {label!r}, {attribute}"
            yield "max_dpd", where, report.get("demographic_parity_difference", {}).get("value")
            yield "max_eod", where, report.get("equalized_odds_difference", {}).get("value")
            yield "min_di", where, report.get("disparate_impact_ratio", {}).get("value")
    for attribute, report in (result.get("counterfactual") or {}).items():
        yield "max_flip_rate", f"counterfactual {attribute}", report["flip_rate"]
    for attribute, report in (result.get("ner") or {}).items():
        yield "max_recall_gap", f"NER name swap {attribute}", report["largest_gap"]["value"]


def evaluate_checks(result: dict[str, Any], thresholds: Mapping[str, Optional[float]]) -> list[dict[str, Any]]:
    """Each configured threshold against each measured value (point estimates)."""
    unknown = set(thresholds) - set(CHECKS)
    if unknown:
        raise ValueError(f"[spacy_ft_bias] unknown thresholds {sorted(unknown)}; known: {sorted(CHECKS)}")
    checks = []
    for name, where, value in _measured(result):
        limit = thresholds.get(name)
        if limit is None or value is None:
            continue
        what, side = CHECKS[name]
        exceeded = value > limit if side == "max" else value < limit
        checks.append(
            {
                "check": name,
                "metric": what,
                "where": where,
                "value": value,
                "threshold": limit,
                "exceeded": bool(exceeded),
            }
        )
    return checks


def exceeded(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for check in result.get("checks", []) if check["exceeded"]]
