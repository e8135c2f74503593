"""Term lists: matching (Chinese characters, English words), swaps and entity offsets."""

from __future__ import annotations

import json

import pytest

from spacy_ft.bias.terms import TermList, TermListError, apply_edits, load_term_list


@pytest.fixture(scope="module")
def zh() -> TermList:
    return TermList.builtin("zh")


@pytest.fixture(scope="module")
def en() -> TermList:
    return TermList.builtin("en")


def found(terms: TermList, text: str, attributes=None) -> list[tuple[str, str, str]]:
    return [(m.term, m.attribute, m.group) for m in terms.find(text, attributes)]


def test_builtin_lists_have_gender_and_two_more_attributes(zh, en):
    for terms in (zh, en):
        assert {"gender", "age", "religion"} <= set(terms.attributes)
    assert "region" in zh.attributes and "ethnicity" in zh.attributes
    assert zh.attributes["gender_names"].is_names and en.attributes["ethnicity_names"].is_names


def test_chinese_matches_characters_inside_words(zh):
    assert found(zh, "他们说她来了", ["gender"]) == [("他们", "gender", "male"), ("她", "gender", "female")]


def test_chinese_excluded_words_never_match(zh):
    assert found(zh, "其他人弹吉他", ["gender"]) == []
    assert found(zh, "其他人说他会弹吉他", ["gender"]) == [("他", "gender", "male")]


def test_longest_match_wins(zh, en):
    assert found(zh, "男朋友", ["gender"]) == [("男朋友", "gender", "male")]
    assert found(en, "Mr. Smith", ["gender"]) == [("Mr.", "gender", "male")]


def test_english_whole_words_case_insensitive(en):
    assert found(en, "The Hebrew history of HIS sheep", ["gender"]) == [("HIS", "gender", "male")]
    assert found(en, "She said he", ["gender"]) == [("She", "gender", "female"), ("he", "gender", "male")]


def test_attribute_filter(zh):
    assert [a for _, a, _ in found(zh, "张伟是汉族人，他很年轻")] == ["gender_names", "ethnicity", "gender", "age"]
    assert found(zh, "张伟是汉族人，他很年轻", ["ethnicity"]) == [("汉族人", "ethnicity", "han")]


def test_english_swaps_keep_case(en):
    assert en.counterfactual("He met HIS Father", "gender", "female")[0] == "She met HER Mother"


def test_transposition_both_ways(zh, en):
    assert zh.counterfactual("他和她", "gender", "female")[0] == "她和他"
    assert zh.counterfactual("他和她", "gender", "male")[0] == "她和他"
    assert en.counterfactual("he thanked his wife", "gender", "female")[0] == "she thanked her husband"
    assert en.counterfactual("she thanked her husband", "gender", "male")[0] == "he thanked his wife"


def test_swapping_attributes_together(zh):
    edits = zh.counterfactual_edits("张伟说她", ["gender", "gender_names"], "male")
    assert apply_edits("张伟说她", edits)[0] == "张芳说他"
    with pytest.raises(ValueError, match="same groups"):
        zh.counterfactual_edits("张伟说她", ["gender", "age"], "male")


def test_variants_one_per_other_group(zh):
    variants = zh.variants("他是汉族")
    assert [(a, g) for a, g, _, _ in variants] == [
        ("gender", "female"),
        ("ethnicity", "uyghur"),
        ("ethnicity", "tibetan"),
        ("ethnicity", "hui"),
        ("ethnicity", "mongol"),
        ("ethnicity", "zhuang"),
    ]
    assert [a for a, *_ in zh.variants("他是汉族", attributes=["gender"])] == ["gender"]
    assert zh.variants("他和她") == [("gender", "male", "她和他", [])]
    assert zh.variants("今天天气很好") == []


def test_same_length_name_inside_entity_keeps_offsets(zh):
    text, entities, swapped = zh.counterfactual("昨天张伟说", "gender_names", "female", [(2, 4, "PER"), (0, 2, "DATE")])
    assert (text, swapped) == ("昨天张芳说", 1)
    assert [text[s:e] for s, e, _ in entities] == ["张芳", "昨天"]


def test_longer_name_moves_later_entities(en):
    text = "Greg Smith met him in Paris"
    new, entities, _ = en.counterfactual(text, "ethnicity_names", "african_american", [(0, 10, "PER"), (22, 27, "LOC")])
    assert new == "Jamal Smith met him in Paris"
    assert [(new[s:e], label) for s, e, label in entities] == [("Jamal Smith", "PER"), ("Paris", "LOC")]


def test_entity_edge_inside_a_term_snaps_outward():
    text, entities = apply_edits("北方人很好", [(0, 3, "南方人")], [(0, 2, "LOC")])
    assert (text, entities) == ("南方人很好", [(0, 3, "LOC")])


def test_overlapping_edits_rejected():
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits("abcdef", [(0, 3, "x"), (2, 4, "y")])


def test_malformed_lists_name_file_attribute_and_row(tmp_path):
    bad_row = tmp_path / "bad_row.json"
    bad_row.write_text(json.dumps({"lang": "zh", "attributes": {"gender": {"groups": ["m", "f"], "swaps": [["他", "她"], ["男"]]}}}))
    with pytest.raises(TermListError, match=r"bad_row.json.*'gender'.*row 1"):
        TermList.from_disk(bad_row)
    one_group = tmp_path / "one_group.json"
    one_group.write_text(json.dumps({"lang": "zh", "attributes": {"age": {"groups": ["old"], "swaps": []}}}))
    with pytest.raises(TermListError, match=r"one_group.json.*'age'"):
        TermList.from_disk(one_group)
    broken = tmp_path / "broken.json"
    broken.write_text('{"lang": "zh",\n "attributes": }')
    with pytest.raises(TermListError, match=r"broken.json:2"):
        TermList.from_disk(broken)
    with pytest.raises(TermListError, match="missing.json"):
        TermList.from_disk(tmp_path / "missing.json")
    with pytest.raises(TermListError, match="'xx'"):
        TermList.builtin("xx")


def test_merged_user_list(tmp_path):
    user = tmp_path / "user.json"
    user.write_text(
        json.dumps(
            {
                "lang": "zh",
                "exclude": ["男篮"],
                "attributes": {
                    "gender": {"groups": ["male", "female"], "swaps": [["男教师", "女教师"]]},
                    "disability": {"groups": ["disabled", "abled"], "swaps": [["残疾人", "健全人"]]},
                },
            }
        ),
        encoding="utf-8",
    )
    terms = load_term_list("zh", [user])
    assert found(terms, "男教师帮助残疾人看男篮") == [
        ("男教师", "gender", "male"),
        ("残疾人", "disability", "disabled"),
    ]
    assert TermList.from_dict(terms.to_dict()).to_dict() == terms.to_dict()
    clash = tmp_path / "clash.json"
    clash.write_text(json.dumps({"lang": "zh", "attributes": {"gender": {"groups": ["a", "b"], "swaps": []}}}))
    with pytest.raises(TermListError, match=r"clash.json.*'gender'"):
        load_term_list("zh", [clash])
