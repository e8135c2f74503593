"""spacy_ft_textcat: learning, fine-tuning, serialization, long docs and errors."""

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam

from tests.util import build_textcat, sentiment, textcat_examples, topics, train_textcat


def accuracy(nlp, data):
    docs = list(nlp.pipe([text for text, _ in data]))
    assert len(docs) == len(data) and all(doc.cats for doc in docs)
    return numpy.mean(
        [max(doc.cats, key=doc.cats.get) == max(c, key=c.get) for doc, (_, c) in zip(docs, data)]
    )


@pytest.mark.slow  # 100 training steps
@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_learns_separable_task(textcat_bert, pooling):
    nlp = train_textcat(build_textcat(textcat_bert, model={"pooling": pooling}), sentiment(200, seed=1))
    assert accuracy(nlp, sentiment(100, seed=2)) >= 0.95


@pytest.mark.slow  # 100 training steps
def test_learns_with_the_from_scratch_recipe(textcat_bert):
    """configs/zh_cpu.cfg's head: mean pooling, no head dropout, zero output layer."""
    head = {"pooling": "mean", "dropout": 0.0, "output_init": "zero"}
    nlp = build_textcat(textcat_bert, lang="zh", model=head)
    egs = textcat_examples(nlp, sentiment(8, seed=4, lang="zh"))
    nlp.initialize(lambda: egs)
    untrained = [list(doc.cats.values()) for doc in nlp.pipe(["很好", "很差的一天"])]
    numpy.testing.assert_allclose(untrained, 0.5)  # a zero output layer starts every class equal
    nlp = train_textcat(build_textcat(textcat_bert, lang="zh", model=head), sentiment(200, seed=1, lang="zh"))
    assert accuracy(nlp, sentiment(100, seed=2, lang="zh")) >= 0.95


@pytest.mark.slow  # 100 training steps
def test_learns_chinese_from_jieba_docs(textcat_bert):
    nlp = train_textcat(build_textcat(textcat_bert, lang="zh"), sentiment(200, seed=1, lang="zh"))
    assert accuracy(nlp, sentiment(100, seed=2, lang="zh")) >= 0.95


@pytest.mark.slow  # 100 training steps
def test_learns_with_inline_transformer(textcat_bert):
    nlp = train_textcat(build_textcat(textcat_bert, inline=True), sentiment(200, seed=1))
    assert nlp.pipe_names == ["spacy_ft_textcat"]
    assert accuracy(nlp, sentiment(100, seed=2)) >= 0.95


def transformer_weights(nlp):
    return [
        p.detach().clone() for p in nlp.get_pipe("transformer").model.layers[0].shims[0]._model.parameters()
    ]


@pytest.mark.parametrize("grad_factor,changes", [(1.0, True), (0.0, False)])
def test_gradients_reach_the_transformer(textcat_bert, grad_factor, changes):
    nlp = build_textcat(textcat_bert, model={"grad_factor": grad_factor})
    data = sentiment(32, seed=3)
    nlp.initialize(lambda: textcat_examples(nlp, data))
    before = transformer_weights(nlp)
    optimizer = Adam(1e-3, L2=0.0)  # no weight decay: only gradients may move weights
    for _ in range(3):
        nlp.update(textcat_examples(nlp, data), sgd=optimizer)
    after = transformer_weights(nlp)
    assert len(before) == len(after) > 0
    moved = any(not bool((a == b).all()) for a, b in zip(before, after))
    assert moved is changes


@pytest.mark.slow  # 100 training steps
def test_scores_use_spacy_names(textcat_bert):
    nlp = train_textcat(build_textcat(textcat_bert), sentiment(200, seed=1))
    scores = nlp.evaluate(textcat_examples(nlp, sentiment(60, seed=2)))
    assert scores["cats_score"] >= 0.95
    assert scores["cats_macro_auc"] >= 0.95
    assert set(scores["cats_f_per_type"]) == {"POS", "NEG"}
    assert {"p", "r", "f"} <= set(scores["cats_f_per_type"]["POS"])


def test_multi_label_with_tuned_thresholds(textcat_bert, tmp_path):
    nlp = train_textcat(build_textcat(textcat_bert, multi_label=True), topics(240, seed=1), steps=80)
    textcat = nlp.get_pipe("spacy_ft_textcat")
    dev = textcat_examples(nlp, topics(80, seed=2))
    docs = list(nlp.pipe([eg.reference.text for eg in dev]))
    assert len(docs) == len(dev)
    for example, doc in zip(dev, docs):
        example.predicted = doc
        assert 0.0 <= min(doc.cats.values()) and max(doc.cats.values()) <= 1.0
    thresholds = textcat.tune_thresholds(dev)
    assert set(thresholds) == {"SPORT", "FOOD"} and all(0 < t < 1 for t in thresholds.values())
    scores = nlp.evaluate(dev)
    assert scores["cats_macro_f"] >= 0.95
    nlp.to_disk(tmp_path / "multi")
    loaded = spacy.load(tmp_path / "multi")
    assert set(textcat.thresholds) == {"SPORT", "FOOD"}  # something to compare
    assert loaded.get_pipe("spacy_ft_textcat").thresholds == textcat.thresholds
    doc = loaded("we ate pizza after the football match")
    assert set(loaded.get_pipe("spacy_ft_textcat").decide(doc)) == {"SPORT", "FOOD"}


