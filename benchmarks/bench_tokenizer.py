"""Throughput benchmark for Chinese tokenization: spacy_ft against raw jieba and spaCy.

Why this script exists: spacy_ft claims that its ``spacy_ft.JiebaTokenizer.v1``
costs (almost) nothing on top of raw jieba, and that its ``jieba_next`` backend
is several times faster with *identical* tokens. Both claims are only worth
something if they are measured honestly, so this script:

* uses real text (ChnSentiCorp reviews, ~1 M characters), not a repeated sentence;
* times only the segmentation loop, after dictionaries are loaded (warm-up on a
  few short strings that are *not* from the corpus, so nothing is pre-cached);
* rebuilds spacy_ft's per-pipeline LRU block cache before every timed repeat, so
  the cache never carries results from one repeat into the next;
* interleaves the systems in chunks of 100 docs (every system runs a chunk
  before the next chunk, rotating who goes first), so this machine's drift hits
  all systems alike, and reports medians and median-of-per-repeat ratios;
* checks, outside the timed region, that the tokens are the same as jieba's.

Run from the repository root::

    python benchmarks/bench_tokenizer.py                     # full corpus, 5 repeats
    python benchmarks/bench_tokenizer.py --max-chars 20000 --repeats 1   # smoke run

Without the default corpus (and no ``--corpus``) it prints a message and exits 0.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import DATA_ROOT, quiet_libraries, table, write_report

DEFAULT_CORPUS = DATA_ROOT / "chnsenticorp" / "train.tsv"
DEFAULT_OUTPUT = Path("benchmarks/results/tokenizer.json")
MIN_CORPUS_CHARS = 1_000_000

# Short strings unrelated to the corpus (hotel / laptop / book reviews). They
# force dictionary loading (and jieba's prefix-dict build) outside the timed
# region without putting any corpus block into spacy_ft's LRU cache.
WARMUP_TEXTS: tuple[str, ...] = (
    "南京市长江大桥于一九六八年建成通车。",
    "小明硕士毕业于中国科学院计算所，后在日本京都大学深造。",
    "Python 3 与 spaCy 的分词速度测试 v1.0",
)

# Targets from the project's performance claims (ratios of chars/s to raw jieba).
TARGET_DEFAULT_RATIO = 0.95
TARGET_NEXT_RATIO = 3.0

RAW_JIEBA = "raw_jieba"


# -- corpus -------------------------------------------------------------------


@dataclass
class Corpus:
    """The docs every system segments, plus where they came from (for the report)."""

    path: str
    fmt: str
    docs: list[str]
    truncated: bool = False

    @property
    def chars(self) -> int:
        return sum(len(doc) for doc in self.docs)


def load_corpus(path: Path, max_chars: int | None) -> Corpus:
    """Read a TSV with a ``text_a`` (or ``text``) column, or plain text with one doc per line.

    Empty docs are skipped: they cost nothing and would only inflate the doc count.
    ``max_chars`` keeps whole docs and cuts the last one, so the quick run has
    exactly the requested size.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        lines = handle.read().split("\n")
    lines = [line.removesuffix("\r") for line in lines]
    header = lines[0].split("\t") if lines else []
    column = next((name for name in ("text_a", "text") if name in header), None)
    if column is not None and len(header) > 1:
        fmt = f"tsv:{column}"
        index = header.index(column)
        rows = [line.split("\t") for line in lines[1:]]
        texts = [row[index] for row in rows if len(row) > index]
    else:
        fmt = "lines"
        texts = lines
    docs = [text for text in texts if text.strip()]

    truncated = False
    if max_chars is not None:
        kept: list[str] = []
        total = 0
        for doc in docs:
            if total >= max_chars:
                break
            if total + len(doc) > max_chars:
                doc = doc[: max_chars - total]
                truncated = True
            kept.append(doc)
            total += len(doc)
        truncated = truncated or len(kept) < len(docs)
        docs = kept
    return Corpus(path=str(path), fmt=fmt, docs=docs, truncated=truncated)


# -- systems ------------------------------------------------------------------


@dataclass
class System:
    """One tokenizer under test.

    ``prepare`` runs before every timed repeat, outside the timer: it loads
    dictionaries and, for spacy_ft, throws away the block cache so every repeat
    starts cold. ``run`` is exactly the timed loop. ``words`` gives token texts
    for the identity check, and ``texts_with_ws`` the doc texts rebuilt from
    ``text_with_ws`` (spaCy systems only).
    """

    name: str
    description: str
    prepare: Callable[[], None]
    run: Callable[[Sequence[str]], list[Any]]
    words: Callable[[str], list[str]]
    text_with_ws: Callable[[str], str] | None = None
    cache_info: Callable[[], dict[str, int] | None] = lambda: None
    times_s: list[float] = field(default_factory=list)
    tokens: int = 0
    cache_infos: list[dict[str, int] | None] = field(default_factory=list)


