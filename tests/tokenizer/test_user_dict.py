"""User dictionaries in the tokenizer: the initialize setting, and persistence with the pipeline.

Parsing and its errors are tested with the entries themselves, in tests/jieba."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy

from spacy_ft.jieba.user_entries import UserDictEntry, UserDictError
from tests.util import JIEBA, make_zh

WORD = "蓝鲸大模型"
TEXT = "蓝鲸大模型和云杉计算在北京发布"


def write(tmp_path: Path, content: str, name: str = "dict.txt") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def words(nlp, text=TEXT):
    return [t.text for t in nlp(text)]


def test_initialize_setting_loads_dict_and_saves_it(tmp_path):
    dict_path = write(tmp_path, f"{WORD} 100 nz\n云杉计算\n")
    config = {
        "nlp": {"lang": "zh", "tokenizer": JIEBA},
        "initialize": {"tokenizer": {"user_dict": str(dict_path)}},
    }
    nlp = spacy.blank("zh", config=config)
    assert WORD not in words(nlp)
    nlp.initialize()
    before = words(nlp)
    assert WORD in before and "云杉计算" in before

    nlp.to_disk(tmp_path / "pipeline")
    dict_path.unlink()  # "another machine": the original dictionary is gone
    loaded = spacy.load(tmp_path / "pipeline")
    assert words(loaded) == before
    assert loaded.tokenizer.user_dict == (UserDictEntry(WORD, 100, "nz"), UserDictEntry("云杉计算"))


def test_initialize_with_unknown_setting_fails(tmp_path):
    config = {"nlp": {"lang": "zh", "tokenizer": JIEBA}, "initialize": {"tokenizer": {"userdict": "x"}}}
    nlp = spacy.blank("zh", config=config)
    with pytest.raises(Exception, match=r"(?s)userdict"):
        nlp.initialize()


def test_initialize_with_missing_dict_fails(tmp_path):
    config = {
        "nlp": {"lang": "zh", "tokenizer": JIEBA},
        "initialize": {"tokenizer": {"user_dict": "missing.txt"}},
    }
    nlp = spacy.blank("zh", config=config)
    with pytest.raises(UserDictError, match=r"missing\.txt"):
        nlp.initialize()


def test_bytes_round_trip():
    nlp = make_zh()
    nlp.tokenizer.add_words([WORD, ("云杉计算", 20, "nz")])
    expected = words(nlp)
    fresh = make_zh()
    assert words(fresh) != expected
    fresh.from_bytes(nlp.to_bytes())
    assert words(fresh) == expected
    assert fresh.tokenizer.user_dict == nlp.tokenizer.user_dict


def test_saved_dict_is_plain_jieba_format(tmp_path):
    import jieba

    nlp = make_zh()
    nlp.tokenizer.add_words([(WORD, 100, "nz")])
    nlp.to_disk(tmp_path / "p")
    saved = tmp_path / "p" / "tokenizer" / "user_dict.txt"
    assert saved.read_text(encoding="utf-8") == f"{WORD} 100 nz\n"
    plain = jieba.Tokenizer()
    plain.load_userdict(str(saved))
    assert WORD in plain.lcut(TEXT)


def test_load_user_dict_appends(tmp_path):
    nlp = make_zh()
    nlp.tokenizer.add_words([WORD])
    nlp.tokenizer.load_user_dict(write(tmp_path, "云杉计算\n"))
    assert [e.word for e in nlp.tokenizer.user_dict] == [WORD, "云杉计算"]
    assert {WORD, "云杉计算"} <= set(words(nlp))


def test_backend_can_be_switched_at_load_time(tmp_path):
    nlp = make_zh()
    nlp.tokenizer.add_words([WORD])
    nlp.to_disk(tmp_path / "p")
    fast = spacy.load(tmp_path / "p", config={"nlp": {"tokenizer": {"backend": "jieba_next"}}})
    assert fast.tokenizer.backend == "jieba_next"
    assert WORD in words(nlp)  # the user word is used, and must survive the reload
    assert words(fast) == words(nlp)
