"""``spacy_ft_textcat``: a text classifier that fine-tunes a transformer end to end.

Why not spaCy's ``textcat``: it has no [CLS] pooling over a transformer, trains
with a squared-error loss on probabilities, and has no class weights, example
weights or per-label thresholds. This component keeps ``TextCategorizer``'s
label handling, serialization and ``doc.cats`` output, and replaces the rest:
softmax or sigmoid on logits from ``spacy_ft.TransformerClassifier.v1``, a
cross-entropy loss weighted per class and per example, input validation that
names the offending doc, and per-label thresholds saved in the pipeline.
"""

import math
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.pipeline.textcat import TextCategorizer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab
from thinc.api import Config, Model

from spacy_ft.ml.fork_safety import make_torch_fork_safe
from spacy_ft.textcat.scoring import best_threshold
from spacy_ft.validation import check_choice

NAME = "spacy_ft_textcat"
#: How the loss and its gradient combine the examples of a batch (PyTorch's ``reduction``).
LOSS_REDUCTIONS = ("sum", "mean")

DEFAULT_MODEL = Config().from_str(
    """
[model]
@architectures = "spacy_ft.TransformerClassifier.v1"
pooling = "cls"
dropout = 0.1
grad_factor = 1.0

[model.tok2vec]
@architectures = "spacy_ft.TransformerDataListener.v1"
upstream = "*"
"""
)["model"]


@Language.factory(
    NAME,
    assigns=["doc.cats"],
    default_config={
        "model": DEFAULT_MODEL,
        "multi_label": False,
        "threshold": 0.5,
        "class_weights": None,
        "weight_key": "weight",
        "loss_reduction": "sum",
        "scorer": {"@scorers": "spacy_ft.textcat_scorer.v1"},
    },
    default_score_weights={
        "cats_score": 1.0,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_f": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
    },
)
def make_transformer_textcat(
    nlp: Language,
    name: str,
    model: Model,
    multi_label: bool,
    threshold: float,
    class_weights: Optional[Dict[str, float]],
    weight_key: str,
    loss_reduction: str,
    scorer: Optional[Callable],
) -> "TransformerTextCategorizer":
    """``multi_label``: sigmoid per label instead of one softmax. ``class_weights``:
    label -> loss weight (default 1). ``weight_key``: the key in a training doc's
    ``user_data`` that holds its example weight (default 1), e.g. from reweighing.

    ``loss_reduction``: ``"sum"`` (default) adds the examples' gradients, as
    spaCy's own components do (``textcat``; ``tagger`` with ``normalize=False``);
    spaCy's optimizer settings assume that scale: its per-tensor ``grad_clip = 1.0``
    engages on summed gradients and almost never on a batch mean. ``"mean"``
    divides by the batch size, as Hugging Face's Trainer does. With a character
    BERT trained from scratch, "sum" trained more reliably across seeds (the
    classifier benchmark in docs/benchmarks.md has the numbers)."""
    return TransformerTextCategorizer(
        nlp.vocab,
        model,
        name,
        multi_label=multi_label,
        threshold=threshold,
        class_weights=class_weights,
        weight_key=weight_key,
        loss_reduction=loss_reduction,
        scorer=scorer,
    )


