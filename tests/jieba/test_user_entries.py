"""User dictionary entries: parsing, errors that name the file and line, the saved
format, and the version that counts changes (what the character encoder reads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spacy_ft.jieba.user_entries import (
    UserDictEntry,
    UserDictError,
    UserEntries,
    coerce_entry,
    entries_from_lists,
    entries_to_lists,
    read_user_dict,
    write_user_dict,
)
from tests.util import make_zh

WORD = "蓝鲸大模型"


def write(tmp_path: Path, content: str, name: str = "dict.txt") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_reads_jieba_format(tmp_path):
    path = write(tmp_path, "# comment\n\n蓝鲸大模型 100 nz\n云杉计算\n深度求索 ns\n")
    assert read_user_dict(path) == [
        UserDictEntry("蓝鲸大模型", 100, "nz"),
        UserDictEntry("云杉计算", None, None),
        UserDictEntry("深度求索", None, "ns"),
    ]


def test_malformed_line_names_file_and_line(tmp_path):
    path = write(tmp_path, "好词 10 n\n坏 词 10 n extra\n")
    with pytest.raises(UserDictError, match=r"dict\.txt:2"):
        read_user_dict(path)


def test_bad_tag_names_line(tmp_path):
    path = write(tmp_path, "好词\n坏词 10 !!\n")
    with pytest.raises(UserDictError, match=r"dict\.txt:2.*'!!'"):
        read_user_dict(path)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(UserDictError, match=r"not found.*nope\.txt"):
        read_user_dict(tmp_path / "nope.txt")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("蓝鲸大模型".encode("gbk"))
    with pytest.raises(UserDictError, match=r"gbk\.txt.*UTF-8"):
        read_user_dict(path)


@pytest.mark.parametrize("bad", ["", "两 个词", ("词", -1), ("词", "10"), ("词", 1, "n-x"), 12])
def test_bad_entries_in_code(bad):
    with pytest.raises(UserDictError):
        coerce_entry(bad)


def test_written_file_reads_back_and_lists_round_trip(tmp_path):
    entries = [UserDictEntry(WORD, 100, "nz"), UserDictEntry("云杉计算"), UserDictEntry("深度求索", None, "ns")]
    write_user_dict(entries, tmp_path / "saved.txt")
    assert read_user_dict(tmp_path / "saved.txt") == entries
    assert entries_from_lists(entries_to_lists(entries)) == entries


# -- UserEntries and its version -------------------------------------------------------------


def test_every_change_increments_the_version():
    entries = UserEntries([WORD])
    assert entries.version == 0
    entries.extend(["云杉计算 20 nz"])
    assert entries.version == 1
    entries.replace([("深度求索", 5, None)])
    assert entries.version == 2
    assert list(entries) == [UserDictEntry("深度求索", 5)]


def test_no_change_keeps_the_version():
    entries = UserEntries([WORD, "云杉计算"])
    entries.extend([])
    entries.replace([WORD, ("云杉计算", None, None)])  # the entries they already are
    assert entries.version == 0


def test_a_bad_entry_changes_nothing():
    entries = UserEntries([WORD])
    with pytest.raises(UserDictError):
        entries.extend(["云杉计算", "两 个 词 太多"])
    with pytest.raises(UserDictError):
        entries.replace([("词", -1)])
    assert list(entries) == [UserDictEntry(WORD)]
    assert entries.version == 0


def test_entries_are_a_sequence():
    entries = UserEntries([WORD, "云杉计算", "深度求索"])
    assert len(entries) == 3
    assert entries[0] == UserDictEntry(WORD)
    assert entries[1:] == [UserDictEntry("云杉计算"), UserDictEntry("深度求索")]
    assert [e.word for e in entries] == [WORD, "云杉计算", "深度求索"]


def test_tokenizer_changes_increment_the_version(tmp_path):
    nlp = make_zh()
    entries = nlp.tokenizer.user_entries
    versions = [entries.version]
    nlp.tokenizer.add_words([WORD])
    versions.append(entries.version)
    nlp.tokenizer.load_user_dict(write(tmp_path, "云杉计算\n"))
    versions.append(entries.version)
    other = make_zh()
    other.tokenizer.add_words(["深度求索"])
    other.tokenizer.to_disk(tmp_path / "tokenizer")
    nlp.tokenizer.from_disk(tmp_path / "tokenizer")
    versions.append(entries.version)
    nlp.tokenizer.from_bytes(make_zh().tokenizer.to_bytes())
    versions.append(entries.version)
    assert versions == [0, 1, 2, 3, 4]
    assert nlp.tokenizer.user_entries is entries
    assert nlp.tokenizer.user_dict == ()
