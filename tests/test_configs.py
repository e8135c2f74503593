"""Every shipped training config resolves, initializes and trains a step on CPU.

The transformer name is swapped for a tiny random BERT written by the test (no
downloads); everything else is the config as users get it, GPU configs
included (their allocator setting only applies when a GPU is used).
"""

from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.training.initialize import init_nlp
from spacy.util import load_config

from spacy_ft.corpora import samples_to_docs
from spacy_ft.corpora.records import Sample
from spacy_ft.testing import make_tiny_bert
from spacy_ft.transformer.models import resolve_model_name
from tests.conftest import make_zh

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["zh_cpu", "zh_gpu", "en_cpu", "en_gpu"]
DATA = {
    "zh": [
        ("张伟在北京大学读书，很满意。", [(0, 2, "PER"), (3, 7, "ORG")], "POS"),
        ("李娜去上海出差，服务太差了。", [(0, 2, "PER"), (3, 5, "LOC")], "NEG"),
        ("北京人王芳说产品很好。", [(0, 2, "LOC"), (3, 5, "PER")], "POS"),
    ],
    "en": [
        ("John studied at Oxford University and loved it .", [(0, 4, "PER"), (16, 33, "ORG")], "POS"),
        ("Mary stayed in Paris and hated it .", [(0, 4, "PER"), (15, 20, "LOC")], "NEG"),
    ],
}


def _corpus(lang: str, path: Path) -> Path:
    nlp = make_zh() if lang == "zh" else spacy.blank("en")
    samples = [
        Sample(text, ents, "inline", i, cats={"POS": float(label == "POS"), "NEG": float(label == "NEG")})
        for i, (text, ents, label) in enumerate(DATA[lang])
    ]
    docs, report = samples_to_docs(nlp, samples)
    assert report.entities == sum(len(ents) for _, ents, _ in DATA[lang])
    DocBin(docs=docs).to_disk(path)
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    texts = [text for lang in DATA for text, _, _ in DATA[lang]]
    return str(make_tiny_bert(tmp_path_factory.mktemp("cfg_bert"), texts, max_position=512))


def _config(name: str, tiny_bert: str, tmp_path: Path, **extra: object):
    lang = name.split("_")[0]
    corpus = _corpus(lang, tmp_path / f"{lang}.spacy")
    overrides = {"paths.train": str(corpus), "paths.dev": str(corpus), "paths.transformer": tiny_bert, **extra}
    if name.endswith("gpu"):
        # fp16 autocast and its loss scaling need a CUDA device; all else is as shipped.
        overrides["components.transformer.model.mixed_precision"] = False
    if lang == "zh":
        overrides["paths.user_dict"] = str(ROOT / "assets" / "user_dict_zh.txt")
    return load_config(ROOT / "configs" / f"{name}.cfg", overrides=overrides, interpolate=False)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_initializes_and_trains_a_step(name, tiny_bert, tmp_path):
    nlp = init_nlp(_config(name, tiny_bert, tmp_path))
    assert nlp.pipe_names == ["transformer", "textcat", "ner", "bias", "trf_cleanup"]
    assert set(nlp.get_pipe("textcat").labels) == {"POS", "NEG"}
    assert set(nlp.get_pipe("ner").labels) >= ({"PER", "ORG"} if name.startswith("en") else {"PER", "ORG", "LOC"})
    corpus = DocBin().from_disk(tmp_path / f"{name[:2]}.spacy").get_docs(nlp.vocab)
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in corpus]
    losses = nlp.update(examples, sgd=nlp.create_optimizer())
    assert losses["textcat"] > 0 and losses["ner"] > 0
    doc = nlp(examples[0].reference.text)
    assert set(doc.cats) == {"POS", "NEG"} and abs(sum(doc.cats.values()) - 1.0) < 1e-5
    assert len(doc._.trf_data.tensors) == 0  # trf_cleanup ran last
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
    tokenizer = config["nlp"]["tokenizer"]["@tokenizers"]
    assert tokenizer == ("spacy_ft.JiebaTokenizer.v1" if name.startswith("zh") else "spacy.Tokenizer.v1")


def test_english_cpu_default_model_resolves_offline():
    config = load_config(ROOT / "configs" / "en_cpu.cfg", interpolate=False)
    path = Path(resolve_model_name(config["paths"]["transformer"]))
    assert (path / "config.json").is_file() and not str(config["paths"]["transformer"]).startswith("/")
