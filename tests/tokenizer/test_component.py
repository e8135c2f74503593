"""Behaviour of the Jieba tokenizer that users rely on."""

from __future__ import annotations

import pickle

import jieba
import pytest
import spacy

from spacy_ft.tokenizer.component import JiebaTokenizer, merge_whitespace
from tests.util import make_zh

TRICKY = [
    "",
    " ",
    "\n\n",
    "我爱北京天安门",
    "  我 爱  北京\n\n天安门 ",
    "他说：“你好！”这是全角标点，（括号）【】《书名》……",
    "state-of-the-art 模型 50% 提升, version 3.8.0",
    "访问 https://example.com/a?b=1&c=2#x 或发邮件 user@example.org",
    "表情😀👍🏽和旗帜🇨🇳混在中文里",
    "控制字符\x00\x07\x1b[0m\u200b零宽\ufeff和\u3000全角空格",
    "Tab\there\r\nCRLF\rCR",
    "１２３４全角数字ＡＢＣ",
    "a  b",
    "𠀀𠀁 (CJK extension B) 龘",
    # jieba_next's own HMM splits these differently from jieba (found by the fuzz test and benchmark)
    "江研研研北",
    "在红墈火车站出来去过海巴士站",
    "原註是英文的,為何不可留下英文呢",
    '一个词----"大失所望"!!!停放约300--400辆车',
]


def non_space(tokens):
    return [t for t in tokens if not t.isspace()]


@pytest.mark.parametrize("text", TRICKY)
def test_text_and_offsets_are_exact(zh_nlp, text):
    doc = zh_nlp(text)
    assert doc.text == text
    offset = 0
    for token in doc:
        assert token.text, "empty token"
        assert token.idx == offset
        assert text[token.idx : token.idx + len(token)] == token.text
        offset += len(token.text_with_ws)
    assert offset == len(text)


@pytest.mark.parametrize("text", TRICKY)
def test_tokens_are_jiebas(zh_nlp, zh_nlp_fast, text):
    expected = non_space(jieba.lcut(text))
    assert non_space([t.text for t in zh_nlp(text)]) == expected
    assert non_space([t.text for t in zh_nlp_fast(text)]) == expected


def test_whitespace_follows_spacy_convention(zh_nlp):
    doc = zh_nlp("我 爱  北京\n\n天安门")
    assert [(t.text, t.whitespace_) for t in doc] == [
        ("我", " "),
        ("爱", " "),
        (" ", ""),
        ("北京", ""),
        ("\n\n", ""),
        ("天安门", ""),
    ]
    leading = zh_nlp("  你好")
    assert [t.text for t in leading] == ["  ", "你好"]
    assert leading[0].is_space


def test_merge_whitespace_keeps_tags():
    words, spaces, tags = merge_whitespace(["我", " ", " ", "\n", "你"], ["r", "x", "x", "x", "r"])
    assert words == ["我", " \n", "你"]
    assert spaces == [True, False, False]
    assert tags == ["r", "x", "r"]


def test_hmm_switch_changes_unknown_words():
    text = "他来到了网易杭研大厦"
    with_hmm = [t.text for t in make_zh(hmm=True)(text)]
    without_hmm = [t.text for t in make_zh(hmm=False)(text)]
    assert "杭研" in with_hmm
    assert "杭研" not in without_hmm and "杭" in without_hmm
    assert without_hmm == jieba.lcut(text, HMM=False)


def test_cache_does_not_change_output(zh_nlp):
    uncached = make_zh(cache_size=0)
    texts = ["我爱北京天安门", "南京市长江大桥", "我爱北京天安门"] * 3
    assert [[t.text for t in zh_nlp(x)] for x in texts] == [[t.text for t in uncached(x)] for x in texts]


