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

from types import ModuleType

from spacy_ft.extras import import_extra


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency of tuning, or say which spacy_ft extra installs it."""
    return import_extra(module, extra, "spacy_ft tune")
