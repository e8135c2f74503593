"""spacy_ft_ner: entities inside jieba tokens, round trips, long docs, processes."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_ft.evaluation.entities import score_char_entities
from spacy_ft.ner.bio import allowed_transitions, bio_tags, decode, encode, spans_from_tags
from spacy_ft.transformer.alignment import piece_spans
from tests.util import ENGLISH_NER, build_ner, char_reference, ner_corpus, ner_examples, train_ner


@pytest.fixture(scope="module")
def trained(ner_bert):
    nlp = build_ner(ner_bert)
    return train_ner(nlp, ner_examples(nlp, ner_corpus(300, seed=1)))


def test_entities_inside_jieba_tokens_are_learned(trained):
    dev = ner_corpus(100, seed=2)
    dev_examples = ner_examples(trained, dev)
    inside = sum(
        1
        for eg in dev_examples
        for s, e, _ in ((x.start_char, x.end_char, x.label_) for x in eg.reference.ents)
        if eg.predicted.char_span(s, e) is None
    )
    assert inside == sum(len(ann["entities"]) for _, ann in dev)  # every gold entity is inside a jieba token
    scores = trained.evaluate(dev_examples)
    assert scores["ents_f"] >= 0.95
    assert set(scores["ents_per_type"]) == {"PER", "LOC"}


def test_crf_learns_and_round_trips(ner_bert, tmp_path):
    nlp = build_ner(ner_bert, crf=True)
    train_ner(nlp, ner_examples(nlp, ner_corpus(300, seed=1)))
    transitions = nlp.get_pipe("spacy_ft_ner").model.get_ref("crf").get_param("transitions")
    assert numpy.abs(transitions).max() > 0  # the CRF itself was trained
    dev_examples = ner_examples(nlp, ner_corpus(60, seed=2))
    assert nlp.evaluate(dev_examples)["ents_f"] >= 0.95
    texts = [t for t, _ in ner_corpus(10, seed=3)]
    expected = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert len(expected) == len(texts) and sum(map(len, expected)) > 0  # something to compare
    nlp.to_disk(tmp_path / "crf")
    loaded = spacy.load(tmp_path / "crf")
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in loaded.pipe(texts)] == expected


def test_characters_outside_the_vocabulary_stay_separate_units(trained):
    from spacy_ft.ner.units import doc_units

    text = "今天张伟和鑫鑫队去了北京。"  # 鑫 is not in the test vocabulary: BERT gives [UNK] per character
    doc = trained.get_pipe("transformer")(trained.make_doc(text))  # units are made before any split
    assert "[UNK]" in doc._.trf_data.wordpieces.strings[0]
    units = doc_units(doc, doc._.trf_data)
    assert len(units.starts) == len(units.ends) == len(text)
    assert [(s, e) for s, e in zip(units.starts, units.ends)] == [(i, i + 1) for i in range(len(text))]


def test_tokens_are_split_and_alignment_kept(trained):
    doc = trained("今天张伟队和北京站开始了。")
    assert [(e.text, e.label_) for e in doc.ents] == [("张伟", "PER"), ("北京", "LOC")]
    assert [t.text for t in doc][:3] == ["今天", "张伟", "队"]
    assert doc.text == "今天张伟队和北京站开始了。"
    assert len(doc._.trf_data.align.lengths) == len(doc)
    trf = doc._.trf_data  # each piece of a split token keeps only its own characters' wordpieces
    length = trf.wordpieces.input_ids.shape[1]
    rows = trf.align.dataXd.ravel().tolist()
    starts = numpy.cumsum([0] + list(trf.align.lengths))
    pieces_of = [[trf.wordpieces.strings[r // length][r % length] for r in rows[a:b]] for a, b in zip(starts, starts[1:])]
    assert pieces_of[1:3] == [["张", "伟"], ["队"]]
    scores = doc.spans["ents_scored"].attrs["scores"]
    assert len(scores) == 2 and all(0.5 < s <= 1.0 for s in scores)
    Doc(doc.vocab).from_bytes(doc.to_bytes())  # still a consistent doc


def test_round_trip_gives_identical_entities_and_scores(trained, tmp_path):
    texts = [t for t, _ in ner_corpus(20, seed=3)]
    expected = [(doc.ents, doc.spans["ents_scored"].attrs["scores"]) for doc in trained.pipe(texts)]
    assert sum(len(ents) for ents, _ in expected) > 0  # something to compare
    trained.to_disk(tmp_path / "ner")
    loaded = spacy.load(tmp_path / "ner")
    docs = list(loaded.pipe(texts))
    assert len(docs) == len(expected) == len(texts)
    for doc, (ents, scores) in zip(docs, expected):
        assert [(e.start_char, e.end_char, e.label_) for e in doc.ents] == [
            (e.start_char, e.end_char, e.label_) for e in ents
        ]
        numpy.testing.assert_allclose(doc.spans["ents_scored"].attrs["scores"], scores, rtol=1e-5)


def test_empty_whitespace_and_long_docs(trained):
    long_text = "".join(t for t, _ in ner_corpus(400, seed=4))[:10_000]
    empty, space, long_doc = trained.pipe(["", "  \n ", long_text])
    assert len(empty) == 0 and list(empty.ents) == []
    assert space.text == "  \n " and list(space.ents) == []
    assert long_doc.text == long_text
    assert len(long_doc.ents) > 300  # found across all windows, not just the first
    assert all(e.text in long_text[e.start_char : e.end_char] for e in long_doc.ents)


def test_n_process_gives_same_entities(trained):
    texts = [t for t, _ in ner_corpus(12, seed=5)]
    single = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in trained.pipe(texts)]
    multi = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in trained.pipe(texts, n_process=2)]
    assert len(single) == len(texts) and any(single)
    assert multi == single


def test_english_word_tokens(ner_bert):
    nlp = build_ner(ner_bert, lang="en")
    data = [(t, {"entities": ents}) for t, ents in ENGLISH_NER]
    train_examples = [Example.from_dict(nlp.make_doc(t), {"entities": ann["entities"]}) for t, ann in data]
    train_ner(nlp, train_examples, steps=40)
    doc = nlp("John lives in Paris .")
    assert [(e.text, e.label_) for e in doc.ents] == [("John", "PER"), ("Paris", "LOC")]


def test_no_labels_is_an_error(ner_bert):
    nlp = build_ner(ner_bert)
    with pytest.raises(ValueError, match=r"spacy_ft_ner.*no entity labels"):
        nlp.initialize(lambda: [Example(nlp.make_doc("没有实体"), nlp.make_doc("没有实体"))])


def test_piece_spans():
    assert piece_spans("Washington", ["washing", "##ton"]) == [(0, 7), (7, 10)]
    assert piece_spans("Café", ["cafe"]) == [(0, 4)]
    assert piece_spans("邓小平理论", list("邓小平理论")) == [(i, i + 1) for i in range(5)]
    assert piece_spans("x😀", ["x", "[UNK]"]) == [(0, 1), (1, 2)]
    # a rare character is its own [UNK]: the characters around it stay separate units
    assert piece_spans("邓小平理论", ["邓", "[UNK]", "平", "理", "论"]) == [(i, i + 1) for i in range(5)]
    assert piece_spans("邓小平理论", ["邓", "[UNK]", "[UNK]", "理", "论"]) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert piece_spans("a😀😀b", ["a", "[UNK]", "b"]) == [(0, 1), (1, 3), (3, 4)]
    assert piece_spans("ab", ["a", "[UNK]", "[UNK]"]) is None  # two unknowns, one character left
    assert piece_spans("ab", ["[UNK]", "c"]) is None
    assert piece_spans("Washington", ["wash", "##x"]) is None


def test_bio_encode_decode_and_spans():
    tags = bio_tags(["PER"])
    assert tags == ["O", "B-PER", "I-PER"]
    starts, ends = [0, 1, 2, 4], [1, 2, 4, 5]
    assert encode(starts, ends, [(1, 4, "PER")], tags) == ([0, 1, 2, 0], [])
    # starts inside the unit 2-4: kept on the units it touches, and reported
    assert encode(starts, ends, [(3, 5, "PER")], tags) == ([0, 0, 1, 2], [(3, 5, "PER")])
    with pytest.raises(ValueError, match=r"label 'product' at characters 0-2 is not one of .*\['PER'\]"):
        encode(starts, ends, [(0, 2, "product")], tags)
    log_probs = numpy.log(numpy.array([[0.1, 0.1, 0.8], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]]))
    path = decode(log_probs, allowed_transitions(tags), tags)
    assert tags[path[0]] != "I-PER"  # never starts inside an entity
    probs = numpy.exp(log_probs)
    assert spans_from_tags([1, 2, 0], probs, [0, 1, 2], [1, 2, 3], tags) == [
        (0, 2, "PER", pytest.approx(0.45))
    ]


def test_char_entity_scores_on_known_answer():
    nlp = spacy.blank("zh")
    predicted = char_reference("张伟在北京", [(0, 2, "PER"), (3, 4, "LOC")])
    reference = char_reference("张伟在北京", [(0, 2, "PER"), (3, 5, "LOC")])
    scores = score_char_entities([Example(predicted, reference)])
    assert scores["ents_p"] == 0.5 and scores["ents_r"] == 0.5
    assert scores["ents_per_type"]["PER"]["f"] == 1.0 and scores["ents_per_type"]["LOC"]["f"] == 0.0
    del nlp


def test_split_keeps_annotation_of_the_split_token():
    from spacy_ft.corpora.token_split import split_at_edges

    words = ["他", "研究", "邓小平理论", "。", "中美", "关系"]
    doc = Doc(
        spacy.blank("zh").vocab,
        words=words,
        spaces=[False] * len(words),
        tags=["r", "v", "nz", "x", "j", "n"],
        sent_starts=[True, False, False, False, True, False],
        heads=[1, 1, 1, 1, 5, 5],
        deps=["nsubj", "ROOT", "obj", "punct", "nmod", "ROOT"],
        ents=["O", "O", "B-THEORY", "O", "B-LOC", "O"],
    )
    assert split_at_edges(doc, {6, 10, 11, 0}) == 2  # 0 and 11 are token edges already
    assert [t.text for t in doc] == ["他", "研究", "邓小平", "理论", "。", "中", "美", "关系"]
    assert [t.tag_ for t in doc] == ["r", "v", "nz", "nz", "x", "j", "j", "n"]
    assert [s.text for s in doc.sents] == ["他研究邓小平理论。", "中美关系"]
    assert doc[2].head.text == "研究" and doc[3].head.text == "邓小平" and doc[6].head.text == "中"
    assert [(e.text, e.label_) for e in doc.ents] == [("邓小平理论", "THEORY"), ("中美", "LOC")]


def test_entity_report_like_seqeval():
    from spacy_ft.evaluation.entities import entity_report, format_entity_report

    predicted = char_reference("张伟在北京和上海", [(0, 2, "PER"), (3, 4, "LOC"), (6, 8, "LOC")])
    reference = char_reference("张伟在北京和上海", [(0, 2, "PER"), (3, 5, "LOC"), (6, 8, "LOC")])
    report = entity_report([Example(predicted, reference)])
    assert report["types"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert report["types"]["LOC"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["micro avg"]["f1"] == pytest.approx(2 / 3)
    assert report["macro avg"]["f1"] == pytest.approx(0.75)
    assert report["weighted avg"]["f1"] == pytest.approx((1.0 * 1 + 0.5 * 2) / 3)
    text = format_entity_report(report)
    assert text.splitlines()[0].split() == ["precision", "recall", "f1-score", "support"]
    assert "         LOC     0.5000     0.5000     0.5000          2" in text


def test_evaluate_command_writes_the_report(trained, tmp_path):
    import json

    from spacy.tokens import DocBin
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    trained.to_disk(tmp_path / "model")
    gold = DocBin(docs=[eg.reference for eg in ner_examples(trained, ner_corpus(30, seed=8))])
    gold.to_disk(tmp_path / "dev.spacy")
    result = CliRunner().invoke(
        app,
        ["evaluate", str(tmp_path / "model"), str(tmp_path / "dev.spacy"), "-o", str(tmp_path / "s.json")],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "s.json").read_text())
    assert report["docs"] == 30
    assert set(report["ents"]["types"]) == {"PER", "LOC"}
    assert report["ents"]["micro avg"]["f1"] >= 0.95
    assert "weighted avg" in result.output and "PER" in result.output


def _fresh_docs(nlp, examples):
    docs = [eg.predicted for eg in examples]
    for doc in docs:
        doc._.trf_data = None
    return list(nlp.get_pipe("transformer").pipe(docs))


def test_crf_trains_batched_through_the_models_backprop(ner_bert, monkeypatch):
    """The CRF's loss is one batched forward-backward, equal to the per-doc one; the
    component leaves the CRF's gradients alone, and the model's backprop hands them to
    the CRF's parameters. With ``crf_on_device`` (run here on numpy arrays) the loss,
    the gradients and the entities are the same."""
    from spacy_ft.ner import crf
    from spacy_ft.ner.component import TransformerNER

    nlp = build_ner(ner_bert, crf=True)
    ner = nlp.get_pipe("spacy_ft_ner")
    assert not ner._on_device()  # off by default
    examples = ner_examples(nlp, ner_corpus(40, seed=3))
    train_ner(nlp, examples, steps=15)
    docs = _fresh_docs(nlp, examples)
    crf_layer = ner.model.get_ref("crf")
    names = ("transitions", "start", "end")

    def run(on_device):
        monkeypatch.setattr(TransformerNER, "_on_device", lambda self: on_device)
        for name in names:
            crf_layer.set_grad(name, numpy.zeros_like(crf_layer.get_param(name)))
        output, backprop = ner.model(docs, is_train=False)
        loss, d_output = ner.get_loss(examples, output)
        assert all(not crf_layer.get_grad(name).any() for name in names)  # the component adds nothing
        backprop(d_output)
        return output, loss, d_output, {name: crf_layer.get_grad(name).copy() for name in names}

    output, loss, d_output, grads = run(False)
    # the per-doc reference: each doc's -log p(gold) and gradients, summed
    scores = crf.masked_params(output.crf, ner.constraints, ner.model.ops, on_device=False)
    total = sum(len(units) for units in output.units)
    want_loss, want_grads = 0.0, [numpy.zeros_like(a) for a in scores]
    for eg, (units, logits) in zip(examples, output):
        gold = encode(units.starts, units.ends, [(e.start_char, e.end_char, e.label_) for e in eg.reference.ents], ner.tags)[0]
        nll, d_logits, *d_scores = crf.nll_and_gradients(logits, *scores, gold)
        want_loss += nll
        for acc, grad in zip(want_grads, d_scores):
            acc += grad
    assert loss > 0 and loss == pytest.approx(want_loss / total, rel=1e-5)
    for name, want in zip(names, want_grads):
        numpy.testing.assert_allclose(grads[name], want / total, atol=1e-6)
    _, device_loss, device_d_output, device_grads = run(True)
    assert device_loss == pytest.approx(loss, rel=1e-9)
    for got, want in zip(device_d_output.logits, d_output.logits):
        numpy.testing.assert_allclose(got, want, atol=1e-7)
    for name in names:
        numpy.testing.assert_allclose(device_grads[name], grads[name], atol=1e-7)
    entities = ner.predict(docs)
    monkeypatch.setattr(TransformerNER, "_on_device", lambda self: False)
    assert [p.entities for p in ner.predict(docs)] == [p.entities for p in entities]
    assert sum(len(p.entities) for p in entities) > 0


def test_splitting_reuses_the_row_spans_the_units_found(trained, monkeypatch):
    """At inference the component hands token splitting the row spans ``doc_units``
    found; the split alignment is the one token splitting finds on its own."""
    from spacy_ft.corpora import token_split
    from spacy_ft.ner.units import doc_units

    texts = [t for t, _ in ner_corpus(20, seed=6)] + ["今天张伟队和北京站开始了。"]
    transformer, ner = trained.get_pipe("transformer"), trained.get_pipe("spacy_ft_ner")
    own = list(transformer.pipe(trained.make_doc(t) for t in texts))
    reused = list(transformer.pipe(trained.make_doc(t) for t in texts))
    predictions = ner.predict(reused)
    assert all(p.units.source is doc._.trf_data for p, doc in zip(predictions, reused))
    for doc, prediction in zip(own, predictions):
        assert prediction.units.row_spans == doc_units(doc, doc._.trf_data).row_spans
        edges = {edge for start, end, _, _ in prediction.entities for edge in (start, end)}
        token_split.split_at_edges(doc, edges)

    def unexpected(*args, **kwargs):
        raise AssertionError("matched the wordpieces again")

    monkeypatch.setattr(token_split, "token_row_spans", unexpected)
    ner.set_annotations(reused, predictions)
    assert sum(len(doc) for doc in own) > sum(len(trained.make_doc(t)) for t in texts)  # tokens were split
    for a, b in zip(own, reused):
        assert [t.text for t in a] == [t.text for t in b]
        assert a._.trf_data.align.lengths.tolist() == b._.trf_data.align.lengths.tolist()
        assert a._.trf_data.align.dataXd.tolist() == b._.trf_data.align.dataXd.tolist()
