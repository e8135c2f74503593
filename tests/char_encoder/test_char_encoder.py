"""The SoftLexicon character encoder: matching, weights, gradients, shapes, serialization."""

from __future__ import annotations

from typing import Dict, Iterator, List, Set

import numpy as np
import pytest
import spacy
from spacy.tokenizer import Tokenizer
from spacy.vocab import Vocab
from thinc.api import Config, fix_random_seed

from spacy_ft.char_encoder.lexicon import SET_NAMES, B, E, Lexicon, M, S
from spacy_ft.char_encoder.model import (
    build_char_lexicon_encoder_v1,
    build_char_lexicon_encoder_v2,
    char_features,
    get_lexicon,
    lexicon_pooling,
    set_lexicon,
)

BRIDGE = "南京市长江大桥"
TINY = [
    ("南京", 10),
    ("南京市", 5),
    ("市长", 8),
    ("长江", 20),
    ("大桥", 15),
    ("长江大桥", 3),
    ("江大桥", 2),
    ("京", 1),
    ("桥", 4),
]
# Not from any corpus file: tests must not depend on the benchmark data.
REAL_TEXT = (
    "南京市长江大桥于1968年建成通车，是中华人民共和国成立后自行设计建造的第一座公路铁路两用桥。"
    "酒店的位置很好，服务员态度也不错，就是房间有点小，早餐品种单一。"
    "这款笔记本电脑的键盘手感很好，ThinkPad的质量一向可靠，价格3999元。哈哈哈哈哈！"
)
SMALL = {"width": 16, "depth": 2, "embed_size": 64, "char_width": 4, "word_width": 4}


@pytest.fixture(scope="module")
def tiny() -> Lexicon:
    return Lexicon(TINY)


@pytest.fixture(scope="module")
def jieba_lexicon() -> Lexicon:
    return Lexicon.from_jieba(user_words=["江大桥", ("石墨烯电池", 50)])


@pytest.fixture(scope="module")
def nlp() -> Tokenizer:
    """Only ``doc.text`` matters to the encoder. A bare tokenizer, not ``spacy.blank``: that
    loads every installed ``spacy_factories`` entry point (seconds, and other packages)."""
    return Tokenizer(Vocab())


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The BiLSTM on a long doc is ~100x slower with torch's threads fighting for shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def word_sets(lexicon: Lexicon, text: str) -> List[Dict[str, Set[str]]]:
    matches = lexicon.match(text)
    return [
        {name: {lexicon.words[w] for w in matches.entries(i, k)[0]} for k, name in enumerate(SET_NAMES)}
        for i in range(len(text))
    ]


def brute_force_sets(lexicon: Lexicon, text: str) -> List[Dict[str, Set[str]]]:
    """Every substring looked up: the definition of B/M/E/S, with no cleverness."""
    sets: List[Dict[str, Set[str]]] = [{name: set() for name in SET_NAMES} for _ in text]
    for start in range(len(text)):
        for end in range(start + 1, min(len(text), start + lexicon.max_word_len) + 1):
            word = text[start:end]
            if lexicon.freq(word) <= 0:
                continue
            if end - start == 1:
                sets[start]["S"].add(word)
                continue
            sets[start]["B"].add(word)
            sets[end - 1]["E"].add(word)
            for middle in range(start + 1, end - 1):
                sets[middle]["M"].add(word)
    return sets


def total_loss(outputs: List[np.ndarray], targets: List[np.ndarray]) -> float:
    return float(sum((Y.astype("float64") * R).sum() for Y, R in zip(outputs, targets)))


# -- lexicon matching ----------------------------------------------------------------------


def test_tiny_lexicon_sets_by_hand(tiny: Lexicon) -> None:
    expected = [
        {"B": {"南京", "南京市"}, "M": set(), "E": set(), "S": set()},
        {"B": set(), "M": {"南京市"}, "E": {"南京"}, "S": {"京"}},
        {"B": {"市长"}, "M": set(), "E": {"南京市"}, "S": set()},
        {"B": {"长江", "长江大桥"}, "M": set(), "E": {"市长"}, "S": set()},
        {"B": {"江大桥"}, "M": {"长江大桥"}, "E": {"长江"}, "S": set()},
        {"B": {"大桥"}, "M": {"长江大桥", "江大桥"}, "E": set(), "S": set()},
        {"B": set(), "M": set(), "E": {"大桥", "长江大桥", "江大桥"}, "S": {"桥"}},
    ]
    assert word_sets(tiny, BRIDGE) == expected


