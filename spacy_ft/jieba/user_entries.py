"""jieba user dictionaries: entries, parsing, validation, the on-disk format, and a version.

A user dictionary is kept as plain data (a list of entries) rather than as state
inside a jieba instance, so that it can be serialized with the pipeline and
replayed into a fresh jieba instance on any machine. The file format is jieba's
own (``word [freq] [tag]``, one entry a line) so existing dictionaries work as
they are; blank lines and lines starting with ``#`` are ignored.

:class:`UserEntries` is the list a tokenizer owns, with a version that changes whenever
the entries do, so that a reader that keeps its own copy in step (the character
encoder's lexicon) can tell that nothing changed without comparing the entries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Optional, Sequence, Union, overload

#: User dictionaries are a setting of this tokenizer, so their errors name it.
COMPONENT = "spacy_ft.JiebaTokenizer.v1"
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class UserDictError(ValueError):
    """A user dictionary that cannot be used: the message names file, line and value."""


@dataclass(frozen=True)
class UserDictEntry:
    """One word for jieba's dictionary. ``freq=None`` lets jieba pick a frequency
    high enough for the word to be cut out whole (jieba's ``suggest_freq``)."""

    word: str
    freq: Optional[int] = None
    tag: Optional[str] = None

    def to_line(self) -> str:
        parts = [self.word]
        if self.freq is not None:
            parts.append(str(self.freq))
        if self.tag is not None:
            parts.append(self.tag)
        return " ".join(parts)

    def to_list(self) -> list:
        return [self.word, self.freq, self.tag]


EntryLike = Union[str, UserDictEntry, Sequence]


def parse_line(line: str, *, source: str = "<string>", line_no: int = 0) -> Optional[UserDictEntry]:
    """Parse one ``word [freq] [tag]`` line; ``None`` for blank and comment lines."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    fields = text.split()
    where = f"{source}:{line_no}" if line_no else source
    if len(fields) > 3:
        raise UserDictError(
            f"[{COMPONENT}] malformed user dictionary line {where}: {line.rstrip()!r}. "
            "Expected 'word [freq] [tag]' (a word cannot contain whitespace)."
        )
    word, rest = fields[0], fields[1:]
    freq: Optional[int] = None
    tag: Optional[str] = None
    if rest and rest[0].isdigit():
        freq = int(rest.pop(0))
    if rest:
        tag = rest.pop(0)
        if not _TAG.match(tag):
            raise UserDictError(
                f"[{COMPONENT}] malformed user dictionary line {where}: {line.rstrip()!r}. "
                f"The frequency must be a non-negative integer and the tag a word like 'nz'; got {tag!r}."
            )
    if rest:
        raise UserDictError(
            f"[{COMPONENT}] malformed user dictionary line {where}: {line.rstrip()!r}. "
            "Expected 'word [freq] [tag]'."
        )
    return UserDictEntry(word, freq, tag)


def read_user_dict(path: Union[str, Path]) -> List[UserDictEntry]:
    """Read a jieba-format dictionary file, failing with file and line on any bad line."""
    path = Path(path)
    if not path.is_file():
        raise UserDictError(f"[{COMPONENT}] user_dict file not found: '{path}'")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserDictError(
            f"[{COMPONENT}] user_dict file '{path}' is not valid UTF-8 (byte {err.start})"
        ) from None
    entries = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        entry = parse_line(line, source=str(path), line_no=line_no)
        if entry is not None:
            entries.append(entry)
    return entries


def write_user_dict(entries: Iterable[UserDictEntry], path: Union[str, Path]) -> None:
    """Write entries in jieba's format, so the saved file also works with plain jieba."""
    lines = [entry.to_line() + "\n" for entry in entries]
    Path(path).write_text("".join(lines), encoding="utf-8")


def coerce_entry(value: EntryLike) -> UserDictEntry:
    """Accept what users write in code: ``"词"``, ``"词 10 nz"``, ``("词", 10, "nz")`` or an entry."""
    entry: Optional[UserDictEntry]
    if isinstance(value, UserDictEntry):
        entry = value
    elif isinstance(value, str):
        entry = parse_line(value, source="add_words()")
        if entry is None:
            raise UserDictError(f"[{COMPONENT}] empty user dictionary word: {value!r}")
    elif isinstance(value, (list, tuple)) and 1 <= len(value) <= 3:
        word, freq, tag = (list(value) + [None, None])[:3]
        entry = UserDictEntry(word, freq, tag)
    else:
        raise UserDictError(
            f"[{COMPONENT}] cannot read a user dictionary entry from {value!r}: "
            "give a string 'word [freq] [tag]' or a tuple (word, freq, tag)"
        )
    _validate(entry)
    return entry


def _validate(entry: UserDictEntry) -> None:
    if not isinstance(entry.word, str) or not entry.word or any(c.isspace() for c in entry.word):
        raise UserDictError(
            f"[{COMPONENT}] invalid user dictionary word {entry.word!r}: "
            "a non-empty string without whitespace is required"
        )
    if entry.freq is not None and (
        isinstance(entry.freq, bool) or not isinstance(entry.freq, int) or entry.freq < 0
    ):
        raise UserDictError(
            f"[{COMPONENT}] invalid frequency {entry.freq!r} for user dictionary word "
            f"{entry.word!r}: a non-negative integer is required"
        )
    if entry.tag is not None and (not isinstance(entry.tag, str) or not _TAG.match(entry.tag)):
        raise UserDictError(
            f"[{COMPONENT}] invalid POS tag {entry.tag!r} for user dictionary word {entry.word!r}"
        )


def entries_from_lists(rows: Iterable[Sequence]) -> List[UserDictEntry]:
    """Rebuild entries from their serialized ``[word, freq, tag]`` form."""
    return [coerce_entry(tuple(row)) for row in rows]


def entries_to_lists(entries: Iterable[UserDictEntry]) -> List[list]:
    """The serialized ``[word, freq, tag]`` form of entries (msgpack has no dataclasses)."""
    return [entry.to_list() for entry in entries]


class UserEntries(SequenceABC):
    """A user dictionary in order, with :attr:`version`, which counts its changes.

    Why a counter: the character encoder keeps its lexicon in step with the tokenizer's
    user words before every batch. Comparing the entries themselves costs time in
    proportion to the dictionary on every batch; comparing one number costs nothing.
    Every change goes through :meth:`extend` or :meth:`replace`, which validate all the
    new entries before changing anything, so a failed call leaves the entries and the
    version as they were. Setting the entries they already are is no change.
    """

    def __init__(self, entries: Iterable[EntryLike] = ()) -> None:
        self._entries: List[UserDictEntry] = [coerce_entry(entry) for entry in entries]
        #: Incremented by every change of the entries.
        self.version = 0

    def extend(self, entries: Iterable[EntryLike]) -> None:
        """Append entries (``"词"``, ``"词 10 nz"``, ``(word, freq, tag)`` or entries)."""
        new = [coerce_entry(entry) for entry in entries]
        if new:
            self._entries.extend(new)
            self.version += 1

    def replace(self, entries: Iterable[EntryLike]) -> None:
        """Make ``entries`` the whole user dictionary (a loaded or initialized pipeline's)."""
        new = [coerce_entry(entry) for entry in entries]
        if new != self._entries:
            self._entries = new
            self.version += 1

    @overload
    def __getitem__(self, index: int) -> UserDictEntry: ...

    @overload
    def __getitem__(self, index: slice) -> List[UserDictEntry]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[UserDictEntry, List[UserDictEntry]]:
        return self._entries[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[UserDictEntry]:
        return iter(self._entries)

    def __repr__(self) -> str:
        return f"UserEntries({len(self._entries)} entries, version={self.version})"
