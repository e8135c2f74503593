"""``augment``, ``bias-audit``, ``reweigh``, ``fit-group-thresholds``: bias audit and mitigation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from spacy.cli._util import string_to_list

from spacy_ft.cli._util import app, fail, load_model, load_pipeline

if TYPE_CHECKING:
    from spacy_ft.bias.terms import TermList


@app.command("augment")
def augment_command(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training docs (.spacy)"),
    output_path: Path = typer.Argument(..., help="Output .spacy with the counterfactual copies"),
    lang: str = typer.Option("zh", help="Language of the term list and tokenizer (zh: Jieba)"),
    model: Optional[str] = typer.Option(None, help="Tokenize the copies with this pipeline's tokenizer"),
    attributes: Optional[str] = typer.Option(
        None, help="Comma-separated attributes to swap, e.g. gender,gender_names (default: all)"
    ),
    mode: str = typer.Option("add", help="add: originals plus copies; replace: copies instead of originals"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
    seed: int = typer.Option(0, help="Seed for the group a multi-group attribute is swapped to"),
) -> None:
    """Counterfactual data augmentation: write swapped copies of the training docs
    (他 -> 她, 张伟 -> 张芳) with entity offsets, cats and example weights kept."""
    from spacy.tokens import DocBin

    from spacy_ft.bias.augment import MODES, augment_docs

    if mode not in MODES:
        raise typer.BadParameter(f"{mode!r}: expected one of {', '.join(MODES)}", param_hint="--mode")
    nlp = load_model(model) if model is not None else load_pipeline(lang)
    term_list = _term_list(nlp.lang, terms)
    selected = [a.strip() for a in attributes.split(",") if a.strip()] if attributes else None
    unknown = sorted(set(selected or ()) - set(term_list.attributes))
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: not in the {nlp.lang} term list ({', '.join(sorted(term_list.attributes))})",
            param_hint="--attributes",
        )
    docs = DocBin().from_disk(input_path).get_docs(nlp.vocab)
    try:
        out, report = augment_docs(docs, term_list, nlp, attributes=selected, mode=mode, seed=seed)
    except ValueError as err:
        fail(f"Can't augment {input_path}", str(err))
    DocBin(docs=out, store_user_data=True).to_disk(output_path)
    typer.echo(f"{input_path}: {report.summary()}")
    typer.echo(f"Saved {report.docs_out} docs to {output_path}")


def _term_list(lang: Optional[str], extra: list[Path]) -> "TermList":
    """The term list for ``lang`` plus the --terms files; a file that cannot be used
    (missing, not JSON, wrong shape) or a language without a list ends the command."""
    from spacy_ft.bias.terms import TermListError, load_term_list

    try:
        return load_term_list(lang or "", extra)
    except TermListError as err:
        fail("Can't load the term list", str(err))




@app.command("bias-audit")
def bias_audit_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    data_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Gold data: .spacy, or .jsonl (text, cats/label, entities)"),
    output_dir: Path = typer.Option(
        Path("bias_audit"), "--output", "-o", "--output-dir", help="Directory for audit.json/html and summary.txt"
    ),
    attributes: Optional[str] = typer.Option(None, help="Comma-separated attributes (default: all of the term list)"),
    positive_label: Optional[str] = typer.Option(None, help="Label judged as the positive decision (default: POS-like or the second label)"),
    group_field: Optional[str] = typer.Option(None, help="Take groups from doc.user_data[FIELD] / a JSONL field instead of term mentions"),
    n_boot: int = typer.Option(300, help="Bootstrap samples for the 95% intervals"),
    seed: int = typer.Option(0, help="Bootstrap random state"),
    min_group_size: int = typer.Option(30, help="Warn about groups with fewer docs"),
    max_dpd: Optional[float] = typer.Option(None, help="Fail when a demographic parity difference exceeds this"),
    max_eod: Optional[float] = typer.Option(None, help="Fail when an equalized-odds difference exceeds this"),
    min_di: Optional[float] = typer.Option(None, help="Fail when a disparate-impact ratio is below this (e.g. 0.8)"),
    max_flip_rate: Optional[float] = typer.Option(None, help="Fail when a counterfactual flip rate exceeds this"),
    max_recall_gap: Optional[float] = typer.Option(None, help="Fail when an NER name-swap recall gap exceeds this"),
    templates: Optional[bool] = typer.Option(None, "--templates/--no-templates", help="NER name swap on built-in templates (default: only without person entities)"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar over docs"),
) -> None:
    """Audit a pipeline for group bias; exit 1 when a given threshold is exceeded (CI gate)."""
    from spacy_ft.bias.audit import AuditSettings, exceeded, load_audit_docs, run_audit
    from spacy_ft.bias.report import summary_text, write_reports

    nlp = load_model(model)
    gates = {"max_dpd": max_dpd, "max_eod": max_eod, "min_di": min_di, "max_flip_rate": max_flip_rate,
             "max_recall_gap": max_recall_gap}
    settings = AuditSettings(
        attributes=string_to_list(attributes) if attributes else None, positive_label=positive_label, group_field=group_field, n_boot=n_boot,
        random_state=seed, min_group_size=min_group_size, templates=templates, progress=progress,
        thresholds={name: value for name, value in gates.items() if value is not None},
    )
    docs = load_audit_docs(data_path, nlp, group_field)
    result = run_audit(nlp, docs, _term_list(nlp.lang, terms), settings)
    result["meta"].update({"pipeline": model, "data": str(data_path)})
    paths = write_reports(result, output_dir)
    typer.echo(summary_text(result), nl=False)
    typer.echo(f"Saved {', '.join(str(p) for p in paths.values())}")
    failed = exceeded(result)
    if failed:
        fail(
            f"Bias audit failed: {len(failed)} threshold(s) exceeded",
            "\n".join(
                f"{check['metric']} ({check['where']}) = {check['value']:.3f}, {check['check']} = {check['threshold']}"
                for check in failed
            ),
        )


@app.command("reweigh")
def reweigh_command(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Training docs (.spacy) with gold doc.cats"),
    output_path: Path = typer.Argument(..., help="Output .spacy with doc.user_data[weight-key] set"),
    lang: str = typer.Option("zh", help="Language of the term list"),
    attribute: str = typer.Option("gender", help="Protected attribute whose groups are balanced"),
    group_field: Optional[str] = typer.Option(None, help="Take groups from doc.user_data[FIELD] instead of term mentions"),
    positive_label: Optional[str] = typer.Option(None, help="Multi-label data: balance whether this label applies"),
    weight_key: str = typer.Option("weight", help="user_data key the classifier reads (its weight_key)"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
) -> None:
    """Kamiran-Calders reweighing: per-example weights that make labels independent of the group."""
    from spacy_ft.bias.reweigh import format_weights, reweigh_docbin

    report = reweigh_docbin(
        input_path, output_path, _term_list(lang, terms), attribute,
        group_field=group_field, weight_key=weight_key, positive_label=positive_label,
    )
    typer.echo(format_weights(report))
    typer.echo(f"Saved {report['n_docs']} weighted docs to {output_path}")


@app.command("fit-group-thresholds")
def fit_group_thresholds_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    dev_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="Dev data (.spacy) with gold doc.cats"),
    output: Path = typer.Argument(..., help="Where to write the pipeline with the thresholds"),
    attribute: str = typer.Option("gender", help="Protected attribute whose groups get their own threshold"),
    positive_label: Optional[str] = typer.Option(None, help="Label the thresholds decide (default: POS-like or the second label)"),
    constraint: str = typer.Option("demographic_parity", help="demographic_parity (selection rate) or equal_opportunity (TPR)"),
    tolerance: float = typer.Option(0.02, help="Largest rate gap allowed between groups"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
) -> None:
    """Fit per-group decision thresholds on dev predictions; save them in the pipeline's spacy_ft_bias."""
    from spacy_ft.bias.group_thresholds import fit_on_dev, store_thresholds

    nlp = load_model(model)
    fit = fit_on_dev(nlp, dev_path, _term_list(nlp.lang, terms), attribute, positive_label,
                     constraint=constraint, tolerance=tolerance)
    name = store_thresholds(nlp, attribute, fit.thresholds, fit.positive_label)
    nlp.to_disk(output)
    for group, threshold in fit.thresholds.items():
        typer.echo(f"{group}\t{threshold:.4f}")
    typer.echo(f"accuracy {fit.before.accuracy:.4f} -> {fit.after.accuracy:.4f}, "
               f"rate gap {fit.before.gap:.4f} -> {fit.after.gap:.4f} ({constraint}, met: {fit.met})")
    typer.echo(f"Saved pipeline with group thresholds in {name!r} to {output}")
