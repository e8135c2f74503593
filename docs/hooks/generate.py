"""MkDocs hook: the reference pages are generated from the code at build time.

* ``<!-- generated: cli -->`` becomes the command-line reference, written by
  Typer's own documentation generator (what ``typer spacy_ft.cli utils docs``
  prints) from the installed ``spacy_ft.cli`` app, so it cannot drift from
  ``--help``.
* ``<!-- generated: settings NAME -->`` becomes the settings table of one
  registered name of setup.cfg's ``[options.entry_points]``: each setting with
  its default, read from the registered function's signature (and, for a
  component factory, from its ``default_config``). The build fails when a
  registered name has no such marker, or a marker names nothing registered, so
  a new registered version cannot go undocumented.
* Every hand-written page and README.md are checked for wording about how the
  project was developed; documentation describes the software, not its history.

MkDocs loads this file through ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import configparser
import importlib
import inspect
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

from mkdocs.exceptions import PluginError

CLI_MARKER = "<!-- generated: cli -->"
SETTINGS_MARKER = re.compile(r"<!-- generated: settings (\S+) -->")
#: setup.cfg entry-point groups whose names are config-file names (@architectures etc.)
REGISTRY_GROUPS = (
    "spacy_tokenizers",
    "spacy_factories",
    "spacy_architectures",
    "spacy_loggers",
    "spacy_scorers",
    "spacy_callbacks",
)
HISTORY_WORDING = re.compile(
    r"issue\s[0-9]+|this\ssession|no\sGPU\swas\slent|earlier\ssession", re.IGNORECASE
)
CONFIG_PAGE = "reference/config.md"

_root = Path(".")
_entry_points: Dict[str, Tuple[str, str]] = {}  # registered name -> (group, "module:function")
_seen_settings: set = set()


def on_config(config, **kwargs):
    global _root
    _root = Path(config.config_file_path).resolve().parent
    _entry_points.clear()
    _entry_points.update(_read_entry_points(_root / "setup.cfg"))
    _seen_settings.clear()
    readme = _root / "README.md"
    if readme.exists():
        _check_history("README.md", readme.read_text(encoding="utf-8"))
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    src = page.file.src_uri
    _check_history(f"docs/{src}", markdown)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, _cli_reference())
    if src == CONFIG_PAGE:
        markdown = SETTINGS_MARKER.sub(lambda match: _settings_table(match.group(1)), markdown)
        missing = sorted(set(_entry_points) - _seen_settings)
        if missing:
            raise PluginError(
                f"docs/{CONFIG_PAGE} documents no settings for the registered name(s) {', '.join(missing)}: "
                "add a section with '<!-- generated: settings NAME -->' for each"
            )
    return markdown


def _check_history(where: str, text: str) -> None:
    match = HISTORY_WORDING.search(text)
    if match:
        raise PluginError(
            f"{where} speaks of the project's development history ({match.group(0)!r}); "
            "describe the software as it is instead"
        )


# -- the command-line reference --------------------------------------------------------------


def _cli_reference() -> str:
    import typer
    import typer.main
    from typer.cli import get_docs_for_click

    from spacy_ft.cli import app

    command = typer.main.get_command(app)
    context = typer.Context(command, info_name="spacy-ft")
    # indent=1: the page has its own title, so the app is a level-2 heading.
    text = get_docs_for_click(obj=command, ctx=context, indent=1, name="spacy-ft")
    if "## `spacy-ft" not in text:
        raise PluginError("the CLI reference came out empty: is spacy_ft installed in this environment?")
    return text


# -- the settings of registered names ------------------------------------------------------------


def _read_entry_points(setup_cfg: Path) -> Dict[str, Tuple[str, str]]:
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    section = parser["options.entry_points"]
    found: Dict[str, Tuple[str, str]] = {}
    for group in REGISTRY_GROUPS:
        for line in section.get(group, "").splitlines():
            if "=" not in line:
                continue
            name, target = (part.strip() for part in line.split("=", 1))
            found[name] = (group, target)
    return found


def _settings_table(name: str) -> str:
    if name not in _entry_points:
        raise PluginError(f"docs/{CONFIG_PAGE} names {name!r}, which setup.cfg does not register")
    _seen_settings.add(name)
    group, target = _entry_points[name]
    module_name, attribute = target.split(":")
    function = getattr(importlib.import_module(module_name), attribute)
    rows = _factory_rows(name, function) if group == "spacy_factories" else _function_rows(function)
    lines = [f"Registered in `{group}` by `{target}`.", ""]
    if not rows:
        return "\n".join(lines + ["No settings.", ""])
    lines += ["| setting | default | type |", "|---|---|---|"]
    for setting, default, annotation in rows:
        lines.append(f"| `{setting}` | {default} | {annotation} |")
    return "\n".join(lines + [""])


def _function_rows(function) -> List[Tuple[str, str, str]]:
    rows = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        default = "*required*" if parameter.default is parameter.empty else _code(parameter.default)
        rows.append((parameter.name, default, _annotation(parameter.annotation)))
    return rows


def _factory_rows(name: str, function) -> List[Tuple[str, str, str]]:
    from spacy.language import Language

    meta = Language.get_factory_meta(name)
    parameters = inspect.signature(function).parameters
    rows = []
    for setting, parameter in parameters.items():
        if setting in ("nlp", "name"):
            continue
        if setting in meta.default_config:
            default = _code(_registered_or_value(meta.default_config[setting]))
        else:
            default = "*required*"
        rows.append((setting, default, _annotation(parameter.annotation)))
    return rows


def _registered_or_value(value: Any) -> Any:
    """A nested config block is shown by the registered function it names."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.startswith("@"):
                return _Raw(f'{key} = "{inner}"')
    return value


class _Raw(str):
    pass


def _code(value: Any) -> str:
    if isinstance(value, _Raw):
        return f"`{value}`"
    if isinstance(value, str):
        text = f'"{value}"'
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return f"`{text}`".replace("|", "\\|")


def _annotation(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"\b(typing|thinc\.model|thinc\.types|spacy\.language|spacy\.tokens\.doc)\.", "", text)
    return f"`{text}`".replace("|", "\\|")
