"""Dropout whose rate is the architecture's, not ``[training] dropout``.

spaCy's components call ``set_dropout_rate(model, drop)`` on every update, which
rewrites the ``dropout_rate`` of every thinc ``Dropout`` in their model with the
``drop`` passed to ``nlp.update`` (0.0 unless the caller says otherwise). A
classifier head's ``dropout = 0.1`` in the config was therefore silently replaced:
0.1 under ``spacy train`` by chance, none at all under a plain ``nlp.update``
loop. The transformer's own dropout lives in its torch config and is never
touched by ``drop`` either, so the head now behaves the same way: its rate is a
setting of the model, applied in training, off in prediction.
"""

from typing import Callable, Tuple

from thinc.api import Model
from thinc.types import Floats2d


def head_dropout(rate: float) -> Model[Floats2d, Floats2d]:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"[spacy_ft] head dropout must be in [0, 1), got {rate!r}")
    return Model("head_dropout", _forward, attrs={"head_dropout_rate": float(rate)})


def _forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    rate = model.attrs["head_dropout_rate"]
    if not is_train or rate == 0.0:
        return X, lambda dY: dY
    mask = model.ops.get_dropout_mask(X.shape, rate)
    return X * mask, lambda dY: dY * mask
