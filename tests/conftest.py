"""Shared fixtures: the ones several test packages use and that are slow to build, so
they are built once per session. Helpers (corpora, builders) live in tests/util.py.

Plain ``pytest`` runs every test; ``pytest -m "not slow"`` leaves out the slow
end-to-end ones (setup.cfg's ``slow`` marker) for a quick run while developing.
"""

from __future__ import annotations

import pytest
import spacy

from tests.util import (
    build_trained_pipeline,
    make_config_bert,
    make_ner_bert,
    make_small_ner_bert,
    make_textcat_bert,
    make_zh,
)

# -- Jieba pipelines (building a jieba instance costs ~1 s) ------------------------------


@pytest.fixture(scope="session")
def zh_nlp() -> spacy.Language:
    return make_zh()


@pytest.fixture(scope="session")
def zh_nlp_fast() -> spacy.Language:
    return make_zh(backend="jieba_next")


@pytest.fixture(scope="session")
def zh_nlp_no_hmm() -> spacy.Language:
    return make_zh(hmm=False)


# -- tiny random BERTs: a directory name to pass as the transformer's ``name`` -----------


@pytest.fixture(scope="session")
def textcat_bert(tmp_path_factory) -> str:
    """On the classification corpora's vocabulary (textcat, head dropout)."""
    return make_textcat_bert(tmp_path_factory.mktemp("textcat_bert"))


@pytest.fixture(scope="session")
def ner_bert(tmp_path_factory) -> str:
    """On the NER corpora's vocabulary (ner, head dropout)."""
    return make_ner_bert(tmp_path_factory.mktemp("ner_bert"))


@pytest.fixture(scope="session")
def small_ner_bert(tmp_path_factory) -> str:
    """On ner_corpus(60, 1)'s vocabulary, for brief NER trainings (annotation, serve)."""
    return make_small_ner_bert(tmp_path_factory.mktemp("small_ner_bert"))


@pytest.fixture(scope="session")
def config_bert(tmp_path_factory) -> str:
    """Stands in for the shipped configs' transformer (configs, tune)."""
    return make_config_bert(tmp_path_factory.mktemp("config_bert"))


# -- trained pipelines ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory):
    """A Jieba + transformer + classifier + NER pipeline with a user dictionary, trained
    briefly and saved (packaging, quantization, ONNX)."""
    return build_trained_pipeline(tmp_path_factory.mktemp("pkg_bert"), tmp_path_factory.mktemp("pkg_model"))
