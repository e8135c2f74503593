"""``spacy_ft_ner``: transformer NER that predicts per wordpiece, not per jieba token.

spaCy's ``ner`` labels whole tokens, so it can never find 中 in 中美 or 邓小平
in 邓小平理论 when jieba made them one token. This head labels wordpiece units
(one per character for Chinese BERT vocabularies), decodes valid BIO with
Viterbi, and where a predicted entity edge falls inside a token it splits
that token, so every entity lands in ``doc.ents`` at its exact characters.
Split tokens get their share of ``doc._.trf_data``'s alignment, so components
after it still see consistent transformer data. Entity confidences go to
``doc.spans[spans_key]`` with ``attrs["scores"]``.
"""

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, NumpyOps

from spacy_ft.evaluation.entities import score_char_entities
from spacy_ft.ner import crf
from spacy_ft.ner.bio import allowed_transitions, bio_tags, decode, encode, spans_from_tags
from spacy_ft.ner.crf import MASKED, masked
from spacy_ft.transformer.fork_safety import make_torch_fork_safe
from spacy_ft.transformer.token_split import split_at_edges

#: The softmax head's BIO decoding runs on numpy whatever device the model is on; the
#: CRF runs where the model is (numpy on a CPU, CuPy on a GPU).
NUMPY_OPS = NumpyOps()

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

    ``crf_on_device``: on a GPU, run the CRF there too (one batched CuPy recursion a batch)
    instead of copying each doc's logits to the host. Off by default: measured on an H200
    (docs/gpu.md) the host CRF is ~17% of a fp16 training step and the device recursion,
    one kernel launch per position, gave +14% words/s on English tweets and no gain on
    Chinese sentences. No effect on a CPU."""
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
        self._allowed = None

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
        self._allowed = None
        return 1

    # -- prediction -------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> List[List[Tuple[int, int, str, float]]]:
        docs = list(docs)
        if not docs:
            return []
        outputs = self.model.predict(docs)
        on_device = self._on_device()
        crf_scores = self._crf_scores(on_device=on_device)
        if crf_scores is None:
            return [self._decode(units, logits) for units, logits in outputs]
        # The CRF decodes the whole batch at once: one step per position of the longest
        # doc, not one per position of every doc; on a GPU without leaving it.
        to_array = self.model.ops.asarray2f if on_device else self.model.ops.to_numpy
        logits = [to_array(doc_logits) for _, doc_logits in outputs]
        paths = crf.batch_viterbi(logits, *crf_scores)
        probs = crf.batch_unit_marginals(logits, *crf_scores)
        return [
            spans_from_tags(path, doc_probs, units.starts, units.ends, self.tags) if len(path) else []
            for (units, _), path, doc_probs in zip(outputs, paths, probs)
        ]

    @property
    def allowed(self) -> numpy.ndarray:
        if self._allowed is None:
            self._allowed = allowed_transitions(self.tags)
        return self._allowed

    def _on_device(self) -> bool:
        """Whether the CRF runs on the model's GPU (``crf_on_device`` and a GPU model)."""
        return bool(self.cfg.get("crf_on_device")) and self.model.ops.xp is not numpy

    def _crf_scores(self, on_device: bool = False) -> Optional[Tuple[Any, Any, Any]]:
        """Masked CRF transitions, start and end scores (numpy, or on the model's device
        with ``on_device``), or None without a CRF."""
        if not self.model.has_ref("crf"):
            return None
        crf_layer = self.model.get_ref("crf")
        convert = self.model.ops.asarray if on_device else self.model.ops.to_numpy
        xp = self.model.ops.xp if on_device else numpy
        transitions = masked(convert(crf_layer.get_param("transitions")), self.allowed)
        start = convert(crf_layer.get_param("start")) + xp.asarray(
            [MASKED if tag.startswith("I-") else 0.0 for tag in self.tags]
        )
        return transitions, start, convert(crf_layer.get_param("end"))

    def _decode(self, units, logits) -> List[Tuple[int, int, str, float]]:
        """Softmax head (no CRF): per-unit probabilities, BIO-constrained best path."""
        logits = self.model.ops.to_numpy(logits)
        if not len(logits):
            return []
        probs = NUMPY_OPS.softmax(logits)
        path = decode(numpy.log(probs + 1e-12), self.allowed, self.tags)
        return spans_from_tags(path, probs, units.starts, units.ends, self.tags)

    def set_annotations(self, docs: Iterable[Doc], predictions) -> None:
        for doc, entities in zip(docs, predictions):
            if self.cfg["split_tokens"]:
                split_at_edges(doc, {edge for start, end, _, _ in entities for edge in (start, end)})
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

    def get_loss(self, examples: Iterable[Example], outputs) -> Tuple[float, List]:
        """Per-unit softmax cross-entropy, or the CRF's negative log-likelihood,
        against the gold entities' characters; normalized per unit either way."""
        ops = self.model.ops
        tags = self.tags
        total_units = max(1, sum(len(units) for units, _ in outputs))
        if self._on_device() and self.model.has_ref("crf"):
            return self._crf_loss_on_device(examples, outputs, total_units)
        crf_scores = self._crf_scores()
        crf_grads = [numpy.zeros_like(array) for array in crf_scores] if crf_scores else None
        loss = 0.0
        d_outputs = []
        for example, (units, logits) in zip(examples, outputs):
            gold, _ = encode(units.starts, units.ends, gold_entities(example.reference), tags)
            logits = ops.to_numpy(logits)
            if not len(gold):
                d_outputs.append(ops.alloc2f(0, len(tags)))
                continue
            if crf_scores is None:
                probs = NUMPY_OPS.softmax(logits)
                truth = numpy.zeros_like(probs)
                truth[numpy.arange(len(gold)), gold] = 1.0
                loss += float(-numpy.log((probs * truth).sum(axis=1) + 1e-12).sum())
                d_logits = probs - truth
            else:
                nll, d_logits, *d_crf = crf.nll_and_gradients(logits, *crf_scores, gold)
                loss += nll
                for total, grad in zip(crf_grads, d_crf):
                    total += grad
            d_outputs.append(ops.asarray2f(d_logits / total_units))
        if crf_grads is not None:
            crf_layer = self.model.get_ref("crf")
            for name, grad in zip(("transitions", "start", "end"), crf_grads):
                crf_layer.inc_grad(name, ops.asarray(grad / total_units, dtype="f"))
        return loss / total_units, d_outputs

    def _crf_loss_on_device(self, examples: Iterable[Example], outputs, total_units: int) -> Tuple[float, List]:
        """The CRF loss of a whole batch on the GPU: the logits stay on the device and one
        batched forward-backward replaces a host copy and a host recursion per doc."""
        ops = self.model.ops
        golds = [
            encode(units.starts, units.ends, gold_entities(example.reference), self.tags)[0]
            for example, (units, _) in zip(examples, outputs)
        ]
        logits = [ops.asarray2f(doc_logits) for _, doc_logits in outputs]
        crf_scores = self._crf_scores(on_device=True)
        nll, d_logits, *d_crf = crf.batch_nll_and_gradients(logits, *crf_scores, golds)
        crf_layer = self.model.get_ref("crf")
        for name, grad in zip(("transitions", "start", "end"), d_crf):
            crf_layer.inc_grad(name, ops.asarray(grad / total_units, dtype="f"))
        d_outputs = [ops.asarray2f(d / total_units) for d in d_logits]
        return nll / total_units, d_outputs

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
