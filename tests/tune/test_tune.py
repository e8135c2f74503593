"""Hyperparameter search (`python -m spacy_ft tune`): the space file, overrides,
pruning, resuming, the report, both engines and the missing-extra message.

Real trials train configs/en_cpu.cfg with a tiny random BERT (conftest's
``config_bert``, as in tests/test_configs.py) for a few steps; pruning is tested
with a fake trainer whose scores are known, so it does not depend on what a tiny
model learns.
"""

import csv
import json
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from spacy_ft.cli import app
from spacy_ft.tune.space import DEFAULT_SPACE, SearchSpace, apply_params, load_space
from spacy_ft.tune.study import TuneSettings
from tests.util import ROOT, config_corpus

CONFIG = ROOT / "configs" / "en_cpu.cfg"
SPACE = {
    "training.optimizer.learn_rate.initial_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "components.textcat.model.pooling": {"type": "categorical", "choices": ["cls", "mean", "max"]},
    "components.ner.model.crf": {"type": "categorical", "choices": [True, False]},
    "training.batcher.size": {"type": "int", "low": 1, "high": 4},
}


def write_space(tmp_path: Path, data, name: str = "space.yml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data), encoding="utf-8")
    return path


def overrides(bert: str, corpus: Path) -> dict:
    """A few steps with an evaluation every 2, on the tiny model and corpus."""
    return {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "paths.transformer": bert,
        "training.max_steps": 4,
        "training.eval_frequency": 2,
        "training.optimizer.learn_rate.total_steps": 4,
        "training.optimizer.learn_rate.warmup_steps": 1,
    }


def cli_args(bert: str, corpus: Path) -> list:
    return [arg for key, value in overrides(bert, corpus).items() for arg in (f"--{key}", str(value))]


def test_example_space_file_is_the_default_and_fits_every_config():
    assert yaml.safe_load((ROOT / "configs" / "tune_space.yml").read_text(encoding="utf-8")) == DEFAULT_SPACE
    from spacy.util import load_config

    space = load_space(ROOT / "configs" / "tune_space.yml")
    for name in ("zh_cpu", "en_cpu", "zh_gpu", "en_gpu"):
        space.check_config(load_config(ROOT / "configs" / f"{name}.cfg", interpolate=False), name)


@pytest.mark.parametrize("space_file, configs", [
    ("tune_space.yml", ("zh_cpu", "zh_cpu_e5", "en_cpu")),
    ("tune_space_gpu.yml", ("zh_gpu", "en_gpu")),
])
def test_each_space_file_ranges_over_its_configs_own_values(space_file, configs):
    """A batcher size counts sequences (batch_by_sequence) or padded words (batch_by_padded):
    a space file must range around the values of the configs it is for."""
    from spacy.util import load_config

    entries = yaml.safe_load((ROOT / "configs" / space_file).read_text(encoding="utf-8"))
    load_space(ROOT / "configs" / space_file)  # valid
    for name in configs:
        config = load_config(ROOT / "configs" / f"{name}.cfg", interpolate=False)
        for key, entry in entries.items():
            section = config
            for part in key.split("."):
                section = section[part]
            if entry["type"] == "categorical":
                assert section in entry["choices"], (space_file, name, key)
            else:
                assert entry["low"] <= section <= entry["high"], (space_file, name, key, section)


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"type": "uniform", "low": 0, "high": 1}, "type must be one of float, int, categorical"),
        ({"type": "float", "low": 0}, "a float parameter needs high"),
        ({"type": "float", "low": 1, "high": 0}, "low (1) is above high (0)"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "log = true needs low > 0"),
        ({"type": "float", "low": 0, "high": "x"}, "high must be a number"),
        ({"type": "int", "low": 1, "high": 8, "step": 1.5}, "needs whole low/high/step"),
        ({"type": "categorical", "choices": []}, "choices must be a non-empty list"),
        ({"type": "categorical", "choices": [[1]]}, "choices must be numbers, strings"),
        ({"type": "categorical", "choices": [1], "low": 0}, "unknown field(s) low"),
        ([0.1, 0.2], "expected a mapping"),
    ],
)
def test_space_errors_name_the_file_and_the_key(tmp_path, entry, message):
    path = write_space(tmp_path, {"training.dropout": entry}, "space.json")
    with pytest.raises(ValueError) as err:
        load_space(path)
    assert str(path) in str(err.value) and "'training.dropout'" in str(err.value) and message in str(err.value)


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "space.yml"
    path.write_text("training.optimizer.learn_rate.initial_rate: {type: float, low: 1e-5, high: 1e-3, log: true}\n")
    (param,) = load_space(path).params
    assert (param.low, param.high, param.log) == (1e-5, 1e-3, True)


def test_unknown_config_paths_fail_before_training(tmp_path):
    from spacy.util import load_config

    config = load_config(CONFIG, interpolate=False)
    space = load_space(write_space(tmp_path, {"components.ner.model.crff": {"type": "categorical", "choices": [1]}}))
    with pytest.raises(ValueError, match=r"space.yml: 'components.ner.model.crff' is not a setting: components.ner.model has @architectures, crf, dropout, tok2vec in en_cpu.cfg"):
        space.check_config(config, "en_cpu.cfg")
    space = load_space(write_space(tmp_path, {"training.optimizer": {"type": "categorical", "choices": [1]}}))
    with pytest.raises(ValueError, match="is a section, not a setting"):
        space.check_config(config, "en_cpu.cfg")
    # The default space leaves out what a config lacks instead of failing.
    del config["components"]["ner"]
    restricted = load_space(None).restrict_to(config)
    assert restricted.skipped == ["components.ner.model.crf", "components.ner.model.dropout"]


