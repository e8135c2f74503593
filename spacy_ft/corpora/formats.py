"""Every corpus format behind one table: ``READERS`` maps a format name to its reader.

As spaCy's ``CONVERTERS`` dict does for ``spacy convert``: the converter, the
CLI and the annotation importer look a format up here, so adding a format is one
reader function and one line.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

from spacy_ft.corpora.readers import read_cluener, read_jsonl, read_table
from spacy_ft.corpora.records import Sample
from spacy_ft.corpora.tagged import read_char_tagged, read_conll
from spacy_ft.types import PathLike
from spacy_ft.validation import check_choice

#: Format name -> reader(path, **options) yielding :class:`Sample` objects.
READERS: dict[str, Callable[..., Iterator[Sample]]] = {
    "bio": partial(read_char_tagged, scheme="bio"),
    "bmes": partial(read_char_tagged, scheme="bmes"),
    "bioes": partial(read_char_tagged, scheme="bioes"),
    "char": partial(read_char_tagged, scheme="auto"),
    "conll": read_conll,
    "cluener": read_cluener,
    "jsonl": read_jsonl,
    "csv": partial(read_table, delimiter=","),
    "tsv": partial(read_table, delimiter="\t"),
}
FORMATS = tuple(READERS)
#: Keyword options each format's reader takes (the rest take none).
FORMAT_OPTIONS = {
    "jsonl": ("label_map",),
    "csv": ("text_column", "label_column", "label_sep", "label_map", "quoting"),
    "tsv": ("text_column", "label_column", "label_sep", "label_map", "quoting"),
}


def read_samples(path: PathLike, fmt: str = "char", joiner: str = " ", **options: Any) -> Iterator[Sample]:
    """Read ``path`` in format ``fmt``: a scheme name or "char" (auto) for
    character-tagged files, "conll" for token columns with BIO tags joined by
    ``joiner``, and "cluener", "jsonl", "csv", "tsv".

    ``options`` go to the reader (see :data:`FORMAT_OPTIONS`); an option the
    format does not take is an error rather than a silently ignored setting.
    """
    fmt = check_choice(fmt, FORMATS, "format", lower=True)
    unknown = sorted(set(options) - set(FORMAT_OPTIONS.get(fmt, ())))
    if unknown:
        raise ValueError(f"format {fmt!r} takes no option {', '.join(unknown)}")
    if fmt == "conll":
        options["joiner"] = joiner
    return READERS[fmt](path, **options)
