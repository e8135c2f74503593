"""spacy_ft_ner over character units (spacy_ft.TokenClassifier.v2): entity edges
inside multi-character SentencePiece pieces, as XLM-R / multilingual-e5 make them.

The transformer is a tiny random BERT behind an XLM-R-style Unigram tokenizer
(``▁`` marker, ``Metaspace``) written here, whose vocabulary has multi-character
Chinese pieces: 张伟队 and 北京站 are single pieces, so the PER 张伟 and the LOC
北京 end inside a piece, and the pieces 的上 + 海站 cross jieba's 的|上海站.
"""

import random

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import fix_random_seed

from spacy_ft.ner.units import doc_units
from spacy_ft.transformer.alignment import piece_spans, rows_by_window
from tests.util import JIEBA, WINDOW, char_reference, train_ner

PERSONS = ["张伟", "李娜", "王芳", "刘洋"]
PLACES = ["北京", "上海", "广州", "深圳"]
SUFFIXES = ["队", "站", "路"]
PREFIXES = ["今天", "我们", "听说", "昨天"]
JOINERS = ["和", "与", "的"]
ENDINGS = ["很热闹。", "开始了。", "不错。"]
ENGLISH = ["John", "lives", "in", "Paris", "Big", "wok"]


def corpus(n, seed):
    """n texts of one or two sentences (the second has no ▁ before its first word)."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        text, entities = "", []
        for _ in range(rng.randint(1, 2)):
            text += rng.choice(PREFIXES)
            for k in range(rng.randint(1, 2)):
                text += rng.choice(JOINERS) if k else ""
                label, name = (
                    ("PER", rng.choice(PERSONS)) if rng.random() < 0.5 else ("LOC", rng.choice(PLACES))
                )
                entities.append((len(text), len(text) + len(name), label))
                text += name + (rng.choice(SUFFIXES) if rng.random() < 0.8 else "")
            text += rng.choice(ENDINGS)
        data.append((text, entities))
    return data


def glued_words():
    return [name + suffix for name in PERSONS + PLACES for suffix in SUFFIXES]


def vocabulary():
    """(piece, Unigram score): a multi-character piece beats its characters."""
    texts = [t for t, _ in corpus(500, 0)] + ["我爱Bigwok。", " ".join(ENGLISH)]
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    pieces = {"▁": -5.0}
    pieces.update({"▁" + w: -3.0 for w in PREFIXES + ENGLISH})
    pieces.update({w: -3.0 for w in PREFIXES + PERSONS + PLACES + glued_words() + ENGLISH})
    pieces.update({"的上": -1.0, "海站": -1.0})  # 的上海站 -> 的上 + 海站, across 的|上海站
    pieces.update({c: -8.0 for c in chars if c not in pieces})
    return list(pieces.items())


def write_tiny_xlmr(path):
    """A random BertModel (hidden 32, 2 layers) with an XLM-R-style fast tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from spacy_ft.encoders.e5_tokenizer import build_fast_tokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    vocab = [(s, 0.0) for s in specials] + vocabulary()
    backend = build_fast_tokenizer(
        [p for p, _ in vocab],
        numpy.array([s for _, s in vocab]),
        unk=3,
        bos=0,
        eos=2,
        pad=1,
        normalization={0x3000: (0x20,)},
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=128,
        model_input_names=["input_ids", "attention_mask"],
    )
    tokenizer.save_pretrained(str(path))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=1,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(path))
    return str(path)


@pytest.fixture(scope="module")
def xlmr_path(tmp_path_factory):
    return write_tiny_xlmr(tmp_path_factory.mktemp("tiny_xlmr"))


def build(path, character_units="cjk", architecture="spacy_ft.TokenClassifier.v2", crf=True):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words(glued_words())
    transformer = {"@architectures": "spacy_ft.TransformerModel.v1", "name": path, "get_spans": WINDOW}
    nlp.add_pipe("transformer", config={"model": transformer})
    listener = {"@architectures": "spacy_ft.TransformerDataListener.v1", "upstream": "*"}
    model = {"@architectures": architecture, "crf": crf, "tok2vec": listener}
    if architecture.endswith("v2"):
        model["character_units"] = character_units
    nlp.add_pipe("spacy_ft_ner", config={"model": model})
    return nlp


def examples(nlp, data):
    return [Example(nlp.make_doc(text), char_reference(text, entities)) for text, entities in data]


@pytest.fixture(scope="module")
def trained(xlmr_path):
    nlp = build(xlmr_path)
    return train_ner(nlp, examples(nlp, corpus(300, seed=1)))