def _warm_up(cut: Callable[[str], Any]) -> None:
    for text in WARMUP_TEXTS:
        cut(text)


def raw_system(name: str, module_name: str, description: str) -> System:
    """A private ``Tokenizer()`` of ``jieba`` / ``jieba_next``: the baseline without spaCy.

    A private instance, not the module-level ``jieba.lcut``, so it cannot share
    state with spaCy's built-in segmenter (which uses the global one).
    """
    module = __import__(module_name)
    tokenizer = module.Tokenizer()
    tokenizer.initialize()

    def run(docs: Sequence[str]) -> list[Any]:
        lcut = tokenizer.lcut
        return [lcut(text) for text in docs]

    return System(
        name=name,
        description=description,
        prepare=lambda: _warm_up(tokenizer.lcut),
        run=run,
        words=tokenizer.lcut,
    )


def spacy_builtin_system() -> System:
    """spaCy's own ``spacy.zh.ChineseTokenizer`` with segmenter "jieba" (global jieba)."""
    import spacy

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    nlp.tokenizer.initialize()  # no-op for jieba, kept so the pipeline is set up as documented
    return _spacy_system(
        "spacy_zh_jieba",
        'spaCy built-in zh tokenizer, segmenter="jieba"',
        nlp,
        cold_cache=False,
    )


def spacy_ft_system(name: str, description: str, **settings: Any) -> System:
    """A blank zh pipeline with ``spacy_ft.JiebaTokenizer.v1`` and the given settings."""
    import spacy

    tokenizer_cfg: dict[str, Any] = {
        "@tokenizers": "spacy_ft.JiebaTokenizer.v1",
        **settings,
    }
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": tokenizer_cfg}})
    return _spacy_system(name, description, nlp, cold_cache=True)


def _spacy_system(name: str, description: str, nlp: Any, *, cold_cache: bool) -> System:
    tokenizer = nlp.tokenizer

    def prepare() -> None:
        if cold_cache:
            # Drop the segmenter and with it the LRU block cache; the warm-up below
            # rebuilds it (dictionary load) outside the timer, with only the
            # unrelated warm-up blocks cached.
            tokenizer._segmenter = None
        _warm_up(tokenizer)

    def run(docs: Sequence[str]) -> list[Any]:
        return [tokenizer(text) for text in docs]

    def cache_info() -> dict[str, int] | None:
        segmenter = getattr(tokenizer, "_segmenter", None)
        info = getattr(getattr(segmenter, "_cut_block", None), "cache_info", None)
        if info is None:
            return None
        stats = info()
        return {"hits": stats.hits, "misses": stats.misses, "currsize": stats.currsize}

    return System(
        name=name,
        description=description,
        prepare=prepare,
        run=run,
        words=lambda text: [token.text for token in tokenizer(text)],
        text_with_ws=lambda text: "".join(token.text_with_ws for token in tokenizer(text)),
        cache_info=cache_info,
    )


def build_systems() -> list[System]:
    """All systems, raw jieba first (it is the denominator of every ratio)."""
    quiet_libraries()
    return [
        raw_system(RAW_JIEBA, "jieba", "jieba 0.42.1 Tokenizer().lcut (private instance)"),
        spacy_builtin_system(),
        spacy_ft_system("spacy_ft", "spacy_ft default (backend jieba, cache_size 20000)"),
        spacy_ft_system("spacy_ft_nocache", "spacy_ft backend jieba, cache_size 0", cache_size=0),
        spacy_ft_system("spacy_ft_jieba_next", "spacy_ft backend jieba_next", backend="jieba_next"),
        raw_system("raw_jieba_next", "jieba_next", "jieba_next Tokenizer().lcut (reference)"),
    ]


# -- measurement --------------------------------------------------------------


def count_tokens(result: list[Any]) -> int:
    return sum(len(item) for item in result)


