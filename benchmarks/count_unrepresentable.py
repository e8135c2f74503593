"""Gold entities spacy_ft_ner's units cannot express, per unit mode.

An entity is unrepresentable when its start or end character offset is not a
unit boundary. Units come from ``spacy_ft.ner.units.doc_units`` exactly as the
head makes them: the docs are tokenized with the pipeline's Jieba tokenizer, and
the wordpieces and their alignment to the tokens come from spacy-transformers'
own code path (``huggingface_tokenize`` on strided spans of 128 tokens / stride
96, as configs/zh_cpu.cfg, ``get_alignment_via_offset_mapping``,
``truncate_oversize_splits``). Only the network is left out: units depend on
the wordpieces and the alignment, never on the hidden states, so a zero array
of the right shape stands in for them.

Modes: "piece" (whole-piece units: ``character_units="none"``, i.e.
``spacy_ft.TokenClassifier.v1``), "cjk" and "all" (character units). For
reference, "hf" counts the edges inside a wordpiece of the Hugging Face
tokenizer run on the whole text (its offsets; no Jieba): what whole-piece units
would lose without Jieba's token edges cutting the pieces that cross them.

    .venv/bin/python -m spacy_ft init-multilingual-e5 /tmp/e5_model   # once
    .venv/bin/python benchmarks/count_unrepresentable.py --model /tmp/e5_model
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "unrepresentable.json"
FILES = {
    "resume": {"train": "resume_ner/train.char.bmes", "dev": "resume_ner/dev.char.bmes"},
    "weibo": {
        "train": "weibo_ner/weiboNER_2nd_conll.train.char.bio",
        "dev": "weibo_ner/weiboNER_2nd_conll.dev.char.bio",
    },
}
#: mode name -> ``character_units``
MODES = {"piece": "none", "cjk": "cjk", "all": "all"}
COLUMNS = ["hf", *MODES]
WINDOW, STRIDE = 128, 96
BATCH = 64
EXAMPLES = 5


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, default=Path("/tmp/e5_model"), help="Hugging Face model directory"
    )
    parser.add_argument("--data", type=Path, default=DATA_ROOT, help="the benchmark corpora (shared/data)")
    parser.add_argument("--datasets", nargs="+", default=list(FILES), choices=list(FILES))
    parser.add_argument("--splits", nargs="+", default=["dev", "train"], choices=["dev", "train"])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def transformer_data(docs: List[Any], tokenizer: Any) -> List[Any]:
    """Per doc, the ``TransformerData`` the transformer component would set, with
    zero hidden states (width 1): spacy-transformers' tokenization and alignment."""
    import torch
    from spacy_transformers.align import get_alignment_via_offset_mapping
    from spacy_transformers.data_classes import FullTransformerBatch, WordpieceBatch
    from spacy_transformers.layers.transformer_model import huggingface_tokenize
    from spacy_transformers.span_getters import configure_strided_spans
    from spacy_transformers.truncate import truncate_oversize_splits
    from transformers.modeling_outputs import BaseModelOutput

    nested = configure_strided_spans(WINDOW, STRIDE)(docs)
    flat = [span for doc_spans in nested for span in doc_spans]
    if not flat:
        return [None] * len(docs)
    encoding = huggingface_tokenize(tokenizer, [span.text for span in flat])
    wordpieces = WordpieceBatch.from_batch_encoding(encoding)
    align = get_alignment_via_offset_mapping(flat, encoding["offset_mapping"])
    wordpieces, align = truncate_oversize_splits(wordpieces, align, tokenizer.model_max_length)
    hidden = torch.zeros(wordpieces.input_ids.shape + (1,))
    batch = FullTransformerBatch(
        spans=nested,
        wordpieces=wordpieces,
        model_output=BaseModelOutput(last_hidden_state=hidden),
        align=align,
    )
    return batch.doc_data


