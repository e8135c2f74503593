"""A random-weight character BERT for Chinese pipelines trained offline.

No Chinese pretrained transformer can be downloaded here, so the Chinese CPU
workflow trains one from scratch: BERT's tokenizer already splits CJK text into
single characters, so a vocabulary of characters (every character of jieba's
dictionary, so unseen text still maps to real ids, plus the training texts'
characters and ASCII letters with their ``##`` continuations) is all it needs.
Users with a network put ``bert-base-chinese`` in the config instead.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Iterable, Sequence, Union

from spacy_ft.jieba.dictionary import read_dictionary

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def character_vocab(texts: Iterable[str] = (), *, lexicon: bool = True) -> list[str]:
    """Special tokens, ASCII (whole and ``##`` continuation), the lexicon's and the texts' characters."""
    vocab = dict.fromkeys(SPECIAL_TOKENS)
    ascii_chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab.update(dict.fromkeys(ascii_chars))
    vocab.update(dict.fromkeys("##" + c for c in string.ascii_lowercase + string.digits))
    if lexicon:
        vocab.update(dict.fromkeys(read_dictionary().characters()))
    for text in texts:
        vocab.update(dict.fromkeys(c.lower() for c in text if not c.isspace()))
    return list(vocab)


def save_random_bert(
    path: Union[str, Path],
    vocab: Sequence[str],
    *,
    hidden_size: int,
    layers: int,
    heads: int,
    intermediate_size: int,
    max_position: int,
    seed: int = 0,
) -> Path:
    """Write a BERT with random weights and its fast tokenizer, loadable by path.

    ``model_max_length`` is saved with the tokenizer so spacy-transformers never
    sees the "very large" default and windows are checked against the model.
    """
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(path / "vocab.txt"), do_lower_case=True, model_max_length=max_position
    )
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(path))
    return path


def write_char_bert(
    path: Union[str, Path],
    texts: Iterable[str] = (),
    *,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    max_position: int = 512,
    seed: int = 0,
) -> Path:
    """A small random character BERT (defaults: 2 layers, hidden 128) for CPU training."""
    return save_random_bert(
        path,
        character_vocab(texts),
        hidden_size=hidden_size,
        layers=layers,
        heads=heads,
        intermediate_size=hidden_size * 4,
        max_position=max_position,
        seed=seed,
    )