def measure(systems: list[System], docs: Sequence[str], repeats: int, chunk_docs: int = 100) -> None:
    """Time each system ``repeats`` times over the whole corpus, interleaved finely.

    This machine's speed drifts by 10-30% over tens of seconds (shared 2-core
    VM), so each repeat walks the corpus in chunks of ``chunk_docs`` docs and
    runs every system on a chunk before moving on, rotating which goes first.
    Drift then hits all systems alike. Each system still sees the corpus once
    per repeat, in order, starting from a cold cache (``prepare``).
    """
    chunks = [docs[i : i + chunk_docs] for i in range(0, len(docs), chunk_docs)]
    for rep in range(repeats):
        for system in systems:
            system.prepare()
        gc.collect()
        elapsed = dict.fromkeys(range(len(systems)), 0.0)
        tokens = dict.fromkeys(range(len(systems)), 0)
        for c, chunk in enumerate(chunks):
            offset = (rep + c) % len(systems)
            for index in list(range(offset, len(systems))) + list(range(offset)):
                start = time.perf_counter()
                result = systems[index].run(chunk)
                elapsed[index] += time.perf_counter() - start
                tokens[index] += count_tokens(result)
                del result
        for index, system in enumerate(systems):
            system.times_s.append(elapsed[index])
            system.tokens = tokens[index]
            system.cache_infos.append(system.cache_info())
        print(f"  repeat {rep + 1}/{repeats} done", file=sys.stderr, flush=True)


def _content(words: Sequence[str]) -> list[str]:
    return [word for word in words if word and not word.isspace()]


