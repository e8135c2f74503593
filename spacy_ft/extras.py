"""Optional dependencies (setup.cfg extras): import them where they are used.

Why this exists: ``spacy.load`` must never import the heavy extras (Ray, Optuna,
ONNX Runtime, FastAPI, pyarrow), so each one is imported at its point of use.
When it is missing, every such place gives the same kind of error: what needed
it, which package failed to import and why, and the one pip command that
installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def install_command(extra: str) -> str:
    return f"pip install 'spacy_ft[{extra}]'"


def missing_extra(package: str, extra: str, purpose: str, err: Exception) -> ImportError:
    """The error for ``purpose`` when ``package`` (from the ``extra``) cannot be imported."""
    return ImportError(
        f"{purpose} needs the package '{package}', which could not be imported ({err}): "
        f"{install_command(extra)}"
    )


def import_extra(module: str, extra: str, purpose: str, *submodules: str) -> ModuleType:
    """``module`` (after importing ``submodules`` too, e.g. ``ray.data``), or the
    :func:`missing_extra` error naming the extra that installs it."""
    try:
        loaded = importlib.import_module(module)
        for name in submodules:
            importlib.import_module(name)
    except ImportError as err:
        raise missing_extra(module.split(".")[0], extra, purpose, err) from err
    return loaded
