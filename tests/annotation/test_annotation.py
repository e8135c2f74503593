"""Annotation round trip: pre-annotate, export to Prodigy / Label Studio /
doccano, import back to .spacy, and lose no text, entity or label."""

from __future__ import annotations

import json
import pickle
import random
from collections import Counter
from pathlib import Path

import pytest
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from spacy_ft.annotation import (
    InputRecord,
    annotate_batch,
    import_annotations,
    preannotate,
    read_annotations,
    read_records,
    write_tasks,
)
from spacy_ft.annotation.writers import FORMATS
from spacy_ft.corpora.records import CorpusFormatError
from tests.util import RULES, build_ner, make_zh, ner_corpus

LINES = ["中美关系很好", "", "张三在北京大学读书", "   ", "今天天气不错"]
EXTENSIONS = {"prodigy": "jsonl", "label-studio": "json", "doccano": "jsonl"}


@pytest.fixture(scope="module")
def rules_nlp() -> Language:
    nlp = make_zh()
    nlp.add_pipe(RULES)
    return nlp


@pytest.fixture(scope="module")
def tokenizer_nlp() -> Language:
    return make_zh()


def write_lines(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def export(nlp, tmp_path: Path, fmt: str, lines=LINES):
    raw = write_lines(tmp_path / "raw.txt", lines)
    predictions = list(preannotate(nlp, read_records(raw), batch_size=2))
    out = tmp_path / f"tasks.{EXTENSIONS[fmt]}"
    with out.open("w", encoding="utf-8") as stream:
        assert write_tasks(predictions, stream, fmt) == len(lines)
    return predictions, out


def as_corrected(path: Path, fmt: str) -> Path:
    """What the tool gives back once an annotator accepted every task unchanged."""
    if fmt == "prodigy":
        tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        path.write_text(
            "".join(json.dumps({**task, "answer": "accept"}, ensure_ascii=False) + "\n" for task in tasks),
            encoding="utf-8",
        )
    elif fmt == "label-studio":
        tasks = json.loads(path.read_text(encoding="utf-8"))
        for task in tasks:
            task["annotations"] = [
                {"id": 1, "result": task["predictions"][0]["result"], "was_cancelled": False}
            ]
        path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def load(path: Path, nlp: Language) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(nlp.vocab))


def ents(doc: Doc) -> list[tuple[int, int, str]]:
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_loses_no_text_entity_or_label(rules_nlp, tokenizer_nlp, tmp_path, fmt):
    predictions, tasks = export(rules_nlp, tmp_path, fmt)
    report = import_annotations(as_corrected(tasks, fmt), fmt, tokenizer_nlp, tmp_path / "train.spacy")
    docs = load(tmp_path / "train.spacy", tokenizer_nlp)
    assert [doc.text for doc in docs] == LINES
    assert [ents(doc) for doc in docs] == [
        [(e.start, e.end, e.label) for e in p.entities] for p in predictions
    ]
    assert [doc.cats for doc in docs] == [
        {label: float(value >= 0.5) for label, value in p.cats.items()} for p in predictions
    ]
    assert report.docs == len(LINES) and report.entities == 3 and not report.skipped
    # 中 (in 中美关系), 张三 (in 张三在) and 北京 (in 北京大学) all sit inside jieba tokens.
    assert report.entities_crossing_tokens == 3
    assert [ent.text for ent in docs[0].ents] == ["中"]


def test_predictions_carry_scores_model_and_uncertainty(rules_nlp, tmp_path):
    raw = write_lines(tmp_path / "raw.txt", LINES)
    first, empty, second, space, third = preannotate(rules_nlp, read_records(raw))
    assert [(e.label, e.score) for e in second.entities] == [("PER", 0.91), ("LOC", 0.97)]
    assert first.model == "zh_pipeline-0.0.0"
    assert first.confidence == pytest.approx(0.62) and first.uncertainty == pytest.approx(0.38)
    assert third.entities == [] and third.uncertainty == pytest.approx(0.3)  # 1 - max cat probability
    # Empty and whitespace-only lines stay, with their line number as id, and find nothing.
    assert [(p.id, p.text, p.entities) for p in (empty, space)] == [(2, "", []), (4, "   ", [])]
    assert [p.id for p in (first, second, third)] == [1, 3, 5]


