"""The NER head every unit kind shares: units, layers, scoring and the CRF's place.

A head reads its encoder's output, turns it into labelling units (``DocUnits``: a
character span and feature rows each) and one feature vector per unit (the unit
kind's ``gather``: ``spacy_ft.ner.units``), and scores every unit
here: the configured dropout and a linear layer, as ``BertForTokenClassification``,
then, with ``crf``, the CRF layer (``crf.build_crf``), which adds its scores to the
output. Backprop runs the same way back: the CRF's gradients to its parameters, the
logits' through the output layer and dropout to the unit features, and from there to
the encoder through the unit kind.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from thinc.api import Linear, Model
from thinc.types import Floats2d

from spacy_ft.ml.head_dropout import head_dropout
from spacy_ft.ner.crf import CRFParams, build_crf

#: Position of a unit that is a whole piece or token, not one character of a piece.
NO_POSITION = -1


@dataclass
class DocUnits:
    """Per unit: character span in the doc, index of its token, feature rows; and,
    for wordpiece units, its position inside its piece (``NO_POSITION`` unless the
    unit is one character of a multi-character piece) and that character's code
    point (0 otherwise). Builders that leave the last two empty make units that are
    never characters of a piece.

    ``row_spans``: per token index, the doc character span of each of the token's
    aligned rows (None where its pieces do not spell it), for the tokens whose spans
    the units were found from; ``source``: the ``TransformerData`` they were read
    from. Token splitting reuses them instead of matching the pieces again."""

    starts: List[int]
    ends: List[int]
    token_index: List[int]
    rows: List[List[int]]  # rows of the encoder's flattened output
    positions: List[int] = field(default_factory=list)
    characters: List[int] = field(default_factory=list)
    row_spans: Dict[int, Optional[List[Tuple[int, int]]]] = field(default_factory=dict)
    source: Any = None

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def has_characters(self) -> bool:
        """Whether any unit is one character of a multi-character piece."""
        return any(position != NO_POSITION for position in self.positions)


@dataclass
class HeadOutput:
    """The head's output for a batch: each doc's units and (units, tags) logits, and,
    with a CRF, its scores. As a gradient (what the component's loss returns and the
    model's backprop takes), ``logits`` are the logits' gradients and ``crf`` the CRF
    scores' (``units`` may be left empty)."""

    units: List[DocUnits]
    logits: List[Floats2d]
    crf: Optional[CRFParams] = None

    def __iter__(self) -> Iterator[Tuple[DocUnits, Floats2d]]:
        """(units, logits) per doc."""
        return iter(zip(self.units, self.logits))


#: What a unit kind gives the head for a batch: each doc's units, each doc's unit
#: features, and a callback from the features' gradients to the encoder output's.
Gathered = Tuple[List[DocUnits], List[Floats2d], Callable[[List[Floats2d]], Any]]
Gather = Callable[[Model, List[Any], Any], Gathered]
BeforeDropout = Callable[[Model, List[DocUnits], Floats2d, bool], Tuple[Floats2d, Callable[[Floats2d], None]]]



#: Every NER head: docs in, units with their logits (and CRF scores) out.
NERHeadModel = Model[List[Doc], HeadOutput]

def head_layers(
    tok2vec: Model, dropout: float, nO: Optional[int], crf: bool
) -> Tuple[List[Model], Dict[str, Optional[Model]]]:
    """The layers and refs every NER head has, in the order saved pipelines hold them:
    the encoder, the head's dropout (its configured rate, not nlp.update's drop), the
    output layer and, with ``crf``, the CRF's parameters."""
    output_layer = Linear(nO=nO)
    dropout_layer = head_dropout(dropout)
    layers = [tok2vec, dropout_layer, output_layer]
    refs: Dict[str, Optional[Model]] = {"tok2vec": tok2vec, "dropout": dropout_layer, "output_layer": output_layer}
    if crf:
        crf_layer = build_crf(nO)
        refs["crf"] = crf_layer
        layers.append(crf_layer)
    return layers, refs


def init_output_dims(model: Model) -> None:
    """Give the output layer and the CRF the head's number of tags, once it is known."""
    if model.has_dim("nO"):
        model.get_ref("output_layer").set_dim("nO", model.get_dim("nO"))
        if model.has_ref("crf"):
            model.get_ref("crf").set_dim("nO", model.get_dim("nO"))
            model.get_ref("crf").initialize()


def head_forward(
    model: Model,
    docs: List[Any],
    is_train: bool,
    gather: Gather,
    before_dropout: Optional[BeforeDropout] = None,
) -> Tuple[HeadOutput, Callable[[HeadOutput], Any]]:
    """The head's forward pass: the encoder, the unit kind's ``gather``, the scoring
    (``before_dropout`` may add to the features first) and the CRF."""
    encoded, backprop_tok2vec = model.get_ref("tok2vec")(docs, is_train)
    all_units, features, backprop_gather = gather(model, docs, encoded)
    added = None if before_dropout is None else lambda X: before_dropout(model, all_units, X, is_train)
    width = model.get_ref("output_layer").get_dim("nI")
    logits, backprop_scores = score_units(model, features, width, is_train, added)
    params, backprop_crf = None, None
    if model.has_ref("crf"):
        (logits, params), backprop_crf = model.get_ref("crf")(logits, is_train)

    def backprop(d_output: HeadOutput) -> Any:
        d_logits = d_output.logits
        if backprop_crf is not None:
            d_logits = backprop_crf((d_logits, d_output.crf))
        return backprop_tok2vec(backprop_gather(backprop_scores(d_logits)))

    return HeadOutput(all_units, logits, params), backprop


def score_units(
    model: Model,
    features: Sequence[Floats2d],
    width: int,
    is_train: bool,
    before_dropout: Optional[Callable[[Floats2d], Tuple[Floats2d, Callable[[Floats2d], None]]]] = None,
) -> Tuple[List[Floats2d], Callable[[List[Floats2d]], List[Floats2d]]]:
    """Per-doc unit features, all docs at once, through the head's dropout and output
    layer to per-doc logits; the callback maps per-doc logit gradients back to per-doc
    feature gradients. ``before_dropout`` may add to the features (the wordpiece
    head's character embeddings)."""
    ops = model.ops
    xp = ops.xp
    output_layer = model.get_ref("output_layer")
    sizes = [len(f) for f in features]
    X = xp.concatenate(features) if features else ops.alloc2f(0, width)
    backprop_added: Callable[[Floats2d], None] = lambda d_X: None  # noqa: E731
    if before_dropout is not None:
        X, backprop_added = before_dropout(X)
    X_dropped, backprop_dropout = model.get_ref("dropout")(X, is_train)
    logits, backprop_output = output_layer(X_dropped, is_train)
    splits = xp.cumsum(xp.asarray(sizes))[:-1].tolist() if sizes else []
    per_doc = xp.split(logits, splits) if sizes else []

    def backprop(d_outputs: List[Floats2d]) -> List[Floats2d]:
        d_logits = xp.concatenate(d_outputs) if d_outputs else ops.alloc2f(0, logits.shape[1])
        d_X = backprop_dropout(backprop_output(d_logits))
        backprop_added(d_X)
        return xp.split(d_X, splits) if sizes else []

    return per_doc, backprop