def test_sampled_values_become_config_overrides(tmp_path):
    from spacy.util import load_config

    config = load_config(CONFIG, interpolate=False)
    trial = optuna.create_study().ask()
    params = load_space(write_space(tmp_path, SPACE)).suggest(trial)
    assert params == trial.params and set(params) == set(SPACE)
    tuned = apply_params(config, params)
    assert tuned["components"]["textcat"]["model"]["pooling"] == params["components.textcat.model.pooling"]
    assert tuned["components"]["ner"]["model"]["crf"] is params["components.ner.model.crf"]
    assert tuned["training"]["batcher"]["size"] == params["training.batcher.size"]
    assert config["components"]["ner"]["model"]["crf"] is True  # the base config is untouched


def test_pruner_stops_a_trial_that_scores_below_the_first(tmp_path):
    from spacy.util import load_config

    from spacy_ft.tune.optuna_engine import run_optuna

    calls = []

    def fake_train(config, params, report, **kwargs):
        # Trial 0 scores 0.9 at every evaluation, the later ones 0.1: the median pruner
        # (1 startup trial) must stop them at their first evaluation.
        score = 0.9 if not calls else 0.1
        calls.append([])
        for step in (0, 2, 4):
            report(step, score)
            calls[-1].append(step)
        return score

    settings = TuneSettings("en_cpu.cfg", tmp_path, trials=3, pruner="median", startup_trials=1)
    space = SearchSpace(load_space(write_space(tmp_path, SPACE)).params[:1])
    study = run_optuna(load_config(CONFIG, interpolate=False), space, settings, train=fake_train)
    states = [trial.state.name for trial in study.trials]
    assert states == ["COMPLETE", "PRUNED", "PRUNED"]
    assert calls == [[0, 2, 4], [], []]  # pruned at the first report, before training went on


def test_tune_trains_resumes_and_writes_the_report(config_bert, tmp_path):
    corpus = config_corpus("en", tmp_path / "en.spacy")
    space = write_space(tmp_path, SPACE)
    out = tmp_path / "out"
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    base = ["tune", str(CONFIG), "--space", str(space), "--output", str(out), "--storage", storage,
            "--pruner", "none", *cli_args(config_bert, corpus)]
    runner = CliRunner()
    first = runner.invoke(app, [*base, "--trials", "2"])
    assert first.exit_code == 0, first.output
    # Run again asking for 3: the study resumes from its storage and adds one trial.
    second = runner.invoke(app, [*base, "--trials", "3"])
    assert second.exit_code == 0, second.output
    study = optuna.load_study(study_name="spacy_ft", storage=storage)
    assert len(study.trials) == 3 and all(trial.state.name == "COMPLETE" for trial in study.trials)
    for trial in study.trials:
        assert sorted(trial.intermediate_values) == [0, 2, 4]  # every evaluation reached Optuna
        # The trial really trained with its sampled values.
        trained = (out / "trials" / f"trial_{trial.number}.cfg").read_text(encoding="utf-8")
        assert f"pooling = \"{trial.params['components.textcat.model.pooling']}\"" in trained
        assert f"crf = {str(trial.params['components.ner.model.crf']).lower()}" in trained
        assert f"size = {trial.params['training.batcher.size']}" in trained
    with (out / "trials.csv").open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["number"] for row in rows] == ["0", "1", "2"] and set(SPACE) <= set(rows[0])
    assert (out / "trials.md").read_text(encoding="utf-8").startswith("| number | state | value | steps |")
    from spacy.util import load_config

    best = load_config(out / "best.cfg", interpolate=False)
    assert best["components"]["textcat"]["model"]["pooling"] == study.best_params["components.textcat.model.pooling"]
    assert best["paths"]["transformer"] == config_bert and best["training"]["logger"]["@loggers"] == "spacy.ConsoleLogger.v1"
    for plot in ("optimization_history", "intermediate_values", "param_importances"):
        assert (out / "plots" / f"{plot}.html").is_file()
    assert "Best: trial" in second.output and "3 trials" in second.output


def test_missing_extra_names_the_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna", None)
    result = CliRunner().invoke(app, ["tune", str(CONFIG), "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "pip install 'spacy_ft[tune]'" in result.output
    result = CliRunner().invoke(app, ["tune", str(CONFIG), "--engine", "ray", "--output", str(tmp_path)])
    assert "pip install 'spacy_ft[ray]'" in result.output


@pytest.mark.slow  # a local Ray instance and two trial workers: ~2 min on 2 busy cores
def test_ray_engine_runs_the_same_study(config_bert, tmp_path):
    import ray

    from spacy_ft.tune.run import tune

    corpus = config_corpus("en", tmp_path / "en.spacy")
    settings = TuneSettings(str(CONFIG), tmp_path / "out", trials=2, startup_trials=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = tune(
            CONFIG, settings, space_path=write_space(tmp_path, SPACE), overrides=overrides(config_bert, corpus),
            engine="ray", plots="none",
        )
    finally:
        ray.shutdown()
    study = optuna.load_study(study_name="spacy_ft", storage=settings.storage_url)
    assert len(study.trials) == 2 and summary.trials == 2
    assert all(trial.state.name == "COMPLETE" and trial.intermediate_values for trial in study.trials)
    assert (settings.output_dir / "best.cfg").is_file()
