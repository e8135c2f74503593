"""The encoder's lexicon follows the tokenizer's user entries by their version: words
added after the encoder was built are matched, and nothing is redone when nothing changed."""

from __future__ import annotations

import pytest
import spacy

from spacy_ft.char_encoder.lexicon import Lexicon
from spacy_ft.char_encoder.model import get_lexicon
from spacy_ft.jieba.user_entries import UserEntries
from tests.util import JIEBA

MODEL = {"@architectures": "spacy_ft.CharLexiconEncoder.v2", "width": 32, "depth": 1, "embed_size": 1000}
WORD = "亥子丑寅卯"
TEXT = f"今天{WORD}来了。"


@pytest.fixture(scope="module")
def nlp() -> spacy.Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words([("甲乙丙", 1000, None)])
    nlp.add_pipe("spacy_ft_char_encoder", config={"model": MODEL})
    nlp.initialize()
    return nlp


def test_words_added_after_initialize_join_the_lexicon_once(nlp, monkeypatch):
    encoder = nlp.get_pipe("spacy_ft_char_encoder")
    lexicon = get_lexicon(encoder.model)
    assert lexicon.freq("甲乙丙") == 1000
    nlp.tokenizer.add_words([(WORD, 500, None), "戌亥子"])
    assert WORD not in lexicon

    added = []
    add_word = Lexicon.add_word
    monkeypatch.setattr(Lexicon, "add_word", lambda self, word, freq=None: added.append(word) or add_word(self, word, freq))
    nlp(TEXT)
    assert lexicon.freq(WORD) == 500
    assert lexicon.freq("戌亥子") > 0  # jieba's suggest_freq, as the tokenizer gives it
    # The words not yet in the lexicon, and the one whose frequency the user set.
    assert sorted(added) == sorted(["甲乙丙", WORD, "戌亥子"])


def test_nothing_is_redone_when_the_entries_did_not_change(nlp, monkeypatch):
    encoder = nlp.get_pipe("spacy_ft_char_encoder")
    nlp(TEXT)  # in step with the tokenizer's entries

    def fail(*args, **kwargs):
        raise AssertionError("the user entries were read although their version did not change")

    monkeypatch.setattr(UserEntries, "__iter__", fail)
    monkeypatch.setattr(Lexicon, "add_word", fail)
    list(nlp.pipe([TEXT, "听说甲乙丙很好。"]))
    assert encoder.sync_lexicon() == 0
    nlp.tokenizer.add_words([])  # no change: the version stays
    assert encoder.sync_lexicon() == 0


def test_a_replaced_user_dictionary_is_seen(nlp, tmp_path):
    encoder = nlp.get_pipe("spacy_ft_char_encoder")
    other = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    other.tokenizer.add_words([("午未申", 700, None)])
    other.tokenizer.to_disk(tmp_path / "tokenizer")
    nlp.tokenizer.from_disk(tmp_path / "tokenizer")
    assert encoder.sync_lexicon() == 1
    assert get_lexicon(encoder.model).freq("午未申") == 700
    assert encoder.sync_lexicon() == 0
