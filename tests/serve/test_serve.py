"""The HTTP server: answers, limits, micro-batching, backpressure, fuzzed bodies.

Most tests use a cheap pipeline (Jieba tokenizer + the rule component of
tests/util.py, which writes scored entities and cats like spacy_ft_ner and
spacy_ft_textcat) and a recorder component that logs the batches it sees;
one test serves a briefly trained spacy_ft_ner pipeline.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import sys
import time
from typing import Any

import httpx
import pytest
import spacy
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from spacy_ft.serve import create_app
from spacy_ft.serve.app import ServeSettings
from tests.util import RULES, build_ner, make_zh, ner_corpus, ner_examples, train_ner

RECORDER = "test_serve_recorder"
BIAS_STUB = "test_serve_bias_stub"
LIMITS = ServeSettings(max_texts=4, max_chars=50, max_body_bytes=4096)


class Recorder:
    """Logs how the pipeline is called: ``("pipe", n)`` per batch of ``n`` docs,
    ``("call", 1)`` per ``nlp(text)``. Sleeps ``delay`` per call/batch; fails on "BOOM"."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls: list[tuple[str, int]] = []

    def _check(self, docs: list[Doc], kind: str) -> None:
        self.calls.append((kind, len(docs)))
        time.sleep(self.delay)
        if any("BOOM" in doc.text for doc in docs):
            raise ValueError("the recorder fails on BOOM")

    def __call__(self, doc: Doc) -> Doc:
        self._check([doc], "call")
        return doc

    def pipe(self, docs, batch_size: int = 128):
        for batch in minibatch(docs, batch_size):
            self._check(batch, "pipe")
            yield from batch


if not Language.has_factory(RECORDER):

    @Language.factory(RECORDER, default_config={"delay": 0.0})
    def make_recorder(nlp: Language, name: str, delay: float) -> Recorder:
        return Recorder(delay)


def _bias_stub(doc: Doc) -> Doc:
    """Stands in for spacy_ft_bias: the summary and the counterfactual fields."""
    doc._.bias = {"gender": ["female"]} if "她" in doc.text else {}
    doc._.bias_flip = "她" in doc.text
    doc._.bias_max_delta = 0.25 if "她" in doc.text else 0.0
    return doc


if not Language.has_factory(BIAS_STUB):
    Language.component(BIAS_STUB, func=_bias_stub)


def pipeline(delay: float = 0.0, bias: bool = False, lang: str = "en") -> Language:
    """spaCy's English tokenizer by default: a jieba load costs seconds per pipeline."""
    nlp = make_zh() if lang == "zh" else spacy.blank(lang)
    nlp.add_pipe(RULES)
    nlp.add_pipe(RECORDER, config={"delay": delay})
    if bias:
        for name in ("bias", "bias_flip", "bias_max_delta"):
            if not Doc.has_extension(name):
                Doc.set_extension(name, default=None)
        nlp.add_pipe(BIAS_STUB, name="spacy_ft_bias")
    return nlp


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(pipeline(lang="zh"), LIMITS)) as test_client:
        yield test_client


def concurrently(app, bodies: list[Any]) -> list[httpx.Response]:
    """POST every body at once to ``app`` (lifespan running), in one event loop."""

    async def run() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return await asyncio.gather(*(http.post("/v1/analyze", json=body) for body in bodies))

    return asyncio.run(run())


def test_analyze_returns_tokens_scored_entities_and_cats(client):
    response = client.post("/v1/analyze", json={"texts": ["张三在北京大学读书", "今天天气不错"]})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "zh_pipeline-0.0.0"
    first, second = body["docs"]
    assert first["text"] == "张三在北京大学读书"
    assert [(e["text"], e["label"], e["start"], e["end"], e["score"]) for e in first["entities"]] == [
        ("张三", "PER", 0, 2, 0.91),
        ("北京", "LOC", 3, 5, 0.97),
    ]
    assert first["cats"] == {"POS": 0.3, "NEG": 0.7}
    assert "".join(t["text"] for t in first["tokens"]) == first["text"]
    assert [t["text"] for t in first["tokens"]][:2] == ["张三", "在"]  # split at the entity edge
    assert second["entities"] == [] and first["bias"] is None  # no bias checker in this pipeline
    no_tokens = client.post("/v1/analyze", json={"texts": ["中美关系很好"], "tokens": False}).json()
    assert no_tokens["docs"][0]["tokens"] is None and no_tokens["docs"][0]["entities"][0]["text"] == "中"


