"""Reading jieba's dictionary file, and the private jieba instance loaded with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from spacy_ft.jieba.dictionary import (
    DictionaryError,
    JiebaDictionary,
    bundled_dictionary_path,
    read_dictionary,
)
from spacy_ft.jieba.user_entries import UserDictEntry
from tests.util import ROOT


@pytest.fixture(scope="module")
def reference():
    """jieba's own reading of its bundled dictionary."""
    import jieba

    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def write(tmp_path: Path, content: str) -> str:
    path = tmp_path / "dict.txt"
    path.write_text(content, encoding="utf-8")
    return str(path)


def test_bundled_dictionary_reads_as_jieba_reads_it(reference):
    dictionary = read_dictionary()
    assert dictionary.path == bundled_dictionary_path()
    assert len(dictionary.words) == len(dictionary.freqs) > 300_000
    assert dictionary.total == reference.total
    counts = dict(zip(dictionary.words, dictionary.freqs))  # the last line of a word wins, as in jieba
    for word in ["北京", "长江大桥", "研究生", "的"]:
        assert counts[word] == reference.FREQ[word], word


def test_repeated_words_count_twice_in_the_total(tmp_path):
    dictionary = read_dictionary(write(tmp_path, "北京 10 ns\n\n长江 5\n北京 7 ns\n"))
    assert dictionary.words == ("北京", "长江", "北京")
    assert dictionary.freqs == (10, 5, 7)
    assert dictionary.total == 22


def test_characters_in_first_seen_order(tmp_path):
    dictionary = read_dictionary(write(tmp_path, "北京 10\n京城 3\nab1 2\n"))
    assert dictionary.characters() == ["北", "京", "城", "a", "b", "1"]


@pytest.mark.parametrize("line", ["长江", "长江 many ns", "长江 -3"])
def test_malformed_line_names_file_and_line(tmp_path, line):
    path = write(tmp_path, f"北京 10 ns\n{line}\n")
    with pytest.raises(DictionaryError, match=rf"dict\.txt:2: expected 'word freq \[tag\]', got '{line}'"):
        read_dictionary(path)


def test_loaded_dictionary_takes_user_words_in_place():
    dictionary = JiebaDictionary("jieba")
    assert dictionary.initialized
    total = dictionary.total
    dictionary.add([UserDictEntry("蓝鲸大模型", 100, "nz"), UserDictEntry("云杉计算")])
    assert dictionary.freq["蓝鲸大模型"] == 100
    assert dictionary.freq["云杉计算"] > 0  # jieba's suggest_freq
    assert dictionary.total > total + 100
    assert [e.word for e in dictionary.entries] == ["蓝鲸大模型", "云杉计算"]


def test_unknown_backend_fails_before_loading():
    with pytest.raises(ValueError, match="unknown jieba backend 'pkuseg'"):
        JiebaDictionary("pkuseg")


def test_importing_the_package_does_not_import_jieba():
    # spaCy imports the component modules, and so this package, for every pipeline.
    code = (
        "import sys\n"
        "import spacy_ft.jieba, spacy_ft.jieba.dictionary, spacy_ft.jieba.route\n"
        "import spacy_ft.jieba.hmm, spacy_ft.jieba.user_entries\n"
        "import spacy_ft.tokenizer.component, spacy_ft.char_encoder.component, spacy_ft.char_encoder.lexicon\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('jieba', 'jieba_next')], sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
