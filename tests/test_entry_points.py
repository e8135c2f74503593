"""Entry points: every name users rely on is declared, resolves without importing
spacy_ft by hand, and stays light.

``ENTRY_POINTS`` is the full list, written out: dropping or renaming an entry point
in setup.cfg fails here instead of silently removing a parametrized case. The
resolution checks run in a fresh interpreter, because the point is what a production
process that never wrote ``import spacy_ft`` sees.
"""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
import textwrap
from importlib.metadata import distribution

import pytest

from tests.util import ROOT, import_blocker

#: Every entry point spacy_ft declares, per group: name -> "module:attribute".
ENTRY_POINTS = {
    "console_scripts": {
        "spacy-ft": "spacy_ft.cli:main",
    },
    "spacy_cli": {
        "spacy_ft": "spacy_ft.cli.spacy_cli:app",
    },
    "spacy_tokenizers": {
        "spacy_ft.JiebaTokenizer.v1": "spacy_ft.tokenizer.component:create_jieba_tokenizer",
    },
    "spacy_factories": {
        "spacy_ft_textcat": "spacy_ft.textcat.component:make_transformer_textcat",
        "spacy_ft_ner": "spacy_ft.ner.component:make_transformer_ner",
        "spacy_ft_trf_cleanup": "spacy_ft.cleanup.component:make_trf_cleanup",
        "spacy_ft_bias": "spacy_ft.bias.component:make_bias_checker",
        "spacy_ft_char_encoder": "spacy_ft.char_encoder.component:make_char_encoder",
    },
    "spacy_architectures": {
        "spacy_ft.TransformerClassifier.v1": "spacy_ft.textcat.model:build_transformer_classifier",
        "spacy_ft.TransformerDataListener.v1": "spacy_ft.transformer.listeners:build_transformer_data_listener",
        "spacy_ft.InlineTransformer.v1": "spacy_ft.transformer.listeners:build_inline_transformer",
        "spacy_ft.TransformerModel.v1": "spacy_ft.transformer.models:build_transformer_model_v1",
        "spacy_ft.TransformerModel.v2": "spacy_ft.transformer.models:build_transformer_model_v2",
        "spacy_ft.TransformerModel.v3": "spacy_ft.transformer.models:build_transformer_model_v3",
        "spacy_ft.TokenClassifier.v1": "spacy_ft.ner.model:build_token_classifier",
        "spacy_ft.TokenClassifier.v2": "spacy_ft.ner.model:build_token_classifier_v2",
        "spacy_ft.QuantizedTransformerModel.v1": "spacy_ft.inference.quantize:build_quantized_transformer_model",
        "spacy_ft.OnnxTransformerModel.v1": "spacy_ft.inference.onnx:build_onnx_transformer_model",
        "spacy_ft.CharLexiconEncoder.v1": "spacy_ft.char_encoder.model:build_char_lexicon_encoder_v1",
        "spacy_ft.CharLexiconEncoder.v2": "spacy_ft.char_encoder.model:build_char_lexicon_encoder_v2",
        "spacy_ft.CharLexiconEncoder.v3": "spacy_ft.char_encoder.model:build_char_lexicon_encoder_v3",
        "spacy_ft.CharEncoderListener.v1": "spacy_ft.char_encoder.component:build_char_encoder_listener",
        "spacy_ft.CharTokenClassifier.v1": "spacy_ft.ner.model:build_char_token_classifier",
        "spacy_ft.CharClassifier.v1": "spacy_ft.textcat.char_model:build_char_classifier",
    },
    "spacy_loggers": {
        "spacy_ft.TrialLogger.v1": "spacy_ft.tune.logger:trial_logger",
    },
    "spacy_scorers": {
        "spacy_ft.textcat_scorer.v1": "spacy_ft.textcat.scoring:make_textcat_scorer",
    },
    "spacy_callbacks": {
        "spacy_ft.check_schedule.v1": "spacy_ft.training_checks:check_schedule",
    },
}
SPACY_NAMES = [
    (group, name) for group, names in ENTRY_POINTS.items() if group.startswith("spacy_") for name in names
]

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


def declared_in_setup_cfg() -> dict:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # keep the names' case
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    declared: dict = {}
    for group, lines in parser["options.entry_points"].items():
        for line in filter(None, (line.strip() for line in lines.splitlines())):
            name, _, target = line.partition("=")
            declared.setdefault(group, {})[name.strip()] = target.strip()
    return declared


def installed_metadata() -> dict:
    installed: dict = {}
    for ep in distribution("spacy_ft").entry_points:
        installed.setdefault(ep.group, {})[ep.name] = ep.value
    return installed


def test_setup_cfg_declares_exactly_the_expected_entry_points():
    assert declared_in_setup_cfg() == ENTRY_POINTS


def test_installed_metadata_has_exactly_the_expected_entry_points():
    """What importlib.metadata (and so spaCy) sees: a stale install (pip install -e . not
    rerun after setup.cfg changed) fails here."""
    assert installed_metadata() == ENTRY_POINTS


def test_console_script_resolves():
    (target,) = ENTRY_POINTS["console_scripts"].values()
    module, _, attribute = target.partition(":")
    out = run_python(
        f"""
        import importlib
        print(callable(getattr(importlib.import_module({module!r}), {attribute!r})))
        """
    )
    assert out == "True"


@pytest.mark.parametrize("group,name", SPACY_NAMES)
def test_name_resolves_through_spacy_registry_alone(group, name):
    """spaCy's registry finds the name through the entry point alone, and it is the
    declared object."""
    target = ENTRY_POINTS[group][name]
    out = run_python(
        f"""
        import importlib, sys, spacy
        from spacy.language import Language
        assert "spacy_ft" not in sys.modules
        group, name, target = {group!r}, {name!r}, {target!r}
        if group == "spacy_factories":  # spaCy loads these on Language creation
            spacy.blank("en")
            assert Language.has_factory(name), name
        found = getattr(spacy.registry, group[len("spacy_"):]).get(name)
        module, attribute = target.split(":")
        print(found is getattr(importlib.import_module(module), attribute))
        """
    )
    assert out == "True"


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
        import_blocker(*HEAVY)
        + textwrap.dedent(
            """
            import json
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
    )
    assert sorted(json.loads(out)) == sorted(name for _, name in SPACY_NAMES)


def test_saved_pipeline_loads_in_a_fresh_process(tmp_path):
    from tests.util import make_zh

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
