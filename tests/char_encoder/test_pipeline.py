"""``spacy_ft_char_encoder`` in a pipeline: the NER and classifier heads listen to it,
the lexicon comes from the tokenizer's dictionary, and everything round-trips."""

from __future__ import annotations

import random

import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import Adam

from spacy_ft.char_encoder.model import get_lexicon

WIDTH = 64
LISTENER = {"@architectures": "spacy_ft.CharEncoderListener.v1", "width": WIDTH}
#: Entities and distractors are three characters of one pool: character identity
#: cannot tell them apart, only the dictionary can.
POOL = list("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥")
PREFIXES = ["今天", "我们看到", "听说", "昨天", "他说"]
ENDINGS = ["来了。", "很好。", "在这里。", "不错。"]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The BiLSTM/CNN backward passes thrash with two threads on a busy 2-core machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    found: set[str] = set()
    while len(found) < n:
        found.add("".join(rng.choice(POOL) for _ in range(3)))
    result = sorted(found)
    rng.shuffle(result)
    return result


WORDS = words(140, seed=0)
TRAIN_ENTITIES, DEV_ENTITIES, DISTRACTORS = WORDS[:50], WORDS[50:90], WORDS[90:]


def corpus(entities: list[str], n: int, seed: int) -> list[tuple[str, list[tuple[int, int, str]]]]:
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        text, spans = rng.choice(PREFIXES), []
        for _ in range(rng.randint(1, 2)):
            if rng.random() < 0.6:
                word = rng.choice(entities)
                spans.append((len(text), len(text) + len(word), "ENT"))
            else:
                word = rng.choice(DISTRACTORS)
            text += word + rng.choice(["和", "与"])
        data.append((text + rng.choice(ENDINGS), spans))
    return data


def build(lexicon: bool = True, textcat: bool = False, encoder: str = "cnn") -> spacy.Language:
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
    nlp.tokenizer.add_words([(word, 1000, None) for word in TRAIN_ENTITIES + DEV_ENTITIES])
    model = {"@architectures": "spacy_ft.CharLexiconEncoder.v2", "width": WIDTH, "depth": 2, "embed_size": 5000}
    nlp.add_pipe("spacy_ft_char_encoder", config={"model": {**model, "lexicon": lexicon, "encoder": encoder}})
    ner = {"@architectures": "spacy_ft.CharTokenClassifier.v1", "tok2vec": LISTENER}
    nlp.add_pipe("spacy_ft_ner", config={"model": ner})
    if textcat:
        nlp.add_pipe("spacy_ft_textcat", config={"model": {"@architectures": "spacy_ft.CharClassifier.v1", "tok2vec": LISTENER}})
    return nlp


def examples(nlp: spacy.Language, data, cats: bool = False) -> list[Example]:
    result = []
    for text, spans in data:
        reference = Doc(nlp.vocab, words=list(text), spaces=[False] * len(text))
        reference.ents = [reference.char_span(start, end, label=label) for start, end, label in spans]
        if cats:  # a learnable class: is there an entity?
            reference.cats = {"ENT": float(bool(spans)), "NONE": float(not spans)}
        result.append(Example(nlp.make_doc(text), reference))
    return result


def train(nlp: spacy.Language, train_examples: list[Example], steps: int = 150) -> spacy.Language:
    fix_random_seed(0)
    rng = random.Random(0)
    nlp.initialize(lambda: train_examples)
    optimizer = Adam(2e-3)
    for _ in range(steps):
        nlp.update(rng.sample(train_examples, 16), sgd=optimizer)
    return nlp


@pytest.fixture(scope="module")
def trained() -> spacy.Language:
    nlp = build(textcat=True)
    return train(nlp, examples(nlp, corpus(TRAIN_ENTITIES, 300, seed=1), cats=True))


