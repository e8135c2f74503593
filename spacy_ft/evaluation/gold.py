"""Pair a pipeline's predictions with the gold docs of a ``.spacy`` file."""

from pathlib import Path
from typing import List

from spacy.tokens import DocBin
from spacy.training import Example

from spacy_ft.types import PathLike


def predict_gold(nlp, gold_path: PathLike) -> List[Example]:
    """Examples pairing the pipeline's predictions with the gold docs of a .spacy file."""
    path = Path(gold_path)
    if not path.is_file():
        raise ValueError(f"[spacy_ft] gold data not found: '{path}'")
    references = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    if not references:
        raise ValueError(f"[spacy_ft] gold data '{path}' holds no documents")
    predictions = nlp.pipe(reference.text for reference in references)
    return [Example(predicted, reference) for predicted, reference in zip(predictions, references)]