def test_identical_probabilities_after_reload(textcat_bert, tmp_path):
    nlp = train_textcat(build_textcat(textcat_bert, model={"pooling": "mean"}), sentiment(100, seed=1), steps=10)
    texts = [text for text, _ in sentiment(20, seed=5)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    assert len(expected) == len(texts) and all(set(cats) == {"POS", "NEG"} for cats in expected)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    docs = list(loaded.pipe(texts))
    assert len(docs) == len(expected)
    for doc, cats in zip(docs, expected):
        assert doc.cats.keys() == cats.keys()
        numpy.testing.assert_allclose([doc.cats[k] for k in cats], list(cats.values()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_empty_whitespace_and_long_docs(textcat_bert, pooling):
    nlp = train_textcat(build_textcat(textcat_bert, model={"pooling": pooling}), sentiment(64, seed=1), steps=4)
    long_text = " ".join(["the movie was good"] * 2500)[:10_000]
    docs = list(nlp.pipe(["", "   \n ", long_text]))
    for doc in docs:
        assert set(doc.cats) == {"POS", "NEG"}
        assert sum(doc.cats.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(docs[2].text) == 10_000
    assert docs[2]._.trf_data.model_output.last_hidden_state.shape[0] > 50  # many windows


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_class_and_example_weights_scale_the_gradient(textcat_bert, reduction):
    nlp = build_textcat(textcat_bert, class_weights={"POS": 3.0}, loss_reduction=reduction)
    data = sentiment(8, seed=4)
    nlp.initialize(lambda: textcat_examples(nlp, data))
    textcat = nlp.get_pipe("spacy_ft_textcat")
    egs = textcat_examples(nlp, data)
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
def test_bad_training_cats_give_clear_errors(textcat_bert, cats, message):
    nlp = build_textcat(textcat_bert)
    good = textcat_examples(nlp, sentiment(8, seed=4))
    nlp.initialize(lambda: good)
    bad = Example.from_dict(nlp.make_doc("a bad doc"), {"cats": cats})
    with pytest.raises(ValueError, match=message):
        nlp.update(good[:2] + [bad])


def test_an_unknown_loss_reduction_is_an_error(textcat_bert):
    with pytest.raises(ValueError, match=r"unknown loss_reduction 'median': choose one of sum, mean"):
        build_textcat(textcat_bert, loss_reduction="median")


def test_no_labels_at_all_is_an_error(textcat_bert):
    nlp = build_textcat(textcat_bert)
    unlabeled = [Example.from_dict(nlp.make_doc("no labels here"), {})]
    with pytest.raises(ValueError, match=r"spacy_ft_textcat.*no labels"):
        nlp.initialize(lambda: unlabeled)


def test_bad_settings_are_rejected(textcat_bert):
    with pytest.raises(ValueError, match=r"unknown output_init 'ones'"):
        build_textcat(textcat_bert, model={"output_init": "ones"})
    with pytest.raises(ValueError, match=r"class_weights\['POS'\]"):
        build_textcat(textcat_bert, class_weights={"POS": -1.0})
    nlp = build_textcat(textcat_bert, class_weights={"BOGUS": 2.0})
    with pytest.raises(ValueError, match=r"unknown labels \['BOGUS'\]"):
        nlp.initialize(lambda: textcat_examples(nlp, sentiment(8, seed=4)))
    nlp = build_textcat(textcat_bert)
    egs = textcat_examples(nlp, sentiment(8, seed=4))
    nlp.initialize(lambda: egs)
    egs[0].reference.user_data["weight"] = "heavy"
    with pytest.raises(ValueError, match=r"example weight user_data\['weight'\]"):
        nlp.update(egs)


def test_tune_thresholds_command(textcat_bert, tmp_path):
    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    nlp = train_textcat(build_textcat(textcat_bert, multi_label=True), topics(160, seed=1), steps=30)
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
    assert missing.exit_code == 2 and "nope.spacy" in missing.output and "does not exist" in missing.output


def test_n_process_gives_same_cats(textcat_bert):
    nlp = train_textcat(build_textcat(textcat_bert), sentiment(64, seed=1), steps=4)
    texts = [text for text, _ in sentiment(12, seed=6)]
    single = [doc.cats for doc in nlp.pipe(texts)]
    multi = [doc.cats for doc in nlp.pipe(texts, n_process=2, batch_size=4)]
    assert len(single) == len(multi) == len(texts) and all(set(cats) == {"POS", "NEG"} for cats in single)
    for a, b in zip(single, multi):
        assert a.keys() == b.keys()
        numpy.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("keep_alignment", [False, True])
def test_trf_cleanup_drops_hidden_states_not_results(textcat_bert, keep_alignment):
    nlp = train_textcat(build_textcat(textcat_bert), sentiment(64, seed=1), steps=4)
    texts = [text for text, _ in sentiment(8, seed=7)]
    expected = [doc.cats for doc in nlp.pipe(texts)]
    assert all(set(cats) == {"POS", "NEG"} for cats in expected)
    nlp.add_pipe("spacy_ft_trf_cleanup", config={"keep_alignment": keep_alignment})
    docs = list(nlp.pipe(texts))
    assert len(docs) == len(expected) == len(texts)
    for doc, cats in zip(docs, expected):
        assert doc.cats == pytest.approx(cats)
        assert "last_hidden_state" not in doc._.trf_data.model_output
        assert len(doc._.trf_data.align.lengths) == (len(doc) if keep_alignment else 0)