class TransformerTextCategorizer(TextCategorizer):
    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = NAME,
        *,
        multi_label: bool = False,
        threshold: float = 0.5,
        class_weights: Optional[Dict[str, float]] = None,
        weight_key: str = "weight",
        loss_reduction: str = "sum",
        scorer: Optional[Callable] = None,
    ) -> None:
        check_choice(loss_reduction, LOSS_REDUCTIONS, "loss_reduction", component=name)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"[{name}] threshold must be within [0, 1], got {threshold!r}")
        for label, weight in (class_weights or {}).items():
            if not _is_weight(weight):
                raise ValueError(
                    f"[{name}] class_weights[{label!r}] must be a finite number >= 0, got {weight!r}"
                )
        super().__init__(vocab, model, name, threshold=threshold, scorer=scorer)
        make_torch_fork_safe()
        self.cfg.update(
            {
                "multi_label": bool(multi_label),
                "class_weights": dict(class_weights or {}),
                "weight_key": weight_key,
                "loss_reduction": loss_reduction,
                "thresholds": {},
            }
        )

    @property
    def multi_label(self) -> bool:
        return bool(self.cfg["multi_label"])

    @property
    def support_missing_values(self) -> bool:
        return self.multi_label

    @property
    def thresholds(self) -> Dict[str, float]:
        """Per-label decision thresholds (multi-label); ``threshold`` for the rest."""
        return {label: self.cfg["thresholds"].get(label, self.cfg["threshold"]) for label in self.labels}

    # -- prediction -------------------------------------------------------------

    def predict(self, docs: Iterable[Doc]):
        docs = list(docs)
        if not docs:
            return self.model.ops.alloc2f(0, len(self.labels))
        return self._activate(self.model.predict(docs))

    def _activate(self, logits):
        xp = self.model.ops.xp
        if self.multi_label:
            return 1.0 / (1.0 + xp.exp(-logits))
        return self.model.ops.softmax(logits, axis=1)

    def decide(self, doc: Doc) -> List[str]:
        """The labels that apply to a processed doc: the top label (exclusive) or
        every label at or above its threshold (multi-label)."""
        from spacy_ft.evaluation.confusion import classifier_settings

        return classifier_settings(self).decide(doc.cats)

    # -- training ---------------------------------------------------------------

    def get_loss(self, examples: Iterable[Example], scores) -> Tuple[float, Any]:
        """Weighted cross-entropy on logits (``scores`` are the model's logits),
        summed over the batch or averaged (``loss_reduction``)."""
        examples = list(examples)
        ops = self.model.ops
        # spaCy's own rule: a label missing from gold cats counts only where
        # missing values are supported (multi-label); exclusive docs treat it as 0.
        truth_rows, known_rows = self._examples_to_truth(examples)
        # Typed as Any: thinc's array types do not model broadcasting with None indices.
        truths: Any = ops.asarray2f(truth_rows)  # type: ignore[arg-type]
        known: Any = ops.asarray2f(known_rows)  # type: ignore[arg-type]
        example_weights: Any = ops.asarray1f(self._example_weights(examples))
        class_weights: Any = ops.asarray1f(
            [float(self.cfg["class_weights"].get(label, 1.0)) for label in self.labels]
        )
        probs = self._activate(scores)
        n = len(examples) if self.cfg["loss_reduction"] == "mean" else 1
        xp = ops.xp
        eps = 1e-7
        if self.multi_label:
            weights = known * class_weights[None, :] * example_weights[:, None]
            losses = -(truths * xp.log(probs + eps) + (1 - truths) * xp.log(1 - probs + eps))
            d_scores = (probs - truths) * weights / n
            loss = float((losses * weights).sum() / n)
        else:
            row_weights = example_weights * (truths * class_weights[None, :]).sum(axis=1)
            d_scores = (probs - truths) * row_weights[:, None] / n
            loss = float(-(row_weights * xp.log((probs * truths).sum(axis=1) + eps)).sum() / n)
        return loss, d_scores

    def _example_weights(self, examples: Sequence[Example]) -> List[float]:
        key = self.cfg["weight_key"]
        weights = []
        for example in examples:
            weight = example.reference.user_data.get(key, 1.0)
            if not _is_weight(weight):
                raise ValueError(
                    f"[{self.name}] example weight user_data[{key!r}] must be a finite number >= 0, "
                    f"got {weight!r} for doc {_preview(example.reference)}"
                )
            weights.append(float(weight))
        return weights

    def _validate_categories(self, examples: Iterable[Example]) -> None:
        """Clear errors for the data mistakes that otherwise train silently wrong."""
        labels = set(self.labels)
        for i, example in enumerate(examples):
            cats = example.reference.cats
            where = f"[{self.name}] training example {i} {_preview(example.reference)}"
            if not cats:
                raise ValueError(f"{where} has no doc.cats; every training doc needs its labels")
            for label, value in cats.items():
                if labels and label not in labels:
                    raise ValueError(
                        f"{where} has label {label!r}, which the component does not know "
                        f"(labels: {sorted(labels)}); add it or fix the data"
                    )
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ValueError(f"{where} has cats[{label!r}] = {value!r}; expected a number in [0, 1]")
            if not self.multi_label and sum(1 for v in cats.values() if v > 0.5) != 1:
                raise ValueError(
                    f"{where} has cats {dict(cats)}: exclusive classes need exactly one label with "
                    "value 1.0 (set multi_label = true for multi-label data)"
                )

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Iterable[str]] = None,
        positive_label: Optional[str] = None,
    ) -> None:
        examples = list(get_examples())
        if labels is None and not self.labels:
            found = sorted({label for example in examples for label in example.reference.cats})
            if not found:
                raise ValueError(
                    f"[{self.name}] no labels: the initialization examples have no doc.cats "
                    "and [initialize.components.{self.name}.labels] is not set"
                )
        self._validate_categories(examples)
        super().initialize(lambda: examples, nlp=nlp, labels=labels, positive_label=positive_label)
        unknown = set(self.cfg["class_weights"]) - set(self.labels)
        if unknown:
            raise ValueError(
                f"[{self.name}] class_weights names unknown labels {sorted(unknown)}; "
                f"labels: {list(self.labels)}"
            )

    # -- thresholds -------------------------------------------------------------

    def tune_thresholds(self, examples: Iterable[Example]) -> Dict[str, float]:
        """Pick each label's F1-optimal threshold on processed dev examples
        (``example.predicted.cats`` filled) and keep it in the pipeline."""
        if not self.multi_label:
            raise ValueError(f"[{self.name}] per-label thresholds apply to multi-label classifiers only")
        examples = list(examples)
        tuned = {}
        for label in self.labels:
            pairs = [
                (eg.predicted.cats.get(label, 0.0), eg.reference.cats[label] > 0)
                for eg in examples
                if eg.reference.cats.get(label) is not None
            ]
            threshold = best_threshold(
                [score for score, _ in pairs], [truth for _, truth in pairs], self.cfg["threshold"]
            )
            tuned[label] = round(threshold, 6)  # survives the JSON of cfg exactly
        self.cfg["thresholds"] = tuned
        return dict(tuned)


def _is_weight(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value >= 0
    )


def _preview(doc: Doc) -> str:
    text = doc.text
    return repr(text if len(text) <= 40 else text[:40] + "...")