def test_pos_tags_into_tag_attribute():
    nlp = make_zh(pos_tags=True)
    nlp.tokenizer.add_words([("蓝鲸大模型", 100, "nz")])
    doc = nlp("我爱北京天安门，也爱 蓝鲸大模型")
    tags = {t.text: t.tag_ for t in doc}
    assert tags["我"] == "r"
    assert tags["爱"] == "v"
    assert tags["北京"] == "ns"
    assert tags["蓝鲸大模型"] == "nz"
    assert doc.text == "我爱北京天安门，也爱 蓝鲸大模型"


def test_two_pipelines_do_not_share_dictionaries():
    text = "蓝鲸大模型发布了"
    plain = make_zh()
    custom = make_zh()
    custom.tokenizer.add_words(["蓝鲸大模型"])
    assert "蓝鲸大模型" in [t.text for t in custom(text)]
    assert "蓝鲸大模型" not in [t.text for t in plain(text)]
    assert "蓝鲸大模型" not in jieba.lcut(text)


def test_add_words_changes_segmentation_after_first_use(zh_nlp_fast):
    nlp = make_zh(backend="jieba_next")
    assert "蓝鲸大模型" not in [t.text for t in nlp("蓝鲸大模型")]
    nlp.tokenizer.add_words(["蓝鲸大模型 50 nz"])
    assert [t.text for t in nlp("蓝鲸大模型")] == ["蓝鲸大模型"]


def test_tokenizer_pickles_with_its_dictionary():
    nlp = make_zh()
    nlp.tokenizer.add_words(["蓝鲸大模型"])
    nlp("warm up so a jieba instance with locks exists")
    clone = pickle.loads(pickle.dumps(nlp))
    assert isinstance(clone.tokenizer, JiebaTokenizer)
    assert "蓝鲸大模型" in [t.text for t in nlp("蓝鲸大模型发布")]  # the user word is used
    assert [t.text for t in clone("蓝鲸大模型发布")] == [t.text for t in nlp("蓝鲸大模型发布")]
    assert clone.tokenizer.user_dict == nlp.tokenizer.user_dict


def test_n_process_gives_same_docs():
    nlp = make_zh()
    nlp.tokenizer.add_words(["蓝鲸大模型"])
    texts = [f"第{i}条：蓝鲸大模型在北京发布 {i}  次" for i in range(40)] + ["", " "]
    single = [[(t.text, t.whitespace_) for t in doc] for doc in nlp.pipe(texts, n_process=1)]
    multi = [[(t.text, t.whitespace_) for t in doc] for doc in nlp.pipe(texts, n_process=2, batch_size=8)]
    assert len(single) == len(texts) and any("蓝鲸大模型" == t for t, _ in single[0])
    assert multi == single


def test_non_string_input_is_rejected(zh_nlp):
    with pytest.raises(TypeError, match=r"spacy_ft\.JiebaTokenizer\.v1.*int"):
        zh_nlp.tokenizer(42)


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match=r"unknown backend 'fastest'"):
        make_zh(backend="fastest")


def test_fast_backend_with_pos_tags_is_rejected():
    with pytest.raises(ValueError, match=r"pos_tags.*jieba_next"):
        make_zh(backend="jieba_next", pos_tags=True)


def test_negative_cache_size_is_rejected():
    with pytest.raises(ValueError, match=r"cache_size.*-1"):
        make_zh(cache_size=-1)


def test_missing_backend_names_the_extra(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jieba_next" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r"spacy_ft\[fast\]"):
        make_zh(backend="jieba_next")


def test_unknown_setting_is_rejected():
    from confection import ConfigValidationError

    with pytest.raises(
        ConfigValidationError, match=r"(?s)JiebaTokenizer\.v1.*unexpected argument: 'segmenter'"
    ):
        make_zh(segmenter="jieba")


def test_english_pipeline_can_use_it():
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
    doc = nlp("Hello world, 你好世界")
    assert doc.text == "Hello world, 你好世界"
    assert [t.text for t in doc] == ["Hello", "world", ",", "你好", "世界"]
