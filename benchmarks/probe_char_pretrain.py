"""Does pretraining the character encoder on raw Chinese text help its NER?

``spacy pretrain`` cannot run on ``spacy_ft_char_encoder``: its objectives expect one
row per spaCy token, the encoder gives one per character. This probe pretrains the
same network with the objective that fits it, masked-character prediction: 15% of
the characters of each raw text become a mask symbol (so the bigrams and the lexicon
words over them are gone too) and a softmax over the corpus's most frequent
characters predicts them from the encoder's rows. Then both arms, pretrained and not,
train the NER head with ``spacy train``'s own loop from the same config, seed and
batches, and are scored on the same dev set.

Measured (docs/benchmarks.md): Resume dev 92.60 pretrained against 93.52 not, so the
workflow does not pretrain. ``spacy project run probe-char-pretrain`` reruns it:

    python benchmarks/probe_char_pretrain.py --train T.spacy --dev D.spacy \\
        --raw T.spacy W.spacy C.spacy --pretrain-steps 1500
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

MASK = "\ue000"  # a private-use code point: never in real text


def raw_texts(paths: Sequence[Path], max_chars: int) -> list[str]:
    """Texts of DocBins, cut into pieces of at most ``max_chars`` characters."""
    import spacy
    from spacy.tokens import DocBin

    vocab = spacy.blank("zh").vocab
    texts = []
    for path in paths:
        for doc in DocBin().from_disk(path).get_docs(vocab):
            text = doc.text.strip()
            texts.extend(text[i : i + max_chars] for i in range(0, len(text), max_chars))
    return [text for text in texts if text]


def pretrain(nlp: Any, texts: list[str], steps: int, batch_size: int, n_classes: int, seed: int) -> dict:
    import numpy as np
    from spacy.tokens import Doc
    from thinc.api import Adam, Softmax, warmup_linear

    rng = random.Random(seed)
    encoder = nlp.get_pipe("char_encoder").model
    counts = Counter(char for text in texts for char in text)
    classes = {char: i for i, (char, _) in enumerate(counts.most_common(n_classes))}
    other = len(classes)
    output = Softmax(nO=other + 1, nI=encoder.get_dim("nO"))
    output.initialize()
    schedule = warmup_linear(0.002, 100, steps)
    optimizer = Adam(schedule, grad_clip=1.0, L2=0.01, L2_is_weight_decay=True)
    losses, started = [], time.perf_counter()
    for step in range(steps):
        batch = rng.sample(texts, batch_size)
        docs, targets, rows = [], [], []
        offset = 0
        for text in batch:
            chars = list(text)
            masked = [i for i in range(len(chars)) if rng.random() < 0.15] or [rng.randrange(len(chars))]
            for i in masked:
                targets.append(classes.get(chars[i], other))
                rows.append(offset + i)
                chars[i] = MASK
            masked_text = "".join(chars)
            docs.append(Doc(nlp.vocab, words=[masked_text], spaces=[False]))
            offset += len(chars)
        masked_rows = np.asarray(rows)
        outputs, backprop = encoder.begin_update(docs)
        flat = encoder.ops.xp.vstack(outputs)
        picked = flat[masked_rows]
        probs, bp_output = output.begin_update(picked)
        truth = np.zeros_like(probs)
        truth[np.arange(len(targets)), targets] = 1.0
        losses.append(float(-np.log(probs[np.arange(len(targets)), targets] + 1e-9).mean()))
        d_picked = bp_output((probs - truth) / len(targets))
        d_flat = encoder.ops.alloc2f(*flat.shape)
        d_flat[masked_rows] = d_picked
        backprop(list(encoder.ops.xp.split(d_flat, np.cumsum([len(out) for out in outputs])[:-1])))
        encoder.finish_update(optimizer)
        output.finish_update(optimizer)
        optimizer.step_schedules()
        if (step + 1) % 250 == 0:
            print(f"  pretrain step {step + 1}: loss {np.mean(losses[-250:]):.3f}", file=sys.stderr)
    return {
        "steps": steps,
        "texts": len(texts),
        "chars": sum(len(t) for t in texts),
        "classes": other + 1,
        "final_loss": round(float(np.mean(losses[-100:])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_arm(args: argparse.Namespace, pretrain_steps: int, output: Path) -> dict:
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train
    from spacy.util import load_config

    overrides = {
        "paths.train": str(args.train),
        "paths.dev": str(args.dev),
        "nlp.pipeline": ["char_encoder", "ner"],
        "training.score_weights": {"ents_f": 1.0},
        "training.max_steps": args.steps,
        "training.optimizer.learn_rate.total_steps": args.steps,
        "training.eval_frequency": 250,
        "system.seed": args.seed,
    }
    config = load_config(args.config, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)
    result: dict[str, Any] = {"pretrain_steps": pretrain_steps}
    if pretrain_steps:
        texts = raw_texts(args.raw, args.max_chars)
        result["pretrain"] = pretrain(nlp, texts, pretrain_steps, args.batch_size, args.classes, args.seed)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train(nlp, output, stdout=sys.stderr)
    result["train_seconds"] = round(time.perf_counter() - started, 1)
    import spacy
    from spacy.tokens import DocBin
    from spacy.training import Example

    best = spacy.load(output / "model-best")
    gold = list(DocBin().from_disk(args.dev).get_docs(best.vocab))
    scores = best.evaluate([Example(best.make_doc(doc.text), doc) for doc in gold])
    result["dev_f1"] = round(100 * scores["ents_f"], 2)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=Path("configs/zh_cpu_fast.cfg"))
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--raw", type=Path, nargs="+", required=True, help="DocBins whose texts pretrain")
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--arms", default="0,pretrain", help="0 (no pretraining), pretrain, or both")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-chars", type=int, default=150)
    parser.add_argument("--classes", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/char_pretrain"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/char_pretrain.json"))
    args = parser.parse_args(argv)
    results = []
    for arm in args.arms.split(","):
        steps = 0 if arm == "0" else args.pretrain_steps
        results.append(run_arm(args, steps, args.workdir / f"arm_{steps}"))
        print(json.dumps(results[-1]), file=sys.stderr)
    for row in results:
        print(
            f"pretrain steps {row['pretrain_steps']:>5}: dev F1 {row['dev_f1']:.2f}  ({row['train_seconds']:.0f} s NER training)"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
