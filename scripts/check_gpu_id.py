"""Fail a GPU command of project.yml at once when ``gpu_id`` says CPU.

Why: project.yml has one ``gpu_id`` var, -1 (CPU) by default, as explosion/projects
templates do. With -1, ``spacy train configs/*_gpu.cfg`` does not fail: it trains
bert-base / roberta-base on the CPU, for hours. spaCy fails by itself only when a
GPU is named and none is there. So the *-gpu commands run this first:

    python scripts/check_gpu_id.py ${vars.gpu_id} train-zh-gpu
"""

from __future__ import annotations

import sys

from wasabi import msg


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        msg.fail("usage: python scripts/check_gpu_id.py GPU_ID COMMAND")
        return 2
    value, command = argv
    try:
        gpu_id = int(value)
    except ValueError:
        msg.fail(f"gpu_id must be an integer, got {value!r}", f"e.g. spacy project run {command} --vars.gpu_id 0")
        return 1
    if gpu_id < 0:
        hint = f"Name the GPU: spacy project run {command} --vars.gpu_id 0"
        if command != "all-gpu":
            hint += " (the whole GPU workflow: spacy project run all-gpu --vars.gpu_id 0)"
        msg.fail(f"{command} trains on a GPU, but gpu_id is {gpu_id} (the CPU)", hint)
        return 1
    msg.good(f"{command}: GPU {gpu_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