def units_of(nlp, text, mode, make_doc=None):
    doc = nlp.get_pipe("transformer")((make_doc or nlp.make_doc)(text))  # units are made before any split
    return doc, doc_units(doc, doc._.trf_data, mode)


def spans(units):
    return list(zip(units.starts, units.ends))


def unrepresentable(nlp, data, mode):
    bad = 0
    for text, entities in data:
        _, units = units_of(nlp, text, mode)
        bad += sum(s not in units.starts or e not in units.ends for s, e, _ in entities)
    return bad


def test_entity_edges_inside_pieces_are_learned(trained):
    dev = corpus(100, seed=2)
    assert unrepresentable(trained, dev, "none") > 0.5 * sum(map(len, (e for _, e in dev)))
    assert unrepresentable(trained, dev, "cjk") == 0
    scores = trained.evaluate(examples(trained, dev))
    assert scores["ents_f"] >= 0.95, scores
    assert set(scores["ents_per_type"]) == {"PER", "LOC"}
    model = trained.get_pipe("spacy_ft_ner").model
    assert numpy.abs(model.get_ref("position_embed").get_param("E")).max() > 0  # trained from zero
    assert numpy.abs(model.get_ref("character_embed").get_param("E")).max() > 0
    doc = trained("今天张伟队和北京站开始了。")
    assert [(e.text, e.label_) for e in doc.ents] == [("张伟", "PER"), ("北京", "LOC")]
    assert len(doc._.trf_data.align.lengths) == len(doc)  # split tokens keep their alignment


def test_round_trip_gives_identical_entities_and_scores(trained, tmp_path):
    texts = [t for t, _ in corpus(20, seed=3)]
    expected = [(doc.ents, doc.spans["ents_scored"].attrs["scores"]) for doc in trained.pipe(texts)]
    assert sum(len(ents) for ents, _ in expected) > 10
    trained.to_disk(tmp_path / "ner")
    loaded = spacy.load(tmp_path / "ner")
    assert loaded.get_pipe("spacy_ft_ner").model.has_ref("character_embed")
    docs = list(loaded.pipe(texts))
    for doc, (ents, scores) in zip(docs, expected):
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [
            (e.start_char, e.end_char, e.label_) for e in ents
        ]
        # to float noise: Hugging Face builds the trained model with SDPA attention
        # (from_pretrained) and the loaded one with eager attention (from_config)
        numpy.testing.assert_allclose(doc.spans["ents_scored"].attrs["scores"], scores, rtol=1e-4)


def test_empty_whitespace_and_long_docs(trained):
    long_text = "".join(t for t, _ in corpus(300, seed=4))[:6000]
    empty, space, long_doc = trained.pipe(["", "  \n ", long_text])
    assert len(empty) == 0 and list(empty.ents) == []
    assert space.text == "  \n " and list(space.ents) == []
    assert long_doc.text == long_text
    names = sum(long_text.count(name) for name in PERSONS + PLACES)
    # found across all windows, not just the first (fewer than all: a window starting
    # mid-sentence is a context the tiny model never saw in training)
    assert len(long_doc.ents) > 0.75 * names
    assert all(e.text in (PERSONS + PLACES) for e in long_doc.ents)


def test_a_piece_of_three_characters_is_three_units(trained):
    doc, units = units_of(trained, "北京站开始了。", "cjk")
    pieces = doc._.trf_data.wordpieces.strings[0]
    assert "北京站" in pieces and doc[0].text == "北京站"
    first = [u for u, t in enumerate(units.token_index) if t == 0]
    assert [spans(units)[u] for u in first] == [(0, 1), (1, 2), (2, 3)]
    assert [units.positions[u] for u in first] == [0, 1, 2]
    assert [units.characters[u] for u in first] == [ord(c) for c in "北京站"]
    assert units.rows[first[0]] == units.rows[first[1]] == units.rows[first[2]]
    row = units.rows[first[0]][0]
    assert (
        pieces[row % doc._.trf_data.wordpieces.input_ids.shape[1]] == "北京站"
    )  # the piece, not the ▁ before it
    # whole pieces: one unit for the token
    _, none = units_of(trained, "北京站开始了。", "none")
    assert [(s, e) for s, e, t in zip(none.starts, none.ends, none.token_index) if t == 0] == [(0, 3)]


