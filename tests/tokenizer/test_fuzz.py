"""Property tests: text is never lost or shifted, and tokens are jieba's."""

from __future__ import annotations

import jieba
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CHINESE = list("我爱北京天安门南京市长江大桥的了是在有人中国研究生命起源杭研邓小平理论中美")
PUNCT = list("，。！？、；：“”‘’（）《》【】…—·")
SPECIAL = [
    " ",
    "  ",
    "\n",
    "\t",
    "\r\n",
    "\r",
    "\u3000",
    "\xa0",
    "\x00",
    "\x1b",
    "\u200b",
    "\ufeff",
    "😀",
    "🇨🇳",
    "-",
    "%",
    ".",
    "#",
    "&",
    "+",
    "_",
    "http://a.cn/x?y=1",
    "3.14",
    "ＡＢ１２",
]

texts = st.lists(
    st.one_of(
        st.sampled_from(CHINESE),
        st.sampled_from(PUNCT),
        st.sampled_from(SPECIAL),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=4),
        st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True),
    ),
    max_size=40,
).map("".join)

FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def non_space(words):
    return [w for w in words if not w.isspace()]


@pytest.mark.slow  # 3000 examples
@FUZZ
@given(text=texts)
def test_text_offsets_and_tokens(zh_nlp, zh_nlp_fast, text):
    doc = zh_nlp(text)
    assert doc.text == text
    assert all(token.text for token in doc)
    assert all(text[t.idx : t.idx + len(t)] == t.text for t in doc)
    expected = non_space(jieba.lcut(text))
    assert non_space([t.text for t in doc]) == expected
    assert non_space([t.text for t in zh_nlp_fast(text)]) == expected


@pytest.mark.slow  # 1000 examples
@settings(max_examples=1000, deadline=None)
@given(text=texts)
def test_no_hmm_matches_jieba(zh_nlp_no_hmm, text):
    doc = zh_nlp_no_hmm(text)
    assert doc.text == text
    assert non_space([t.text for t in doc]) == non_space(jieba.lcut(text, HMM=False))
