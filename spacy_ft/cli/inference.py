"""``quantize``: int8 and ONNX Runtime pipelines."""

from __future__ import annotations

from pathlib import Path

import typer

from spacy_ft.cli._util import app, fail


@app.command("quantize")
def quantize_command(
    model_dir: Path = typer.Argument(..., help="Trained pipeline directory (fp32 transformer)"),
    output_dir: Path = typer.Argument(..., help="Where to write the int8 pipeline"),
    quantization: str = typer.Option(
        "int8", "--quantization", help="int8; with --backend onnx also none (the fp32 graph)"
    ),
    backend: str = typer.Option(
        "torch", "--backend", help="torch (dynamic int8 Linears) or onnx (ONNX Runtime; needs spacy_ft[onnx])"
    ),
    threads: int = typer.Option(0, "--threads", min=0, help="onnx: ONNX Runtime intra-op threads (0: its default)"),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output directory"),
) -> None:
    """Quantize the transformer's Linear layers to int8 (torch dynamic quantization, CPU),
    or export it to ONNX Runtime; the result loads with plain spacy.load."""
    from spacy_ft.inference.onnx import ONNX_SCHEMES
    from spacy_ft.inference.quantize import BACKENDS, SCHEMES, quantize_pipeline

    if backend not in BACKENDS:
        raise typer.BadParameter(f"{backend!r}: expected one of {', '.join(BACKENDS)}", param_hint="--backend")
    schemes = ONNX_SCHEMES if backend == "onnx" else tuple(SCHEMES)
    if quantization not in schemes:
        raise typer.BadParameter(
            f"{quantization!r}: expected one of {', '.join(schemes)} with --backend {backend}",
            param_hint="--quantization",
        )
    try:
        report = quantize_pipeline(
            model_dir, output_dir, quantization=quantization, backend=backend, threads=threads, force=force
        )
    except ImportError as err:  # --backend onnx without the onnx extra
        fail(f"Can't quantize {model_dir} with --backend {backend}", str(err))
    except ValueError as err:  # not a pipeline, no transformer in it, output not empty
        fail(f"Can't quantize {model_dir}", str(err))
    typer.echo(report.summary())
    for note in report.notes:
        typer.echo(f"  note: {note}")
