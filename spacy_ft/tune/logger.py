"""``spacy_ft.TrialLogger.v1``: passes each dev evaluation of spaCy's training
loop to the tuning trial that runs it, then to the config's own logger.

spaCy builds the logger from the config, so a trial object cannot be put in it;
the config carries a key instead, and the trial registers its callback under
that key for as long as it trains (:func:`trial_callback`). Keys are unique, so
trials training in threads of one process do not see each other's scores.
Light on purpose (a ``spacy_loggers`` entry point): no optuna or ray here.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import contextmanager
from typing import IO, Any, Callable, Dict, Iterator, Optional

from spacy import registry

EvalCallback = Callable[[Dict[str, Any]], None]
_CALLBACKS: Dict[str, EvalCallback] = {}
_LOCK = threading.Lock()
_COUNTER = itertools.count()


@contextmanager
def trial_callback(callback: EvalCallback) -> Iterator[str]:
    """Register ``callback`` for the logger config's ``key`` while training runs."""
    with _LOCK:
        key = f"trial-{next(_COUNTER)}-{id(callback)}"
        _CALLBACKS[key] = callback
    try:
        yield key
    finally:
        with _LOCK:
            _CALLBACKS.pop(key, None)


@registry.loggers("spacy_ft.TrialLogger.v1")
def trial_logger(key: str, wrapped: Optional[Callable] = None) -> Callable:
    """Call the trial's callback with spaCy's ``info`` (step, score, other_scores)
    after each evaluation, once ``wrapped`` (the config's logger) has logged it.
    The callback may raise (e.g. optuna.TrialPruned) to stop training."""

    def setup(nlp: Any, stdout: IO, stderr: IO):
        inner_step, inner_finalize = wrapped(nlp, stdout, stderr) if wrapped else (None, None)
        if key not in _CALLBACKS:
            raise ValueError(
                f"[spacy_ft.TrialLogger.v1] no tuning trial registered the key {key!r}: this logger "
                "only works inside `python -m spacy_ft tune`; use another [training.logger] to train"
            )
        callback = _CALLBACKS[key]

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            if inner_step is not None:
                inner_step(info)
            if info is not None:
                callback(info)

        def finalize() -> None:
            if inner_finalize is not None:
                inner_finalize()

        return log_step, finalize

    return setup
