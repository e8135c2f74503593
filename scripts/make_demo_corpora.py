"""Write the offline demo corpora in assets/ (Chinese and English, NER + sentiment).

The demo workflow must run without a network, so the project writes its own small
corpora: template sentences with person, organisation and place names and a
positive / negative verdict. Each line of the JSONL output is
``{"text", "entities": [[start, end, label]], "cats": {"POS": 1.0, "NEG": 0.0}}``
(end exclusive), the format ``python -m spacy_ft convert --format jsonl`` reads.

Some sentences carry 他/她 or he/she, chosen at random independently of the verdict, so the
bias audit has gender groups to compare (and should find no bias). Some Chinese entities sit inside a jieba word on purpose (北京 in 北京人, 中 in 中美):
the converter must keep them and the NER head must find them. The output is
deterministic (fixed seed), so the committed files can be regenerated exactly:

    python scripts/make_demo_corpora.py assets
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ZH_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
ZH_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
            "明", "超", "秀英", "霞", "平", "刚", "桂英", "建华", "文", "晓东", "海燕", "志强", "小红"]
ZH_ORGS = ["北京大学", "清华大学", "复旦大学", "浙江大学", "华为公司", "腾讯公司", "阿里巴巴", "中国银行",
           "人民医院", "南京大学", "小米科技", "新华书店", "中山大学", "武汉大学", "联想集团"]
ZH_PLACES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "重庆", "天津", "苏州",
             "长沙", "青岛", "厦门"]
ZH_POSITIVE = ["很满意。", "非常喜欢。", "体验很好，下次还来。", "服务周到，值得推荐。", "环境不错，很开心。",
               "效果很好，物超所值。"]
ZH_NEGATIVE = ["很失望。", "非常糟糕。", "服务太差了，不会再来。", "体验很差，不推荐。", "环境脏乱，很生气。",
               "质量太差，浪费钱。"]
ZH_TEMPLATES = [
    "{PER}在{ORG}读书，{verdict}",
    "{PER}去{LOC}出差，住的酒店{verdict}",
    "{PER}在{LOC}的{ORG}工作，对公司{verdict}",
    "昨天{PER}和{PER}去了{LOC}，{verdict}",
    "{LOC}人{PER}说{ORG}的产品{verdict}",
    "{PER}评价{ORG}：{verdict}",
    "这次在{LOC}买的书，{verdict}",
    "{ORG}的客服{PER}处理问题，{verdict}",
    "{PER}说{PRON}在{LOC}住了一周，{verdict}",
    "{PRON}和{PER}在{ORG}见面，{verdict}",
]

EN_FIRST = ["John", "Mary", "Peter", "Anna", "David", "Sarah", "Michael", "Laura", "James", "Emma", "Robert",
            "Olivia", "Daniel", "Sophia", "Thomas", "Grace", "Kevin", "Alice", "Brian", "Chloe"]
EN_LAST = ["Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Wright", "Green", "Hall", "Clark"]
EN_ORGS = ["Google", "Microsoft", "Acme Corp", "the United Nations", "Oxford University", "Tesla",
           "the BBC", "Siemens", "Stanford University", "Red Cross"]
EN_PLACES = ["London", "Paris", "Berlin", "New York", "Tokyo", "Madrid", "Boston", "Sydney", "Toronto", "Rome"]
EN_POSITIVE = ["loved it .", "was very happy with the service .", "would recommend it to anyone .",
               "found it excellent .", "had a wonderful time ."]
EN_NEGATIVE = ["hated it .", "was very disappointed .", "would never go back .", "found it terrible .",
               "had an awful time ."]
EN_TEMPLATES = [
    "{PER} studied at {ORG} and {verdict}",
    "{PER} stayed in {LOC} last week and {verdict}",
    "{PER} works for {ORG} in {LOC} and {verdict}",
    "{PER} and {PER} visited {LOC} and {verdict}",
    "After a meeting at {ORG} , {PER} {verdict}",
    "Our hotel in {LOC} was booked by {PER} , who {verdict}",
    "{PER} said {PRON} stayed in {LOC} and {verdict}",
    "{PRON} met {PER} at {ORG} and {verdict}",
]


def _fill(template: str, verdict: str, pick: dict) -> tuple[str, list[list]]:
    """Fill the slots left to right, recording each entity's character span."""
    text, entities, rest = "", [], template
    while "{" in rest:
        head, _, tail = rest.partition("{")
        slot, _, rest = tail.partition("}")
        text += head
        value = verdict if slot == "verdict" else pick[slot]()
        if slot not in ("verdict", "PRON"):
            entities.append([len(text), len(text) + len(value), slot])
        text += value
    return text + rest, entities


def _records(n: int, seed: int, lang: str) -> list[dict]:
    rng = random.Random(seed)
    if lang == "zh":
        pick = {
            "PER": lambda: rng.choice(ZH_SURNAMES) + rng.choice(ZH_GIVEN),
            "ORG": lambda: rng.choice(ZH_ORGS),
            "LOC": lambda: rng.choice(ZH_PLACES),
            "PRON": lambda: rng.choice("他她"),
        }
        templates, positive, negative = ZH_TEMPLATES, ZH_POSITIVE, ZH_NEGATIVE
    else:
        pick = {
            "PER": lambda: rng.choice(EN_FIRST) + ("" if rng.random() < 0.5 else " " + rng.choice(EN_LAST)),
            "ORG": lambda: rng.choice(EN_ORGS),
            "LOC": lambda: rng.choice(EN_PLACES),
            "PRON": lambda: rng.choice(["he", "she"]),
        }
        templates, positive, negative = EN_TEMPLATES, EN_POSITIVE, EN_NEGATIVE
    records = []
    for _ in range(n):
        is_positive = rng.random() < 0.5
        verdict = rng.choice(positive if is_positive else negative)
        text, entities = _fill(rng.choice(templates), verdict, pick)
        text = text[0].upper() + text[1:]
        cats = {"POS": float(is_positive), "NEG": float(not is_positive)}
        records.append({"text": text, "entities": entities, "cats": cats})
    return records


def _write(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for lang, (n_train, n_dev) in {"zh": (800, 400), "en": (600, 300)}.items():
        _write(out / f"{lang}_demo_train.jsonl", _records(n_train, seed=1, lang=lang))
        _write(out / f"{lang}_demo_dev.jsonl", _records(n_dev, seed=2, lang=lang))
        print(f"{lang}: {n_train} train, {n_dev} dev docs -> {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "assets")
