"""The one place that turns a missing optional dependency into an install command."""

import sys

import pytest

from spacy_ft.extras import import_extra, install_command


def test_an_installed_module_is_returned():
    assert import_extra("json", "serve", "test") is sys.modules["json"]


def test_a_missing_module_names_what_needed_it_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what a failed import leaves behind
    with pytest.raises(ImportError) as info:
        import_extra("onnxruntime", "onnx", "the ONNX backend")
    message = str(info.value)
    assert message.startswith("the ONNX backend needs the package 'onnxruntime'")
    assert message.endswith("pip install 'spacy_ft[onnx]'")


def test_a_missing_submodule_names_the_top_level_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "json.missing_part", None)
    with pytest.raises(ImportError, match=r"needs the package 'json'.*pip install 'spacy_ft\[ray\]'"):
        import_extra("json", "ray", "the Ray engine", "json.missing_part")


def test_install_command_quotes_the_brackets_for_the_shell():
    assert install_command("tune") == "pip install 'spacy_ft[tune]'"
