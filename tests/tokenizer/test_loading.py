"""When jieba's dictionary loads, and that loading it prints nothing.

A service loads its pipeline once and should answer its first request as fast as
the others, so the dictionary is loaded in ``spacy.load`` (as spaCy's own zh
tokenizer does), once, and in ``nlp.initialize``; and a CLI or service that
loads a Chinese pipeline should not find jieba's "Building prefix dict ..."
lines on its stderr.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from spacy_ft.jieba.dictionary import JiebaDictionary
from spacy_ft.tokenizer import component
from tests.util import ROOT, make_zh

WORD = "蓝鲸大模型"
TEXT = "蓝鲸大模型在北京发布"


def words(nlp: spacy.Language, text: str = TEXT) -> list[str]:
    return [t.text for t in nlp(text)]


@pytest.fixture(scope="module")
def saved_zh(tmp_path_factory) -> Path:
    """A saved Chinese pipeline with one user word."""
    nlp = make_zh()
    nlp.tokenizer.add_words([WORD])
    path = tmp_path_factory.mktemp("zh") / "pipeline"
    nlp.to_disk(path)
    return path


def test_loading_a_saved_pipeline_writes_nothing_to_stderr(saved_zh):
    # A fresh interpreter: jieba attaches its stderr handler when it is first imported.
    code = (
        "import sys, spacy\n"
        "nlp = spacy.load(sys.argv[1])\n"
        "assert nlp.tokenizer.initialized\n"
        "print(' '.join(t.text for t in nlp(sys.argv[2])))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(saved_zh), TEXT],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert WORD in done.stdout.split()


def test_dictionary_is_loaded_once_by_spacy_load(saved_zh, monkeypatch):
    loads = []

    class CountingDictionary(JiebaDictionary):
        def __init__(self, backend: str) -> None:
            loads.append(backend)
            super().__init__(backend)

    monkeypatch.setattr(component, "JiebaDictionary", CountingDictionary)
    nlp = spacy.load(saved_zh)
    # Loaded before the first text, with the saved user word already in it.
    assert nlp.tokenizer.initialized
    assert nlp.tokenizer._dictionary.tokenizer.initialized
    assert loads == ["jieba"]
    assert WORD in words(nlp)
    assert loads == ["jieba"]


def test_fast_backend_is_loaded_by_spacy_load(saved_zh):
    nlp = spacy.load(saved_zh, config={"nlp": {"tokenizer": {"backend": "jieba_next"}}})
    assert nlp.tokenizer.initialized
    assert WORD in words(nlp)


def test_initialize_loads_and_a_blank_pipeline_waits_for_its_first_text():
    trained = make_zh()
    trained.initialize()  # what `spacy train` does before the first step
    assert trained.tokenizer.initialized
    blank = make_zh()  # spacy.blank stays light: jieba is not even imported for it
    blank.tokenizer.add_words([WORD])
    assert not blank.tokenizer.initialized
    assert WORD in words(blank)
    assert blank.tokenizer.initialized


def test_replacing_the_user_words_reloads_the_dictionary():
    nlp = make_zh()
    nlp.tokenizer.add_words([WORD])
    assert WORD in words(nlp)
    nlp.tokenizer.from_bytes(make_zh().tokenizer.to_bytes())  # no user words
    assert nlp.tokenizer.initialized
    assert nlp.tokenizer.user_dict == ()
    assert WORD not in words(nlp)
    assert words(nlp) == words(make_zh())


def test_jieba_chatter_goes_to_the_spacy_ft_logger_and_errors_still_show(caplog, monkeypatch):
    import jieba

    initialize = jieba.Tokenizer.initialize

    def initialize_with_a_failure(self, *args, **kwargs):
        jieba.default_logger.error("Dump cache file failed.")
        return initialize(self, *args, **kwargs)

    monkeypatch.setattr(jieba.Tokenizer, "initialize", initialize_with_a_failure)
    jieba_logger = logging.getLogger("jieba")
    with caplog.at_level(logging.DEBUG, logger="jieba"), caplog.at_level(
        logging.DEBUG, logger="spacy_ft.tokenizer"
    ):
        make_zh()("你好")  # the first text loads a blank pipeline's dictionary
        assert jieba_logger.level == logging.DEBUG  # the user's setting is back after the load
    jieba_records = [r for r in caplog.records if r.name == "jieba"]
    assert [r.getMessage() for r in jieba_records] == ["Dump cache file failed."]
    assert any(
        r.name == "spacy_ft.tokenizer" and "Loaded jieba's dictionary" in r.getMessage() for r in caplog.records
    )
