"""``spacy_ft_ner``: transformer NER that labels units inside tokens, not whole jieba tokens.

spaCy's ``ner`` labels whole tokens, so it can never find 中 in 中美 or 邓小平
in 邓小平理论 when jieba made them one token. This component labels units
(``spacy_ft.ner.units``): wordpieces, which are one character each for Chinese BERT
vocabularies, the characters of multi-character pieces, or a character encoder's
characters. It decodes valid BIO with the CRF's Viterbi (or per-unit softmax), and
where a predicted entity edge falls inside a token it splits that token, so every
entity lands in ``doc.ents`` at its exact characters. Split tokens get their share
of ``doc._.trf_data``'s alignment, so components after it still see consistent
transformer data. Entity confidences go to ``doc.spans[spans_key]`` with
``attrs["scores"]``.

The component orchestrates: the model scores the units (``spacy_ft.ner.head``), the
CRF (``spacy_ft.ner.crf``) or the softmax (``spacy_ft.ner.bio``) gives the loss and
the tag paths, and the loss's gradients go back through the model's backprop.
"""

from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model

from spacy_ft.corpora.token_split import RowSpans, split_at_edges
from spacy_ft.evaluation.entities import score_char_entities
from spacy_ft.ml.fork_safety import make_torch_fork_safe
from spacy_ft.ner import crf
from spacy_ft.ner.bio import (
    bio_constraints,
    bio_tags,
    encode,
    softmax_decode,
    softmax_loss,
    spans_from_tags,
)
from spacy_ft.ner.crf import Constraints
from spacy_ft.ner.head import DocUnits, HeadOutput

#: (start, end, label, confidence) of a predicted entity.
ScoredEntity = Tuple[int, int, str, float]


class DocPrediction(NamedTuple):
    """One doc's entities, and the units they were predicted on (their row spans
    spare token splitting matching the wordpieces again)."""

    entities: List[ScoredEntity]
    units: Optional[DocUnits] = None


NAME = "spacy_ft_ner"

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_ft.TokenClassifier.v1"
dropout = 0.1
crf = true

