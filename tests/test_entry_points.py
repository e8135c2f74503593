"""Entry points: names resolve without importing spacy_ft by hand, and stay light.

Each check runs in a fresh interpreter, because the point is what a production
process that never wrote ``import spacy_ft`` sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import distribution

import pytest

HEAVY = [
    "jieba",
    "jieba_next",
    "torch",
    "transformers",
    "spacy_transformers",
    "optuna",
    "ray",
    "fastapi",
    "onnxruntime",
]


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def our_entry_points():
    return [ep for ep in distribution("spacy_ft").entry_points if ep.group.startswith("spacy_")]


def test_every_entry_point_is_declared():
    names = {(ep.group, ep.name) for ep in our_entry_points()}
    assert ("spacy_tokenizers", "spacy_ft.JiebaTokenizer.v1") in names


@pytest.mark.parametrize("group,name", [(ep.group, ep.name) for ep in our_entry_points()])
def test_name_resolves_through_spacy_registry_alone(group, name):
    out = run_python(
        f"""
        import sys, spacy
        assert "spacy_ft" not in sys.modules
        if {group!r} == "spacy_factories":  # spaCy loads these on Language creation
            print(type(spacy.blank("en").add_pipe({name!r})).__module__)
        else:
            registry = getattr(spacy.registry, {group!r}[len("spacy_"):])
            print(registry.get({name!r}).__module__)
        """
    )
    assert out.startswith("spacy_ft.")


def test_blank_pipelines_do_not_import_jieba():
    out = run_python(
        """
        import json, sys, spacy
        spacy.blank("en")
        spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
        print(json.dumps([m for m in ("jieba", "jieba_next") if m in sys.modules]))
        """
    )
    assert json.loads(out) == []


def test_entry_point_modules_import_no_heavy_package():
    """spaCy itself pulls torch in (thinc.compat) and spacy-transformers pulls
    transformers in, so the heavy packages are blocked outright: loading our
    entry-point modules must not need any of them."""
    out = run_python(
        f"""
        import importlib.abc, json, sys
        HEAVY = {HEAVY!r}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    raise ImportError(f"blocked heavy import: {{name}}")
                return None

        sys.meta_path.insert(0, Block())
        import spacy
        from importlib.metadata import distribution
        loaded = []
        for ep in distribution("spacy_ft").entry_points:
            if ep.group.startswith("spacy_"):
                ep.load()
                loaded.append(ep.name)
        print(json.dumps(loaded))
        """
    )
    assert "spacy_ft.JiebaTokenizer.v1" in json.loads(out)


def test_saved_pipeline_loads_in_a_fresh_process(tmp_path):
    from tests.conftest import make_zh

    nlp = make_zh()
    nlp.tokenizer.add_words(["蓝鲸大模型"])
    nlp.to_disk(tmp_path / "pipe")
    text = "蓝鲸大模型在北京发布"
    out = run_python(
        f"""
        import json, sys, spacy
        nlp = spacy.load({str(tmp_path / "pipe")!r})
        print(json.dumps([t.text for t in nlp({text!r})], ensure_ascii=False))
        """
    )
    assert json.loads(out) == [t.text for t in nlp(text)]
    assert "蓝鲸大模型" in json.loads(out)
