"""What every corpus reader produces and how it reports bad input.

A leaf module: the readers, the converter, the annotation importer and the bias
tools all share these records, so none of them has to import another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Optional, Union

from spacy_ft.types import Entity, PathLike

BOM = "\ufeff"


class CorpusFormatError(ValueError):
    """Malformed corpus input; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Sample:
    """One sentence: its text, character-offset entities and where it came from.

    ``line`` is the 1-based line of the sentence's first row in ``source``, so
    every later error can point back at the input. ``repaired`` counts the
    entities whose tags broke the scheme and were kept by the repair rule.
    """

    text: str
    entities: list[Entity]
    source: str
    line: int
    repaired: int = 0
    #: Classifier labels (``doc.cats``); empty for NER-only corpora.
    cats: dict[str, float] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class ConversionReport:
    """What a conversion did, so a corpus's quirks are visible, not silent.

    ``entities_crossing_tokens``: entities with an edge inside a tokenizer token
    (they would have been lost without splitting); ``tokens_split``: tokens the
    splitting cut; ``repaired_entities``: entities whose tags broke the scheme
    (kept, see :func:`decode_tags`); ``entities_trimmed``: entities whose edges
    were on whitespace and were trimmed, since no token can end in whitespace.
    """

    docs: int = 0
    entities: int = 0
    entities_crossing_tokens: int = 0
    tokens_split: int = 0
    repaired_entities: int = 0
    entities_trimmed: int = 0
    labels: Counter = field(default_factory=Counter)
    #: Docs per positive classifier label.
    cats: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "entities": self.entities,
            "entities_crossing_tokens": self.entities_crossing_tokens,
            "tokens_split": self.tokens_split,
            "repaired_entities": self.repaired_entities,
            "entities_trimmed": self.entities_trimmed,
            "labels": dict(self.labels.most_common()),
            "cats": dict(self.cats.most_common()),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        return (
            f"{self.docs} docs, {self.entities} entities in {len(self.labels)} labels; "
            f"{self.entities_crossing_tokens} crossed token edges, {self.tokens_split} tokens split, "
            f"{self.repaired_entities} repaired, {self.entities_trimmed} trimmed"
            + (f"; cats {dict(self.cats.most_common())}" if self.cats else "")
            + f" ({self.seconds:.1f} s)"
        )


def format_error(path: PathLike, lineno: int, problem: str, line: Optional[str] = None) -> CorpusFormatError:
    """The error for a bad line: ``file:line: problem: 'the line'``, so users can find it."""
    suffix = f": {line!r}" if line is not None else ""
    return CorpusFormatError(f"{path}:{lineno}: {problem}{suffix}")


def decode_lines(path: PathLike, keepends: bool = False) -> Iterator[tuple[int, Union[str, UnicodeDecodeError]]]:
    """Yield ``(line number, line)``, or the decoding error for a line that is not
    UTF-8, without the line break unless ``keepends`` (the csv module needs the
    breaks to read quoted fields spanning lines).

    Decoding per line lets a non-UTF-8 byte be reported at its line, and lets a
    caller that can skip a bad line (pre-annotation) go on. A byte order mark is
    removed at the start of *every* line, not just the file's: concatenated files
    carry one mid-file (WNUT-17's emerging.dev.conll ends with a line holding only
    a BOM), and U+FEFF is not whitespace to ``str.split``.
    """
    with open(path, "rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield lineno, err
                continue
            yield lineno, (line if keepends else line.rstrip("\r\n")).lstrip(BOM)


def read_lines(path: PathLike, keepends: bool = False) -> Iterator[tuple[int, str]]:
    """:func:`decode_lines` for corpora, where a line that is not UTF-8 stops the
    conversion with ``file:line``: a corpus with a bad line is a wrong file."""
    for lineno, line in decode_lines(path, keepends):
        if isinstance(line, UnicodeDecodeError):
            raise format_error(path, lineno, f"not UTF-8 ({line.reason})", None) from line
        yield lineno, line


def every_label(cats: Mapping[str, float], labels: Iterable[str]) -> dict[str, float]:
    """``cats`` with a 0.0 for each of ``labels`` it lacks, in ``labels`` order:
    spaCy's textcat expects every doc to score every label."""
    return {label: float(cats.get(label, 0.0)) for label in labels}
