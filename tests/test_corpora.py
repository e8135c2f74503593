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
    CorpusFormatError,
    Sample,
    convert,
    decode_tags,
    detect_scheme,
    read_char_tagged,
    read_conll,
    read_samples,
    samples_to_docs,
)


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
    code = f"""
import importlib.abc, sys
HEAVY = {{"torch", "transformers", "jieba", "jieba_next", "spacy_transformers"}}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError("blocked heavy import: " + name)
sys.meta_path.insert(0, Block())
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
    assert failed.exit_code != 0 and "bad.bio:2" in str(failed.exception)
