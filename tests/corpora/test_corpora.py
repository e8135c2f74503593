"""spacy_ft.corpora: readers, tag repair, entity splitting and DocBin output.

Every file is written in tmp_path, so the tests never depend on shared data.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_ft.corpora import (
    ConversionReport,
    convert,
    decode_tags,
    detect_scheme,
    read_char_tagged,
    read_conll,
    read_samples,
    samples_to_docs,
)
from spacy_ft.corpora.readers import parse_label_map, read_cluener, read_jsonl, read_table
from spacy_ft.corpora.records import CorpusFormatError, Sample
from tests.util import import_blocker


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def char_file(tmp_path: Path, sentences: list[list[tuple[str, str]]], name: str = "c.txt", sep=" ") -> Path:
    blocks = ["\n".join(f"{char}{sep}{tag}" for char, tag in sentence) for sentence in sentences]
    return write(tmp_path, name, "\n\n".join(blocks) + "\n")


def tagged(text: str, tags: str) -> list[tuple[str, str]]:
    return list(zip(text, tags.split()))


def ents(doc) -> list[tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


@pytest.fixture(scope="module")
def en_nlp() -> spacy.Language:
    return spacy.blank("en")


# -- character-tagged readers --------------------------------------------------------


def test_bio_round_trip(tmp_path):
    path = char_file(
        tmp_path,
        [
            tagged("张三在北京", "B-PER I-PER O B-LOC I-LOC"),
            tagged("好", "O"),
            tagged("李四", "B-PER.NAM I-PER.NAM"),
        ],
        sep="\t",
    )
    assert detect_scheme(path) == "bio"
    for scheme in ("bio", "auto"):
        samples = list(read_char_tagged(path, scheme=scheme))
        assert [s.text for s in samples] == ["张三在北京", "好", "李四"]
        assert samples[0].entities == [(0, 2, "PER"), (3, 5, "LOC")]
        assert samples[1].entities == []
        assert samples[2].entities == [(0, 2, "PER.NAM")]
        assert [s.line for s in samples] == [1, 7, 9]
        assert {s.source for s in samples} == {str(path)}
        assert sum(s.repaired for s in samples) == 0


def test_bmes_round_trip(tmp_path):
    path = char_file(
        tmp_path,
        [
            tagged("高勇：男，中国国籍", "B-NAME E-NAME O O O B-CONT M-CONT M-CONT E-CONT"),
            tagged("王在", "S-NAME O"),
        ],
    )
    assert detect_scheme(path) == "bmes"
    samples = list(read_char_tagged(path))
    assert samples[0].text == "高勇：男，中国国籍"
    assert samples[0].entities == [(0, 2, "NAME"), (5, 9, "CONT")]
    assert samples[1].entities == [(0, 1, "NAME")]
    assert [s.line for s in samples] == [1, 11]
    assert list(read_char_tagged(path, scheme="BMES")) == samples


def test_bioes_round_trip(tmp_path):
    path = char_file(
        tmp_path, [tagged("上海市长张三", "B-LOC I-LOC E-LOC O B-PER E-PER"), tagged("京", "S-LOC")]
    )
    assert detect_scheme(path) == "bioes"
    samples = list(read_char_tagged(path))
    assert samples[0].entities == [(0, 3, "LOC"), (4, 6, "PER")]
    assert samples[1].entities == [(0, 1, "LOC")]
    assert sum(s.repaired for s in samples) == 0


def test_line_numbers_skip_leading_and_repeated_blank_lines(tmp_path):
    path = write(tmp_path, "c.txt", "\n\n甲 B-X\n乙 I-X\n\n\n \t\n丙 O\n")
    samples = list(read_char_tagged(path, scheme="bio"))
    assert [(s.text, s.line, s.entities) for s in samples] == [("甲乙", 3, [(0, 2, "X")]), ("丙", 8, [])]


def test_multi_character_fields_are_kept_whole(tmp_path):
    # Weibo has fields such as "p1"; the offsets must follow the real text.
    path = char_file(tmp_path, [[("p1", "O"), ("张", "B-PER"), ("三", "I-PER")]])
    (sample,) = read_char_tagged(path)
    assert sample.text == "p1张三"
    assert sample.entities == [(2, 4, "PER")]


@pytest.mark.parametrize("space", ["\u3000", " "])
def test_whitespace_char_is_kept_when_tab_separated(tmp_path, space):
    path = write(tmp_path, "c.txt", f"张\tB-PER\n{space}\tO\n三\tB-PER \n李\tO\t\n")
    (sample,) = read_char_tagged(path)
    assert sample.text == f"张{space}三李"
    assert sample.entities == [(0, 1, "PER"), (2, 3, "PER")]


# -- CoNLL ------------------------------------------------------------------------


def test_conll_round_trip(tmp_path):
    path = write(
        tmp_path,
        "w.conll",
        "-DOCSTART- O\n\nEmpire\tB-location\nState\tI-location\nBuilding\tI-location\n=\tO\nESB\tB-location\n"
        "\t\n"  # WNUT-17 separates sentences with tab-only lines
        "Star\tB-creative-work\nWars\tI-creative-work\nrocks\tO\n",
    )
    samples = list(read_conll(path))
    assert [s.text for s in samples] == ["Empire State Building = ESB", "Star Wars rocks"]
    assert samples[0].entities == [(0, 21, "location"), (24, 27, "location")]
    assert samples[1].entities == [(0, 9, "creative-work")]
    assert [s.line for s in samples] == [3, 9]
    for sample in samples:
        for start, end, _ in sample.entities:
            assert sample.text[start:end] in {"Empire State Building", "ESB", "Star Wars"}


def test_conll_columns_and_empty_joiner(tmp_path):
    path = write(tmp_path, "z.conll", "北京 NR B-LOC\n欢迎 VV O\n你们 PN B-PER\n")
    (sample,) = read_conll(path, token_col=0, tag_col=2, joiner="")
    assert sample.text == "北京欢迎你们"
    assert sample.entities == [(0, 2, "LOC"), (4, 6, "PER")]
    (dashed,) = read_conll(path, joiner="-")
    assert dashed.text == "北京-欢迎-你们"
    assert dashed.entities == [(0, 2, "LOC"), (6, 8, "PER")]


def test_docstart_ends_a_sentence(tmp_path):
    path = write(tmp_path, "d.conll", "a\tB-X\n-DOCSTART-\tO\nb\tI-X\n")
    samples = list(read_conll(path))
    assert [(s.text, s.entities, s.line, s.repaired) for s in samples] == [
        ("a", [(0, 1, "X")], 1, 0),
        ("b", [(0, 1, "X")], 3, 1),  # I-X with nothing to continue: repaired, counted
    ]


def test_bom_at_start_and_mid_file(tmp_path):
    # emerging.dev.conll-style: a BOM at the start and a line holding only a BOM at the end.
    path = write(
        tmp_path, "bom.conll", "\ufeffRedondo\tB-location\nBeach\tI-location\n\n\ufeffhi\tO\n\ufeff\n"
    )
    samples = list(read_conll(path))
    assert [s.text for s in samples] == ["Redondo Beach", "hi"]
    assert samples[0].entities == [(0, 13, "location")]
    assert [s.line for s in samples] == [1, 4]
    char_path = write(tmp_path, "bom.char", "\ufeff高 B-NAME\n勇 E-NAME\n")
    (sample,) = read_char_tagged(char_path)
    assert (sample.text, sample.entities) == ("高勇", [(0, 2, "NAME")])


# -- malformed input ----------------------------------------------------------------


MALFORMED = [
    ("one_field.txt", "甲 B-X\n乙\n", {}, 2, "expected a character and a tag"),
    ("missing_char.txt", "甲 O\n\u3000 O\n", {}, 2, "expected a character and a tag"),
    ("three_fields.txt", "甲 O\n\n乙 NN O\n", {}, 3, "expected a character and a tag"),
    ("unknown_tag.txt", "甲 O\n乙 X-PER\n", {"scheme": "bio"}, 2, "unknown tag 'X-PER'"),
    ("empty_label.txt", "甲 O\n乙 B-\n", {}, 2, "unknown tag 'B-'"),
    (
        "wrong_scheme.txt",
        "甲 B-X\n乙 M-X\n丙 E-X\n",
        {"scheme": "bio"},
        2,
        "unknown tag 'M-X' for scheme bio",
    ),
    ("bmes_has_i.txt", "甲 B-X\n乙 E-X\n\n丙 B-Y\n丁 I-Y\n", {"scheme": "bmes"}, 5, "unknown tag 'I-Y'"),
    ("mixed.txt", "甲 B-X\n乙 M-X\n丙 E-X\n\n丁 B-Y\n戊 I-Y\n", {}, 6, "mix BMES's M-"),
]


@pytest.mark.parametrize("name,text,kwargs,lineno,problem", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_char_files_name_file_and_line(tmp_path, name, text, kwargs, lineno, problem):
    path = write(tmp_path, name, text)
    bad_line = text.split("\n")[lineno - 1]
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:{lineno}: ")) as info:
        list(read_char_tagged(path, **kwargs))
    assert problem in str(info.value)
    assert repr(bad_line) in str(info.value)


def test_malformed_conll_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.conll", "a\tO\nb\tB-X\n\nc\td\tO\nlonely\n")
    with pytest.raises(
        CorpusFormatError, match=re.escape(f"{path}:5: no token column 0 in 1 field(s): 'lonely'")
    ):
        list(read_conll(path))
    path = write(tmp_path, "bad_tag.conll", "a\tO\nb\tB-PER\nc\tU-PER\n")
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:3: unknown tag 'U-PER'")):
        list(read_conll(path))


def test_non_utf8_line_is_reported(tmp_path):
    path = tmp_path / "latin.conll"
    path.write_bytes("a\tO\n\nb\tO\n".encode() + "café\tO\n".encode("latin-1"))
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:4: not UTF-8")):
        list(read_conll(path))


def test_bad_arguments_are_value_errors_not_format_errors(tmp_path, en_nlp):
    path = write(tmp_path, "c.txt", "甲 O\n")
    with pytest.raises(ValueError, match="unknown tag scheme 'iob2'") as info:
        list(read_char_tagged(path, scheme="iob2"))
    assert not isinstance(info.value, CorpusFormatError)
    with pytest.raises(ValueError, match="unknown format 'json'"):
        convert(path, tmp_path / "out.spacy", en_nlp, fmt="json")
    assert not (tmp_path / "out.spacy").exists()


def test_error_midway_writes_no_partial_docbin(tmp_path, en_nlp):
    path = write(tmp_path, "bad.conll", "a\tB-X\n\nb\tQ\n")
    out = tmp_path / "out.spacy"
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:3:")):
        convert(path, out, en_nlp, fmt="conll")
    assert not out.exists()


# -- repair rule ----------------------------------------------------------------------


def parse(tags: str) -> list[tuple[str, str]]:
    return [("O", "") if tag == "O" else tuple(tag.split("-", 1)) for tag in tags.split()]


REPAIRS = [
    # scheme, tags, entities (token indices), repaired
    ("bio", "B-X I-X O B-Y", [(0, 2, "X"), (3, 4, "Y")], 0),
    ("bio", "O I-X I-X O", [(1, 3, "X")], 1),
    ("bio", "B-X I-Y I-Y", [(0, 1, "X"), (1, 3, "Y")], 1),
    ("bio", "B-X B-X", [(0, 1, "X"), (1, 2, "X")], 0),
    ("bmes", "B-X M-X E-X S-Y", [(0, 3, "X"), (3, 4, "Y")], 0),
    ("bmes", "M-X E-X O", [(0, 2, "X")], 1),
    ("bmes", "B-X M-X O", [(0, 2, "X")], 1),
    ("bmes", "O E-X", [(1, 2, "X")], 1),
    ("bmes", "B-X B-X E-X", [(0, 1, "X"), (1, 3, "X")], 1),
    ("bmes", "B-X M-Y E-Y", [(0, 1, "X"), (1, 3, "Y")], 2),
    ("bmes", "M-X M-X", [(0, 2, "X")], 1),  # an entity cut by the sentence split, both halves
    ("bioes", "B-X I-X E-X O S-Y", [(0, 3, "X"), (4, 5, "Y")], 0),
    ("bioes", "B-X I-X", [(0, 2, "X")], 1),
    ("bioes", "I-X E-X B-Y E-Y", [(0, 2, "X"), (2, 4, "Y")], 1),
]


@pytest.mark.parametrize("scheme,tags,expected,repaired", REPAIRS)
def test_decode_tags_repairs_and_counts(scheme, tags, expected, repaired):
    assert decode_tags(parse(tags), scheme) == (expected, repaired)


def test_repaired_entities_are_counted_in_the_report(tmp_path, en_nlp):
    path = char_file(
        tmp_path,
        [
            tagged("abcd", "O I-X I-X O"),  # I-X after O
            tagged("xyz", "B-Y I-X O"),  # label change
            tagged("ok", "B-Z I-Z"),
        ],
        sep="\t",
    )
    samples = list(read_char_tagged(path))
    assert [s.repaired for s in samples] == [1, 1, 0]
    docs, report = samples_to_docs(en_nlp, samples)
    assert report.repaired_entities == 2
    assert report.entities == 4
    assert [ents(doc) for doc in docs] == [[(1, 3, "X")], [(0, 1, "Y"), (1, 2, "X")], [(0, 2, "Z")]]


# -- entities inside tokens -----------------------------------------------------------

DENG = "我们学习邓小平理论。"


def test_entity_inside_a_jieba_token_lands_exactly(zh_nlp):
    assert "邓小平理论" in [t.text for t in zh_nlp.make_doc(DENG)], "premise: jieba keeps 邓小平理论 whole"
    docs, report = samples_to_docs(zh_nlp, [Sample(DENG, [(4, 7, "PER")], "mem", 1)])
    (doc,) = docs
    assert doc.text == DENG
    assert ents(doc) == [(4, 7, "PER")]
    assert doc.ents[0].text == "邓小平"
    assert "邓小平" in [t.text for t in doc] and "理论" in [t.text for t in doc]
    assert report.entities_crossing_tokens == 1
    assert report.tokens_split >= 1
    assert (report.docs, report.entities, report.labels) == (1, 1, {"PER": 1})


def test_every_span_of_a_sentence_lands(zh_nlp):
    """Brute force: any single entity, wherever its edges fall, ends up in doc.ents."""
    text = "我们学习邓小平理论和中美关系"
    samples = [
        Sample(text, [(start, end, "E")], "mem", 1)
        for start in range(len(text))
        for end in range(start + 1, len(text) + 1)
    ]
    docs, report = samples_to_docs(zh_nlp, samples)
    assert len(docs) == len(samples)
    for doc, sample in zip(docs, samples):
        assert doc.text == text
        assert ents(doc) == sample.entities
    assert report.entities == len(samples)
    assert report.entities_crossing_tokens > 0


def test_several_crossing_entities_in_one_sentence(zh_nlp):
    text = "我们学习邓小平理论和中美关系"
    entities = [(4, 7, "PER"), (10, 11, "GPE"), (11, 12, "GPE")]  # 邓小平, 中, 美
    docs, report = samples_to_docs(zh_nlp, [Sample(text, entities, "mem", 1)])
    assert ents(docs[0]) == entities
    assert [e.text for e in docs[0].ents] == ["邓小平", "中", "美"]
    naive = zh_nlp.make_doc(text)
    assert report.entities_crossing_tokens == sum(naive.char_span(s, e) is None for s, e, _ in entities)
    assert report.entities_crossing_tokens >= 2


def test_entity_inside_an_english_token(en_nlp):
    docs, report = samples_to_docs(en_nlp, [Sample("I love NewYorkCity .", [(10, 14, "LOC")], "mem", 1)])
    assert ents(docs[0]) == [(10, 14, "LOC")]
    assert docs[0].ents[0].text == "York"
    assert (report.entities_crossing_tokens, report.tokens_split) == (1, 1)


def test_whitespace_edges_are_trimmed_and_counted(en_nlp):
    docs, report = samples_to_docs(en_nlp, [Sample("in Paris  now", [(3, 10, "LOC")], "f.txt", 7)])
    assert ents(docs[0]) == [(3, 8, "LOC")]
    assert report.entities_trimmed == 1
    with pytest.raises(CorpusFormatError, match=re.escape("f.txt:7: entity LOC at 8-10 is only whitespace")):
        samples_to_docs(en_nlp, [Sample("in Paris  now", [(8, 10, "LOC")], "f.txt", 7)])


@pytest.mark.parametrize(
    "entities,problem",
    [
        ([(0, 3, "A"), (2, 5, "B")], "overlapping entities"),
        ([(0, 3, "A"), (0, 3, "A")], "overlapping entities"),
        ([(0, 99, "A")], "invalid entity"),
        ([(3, 3, "A")], "invalid entity"),
        ([(0, 3, "")], "invalid entity"),
    ],
)
def test_bad_entities_raise_with_source_and_line(en_nlp, entities, problem):
    with pytest.raises(CorpusFormatError, match=re.escape(f"corpus.txt:42: {problem}")):
        samples_to_docs(en_nlp, [Sample("abcdef ghi", entities, "corpus.txt", 42)])


# -- convert ---------------------------------------------------------------------------


def test_convert_writes_a_docbin_that_loads_back(tmp_path, zh_nlp):
    path = char_file(
        tmp_path,
        [tagged(DENG, "O O O O B-PER I-PER I-PER O O O"), tagged("北京欢迎你", "B-LOC I-LOC O O O")],
        name="deng.bio",
    )
    out = tmp_path / "nested" / "deng.spacy"
    report = convert(path, out, zh_nlp, fmt="bio", progress=False)
    assert isinstance(report, ConversionReport)
    docs = list(DocBin().from_disk(out).get_docs(zh_nlp.vocab))
    assert [doc.text for doc in docs] == [DENG, "北京欢迎你"]
    assert [ents(doc) for doc in docs] == [[(4, 7, "PER")], [(0, 2, "LOC")]]
    assert "理论" in [t.text for t in docs[0]]
    assert (report.docs, report.entities, report.entities_crossing_tokens) == (2, 2, 1)
    assert report.tokens_split >= 1
    assert report.seconds > 0
    as_dict = report.to_dict()
    assert json.loads(json.dumps(as_dict, ensure_ascii=False))["labels"] == {"PER": 1, "LOC": 1}
    summary = report.summary()
    assert "\n" not in summary and "2 docs" in summary and "1 crossed" in summary


@pytest.mark.parametrize("fmt", ["char", "bmes"])
def test_convert_char_formats_agree(tmp_path, zh_nlp, fmt):
    path = char_file(tmp_path, [tagged("邓小平理论", "B-PER M-PER E-PER O O")])
    report = convert(path, tmp_path / "o.spacy", zh_nlp, fmt=fmt, progress=False)
    (doc,) = DocBin().from_disk(tmp_path / "o.spacy").get_docs(zh_nlp.vocab)
    assert ents(doc) == [(0, 3, "PER")]
    assert report.entities_crossing_tokens == 1


def test_convert_conll_with_progress_bar(tmp_path, en_nlp, capsys):
    path = write(tmp_path, "w.conll", "New\tB-LOC\nYork\tI-LOC\nrocks\tO\n\nhi\tO\n")
    report = convert(path, tmp_path / "w.spacy", en_nlp, fmt="conll", progress=True)
    docs = list(DocBin().from_disk(tmp_path / "w.spacy").get_docs(en_nlp.vocab))
    assert [ents(doc) for doc in docs] == [[(0, 8, "LOC")], []]
    assert (report.docs, report.entities, report.entities_crossing_tokens, report.tokens_split) == (
        2,
        1,
        0,
        0,
    )
    assert "5/5" in capsys.readouterr().err


def test_read_samples_dispatch(tmp_path):
    path = write(tmp_path, "z.conll", "北京\tB-LOC\n好\tO\n")
    (sample,) = read_samples(path, "conll", joiner="")
    assert (sample.text, sample.entities) == ("北京好", [(0, 2, "LOC")])


def test_import_and_reading_stay_light(tmp_path):
    """spaCy itself imports torch (thinc.compat), so heavy packages are blocked
    outright, as in test_entry_points: reading a corpus must not need them."""
    path = write(tmp_path, "w.conll", "New\tB-LOC\nYork\tI-LOC\n")
    code = import_blocker("torch", "transformers", "jieba", "jieba_next", "spacy_transformers") + f"""
