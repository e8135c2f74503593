"""A pipeline built by `spacy package` loads by name in a fresh environment and
predicts exactly what the training output predicted."""

import subprocess
import sys

import pytest

from spacy_ft.packaging import differences, smoke_load
from tests.util import PACKAGE_TEXTS, ner_corpus


def test_differences_name_every_doc_that_disagrees():
    expected = [{"ents": [[0, 2, "PER"]], "cats": {"POS": 0.9, "NEG": 0.1}}] * 2
    got = [
        {"ents": [[0, 3, "PER"]], "cats": {"POS": 0.9, "NEG": 0.1}},
        {"ents": [[0, 2, "PER"]], "cats": {"POS": 0.8, "NEG": 0.2}},
    ]
    problems = differences(expected, got, ["a", "b"])
    assert len(problems) == 2
    assert problems[0].startswith("doc 0 'a': ents") and problems[1].startswith("doc 1 'b': cats")
    assert differences(expected, expected, ["a", "b"]) == []
    assert differences(expected, expected[:1], ["a", "b"]) == ["1 docs came back for 2 texts"]


@pytest.mark.slow  # builds a fresh virtual environment and installs the package into it
def test_packaged_pipeline_loads_by_name_in_a_fresh_venv(trained_dir, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(trained_dir), str(tmp_path), "--force"],
        check=True,
        capture_output=True,
    )
    dist = tmp_path / "zh_ft_pkgtest-0.0.1" / "dist" / "zh_ft_pkgtest-0.0.1.tar.gz"
    texts = [t for t, _ in ner_corpus(20, seed=2)] + PACKAGE_TEXTS
    result = smoke_load(dist, "zh_ft_pkgtest", trained_dir, texts, tmp_path / "venv")
    assert result["pipeline"] == ["transformer", "spacy_ft_textcat", "spacy_ft_ner", "spacy_ft_trf_cleanup"]
    assert result["docs"] == len(texts) and result["entities"] > 0
    with pytest.raises(ModuleNotFoundError):  # installed only in the fresh environment
        __import__("zh_ft_pkgtest")


def test_loading_a_full_pipeline_imports_no_optional_extra(trained_dir):
    """Production apps call spacy.load: the extras (tuning, Ray, serving, ONNX, the bias
    audit's libraries) must stay out of that process."""
    code = f"""
import json, sys, spacy
nlp = spacy.load({str(trained_dir)!r})
nlp("张伟在北京工作。")
extras = ["optuna", "ray", "fastapi", "uvicorn", "onnxruntime", "fairlearn", "matplotlib", "plotly"]
print(json.dumps([m for m in extras if m in sys.modules]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