def test_weights_follow_softlexicon_formula(tiny: Lexicon) -> None:
    matches = tiny.match(BRIDGE)
    # 江: Z = freq(江大桥) + freq(长江大桥) + freq(长江) = 2 + 3 + 20 = 25; weight = 4 * freq / Z.
    for word_set, word, expected in [(B, "江大桥", 8 / 25), (M, "长江大桥", 12 / 25), (E, "长江", 80 / 25)]:
        ids, weights = matches.entries(4, word_set)
        assert ids.tolist() == [tiny.get_id(word)]
        assert weights[0] == pytest.approx(expected, rel=1e-6)
    # 桥: Z = 15 + 3 + 2 + 4 = 24.
    ids, weights = matches.entries(6, E)
    got = dict(zip((tiny.words[i] for i in ids), weights.tolist()))
    assert got == pytest.approx({"大桥": 60 / 24, "长江大桥": 12 / 24, "江大桥": 8 / 24}, rel=1e-6)
    assert matches.entries(6, S)[1].tolist() == pytest.approx([16 / 24])
    # Weights of a matched character sum to 4 over its four sets; unmatched rows are empty.
    per_char = np.bincount(matches.chars, weights=matches.weights, minlength=len(BRIDGE))
    np.testing.assert_allclose(per_char, 4.0, rtol=1e-6)
    rows = matches.rows
    assert np.all(np.diff(rows) >= 0)
    assert matches.row_lengths().sum() == len(matches)


def test_sets_hold_word_types_and_z_sums_over_the_four_sets() -> None:
    lexicon = Lexicon([("哈", 5), ("哈哈", 3), ("哈哈哈哈", 2)])
    matches = lexicon.match("哈哈哈哈哈")
    # Character 2 is in the middle of 哈哈哈哈 from both starts 0 and 1: counted once. 哈哈 is
    # both B (2..3) and E (1..2) of it, and counts in each: Z = 3 + 2 + 3 + 5 = 13.
    expected = {
        B: [("哈哈", 12 / 13)],
        M: [("哈哈哈哈", 8 / 13)],
        E: [("哈哈", 12 / 13)],
        S: [("哈", 20 / 13)],
    }
    for word_set, pairs in expected.items():
        ids, weights = matches.entries(2, word_set)
        assert [lexicon.words[i] for i in ids] == [word for word, _ in pairs]
        assert weights.tolist() == pytest.approx([weight for _, weight in pairs], rel=1e-6)


def test_matches_never_cross_texts(tiny: Lexicon) -> None:
    lexicon = Lexicon(TINY + [("京市", 7)])
    batch = lexicon.match_many(["南京", "市长", "", "长江"])
    assert batch.n_chars == 6
    pairs = {(int(c), lexicon.words[w]) for c, w in zip(batch.chars, batch.words)}
    assert (1, "京市") not in pairs and (2, "京市") not in pairs
    assert {(0, "南京"), (1, "南京"), (2, "市长"), (3, "市长"), (4, "长江"), (5, "长江")} <= pairs
    single = [lexicon.match(text) for text in ["南京", "市长", "", "长江"]]
    assert len(batch) == sum(len(m) for m in single)


def test_real_dictionary_equals_brute_force(jieba_lexicon: Lexicon) -> None:
    assert len(jieba_lexicon) > 340_000
    sets = word_sets(jieba_lexicon, REAL_TEXT)
    assert sets == brute_force_sets(jieba_lexicon, REAL_TEXT)
    bridge = word_sets(jieba_lexicon, BRIDGE)
    assert {"南京", "南京市"} <= bridge[0]["B"]
    assert {"长江", "长江大桥"} <= bridge[3]["B"] and "市长" in bridge[3]["E"]
    assert "长江大桥" in bridge[6]["E"] and "桥" in bridge[6]["S"]
    assert "中华人民共和国" in word_sets(jieba_lexicon, "中华人民共和国")[0]["B"]


