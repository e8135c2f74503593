"""``quantize``: int8 and ONNX Runtime pipelines."""

from __future__ import annotations

from pathlib import Path

import typer

from spacy_ft.cli._util import app


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
    from spacy_ft.inference.quantize import quantize_pipeline

    try:
        report = quantize_pipeline(
            model_dir, output_dir, quantization=quantization, backend=backend, threads=threads, force=force
        )
    except (ValueError, ImportError) as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(report.summary())
    for note in report.notes:
        typer.echo(f"  note: {note}")
