"""``spacy_ft_bias``: mark protected-attribute mentions and, optionally, test the
classifier with counterfactual text.

Put it after the classifier (and NER). For every doc it writes:

- ``doc.spans[spans_key]``: one span per mention (gender, ethnicity, region, age,
  religion, names ...), labelled with its group. Chinese terms may sit inside a
  jieba token (他 in 他们说), so a span covers the whole token; the exact character
  offsets, attributes and terms are in the group's attrs ``chars``, ``attributes``
  and ``terms`` (one entry per span), so nothing is lost.
- ``doc._.bias``: ``{attribute: sorted groups mentioned}``; ``doc._.bias_counts``:
  ``{attribute: {group: mentions}}``.
- with ``counterfactual = true``: ``doc._.bias_max_delta`` (largest ``|Δp|`` over labels
  and variants), ``doc._.bias_flip`` (the top label changed in some variant) and
  ``doc._.bias_counterfactuals`` (one ``{attribute, group, text, max_delta, flip}``
  per variant).
- with ``group_thresholds`` and ``positive_label``: ``doc._.bias_decision``, the label
  after per-group thresholds (``doc.cats`` keeps the honest probabilities).

**Cost of the counterfactual check.** Each variant is one more pass through the
pipeline up to the classifier (transformer included). A doc gets
``Σ (groups - 1)`` variants over the attributes it mentions: a doc with 他 costs one
extra pass; one naming a Han person (ethnicity, 6 groups) costs five. Variants of a
whole batch go through one ``nlp.pipe`` call, so the classifier sees full batches.

This module is imported whenever any spaCy pipeline is created (entry points),
so it imports only spaCy and the term lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import srsly
from spacy import util
from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.tokens import Doc, Span, SpanGroup

from spacy_ft.bias.terms import BUILTIN_DIR, Mention, TermList, TermListError

NAME = "spacy_ft_bias"
EXTENSIONS = (
    "bias",
    "bias_counts",
    "bias_max_delta",
    "bias_flip",
    "bias_counterfactuals",
    "bias_decision",
)
#: Threshold of docs without exactly one group of a thresholded attribute.
DEFAULT_THRESHOLD = 0.5


@Language.factory(
    NAME,
    assigns=[f"doc._.{name}" for name in EXTENSIONS],
    default_config={
        "lang_terms": None,
        "extra_term_lists": [],
        "attributes": None,
        "spans_key": "bias_terms",
        # true: one extra pass through the pipeline up to the classifier per variant
        # (Σ over mentioned attributes of groups - 1 variants per doc)
        "counterfactual": False,
        "classifier": None,
        "batch_size": 64,
        "group_thresholds": {},
        "positive_label": None,
    },
)
def make_bias_checker(
    nlp: Language,
    name: str,
    lang_terms: Optional[str],
    extra_term_lists: List[str],
    attributes: Optional[List[str]],
    spans_key: str,
    counterfactual: bool,
    classifier: Optional[str],
    batch_size: int,
    group_thresholds: Dict[str, Dict[str, float]],
    positive_label: Optional[str],
) -> "BiasChecker":
    """``lang_terms``: built-in term list to use (default ``nlp.lang``).
    ``extra_term_lists``: the user's term list files, merged into the built-in one
    and saved with the pipeline. ``attributes``: the attributes to look for (default
    all). ``classifier``: the component the counterfactual check reruns (default the
    first that sets ``doc.cats``). ``group_thresholds``: ``{attribute: {group:
    threshold}}`` for ``positive_label``, applied in ``doc._.bias_decision``."""
    return BiasChecker(
        nlp,
        name,
        lang_terms=lang_terms,
        extra_term_lists=extra_term_lists,
        attributes=attributes,
        spans_key=spans_key,
        counterfactual=counterfactual,
        classifier=classifier,
        batch_size=batch_size,
        group_thresholds=group_thresholds,
        positive_label=positive_label,
    )


def register_extensions() -> None:
    """Register the doc extensions once; a second pipeline reuses them."""
    for name in EXTENSIONS:
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


class BiasChecker:
    """Finds protected-attribute mentions; optionally reruns the classifier on
    counterfactual text and applies per-group decision thresholds."""

    def __init__(
        self,
        nlp: Language,
        name: str = NAME,
        *,
        lang_terms: Optional[str] = None,
        extra_term_lists: Sequence[Union[str, Path]] = (),
        attributes: Optional[Sequence[str]] = None,
        spans_key: str = "bias_terms",
        counterfactual: bool = False,
        classifier: Optional[str] = None,
        batch_size: int = 64,
        group_thresholds: Optional[Dict[str, Dict[str, float]]] = None,
        positive_label: Optional[str] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"[{name}] batch_size must be >= 1, got {batch_size!r}")
        register_extensions()
        self.nlp = nlp
        self.name = name
        self.lang_terms: str = lang_terms or nlp.lang or ""
        self.extra_term_lists = [str(path) for path in extra_term_lists]
        self.attributes = list(attributes) if attributes is not None else None
        self.spans_key = spans_key
        self.counterfactual = bool(counterfactual)
        self.classifier = classifier
        self.batch_size = batch_size
        self.cfg: Dict[str, Any] = {"group_thresholds": {}, "positive_label": positive_label}
        self._pending_thresholds = dict(group_thresholds or {})
        self._terms: Optional[TermList] = None
        if all(Path(path).is_file() for path in self.extra_term_lists):
            # Load now so bad settings fail at creation. A missing user file is left
            # for later: spacy.load elsewhere restores the saved list in from_disk.
            self._set_terms(self._load_terms())
        if self.counterfactual:
            self._find_classifier(at_creation=True)

    # -- term lists and settings -----------------------------------------------

    @property
    def terms(self) -> TermList:
        """The merged term list (built-in + user files, or the one saved with the pipeline)."""
        if self._terms is None:
            terms = self._load_terms()
            self._set_terms(terms)
            return terms
        return self._terms

    def _load_terms(self) -> TermList:
        builtin = BUILTIN_DIR / f"{self.lang_terms}.json"
        if not builtin.is_file() and not self.extra_term_lists:
            raise ValueError(
                f"[{self.name}] lang_terms: no built-in term list for {self.lang_terms!r} "
                f"(available: {sorted(p.stem for p in BUILTIN_DIR.glob('*.json'))}); "
                "give one in extra_term_lists"
            )
        lists = [TermList.builtin(self.lang_terms)] if builtin.is_file() else []
        lists += [TermList.from_disk(path) for path in self.extra_term_lists]
        terms = lists[0]
        for other in lists[1:]:
            terms = terms.merged(other)
        return terms

    def _set_terms(self, terms: TermList) -> None:
        unknown = [a for a in self.attributes or () if a not in terms.attributes]
        if unknown:
            raise ValueError(
                f"[{self.name}] attributes: unknown {unknown!r}; the term list "
                f"({terms.source}) has {sorted(terms.attributes)}"
            )
        self._terms = terms
        pending, self._pending_thresholds = self._pending_thresholds, {}
        for attribute, thresholds in pending.items():
            self.set_group_thresholds(attribute, thresholds, self.cfg["positive_label"])

    def initialize(self, get_examples: Optional[Callable] = None, *, nlp: Optional[Language] = None) -> None:
        """Read the user term lists (errors surface here, not at the first doc)."""
        self._set_terms(self._load_terms())
        if self.counterfactual:
            self._find_classifier()

    @property
    def active_attributes(self) -> List[str]:
        return self.attributes if self.attributes is not None else list(self.terms.attributes)

    def set_group_thresholds(
        self, attribute: str, thresholds: Dict[str, float], positive_label: Optional[str]
    ) -> None:
        """Decide ``positive_label`` at ``thresholds[group]`` for docs that mention only
        ``group`` of ``attribute`` (e.g. fitted by the audit); saved with the pipeline."""
        if positive_label is None:
            raise ValueError(f"[{self.name}] group_thresholds for {attribute!r} need positive_label, got None")
        if self._terms is None and not all(Path(p).is_file() for p in self.extra_term_lists):
            self._pending_thresholds[attribute] = dict(thresholds)
            self.cfg["positive_label"] = positive_label
            return
        groups = self.terms.attributes.get(attribute)
        if groups is None:
            raise ValueError(
                f"[{self.name}] group_thresholds: unknown attribute {attribute!r}; known: {sorted(self.terms.attributes)}"
            )
        for group, value in thresholds.items():
            if group not in groups.groups:
                raise ValueError(
                    f"[{self.name}] group_thresholds[{attribute!r}]: unknown group {group!r}; known: {groups.groups}"
                )
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"[{self.name}] group_thresholds[{attribute!r}][{group!r}] must be within [0, 1], got {value!r}"
                )
        self.cfg["group_thresholds"][attribute] = {group: float(v) for group, v in thresholds.items()}
        self.cfg["positive_label"] = positive_label

    # -- the classifier to rerun --------------------------------------------------

    def _find_classifier(self, at_creation: bool = False) -> str:
        """The classifier's name; it must run before this component."""
        names = list(self.nlp.pipe_names)
        before = names if at_creation or self.name not in names else names[: names.index(self.name)]
        if self.classifier is not None:
            if self.classifier not in before:
                raise ValueError(
                    f"[{self.name}] classifier: {self.classifier!r} is not an enabled component "
                    f"before {self.name!r}; the pipeline has {names}"
                )
            return self.classifier
        for name in before:
            if _sets_cats(self.nlp, name):
                return name
        raise ValueError(
            f"[{self.name}] counterfactual=True needs a classifier (a component that sets doc.cats) "
            f"before {self.name!r}; classifier=None and the pipeline has {names}"
        )

    # -- processing ---------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        for batch in util.minibatch(stream, size=batch_size or self.batch_size):
            mentions = [self.terms.find(doc.text, self.active_attributes) for doc in batch]
            for doc, found in zip(batch, mentions):
                self._annotate(doc, found)
            if self.counterfactual:
                self._check_counterfactuals(batch)
            if self.cfg["positive_label"] is not None:
                for doc in batch:
                    doc._.bias_decision = self.decide(doc)
            yield from batch

    def _annotate(self, doc: Doc, mentions: List[Mention]) -> None:
        spans: List[Span] = []
        for mention in mentions:
            span = doc.char_span(mention.start, mention.end, label=mention.group, alignment_mode="expand")
            if span is not None:  # "expand" gives None only for offsets outside the doc
                spans.append(span)
        doc.spans[self.spans_key] = SpanGroup(
            doc,
            name=self.spans_key,
            spans=spans,
            attrs={
                "attributes": [m.attribute for m in mentions],
                "terms": [m.term for m in mentions],
                "chars": [[m.start, m.end] for m in mentions],
            },
        )
        groups: Dict[str, Dict[str, int]] = {}
        for mention in mentions:
            counts = groups.setdefault(mention.attribute, {})
            counts[mention.group] = counts.get(mention.group, 0) + 1
        doc._.bias = {attribute: sorted(counts) for attribute, counts in groups.items()}
        doc._.bias_counts = groups

    def _check_counterfactuals(self, docs: Sequence[Doc]) -> None:
        """Rerun the pipeline up to the classifier on every variant of the batch in
        one ``nlp.pipe`` call, and record how far the probabilities moved."""
        classifier = self._find_classifier()
        names = self.nlp.pipe_names
        after = names[names.index(classifier) + 1 :]
        variants: List[Tuple[int, str, str, str]] = []
        for i, doc in enumerate(docs):
            for attribute, group, text, _ in self.terms.variants(doc.text, attributes=self.active_attributes):
                variants.append((i, attribute, group, text))
        texts = [text for _, _, _, text in variants]
        outputs = self.nlp.pipe(texts, batch_size=self.batch_size, disable=after)
        results: List[List[Dict[str, Any]]] = [[] for _ in docs]
        for (i, attribute, group, text), variant in zip(variants, outputs):
            delta, flip = _compare(docs[i].cats, variant.cats)
            results[i].append(
                {"attribute": attribute, "group": group, "text": text, "max_delta": delta, "flip": flip}
            )
        for doc, found in zip(docs, results):
            doc._.bias_counterfactuals = found
            doc._.bias_max_delta = max((r["max_delta"] for r in found), default=0.0)
            doc._.bias_flip = any(r["flip"] for r in found)

    def decide(self, doc: Doc) -> Optional[str]:
        """``positive_label`` if its probability reaches the threshold of the doc's
        group, else the most probable other label. The group is the one group
        mentioned of the first thresholded attribute where the doc mentions exactly
        one; other docs use 0.5."""
        positive = self.cfg["positive_label"]
        if not doc.cats or positive is None:
            return None
        if positive not in doc.cats:
            raise ValueError(
                f"[{self.name}] positive_label: {positive!r} is not among the doc's cats {sorted(doc.cats)}"
            )
        threshold = DEFAULT_THRESHOLD
        mentioned = doc._.bias or {}
        for attribute, thresholds in self.cfg["group_thresholds"].items():
            groups = mentioned.get(attribute, [])
            if len(groups) == 1:
                threshold = thresholds.get(groups[0], DEFAULT_THRESHOLD)
                break
        if doc.cats[positive] >= threshold:
            return positive
        others = {label: p for label, p in doc.cats.items() if label != positive}
        return max(others, key=others.__getitem__) if others else None

    # -- serialization ---------------------------------------------------------------

    def _serializers(self) -> Dict[str, Tuple[Callable[[], Any], Callable[[Any], None]]]:
        return {
            "terms": (lambda: self.terms.to_dict(), self._restore_terms),
            "cfg": (lambda: self.cfg, self._restore_cfg),
        }

    def _restore_terms(self, data: Dict[str, Any]) -> None:
        self._set_terms(TermList.from_dict(data, f"<{self.name} saved with the pipeline>"))

    def _restore_cfg(self, data: Dict[str, Any]) -> None:
        self.cfg = {"group_thresholds": {}, "positive_label": data.get("positive_label")}
        for attribute, thresholds in data.get("group_thresholds", {}).items():
            self.set_group_thresholds(attribute, thresholds, data.get("positive_label"))

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return srsly.msgpack_dumps({key: get() for key, (get, _) in self._serializers().items() if key not in exclude})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "BiasChecker":
        data = srsly.msgpack_loads(bytes_data)
        for key, (_, restore) in self._serializers().items():
            if key not in exclude and key in data:
                restore(data[key])
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for key, (get, _) in self._serializers().items():
            if key not in exclude:
                srsly.write_json(path / f"{key}.json", get())

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "BiasChecker":
        path = Path(path)
        for key, (_, restore) in self._serializers().items():
            file = path / f"{key}.json"
            if key not in exclude and file.is_file():
                restore(srsly.read_json(file))
        return self


def _sets_cats(nlp: Language, name: str) -> bool:
    """A classifier: a TextCategorizer (spaCy's or spacy_ft's) or any component
    declaring ``assigns=["doc.cats"]``."""
    if isinstance(nlp.get_pipe(name), TextCategorizer):
        return True
    return "doc.cats" in nlp.get_pipe_meta(name).assigns


def _compare(original: Dict[str, float], variant: Dict[str, float]) -> Tuple[float, bool]:
    """Largest absolute probability change over labels, and whether the top label changed."""
    labels = [label for label in original if label in variant]
    if not labels:
        return 0.0, False
    delta = max(abs(float(variant[label]) - float(original[label])) for label in labels)
    flip = max(labels, key=original.__getitem__) != max(labels, key=variant.__getitem__)
    return delta, flip


__all__ = ["BiasChecker", "NAME", "TermListError", "make_bias_checker", "register_extensions"]