def test_whitespace_and_unusual_characters_are_unmatched_rows(jieba_lexicon: Lexicon) -> None:
    text = "  \n南京\t😀\ud800x "
    matches = jieba_lexicon.match(text)
    assert matches.n_chars == len(text)
    assert set(matches.chars.tolist()) <= {3, 4}
    assert jieba_lexicon.match("").n_chars == 0 and len(jieba_lexicon.match("")) == 0


# -- user words and frequencies ------------------------------------------------------------


def test_user_words_follow_jieba_add_word(jieba_lexicon: Lexicon) -> None:
    import jieba

    user_words = ["江大桥", ("南京市长", 50), "石墨烯科技", ("长江大桥", 0)]
    lexicon = Lexicon.from_jieba(user_words=user_words)
    reference = jieba.Tokenizer()
    for word, *freq in [(w,) if isinstance(w, str) else w for w in user_words]:
        reference.add_word(word, *freq)
    for word in ["江大桥", "南京市长", "石墨烯科技", "长江大桥", "长江"]:
        assert lexicon.freq(word) == reference.FREQ[word], word
    assert lexicon.total == reference.total
    sets = word_sets(lexicon, BRIDGE)
    assert {"南京市长", "南京市", "南京"} <= sets[0]["B"]
    assert "江大桥" in sets[4]["B"]
    assert "长江大桥" not in sets[3]["B"]  # frequency 0 deletes, as in jieba
    # The fixture's explicit-frequency user word is matched with that frequency.
    assert jieba_lexicon.freq("石墨烯电池") == 50
    assert "石墨烯电池" in word_sets(jieba_lexicon, "新型石墨烯电池")[2]["B"]


def test_added_word_keeps_ids_and_is_matched(tiny: Lexicon) -> None:
    lexicon = Lexicon(TINY)
    before = list(lexicon.words)
    word_id = lexicon.add_word("京市长", 9)
    assert lexicon.words[: len(before)] == before and word_id == len(before)
    assert "京市长" in word_sets(lexicon, BRIDGE)[1]["B"]
    with pytest.raises(ValueError):
        lexicon.add_word("南 京", 3)


def test_lexicon_bytes_round_trip(jieba_lexicon: Lexicon) -> None:
    data = jieba_lexicon.to_bytes()
    loaded = Lexicon.from_bytes(data)
    assert loaded == jieba_lexicon
    assert np.array_equal(loaded.keys, jieba_lexicon.keys)
    original, again = jieba_lexicon.match(REAL_TEXT), loaded.match(REAL_TEXT)
    for field in ("chars", "sets", "words", "weights"):
        assert np.array_equal(getattr(original, field), getattr(again, field))
    assert len(data) < 6_000_000


# -- gradients -------------------------------------------------------------------------------


def _to_float64(layer) -> None:
    for node in layer.walk():
        for name in node.param_names:
            if node.has_param(name):
                node.set_param(name, node.get_param(name).astype("float64"))


def _check_table_gradient(
    layer, table, texts, targets, forward, n_entries=8, eps=1e-6, rtol=1e-6, atol=1e-6
) -> None:
    table.set_grad("E", np.zeros_like(table.get_param("E"), dtype="float32"))
    _, backprop = layer.begin_update(texts)
    backprop(targets)
    grad = table.get_grad("E").astype("float64")
    E = table.get_param("E")
    flat = np.argsort(-np.abs(grad).ravel())[:n_entries]
    rng = np.random.RandomState(1)
    flat = np.concatenate([flat, rng.randint(0, E.size, size=4)])  # and some zero-gradient rows
    for index in flat:
        row, col = np.unravel_index(index, E.shape)
        saved = E[row, col]
        E[row, col] = saved + eps
        plus = forward()
        E[row, col] = saved - eps
        minus = forward()
        E[row, col] = saved
        assert grad[row, col] == pytest.approx((plus - minus) / (2 * eps), rel=rtol, abs=atol)


