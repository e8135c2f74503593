"""Helpers shared by the test modules (fixtures that are slow to build live in conftest.py).

* blank pipelines: ``JIEBA``, ``make_zh``
* synthetic corpora with a known answer: NER (``ner_corpus``, entities inside jieba
  words), classification (``sentiment``, ``topics``) and the configs' few docs
  (``CONFIG_DATA``, ``config_corpus``)
* tiny random BERTs on their vocabularies (``make_*_bert``)
* pipeline builders and trainers: ``build_ner`` / ``ner_examples`` / ``train_ner``,
  ``build_textcat`` / ``textcat_examples`` / ``train_textcat``, ``build_trained_pipeline``
* ``run_child_json``: run code in a fresh interpreter on a model and texts
* ``import_blocker``: the source of a fresh interpreter in which some packages cannot be imported
* ``RULES``: a rule component standing in for spacy_ft_ner. Ray workers register it by
  importing this file by path (``STAND_IN_CODE``, passed as ``code``), so this module
  imports nothing from the tests package and nothing heavy at import time.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, SpanGroup
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from spacy_ft.corpora.token_split import split_at_edges

#: The repository root.
ROOT = Path(__file__).resolve().parents[1]
#: This file: what Ray workers import (``code``) to register ``RULES``.
STAND_IN_CODE = Path(__file__).resolve()

JIEBA = {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}
WINDOW = {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 32, "stride": 24}


def make_zh(**settings) -> spacy.Language:
    """A blank Chinese pipeline with the Jieba tokenizer (building jieba costs ~1 s)."""
    return spacy.blank("zh", config={"nlp": {"tokenizer": {**JIEBA, **settings}}})


# -- NER corpus: entities inside jieba words ---------------------------------------------

PERSONS = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇"]
PLACES = ["北京", "上海", "广州", "深圳", "杭州", "成都"]
SUFFIXES = ["路", "队", "派", "站"]
PREFIXES = ["今天", "我们", "听说", "昨天", "他说"]
ENDINGS = ["很热闹。", "开始了。", "在这里。", "不错。"]
ENGLISH_NER = [
    ("John lives in Paris .", [(0, 4, "PER"), (14, 19, "LOC")]),
    ("Mary visited London yesterday .", [(0, 4, "PER"), (13, 19, "LOC")]),
    ("we met Anna in Berlin .", [(7, 11, "PER"), (15, 21, "LOC")]),
    ("Peter likes Rome .", [(0, 5, "PER"), (12, 16, "LOC")]),
]

NerSample = Tuple[str, Dict[str, list]]


def glued_words() -> List[str]:
    """User-dictionary words that glue each entity to a suffix, so jieba keeps
    them as one token and the entity edge falls inside it."""
    return [name + suffix for name in PERSONS + PLACES for suffix in SUFFIXES]


def ner_corpus(n: int, seed: int) -> List[NerSample]:
    """A synthetic Chinese NER corpus whose entities sit inside jieba words."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        text, entities = rng.choice(PREFIXES), []
        for _ in range(rng.randint(1, 2)):
            label, name = ("PER", rng.choice(PERSONS)) if rng.random() < 0.5 else ("LOC", rng.choice(PLACES))
            entities.append((len(text), len(text) + len(name), label))
            text += name + rng.choice(SUFFIXES) + rng.choice(["和", "与", "的"])
        text += rng.choice(ENDINGS)
        data.append((text, {"entities": entities}))
    return data


# -- classification corpora ------------------------------------------------------------

FILLER_EN = "the a day work movie food it was is this that very".split()
POSITIVE_EN = "good great fine nice excellent".split()
NEGATIVE_EN = "bad awful poor terrible horrible".split()
FILLER_ZH = list("的了是在我们这那个今天电影东西")
POSITIVE_ZH = ["满意", "喜欢", "推荐"]
NEGATIVE_ZH = ["失望", "糟糕", "后悔"]

CatsSample = Tuple[str, Dict[str, float]]


def sentiment(n: int, seed: int, lang: str = "en") -> List[CatsSample]:
    """Exclusive POS/NEG: one sentiment word among filler decides the label."""
    rng = random.Random(seed)
    filler, pos, neg, sep = (
        (FILLER_EN, POSITIVE_EN, NEGATIVE_EN, " ")
        if lang == "en"
        else (FILLER_ZH, POSITIVE_ZH, NEGATIVE_ZH, "")
    )
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        words = [rng.choice(filler) for _ in range(rng.randint(2, 6))] + [rng.choice(pos if label else neg)]
        rng.shuffle(words)
        data.append((sep.join(words), {"POS": float(label), "NEG": float(not label)}))
    return data


def topics(n: int, seed: int) -> List[CatsSample]:
    """Multi-label SPORT / FOOD: each keyword family present independently."""
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        sport, food = rng.random() < 0.5, rng.random() < 0.5
        words = [rng.choice(FILLER_EN) for _ in range(rng.randint(2, 5))]
        if sport:
            words.append(rng.choice(["football", "tennis", "match"]))
        if food:
            words.append(rng.choice(["pizza", "noodles", "bread"]))
        rng.shuffle(words)
        data.append((" ".join(words), {"SPORT": float(sport), "FOOD": float(food)}))
    return data


