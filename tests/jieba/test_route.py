"""The dictionary route and the HMM give jieba's own words, and ``suggest_freq`` jieba's counts."""

from __future__ import annotations

import pytest

from spacy_ft.jieba.hmm import fast_hmm_cut
from spacy_ft.jieba.route import (
    cut_without_hmm,
    dictionary_route,
    log_of_total,
    suggest_freq,
    words_with_hmm,
)

#: Blocks as jieba cuts them (Chinese, letters and digits only), with well-known ambiguities.
BLOCKS = [
    "我来到北京清华大学",
    "南京市长江大桥",
    "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
    "结婚的和尚未结婚的",
    "他来到了网易杭研大厦",
    "小明硕士毕业于中国科学院计算所后在日本京都大学深造",
    "iPhone12和华为Mate40Pro都支持5G网络",
    "江研研研北",
    "abc123中文def",
    "研究生命起源",
]


@pytest.fixture(scope="module")
def reference():
    """A private jieba with two user words, one of them deleted by frequency 0."""
    import jieba

    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    tokenizer.add_word("杭研大厦", 50)
    tokenizer.add_word("长江大桥", 0)
    return tokenizer


@pytest.mark.parametrize("block", BLOCKS)
def test_cut_without_hmm_is_jiebas(reference, block):
    assert cut_without_hmm(block, reference.FREQ, reference.total) == reference.lcut(block, HMM=False)


@pytest.mark.parametrize("block", BLOCKS)
def test_words_with_hmm_are_jiebas(reference, block):
    import jieba.finalseg

    route = dictionary_route(block, reference.FREQ, log_of_total(reference.total))
    hmm_cut = fast_hmm_cut(jieba.finalseg)
    assert words_with_hmm(block, route, reference.FREQ, hmm_cut) == reference.lcut(block, HMM=True)


@pytest.mark.parametrize("word", ["江大桥", "石墨烯电池", "蓝鲸大模型", "北京", "云杉计算ABC", "长江大桥", "abc123"])
def test_suggest_freq_is_jiebas(reference, word):
    assert suggest_freq(word, reference.FREQ, reference.total) == reference.suggest_freq(word, tune=False)


def test_empty_dictionary_routes_single_characters():
    assert cut_without_hmm("北京ab1", {}, 0) == ["北", "京", "ab1"]
    assert suggest_freq("北京", {}, 0) == 2  # int(1 * 1) + 1: unknown pieces count 1 of a total of 1