def _first_difference(expected: Sequence[str], got: Sequence[str]) -> str:
    index = next(
        (i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
        min(len(expected), len(got)),
    )
    lo = max(0, index - 3)
    return f"at token {index}: jieba {list(expected[lo : index + 4])} vs {list(got[lo : index + 4])}"


def check_identity(
    systems: list[System], reference: System, docs: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Count docs whose non-whitespace tokens differ from jieba's, and broken round trips.

    Whitespace tokens are ignored because spaCy stores a single space as the
    previous token's trailing whitespace; every other token must be identical.
    """
    expected = [_content(reference.words(text)) for text in docs]
    report: dict[str, dict[str, Any]] = {}
    for system in systems:
        if system is reference:
            continue
        token_diffs = 0
        text_diffs = 0
        examples: list[str] = []
        for i, text in enumerate(docs):
            got = _content(system.words(text))
            if got != expected[i]:
                token_diffs += 1
                if len(examples) < 3:
                    examples.append(f"doc {i} ({text[:30]!r}...): {_first_difference(expected[i], got)}")
            if system.text_with_ws is not None:
                rebuilt = system.text_with_ws(text)
                if rebuilt != text:
                    text_diffs += 1
                    if len(examples) < 3:
                        examples.append(
                            f"doc {i}: text_with_ws join differs: {rebuilt[:40]!r} vs {text[:40]!r}"
                        )
        report[system.name] = {
            "docs_tokens_differ": token_diffs,
            "docs_text_with_ws_differ": text_diffs if system.text_with_ws is not None else None,
            "examples": examples,
        }
    return report


# -- report -------------------------------------------------------------------


def summarize(
    systems: list[System], corpus: Corpus, identity: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-system medians; ratios are per repeat (same repeat, same machine state), then median."""
    chars = corpus.chars
    raw_times = next(s for s in systems if s.name == RAW_JIEBA).times_s
    out: dict[str, dict[str, Any]] = {}
    for system in systems:
        ratios = [raw / own for raw, own in zip(raw_times, system.times_s)]
        chars_per_s = [chars / t for t in system.times_s]
        tokens_per_s = [system.tokens / t for t in system.times_s]
        ident = identity.get(system.name)
        out[system.name] = {
            "description": system.description,
            "times_s": system.times_s,
            "median_time_s": statistics.median(system.times_s),
            "chars_per_s": chars_per_s,
            "median_chars_per_s": statistics.median(chars_per_s),
            "tokens": system.tokens,
            "median_tokens_per_s": statistics.median(tokens_per_s),
            "ratios_vs_raw_jieba": ratios,
            "median_ratio_vs_raw_jieba": statistics.median(ratios),
            "identity": ident,
            "cache_info_after_each_repeat": system.cache_infos
            if any(info is not None for info in system.cache_infos)
            else None,
        }
    return out


def evaluate_targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The two claims: the default costs <= 5%, jieba_next is >= 3x with identical tokens."""

    def identical(name: str) -> bool:
        ident = summary[name]["identity"] or {}
        return ident.get("docs_tokens_differ") == 0 and ident.get("docs_text_with_ws_differ") in (0, None)

    default_ratio = summary["spacy_ft"]["median_ratio_vs_raw_jieba"]
    next_ratio = summary["spacy_ft_jieba_next"]["median_ratio_vs_raw_jieba"]
    return [
        {
            "system": "spacy_ft",
            "target": f">= {TARGET_DEFAULT_RATIO:.2f}x raw jieba",
            "ratio": default_ratio,
            "identical": identical("spacy_ft"),
            "passed": default_ratio >= TARGET_DEFAULT_RATIO,
        },
        {
            "system": "spacy_ft_jieba_next",
            "target": f">= {TARGET_NEXT_RATIO:.1f}x raw jieba, identical tokens",
            "ratio": next_ratio,
            "identical": identical("spacy_ft_jieba_next"),
            "passed": next_ratio >= TARGET_NEXT_RATIO and identical("spacy_ft_jieba_next"),
        },
    ]


def print_table(
    corpus: Corpus,
    repeats: int,
    summary: dict[str, dict[str, Any]],
    targets: list[dict[str, Any]],
) -> None:
    target_of = {t["system"]: t for t in targets}
    print(
        f"Corpus: {corpus.path} ({corpus.fmt}) - {len(corpus.docs):,} docs, "
        f"{corpus.chars:,} chars{' (cut by --max-chars)' if corpus.truncated else ''}; "
        f"repeats: {repeats}; cpu_count: {os.cpu_count()}"
    )
    header = (
        "system",
        "med chars/s",
        "med tokens/s",
        "ratio",
        "min-max ratio",
        "tok diffs",
        "ws diffs",
        "target",
    )
    rows = []
    for name, row in summary.items():
        ratios = row["ratios_vs_raw_jieba"]
        ident = row["identity"]
        ws = None if ident is None else ident["docs_text_with_ws_differ"]
        target = target_of.get(name)
        rows.append(
            (name, f"{row['median_chars_per_s']:,.0f}", f"{row['median_tokens_per_s']:,.0f}")
            + (f"{row['median_ratio_vs_raw_jieba']:.2f}x", f"{min(ratios):.2f}-{max(ratios):.2f}x")
            + ("ref" if ident is None else ident["docs_tokens_differ"], "-" if ws is None else ws)
            + (f"{'PASS' if target['passed'] else 'FAIL'} ({target['target']})" if target else "",)
        )
    print(table(header, rows, "lrrrrrrl"))
    print(
        "ratio = median over repeats of (raw_jieba time / system time) in the same repeat; "
        "tok diffs = docs whose non-whitespace tokens differ from jieba.lcut; "
        "ws diffs = docs where ''.join(text_with_ws) != text."
    )
    for name, row in summary.items():
        ident = row["identity"]
        if ident and ident["examples"]:
            print(f"Differences for {name}:")
            for example in ident["examples"]:
                print(f"  {example}")


# -- entry point ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help=f"TSV with a text_a column, or plain text with one doc per line (default: {DEFAULT_CORPUS})",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per system (default: 5)")
    parser.add_argument(
        "--max-chars",
        type=int,
        default=None,
        help="cut the corpus to this many chars (quick runs)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"JSON results (default: {DEFAULT_OUTPUT})",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.max_chars is not None and args.max_chars < 1:
        parser.error("--max-chars must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    corpus_path: Path = args.corpus if args.corpus is not None else DEFAULT_CORPUS
    if not corpus_path.is_file():
        if args.corpus is not None:
            print(f"Corpus not found: {corpus_path}", file=sys.stderr)
            return 2
        print(f"Benchmark skipped: default corpus {corpus_path} is not available.")
        return 0

    corpus = load_corpus(corpus_path, args.max_chars)
    if not corpus.docs:
        print(f"Corpus {corpus_path} has no text.", file=sys.stderr)
        return 2
    if args.max_chars is None and corpus.chars < MIN_CORPUS_CHARS:
        print(
            f"Note: corpus has {corpus.chars:,} chars, under {MIN_CORPUS_CHARS:,}; "
            "timings on small corpora are noisy.",
            file=sys.stderr,
        )

    print(
        f"Loading tokenizers; {len(corpus.docs):,} docs, {corpus.chars:,} chars ...",
        file=sys.stderr,
    )
    systems = build_systems()
    measure(systems, corpus.docs, args.repeats)
    print("Checking token identity ...", file=sys.stderr, flush=True)
    reference = systems[0]
    identity = check_identity(systems, reference, corpus.docs)
    summary = summarize(systems, corpus, identity)
    targets = evaluate_targets(summary)
    print_table(corpus, args.repeats, summary, targets)

    results = {
        "corpus": {
            "path": corpus.path,
            "format": corpus.fmt,
            "docs": len(corpus.docs),
            "chars": corpus.chars,
            "max_chars": args.max_chars,
            "truncated": corpus.truncated,
        },
        "settings": {
            "repeats": args.repeats,
            "warmup_texts": list(WARMUP_TEXTS),
            "order": "interleaved per 100-doc chunk, start rotated each chunk",
            "cold_cache": "spacy_ft segmenter (and LRU cache) rebuilt before every repeat",
        },
        "systems": summary,
        "targets": targets,
    }
    write_report(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
