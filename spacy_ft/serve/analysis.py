"""Docs to JSON-ready results for ``/v1/analyze``.

The entity scores, ``doc.cats`` and tokens come from the annotation code
(:mod:`spacy_ft.annotation.preannotate`), so the server and the pre-annotation
export agree on what an entity score is. ``annotate_batch`` itself returns
predictions without the docs, and the bias fields need the docs, so this
module runs the pipeline and calls the same per-doc conversion
(``doc_prediction``) on each doc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spacy_ft.annotation.preannotate import doc_prediction, model_version, scored_spans_key
from spacy_ft.annotation.records import InputRecord

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language
    from spacy.tokens import Doc

#: Factory name of the bias checker (spacy_ft/bias/component.py).
BIAS_FACTORY = "spacy_ft_bias"


def has_bias_checker(nlp: Language) -> bool:
    """True when a component is named or built by ``spacy_ft_bias`` and its doc
    extensions are registered (they are once the component is created)."""
    from spacy.tokens import Doc

    found = any(
        name == BIAS_FACTORY or nlp.get_pipe_meta(name).factory == BIAS_FACTORY for name in nlp.pipe_names
    )
    return found and Doc.has_extension("bias")


def _plain(value: Any) -> Any:
    """numpy scalars and sets out, so the result is JSON-serializable."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(item) for item in value]
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def bias_result(doc: Doc) -> dict[str, Any]:
    groups = doc._.bias or {}
    flip = doc._.bias_flip if doc.has_extension("bias_flip") else None
    delta = doc._.bias_max_delta if doc.has_extension("bias_max_delta") else None
    return {
        "groups": _plain(groups),
        "flip": None if flip is None else bool(flip),
        "max_delta": None if delta is None else float(delta),
    }


class Analyzer:
    """Turns texts into result dicts with one ``nlp.pipe`` call (``batched``) or
    one ``nlp()`` call per text (the ``--no-batching`` baseline)."""

    def __init__(self, nlp: Language, batched: bool = True) -> None:
        self.nlp = nlp
        self.batched = batched
        self.model = model_version(nlp)
        self.spans_key = scored_spans_key(nlp)
        self.bias = has_bias_checker(nlp)

    def docs(self, texts: list[str]) -> list[Doc]:
        if self.batched:
            return list(self.nlp.pipe(texts, batch_size=max(1, len(texts))))
        return [self.nlp(text) for text in texts]

    def __call__(self, texts: list[str]) -> list[dict[str, Any]]:
        return [self.result(doc, i) for i, doc in enumerate(self.docs(texts))]

    def result(self, doc: Doc, index: int = 0) -> dict[str, Any]:
        prediction = doc_prediction(doc, InputRecord(doc.text, index, index), self.spans_key, self.model)
        text = doc.text
        return {
            "text": text,
            "tokens": [
                {"text": text[t.start : t.end], "start": t.start, "end": t.end} for t in prediction.tokens
            ],
            "entities": [
                {
                    "text": text[e.start : e.end],
                    "label": e.label,
                    "start": e.start,
                    "end": e.end,
                    "score": e.score,
                }
                for e in prediction.entities
            ],
            "cats": prediction.cats,
            "bias": bias_result(doc) if self.bias else None,
        }
