"""``evaluate`` and ``tune-thresholds``: score a pipeline on gold data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from spacy_ft.cli._util import app, fail, load_model


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Gold data (.spacy)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON here"),
    text_output: Optional[Path] = typer.Option(
        None, "--text", help="Write the printed report (entity types, cats, confusion) here"
    ),
    html_output: Optional[Path] = typer.Option(
        None, "--html", help="Write a displaCy HTML page of sample predictions here"
    ),
    html_limit: int = typer.Option(20, "--html-limit", min=1, help="Docs shown in the --html page"),
    code: Optional[Path] = typer.Option(
        None, "--code", "-c", help="Python file with custom registered functions, as for spacy evaluate"
    ),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to run on; -1 for the CPU"),
) -> None:
    """Score a pipeline on gold data: per-type entity report (on character
    offsets, laid out like seqeval's), each classifier's cats scores and
    confusion matrix, and optionally a page of sample predictions."""
    import srsly
    from spacy.cli._util import import_code, setup_gpu
    from spacy.pipeline import TextCategorizer

    from spacy_ft.evaluation.confusion import classifier_settings, confusion_matrix, format_confusion
    from spacy_ft.evaluation.displacy_page import displacy_page
    from spacy_ft.evaluation.entities import entity_report, format_entity_report
    from spacy_ft.evaluation.gold import predict_gold

    import_code(code)
    setup_gpu(gpu_id)
    nlp = load_model(model)
    examples = predict_gold(nlp, data_path)
    references = [example.reference for example in examples]
    results: dict = {"docs": len(examples)}
    blocks = []
    if any(ref.ents for ref in references):
        results["ents"] = entity_report(examples)
        blocks.append(format_entity_report(results["ents"]))
    classifiers = [(name, pipe) for name, pipe in nlp.pipeline if isinstance(pipe, TextCategorizer)]
    settings = None
    if any(ref.cats for ref in references):
        for name, pipe in classifiers:
            cats = results[name] = pipe.score(examples)
            settings = classifier_settings(pipe)
            results.setdefault("confusion", {})[name] = confusion_matrix(examples, settings)
            blocks.append(
                f"{name}: {cats['cats_score_desc']} {cats['cats_score']:.4f}, "
                f"macro AUC {cats.get('cats_macro_auc') or float('nan'):.4f}\n"
                + format_confusion(results["confusion"][name], name)
            )
    for block in blocks:
        typer.echo(block)
    if output is not None:
        srsly.write_json(output, results)
        typer.echo(f"Saved scores to {output}")
    if text_output is not None:
        text_output.write_text("\n".join(blocks), encoding="utf-8")
        typer.echo(f"Saved the report to {text_output}")
    if html_output is not None:
        html_output.write_text(displacy_page(examples, html_limit, settings=settings), encoding="utf-8")
        typer.echo(f"Saved {min(html_limit, len(examples))} sample predictions to {html_output}")


@app.command("tune-thresholds")
def tune_thresholds_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    dev_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Dev data (.spacy) with gold doc.cats"),
    output: Path = typer.Argument(..., help="Where to write the pipeline with tuned thresholds"),
    component: Optional[str] = typer.Option(
        None, help="Classifier name (default: the only spacy_ft_textcat)"
    ),
) -> None:
    """Tune per-label thresholds of a multi-label classifier on dev data and save them in the pipeline."""
    from spacy_ft.textcat.thresholds import tune_pipeline_thresholds

    nlp = load_model(model)
    if component is not None and component not in nlp.pipe_names:
        fail(f"No component {component!r} in {model}", f"Its components: {', '.join(nlp.pipe_names)}")
    try:
        thresholds = tune_pipeline_thresholds(nlp, dev_path, component)
    except ValueError as err:  # no (or not one) spacy_ft_textcat, or dev data it cannot use
        fail(f"Can't tune the thresholds of {model}", str(err))
    nlp.to_disk(output)
    for label, threshold in thresholds.items():
        typer.echo(f"{label}\t{threshold:.4f}")
    typer.echo(f"Saved pipeline with tuned thresholds to {output}")