def test_unseen_user_dictionary_words_are_found_with_the_lexicon_only():
    """Dev entities never occur in training; only the user dictionary knows them."""
    scores = {}
    for lexicon in (True, False):
        nlp = build(lexicon=lexicon)
        train(nlp, examples(nlp, corpus(TRAIN_ENTITIES, 300, seed=1)))
        dev = examples(nlp, corpus(DEV_ENTITIES, 150, seed=2))
        assert sum(len(eg.reference.ents) for eg in dev) > 100
        scores[lexicon] = nlp.evaluate(dev)["ents_f"]
    assert scores[True] >= 0.95, scores
    assert scores[False] <= 0.75, scores


def test_lexicon_is_the_tokenizers_dictionary_and_follows_it(trained):
    lexicon = get_lexicon(trained.get_pipe("spacy_ft_char_encoder").model)
    assert DEV_ENTITIES[0] in lexicon and "北京" in lexicon  # a user word and a jieba word
    assert lexicon.freq(DEV_ENTITIES[0]) == 1000
    trained.tokenizer.add_words([("亥子丑寅卯", 500, None)])
    assert "亥子丑寅卯" not in lexicon
    trained("今天亥子丑寅卯来了。")
    assert "亥子丑寅卯" in lexicon and lexicon.freq("亥子丑寅卯") == 500


def test_round_trip_gives_identical_entities_and_cats(trained, tmp_path):
    texts = [text for text, _ in corpus(DEV_ENTITIES, 30, seed=3)]
    before = [(doc.ents, doc.cats) for doc in trained.pipe(texts)]
    assert sum(len(ents) for ents, _ in before) > 20 and all(cats for _, cats in before)
    trained.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    after = list(loaded.pipe(texts))
    assert len(after) == len(before)
    for (ents, cats), doc in zip(before, after):
        assert [(e.start_char, e.end_char, e.label_) for e in ents] == [
            (e.start_char, e.end_char, e.label_) for e in doc.ents
        ]
        assert doc.cats == pytest.approx(cats, abs=1e-6)
    assert get_lexicon(loaded.get_pipe("spacy_ft_char_encoder").model).freq(DEV_ENTITIES[0]) == 1000


def test_classifier_learns_on_the_encoder(trained):
    dev = examples(trained, corpus(DEV_ENTITIES, 100, seed=4), cats=True)
    assert trained.evaluate(dev)["cats_score"] >= 0.9


def test_empty_whitespace_and_long_docs(trained):
    long_text = "今天" + "甲乙丙和" * 2500
    docs = list(trained.pipe(["", "   ", "\n", long_text]))
    assert len(docs) == 4
    assert [len(doc.ents) for doc in docs[:3]] == [0, 0, 0]
    assert docs[3]._.char_tensor.shape == (len(long_text), WIDTH)
    assert docs[0].cats and set(docs[3].cats) == {"ENT", "NONE"}


def test_n_process_2_gives_the_same_entities(trained):
    texts = [text for text, _ in corpus(DEV_ENTITIES, 12, seed=5)]
    one = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in trained.pipe(texts)]
    two = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in trained.pipe(texts, n_process=2)]
    assert len(one) == len(two) == len(texts) and sum(map(len, one)) > 0
    assert one == two


def test_bilstm_encoder_trains_and_predicts():
    nlp = build(encoder="bilstm")
    train(nlp, examples(nlp, corpus(TRAIN_ENTITIES, 200, seed=1)), steps=60)
    dev = examples(nlp, corpus(TRAIN_ENTITIES, 50, seed=6))
    assert nlp.evaluate(dev)["ents_f"] >= 0.8


def test_head_on_token_vectors_is_a_clear_error():
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
    nlp.add_pipe("tok2vec")
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": 96}
    nlp.add_pipe("spacy_ft_ner", config={"model": {"@architectures": "spacy_ft.CharTokenClassifier.v1", "tok2vec": listener}})
    data = examples(nlp, corpus(TRAIN_ENTITIES, 8, seed=1))
    with pytest.raises(ValueError, match="one row per character"):
        nlp.initialize(lambda: data)
        nlp.update(data)
