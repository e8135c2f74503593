"""spacy_ft_textcat: learning, fine-tuning, serialization, long docs and errors."""

import random

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from tests.classification_data import all_texts, sentiment, topics
from tests.conftest import JIEBA

WINDOW = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24}


@pytest.fixture(scope="module")
def bert_path(tmp_path_factory):
    from spacy_ft.testing import make_tiny_bert

    return str(make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), all_texts()))


def transformer_config(bert_path):
    return {
        "model": {
            "@architectures": "spacy-transformers.TransformerModel.v3",
            "name": bert_path,
            "tokenizer_config": {"use_fast": True},
            "get_spans": WINDOW,
        }
    }


def build(bert_path, lang="en", inline=False, **textcat):
    config = {"nlp": {"tokenizer": JIEBA}} if lang == "zh" else {}
    nlp = spacy.blank(lang, config=config)
    if inline:
        textcat.setdefault("model", {})["tok2vec"] = {
            "@architectures": "spacy_ft.InlineTransformer.v1",
            "name": bert_path,
            "tokenizer_config": {"use_fast": True},
            "get_spans": WINDOW,
        }
    else:
        nlp.add_pipe("transformer", config=transformer_config(bert_path))
    nlp.add_pipe("spacy_ft_textcat", config=textcat)
    return nlp


def examples(nlp, data):
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in data]


def train(nlp, data, steps=100, batch_size=16, seed=0, learn_rate=1e-3):
    fix_random_seed(seed)
    rng = random.Random(seed)
    train_examples = examples(nlp, data)
    optimizer = nlp.initialize(lambda: train_examples)
    optimizer.learn_rate = learn_rate
    for _ in range(steps):
        nlp.update(rng.sample(train_examples, batch_size), sgd=optimizer)
    return nlp


def accuracy(nlp, data):
    docs = nlp.pipe([text for text, _ in data])
    return numpy.mean(
        [max(doc.cats, key=doc.cats.get) == max(c, key=c.get) for doc, (_, c) in zip(docs, data)]
    )


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_learns_separable_task(bert_path, pooling):
    nlp = train(build(bert_path, model={"pooling": pooling}), sentiment(200, seed=1))
    assert accuracy(nlp, sentiment(100, seed=2)) >= 0.95


def test_learns_with_the_from_scratch_recipe(bert_path):
    """configs/zh_cpu.cfg's head: mean pooling, no head dropout, zero output layer."""
    head = {"pooling": "mean", "dropout": 0.0, "output_init": "zero"}
    nlp = build(bert_path, lang="zh", model=head)
    egs = examples(nlp, sentiment(8, seed=4, lang="zh"))
    nlp.initialize(lambda: egs)
    untrained = [list(doc.cats.values()) for doc in nlp.pipe(["很好", "很差的一天"])]
    numpy.testing.assert_allclose(untrained, 0.5)  # a zero output layer starts every class equal
    nlp = train(build(bert_path, lang="zh", model=head), sentiment(200, seed=1, lang="zh"))
    assert accuracy(nlp, sentiment(100, seed=2, lang="zh")) >= 0.95


def test_learns_chinese_from_jieba_docs(bert_path):
    nlp = train(build(bert_path, lang="zh"), sentiment(200, seed=1, lang="zh"))
    assert accuracy(nlp, sentiment(100, seed=2, lang="zh")) >= 0.95


def test_learns_with_inline_transformer(bert_path):
    nlp = train(build(bert_path, inline=True), sentiment(200, seed=1))
    assert nlp.pipe_names == ["spacy_ft_textcat"]
    assert accuracy(nlp, sentiment(100, seed=2)) >= 0.95


def transformer_weights(nlp):
    return [
        p.detach().clone() for p in nlp.get_pipe("transformer").model.layers[0].shims[0]._model.parameters()
    ]


@pytest.mark.parametrize("grad_factor,changes", [(1.0, True), (0.0, False)])
def test_gradients_reach_the_transformer(bert_path, grad_factor, changes):
    nlp = build(bert_path, model={"grad_factor": grad_factor})
    data = sentiment(32, seed=3)
    nlp.initialize(lambda: examples(nlp, data))
    before = transformer_weights(nlp)
    optimizer = Adam(1e-3, L2=0.0)  # no weight decay: only gradients may move weights
    for _ in range(3):
        nlp.update(examples(nlp, data), sgd=optimizer)
    after = transformer_weights(nlp)
    moved = any(not bool((a == b).all()) for a, b in zip(before, after))
    assert moved is changes