[model.tok2vec]
@architectures = "spacy_ft.TransformerDataListener.v1"
upstream = "*"
"""
)["model"]


@Language.factory(
    NAME,
    assigns=["doc.ents", "doc.spans"],
    default_config={"model": DEFAULT_MODEL, "spans_key": "ents_scored", "split_tokens": True, "crf_on_device": False},
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_transformer_ner(
    nlp: Language, name: str, model: Model, spans_key: str, split_tokens: bool, crf_on_device: bool = False
) -> "TransformerNER":
    """``split_tokens``: split a token where an entity starts or ends inside it
    (off: such entities are left out of doc.ents but kept in the scored spans).

    ``crf_on_device``: on a GPU, run the CRF there too (the same batched recursion, on
    CuPy arrays) instead of copying the batch's logits to the host. Off by default; the
    measured trade-off is in docs/gpu.md. No effect on a CPU."""
    return TransformerNER(
        nlp.vocab, model, name, spans_key=spans_key, split_tokens=split_tokens, crf_on_device=crf_on_device
    )


class TransformerNER(TrainablePipe):
    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = NAME,
        *,
        spans_key: str = "ents_scored",
        split_tokens: bool = True,
        crf_on_device: bool = False,
    ) -> None:
        self.vocab = vocab
        self.model = model
        self.name = name
        make_torch_fork_safe()
        self.cfg: Dict[str, Any] = {
            "labels": [], "spans_key": spans_key, "split_tokens": split_tokens, "crf_on_device": crf_on_device
        }
        self._constraints: Optional[Constraints] = None

    @property
    def labels(self) -> Tuple[str, ...]:
        return tuple(self.cfg["labels"])

    @property
    def tags(self) -> List[str]:
        return bio_tags(self.labels)

    def add_label(self, label: str) -> int:
        if not isinstance(label, str) or not label or "-" in label and label.startswith(("B-", "I-")):
            raise ValueError(f"[{self.name}] invalid entity label {label!r}")
        if label in self.labels:
            return 0
        self.cfg["labels"].append(label)
        self._constraints = None
        return 1

    @property
    def constraints(self) -> Constraints:
        """Which tags may follow which and start a doc (valid BIO)."""
        if self._constraints is None:
            self._constraints = bio_constraints(self.tags)
        return self._constraints

    def _on_device(self) -> bool:
        """Whether the CRF runs on the model's GPU (``crf_on_device`` and a GPU model)."""
        return bool(self.cfg.get("crf_on_device")) and self.model.ops.xp is not numpy

    # -- prediction -------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> List[DocPrediction]:
        docs = list(docs)
        if not docs:
            return []
        output: HeadOutput = self.model.predict(docs)
        ops = self.model.ops
        if output.crf is None:
            decoded = [softmax_decode(ops, logits, self.constraints.transitions, self.tags) for logits in output.logits]
        else:
            paths, probs = crf.batch_decode(ops, output.logits, output.crf, self.constraints, self._on_device())
            decoded = list(zip(paths, probs))
        return [
            DocPrediction(spans_from_tags(path, probs, units.starts, units.ends, self.tags) if len(path) else [], units)
            for units, (path, probs) in zip(output.units, decoded)
        ]

    def set_annotations(self, docs: Iterable[Doc], predictions: Sequence[DocPrediction]) -> None:
        for doc, (entities, units) in zip(docs, predictions):
            if self.cfg["split_tokens"]:
                edges = {edge for start, end, _, _ in entities for edge in (start, end)}
                split_at_edges(doc, edges, _known_row_spans(doc, units))
            spans, scores = [], []
            for start, end, label, score in entities:
                span = doc.char_span(start, end, label=label)
                if span is not None:
                    spans.append(span)
                    scores.append(score)
            doc.ents = spans
            group = SpanGroup(doc, name=self.cfg["spans_key"], spans=spans)
            group.attrs["scores"] = scores
            doc.spans[self.cfg["spans_key"]] = group

    # -- training ---------------------------------------------------------------

    def get_loss(self, examples: Iterable[Example], output: HeadOutput) -> Tuple[float, HeadOutput]:
        """Per-unit softmax cross-entropy, or the CRF's negative log-likelihood of the
        batch, against the gold entities' characters; normalized per unit either way.
        The gradient is shaped as the model's output, for its backprop."""
        ops = self.model.ops
        golds = [
            encode(units.starts, units.ends, gold_entities(example.reference), self.tags)[0]
            for example, units in zip(examples, output.units)
        ]
        total_units = max(1, sum(len(units) for units in output.units))
        if output.crf is None:
            loss, d_logits = softmax_loss(ops, output.logits, golds, total_units)
            return loss, HeadOutput([], d_logits)
        loss, (d_logits, d_crf) = crf.batch_loss(
            ops, output.logits, output.crf, golds, self.constraints, total_units, self._on_device()
        )
        return loss, HeadOutput([], d_logits, d_crf)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Sequence[str]] = None,
    ) -> None:
        validate_examples(list(get_examples()), f"{self.name}.initialize")
        examples = list(get_examples())
        found = (
            labels
            if labels is not None
            else sorted({ent.label_ for eg in examples for ent in eg.reference.ents})
        )
        if not found and not self.labels:
            raise ValueError(f"[{self.name}] no entity labels: the initialization examples have no doc.ents")
        for label in found:
            self.add_label(label)
        self.model.set_dim("nO", len(self.tags))
        self.model.initialize(X=[eg.predicted for eg in examples[:10]])

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        return score_char_entities(examples)


def gold_entities(doc: Doc) -> List[Tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


def _known_row_spans(doc: Doc, units: Optional[DocUnits]) -> Optional[RowSpans]:
    """The row spans ``units`` found, where they were read from ``doc._.trf_data`` itself
    (the listener's case), the alignment token splitting divides."""
    if units is None or not units.row_spans or not Doc.has_extension("trf_data"):
        return None
    return units.row_spans if units.source is doc._.trf_data else None
