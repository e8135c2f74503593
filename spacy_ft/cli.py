"""``python -m spacy_ft``: the command-line interface (typer).

Each command imports what it needs inside its body, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="spacy_ft",
    help="spacy_ft: Chinese and English transformer pipelines for spaCy.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main() -> None:
    """spacy_ft command-line tools (keeps typer in multi-command mode)."""


def _load_pipeline(model: str):
    """Accept a pipeline path / package name, or a bare language code for a blank pipeline."""
    import spacy

    if len(model) <= 3 and model.isalpha() and not Path(model).exists():
        if model == "zh":
            return spacy.blank(
                "zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_ft.JiebaTokenizer.v1"}}}
            )
        return spacy.blank(model)
    return spacy.load(model)


@app.command("tokenize")
def tokenize_command(
    model: str = typer.Argument(
        ..., help="Pipeline directory or package, or 'zh' for the Jieba tokenizer alone"
    ),
    input_path: Optional[Path] = typer.Argument(None, help="Text file, one doc per line (default: stdin)"),
    output_format: str = typer.Option(
        "text", "--format", "-f", help="'text' (tokens split by ' | ') or 'jsonl'"
    ),
) -> None:
    """Tokenize text and print the tokens with their character offsets."""
    if output_format not in ("text", "jsonl"):
        raise typer.BadParameter(f"--format must be 'text' or 'jsonl', got {output_format!r}")
    if input_path is not None and not input_path.is_file():
        raise typer.BadParameter(f"input file not found: {input_path}")
    nlp = _load_pipeline(model)
    stream = input_path.open(encoding="utf-8") if input_path else sys.stdin
    with stream:
        lines = [line.rstrip("\n") for line in stream]
    for doc in nlp.pipe(lines):
        if output_format == "jsonl":
            tokens = [
                {
                    "text": t.text,
                    "start": t.idx,
                    "end": t.idx + len(t),
                    "ws": bool(t.whitespace_),
                    "tag": t.tag_,
                }
                for t in doc
            ]
            typer.echo(json.dumps({"text": doc.text, "tokens": tokens}, ensure_ascii=False))
        else:
            typer.echo(" | ".join(t.text for t in doc if not t.is_space))


@app.command("init-char-bert")
def init_char_bert_command(
    output_dir: Path = typer.Argument(..., help="Where to write the model (config, weights, vocab)"),
    texts: list[Path] = typer.Option(
        [], "--texts", help="Text / JSONL corpora whose characters join the vocabulary (repeatable)"
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
    from .char_bert import write_char_bert

    corpus_text = []
    for path in texts:
        if not path.is_file():
            raise typer.BadParameter(f"--texts file not found: {path}")
        corpus_text.append(path.read_text(encoding="utf-8"))
    path = write_char_bert(
        output_dir, corpus_text, hidden_size=hidden_size, layers=layers, heads=heads,
        max_position=max_position, seed=seed,
    )
    vocab_size = len((path / "vocab.txt").read_text(encoding="utf-8").splitlines())
    typer.echo(f"Saved a random-weight character BERT ({vocab_size} wordpieces, {layers} layers, "
               f"hidden {hidden_size}) to {path}")


@app.command("smoke-load")
def smoke_load_command(
    dist: Path = typer.Argument(..., help="Built pipeline package (.tar.gz or .whl from spacy package)"),
    name: str = typer.Argument(..., help="Its package name, e.g. zh_ft_demo"),
    reference: Path = typer.Argument(..., help="The trained pipeline directory it was built from"),
    texts_path: Path = typer.Argument(..., help="Texts to compare on: one per line, or JSONL with 'text'"),
    venv_dir: Path = typer.Option(Path("packages/smoke-venv"), help="Where to create the fresh environment"),
    limit: int = typer.Option(100, help="Compare on at most this many texts"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the result as JSON here"),
) -> None:
    """Install a packaged pipeline into a fresh virtual environment, spacy.load it
    by name there (never importing spacy_ft by hand) and check that it gives the
    same entities and cats as the training output."""
    import srsly

    from .packaging import smoke_load

    if not texts_path.is_file():
        raise typer.BadParameter(f"texts file not found: {texts_path}")
    lines = texts_path.read_text(encoding="utf-8").splitlines()
    if texts_path.suffix == ".jsonl":
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
    else:
        texts = [line for line in lines if line.strip()]
    result = smoke_load(dist, name, reference, texts[:limit], venv_dir)
    typer.echo(
        f"spacy.load({name!r}) in a fresh environment: pipeline {result['pipeline']}, "
        f"{result['docs']} docs, {result['entities']} entities, identical to {reference}"
    )
    if output is not None:
        srsly.write_json(output, result)


@app.command("convert")
def convert_command(
    input_path: Path = typer.Argument(..., help="Corpus file"),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    fmt: str = typer.Option(
        "char",
        "--format",
        "-f",
        help="char (auto BIO/BMES/BIOES), bio, bmes, bioes, conll, cluener, jsonl, csv or tsv",
    ),
    lang: str = typer.Option(
        "zh", help="zh (Jieba tokenizer) or another language code for spaCy's tokenizer"
    ),
    model: Optional[str] = typer.Option(
        None, help="Tokenize with this pipeline's tokenizer instead of --lang"
    ),
    joiner: Optional[str] = typer.Option(
        None, help="CoNLL: text between tokens (default '' for zh, ' ' otherwise)"
    ),
    text_column: Optional[str] = typer.Option(
        None, help="csv/tsv: text column (default: first of text, sentence, text_a, review)"
    ),
    label_column: Optional[str] = typer.Option(
        None, help="csv/tsv: label column (default: label or labels)"
    ),
    label_sep: Optional[str] = typer.Option(
        None, help="csv/tsv: separator of several labels in one cell (default '|')"
    ),
    label_map: Optional[str] = typer.Option(
        None, help="csv/tsv/jsonl: rename labels, e.g. '0=NEG,1=POS' (default: keep them as written)"
    ),
) -> None:
    """Convert a corpus to .spacy without losing an entity: tokens that an
    entity starts or ends inside are split, and the report counts them.
    Classification files (csv/tsv, jsonl labels) give every doc every label."""
    from .corpora import FORMAT_OPTIONS, FORMATS, convert
    from .corpus_readers import parse_label_map

    options = {
        "text_column": text_column,
        "label_column": label_column,
        "label_sep": label_sep,
        "label_map": label_map,
    }
    options = {key: value for key, value in options.items() if value is not None}
    unknown = set(options) - set(FORMAT_OPTIONS.get(fmt.lower(), ()))
    if fmt.lower() not in FORMATS or unknown:
        flags = ", ".join(sorted("--" + key.replace("_", "-") for key in unknown))
        raise typer.BadParameter(f"--format {fmt} takes no {flags}" if unknown else f"unknown --format {fmt}")
    if label_map is not None:
        try:
            options["label_map"] = parse_label_map(label_map)
        except ValueError as err:
            raise typer.BadParameter(f"--label-map: {err}") from err
    if model is not None:
        import spacy

        nlp = spacy.load(model)
    else:
        nlp = _load_pipeline(lang)
    if joiner is None:
        joiner = "" if nlp.lang == "zh" else " "
    report = convert(input_path, output_path, nlp, fmt=fmt, joiner=joiner, **options)
    typer.echo(f"{input_path}: {report.summary()}")
    if report.labels:
        typer.echo("entity labels: " + ", ".join(f"{k} {v}" for k, v in report.labels.most_common()))
    if report.cats:
        typer.echo("docs per class: " + ", ".join(f"{k} {v}" for k, v in report.cats.most_common()))
    typer.echo(f"Saved {report.docs} docs to {output_path}")


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    data_path: Path = typer.Argument(..., help="Gold data (.spacy)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the scores as JSON here"),
    text_output: Optional[Path] = typer.Option(
        None, "--text", help="Write the printed report (entity types, cats, confusion) here"
    ),
    html_output: Optional[Path] = typer.Option(
        None, "--html", help="Write a displaCy HTML page of sample predictions here"
    ),
    html_limit: int = typer.Option(20, "--html-limit", min=1, help="Docs shown in the --html page"),
) -> None:
    """Score a pipeline on gold data: per-type entity report (on character
    offsets, laid out like seqeval's), each classifier's cats scores and
    confusion matrix, and optionally a page of sample predictions."""
    import spacy
    import srsly
    from spacy.pipeline import TextCategorizer

    from .reports import classifier_settings, confusion_matrix, displacy_page, format_confusion
    from .scoring import entity_report, format_entity_report, predict_gold

    if not data_path.is_file():
        raise typer.BadParameter(f"gold data not found: {data_path}")
    nlp = spacy.load(model)
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
    dev_path: Path = typer.Argument(..., help="Dev data (.spacy) with gold doc.cats"),
    output: Path = typer.Argument(..., help="Where to write the pipeline with tuned thresholds"),
    component: Optional[str] = typer.Option(
        None, help="Classifier name (default: the only spacy_ft_textcat)"
    ),
) -> None:
    """Tune per-label thresholds of a multi-label classifier on dev data and save them in the pipeline."""
    import spacy

    from .thresholds import tune_pipeline_thresholds

    nlp = spacy.load(model)
    thresholds = tune_pipeline_thresholds(nlp, dev_path, component)
    nlp.to_disk(output)
    for label, threshold in thresholds.items():
        typer.echo(f"{label}\t{threshold:.4f}")
    typer.echo(f"Saved pipeline with tuned thresholds to {output}")


def _check_annotation_args(fmt: str, input_path: Path) -> None:
    """Bad arguments of the annotation commands as usage errors, before the model loads."""
    from .annotation.writers import check_format

    try:
        check_format(fmt)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    if not input_path.is_file():
        raise typer.BadParameter(f"input file not found: {input_path}")


@app.command("annotate")
def annotate_command(
    model: str = typer.Argument(..., help="Pipeline directory or package"),
    input_path: Path = typer.Argument(
        ...,
        help='Raw text (one doc per line), JSONL ({"text", "id"?, "meta"?}) or Parquet (text, id?)',
    ),
    output_path: Optional[Path] = typer.Argument(None, help="Where to write the tasks (default: stdout)"),
    fmt: str = typer.Option(..., "--format", "-f", help="prodigy, label-studio, doccano or parquet"),
    input_format: str = typer.Option(
        "auto", help="text, jsonl, parquet or auto (by suffix: .jsonl/.ndjson, .parquet, else text)"
    ),
    batch_size: int = typer.Option(64, min=1, help="Docs per nlp.pipe batch (and per Ray task)"),
    engine: str = typer.Option("local", help="local (this process) or ray (Ray Data actors)"),
    errors: Optional[Path] = typer.Option(
        None, "--errors", help="JSONL file for records not annotated (id, line, reason)"
    ),
    max_chars: int = typer.Option(100_000, min=1, help="Longer texts go to the errors file (too_long)"),
    n_process: int = typer.Option(1, min=1, help="local engine: nlp.pipe worker processes"),
    actors: Optional[int] = typer.Option(
        None, min=1, help="ray engine: actors, each holding the pipeline (default: one per GPU, else per CPU)"
    ),
    gpus_per_actor: Optional[float] = typer.Option(
        None, help="ray engine: GPUs per actor (default 1 when the cluster has GPUs, else 0)"
    ),
    address: Optional[str] = typer.Option(
        None, help="ray engine: cluster to join ('auto' on a cluster node; default: start a local one)"
    ),
    code: Optional[Path] = typer.Option(
        None, help="Python file registering custom components, imported before the pipeline loads"
    ),
) -> None:
    """Pre-annotate raw text with entity scores and classifier labels, and write
    tasks for an annotation tool (or Parquet), each with a doc-level uncertainty
    to sort by. Lines that are not UTF-8, empty or longer than --max-chars are not
    annotated: they are counted, and listed in --errors with their id and reason."""
    from .annotation import ENGINES, OUTPUT_FORMATS, annotate_corpus

    for name, value, choices in (("--format", fmt, OUTPUT_FORMATS), ("--engine", engine, ENGINES)):
        if value not in choices:
            raise typer.BadParameter(f"{name} {value!r}: expected one of {', '.join(choices)}")
    if not input_path.is_file():
        raise typer.BadParameter(f"input file not found: {input_path}")
    if fmt == "parquet" and output_path is None:
        raise typer.BadParameter("--format parquet needs an OUTPUT file, not stdout")
    pipeline = model
    if engine == "local":
        from .annotation.batch import import_code

        import_code(code)
        pipeline = _load_pipeline(model)
    try:
        report = annotate_corpus(
            pipeline,
            input_path,
            output_path,
            fmt,
            engine=engine,
            errors_path=errors,
            input_format=input_format,
            max_chars=max_chars,
            batch_size=batch_size,
            n_process=n_process,
            actors=actors,
            gpus_per_actor=gpus_per_actor,
            code=code if engine == "ray" else None,
            address=address,
        )
    except ImportError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err
    typer.echo(f"{input_path}: {report.summary()}", err=True)
    if report.examples:
        listed = "; ".join(f"{e.id} ({e.reason})" for e in report.examples)
        typer.echo(f"Not annotated: {listed}; pass --errors FILE to keep them all", err=True)
    typer.echo(f"Wrote {report.written} {fmt} tasks to {output_path or 'stdout'}", err=True)


@app.command("import-annotations")
def import_annotations_command(
    input_path: Path = typer.Argument(
        ..., help="Corrected export: Prodigy JSONL, Label Studio JSON or doccano JSONL"
    ),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    fmt: str = typer.Option(..., "--format", "-f", help="prodigy, label-studio or doccano"),
    lang: str = typer.Option(
        "zh", help="zh (Jieba tokenizer) or another language code for spaCy's tokenizer"
    ),
    model: Optional[str] = typer.Option(
        None, help="Tokenize with this pipeline's tokenizer instead of --lang"
    ),
    answers: str = typer.Option(
        "accept", help="Prodigy: answers to keep, comma-separated (accept, reject, ignore, unanswered)"
    ),
    use_predictions: bool = typer.Option(
        False, help="Label Studio: use a task's prediction when nobody annotated it"
    ),
    text_key: str = typer.Option("text", help="Label Studio: the task data field holding the text"),
) -> None:
    """Import corrected annotations into .spacy training data without losing an
    entity (tokens an entity starts or ends inside are split); the report counts
    tasks left out (rejected, ignored, unannotated)."""
    from .annotation import import_annotations
    from .annotation.readers import ANSWERS

    _check_annotation_args(fmt, input_path)
    kept = [answer.strip() for answer in answers.split(",") if answer.strip()]
    if not kept or set(kept) - set(ANSWERS):
        raise typer.BadParameter(f"--answers {answers!r}: expected some of {', '.join(ANSWERS)}")
    if model is not None:
        import spacy

        nlp = spacy.load(model)
    else:
        nlp = _load_pipeline(lang)
    report = import_annotations(
        input_path,
        fmt,
        nlp,
        output_path,
        answers=kept,
        use_predictions=use_predictions,
        text_key=text_key,
    )
    typer.echo(f"{input_path}: {report.summary()}")
    typer.echo(f"Saved {report.docs} docs to {output_path}")


@app.command("augment")
def augment_command(
    input_path: Path = typer.Argument(..., help="Training docs (.spacy)"),
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
    import spacy
    from spacy.tokens import DocBin

    from .bias.augment import augment_docs
    from .bias.terms import TermListError, load_term_list

    nlp = spacy.load(model) if model is not None else _load_pipeline(lang)
    try:
        term_list = load_term_list(nlp.lang, terms)
    except TermListError as err:
        raise typer.BadParameter(str(err)) from err
    selected = [a.strip() for a in attributes.split(",") if a.strip()] if attributes else None
    docs = DocBin().from_disk(input_path).get_docs(nlp.vocab)
    try:
        out, report = augment_docs(docs, term_list, nlp, attributes=selected, mode=mode, seed=seed)
    except ValueError as err:
        raise typer.BadParameter(str(err)) from err
    DocBin(docs=out, store_user_data=True).to_disk(output_path)
    typer.echo(f"{input_path}: {report.summary()}")
    typer.echo(f"Saved {report.docs_out} docs to {output_path}")


def _term_list(lang: str, extra: list[Path]):
    from .bias.terms import load_term_list

    return load_term_list(lang, extra)


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


@app.command("bias-audit")
def bias_audit_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    data_path: Path = typer.Argument(..., help="Gold data: .spacy, or .jsonl (text, cats/label, entities)"),
    output_dir: Path = typer.Option(Path("bias_audit"), "--output-dir", "-o", help="Where audit.json/html, summary.txt go"),
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
    import spacy

    from .bias.audit import AuditSettings, exceeded, load_audit_docs, run_audit
    from .bias.report import summary_text, write_reports

    nlp = spacy.load(model)
    gates = {"max_dpd": max_dpd, "max_eod": max_eod, "min_di": min_di, "max_flip_rate": max_flip_rate,
             "max_recall_gap": max_recall_gap}
    settings = AuditSettings(
        attributes=_csv(attributes), positive_label=positive_label, group_field=group_field, n_boot=n_boot,
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
        typer.echo(f"Bias audit failed: {len(failed)} threshold(s) exceeded:", err=True)
        for check in failed:
            typer.echo(f"  {check['metric']} ({check['where']}) = {check['value']:.3f}, "
                       f"{check['check']} = {check['threshold']}", err=True)
        raise typer.Exit(1)


@app.command("reweigh")
def reweigh_command(
    input_path: Path = typer.Argument(..., help="Training docs (.spacy) with gold doc.cats"),
    output_path: Path = typer.Argument(..., help="Output .spacy with doc.user_data[weight-key] set"),
    lang: str = typer.Option("zh", help="Language of the term list"),
    attribute: str = typer.Option("gender", help="Protected attribute whose groups are balanced"),
    group_field: Optional[str] = typer.Option(None, help="Take groups from doc.user_data[FIELD] instead of term mentions"),
    positive_label: Optional[str] = typer.Option(None, help="Multi-label data: balance whether this label applies"),
    weight_key: str = typer.Option("weight", help="user_data key the classifier reads (its weight_key)"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
) -> None:
    """Kamiran-Calders reweighing: per-example weights that make labels independent of the group."""
    from .bias.reweigh import format_weights, reweigh_docbin

    report = reweigh_docbin(
        input_path, output_path, _term_list(lang, terms), attribute,
        group_field=group_field, weight_key=weight_key, positive_label=positive_label,
    )
    typer.echo(format_weights(report))
    typer.echo(f"Saved {report['n_docs']} weighted docs to {output_path}")


@app.command("fit-group-thresholds")
def fit_group_thresholds_command(
    model: str = typer.Argument(..., help="Trained pipeline directory or package"),
    dev_path: Path = typer.Argument(..., help="Dev data (.spacy) with gold doc.cats"),
    output: Path = typer.Argument(..., help="Where to write the pipeline with the thresholds"),
    attribute: str = typer.Option("gender", help="Protected attribute whose groups get their own threshold"),
    positive_label: Optional[str] = typer.Option(None, help="Label the thresholds decide (default: POS-like or the second label)"),
    constraint: str = typer.Option("demographic_parity", help="demographic_parity (selection rate) or equal_opportunity (TPR)"),
    tolerance: float = typer.Option(0.02, help="Largest rate gap allowed between groups"),
    terms: list[Path] = typer.Option([], "--terms", help="Extra term list JSON files (repeatable)"),
) -> None:
    """Fit per-group decision thresholds on dev predictions; save them in the pipeline's spacy_ft_bias."""
    import spacy

    from .bias.group_thresholds import fit_on_dev, store_thresholds

    nlp = spacy.load(model)
    fit = fit_on_dev(nlp, dev_path, _term_list(nlp.lang, terms), attribute, positive_label,
                     constraint=constraint, tolerance=tolerance)
    name = store_thresholds(nlp, attribute, fit["thresholds"], fit["positive_label"])
    nlp.to_disk(output)
    for group, threshold in fit["thresholds"].items():
        typer.echo(f"{group}\t{threshold:.4f}")
    typer.echo(f"accuracy {fit['before']['accuracy']:.4f} -> {fit['after']['accuracy']:.4f}, "
               f"rate gap {fit['before']['gap']:.4f} -> {fit['after']['gap']:.4f} ({constraint}, met: {fit['met']})")
    typer.echo(f"Saved pipeline with group thresholds in {name!r} to {output}")


@app.command("serve")
def serve_command(
    model: str = typer.Argument(..., help="Pipeline directory or package, loaded once"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 exposes it to the network)"),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port"),
    batching: bool = typer.Option(
        True, help="Merge concurrent requests into one nlp.pipe call (--no-batching: one nlp() call per text)"
    ),
    max_batch: int = typer.Option(32, min=1, help="Texts per nlp.pipe call when batching"),
    max_wait_ms: float = typer.Option(5.0, min=0, help="How long to wait for more requests to fill a batch"),
    max_queue: int = typer.Option(256, min=1, help="Waiting requests before new ones get a 503"),
    timeout: float = typer.Option(30.0, min=0.001, help="Seconds before a request gets a 504"),
    max_texts: int = typer.Option(64, min=1, help="Texts per request (more: 413)"),
    max_chars: int = typer.Option(10_000, min=1, help="Characters per text (more: 413)"),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, min=1, help="Request body size (more: 413)"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
    access_log: bool = typer.Option(True, help="Log every request (uvicorn's access log)"),
) -> None:
    """Serve a pipeline over HTTP (FastAPI + uvicorn): POST /v1/analyze, GET /health,
    OpenAPI docs at /docs. Needs the serve extra: pip install 'spacy_ft\\[serve]'."""
    try:
        from .serve.app import ServeSettings, serve
    except ImportError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from err

    settings = ServeSettings(
        max_texts=max_texts,
        max_chars=max_chars,
        max_body_bytes=max_body_bytes,
        batching=batching,
        max_batch_texts=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        timeout_s=timeout,
    )
    serve(model, host=host, port=port, settings=settings, log_level=log_level, access_log=access_log)


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
    from .quantize import quantize_pipeline

    try:
        report = quantize_pipeline(
            model_dir, output_dir, quantization=quantization, backend=backend, threads=threads, force=force
        )
    except (ValueError, ImportError) as err:
        raise typer.BadParameter(str(err)) from err
    typer.echo(report.summary())
    for note in report.notes:
        typer.echo(f"  note: {note}")