def test_scores_use_spacy_names(bert_path):
    nlp = train(build(bert_path), sentiment(200, seed=1))
    scores = nlp.evaluate(examples(nlp, sentiment(60, seed=2)))
    assert scores["cats_score"] >= 0.95
    assert scores["cats_macro_auc"] >= 0.95
    assert set(scores["cats_f_per_type"]) == {"POS", "NEG"}
    assert {"p", "r", "f"} <= set(scores["cats_f_per_type"]["POS"])


def test_multi_label_with_tuned_thresholds(bert_path, tmp_path):
    nlp = train(build(bert_path, multi_label=True), topics(240, seed=1), steps=80)
    textcat = nlp.get_pipe("spacy_ft_textcat")
    dev = examples(nlp, topics(80, seed=2))
    for example, doc in zip(dev, nlp.pipe([eg.reference.text for eg in dev])):
        example.predicted = doc
        assert 0.0 <= min(doc.cats.values()) and max(doc.cats.values()) <= 1.0
    thresholds = textcat.tune_thresholds(dev)
    assert set(thresholds) == {"SPORT", "FOOD"} and all(0 < t < 1 for t in thresholds.values())
    scores = nlp.evaluate(dev)
    assert scores["cats_macro_f"] >= 0.95
    nlp.to_disk(tmp_path / "multi")
    loaded = spacy.load(tmp_path / "multi")
    assert loaded.get_pipe("spacy_ft_textcat").thresholds == textcat.thresholds
    doc = loaded("we ate pizza after the football match")
    assert set(loaded.get_pipe("spacy_ft_textcat").decide(doc)) == {"SPORT", "FOOD"}


