"""``spacy_ft_bias``: spans and summaries, the counterfactual check against a stand-in
classifier whose flips are known, group thresholds, serialization, errors,
n_process, and counterfactual augmentation (function and CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Iterator

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.util import minibatch
from typer.testing import CliRunner

from spacy_ft.bias.augment import augment_docs
from spacy_ft.bias.terms import TermList, TermListError
from spacy_ft.cli import app
from tests.util import make_zh

STAND_IN = "test_bias_stand_in_textcat"
#: Sizes of the batches the stand-in classifier saw, in order (reset per test).
BATCHES: list[int] = []


@Language.factory(STAND_IN, assigns=["doc.cats"])
def make_stand_in(nlp: Language, name: str) -> "FemaleWordClassifier":
    return FemaleWordClassifier()


class FemaleWordClassifier:
    """POS = 1 exactly when the text says 她 / she: every gender swap flips it."""

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            BATCHES.append(len(batch))
            for doc in batch:
                female = "她" in doc.text or any(t.lower_ == "she" for t in doc)
                doc.cats = {"POS": float(female), "NEG": 1.0 - float(female)}
            yield from batch


@pytest.fixture(autouse=True)
def reset_batches():
    BATCHES.clear()


def bias_pipeline(lang: str = "zh", **config) -> Language:
    nlp = make_zh() if lang == "zh" else spacy.blank(lang)
    nlp.add_pipe(STAND_IN)
    nlp.add_pipe("spacy_ft_bias", config=config)
    return nlp


@pytest.fixture(scope="module")
def zh_bias() -> Language:
    nlp = make_zh()
    nlp.add_pipe("spacy_ft_bias")
    return nlp


def spans(doc: Doc, key: str = "bias_terms") -> list[tuple[str, str]]:
    return [(span.text, span.label_) for span in doc.spans[key]]


# -- mentions ---------------------------------------------------------------------


def test_chinese_spans_labels_and_summary(zh_bias):
    doc = zh_bias("他们说其他人弹吉他，她是张伟的女儿，汉族人")
    assert spans(doc) == [("他们", "male"), ("她", "female"), ("张伟", "male"), ("女儿", "female"), ("汉族人", "han")]
    group = doc.spans["bias_terms"]
    assert group.attrs["attributes"] == ["gender", "gender", "gender_names", "gender", "ethnicity"]
    assert group.attrs["chars"][1] == [10, 11]
    assert doc._.bias == {"gender": ["female", "male"], "gender_names": ["male"], "ethnicity": ["han"]}
    assert doc._.bias_counts["gender"] == {"male": 1, "female": 2}
    assert doc._.bias_flip is None and doc._.bias_decision is None


def test_term_inside_a_jieba_token_keeps_exact_chars(zh_bias):
    doc = zh_bias("他说的")
    group = doc.spans["bias_terms"]
    start, end = group.attrs["chars"][0]
    assert doc.text[start:end] == "他" and group[0].start_char <= start and group[0].end_char >= end


def test_english_spans_and_attribute_filter():
    nlp = spacy.blank("en")
    nlp.add_pipe("spacy_ft_bias", config={"attributes": ["gender", "religion"], "spans_key": "protected"})
    doc = nlp("He met Greg at the mosque with his mother.")
    assert spans(doc, "protected") == [("He", "male"), ("mosque", "muslim"), ("his", "male"), ("mother", "female")]
    assert doc._.bias == {"gender": ["female", "male"], "religion": ["muslim"]}


def test_neutral_and_empty_docs(zh_bias):
    for text in ("", "今天天气很好"):
        doc = zh_bias(text)
        assert spans(doc) == [] and doc._.bias == {}


# -- counterfactual check ------------------------------------------------------------


def test_counterfactual_flip_is_found_and_neutral_docs_are_not():
    nlp = bias_pipeline(counterfactual=True)
    female, male, age, neutral = nlp.pipe(["她很好", "他很好", "年轻人很好", "今天天气很好"])
    assert female._.bias_flip is True and female._.bias_max_delta == 1.0
    assert female._.bias_counterfactuals == [
        {"attribute": "gender", "group": "male", "text": "他很好", "max_delta": 1.0, "flip": True}
    ]
    assert male._.bias_flip is True and male._.bias_max_delta == 1.0
    assert age._.bias_flip is False and age._.bias_max_delta == 0.0
    assert age._.bias_counterfactuals[0]["text"] == "老年人很好"
    assert neutral._.bias_flip is False and neutral._.bias_max_delta == 0.0
    assert neutral._.bias_counterfactuals == []
    assert female.cats == {"POS": 1.0, "NEG": 0.0}  # the original's cats are untouched


def test_counterfactual_english():
    nlp = bias_pipeline("en", counterfactual=True, attributes=["gender"])
    doc = nlp("She is a nurse")
    assert doc._.bias_flip is True and doc._.bias_counterfactuals[0]["text"] == "He is a nurse"


def test_counterfactual_runs_the_classifier_in_batches():
    nlp = bias_pipeline(counterfactual=True, batch_size=64)
    texts = ["她很好"] * 10 + ["今天天气很好"] * 5
    docs = list(nlp.pipe(texts, batch_size=64))
    assert all(doc._.bias_flip for doc in docs[:10])
    assert BATCHES == [15, 10]  # the docs, then all ten variants in one call
    BATCHES.clear()
    list(nlp.pipe(texts, batch_size=8))
    assert BATCHES == [8, 8, 7, 2]  # 8 docs, their 8 variants; 7 docs, their 2 variants


def test_counterfactual_disables_later_components():
    nlp = bias_pipeline(counterfactual=True)
    seen: list[str] = []

    @Language.component("test_bias_after_probe")
    def probe(doc: Doc) -> Doc:
        seen.append(doc.text)
        return doc

    nlp.add_pipe("test_bias_after_probe")
    nlp("她很好")
    assert seen == ["她很好"]


def test_counterfactual_with_n_process_2():
    nlp = bias_pipeline(counterfactual=True)
    texts = ["她很好", "今天天气很好", "他们来了"] * 3
    docs = list(nlp.pipe(texts, n_process=2, batch_size=3))
    assert [doc._.bias_flip for doc in docs] == [True, False, True] * 3


# -- per-group thresholds ---------------------------------------------------------


def decided(nlp: Language, text: str, pos: float) -> Doc:
    doc = nlp.make_doc(text)
    doc.cats = {"POS": pos, "NEG": 1.0 - pos}
    return nlp.get_pipe("spacy_ft_bias")(doc)


def test_group_thresholds_decide_without_rewriting_cats():
    nlp = make_zh()
    nlp.add_pipe(
        "spacy_ft_bias",
        config={"group_thresholds": {"gender": {"female": 0.9, "male": 0.1}}, "positive_label": "POS"},
    )
    assert decided(nlp, "她很好", 0.6)._.bias_decision == "NEG"
    assert decided(nlp, "他很好", 0.2)._.bias_decision == "POS"
    assert decided(nlp, "他和她", 0.6)._.bias_decision == "POS"  # mixed: 0.5
    assert decided(nlp, "今天", 0.4)._.bias_decision == "NEG"  # no group: 0.5
    assert decided(nlp, "她很好", 0.6).cats == {"POS": 0.6, "NEG": 0.4}


def test_set_group_thresholds_and_its_errors():
    nlp = make_zh()
    bias = nlp.add_pipe("spacy_ft_bias")
    bias.set_group_thresholds("age", {"old": 0.7}, "POS")
    assert decided(nlp, "老年人", 0.6)._.bias_decision == "NEG"
    assert decided(nlp, "年轻人", 0.6)._.bias_decision == "POS"  # group without a threshold: 0.5
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*group_thresholds.*'nation'"):
        bias.set_group_thresholds("nation", {"a": 0.5}, "POS")
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*group_thresholds.*'age'.*'ancient'"):
        bias.set_group_thresholds("age", {"ancient": 0.5}, "POS")
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*within \[0, 1\].*1.5"):
        bias.set_group_thresholds("age", {"old": 1.5}, "POS")
    with pytest.raises(ValueError, match=r"\[b2\] group_thresholds.*positive_label, got None"):
        nlp.add_pipe("spacy_ft_bias", name="b2", config={"group_thresholds": {"age": {"old": 0.5}}})
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*positive_label.*'GOOD'"):
        bias.set_group_thresholds("age", {"old": 0.5}, "GOOD")
        decided(nlp, "老年人", 0.6)


# -- serialization ---------------------------------------------------------------


def user_terms(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {"lang": "zh", "attributes": {"disability": {"groups": ["disabled", "abled"], "swaps": [["残疾人", "健全人"]]}}}
        ),
        encoding="utf-8",
    )
    return path


def test_round_trip_without_the_user_term_file(tmp_path):
    terms_file = user_terms(tmp_path / "my_terms.json")
    nlp = bias_pipeline(counterfactual=True, extra_term_lists=[str(terms_file)])
    nlp.get_pipe("spacy_ft_bias").set_group_thresholds("disability", {"disabled": 0.8}, "POS")
    expected = spans(nlp("残疾人和她"))
    nlp.to_disk(tmp_path / "pipeline")
    terms_file.unlink()
    loaded = spacy.load(tmp_path / "pipeline")
    doc = loaded("残疾人和她")
    assert spans(doc) == expected == [("残疾人", "disabled"), ("她", "female")]
    assert doc._.bias_flip is True
    assert loaded.get_pipe("spacy_ft_bias").cfg == {
        "group_thresholds": {"disability": {"disabled": 0.8}},
        "positive_label": "POS",
    }
    assert decided(loaded, "残疾人", 0.7)._.bias_decision == "NEG"


def test_bytes_round_trip(tmp_path):
    nlp = make_zh()
    bias = nlp.add_pipe("spacy_ft_bias", config={"extra_term_lists": [str(user_terms(tmp_path / "t.json"))]})
    bias.set_group_thresholds("gender", {"female": 0.3}, "POS")
    other = make_zh().add_pipe("spacy_ft_bias")
    # what must travel: the user's term list and the thresholds, which a fresh component lacks
    assert "disability" in bias.terms.to_dict()["attributes"] and bias.cfg["group_thresholds"]
    assert "disability" not in other.terms.to_dict()["attributes"] and other.cfg != bias.cfg
    other.from_bytes(bias.to_bytes())
    assert other.terms.to_dict() == bias.terms.to_dict() and other.cfg == bias.cfg


def test_missing_user_term_file_is_named_at_first_use(tmp_path):
    nlp = make_zh()
    nlp.add_pipe("spacy_ft_bias", config={"extra_term_lists": [str(tmp_path / "gone.json")]})
    with pytest.raises(TermListError, match="gone.json"):
        nlp("他")


# -- errors -------------------------------------------------------------------------


def test_errors_name_component_setting_and_value():
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*attributes.*'caste'"):
        make_zh().add_pipe("spacy_ft_bias", config={"attributes": ["gender", "caste"]})
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*classifier.*'textcat'"):
        bias_pipeline(counterfactual=True, classifier="textcat")
    nlp = make_zh()
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*counterfactual=True.*classifier=None"):
        nlp.add_pipe("spacy_ft_bias", config={"counterfactual": True})
    with pytest.raises(ValueError, match=r"spacy_ft_bias.*lang_terms.*'de'"):
        spacy.blank("de").add_pipe("spacy_ft_bias")


def test_classifier_disabled_after_creation_is_an_error():
    nlp = bias_pipeline(counterfactual=True)
    nlp.disable_pipe(STAND_IN)
    with pytest.raises(ValueError, match=rf"spacy_ft_bias.*classifier|{STAND_IN}"):
        nlp("她")


# -- n_process ----------------------------------------------------------------------


@pytest.mark.parametrize("n_process", [1, 2])
def test_n_process(zh_bias, n_process):
    texts = ["他们说她来了", "", " ", "今天天气很好", "张伟是汉族人"] * 2
    docs = list(zh_bias.pipe(texts, n_process=n_process, batch_size=3))
    assert len(docs) == len(texts) and any(spans(doc) for doc in docs)
    assert [spans(doc) for doc in docs] == [spans(zh_bias(text)) for text in texts]
    assert [doc._.bias for doc in docs] == [zh_bias(text)._.bias for text in texts]


# -- augmentation ----------------------------------------------------------------


def training_docs(nlp: Language) -> list[Doc]:
    rows = [
        ("张伟说她在北京工作", [(0, 2, "PER"), (5, 7, "LOC")], {"POS": 1.0, "NEG": 0.0}),
        ("他的儿子住在上海", [(6, 8, "LOC")], {"POS": 0.0, "NEG": 1.0}),
        ("北方人很好客", [(0, 2, "LOC")], {"POS": 1.0, "NEG": 0.0}),
    ]
    docs = []
    for text, ents, cats in rows:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(s, e, label=label) for s, e, label in ents]
        doc.cats = cats
        doc.user_data["weight"] = 2.0
        docs.append(doc)
    return docs


def ents(doc: Doc) -> list[tuple[str, str]]:
    return [(ent.text, ent.label_) for ent in doc.ents]


def test_augment_adds_copies_with_entities_and_cats():
    nlp = make_zh()
    docs = training_docs(nlp)[:2]
    out, report = augment_docs(docs, TermList.builtin("zh"), nlp, attributes=["gender", "gender_names"])
    assert len(out) == 4 and report.copies == 2 and report.docs_out == 4
    assert [doc.text for doc in out] == ["张伟说她在北京工作", "张芳说他在北京工作", "他的儿子住在上海", "她的女儿住在上海"]
    assert ents(out[1]) == [("张芳", "PER"), ("北京", "LOC")] and ents(out[3]) == [("上海", "LOC")]
    assert out[1].cats == docs[0].cats and out[3].user_data["weight"] == 2.0
    assert report.terms_swapped == {"gender": 3, "gender_names": 1} and report.entities_kept == 3


def test_augment_replace_and_entity_edges_are_reported():
    nlp = make_zh()
    out, report = augment_docs(training_docs(nlp), TermList.builtin("zh"), nlp, mode="replace", seed=1)
    assert len(out) == 3 and out[0].text == "张芳说他在北京工作"
    assert out[2].text == "北方人很好客" and ents(out[2]) == [("北方", "LOC")]  # 北方 inside 北方人: kept
    assert report.terms_at_entity_edges == 1 and "北方人" in report.examples_at_entity_edges[0]
    assert "1 terms left unswapped at entity edges" in report.summary()
    with pytest.raises(ValueError, match=r"augment.*mode.*'double'"):
        augment_docs([], TermList.builtin("zh"), nlp, mode="double")
    with pytest.raises(ValueError, match=r"augment.*attributes.*'caste'"):
        augment_docs([], TermList.builtin("zh"), nlp, attributes=["caste"])


def test_augment_cli(tmp_path):
    nlp = make_zh()
    DocBin(docs=training_docs(nlp), store_user_data=True).to_disk(tmp_path / "train.spacy")
    result = CliRunner().invoke(
        app,
        ["augment", str(tmp_path / "train.spacy"), str(tmp_path / "aug.spacy"), "--lang", "zh",
         "--attributes", "gender,gender_names", "--mode", "add"],
    )
    assert result.exit_code == 0, result.output
    assert "3 docs in" in result.output and "2 copies written" in result.output
    out = list(DocBin().from_disk(tmp_path / "aug.spacy").get_docs(nlp.vocab))
    assert len(out) == 5 and ents(out[1]) == [("张芳", "PER"), ("北京", "LOC")]
    assert out[1].cats == {"POS": 1.0, "NEG": 0.0} and out[1].user_data["weight"] == 2.0
    bad = CliRunner().invoke(app, ["augment", str(tmp_path / "train.spacy"), str(tmp_path / "x.spacy"), "--attributes", "caste"])
    assert bad.exit_code != 0 and "caste" in bad.output


def test_component_module_is_light():
    """spaCy imports it for every pipeline (torch comes with spaCy itself and is
    checked in test_entry_points); the audit's and converters' imports stay out."""
    code = (
        "import sys, spacy_ft.bias.component; print(sorted(m for m in "
        "('jieba', 'fairlearn', 'matplotlib', 'spacy_ft.corpora', 'spacy_ft.bias.augment') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
