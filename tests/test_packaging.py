"""A pipeline built by `spacy package` loads by name in a fresh environment and
predicts exactly what the training output predicted."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy

from spacy_ft.packaging import (
    DeploymentError,
    clean_environment,
    create_clean_venv,
    differences,
    load_in_child,
    smoke_load,
)
from spacy_ft.testing import make_tiny_bert
from tests.util import JIEBA, PACKAGE_TEXTS, WINDOW, glued_words, ner_corpus, ner_examples, train_ner


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


# -- the deployment check: a clean environment, as on a production machine ---------------------

WEIGHTS_PACKAGE = "spacy_ft_test_weights"
PARENT_ONLY = "spacy_ft_parent_only"


def only_in_this_environment(root: Path, bert_dir: Path) -> Path:
    """What a training machine has and a production machine lacks: a weights package
    (``pkg:`` name) and a package registering a spaCy callback through entry points,
    both visible to this process and its children through ``PYTHONPATH`` only."""
    (root / WEIGHTS_PACKAGE).mkdir(parents=True)
    (root / WEIGHTS_PACKAGE / "__init__.py").write_text("", encoding="utf-8")
    shutil.copytree(bert_dir, root / WEIGHTS_PACKAGE / "model")
    (root / f"{PARENT_ONLY}.py").write_text(
        "def make():\n    return lambda nlp: nlp\n", encoding="utf-8")
    info = root / f"{PARENT_ONLY}-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PARENT_ONLY}\nVersion: 0.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[spacy_callbacks]\nspacy_ft_test.parent_only.v1 = {PARENT_ONLY}:make\n", encoding="utf-8")
    return root


def package(model_dir: Path, out_dir: Path, name: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "spacy", "package", str(model_dir), str(out_dir), "--name", name, "--force"],
        check=True, capture_output=True,
    )
    return out_dir / f"zh_{name}-0.0.1" / "dist" / f"zh_{name}-0.0.1.tar.gz"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A pipeline trained from ``pkg:spacy_ft_test_weights/model`` while that package and a
    callback package were visible, and the clean environment the checks share."""
    root = only_in_this_environment(tmp_path_factory.mktemp("parent_site"), Path(
        make_tiny_bert(tmp_path_factory.mktemp("deploy_bert"), [t for t, _ in ner_corpus(200, seed=1)] + PACKAGE_TEXTS)))
    patch = pytest.MonkeyPatch()
    patch.setenv("PYTHONPATH", str(root))
    patch.syspath_prepend(str(root))
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words(glued_words())
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy_ft.TransformerModel.v1", "name": f"pkg:{WEIGHTS_PACKAGE}/model", "get_spans": WINDOW}})
    nlp.add_pipe("spacy_ft_ner")
    train_ner(nlp, ner_examples(nlp, ner_corpus(200, seed=1)), steps=30)
    nlp.meta["version"] = "0.0.1"
    model_dir = tmp_path_factory.mktemp("deploy_model") / "model"
    nlp.to_disk(model_dir)
    yield {"model_dir": model_dir, "venv": tmp_path_factory.mktemp("deploy") / "venv", "root": root}
    patch.undo()


@pytest.mark.slow  # builds a clean virtual environment: torch, spacy_ft and its requirements
def test_pipeline_trained_from_a_weights_package_deploys_without_it(deployment, tmp_path):
    dist = package(deployment["model_dir"], tmp_path, "deploytest")
    texts = [t for t, _ in ner_corpus(20, seed=2)] + PACKAGE_TEXTS
    result = smoke_load(dist, "zh_deploytest", deployment["model_dir"], texts, deployment["venv"], reuse_venv=True)
    assert result["pipeline"] == ["transformer", "spacy_ft_ner"]
    assert result["docs"] == len(texts) and result["entities"] > 0
    installed = {name.lower().replace("_", "-") for name in result["installed"]}
    assert {"spacy-ft", "spacy", "spacy-transformers", "torch", "jieba", "zh-deploytest"} <= installed
    assert WEIGHTS_PACKAGE.replace("_", "-") not in installed
    with pytest.raises(ModuleNotFoundError):  # installed only in the clean environment
        __import__("zh_deploytest")


@pytest.mark.slow
def test_the_check_fails_where_a_production_machine_would(deployment, tmp_path):
    """A pipeline that needs a package only this environment has (a callback registered
    by an undeclared package) loads here, and must fail the check, naming what is missing."""
    config = spacy.util.load_config(deployment["model_dir"] / "config.cfg")
    config["nlp"]["after_creation"] = {"@callbacks": "spacy_ft_test.parent_only.v1"}
    model_dir = tmp_path / "model"
    shutil.copytree(deployment["model_dir"], model_dir)
    config.to_disk(model_dir / "config.cfg")
    here = subprocess.run([sys.executable, "-c", "import spacy, sys; print(spacy.load(sys.argv[1]).pipe_names)",
                           str(model_dir)], capture_output=True, text=True, timeout=300)
    assert here.returncode == 0, here.stderr[-2000:]  # loads fine on this machine
    dist = package(model_dir, tmp_path, "needsparent")
    with pytest.raises(DeploymentError, match="spacy_ft_test.parent_only.v1"):
        smoke_load(dist, "zh_needsparent", model_dir, ["张伟在北京。"], deployment["venv"], reuse_venv=True)


def test_a_new_environment_does_not_see_this_one(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(Path(pytest.__file__).parents[1]))
    monkeypatch.chdir(tmp_path)
    python = create_clean_venv(Path("venv"))  # relative, as the workflow passes --venv-dir
    result = subprocess.run([str(python), "-c", "import pytest"], capture_output=True, text=True,
                            env=clean_environment())
    assert result.returncode != 0 and "No module named 'pytest'" in result.stderr
    # The load runs in an empty directory elsewhere: a relative python must still be found,
    # and then fail for the right reason (no spaCy in a bare environment).
    with pytest.raises(DeploymentError, match="No module named 'spacy'"):
        load_in_child(python, "zh_anything", ["text"])


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