def classification_texts() -> List[str]:
    """Every text the classification corpora can produce: the classifier BERT's vocabulary."""
    texts = (
        [t for t, _ in sentiment(50, 0)]
        + [t for t, _ in sentiment(50, 0, "zh")]
        + [t for t, _ in topics(50, 0)]
    )
    return texts + [" ".join(FILLER_EN + POSITIVE_EN + NEGATIVE_EN)]


# -- the shipped configs' corpus -----------------------------------------------------------

CONFIG_DATA = {
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


def config_corpus(lang: str, path: Path) -> Path:
    """CONFIG_DATA[lang] as a .spacy file with entities and cats."""
    from spacy.tokens import DocBin

    from spacy_ft.corpora import samples_to_docs
    from spacy_ft.corpora.records import Sample

    nlp = make_zh() if lang == "zh" else spacy.blank("en")
    samples = [
        Sample(text, ents, "inline", i, cats={"POS": float(label == "POS"), "NEG": float(label == "NEG")})
        for i, (text, ents, label) in enumerate(CONFIG_DATA[lang])
    ]
    docs, report = samples_to_docs(nlp, samples)
    assert report.entities == sum(len(ents) for _, ents, _ in CONFIG_DATA[lang])
    DocBin(docs=docs).to_disk(path)
    return path


# -- tiny random BERTs (the vocabulary is the texts', so nothing is [UNK]) -------------------


def make_textcat_bert(path: Path) -> str:
    """The classifier tests' BERT: the classification corpora's vocabulary."""
    from spacy_ft.testing import make_tiny_bert

    return str(make_tiny_bert(path, classification_texts()))


def make_ner_bert(path: Path) -> str:
    """The NER tests' BERT: the NER corpora's vocabulary and ENGLISH_NER's."""
    from spacy_ft.testing import make_tiny_bert

    texts = [t for t, _ in ner_corpus(400, 1) + ner_corpus(100, 2)] + [t for t, _ in ENGLISH_NER]
    return str(make_tiny_bert(path, texts))


def make_small_ner_bert(path: Path) -> str:
    """A BERT on the vocabulary of ner_corpus(60, 1), for brief NER trainings."""
    from spacy_ft.testing import make_tiny_bert

    return str(make_tiny_bert(path, [text for text, _ in ner_corpus(60, 1)]))


def make_config_bert(path: Path) -> str:
    """The shipped configs' stand-in transformer (512 positions, as the real ones)."""
    from spacy_ft.testing import make_tiny_bert

    texts = [text for lang in CONFIG_DATA for text, _, _ in CONFIG_DATA[lang]]
    return str(make_tiny_bert(path, texts, max_position=512))


# -- NER pipelines ------------------------------------------------------------------------


def build_ner(bert_path: str, lang: str = "zh", crf: bool = False, **ner) -> Language:
    """Jieba (with ``glued_words``) or English tokens + transformer + spacy_ft_ner."""
    nlp = spacy.blank(lang, config={"nlp": {"tokenizer": JIEBA}} if lang == "zh" else {})
    if lang == "zh":
        nlp.tokenizer.add_words(glued_words())
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": bert_path,
                "get_spans": WINDOW,
            }
        },
    )
    model = {"crf": crf, **ner.pop("model", {})}
    nlp.add_pipe("spacy_ft_ner", config={"model": model, **ner})
    return nlp


def char_reference(text: str, entities) -> Doc:
    """Gold on a per-character doc, as NER corpora annotate Chinese."""
    doc = Doc(spacy.blank("zh").vocab, words=list(text), spaces=[False] * len(text))
    doc.ents = [doc.char_span(s, e, label=label) for s, e, label in entities]
    return doc


def ner_examples(nlp: Language, data: List[NerSample]) -> List[Example]:
    return [Example(nlp.make_doc(text), char_reference(text, ann["entities"])) for text, ann in data]


def train_ner(nlp: Language, train_examples: List[Example], steps: int = 60, seed: int = 0) -> Language:
    fix_random_seed(seed)
    rng = random.Random(seed)
    nlp.initialize(lambda: train_examples)
    optimizer = Adam(2e-3)
    for _ in range(steps):
        nlp.update(rng.sample(train_examples, min(16, len(train_examples))), sgd=optimizer)
    return nlp


# -- classifier pipelines -------------------------------------------------------------------


def textcat_transformer_config(bert_path: str) -> dict:
    return {
        "model": {
            "@architectures": "spacy-transformers.TransformerModel.v3",
            "name": bert_path,
            "tokenizer_config": {"use_fast": True},
            "get_spans": WINDOW,
        }
    }