def test_no_scores_without_a_scored_span_group(tmp_path):
    nlp = make_zh()
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "北京"}])
    (prediction,) = preannotate(nlp, [InputRecord("我在北京", 1, 1)])
    assert [(e.start, e.end, e.label, e.score) for e in prediction.entities] == [(2, 4, "LOC", None)]
    assert prediction.uncertainty is None
    (task,) = [json.loads(line) for line in _written([prediction], "prodigy").splitlines()]
    assert task["spans"] == [{"start": 2, "end": 4, "label": "LOC", "token_start": 2, "token_end": 2}]


def _written(predictions, fmt: str) -> str:
    import io

    stream = io.StringIO()
    write_tasks(predictions, stream, fmt)
    return stream.getvalue()


def test_batches_are_a_pure_picklable_unit_of_work(rules_nlp):
    records = [InputRecord(text, i, i) for i, text in enumerate(LINES, 1)]
    batch = annotate_batch(rules_nlp, records)
    assert len(batch) == len(records) and sum(len(p.entities) for p in batch) == 3  # something to compare
    assert pickle.loads(pickle.dumps(batch)) == batch
    assert list(preannotate(rules_nlp, records, batch_size=2)) == batch


def test_jsonl_input_keeps_id_and_meta(rules_nlp, tmp_path):
    raw = tmp_path / "raw.jsonl"
    raw.write_text(
        json.dumps({"text": "中美关系很好", "id": "doc-7", "meta": {"source": "news"}}, ensure_ascii=False)
        + "\n\n"
        + json.dumps({"text": "今天天气不错"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    predictions = list(preannotate(rules_nlp, read_records(raw)))
    assert [(p.id, p.meta) for p in predictions] == [("doc-7", {"source": "news"}), (3, {})]
    task = json.loads(_written(predictions[:1], "prodigy"))
    assert task["meta"]["id"] == "doc-7" and task["meta"]["source"] == "news"
    assert task["meta"]["uncertainty"] == pytest.approx(0.38)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": "no text"}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"bad\.jsonl:2: .*\"text\""):
        list(read_records(bad))


def test_label_studio_export_is_a_json_list_with_the_documented_keys(rules_nlp, tmp_path):
    _, path = export(rules_nlp, tmp_path, "label-studio")
    tasks = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and len(tasks) == len(LINES)
    task = tasks[2]
    assert task["data"] == {"text": "张三在北京大学读书", "id": 3}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == "zh_pipeline-0.0.0"
    # The top class, NEG at 0.7, is less sure than either entity.
    assert prediction["score"] == pytest.approx(0.7)
    labels, choices = prediction["result"][:2], prediction["result"][2]
    assert labels[0] == {
        "id": "ent0",
        "from_name": "label",
        "to_name": "text",
        "type": "labels",
        "value": {"start": 0, "end": 2, "text": "张三", "labels": ["PER"]},
        "score": 0.91,
    }
    assert choices == {
        "id": "cats",
        "from_name": "category",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["NEG"]},
    }
    assert json.loads(_written([], "label-studio")) == []


def test_prodigy_and_doccano_task_shapes(rules_nlp, tmp_path):
    (prediction,) = preannotate(rules_nlp, [InputRecord("中美关系很好", 1, 1)])
    prodigy = json.loads(_written([prediction], "prodigy"))
    assert prodigy["spans"] == [
        {"start": 0, "end": 1, "label": "LOC", "token_start": 0, "token_end": 0, "score": 0.62}
    ]
    assert [t["text"] for t in prodigy["tokens"]] == ["中", "美关系", "很", "好"]
    assert prodigy["options"] == [{"id": "POS", "text": "POS"}, {"id": "NEG", "text": "NEG"}]
    assert prodigy["accept"] == ["POS"]
    doccano = json.loads(_written([prediction], "doccano"))
    assert doccano["label"] == [[0, 1, "LOC"]] and doccano["cats"] == ["POS"]
    assert doccano["uncertainty"] == pytest.approx(0.38)


def test_prodigy_rejected_ignored_and_unanswered_tasks_are_counted(tokenizer_nlp, tmp_path):
    tasks = [
        {"text": "张三来了", "spans": [{"start": 0, "end": 2, "label": "PER"}], "answer": "accept"},
        {"text": "李四来了", "spans": [{"start": 0, "end": 2, "label": "PER"}], "answer": "reject"},
        {"text": "王五来了", "answer": "ignore"},
        {"text": "赵六来了"},
    ]
    path = tmp_path / "db.jsonl"
    path.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tasks), encoding="utf-8")
    report = import_annotations(path, "prodigy", tokenizer_nlp, tmp_path / "out.spacy")
    assert report.docs == 1 and report.skipped == Counter({"reject": 1, "ignore": 1, "unanswered": 1})
    assert "1 reject" in report.summary() and report.to_dict()["skipped"]["ignore"] == 1
    kept = import_annotations(
        path, "prodigy", tokenizer_nlp, tmp_path / "all.spacy", answers=("accept", "reject")
    )
    assert kept.docs == 2 and kept.skipped == Counter({"ignore": 1, "unanswered": 1})


