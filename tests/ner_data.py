"""A synthetic Chinese NER corpus whose entities sit inside jieba words."""

import random
from typing import Dict, List, Tuple

PERSONS = ["张伟", "李娜", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄勇"]
PLACES = ["北京", "上海", "广州", "深圳", "杭州", "成都"]
SUFFIXES = ["路", "队", "派", "站"]
PREFIXES = ["今天", "我们", "听说", "昨天", "他说"]
ENDINGS = ["很热闹。", "开始了。", "在这里。", "不错。"]

Sample = Tuple[str, Dict[str, list]]


def glued_words() -> List[str]:
    """User-dictionary words that glue each entity to a suffix, so jieba keeps
    them as one token and the entity edge falls inside it."""
    return [name + suffix for name in PERSONS + PLACES for suffix in SUFFIXES]


def corpus(n: int, seed: int) -> List[Sample]:
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