def test_identical_probabilities_after_reload(bert_path, tmp_path):
    nlp = train(build(bert_path, model={"pooling": "mean"}), sentiment(100, seed=1), steps=10)
    texts = [text for text, _ in sentiment(20, seed=5)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for doc, cats in zip(loaded.pipe(texts), expected):
        assert doc.cats.keys() == cats.keys()
        numpy.testing.assert_allclose([doc.cats[k] for k in cats], list(cats.values()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_empty_whitespace_and_long_docs(bert_path, pooling):
    nlp = train(build(bert_path, model={"pooling": pooling}), sentiment(64, seed=1), steps=4)
    long_text = " ".join(["the movie was good"] * 2500)[:10_000]
    docs = list(nlp.pipe(["", "   \n ", long_text]))
    for doc in docs:
        assert set(doc.cats) == {"POS", "NEG"}
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(docs[2].text) == 10_000
    assert docs[2]._.trf_data.model_output.last_hidden_state.shape[0] > 50  # many windows


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_class_and_example_weights_scale_the_gradient(bert_path, reduction):
    nlp = build(bert_path, class_weights={"POS": 3.0}, loss_reduction=reduction)
    data = sentiment(8, seed=4)
    nlp.initialize(lambda: examples(nlp, data))
    textcat = nlp.get_pipe("spacy_ft_textcat")
    egs = examples(nlp, data)
    egs[0].reference.user_data["weight"] = 0.0
    egs[1].reference.user_data["weight"] = 2.0
    logits = numpy.zeros((len(egs), 2), dtype="f")
    loss, d_scores = textcat.get_loss(egs, logits)
    batch_divisor = len(egs) if reduction == "mean" else 1
    unweighted = numpy.abs(numpy.full((len(egs), 2), 0.5, dtype="f")) / batch_divisor
    weights = [
        (3.0 if cats["POS"] else 1.0) * {0: 0.0, 1: 2.0}.get(i, 1.0) for i, (_, cats) in enumerate(data)
    ]
    assert loss == pytest.approx(numpy.log(2.0) * sum(weights) / batch_divisor, rel=1e-5)
    for i, expected in enumerate(weights):
        numpy.testing.assert_allclose(numpy.abs(d_scores[i]), unweighted[i] * expected, rtol=1e-5)


@pytest.mark.parametrize(
    "cats,message",
    [
        ({}, "has no doc.cats"),
        ({"POS": 1.0, "NEG": 1.0}, "exactly one label"),
        ({"POS": 1.0, "MAYBE": 0.0}, "'MAYBE'"),
        ({"POS": 2.0, "NEG": 0.0}, r"cats\['POS'\] = 2.0"),
    ],
)
def test_bad_training_cats_give_clear_errors(bert_path, cats, message):
    nlp = build(bert_path)
    good = examples(nlp, sentiment(8, seed=4))
    nlp.initialize(lambda: good)
    bad = Example.from_dict(nlp.make_doc("a bad doc"), {"cats": cats})
    with pytest.raises(ValueError, match=message):
        nlp.update(good[:2] + [bad])


def test_an_unknown_loss_reduction_is_an_error(bert_path):
    with pytest.raises(ValueError, match=r"unknown loss_reduction 'median': choose one of sum, mean"):
        build(bert_path, loss_reduction="median")


def test_no_labels_at_all_is_an_error(bert_path):
    nlp = build(bert_path)
    unlabeled = [Example.from_dict(nlp.make_doc("no labels here"), {})]
    with pytest.raises(ValueError, match=r"spacy_ft_textcat.*no labels"):
        nlp.initialize(lambda: unlabeled)


def test_bad_settings_are_rejected(bert_path):
    with pytest.raises(ValueError, match=r"unknown output_init 'ones'"):
        build(bert_path, model={"output_init": "ones"})
    with pytest.raises(ValueError, match=r"class_weights\['POS'\]"):
        build(bert_path, class_weights={"POS": -1.0})
    nlp = build(bert_path, class_weights={"BOGUS": 2.0})
    with pytest.raises(ValueError, match=r"unknown labels \['BOGUS'\]"):
        nlp.initialize(lambda: examples(nlp, sentiment(8, seed=4)))
    nlp = build(bert_path)
    egs = examples(nlp, sentiment(8, seed=4))
    nlp.initialize(lambda: egs)
    egs[0].reference.user_data["weight"] = "heavy"
    with pytest.raises(ValueError, match=r"example weight user_data\['weight'\]"):
        nlp.update(egs)


def test_tune_thresholds_command(bert_path, tmp_path):
    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    nlp = train(build(bert_path, multi_label=True), topics(160, seed=1), steps=30)
    nlp.to_disk(tmp_path / "model")
    dev = DocBin()
    for text, cats in topics(60, seed=2):
        doc = nlp.make_doc(text)
        doc.cats = cats
        dev.add(doc)
    dev.to_disk(tmp_path / "dev.spacy")
    result = CliRunner().invoke(
        app,
        ["tune-thresholds", str(tmp_path / "model"), str(tmp_path / "dev.spacy"), str(tmp_path / "tuned")],
    )
    assert result.exit_code == 0, result.output
    tuned = spacy.load(tmp_path / "tuned").get_pipe("spacy_ft_textcat")
    assert set(tuned.cfg["thresholds"]) == {"SPORT", "FOOD"}
    assert f"SPORT\t{tuned.cfg['thresholds']['SPORT']:.4f}" in result.output
    missing = CliRunner().invoke(
        app, ["tune-thresholds", str(tmp_path / "model"), "nope.spacy", str(tmp_path / "x")]
    )
    assert missing.exit_code != 0 and "nope.spacy" in str(missing.exception)


def test_n_process_gives_same_cats(bert_path):
    nlp = train(build(bert_path), sentiment(64, seed=1), steps=4)
    texts = [text for text, _ in sentiment(12, seed=6)]
    single = [doc.cats for doc in nlp.pipe(texts)]
    multi = [doc.cats for doc in nlp.pipe(texts, n_process=2, batch_size=4)]
    for a, b in zip(single, multi):
        assert a.keys() == b.keys()
        numpy.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("keep_alignment", [False, True])
def test_trf_cleanup_drops_hidden_states_not_results(bert_path, keep_alignment):
    nlp = train(build(bert_path), sentiment(64, seed=1), steps=4)
    texts = [text for text, _ in sentiment(8, seed=7)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    nlp.add_pipe("spacy_ft_trf_cleanup", config={"keep_alignment": keep_alignment})
    docs = list(nlp.pipe(texts))
    for doc, cats in zip(docs, expected):
        assert doc.cats == pytest.approx(cats)
        assert "last_hidden_state" not in doc._.trf_data.model_output
        assert len(doc._.trf_data.align.lengths) == (len(doc) if keep_alignment else 0)