def test_lexicon_pooling_values_and_gradient_float64(tiny: Lexicon) -> None:
    fix_random_seed(0)
    layer = lexicon_pooling(width=3, embed_size=20)
    layer.attrs["lexicon"] = tiny
    layer.initialize()
    _to_float64(layer)
    texts = [BRIDGE, "", "长江 大桥"]
    outputs = layer.predict(texts)
    assert [Y.shape for Y in outputs] == [(7, 20), (0, 20), (5, 20)]  # 4 sets x 3, then 8 presence columns
    assert outputs[0].dtype == np.float64
    # v_s(c) = sum over set s of c of weight * e(word), e from the hashed table.
    (word_embed,) = layer.layers
    vectors = word_embed.predict(tiny.keys.copy())
    matches = tiny.match(BRIDGE)
    for char in range(len(BRIDGE)):
        for word_set in range(4):
            ids, weights = matches.entries(char, word_set)
            expected = (weights.astype("float64")[:, None] * vectors[ids]).sum(axis=0)
            np.testing.assert_allclose(outputs[0][char, 3 * word_set : 3 * word_set + 3], expected, rtol=1e-6)
            # presence: the set's total weight, then log(1 + its number of words)
            assert outputs[0][char, 12 + word_set] == pytest.approx(float(weights.sum()), rel=1e-6)
            assert outputs[0][char, 16 + word_set] == pytest.approx(np.log1p(len(ids)), rel=1e-6)
    assert not outputs[2][2].any()  # the space matches nothing
    rng = np.random.RandomState(0)
    targets = [rng.normal(size=Y.shape) for Y in outputs]
    _check_table_gradient(
        layer, word_embed, texts, targets, lambda: total_loss(layer.predict(texts), targets)
    )


def test_bigram_gradient_float64() -> None:
    fix_random_seed(0)
    layer = char_features(width=3, embed_size=10)
    layer.initialize()
    _to_float64(layer)
    texts = ["南京市", "", "ab a"]  # 'a' twice and shared (prev, next) bigrams: rows collide
    outputs = layer.predict(texts)
    assert [Y.shape for Y in outputs] == [(3, 9), (0, 9), (4, 9)]
    # The right bigram of character i is the left bigram of character i + 1.
    np.testing.assert_array_equal(outputs[0][:-1, 6:9], outputs[0][1:, 3:6])
    rng = np.random.RandomState(0)
    targets = [rng.normal(size=Y.shape) for Y in outputs]
    for table in layer.layers:
        _check_table_gradient(layer, table, texts, targets, lambda: total_loss(layer.predict(texts), targets))


def test_full_model_gradient_reaches_word_table(tiny: Lexicon, nlp: Tokenizer) -> None:
    """End to end through concatenate, Maxout and the CNN (float32: thinc's gemm is float32)."""
    fix_random_seed(0)
    model = build_char_lexicon_encoder_v2(**SMALL)
    set_lexicon(model, tiny)
    dropouts = [node for node in model.walk() if node.name == "dropout"]
    assert any(node.attrs["dropout_rate"] == 0.1 for node in dropouts)  # the features' own
    for node in dropouts:  # finite differences compare against predict(): no random masks
        node.attrs["dropout_rate"] = 0.0
    docs = [nlp(text) for text in [BRIDGE, "长江"]]
    model.initialize(X=docs)
    outputs = model.predict(docs)
    rng = np.random.RandomState(0)
    targets = [rng.normal(size=Y.shape).astype("float32") for Y in outputs]
    word_table = next(node for node in model.walk() if node.name == "lexicon_pooling").layers[0]
    _check_table_gradient(
        model,
        word_table,
        docs,
        targets,
        lambda: total_loss(model.predict(docs), targets),
        n_entries=4,
        eps=1e-4,
        rtol=2e-2,
        atol=0.1,
    )


