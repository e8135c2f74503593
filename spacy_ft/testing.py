"""Tiny random transformers for tests and offline smoke runs.

Nothing may download weights here, so tests build a BERT with random weights
and a vocabulary written on the spot. The vocabulary holds every character
and word the caller passes, so test corpora tokenize without [UNK].
"""

from pathlib import Path
from typing import Iterable, Union

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    vocab = build_vocab(list(texts) + [" ".join("abcdefghijklmnopqrstuvwxyz0123456789.,!?")])
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_position,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(path))
    return path