def count(nlp: Any, tokenizer: Any, samples: List[Any]) -> Dict[str, Any]:
    from spacy_ft.ner.units import doc_units

    out: Dict[str, Any] = {
        "docs": len(samples),
        "entities": sum(len(s.entities) for s in samples),
        "entities_crossing_tokens": 0,
    }
    for mode in COLUMNS:
        out[mode] = {"unrepresentable": 0, "units": 0, "examples": []}
    for i in range(0, len(samples), BATCH):
        chunk = samples[i : i + BATCH]
        docs = [nlp.make_doc(sample.text) for sample in chunk]
        for sample, doc, trf_data in zip(chunk, docs, transformer_data(docs, tokenizer)):
            starts = {token.idx for token in doc}
            ends = {token.idx + len(token) for token in doc}
            out["entities_crossing_tokens"] += sum(
                s not in starts or e not in ends for s, e, _ in sample.entities
            )
            offsets = tokenizer(sample.text, add_special_tokens=False, return_offsets_mapping=True)[
                "offset_mapping"
            ]
            edges = {"hf": ({a for a, b in offsets if b > a}, {b for a, b in offsets if b > a}, len(offsets))}
            for mode, setting in MODES.items():
                units = doc_units(doc, trf_data, setting)
                edges[mode] = (set(units.starts), set(units.ends), len(units))
            for mode, (unit_starts, unit_ends, n_units) in edges.items():
                result = out[mode]
                result["units"] += n_units
                for start, end, label in sample.entities:
                    if start in unit_starts and end in unit_ends:
                        continue
                    result["unrepresentable"] += 1
                    if len(result["examples"]) < EXAMPLES:
                        pieces = [t.text for t in doc if t.idx < end and t.idx + len(t) > start]
                        result["examples"].append(
                            f"{sample.where}: {label} {sample.text[start:end]!r} in tokens {pieces}"
                        )
    return out


def main(argv: Sequence[str] | None = None) -> Dict[str, Any]:
    args = parse_args(argv)
    import spacy
    from transformers import AutoTokenizer

    from spacy_ft.corpora import read_samples

    started = time.perf_counter()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}})
    tokenizer = AutoTokenizer.from_pretrained(str(args.model), local_files_only=True)
    results: Dict[str, Any] = {}
    rows = []
    for name in args.datasets:
        for split in args.splits:
            path = args.data / FILES[name][split]
            samples = list(read_samples(path, "char"))
            t0 = time.perf_counter()
            result = count(nlp, tokenizer, samples)
            result["seconds"] = round(time.perf_counter() - t0, 1)
            results[f"{name}/{split}"] = result
            rows.append((f"{name} {split}", result))
    header = f"{'corpus':<14}{'docs':>6}{'entities':>10}{'cross jieba':>13}" + "".join(
        f"{mode + ' units':>16}" for mode in COLUMNS
    )
    print(f"unrepresentable gold entities (edge not a unit boundary); tokenizer {args.model}")
    print(header)
    for label, result in rows:
        cells = "".join(
            f"{result[mode]['unrepresentable']:>7} ({100 * result[mode]['unrepresentable'] / max(1, result['entities']):4.1f}%)"
            for mode in COLUMNS
        )
        print(
            f"{label:<14}{result['docs']:>6}{result['entities']:>10}{result['entities_crossing_tokens']:>13}{cells}"
        )
    for label, result in rows:
        for mode in MODES:  # hf's examples are in the JSON
            for example in result[mode]["examples"]:
                print(f"  {label} [{mode}] {example}")
    payload = {
        "what": "gold entities whose start or end is not a unit boundary of spacy_ft_ner",
        "model": str(args.model),
        "tokenization": (
            "Jieba (spacy_ft.JiebaTokenizer.v1) + spacy-transformers tokenization and offset alignment "
            f"on strided spans (window {WINDOW}, stride {STRIDE}); units from spacy_ft.ner.units.doc_units"
        ),
        "modes": {"hf": "wordpieces of the whole text (tokenizer offsets, no Jieba)", **MODES},
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return payload


if __name__ == "__main__":
    main()