# -- the model -------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [build_char_lexicon_encoder_v1, build_char_lexicon_encoder_v2])
@pytest.mark.parametrize("encoder", ["cnn", "bilstm"])
def test_one_row_per_character(build, encoder: str, tiny: Lexicon, nlp: Tokenizer) -> None:
    model = build(encoder=encoder, **SMALL)
    set_lexicon(model, tiny)
    rng = np.random.RandomState(0)
    long_text = "".join(rng.choice(list(BRIDGE + "的了 \n,a1"), size=10_000))
    texts = ["", "   ", long_text, "南京市 长江大桥", ""]
    docs = [nlp(text) for text in texts]
    assert [len(doc.text) for doc in docs] == [len(text) for text in texts]
    model.initialize(X=docs[:3])
    outputs, backprop = model.begin_update(docs)
    assert [Y.shape for Y in outputs] == [(len(text), 16) for text in texts]
    assert all(np.isfinite(Y).all() for Y in outputs)
    backprop([np.ones_like(Y) for Y in outputs])
    only_empty, backprop = model.begin_update([nlp("")])
    assert [Y.shape for Y in only_empty] == [(0, 16)]
    backprop(only_empty)
    assert model.predict([]) == []


@pytest.mark.parametrize("encoder", ["cnn", "bilstm"])
def test_rows_do_not_depend_on_the_rest_of_the_batch(encoder: str, tiny: Lexicon, nlp: Tokenizer) -> None:
    """v2's BiLSTM runs over packed sequences: a short doc next to a long one (and an
    empty one) gets the rows it gets alone; v1's padded BiLSTM moved them."""
    model = build_char_lexicon_encoder_v2(encoder=encoder, **SMALL)
    set_lexicon(model, tiny)
    short, long_doc, empty = nlp("南京市长"), nlp(REAL_TEXT * 3), nlp("")
    model.initialize(X=[short, long_doc])
    alone = model.predict([short])[0]
    batched = model.predict([long_doc, empty, short])
    assert batched[2].shape == alone.shape == (len(short.text), 16)
    np.testing.assert_allclose(batched[2], alone, atol=1e-5)
    np.testing.assert_allclose(batched[0], model.predict([long_doc])[0], atol=1e-5)


CONFIG = """
[model]
@architectures = "spacy_ft.CharLexiconEncoder.{version}"
width = 16
depth = 2
embed_size = 64
encoder = "{encoder}"
lexicon = {lexicon}
char_width = 4
word_width = 4
"""


def from_config(encoder: str = "cnn", lexicon: bool = True, version: str = "v2"):
    text = CONFIG.format(encoder=encoder, lexicon=str(lexicon).lower(), version=version)
    return spacy.util.registry.resolve(Config().from_str(text))["model"]


@pytest.mark.parametrize("encoder", ["cnn", "bilstm"])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_serialization_round_trip(encoder: str, version: str, nlp: Tokenizer) -> None:
    lexicon = Lexicon(TINY)
    lexicon.add_word("京市长", 9)
    model = from_config(encoder, version=version)
    set_lexicon(model, lexicon)
    docs = [nlp(text) for text in [BRIDGE, "", "长江 大桥，南京"]]
    model.initialize(X=docs)
    expected = model.predict(docs)
    fresh = from_config(encoder, version=version)
    assert len(get_lexicon(fresh)) == 0
    fresh.from_bytes(model.to_bytes())
    assert get_lexicon(fresh) == lexicon
    for got, want in zip(fresh.predict(docs), expected):
        np.testing.assert_array_equal(got, want)


def test_ablation_ignores_the_lexicon(tiny: Lexicon, nlp: Tokenizer) -> None:
    docs = [nlp(text) for text in [BRIDGE, "长江 大桥"]]
    ablation = from_config(lexicon=False)
    assert set_lexicon(ablation, tiny) == 0 and get_lexicon(ablation) is None
    ablation.initialize(X=docs)
    before = ablation.predict(docs)
    other = Lexicon([("南京", 1), ("长江大桥", 100), ("江", 7)])
    set_lexicon(ablation, other)
    for got, want in zip(ablation.predict(docs), before):
        np.testing.assert_array_equal(got, want)
    # Control: the same change does move the outputs of a lexicon model.
    full = from_config(lexicon=True)
    assert set_lexicon(full, tiny) == 1
    full.initialize(X=docs)
    before = full.predict(docs)
    set_lexicon(full, other)
    assert not np.allclose(full.predict(docs)[0], before[0])
