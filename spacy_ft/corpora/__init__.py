"""Corpus readers and the converter to DocBin that never loses an entity.

``records`` (shared types, leaf) <- ``tagged`` / ``readers`` (one reader a
format) <- ``formats`` (the ``READERS`` table) <- ``convert`` (samples to docs,
files to ``.spacy``). ``token_split`` cuts tokens at entity edges, keeping their
annotation and any transformer alignment: the converter does it for gold entities, the
NER head for predicted ones.
"""

from spacy_ft.corpora.convert import (
    checked_entities,
    convert,
    iter_docs,
    sample_to_doc,
    samples_to_docs,
    write_docbin,
)
from spacy_ft.corpora.formats import FORMAT_OPTIONS, FORMATS, READERS, read_samples
from spacy_ft.corpora.readers import parse_label_map, read_cluener, read_jsonl, read_table
from spacy_ft.corpora.records import BOM, ConversionReport, CorpusFormatError, Sample
from spacy_ft.corpora.tagged import decode_tags, detect_scheme, read_char_tagged, read_conll

__all__ = [
    "BOM",
    "FORMATS",
    "FORMAT_OPTIONS",
    "READERS",
    "ConversionReport",
    "CorpusFormatError",
    "Sample",
    "checked_entities",
    "convert",
    "decode_tags",
    "detect_scheme",
    "iter_docs",
    "parse_label_map",
    "read_char_tagged",
    "read_cluener",
    "read_conll",
    "read_jsonl",
    "read_samples",
    "read_table",
    "sample_to_doc",
    "samples_to_docs",
    "write_docbin",
]
