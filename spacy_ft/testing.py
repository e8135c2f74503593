"""Tiny random transformers for tests and offline smoke runs.

Nothing may download weights here, so tests build a BERT with random weights
and a vocabulary written on the spot. The vocabulary holds every character
and word the caller passes, so test corpora tokenize without [UNK].
"""

from pathlib import Path
from typing import Iterable, Union

from spacy_ft.encoders.char_bert import SPECIAL_TOKENS


def build_vocab(texts: Iterable[str]) -> list:
    """Characters (Chinese is split per character by BERT) and lower-cased words of the texts."""
    vocab = dict.fromkeys(SPECIAL_TOKENS)
    for text in texts:
        for char in text:
            if not char.isspace():
                vocab.setdefault(char.lower())
        for word in text.split():
            vocab.setdefault(word.lower())
    return list(vocab)


def make_tiny_bert(
    path: Union[str, Path],
    texts: Iterable[str] = (),
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 2,
    max_position: int = 128,
    seed: int = 0,
) -> Path:
    """Write a random-weight BERT and its tokenizer to ``path`` (loadable by name = path)."""
    from spacy_ft.encoders.char_bert import save_random_bert

    vocab = build_vocab(list(texts) + [" ".join("abcdefghijklmnopqrstuvwxyz0123456789.,!?")])
    return save_random_bert(
        path,
        vocab,
        hidden_size=hidden_size,
        layers=layers,
        heads=heads,
        intermediate_size=hidden_size * 2,
        max_position=max_position,
        seed=seed,
    )