from spacy_ft.corpora import read_conll
print([s.entities for s in read_conll({str(path)!r})])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[[(0, 8, 'LOC')]]"


def test_convert_command_reports_and_keeps_crossing_entities(tmp_path):
    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    text = "他研究邓小平理论"
    tags = ["O", "O", "O", "B-PER", "I-PER", "I-PER", "O", "O"]
    source = tmp_path / "train.char.bio"
    source.write_text("".join(f"{c} {t}\n" for c, t in zip(text, tags)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["convert", str(source), str(tmp_path / "train.spacy")])
    assert result.exit_code == 0, result.output
    assert "train.char.bio" in result.output and "Saved 1 docs" in result.output
    nlp = spacy.blank("zh")
    (doc,) = DocBin().from_disk(tmp_path / "train.spacy").get_docs(nlp.vocab)
    assert [(e.text, e.start_char, e.end_char) for e in doc.ents] == [("邓小平", 3, 6)]
    bad = tmp_path / "bad.bio"
    bad.write_text("他 O\n研究\n", encoding="utf-8")
    failed = CliRunner().invoke(app, ["convert", str(bad), str(tmp_path / "bad.spacy")])
    assert failed.exit_code == 1 and "bad.bio:2" in " ".join(failed.output.split())


# -- CLUENER, JSONL, CSV/TSV ------------------------------------------------------------

CLUENER_TEXT = "浙商银行企业信贷部叶老桂博士则从另一个角度"


def jsonl(tmp_path: Path, name: str, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return write(tmp_path, name, "\n".join(lines) + "\n")


def test_cluener_end_is_inclusive(tmp_path):
    labels = {"name": {"叶老桂": [[9, 11]]}, "company": {"浙商银行": [[0, 3]]}}
    path = jsonl(tmp_path, "c.json", [{"text": CLUENER_TEXT, "label": labels}, "", {"text": "无标注"}])
    first, second = read_samples(path, "cluener")
    assert first.entities == [(0, 4, "company"), (9, 12, "name")]
    assert [first.text[s:e] for s, e, _ in first.entities] == ["浙商银行", "叶老桂"]
    assert (second.text, second.entities, second.line) == ("无标注", [], 3)
    assert (first.line, first.source, first.cats) == (1, str(path), {})


def test_cluener_repeated_mention_gives_one_entity_per_position(tmp_path):
    text = "北京和北京"
    path = jsonl(tmp_path, "c.json", [{"text": text, "label": {"address": {"北京": [[0, 1], [3, 4]]}}}])
    (sample,) = read_cluener(path)
    assert sample.entities == [(0, 2, "address"), (3, 5, "address")]


CLUENER_BAD = [
    ({"text": CLUENER_TEXT, "label": {"name": {"叶老桂": [[9, 12]]}}}, "reads '叶老桂博'"),
    ({"text": CLUENER_TEXT, "label": {"name": {"叶老桂": [[10, 12]]}}}, "(end inclusive)"),
    ({"text": CLUENER_TEXT, "label": {"name": {"叶老桂": [9, 11]}}}, "expected [start, end], got 9"),
    ({"text": CLUENER_TEXT, "label": {"name": ["叶老桂"]}}, "expected {mention: [[start, end], ...]}"),
    ({"text": CLUENER_TEXT, "label": ["name"]}, '"label" must map types to mentions'),
    ({"text": "", "label": {}}, '"text" must be a non-empty string'),
    ({"label": {}}, '"text" must be a non-empty string'),
    ('{"text": "a", ', "invalid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
]


@pytest.mark.parametrize("record,problem", CLUENER_BAD)
def test_malformed_cluener_names_file_and_line(tmp_path, record, problem):
    path = jsonl(tmp_path, "bad.json", [{"text": "好"}, record])
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:2: ")) as info:
        list(read_cluener(path))
    assert problem in str(info.value)


def test_jsonl_spans_in_every_form(tmp_path):
    path = jsonl(
        tmp_path,
        "s.jsonl",
        [
            {"text": "John lives in Paris", "entities": [[0, 4, "PER"], [14, 19, "LOC"]]},
            {
                "text": "张三在北京",
                "spans": [
                    {"start": 3, "end": 5, "label": "LOC", "text": "北京", "token_start": 2},
                    {"start": 0, "end": 2, "label": "PER"},
                ],
            },
            {"text": "no entities here", "cats": {"POS": 1, "NEG": 0.0}},
        ],
    )
    samples = list(read_jsonl(path))
    assert samples[0].entities == [(0, 4, "PER"), (14, 19, "LOC")]
    assert sorted(samples[1].entities) == [(0, 2, "PER"), (3, 5, "LOC")]
    assert samples[2].entities == [] and samples[2].cats == {"POS": 1.0, "NEG": 0.0}
    assert [s.line for s in samples] == [1, 2, 3]


def test_jsonl_named_labels_get_every_label_of_the_file(tmp_path):
    path = jsonl(
        tmp_path,
        "l.jsonl",
        [{"text": "好看", "label": "POS"}, {"text": "难看", "label": "NEG"}, {"text": "一般", "label": 2}],
    )
    assert [s.cats for s in read_jsonl(path)] == [
        {"POS": 1.0, "NEG": 0.0, "2": 0.0},
        {"POS": 0.0, "NEG": 1.0, "2": 0.0},
        {"POS": 0.0, "NEG": 0.0, "2": 1.0},
    ]
    multi = jsonl(tmp_path, "m.jsonl", [{"text": "a", "labels": ["A", "B"]}, {"text": "b", "labels": []}])
    assert [s.cats for s in read_jsonl(multi)] == [{"A": 1.0, "B": 1.0}, {"A": 0.0, "B": 0.0}]
    numeric = jsonl(tmp_path, "n.jsonl", [{"text": "a", "label": "1"}, {"text": "b", "label": "0"}])
    (pos, neg) = read_samples(numeric, "jsonl", label_map={"0": "NEG", "1": "POS"})
    assert (pos.cats, neg.cats) == ({"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0})


JSONL_BAD = [
    ({"text": "ab", "entities": [[0, 1, "X"]], "spans": []}, 'give "entities" or "spans", not both'),
    ({"text": "ab", "entities": [[0, 1]]}, "expected [start, end, label]"),
    ({"text": "ab", "entities": [["0", 1, "X"]]}, "expected [start, end, label]"),
    ({"text": "ab", "spans": [{"start": 0, "end": 1, "label": "X", "text": "b"}]}, "reads 'a'"),
    ({"text": "ab", "entities": "0-1 X"}, "entities must be a list"),
    ({"text": "ab", "cats": {"POS": 2}}, '"cats" must map labels to numbers in [0, 1]'),
    ({"text": "ab", "cats": {"POS": 1}, "label": "POS"}, "give one of cats, label, labels"),
    ({"text": "ab", "label": {"name": {}}}, "(CLUENER files: --format cluener)"),
    ({"text": "ab", "label": "Z"}, "label 'Z' is not in the label map (0, 1)"),
    ({"text": "   "}, '"text" must be a non-empty string'),
]


@pytest.mark.parametrize("record,problem", JSONL_BAD)
def test_malformed_jsonl_names_file_and_line(tmp_path, record, problem):
    path = jsonl(tmp_path, "bad.jsonl", [{"text": "ok", "label": "0"}, "", record])
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:3: ")) as info:
        list(read_jsonl(path, label_map={"0": "NEG", "1": "POS"}))
    assert problem in str(info.value)


def test_csv_exclusive_labels_stay_strings(tmp_path):
    path = write(tmp_path, "r.csv", 'id,review,label\n1,"great, really\ngreat",1\n\n2,terrible,0\n3,很好,1\n')
    samples = list(read_samples(path, "csv"))
    assert [s.text for s in samples] == ["great, really\ngreat", "terrible", "很好"]
    assert [s.cats for s in samples] == [{"1": 1.0, "0": 0.0}, {"1": 0.0, "0": 1.0}, {"1": 1.0, "0": 0.0}]
    assert [s.line for s in samples] == [2, 5, 6]
    assert all(s.entities == [] for s in samples)
    mapped = read_samples(path, "csv", label_map=parse_label_map("0=NEG, 1=POS"))
    assert [s.cats for s in mapped] == [
        {"POS": 1.0, "NEG": 0.0},
        {"POS": 0.0, "NEG": 1.0},
        {"POS": 1.0, "NEG": 0.0},
    ]


def test_tsv_multi_label_and_named_columns(tmp_path):
    path = write(tmp_path, "t.tsv", "sentence\tlabels\n体育和美食\tSPORT|FOOD\n只有美食\tFOOD\n\ufeff")
    samples = list(read_samples(path, "tsv"))
    assert [s.cats for s in samples] == [{"SPORT": 1.0, "FOOD": 1.0}, {"SPORT": 0.0, "FOOD": 1.0}]
    custom = write(tmp_path, "c.tsv", "Category\tContent\nA;B\tx y\nB\tz\n")
    samples = list(read_table(custom, "\t", text_column="content", label_column="CATEGORY", label_sep=";"))
    assert [(s.text, s.cats) for s in samples] == [("x y", {"A": 1.0, "B": 1.0}), ("z", {"A": 0.0, "B": 1.0})]


def test_unquoted_tsv_keeps_bare_quotes_as_text(tmp_path):
    # ChnSentiCorp-style rows: a quote opens a field but never closes on that line.
    text = 'label\ttext_a\n1\t"好"酒店，服务一般\n0\t他说"不要再来了\n1\t正常\n'
    path = write(tmp_path, "reviews.tsv", text)
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:2: bad TSV row")) as info:
        list(read_samples(path, "tsv"))
    assert "--no-quoting" in str(info.value)
    samples = list(read_samples(path, "tsv", quoting=False))
    assert [(s.text, s.line, s.cats["1"]) for s in samples] == [
        ('"好"酒店，服务一般', 2, 1.0),
        ('他说"不要再来了', 3, 0.0),
        ("正常", 4, 1.0),
    ]


def test_convert_command_reads_unquoted_tsv(tmp_path):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    source = write(tmp_path, "reviews.tsv", 'label\ttext_a\n1\t"好"吧\n0\t差\n')
    out = tmp_path / "reviews.spacy"
    failed = CliRunner().invoke(app, ["convert", str(source), str(out), "-f", "tsv"])
    assert failed.exit_code == 1 and "--no-quoting" in " ".join(failed.output.split())
    result = CliRunner().invoke(
        app, ["convert", str(source), str(out), "-f", "tsv", "--no-quoting", "--label-map", "0=NEG,1=POS"]
    )
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("zh").vocab))
    assert [(doc.text, doc.cats["POS"]) for doc in docs] == [('"好"吧', 1.0), ("差", 0.0)]
    wrong = CliRunner().invoke(app, ["convert", str(source), str(out), "-f", "jsonl", "--no-quoting"])
    assert wrong.exit_code != 0 and "--format jsonl takes no --quoting" in wrong.output


CSV_BAD = [
    ("text,label\nok,A\n,B\n", {}, 3, "empty text in column 'text'"),
    ("text,label\nok,A\n  ,B\n", {}, 3, "empty text in column 'text'"),
    ("text,label\nok,A\nfine,\n", {}, 3, "missing label in column 'label'"),
    ("text,label\nok,A\nfine,A|\n", {}, 3, "empty label in 'A|'"),
    ("text,label\nok,A\nfine, really,A\n", {}, 3, "expected 2 columns as in the header, got 3"),
    ("text,label\nok,A\nfine\n", {}, 3, "expected 2 columns as in the header, got 1"),
    ("body,label\nok,A\n", {}, 1, "no text column one of text, sentence, text_a, review"),
    ("text,label\nok,A\n", {"label_column": "y"}, 1, "no label column 'y'"),
    ("text,label\nok,0\nbad,7\n", {"label_map": {"0": "NEG"}}, 3, "label '7' is not in the label map (0)"),
    ("", {}, 1, "expected a header row"),
    ('text,label\nok,A\n"unclosed,A\n', {}, 3, "bad CSV"),
]


@pytest.mark.parametrize("text,kwargs,lineno,problem", CSV_BAD)
def test_malformed_csv_names_file_and_line(tmp_path, text, kwargs, lineno, problem):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(CorpusFormatError, match=re.escape(f"{path}:{lineno}: ")) as info:
        list(read_samples(path, "csv", **kwargs))
    assert problem in str(info.value)


def test_options_a_format_does_not_take_are_errors(tmp_path):
    path = write(tmp_path, "c.txt", "甲 O\n")
    with pytest.raises(ValueError, match="format 'conll' takes no option label_map"):
        read_samples(path, "conll", label_map={})
    with pytest.raises(ValueError, match="format 'jsonl' takes no option text_column"):
        read_samples(path, "jsonl", text_column="x")
    with pytest.raises(ValueError, match="'0:NEG'"):
        parse_label_map("0:NEG")


def docbin_round_trip(nlp, tmp_path, path, fmt, **options):
    out = tmp_path / (path.name + ".spacy")
    report = convert(path, out, nlp, fmt=fmt, progress=False, **options)
    docs = list(DocBin().from_disk(out).get_docs(nlp.vocab))
    return report, docs


@pytest.mark.parametrize("fmt", ["cluener", "jsonl"])
def test_json_formats_round_trip_and_keep_crossing_entities(tmp_path, zh_nlp, fmt):
    """jieba keeps 中美 as one token: an entity on 中 alone must still be kept."""
    text = "中美两国很重要"
    assert "中美" in [t.text for t in zh_nlp.make_doc(text)], "premise: jieba keeps 中美 whole"
    if fmt == "cluener":
        records = [{"text": text, "label": {"gpe": {"中": [[0, 0]]}}}, {"text": CLUENER_TEXT}]
    else:
        records = [
            {"text": text, "entities": [[0, 1, "gpe"]], "label": "POL"},
            {"text": CLUENER_TEXT, "label": "ECO"},
        ]
    path = jsonl(tmp_path, f"zh.{fmt}", records)
    report, docs = docbin_round_trip(zh_nlp, tmp_path, path, fmt)
    assert [doc.text for doc in docs] == [text, CLUENER_TEXT]
    assert [ents(doc) for doc in docs] == [[(0, 1, "gpe")], []]
    assert (report.docs, report.entities, report.entities_crossing_tokens) == (2, 1, 1)
    assert report.labels == {"gpe": 1}
    if fmt == "jsonl":
        assert [doc.cats for doc in docs] == [{"POL": 1.0, "ECO": 0.0}, {"POL": 0.0, "ECO": 1.0}]
        assert report.cats == {"POL": 1, "ECO": 1}


def test_csv_round_trip_gives_identical_cats(tmp_path, en_nlp):
    path = write(tmp_path, "r.csv", "text,label\ngood film,1\nbad film,0\nfunny and sad,0|1\n")
    report, docs = docbin_round_trip(en_nlp, tmp_path, path, "csv", label_map={"0": "NEG", "1": "POS"})
    assert [doc.text for doc in docs] == ["good film", "bad film", "funny and sad"]
    assert [doc.cats for doc in docs] == [
        {"POS": 1.0, "NEG": 0.0},
        {"POS": 0.0, "NEG": 1.0},
        {"POS": 1.0, "NEG": 1.0},
    ]
    assert (report.docs, report.entities, report.cats) == (3, 0, {"POS": 2, "NEG": 2})
    assert "cats {" in report.summary()


def test_progress_bar_follows_record_lines(tmp_path, en_nlp, capsys):
    path = write(tmp_path, "t.tsv", "text\tlabel\na\tX\n\nb\tY\n")
    convert(path, tmp_path / "t.spacy", en_nlp, fmt="tsv", progress=True)
    assert "4/4" in capsys.readouterr().err


def test_convert_command_csv_and_jsonl(tmp_path):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    source = write(tmp_path, "reviews.csv", "text,label\ngood,1\nbad,0\n")
    out = tmp_path / "reviews.spacy"
    result = CliRunner().invoke(
        app, ["convert", str(source), str(out), "-f", "csv", "--lang", "en", "--label-map", "0=NEG,1=POS"]
    )
    assert result.exit_code == 0, result.output
    assert "2 docs" in result.output and "docs per class: " in result.output and "POS 1" in result.output
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert [doc.cats for doc in docs] == [{"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0}]

    spans = jsonl(tmp_path, "zh.jsonl", [{"text": "中美两国", "entities": [[0, 1, "GPE"], [1, 2, "GPE"]]}])
    result = CliRunner().invoke(app, ["convert", str(spans), str(tmp_path / "zh.spacy"), "-f", "jsonl"])
    assert result.exit_code == 0, result.output
    assert "2 entities in 1 labels; 2 crossed" in result.output and "entity labels: GPE 2" in result.output

    wrong = CliRunner().invoke(
        app, ["convert", str(spans), str(tmp_path / "x.spacy"), "-f", "jsonl", "--text-column", "t"]
    )
    assert wrong.exit_code != 0 and "--format jsonl takes no --text-column" in wrong.output
    bad_map = CliRunner().invoke(app, ["convert", str(source), str(out), "-f", "csv", "--label-map", "0"])
    assert bad_map.exit_code != 0 and "--label-map" in bad_map.output
    empty = write(tmp_path, "empty.csv", "text,label\n,POS\n")
    failed = CliRunner().invoke(
        app, ["convert", str(empty), str(tmp_path / "e.spacy"), "-f", "csv", "--lang", "en"]
    )
    assert failed.exit_code == 1 and "empty.csv:2: empty text" in " ".join(failed.output.split())