@app.command(
    "tune",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def tune_command(
    ctx: typer.Context,
    config_path: Path = typer.Argument(..., help="Training config, e.g. configs/zh_cpu.cfg"),
    space: Optional[Path] = typer.Option(
        None, "--space", help="Search space (.yml/.json; default: learn rate, batch size, dropouts, pooling, CRF)"
    ),
    trials: int = typer.Option(10, "--trials", min=0, help="Trials the study should hold in total (resumes)"),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Optuna storage URL (default: sqlite:///OUTPUT/study.db)"
    ),
    study_name: str = typer.Option("spacy_ft", "--study-name", help="Study name inside the storage"),
    output_dir: Path = typer.Option(Path("tuning"), "--output", "-o", help="Where best.cfg, trials and plots go"),
    metric: str = typer.Option("score", help="Dev score to maximize: spaCy's weighted 'score' or e.g. ents_f"),
    engine: str = typer.Option("optuna", help="optuna (trials in this process) or ray (Ray Tune)"),
    pruner: str = typer.Option("median", help="optuna engine: median, hyperband or none"),
    scheduler: str = typer.Option("asha", help="ray engine: asha, median or none"),
    startup_trials: int = typer.Option(2, min=0, help="Completed trials before pruning starts"),
    gpu_id: int = typer.Option(-1, "--gpu-id", help="optuna engine: GPU to train on (-1: CPU)"),
    cpus_per_trial: float = typer.Option(1.0, help="ray engine: CPUs per trial"),
    gpus_per_trial: float = typer.Option(0.0, help="ray engine: GPUs per trial (0: CPU trials)"),
    ray_address: Optional[str] = typer.Option(None, help="ray engine: cluster address (default: start a local one)"),
    plots: str = typer.Option("html", help="html (plotly), png (matplotlib) or none"),
    seed: int = typer.Option(0, help="Sampler seed"),
) -> None:
    """Search hyperparameters with Optuna: each trial trains the config through
    spaCy's loop with sampled overrides, reports dev scores so bad trials are
    pruned early, and the study resumes from its storage. Extra --section.key
    arguments override the config as in `spacy train`. Writes best.cfg, trials.csv,
    trials.md and plots. Needs the tune extra (--engine ray: the ray extra)."""
    from spacy.cli._util import parse_config_overrides

    from .tune.run import tune
    from .tune.study import TuneSettings

    settings = TuneSettings(
        config_name=str(config_path), output_dir=output_dir, trials=trials, storage=storage,
        study_name=study_name, metric=metric, pruner=pruner, startup_trials=startup_trials,
        seed=seed, use_gpu=gpu_id,
    )
    ray_options = {"scheduler": scheduler, "cpus_per_trial": cpus_per_trial,
                   "gpus_per_trial": gpus_per_trial, "address": ray_address}
    try:
        summary = tune(
            config_path, settings, space_path=space, overrides=parse_config_overrides(ctx.args),
            engine=engine, plots=plots, ray_options=ray_options,
        )
    except (ValueError, ImportError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    if summary["skipped"]:
        typer.echo("Not in this config, so not tuned: " + ", ".join(summary["skipped"]))
    typer.echo(summary["table"].read_text(encoding="utf-8"))
    best = summary["best"]
    if best is None:
        typer.echo("No trial completed yet: no best.cfg")
    else:
        typer.echo(f"Best: trial {best['number']}, dev {metric} {best['value']:.4f}; config: {summary['best_config']}")
    for path in summary["plots"]:
        typer.echo(f"Plot: {path}")
    typer.echo(f"Study {study_name!r}: {settings.storage_url} ({summary['trials']} trials; rerun to resume)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