def test_prodigy_binary_textcat_answers_become_cats(tmp_path):
    rows = [
        {"text": "好", "label": "POS", "answer": "accept"},
        {"text": "坏", "label": "POS", "answer": "reject"},
    ]
    source = tmp_path / "binary.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    samples = list(read_annotations(source, "prodigy", Counter(), answers=("accept", "reject")))
    assert [s.cats for s in samples] == [{"POS": 1.0}, {"POS": 0.0}]


def test_label_studio_cancelled_unannotated_and_prediction_fallback(tokenizer_nlp, tmp_path):
    region = {"type": "labels", "value": {"start": 0, "end": 2, "text": "张三", "labels": ["PER"]}}
    tasks = [
        {"id": 11, "data": {"text": "张三来了"}, "annotations": [{"result": [region]}]},
        {
            "id": 12,
            "data": {"text": "张三走了"},
            "annotations": [{"result": [region], "was_cancelled": True}],
        },
        {"id": 13, "data": {"text": "张三笑了"}, "predictions": [{"result": [region]}]},
        {"id": 14, "data": {"text": "张三哭了"}, "annotations": [{"result": [region, {"type": "textarea"}]}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    report = import_annotations(path, "label-studio", tokenizer_nlp, tmp_path / "a.spacy")
    assert report.docs == 2
    assert report.skipped == Counter({"cancelled": 1, "unannotated": 1, "textarea results": 1})
    fallback = import_annotations(
        path, "label-studio", tokenizer_nlp, tmp_path / "b.spacy", use_predictions=True
    )
    assert fallback.docs == 3 and fallback.entities == 3


def test_label_studio_utf16_offsets_are_recognised(tokenizer_nlp, tmp_path):
    """Some Label Studio versions count emoji as two (JavaScript) characters."""
    text = "😀张三来了"
    region = {"type": "labels", "value": {"start": 2, "end": 4, "text": "张三", "labels": ["PER"]}}
    path = tmp_path / "emoji.json"
    path.write_text(
        json.dumps([{"data": {"text": text}, "annotations": [{"result": [region]}]}]), encoding="utf-8"
    )
    (sample,) = read_annotations(path, "label-studio", Counter())
    assert sample.entities == [(1, 3, "PER")]


def test_doccano_export_variants(tokenizer_nlp, tmp_path):
    rows = [
        {"text": "张三在北京", "label": [[0, 2, "PER"], [3, 5, "LOC"]]},
        {"text": "张三在北京", "labels": [[0, 2, "PER"]]},
        {"text": "张三在北京", "entities": [{"id": 1, "label": "LOC", "start_offset": 3, "end_offset": 5}]},
        {"text": "真好", "label": ["POS"]},
        {"text": "中美关系", "entities": [[0, 1, "LOC"]], "cats": ["NEG"]},
    ]
    path = tmp_path / "doccano.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    samples = list(read_annotations(path, "doccano", Counter()))
    assert [s.entities for s in samples] == [
        [(0, 2, "PER"), (3, 5, "LOC")],
        [(0, 2, "PER")],
        [(3, 5, "LOC")],
        [],
        [(0, 1, "LOC")],
    ]
    assert [s.line for s in samples] == [1, 2, 3, 4, 5]
    report = import_annotations(path, "doccano", tokenizer_nlp, tmp_path / "d.spacy")
    docs = load(tmp_path / "d.spacy", tokenizer_nlp)
    # Labels chosen elsewhere in the file become 0.0; docs without any stay without.
    assert [doc.cats for doc in docs] == [{}, {}, {}, {"POS": 1.0, "NEG": 0.0}, {"POS": 0.0, "NEG": 1.0}]
    assert report.cats == Counter({"POS": 1, "NEG": 1})


@pytest.mark.parametrize(
    "fmt,content,message",
    [
        ("prodigy", '{"text": "ok", "answer": "accept"}\n{"text": \n', r"bad\.jsonl:2: invalid JSON"),
        (
            "prodigy",
            '{"text": "张三来了", "answer": "accept", "spans": [{"start": 0, "end": 2, "label": "PER", "text": "李四"}]}\n',
            r"bad\.jsonl:1: span text mismatch: PER at 0-2 is '张三'",
        ),
        (
            "doccano",
            '{"text": "ok"}\n\n{"text": "abc", "label": [[1, 9, "X"]]}\n',
            r"bad\.jsonl:3: .*out of range",
        ),
        (
            "doccano",
            '{"text": "abc", "label": [[0, "2", "X"]]}\n',
            r"bad\.jsonl:1: entity offsets must be integers",
        ),
        ("doccano", '{"label": []}\n', r"bad\.jsonl:1: no string 'text'"),
        (
            "label-studio",
            '[{"data": {"text": "ok"}, "annotations": []}, {"id": 5, "data": {"txt": "x"}}]',
            r"bad\.jsonl:2 \(task 5\): no string 'text'",
        ),
        (
            "label-studio",
            '[{"data": {"text": "abc"}, "annotations": [{"result": '
            '[{"type": "labels", "value": {"start": 0, "end": 1, "labels": ["A", "B"]}}]}]}]',
            r"bad\.jsonl:1: region 0-1 has labels \['A', 'B'\]",
        ),
        ("label-studio", '{"data": {}}', r"bad\.jsonl: expected a JSON list"),
    ],
)
def test_malformed_records_name_file_and_line(tokenizer_nlp, tmp_path, fmt, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=message):
        import_annotations(path, fmt, tokenizer_nlp, tmp_path / "bad.spacy")
    assert not (tmp_path / "bad.spacy").exists()


def test_overlapping_corrections_and_unknown_format_are_errors(tokenizer_nlp, tmp_path):
    path = tmp_path / "overlap.jsonl"
    path.write_text('{"text": "张三来了", "label": [[0, 2, "PER"], [1, 3, "PER"]]}\n', encoding="utf-8")
    with pytest.raises(CorpusFormatError, match=r"overlap\.jsonl:1: overlapping entities"):
        import_annotations(path, "doccano", tokenizer_nlp, tmp_path / "o.spacy")
    with pytest.raises(ValueError, match="unknown annotation format 'brat'"):
        import_annotations(path, "brat", tokenizer_nlp, tmp_path / "o.spacy")


def test_real_ner_scores_survive_the_round_trip(small_ner_bert, tmp_path):
    """spacy_ft_ner itself (with its default CRF), trained briefly on a tiny random BERT (~10 s)."""
    from spacy.training import Example
    from thinc.api import Adam, fix_random_seed

    from spacy_ft.corpora import ConversionReport, sample_to_doc
    from spacy_ft.corpora.records import Sample

    data = ner_corpus(60, 1)
    nlp = build_ner(small_ner_bert, crf=True)
    report = ConversionReport()
    examples = [
        Example(nlp.make_doc(text), sample_to_doc(nlp, Sample(text, ann["entities"], "train", i), report))
        for i, (text, ann) in enumerate(data)
    ]
    fix_random_seed(0)
    nlp.initialize(lambda: examples)
    optimizer, rng = Adam(2e-3), random.Random(0)
    for _ in range(30):
        nlp.update(rng.sample(examples, 16), sgd=optimizer)
    texts = [text for text, _ in ner_corpus(6, 3)]
    predictions, tasks = export(nlp, tmp_path, "doccano", texts)
    found = [e for p in predictions for e in p.entities]
    assert found and all(isinstance(e.score, float) and 0.0 <= e.score <= 1.0 for e in found)
    imported = import_annotations(tasks, "doccano", nlp, tmp_path / "ner.spacy")
    docs = load(tmp_path / "ner.spacy", nlp)
    assert [doc.text for doc in docs] == texts
    assert [ents(doc) for doc in docs] == [
        [(e.start, e.end, e.label) for e in p.entities] for p in predictions
    ]
    assert imported.entities_crossing_tokens == len(found)  # every name is glued to a suffix by jieba


def test_cli_annotate_to_stdout_and_import(rules_nlp, tmp_path):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    rules_nlp.to_disk(tmp_path / "model")
    raw = write_lines(tmp_path / "raw.txt", LINES)
    runner = CliRunner()
    result = runner.invoke(app, ["annotate", str(tmp_path / "model"), str(raw), "--format", "label-studio"])
    assert result.exit_code == 0, result.output
    tasks = json.loads(result.stdout)
    # Empty and whitespace-only lines are not tasks: they are counted as errors,
    # and the remaining tasks keep their line numbers as ids.
    kept = [line for line in LINES if line.strip()]
    assert [task["data"]["text"] for task in tasks] == kept
    assert [task["data"]["id"] for task in tasks] == [1, 3, 5]
    assert "5 records read, 3 annotated, 2 errors (2 empty)" in result.stderr
    assert "Not annotated: 2 (empty); 4 (empty)" in result.stderr
    assert "Wrote 3 label-studio tasks to stdout" in result.stderr
    (tmp_path / "tasks.json").write_text(result.stdout, encoding="utf-8")
    imported = runner.invoke(
        app,
        [
            "import-annotations",
            str(tmp_path / "tasks.json"),
            str(tmp_path / "out.spacy"),
            "-f",
            "label-studio",
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert "0 docs" in imported.output and "3 unannotated" in imported.output
    written = runner.invoke(
        app, ["annotate", str(tmp_path / "model"), str(raw), str(tmp_path / "t.jsonl"), "-f", "doccano"]
    )
    assert written.exit_code == 0, written.output
    assert len((tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()) == len(kept)
    bad = runner.invoke(app, ["annotate", str(tmp_path / "model"), str(raw), "-f", "brat"])
    assert bad.exit_code != 0 and "--format 'brat'" in bad.output
    answers = [str(tmp_path / "t.jsonl"), str(tmp_path / "x.spacy"), "-f", "prodigy", "--answers", "maybe"]
    wrong = runner.invoke(app, ["import-annotations", *answers])
    assert wrong.exit_code != 0 and "--answers 'maybe'" in wrong.output