def test_health_openapi_and_docs(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["batching"] is True
    assert health["pipeline"] == [RULES, RECORDER]
    schema = client.get("/openapi.json").json()
    analyze = schema["paths"]["/v1/analyze"]["post"]
    assert (
        analyze["requestBody"]["content"]["application/json"]["schema"]["properties"]["texts"]["type"]
        == "array"
    )
    assert {"200", "400", "413", "422", "503", "504"} <= set(analyze["responses"])
    assert "/health" in schema["paths"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.mark.parametrize(
    "content,status,message",
    [
        (json.dumps({"texts": ["a"] * 5}), 413, "the limit is 4 (--max-texts)"),
        (json.dumps({"texts": ["a" * 51]}), 413, "texts.0 has 51 characters; the limit is 50 (--max-chars)"),
        (json.dumps({"texts": ["a"], "pad": "x" * 5000}), 413, "limit of 4096 bytes (--max-body-bytes)"),
        (json.dumps({"texts": ["ok", ""]}), 422, "texts.1 is empty"),
        (json.dumps({"texts": ["ok", 3]}), 422, "texts.1: Input should be a valid string"),
        (json.dumps({"texts": "just one"}), 422, "texts: Input should be a valid list"),
        (json.dumps({"texts": []}), 422, "texts: List should have at least 1 item"),
        (json.dumps({"text": "x"}), 422, "texts: Field required"),
        (json.dumps(["x"]), 422, "invalid request"),
        (json.dumps({"texts": ["x"], "tokens": "yes"}), 422, "tokens: Input should be a valid boolean"),
        ('{"texts": ["\\ud800"]}', 422, "texts.0 is not valid Unicode (lone surrogate"),
        ('{"texts": ["x"], "\\ud800": 1}', 422, "invalid request"),
        ('{"texts": ["x"], "more": 1}', 422, "more: Extra inputs are not permitted"),
        (b'{"texts": ["caf\xe9"]}', 400, "not valid UTF-8 (byte 15"),
        ("\ufeff" + json.dumps({"texts": ["x"]}), 400, "not valid JSON"),
        ('{"texts": ["x"', 400, "not valid JSON"),
        ("[" * 1500 + "]" * 1500, 400, "nested too deeply"),
        ("", 400, "empty request body"),
    ],
)
def test_limits_and_malformed_bodies_are_4xx_with_a_clear_message(client, content, status, message):
    response = client.post("/v1/analyze", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_concurrent_requests_are_micro_batched_and_keep_their_order():
    nlp = pipeline()
    app = create_app(nlp, ServeSettings(max_batch_texts=32, max_wait_ms=200))
    texts = [f"张三第{i}次来北京" for i in range(16)]
    responses = concurrently(app, [{"texts": [text]} for text in texts])
    assert [r.status_code for r in responses] == [200] * 16
    assert [r.json()["docs"][0]["text"] for r in responses] == texts
    calls = nlp.get_pipe(RECORDER).calls[1:]  # [0] is the warm-up
    assert {kind for kind, _ in calls} == {"pipe"}
    assert sum(size for _, size in calls) == 16
    assert len(calls) < 16 and max(size for _, size in calls) > 1, calls
    stats = app.state.batcher.stats
    assert (stats.batches, stats.texts) == (len(calls), 16)


def test_no_batching_calls_nlp_once_per_text():
    nlp = pipeline()
    app = create_app(nlp, ServeSettings(batching=False))
    responses = concurrently(app, [{"texts": [f"北京{i}"]} for i in range(6)] + [{"texts": ["a", "b"]}])
    assert all(r.status_code == 200 for r in responses)
    assert nlp.get_pipe(RECORDER).calls[1:] == [("call", 1)] * 8


def test_batches_never_exceed_max_batch_texts():
    nlp = pipeline()
    app = create_app(nlp, ServeSettings(max_batch_texts=5, max_wait_ms=200))
    responses = concurrently(app, [{"texts": ["北京", "上海"]} for _ in range(6)])
    assert all(r.status_code == 200 for r in responses)
    sizes = [size for _, size in nlp.get_pipe(RECORDER).calls[1:]]
    assert sum(sizes) == 12 and max(sizes) <= 5


def test_full_queue_is_503_and_slow_answers_are_504():
    app = create_app(pipeline(delay=0.3), ServeSettings(max_queue=1, max_wait_ms=0, max_batch_texts=1))
    codes = [r.status_code for r in concurrently(app, [{"texts": [f"x{i}"]} for i in range(5)])]
    assert codes.count(200) >= 1 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    app = create_app(pipeline(delay=0.3), ServeSettings(timeout_s=0.05))
    (response,) = concurrently(app, [{"texts": ["slow"]}])
    assert response.status_code == 504 and "request timeout" in response.json()["detail"]


def test_a_failing_request_fails_alone():
    app = create_app(pipeline(), ServeSettings(max_wait_ms=200))
    responses = concurrently(app, [{"texts": ["ok"]}, {"texts": ["BOOM"]}, {"texts": ["fine"]}])
    assert [r.status_code for r in responses] == [200, 500, 200]
    assert responses[2].json()["docs"][0]["text"] == "fine"


def test_bias_fields_only_with_a_bias_checker():
    with TestClient(create_app(pipeline(bias=True))) as http:
        docs = http.post("/v1/analyze", json={"texts": ["她在北京", "张三在北京"]}).json()["docs"]
    assert docs[0]["bias"] == {"groups": {"gender": ["female"]}, "flip": True, "max_delta": 0.25}
    assert docs[1]["bias"] == {"groups": {}, "flip": False, "max_delta": 0.0}


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
TEXTS = st.lists(st.text(max_size=60) | JSON_VALUES, min_size=0, max_size=6)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.builds(lambda texts: json.dumps({"texts": texts}).encode(), TEXTS),
    st.builds(
        lambda texts, tokens: json.dumps({"texts": texts, "tokens": tokens}, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        ),
        st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=4),
        JSON_VALUES,
    ),
    st.builds(lambda texts: json.dumps({"texts": texts}).encode()[: len(texts) * 7], TEXTS),  # cut short
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_fuzzed_bodies_get_2xx_or_4xx_and_the_server_keeps_answering(client, body):
    response = client.post("/v1/analyze", content=body, headers={"content-type": "application/json"})
    assert 200 <= response.status_code < 500, (body, response.text)
    assert client.get("/health").status_code == 200


@pytest.mark.slow
def test_trained_spacy_ft_ner_pipeline_serves_scores(small_ner_bert):
    """spacy_ft_ner itself, trained briefly on a tiny random BERT (~30 s alone, over
    60 s on a busy machine; the stand-in pipeline covers the fields in the quick run)."""
    data = ner_corpus(60, 1)
    nlp = build_ner(small_ner_bert)
    train_ner(nlp, ner_examples(nlp, data), steps=30)
    texts = [text for text, _ in ner_corpus(8, 3)]
    with TestClient(create_app(nlp)) as http:
        docs = http.post("/v1/analyze", json={"texts": texts}).json()["docs"]
    found = [e for doc in docs for e in doc["entities"]]
    assert [doc["text"] for doc in docs] == texts
    assert found and all(isinstance(e["score"], float) and 0.0 <= e["score"] <= 1.0 for e in found)


def test_serve_command_loads_the_model_once_and_runs_uvicorn(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from spacy_ft.cli import app as cli

    make_zh().to_disk(tmp_path / "model")
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    args = ["serve", str(tmp_path / "model"), "--port", "8123", "--no-batching", "--max-texts", "3"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123)
    assert seen["app"].state.settings == ServeSettings(max_texts=3, batching=False)
    assert seen["app"].state.nlp.pipe_names == []


def test_a_missing_serve_extra_names_it(monkeypatch):
    """(That spacy.load / spacy.blank never import fastapi is checked in test_entry_points.)"""
    monkeypatch.setitem(sys.modules, "fastapi", None)  # what a failed import leaves behind
    monkeypatch.delitem(sys.modules, "spacy_ft.serve.app")
    with pytest.raises(ImportError, match=re.escape("pip install 'spacy_ft[serve]'")):
        importlib.import_module("spacy_ft.serve.app")
