"""A word -> frequency lexicon (jieba's dictionary plus user words) and SoftLexicon matching.

SoftLexicon (Ma et al., 2020, "Simplify the Usage of Lexicon in Chinese NER") gives every
character four sets of dictionary words: those that Begin at it, have it in their Middle,
End at it, or are the character itself as a Single-character word. Matching runs on every
doc at training and inference, so it is the one place where a per-character Python loop
is allowed. Words of one and two characters are looked up for all positions at once in
numpy; from the third character on it uses jieba's own trick (a dict of every word *and
every prefix of a word*), so the scan from a position stops as soon as the text no longer
continues any word, and only the positions whose two characters begin a longer
word enter the Python loop at all. The cost does not grow with the longest word.

Frequencies follow jieba exactly where jieba defines them: its ``dict.txt`` counts, a user
word's explicit count, and jieba's ``suggest_freq`` rule for a user word given without
one, so that one user dictionary means the same thing to the tokenizer and to the encoder.
``dict.txt`` is read, and ``suggest_freq``'s route found, by :mod:`spacy_ft.jieba`: the
code the tokenizer uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import srsly

from spacy_ft.jieba.dictionary import read_dictionary
from spacy_ft.jieba.route import suggest_freq

B, M, E, S = 0, 1, 2, 3
SET_NAMES = ("B", "M", "E", "S")
DEFAULT_MAX_WORD_LEN = 16
"""jieba's longest word has 16 characters. Thanks to the prefix dict the cap costs nothing
in speed, so it only guards against pathological user words."""

_FORMAT = "spacy_ft.char_encoder.Lexicon.v1"
_PREFIX_ONLY = -1
_WHITESPACE = re.compile(r"\s")
_CP_BITS = 21  # Unicode code points fit in 21 bits: a pair of them is one int64 key.
# Bits of a packed match: start << 29 | word id << 5 | length; so length <= 31, at most
# 2**24 words, and a text (a whole batch) below 2**34 characters.
_LEN_BITS = 5
_ID_BITS = 24
_MAX_WORDS = 1 << _ID_BITS
_MAX_LEN_LIMIT = (1 << _LEN_BITS) - 1

UserWord = Union[str, Tuple[str, Optional[int]], Sequence]


@dataclass(frozen=True)
class LexiconMatches:
    """The SoftLexicon sets of one text as one sparse (COO) matrix, ready for batched pooling.

    Entry ``k`` says: word ``words[k]`` (a :class:`Lexicon` id) is in set ``sets[k]``
    (0=B, 1=M, 2=E, 3=S) of character ``chars[k]`` with weight ``weights[k]``. Entries are
    sorted by ``(char, set, word)``, so ``rows = chars * 4 + sets`` is non-decreasing and
    ``row_lengths()`` gives the CSR segment lengths of the ``(n_chars * 4)``-row matrix:
    pooling is then one gather of word vectors, a multiply by ``weights`` and a
    segment sum (``ops.reduce_sum``), with no Python loop over characters.
    """

    n_chars: int
    chars: np.ndarray  # int32 (nnz,)
    sets: np.ndarray  # int8 (nnz,)
    words: np.ndarray  # int32 (nnz,)
    weights: np.ndarray  # float32 (nnz,)

    def __len__(self) -> int:
        return int(self.words.shape[0])

    @property
    def rows(self) -> np.ndarray:
        """Row of each entry in the ``(n_chars * 4)``-row matrix (char-major, then B/M/E/S)."""
        return self.chars.astype(np.int64) * 4 + self.sets

    def row_lengths(self) -> np.ndarray:
        """int32 number of entries per row, ``n_chars * 4`` of them (zeros for empty sets)."""
        return np.bincount(self.rows, minlength=self.n_chars * 4).astype(np.int32)

    def entries(self, char: int, word_set: int) -> Tuple[np.ndarray, np.ndarray]:
        """Word ids and weights of one set of one character (for tests and inspection)."""
        mask = (self.chars == char) & (self.sets == word_set)
        return self.words[mask], self.weights[mask]


class Lexicon:
    """Words with jieba-style frequencies, an id per word, and the SoftLexicon matcher.

    Ids are positions in :attr:`words` and never change once given, so adding a user word
    later only appends. The model does not index an embedding table by id but by
    :attr:`keys` (a hash of the word's text), so its table size does not depend on the
    lexicon and a word added after training still lands on trained rows.
    """

    def __init__(
        self,
        entries: Iterable[Tuple[str, int]] = (),
        *,
        max_word_len: int = DEFAULT_MAX_WORD_LEN,
        total: Optional[int] = None,
    ) -> None:
        if not 1 <= max_word_len <= _MAX_LEN_LIMIT:
            raise ValueError(f"max_word_len must be in 1..{_MAX_LEN_LIMIT}, got {max_word_len}")
        self.max_word_len = max_word_len
        self.words: List[str] = []
        self._freqs: List[int] = []
        self._ids: Dict[str, int] = {}
        # Every word and every prefix of a word -> word id, or _PREFIX_ONLY when the string is
        # only a prefix or has frequency 0 (jieba's deletion): the matcher's stop test.
        self._prefixes: Dict[str, int] = {}
        self._keys: Optional[np.ndarray] = None
        self._freq_array: Optional[np.ndarray] = None
        self._tables: Optional[_MatchTables] = None
        words: List[str] = []
        freqs: List[int] = []
        for word, freq in entries:
            words.append(word)
            freqs.append(int(freq))
        self._load(words, freqs)
        # jieba's total counts every dictionary line, duplicates included; keeping its exact
        # value keeps suggest_freq identical to jieba's.
        self.total = int(total) if total is not None else sum(freqs)

    def _load(self, words: List[str], freqs: List[int]) -> None:
        """Bulk version of :meth:`_set` (comprehensions instead of a call per word), because
        it runs for every word of jieba's dictionary on every pipeline load."""
        if "" in words or _WHITESPACE.search("\x00".join(words)):
            bad = next(word for word in words if not word or _WHITESPACE.search(word))
            raise ValueError(f"a lexicon word must be non-empty and without whitespace: {bad!r}")
        if any(freq < 0 for freq in freqs):
            raise ValueError("lexicon frequencies must be >= 0")
        if len(words) > _MAX_WORDS:
            raise ValueError(f"a lexicon holds at most {_MAX_WORDS} words, got {len(words)}")
        ids = dict(zip(words, range(len(words))))
        if len(ids) != len(words):
            # Repeated words (jieba's dict.txt has one): first position, last frequency.
            last = dict(zip(words, freqs))
            words = list(dict.fromkeys(words))
            freqs = [last[word] for word in words]
            ids = dict(zip(words, range(len(words))))
        self.words = words
        self._freqs = freqs
        self._ids = ids
        limit = self.max_word_len
        prefixes = dict.fromkeys(
            [word[:end] for word in words if 1 < len(word) <= limit for end in range(1, len(word))],
            _PREFIX_ONLY,
        )
        prefixes.update(
            (word, word_id if freq > 0 else _PREFIX_ONLY)
            for word_id, (word, freq) in enumerate(zip(words, freqs))
            if len(word) <= limit
        )
        self._prefixes = prefixes

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_jieba(
        cls,
        user_words: Iterable[UserWord] = (),
        *,
        dict_path: Optional[str] = None,
        max_word_len: int = DEFAULT_MAX_WORD_LEN,
    ) -> "Lexicon":
        """jieba's main dictionary, then ``user_words`` in order as jieba's ``add_word`` would.

        A user word is ``"word"``, ``(word,)`` or ``(word, freq)`` with ``freq=None`` meaning
        "let jieba suggest one" (see :meth:`add_word`); a third item (a POS tag) is ignored.
        """
        dictionary = read_dictionary(dict_path)
        lexicon = cls(zip(dictionary.words, dictionary.freqs), max_word_len=max_word_len)
        for item in user_words:
            word, freq = _coerce_user_word(item)
            lexicon.add_word(word, freq)
        return lexicon

    def add_word(self, word: str, freq: Optional[int] = None) -> int:
        """Add or re-weigh ``word`` as jieba's ``Tokenizer.add_word`` does; return its id.

        Without ``freq`` the word gets jieba's ``suggest_freq(word)``: the smallest count at
        which jieba's own segmenter keeps the word whole. That is the frequency jieba (and so
        the pipeline's tokenizer, reading the same user dictionary) assigns it, so the
        tokenizer and the lexicon features agree. It is often small next to common single
        characters, so under SoftLexicon's frequency weights such a word contributes little;
        pass an explicit ``freq`` to make a domain term weigh more. ``freq=0`` deletes the
        word from matching, as in jieba.
        """
        if not word or _WHITESPACE.search(word):
            raise ValueError(f"a lexicon word must be non-empty and without whitespace: {word!r}")
        if freq is None:
            freq = self.suggest_freq(word)
        freq = int(freq)
        if freq < 0:
            raise ValueError(f"frequency of {word!r} must be >= 0, got {freq}")
        # jieba adds without subtracting a replaced frequency; mirrored so suggestions match.
        self.total += freq
        return self._set(word, freq)

    def _set(self, word: str, freq: int) -> int:
        if not word or _WHITESPACE.search(word):
            raise ValueError(f"a lexicon word must be non-empty and without whitespace: {word!r}")
        word_id = self._ids.get(word)
        if word_id is None:
            word_id = len(self.words)
            if word_id >= _MAX_WORDS:
                raise ValueError(f"a lexicon holds at most {_MAX_WORDS} words")
            self.words.append(word)
            self._freqs.append(freq)
            self._ids[word] = word_id
            self._keys = None
        else:
            self._freqs[word_id] = freq
        self._freq_array = None
        self._tables = None
        if len(word) <= self.max_word_len:
            prefixes = self._prefixes
            for end in range(1, len(word)):
                prefixes.setdefault(word[:end], _PREFIX_ONLY)
            prefixes[word] = word_id if freq > 0 else _PREFIX_ONLY
        return word_id

    # -- look-ups -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def get_id(self, word: str) -> Optional[int]:
        return self._ids.get(word)

    def freq(self, word: str) -> int:
        """The word's frequency, 0 when absent (jieba's ``FREQ.get(word, 0)``)."""
        word_id = self._ids.get(word)
        return 0 if word_id is None else self._freqs[word_id]

    @property
    def freqs(self) -> np.ndarray:
        """int64 frequency per word id (cached: matching indexes it on every call)."""
        if self._freq_array is None:
            self._freq_array = np.asarray(self._freqs, dtype=np.int64)
        return self._freq_array

    @property
    def keys(self) -> np.ndarray:
        """uint64 hash of each word's text (spaCy's StringStore hash): the embedding key.

        Hashing the text rather than using the id makes embedding rows independent of the
        order and size of the lexicon, which is what lets a model trained with one lexicon
        run with another (e.g. more user words) and stay meaningful for shared words.
        """
        if self._keys is None or self._keys.shape[0] != len(self.words):
            from spacy.strings import hash_string  # type: ignore[attr-defined]  # missing from spaCy's stubs

            self._keys = np.fromiter(
                (hash_string(word) for word in self.words), dtype=np.uint64, count=len(self.words)
            )
        return self._keys

    def suggest_freq(self, word: str) -> int:
        """jieba's ``suggest_freq(word, tune=False)`` on this lexicon (see
        :func:`spacy_ft.jieba.route.suggest_freq`)."""
        return suggest_freq(word, _JiebaFrequencies(self), self.total)

    # -- matching -------------------------------------------------------------------------

    def match(self, text: str) -> LexiconMatches:
        """The four SoftLexicon word sets of every character of ``text``, with their weights.

        For character ``c``: B = words of length >= 2 starting at ``c``, M = words of
        length >= 3 with ``c`` strictly inside, E = words of length >= 2 ending at ``c``,
        S = ``c`` itself when it is a dictionary word. Each set is a set of word *types*
        (a self-overlapping word such as 哈哈哈哈 that covers ``c`` from two starts is
        counted once in M). The weight is the paper's (eq. 7-8) exactly:
        ``weight(w, s, c) = 4 * freq(w) / Z_c`` with ``Z_c`` the sum of ``freq`` over the
        four sets of ``c`` (a word in two sets of ``c``, e.g. 哈哈 as B and E of the middle
        character of 哈哈哈, counts in both, as in the authors' code), so that pooling is
        ``v_s(c) = sum_k weight_k * e(word_k)`` over the entries of set ``s``. A character
        with no match has no entries (its four pooled vectors are zero).
        """
        return self.match_many([text])

    def match_many(self, texts: Sequence[str]) -> LexiconMatches:
        """:meth:`match` of the concatenation of ``texts`` with no word crossing a boundary.

        One call per batch instead of one per doc: the numpy work has a fixed cost per call
        that would dominate for short texts. Character ``i`` of ``texts[d]`` is row
        ``sum(len(t) for t in texts[:d]) + i``.
        """
        lengths = [len(text) for text in texts]
        n_chars = sum(lengths)
        if n_chars == 0:
            return _empty_matches(0)
        # Words never contain whitespace (checked when added), so a newline between texts
        # can neither be matched nor let a match cross from one text into the next.
        joined = "\n".join(texts)
        starts, spans, ids = self._occurrences(joined)
        if len(texts) > 1 and starts.shape[0]:
            joined_starts = np.cumsum([0] + [n + 1 for n in lengths[:-1]])
            starts = starts - (np.searchsorted(joined_starts, starts, side="right") - 1)
        return self._build_matches(n_chars, starts, spans, ids)

    def _occurrences(self, text: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every dictionary word occurrence in ``text`` as (start, length, id) int64 arrays.

        Lengths 1 and 2 are looked up for all positions at once in numpy (code point table,
        sorted pair keys); only positions whose two characters begin a longer word enter
        the Python loop, jieba's ``get_DAG`` scan: extend while the fragment is a word or a
        prefix of one. In Chinese text that is a minority of the positions.
        """
        tables = self._match_tables()
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64)
        single = tables.single[np.minimum(cps, tables.single.shape[0] - 1)]
        s_starts = np.flatnonzero(single >= 0)
        parts_start = [s_starts]
        parts_len = [np.ones_like(s_starts)]
        parts_id = [single[s_starts].astype(np.int64)]
        if cps.shape[0] >= 2 and tables.pair_keys.shape[0]:
            keys = (cps[:-1] << _CP_BITS) | cps[1:]
            where = np.minimum(np.searchsorted(tables.pair_keys, keys), tables.pair_keys.shape[0] - 1)
            found = tables.pair_keys[where] == keys
            pair_id = np.where(found, tables.pair_ids[where], _PREFIX_ONLY)
            p_starts = np.flatnonzero(pair_id >= 0)
            parts_start.append(p_starts)
            parts_len.append(np.full_like(p_starts, 2))
            parts_id.append(pair_id[p_starts])
            if self.max_word_len >= 3:
                longer = np.flatnonzero(found & tables.pair_more[where])
                if longer.shape[0]:
                    packed = self._scan_longer(text, longer.tolist())
                    if packed:
                        codes = np.asarray(packed, dtype=np.int64)
                        parts_start.append(codes >> (_ID_BITS + _LEN_BITS))
                        parts_len.append(codes & _MAX_LEN_LIMIT)
                        parts_id.append((codes >> _LEN_BITS) & ((1 << _ID_BITS) - 1))
        return np.concatenate(parts_start), np.concatenate(parts_len), np.concatenate(parts_id)

    def _scan_longer(self, text: str, starts: List[int]) -> List[int]:
        """Words of length >= 3 from ``starts``, each packed into one int (one append a word)."""
        get = self._prefixes.get
        max_len = self.max_word_len
        n = len(text)
        shift = _ID_BITS + _LEN_BITS
        out: List[int] = []
        append = out.append
        for start in starts:
            stop = start + max_len if start + max_len < n else n
            end = start + 3
            while end <= stop:
                word_id = get(text[start:end])
                if word_id is None:
                    break
                if word_id >= 0:
                    append((start << shift) | (word_id << _LEN_BITS) | (end - start))
                end += 1
        return out

    def _build_matches(
        self, n_chars: int, starts: np.ndarray, spans: np.ndarray, ids: np.ndarray
    ) -> LexiconMatches:
        """Occurrences -> (char, set, word, weight) entries sorted by (char, set, word)."""
        if starts.shape[0] == 0:
            return _empty_matches(n_chars)
        single = spans == 1
        multi = ~single
        m_starts, m_spans, m_ids = starts[multi], spans[multi], ids[multi]
        # Middle characters: a word of length L at s covers s+1 .. s+L-2.
        inner = m_spans - 2
        inner[inner < 0] = 0
        mid_ids = np.repeat(m_ids, inner)
        run_starts = np.repeat(np.cumsum(inner) - inner, inner)
        mid_chars = np.repeat(m_starts + 1, inner) + (np.arange(mid_ids.shape[0]) - run_starts)

        chars = np.concatenate([starts[single], m_starts, mid_chars, m_starts + m_spans - 1])
        sets = np.concatenate(
            [
                np.full(int(single.sum()), S, dtype=np.int64),
                np.full(m_starts.shape[0], B, dtype=np.int64),
                np.full(mid_chars.shape[0], M, dtype=np.int64),
                np.full(m_starts.shape[0], E, dtype=np.int64),
            ]
        )
        words = np.concatenate([ids[single], m_ids, mid_ids, m_ids])
        # One sort by (char, set, word); adjacent repeats are the same type twice in one set.
        n_words = len(self.words) + 1
        key = (chars * 4 + sets) * n_words + words
        order = np.argsort(key, kind="stable")
        key = key[order]
        keep = np.ones(key.shape[0], dtype=bool)
        keep[1:] = key[1:] != key[:-1]
        order = order[keep]
        chars, sets, words = chars[order], sets[order], words[order]

        freqs = self.freqs[words].astype(np.float64)
        z = np.bincount(chars, weights=freqs, minlength=n_chars)
        # Matched words have freq > 0, so z > 0 wherever there is an entry.
        weights = 4.0 * freqs / z[chars]
        return LexiconMatches(
            n_chars=n_chars,
            chars=chars.astype(np.int32),
            sets=sets.astype(np.int8),
            words=words.astype(np.int32),
            weights=weights.astype(np.float32),
        )

    def _match_tables(self) -> "_MatchTables":
        """numpy look-up tables for words of 1 and 2 characters, rebuilt after any change."""
        if self._tables is None:
            self._tables = _MatchTables.build(self._prefixes, self.max_word_len)
        return self._tables

    # -- serialization --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """msgpack of the words (one newline-joined string) and their frequencies.

        Ids are positions, so the order is kept; prefixes and keys are rebuilt on load
        (cheaper to recompute than to ship).
        """
        msg = {
            "format": _FORMAT,
            "max_word_len": self.max_word_len,
            "total": self.total,
            "words": "\n".join(self.words),
            "freqs": list(self._freqs),
        }
        return srsly.msgpack_dumps(msg)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Lexicon":
        msg = srsly.msgpack_loads(data)
        if msg.get("format") != _FORMAT:
            raise ValueError(f"not a serialized Lexicon (format {msg.get('format')!r})")
        words = msg["words"].split("\n") if msg["words"] else []
        if len(words) != len(msg["freqs"]):
            raise ValueError("corrupt Lexicon bytes: words and freqs differ in length")
        return cls(zip(words, msg["freqs"]), max_word_len=msg["max_word_len"], total=msg["total"])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Lexicon)
            and self.words == other.words
            and self._freqs == other._freqs
            and self.max_word_len == other.max_word_len
            and self.total == other.total
        )

    def __repr__(self) -> str:
        return f"Lexicon({len(self.words)} words, max_word_len={self.max_word_len})"


class _JiebaFrequencies:
    """The lexicon seen as jieba's ``FREQ`` by :mod:`spacy_ft.jieba.route`.

    ``get`` is jieba's ``FREQ.get``: a word's count, 0 for a mere prefix of a word (or a
    deleted word), the default otherwise. jieba's ``FREQ`` holds every prefix of every
    word, so its route scan stops where no word continues; the lexicon holds prefixes
    only of words up to ``max_word_len`` characters, so here the scan never stops early
    (``in`` is always true) and tries every end, which finds the same words. That costs
    nothing for the short user words ``suggest_freq`` cuts.
    """

    __slots__ = ("_lexicon",)

    def __init__(self, lexicon: "Lexicon") -> None:
        self._lexicon = lexicon

    def __contains__(self, fragment: object) -> bool:
        return True

    def __getitem__(self, fragment: str) -> int:
        return self._lexicon.freq(fragment)

    def get(self, fragment: str, default: Optional[int] = None) -> Optional[int]:
        lexicon = self._lexicon
        word_id = lexicon._ids.get(fragment)
        if word_id is not None:
            return lexicon._freqs[word_id]
        return 0 if fragment in lexicon._prefixes else default


def _coerce_user_word(item: UserWord) -> Tuple[str, Optional[int]]:
    if isinstance(item, str):
        return item, None
    values = list(item)
    if not 1 <= len(values) <= 3:
        raise ValueError(f"a user word is 'word' or (word, freq[, tag]); got {item!r}")
    freq = values[1] if len(values) > 1 else None
    return str(values[0]), None if freq is None else int(freq)


@dataclass(frozen=True)
class _MatchTables:
    """Words of one and two characters as arrays, so that those look-ups are vectorised.

    ``single[cp]`` is the id of the one-character word with code point ``cp`` (-1: none;
    the last slot is a -1 that larger code points are clipped to). ``pair_keys`` are the
    sorted ``cp1 << 21 | cp2`` keys of every two-character word or prefix, ``pair_ids``
    their word ids (-1 for a prefix only) and ``pair_more`` whether a longer word starts
    with them.
    """

    single: np.ndarray
    pair_keys: np.ndarray
    pair_ids: np.ndarray
    pair_more: np.ndarray

    @classmethod
    def build(cls, prefixes: Dict[str, int], max_word_len: int) -> "_MatchTables":
        short = [fragment for fragment in prefixes if len(fragment) <= 2]
        singles = [fragment for fragment in short if len(fragment) == 1 and prefixes[fragment] >= 0]
        pairs = [fragment for fragment in short if len(fragment) == 2]
        single_cps = np.fromiter(map(ord, singles), dtype=np.int64, count=len(singles))
        single = np.full(int(single_cps.max(initial=0)) + 2, _PREFIX_ONLY, dtype=np.int32)
        single[single_cps] = np.fromiter((prefixes[c] for c in singles), dtype=np.int32, count=len(singles))
        keys = np.fromiter(
            ((ord(pair[0]) << _CP_BITS) | ord(pair[1]) for pair in pairs), dtype=np.int64, count=len(pairs)
        )
        ids = np.fromiter((prefixes[pair] for pair in pairs), dtype=np.int64, count=len(pairs))
        order = np.argsort(keys)
        keys, ids = keys[order], ids[order]
        # A pair begins a longer word iff some 3-character fragment (word or prefix) starts with it.
        longer = {fragment[:2] for fragment in prefixes if len(fragment) == 3}
        more_keys = np.fromiter(
            ((ord(pair[0]) << _CP_BITS) | ord(pair[1]) for pair in longer), dtype=np.int64, count=len(longer)
        )
        return cls(single=single, pair_keys=keys, pair_ids=ids, pair_more=np.isin(keys, more_keys))


def _empty_matches(n_chars: int) -> LexiconMatches:
    return LexiconMatches(
        n_chars=n_chars,
        chars=np.zeros((0,), dtype=np.int32),
        sets=np.zeros((0,), dtype=np.int8),
        words=np.zeros((0,), dtype=np.int32),
        weights=np.zeros((0,), dtype=np.float32),
    )
