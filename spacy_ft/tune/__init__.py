"""Hyperparameter search over spaCy training configs (``python -m spacy_ft tune``).

A search space file maps dotted config paths to Optuna distributions; every
trial trains through spaCy's own loop, reports its dev scores so a pruner can
stop it early, and the study lives in an Optuna storage so it can resume.
``optuna_engine`` runs trials in this process, ``ray_engine`` on a Ray cluster.

This package and ``logger`` (a ``spacy_loggers`` entry point) import neither
optuna nor ray: those come from the ``tune`` / ``ray`` extras, imported where
they are used through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or say which spacy_ft extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"spacy_ft tune: this needs the package '{module.split('.')[0]}', which is not installed: "
            f"pip install 'spacy_ft[{extra}]'"
        ) from err