def build_textcat(bert_path: str, lang: str = "en", inline: bool = False, **textcat) -> Language:
    """Transformer + spacy_ft_textcat (or spacy_ft_textcat alone with an inline transformer)."""
    config = {"nlp": {"tokenizer": JIEBA}} if lang == "zh" else {}
    nlp = spacy.blank(lang, config=config)
    if inline:
        textcat.setdefault("model", {})["tok2vec"] = {
            "@architectures": "spacy_ft.InlineTransformer.v1",
            "name": bert_path,
            "tokenizer_config": {"use_fast": True},
            "get_spans": WINDOW,
        }
    else:
        nlp.add_pipe("transformer", config=textcat_transformer_config(bert_path))
    nlp.add_pipe("spacy_ft_textcat", config=textcat)
    return nlp


def textcat_examples(nlp: Language, data: List[CatsSample]) -> List[Example]:
    return [Example.from_dict(nlp.make_doc(text), {"cats": cats}) for text, cats in data]


def train_textcat(
    nlp: Language,
    data: List[CatsSample],
    steps: int = 100,
    batch_size: int = 16,
    seed: int = 0,
    learn_rate: float = 1e-3,
) -> Language:
    fix_random_seed(seed)
    rng = random.Random(seed)
    train_examples = textcat_examples(nlp, data)
    optimizer = nlp.initialize(lambda: train_examples)
    optimizer.learn_rate = learn_rate
    for _ in range(steps):
        nlp.update(rng.sample(train_examples, batch_size), sgd=optimizer)
    return nlp


# -- the packaged pipeline: Jieba + transformer + classifier + NER + cleanup ------------------

#: Texts the packaged pipeline must handle besides the corpus: empty, blank, longer than a window.
PACKAGE_TEXTS = ["今天张伟队和北京站开始了。", "", "   ", "北京" * 300]


def build_trained_pipeline(bert_dir: Path, out_dir: Path) -> Path:
    """Train a Jieba + transformer + classifier + NER pipeline with a user dictionary
    briefly and save it to ``out_dir / "model"`` (named ft_pkgtest 0.0.1)."""
    from spacy_ft.testing import make_tiny_bert

    data = ner_corpus(200, seed=1)
    bert = make_tiny_bert(bert_dir, [t for t, _ in data] + PACKAGE_TEXTS)
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": JIEBA}})
    nlp.tokenizer.add_words(glued_words())
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy_ft.TransformerModel.v1",
                "name": str(bert),
                "get_spans": WINDOW,
            }
        },
    )
    nlp.add_pipe("spacy_ft_textcat")
    nlp.add_pipe("spacy_ft_ner")
    nlp.add_pipe("spacy_ft_trf_cleanup")
    train_examples = ner_examples(nlp, data)
    for eg in train_examples:  # a learnable class: does the doc have a LOC?
        has_loc = any(ent.label_ == "LOC" for ent in eg.reference.ents)
        eg.reference.cats = {"LOC": float(has_loc), "NOLOC": float(not has_loc)}
    train_ner(nlp, train_examples, steps=30)
    path = out_dir / "model"
    nlp.meta["name"], nlp.meta["version"] = "ft_pkgtest", "0.0.1"
    nlp.to_disk(path)
    return path


# -- fresh interpreters -----------------------------------------------------------------------



def import_blocker(*names: str) -> str:
    """Python source that makes importing ``names`` or their submodules fail, to start the
    code a fresh interpreter runs: a path that must work without those packages is then
    checked for real. ``BLOCKED`` is a set the code after it may change."""
    return textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = set({sorted(names)!r})

        class _Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError("blocked import: " + name)
                return None

        sys.meta_path.insert(0, _Block())
        """
    )


def run_child_json(code: str, model_dir: str, texts: list) -> dict:
    """Run ``code`` in a fresh interpreter with the model path as argv[1] and the texts as
    JSON on stdin; its last stdout line is JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code, str(model_dir)],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- a rule stand-in for spacy_ft_ner (annotation, Ray and serve tests) -------------------------

RULES = "test_annotation_rules"
#: Words the rule component marks, with the score it gives them. 中 sits inside
#: the jieba token 中美关系, 张三 inside 张三在, 北京 inside 北京大学.
RULE_WORDS = {"中": ("LOC", 0.62), "北京": ("LOC", 0.97), "张三": ("PER", 0.91)}


def _mark_words(doc: Doc) -> Doc:
    """Stands in for spacy_ft_ner: splits tokens at entity edges, sets doc.ents
    and the scored span group exactly as TransformerNER.set_annotations does,
    and doc.cats like spacy_ft_textcat."""
    found = sorted(
        (start, start + len(word), label, score)
        for word, (label, score) in RULE_WORDS.items()
        for start in range(len(doc.text))
        if doc.text.startswith(word, start)
    )
    split_at_edges(doc, {edge for start, end, _, _ in found for edge in (start, end)})
    spans = [doc.char_span(start, end, label=label) for start, end, label, _ in found]
    doc.ents = spans
    group = SpanGroup(doc, name="ents_scored", spans=spans)
    group.attrs["scores"] = [score for *_, score in found]
    doc.spans["ents_scored"] = group
    doc.cats = {"POS": 0.8, "NEG": 0.2} if "好" in doc.text else {"POS": 0.3, "NEG": 0.7}
    return doc


if not Language.has_factory(RULES):
    Language.component(RULES, func=_mark_words)
