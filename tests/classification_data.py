"""Synthetic classification corpora with a known answer, for tests."""

import random
from typing import Dict, List, Tuple

FILLER_EN = "the a day work movie food it was is this that very".split()
POSITIVE_EN = "good great fine nice excellent".split()
NEGATIVE_EN = "bad awful poor terrible horrible".split()
FILLER_ZH = list("的了是在我们这那个今天电影东西")
POSITIVE_ZH = ["满意", "喜欢", "推荐"]
NEGATIVE_ZH = ["失望", "糟糕", "后悔"]

Sample = Tuple[str, Dict[str, float]]


def sentiment(n: int, seed: int, lang: str = "en") -> List[Sample]:
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


def topics(n: int, seed: int) -> List[Sample]:
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


def all_texts() -> List[str]:
    texts = (
        [t for t, _ in sentiment(50, 0)]
        + [t for t, _ in sentiment(50, 0, "zh")]
        + [t for t, _ in topics(50, 0)]
    )
    return texts + [" ".join(FILLER_EN + POSITIVE_EN + NEGATIVE_EN)]
