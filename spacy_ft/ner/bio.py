"""BIO tags over labelling units: gold encoding, the tags' constraints, and the
softmax head's loss and constrained decoding (the CRF's are in ``crf``)."""

from typing import List, Optional, Sequence, Tuple

import numpy
from thinc.api import NumpyOps, Ops
from thinc.types import Floats2d

from spacy_ft.ner.crf import Constraints, viterbi
from spacy_ft.types import Entity

#: The softmax head's loss and decoding run on numpy whatever device the model is on.
NUMPY_OPS = NumpyOps()


def bio_tags(labels: Sequence[str]) -> List[str]:
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def encode(
    starts: Sequence[int], ends: Sequence[int], entities: Sequence[Entity], tags: Sequence[str]
) -> Tuple[List[int], List[Entity]]:
    """Gold tag index per unit, and the entities whose edges fall inside a unit.

    Such an entity is still encoded on the units it touches (nothing dropped);
    the caller counts it as not exactly representable.
    """
    index = {tag: i for i, tag in enumerate(tags)}
    gold = [0] * len(starts)
    inexact: List[Entity] = []
    for start, end, label in sorted(entities):
        if f"B-{label}" not in index:
            known = sorted({tag[2:] for tag in tags if tag != "O"})
            raise ValueError(
                f"[spacy_ft_ner] gold entity label {label!r} at characters {start}-{end} is not one of "
                f"the component's labels {known}: add it (initialize labels) or fix the data"
            )
        covered = [u for u in range(len(starts)) if starts[u] < end and ends[u] > start]
        if not covered:
            inexact.append((start, end, label))
            continue
        if starts[covered[0]] != start or ends[covered[-1]] != end:
            inexact.append((start, end, label))
        gold[covered[0]] = index[f"B-{label}"]
        for u in covered[1:]:
            gold[u] = index[f"I-{label}"]
    return gold, inexact


def allowed_transitions(tags: Sequence[str]) -> numpy.ndarray:
    """(previous, next) mask: I-X may only follow B-X or I-X."""
    allowed = numpy.ones((len(tags), len(tags)), dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            label = tag[2:]
            for i, previous in enumerate(tags):
                allowed[i, j] = previous in (f"B-{label}", f"I-{label}")
    return allowed


def bio_constraints(tags: Sequence[str]) -> Constraints:
    """The CRF's constraints for ``tags``: :func:`allowed_transitions`, and no I- first."""
    return Constraints(allowed_transitions(tags), numpy.array([not tag.startswith("I-") for tag in tags]))


def decode(log_probs: numpy.ndarray, allowed: numpy.ndarray, tags: Sequence[str]) -> List[int]:
    """The most probable tag sequence that is valid BIO: the CRF's Viterbi with
    transitions that only forbid (0 or -inf) and no sequence may start with I-."""
    penalty = numpy.where(allowed, 0.0, -numpy.inf)
    start = numpy.array([-numpy.inf if tag.startswith("I-") else 0.0 for tag in tags])
    return viterbi(log_probs, penalty, start, numpy.zeros(len(tags)))


def spans_from_tags(
    path: Sequence[int], probs: numpy.ndarray, starts: Sequence[int], ends: Sequence[int], tags: Sequence[str]
) -> List[Tuple[int, int, str, float]]:
    """Entities with a confidence: the mean probability of their units' tags."""
    entities: List[Tuple[int, int, str, float]] = []
    current: Optional[Tuple[int, int, str]] = None  # (first unit, last unit, label)
    for u, tag_index in enumerate(list(path) + [0]):
        tag = tags[tag_index] if u < len(path) else "O"
        if current is not None and not (tag.startswith("I-") and tag[2:] == current[2]):
            first, last, label = current
            score = float(numpy.mean([probs[k, path[k]] for k in range(first, last + 1)]))
            entities.append((starts[first], ends[last], label, score))
            current = None
        if tag.startswith("B-"):
            current = (u, u, tag[2:])
        elif tag.startswith("I-") and current is not None:
            current = (current[0], u, current[2])
    return entities


def softmax_loss(
    ops: Ops, logits: Sequence[Floats2d], golds: Sequence[Sequence[int]], normalizer: int
) -> Tuple[float, List[Floats2d]]:
    """Per-unit softmax cross-entropy against the gold tags, and the logits' gradients,
    both divided by ``normalizer``."""
    loss = 0.0
    d_logits = []
    for doc_logits, gold in zip(logits, golds):
        if not len(gold):
            d_logits.append(ops.alloc2f(0, doc_logits.shape[1]))
            continue
        probs = NUMPY_OPS.softmax(ops.to_numpy(doc_logits))
        truth = numpy.zeros_like(probs)
        truth[numpy.arange(len(gold)), gold] = 1.0
        loss += float(-numpy.log((probs * truth).sum(axis=1) + 1e-12).sum())
        d_logits.append(ops.asarray2f((probs - truth) / normalizer))
    return loss / normalizer, d_logits


def softmax_decode(
    ops: Ops, logits: Floats2d, allowed: numpy.ndarray, tags: Sequence[str]
) -> Tuple[List[int], numpy.ndarray]:
    """One doc's per-unit probabilities and its most probable valid BIO path."""
    probs = NUMPY_OPS.softmax(ops.to_numpy(logits))
    return decode(numpy.log(probs + 1e-12), allowed, tags), probs
