"""Batch annotation on Ray Data: the same output and errors file as the local
engine, every record accounted for, and a clear message without the extra.

The pipeline is tests/util.py's rule stand-in for spacy_ft_ner (jieba
tokenizer, token splitting, scored span group, cats), saved to disk; Ray
workers register it by importing tests/util.py by path through ``code``, as a
user passes their own components. One local Ray instance (2 CPUs) serves the
module; the tests that use it are slow (a Ray start and its workers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from spacy_ft.annotation import OUTPUT_FORMATS, annotate_corpus, read_inputs
from tests.util import ROOT, RULES, make_zh
from tests.util import STAND_IN_CODE as CODE

MAX_CHARS = 40
#: Raw lines (bytes): good docs, one non-UTF-8 line, empty, whitespace, too long.
RAW = [
    "中美关系很好".encode(),
    b"",
    "张三在北京大学读书".encode(),
    b"caf\xe9 au lait",
    "   ".encode(),
    ("北京" * 30).encode(),
    "今天天气不错".encode(),
    "张三说中文很好".encode(),
    "北京的冬天".encode(),
]
EXPECTED_ERRORS = [(2, "empty"), (4, "bad_encoding"), (5, "empty"), (6, "too_long")]
EXTENSIONS = {"prodigy": "jsonl", "label-studio": "json", "doccano": "jsonl", "parquet": "parquet"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    nlp = make_zh()
    nlp.add_pipe(RULES)
    path = tmp_path_factory.mktemp("ray_model") / "model"
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def raw_text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ray_input") / "raw.txt"
    path.write_bytes(b"".join(line + b"\n" for line in RAW))
    return path


@pytest.fixture(scope="module")
def local_ray():
    import ray

    # Workers start in the repository root, as a user's would, and import the stand-in
    # component from tests/util.py by path (``code``).
    monkeypatch_cwd = pytest.MonkeyPatch()
    monkeypatch_cwd.chdir(ROOT)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    monkeypatch_cwd.undo()


def run(engine: str, model: Path, source: Path, out_dir: Path, fmt: str, **settings):
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"tasks.{EXTENSIONS[fmt]}"
    errors = out_dir / "errors.jsonl"
    report = annotate_corpus(
        model, source, output, fmt, engine=engine, errors_path=errors, max_chars=MAX_CHARS,
        batch_size=2, code=CODE, **settings,
    )  # fmt: skip
    return report, output, errors


def read_output(path: Path, fmt: str):
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return path.read_text(encoding="utf-8")


def errors_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_local_engine_counts_every_record_and_names_the_failures(model_dir, raw_text, tmp_path):
    report, output, errors = run("local", model_dir, raw_text, tmp_path, "doccano")
    assert report.read == len(RAW) == report.written + sum(report.errors.values())
    assert report.errors == {"empty": 2, "bad_encoding": 1, "too_long": 1}
    found = errors_of(errors)
    assert [(e["id"], e["reason"]) for e in found] == EXPECTED_ERRORS
    assert found[1]["detail"].startswith("not UTF-8") and found[1]["source"] == str(raw_text)
    assert "60 characters, more than max_chars=40" in found[3]["detail"]
    tasks = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [task["id"] for task in tasks] == [1, 3, 7, 8, 9]
    # spaCy's worker processes give the same tasks as the single-process engine.
    report2, output2, _ = run("local", model_dir, raw_text, tmp_path / "n2", "doccano", n_process=2)
    assert output2.read_text(encoding="utf-8") == output.read_text(encoding="utf-8")


def test_parquet_output_columns(model_dir, raw_text, tmp_path):
    import pyarrow.parquet as pq

    _, output, _ = run("local", model_dir, raw_text, tmp_path, "parquet")
    table = pq.read_table(output)
    assert table.column_names == [
        "id", "line", "text", "entities", "cats", "model", "score", "uncertainty", "meta",
    ]  # fmt: skip
    first = table.to_pylist()[0]
    assert first["id"] == "1" and first["text"] == "中美关系很好"
    assert first["entities"] == [{"start": 0, "end": 1, "label": "LOC", "score": 0.62}]
    assert dict(first["cats"]) == {"POS": 0.8, "NEG": 0.2}
    assert first["uncertainty"] == pytest.approx(0.38) and first["model"] == "zh_pipeline-0.0.0"


def test_parquet_input_with_ids_and_undecodable_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    table = pa.table({"id": ["a", "b", "c"], "text": pa.array([b"ok", b"\xff", b""], pa.binary())})
    pq.write_table(table, path)
    items = list(read_inputs(path))
    assert [(item.id, item.line) for item in items] == [("a", 1), ("b", 2), ("c", 3)]
    assert items[0].text == "ok" and items[1].reason == "bad_encoding" and items[2].text == ""


def test_missing_ray_extra_names_the_extra(model_dir, raw_text, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'spacy_ft\[ray\]'"):
        run("ray", model_dir, raw_text, tmp_path, "doccano")
    args = ["annotate", str(model_dir), str(raw_text), str(tmp_path / "t.jsonl"), "-f", "doccano"]
    result = CliRunner().invoke(app, [*args, "--engine", "ray"])
    assert result.exit_code == 1 and "pip install 'spacy_ft[ray]'" in result.output
    assert not (tmp_path / "t.jsonl").exists()


@pytest.mark.slow
def test_ray_engine_output_and_errors_equal_local(local_ray, model_dir, raw_text, tmp_path):
    """End to end through annotate_corpus, Parquet out, two actors."""
    local, local_out, local_errors = run("local", model_dir, raw_text, tmp_path / "local", "parquet")
    remote, ray_out, ray_errors = run("ray", model_dir, raw_text, tmp_path / "ray", "parquet", actors=2)
    assert read_output(ray_out, "parquet") == read_output(local_out, "parquet")
    assert ray_errors.read_text(encoding="utf-8") == local_errors.read_text(encoding="utf-8")
    assert [(e["id"], e["reason"]) for e in errors_of(ray_errors)] == EXPECTED_ERRORS
    assert (remote.read, remote.written, remote.errors) == (local.read, local.written, local.errors)
    assert remote.read == remote.written + sum(remote.errors.values())
    assert local_ray.is_initialized()  # the engine leaves a Ray instance it did not start running


@pytest.mark.slow
def test_ray_predictions_give_the_local_tasks_in_every_format(local_ray, model_dir, raw_text, tmp_path):
    """One Ray run (a Ray run costs a worker start), written by the shared writers."""
    from spacy_ft.annotation.batch import write_output
    from spacy_ft.annotation.preannotate import screen
    from spacy_ft.annotation.ray_engine import ray_preannotate

    records = list(screen(read_inputs(raw_text), lambda error: None, MAX_CHARS))
    predictions = list(ray_preannotate(str(model_dir), records, batch_size=2, actors=1, code=str(CODE)))
    for fmt in OUTPUT_FORMATS:
        _, local_out, _ = run("local", model_dir, raw_text, tmp_path / "local", fmt)
        ray_out = tmp_path / f"ray.{EXTENSIONS[fmt]}"
        assert write_output(predictions, ray_out, fmt) == len(records)
        assert read_output(ray_out, fmt) == read_output(local_out, fmt), fmt


@pytest.mark.slow
def test_cli_ray_engine_on_jsonl_and_parquet_input(local_ray, model_dir, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from spacy_ft.cli import app

    texts = ["中美关系很好", "", "张三在北京大学读书", "北京" * 30] + [f"第{i}天在北京" for i in range(7)]
    source = tmp_path / "raw.jsonl"
    source.write_text(
        "".join(
            json.dumps({"text": t, "id": f"d{i}", "meta": {"n": i}}, ensure_ascii=False) + "\n"
            for i, t in enumerate(texts)
        ),
        encoding="utf-8",
    )
    pq.write_table(pa.table({"text": texts}), tmp_path / "raw.parquet")
    runner = CliRunner()
    for name in ("raw.jsonl", "raw.parquet"):
        common = [str(model_dir), str(tmp_path / name), "-f", "prodigy", "--batch-size", "3"]
        common += ["--max-chars", str(MAX_CHARS), "--code", str(CODE)]
        outputs = {}
        for engine in ("local", "ray"):
            out, errors = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}.errors.jsonl"
            args = [
                "annotate",
                *common[:2],
                str(out),
                *common[2:],
                "--engine",
                engine,
                "--errors",
                str(errors),
            ]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            assert "11 records read, 9 annotated, 2 errors (1 empty, 1 too_long)" in result.stderr
            outputs[engine] = (out.read_text(encoding="utf-8"), errors.read_text(encoding="utf-8"))
        assert outputs["ray"] == outputs["local"]
        tasks = [json.loads(line) for line in outputs["ray"][0].splitlines()]
        expected_ids = ["d0", "d2", *(f"d{i}" for i in range(4, 11))] if name == "raw.jsonl" else None
        if expected_ids:
            assert [t["meta"]["id"] for t in tasks] == expected_ids and tasks[1]["meta"]["n"] == 2
        assert [(e["line"], e["reason"]) for e in errors_of(tmp_path / "ray.errors.jsonl")] == [
            (2, "empty"),
            (4, "too_long"),
        ]
