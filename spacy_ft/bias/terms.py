"""Protected-attribute term lists: find mentions and write counterfactual text.

A term list (JSON, one per language; see ``spacy_ft/bias/terms/README.md`` for the
format) declares, per attribute (gender, ethnicity, age, ...), its groups and
*swap rows*: one term per group, aligned, so ``他`` can become ``她`` and
``Mr`` can become ``Ms``. Name rows pair first names across groups the same way.

Chinese is matched on characters, not jieba tokens: 他 inside 他们 or 儿子 inside
小儿子 are mentions jieba would hide in a longer word. ``exclude`` lists words
whose characters must never match (其他, 吉他: no gender there). English is
matched on whole words, case-insensitively, and swaps keep the case (He -> She).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from spacy_ft.types import Entity as Span
from spacy_ft.types import PathLike

BUILTIN_DIR = Path(__file__).parent / "terms"
#: ``(start, end, replacement)``: one term swap, end exclusive.
Edit = tuple[int, int, str]


class TermListError(ValueError):
    """A malformed term list; the message names the file and the bad entry."""


@dataclass(frozen=True)
class Mention:
    """One protected-attribute term found in a text (end exclusive)."""

    start: int
    end: int
    attribute: str
    group: str
    term: str
    row: int


@dataclass
class Attribute:
    """Groups of one protected attribute and the aligned swap rows between them."""

    name: str
    groups: list[str]
    swaps: list[list[str]]
    #: Person-name rows: used by the NER name-swap test as well as for swapping.
    is_names: bool = False

    def term_group(self) -> dict[str, tuple[str, int]]:
        """Lower-cased term -> (group, row); the first row wins for a repeated term."""
        index: dict[str, tuple[str, int]] = {}
        for row_number, row in enumerate(self.swaps):
            for group, term in zip(self.groups, row):
                index.setdefault(term.lower(), (group, row_number))
        return index


@dataclass
class TermList:
    """All attributes of one language, with a compiled matcher."""

    lang: str
    attributes: dict[str, Attribute]
    exclude: list[str] = field(default_factory=list)
    source: str = "<memory>"

    def __post_init__(self) -> None:
        self._index = {name: attr.term_group() for name, attr in self.attributes.items()}
        self._pattern = self._compile()

    # -- construction --------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<memory>") -> "TermList":
        if not isinstance(data, dict) or "lang" not in data or "attributes" not in data:
            raise TermListError(f"{source}: a term list needs 'lang' and 'attributes'")
        attributes = {}
        for name, spec in data["attributes"].items():
            groups = spec.get("groups")
            if not isinstance(groups, list) or len(groups) < 2 or len(set(groups)) != len(groups):
                raise TermListError(f"{source}: attribute {name!r} needs two or more distinct groups, got {groups!r}")
            swaps = spec.get("swaps", [])
            for i, row in enumerate(swaps):
                if not isinstance(row, list) or len(row) != len(groups) or not all(
                    isinstance(t, str) and t.strip() for t in row
                ):
                    raise TermListError(
                        f"{source}: attribute {name!r} swap row {i} {row!r} must hold one non-empty term "
                        f"per group {groups!r}"
                    )
            attributes[name] = Attribute(name, list(groups), [list(r) for r in swaps], bool(spec.get("names")))
        return cls(str(data["lang"]), attributes, list(data.get("exclude", [])), source)

    @classmethod
    def from_disk(cls, path: PathLike) -> "TermList":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TermListError(f"{path}: term list file not found") from None
        except json.JSONDecodeError as err:
            raise TermListError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def builtin(cls, lang: str) -> "TermList":
        path = BUILTIN_DIR / f"{lang}.json"
        if not path.is_file():
            available = sorted(p.stem for p in BUILTIN_DIR.glob("*.json"))
            raise TermListError(f"no built-in term list for language {lang!r}; available: {available}")
        return cls.from_disk(path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "exclude": list(self.exclude),
            "attributes": {
                name: {"groups": a.groups, "swaps": a.swaps, **({"names": True} if a.is_names else {})}
                for name, a in self.attributes.items()
            },
        }

    def merged(self, other: "TermList") -> "TermList":
        """This list plus ``other``'s rows (a user's additions to the built-in list)."""
        data = self.to_dict()
        for name, spec in other.to_dict()["attributes"].items():
            mine = data["attributes"].get(name)
            if mine is None:
                data["attributes"][name] = spec
            elif mine["groups"] != spec["groups"]:
                raise TermListError(f"{other.source}: attribute {name!r} groups {spec['groups']} != {mine['groups']}")
            else:
                mine["swaps"].extend(r for r in spec["swaps"] if r not in mine["swaps"])
        data["exclude"] = list(dict.fromkeys(data["exclude"] + other.exclude))
        return TermList.from_dict(data, f"{self.source}+{other.source}")

    # -- matching ------------------------------------------------------------

    @property
    def word_bounded(self) -> bool:
        """Whole-word matching for space-separated languages, character matching for zh/ja."""
        return self.lang not in ("zh", "ja")

    def _compile(self) -> Optional[re.Pattern]:
        terms = {term for index in self._index.values() for term in index} | {t.lower() for t in self.exclude}
        if not terms:
            return None
        alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
        if self.word_bounded:
            return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
        return re.compile(alternation, re.IGNORECASE)

    def find(self, text: str, attributes: Optional[Iterable[str]] = None) -> list[Mention]:
        """Non-overlapping mentions, longest match first, excluded words skipped."""
        if self._pattern is None:
            return []
        wanted = set(attributes) if attributes is not None else set(self.attributes)
        excluded = {t.lower() for t in self.exclude}
        mentions = []
        for match in self._pattern.finditer(text):
            term = match.group(0).lower()
            if term in excluded:
                continue
            for name in self.attributes:
                if name in wanted and term in self._index[name]:
                    group, row = self._index[name][term]
                    mentions.append(Mention(match.start(), match.end(), name, group, match.group(0), row))
                    break
        return mentions

    def groups_of(self, attribute: str) -> list[str]:
        return self.attributes[attribute].groups

    # -- counterfactuals -----------------------------------------------------

    def swapped_term(self, mention: Mention, target: str) -> str:
        attribute = self.attributes[mention.attribute]
        term = attribute.swaps[mention.row][attribute.groups.index(target)]
        return _match_case(mention.term, term) if self.word_bounded else term

    def counterfactual_edits(self, text: str, attribute: Union[str, Sequence[str]], group: str) -> list[Edit]:
        """The ``(start, end, new_term)`` edits of :meth:`counterfactual`, for callers
        that must inspect or filter them (augmentation keeps entity edges intact).

        ``attribute`` may be several attributes with the same groups, transposed as
        one (gender with gender_names: 张伟说她 -> 张芳说他)."""
        names = [attribute] if isinstance(attribute, str) else list(attribute)
        for name in names:
            if name not in self.attributes:
                raise ValueError(f"[spacy_ft_bias] unknown attribute {name!r}; known: {sorted(self.attributes)}")
            if self.groups_of(name) != self.groups_of(names[0]):
                raise ValueError(
                    f"[spacy_ft_bias] attributes swapped together need the same groups: "
                    f"{names[0]!r} {self.groups_of(names[0])} vs {name!r} {self.groups_of(name)}"
                )
        if group not in self.groups_of(names[0]):
            raise ValueError(f"[spacy_ft_bias] {group!r} is not a group of {names[0]!r}: {self.groups_of(names[0])}")
        mentions = self.find(text, names)
        others = {m.group for m in mentions} - {group}
        edits = []
        for mention in mentions:
            if mention.group != group:
                target = group
            elif len(others) == 1:
                target = next(iter(others))
            else:
                continue  # which group it should become is ambiguous; leave it
            edits.append((mention.start, mention.end, self.swapped_term(mention, target)))
        return edits

    def counterfactual(
        self, text: str, attribute: str, group: str, entities: Sequence[Span] = ()
    ) -> tuple[str, list[Span], int]:
        """Exchange ``group`` with every other group of ``attribute`` mentioned in
        the text (a transposition: he<->she both ways), keeping entity offsets right.

        Returns the new text, the remapped entities and the number of terms swapped.
        """
        edits = self.counterfactual_edits(text, attribute, group)
        return (*apply_edits(text, edits, entities), len(edits))

    def variant_edits(self, text: str, attributes: Optional[Iterable[str]] = None) -> list[tuple[str, str, list[Edit]]]:
        """``(attribute, group, edits)`` for each attribute the text mentions and each
        group it can be turned into: at most ``groups - 1`` per mentioned attribute."""
        mentioned: dict[str, set[str]] = {}
        for mention in self.find(text, attributes):
            mentioned.setdefault(mention.attribute, set()).add(mention.group)
        out = []
        for attribute, present in mentioned.items():
            for group in self.groups_of(attribute):
                if present == {group}:
                    continue
                edits = self.counterfactual_edits(text, attribute, group)
                if edits:
                    out.append((attribute, group, edits))
        return out

    def variants(
        self, text: str, entities: Sequence[Span] = (), attributes: Optional[Iterable[str]] = None
    ) -> list[tuple[str, str, str, list[Span]]]:
        """Every distinct counterfactual of a text: (attribute, group, new text, entities)
        for each attribute it mentions and each of that attribute's groups it can be
        turned into (a text naming both groups gives one transposition, not two)."""
        out: list[tuple[str, str, str, list[Span]]] = []
        seen = {text}
        for attribute, group, edits in self.variant_edits(text, attributes):
            new_text, new_entities = apply_edits(text, edits, entities)
            if new_text not in seen:
                seen.add(new_text)
                out.append((attribute, group, new_text, new_entities))
        return out


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def apply_edits(text: str, edits: Sequence[Edit], entities: Sequence[Span] = ()) -> tuple[str, list[Span]]:
    """Replace non-overlapping ``(start, end, new)`` ranges and move entity offsets with them.

    An entity edge strictly inside a replaced range snaps outward to the range's
    new edges, so an entity containing a swapped term (a name) stays whole.
    """
    edits = sorted(edits)
    pieces, cursor = [], 0
    for start, end, new in edits:
        if start < cursor:
            raise ValueError(f"overlapping edits at {start}")
        pieces.append(text[cursor:start])
        pieces.append(new)
        cursor = end
    pieces.append(text[cursor:])

    def moved(position: int, is_end: bool) -> int:
        shift = 0
        for start, end, new in edits:
            if position <= start:
                break
            if position >= end:
                shift += len(new) - (end - start)
                continue
            # strictly inside a replaced range: snap outward
            return start + shift + (len(new) if is_end else 0)
        return position + shift

    remapped = [(moved(s, False), moved(e, True), label) for s, e, label in entities]
    return "".join(pieces), remapped


def load_term_list(lang: str, extra_paths: Sequence[PathLike] = ()) -> TermList:
    """The built-in list for ``lang`` plus the user's own files (same format)."""
    terms = TermList.builtin(lang)
    for path in extra_paths:
        terms = terms.merged(TermList.from_disk(path))
    return terms
