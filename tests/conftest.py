"""Shared fixtures. Building a jieba instance costs ~1 s, so pipelines are module-scoped."""

from __future__ import annotations

import pytest
import spacy

JIEBA = {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}


def make_zh(**settings) -> spacy.Language:
    return spacy.blank("zh", config={"nlp": {"tokenizer": {**JIEBA, **settings}}})


@pytest.fixture(scope="session")
def zh_nlp() -> spacy.Language:
    return make_zh()


@pytest.fixture(scope="session")
def zh_nlp_fast() -> spacy.Language:
    return make_zh(backend="jieba_next")


@pytest.fixture(scope="session")
def zh_nlp_no_hmm() -> spacy.Language:
    return make_zh(hmm=False)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow end-to-end tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow end-to-end test: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