def test_pieces_crossing_jieba_tokens(trained):
    text = "今天张伟的上海站开始了。"
    doc, units = units_of(trained, text, "cjk")
    assert {"的上", "海站"} <= set(doc._.trf_data.wordpieces.strings[0])
    assert [t.text for t in doc][:4] == ["今天", "张伟", "的", "上海站"]
    by_span = dict(zip(spans(units), zip(units.positions, map(tuple, units.rows))))
    de, shang, hai, zhan = (by_span[(i, i + 1)] for i in range(4, 8))
    assert [de[0], shang[0], hai[0], zhan[0]] == [0, 1, 0, 1]  # 的上 | 海站, across the token edge
    assert de[1] == shang[1] and hai[1] == zhan[1] != de[1]
    assert spans(units) == [(i, i + 1) for i in range(len(text))]


def test_latin_pieces_split_only_with_all(trained):
    doc, cjk = units_of(trained, "我爱Bigwok。", "cjk")
    assert [t.text for t in doc] == ["我", "爱", "Bigwok", "。"]
    assert (2, 5) in spans(cjk) and (5, 8) in spans(cjk)  # "Big" + "wok": whole pieces
    _, every = units_of(trained, "我爱Bigwok。", "all")
    latin = [u for u, t in enumerate(every.token_index) if t == 2]
    assert [spans(every)[u] for u in latin] == [(i, i + 1) for i in range(2, 8)]
    assert [every.positions[u] for u in latin] == [0, 1, 2, 0, 1, 2]


def test_english_text_is_not_split_by_cjk(trained):
    english = spacy.blank("en")
    text = "John lives in Paris Bigwok"
    doc, cjk = units_of(trained, text, "cjk", english.make_doc)
    _, none = units_of(trained, text, "none", english.make_doc)
    assert spans(cjk) == spans(none) and cjk.rows == none.rows
    assert set(cjk.positions) == {-1} and not cjk.has_characters
    assert [text[s:e] for s, e in spans(cjk)] == ["John", "lives", "in", "Paris", "Big", "wok"]


def old_doc_units(doc, trf_data):
    """spacy_ft.ner.units.doc_units before character units (as of 99d095d)."""
    length = trf_data.model_output.last_hidden_state.shape[1]
    flat_rows = [int(r) for r in trf_data.align.dataXd.ravel()]
    out, offset = [], 0
    for token, n_rows in zip(doc, trf_data.align.lengths):
        rows = flat_rows[offset : offset + int(n_rows)]
        offset += int(n_rows)
        windows = list(rows_by_window(rows, length).values())
        first = windows[0] if windows else []
        found = None
        if first and all(len(w) == len(first) for w in windows):
            strings = trf_data.wordpieces.strings[first[0] // length]
            found = piece_spans(token.text, [strings[row % length] for row in first])
        if found is None:
            out.append((token.idx, token.idx + len(token), token.i, rows))
            continue
        for j, (a, b) in enumerate(found):
            out.append((token.idx + a, token.idx + b, token.i, [w[j] for w in windows]))
    return out


def test_none_is_todays_units_and_model(trained, xlmr_path):
    for text, _ in corpus(30, seed=5) + [("今天张伟的上海站开始了。", [])]:
        doc, units = units_of(trained, text, "none")
        assert list(zip(units.starts, units.ends, units.token_index, units.rows)) == old_doc_units(
            doc, doc._.trf_data
        )
        assert set(units.positions) == {-1}
    # v2 with "none" is v1's network: same layers, same outputs from the same initialization
    texts = [t for t, _ in corpus(8, seed=6)]
    outputs = []
    for architecture, mode in (
        ("spacy_ft.TokenClassifier.v1", None),
        ("spacy_ft.TokenClassifier.v2", "none"),
    ):
        nlp = build(xlmr_path, mode, architecture)
        fix_random_seed(0)
        nlp.initialize(lambda nlp=nlp: examples(nlp, corpus(4, seed=7)))
        model = nlp.get_pipe("spacy_ft_ner").model
        assert not model.has_ref("position_embed") and not model.has_ref("character_embed")
        docs = [nlp.get_pipe("transformer")(nlp.make_doc(t)) for t in texts]
        outputs.append(model.predict(docs))
    for (units_1, logits_1), (units_2, logits_2) in zip(*outputs):
        assert spans(units_1) == spans(units_2)
        numpy.testing.assert_array_equal(logits_1, logits_2)


def test_unknown_setting_is_an_error(xlmr_path):
    with pytest.raises(ValueError, match=r"spacy_ft_ner.*character_units 'chars'.*none, cjk, all"):
        build(xlmr_path, "chars")
