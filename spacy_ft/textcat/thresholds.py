"""Tune a trained pipeline's multi-label decision thresholds on dev data.

Run after training (``python -m spacy_ft tune-thresholds``): the thresholds are
picked on predictions of the final model, then saved inside the pipeline.
"""

from pathlib import Path
from typing import Dict, Optional, Union

from spacy.language import Language

from spacy_ft.evaluation.gold import predict_gold
from spacy_ft.textcat.component import TransformerTextCategorizer


def find_classifier(nlp: Language, name: Optional[str] = None) -> TransformerTextCategorizer:
    if name is not None:
        component = nlp.get_pipe(name)
    else:
        found = [pipe for _, pipe in nlp.pipeline if isinstance(pipe, TransformerTextCategorizer)]
        if len(found) != 1:
            raise ValueError(
                f"[spacy_ft] expected one spacy_ft_textcat component, found {len(found)}: name it with --component"
            )
        component = found[0]
    if not isinstance(component, TransformerTextCategorizer):
        raise ValueError(
            f"[spacy_ft] component {name!r} is not a spacy_ft_textcat ({type(component).__name__})"
        )
    return component


def tune_pipeline_thresholds(
    nlp: Language, dev_path: Union[str, Path], component: Optional[str] = None
) -> Dict[str, float]:
    """Predict the dev docs, tune each label's threshold for F1, store them in the pipeline."""
    classifier = find_classifier(nlp, component)
    return classifier.tune_thresholds(predict_gold(nlp, dev_path))
