"""``spacy_ft.check_schedule.v1``: stops a training run whose step budget outlasts
its learning-rate schedule, at the first step, instead of letting it train on at rate 0.

The configs' schedule (``warmup_linear.v1``) decays to 0 at
``[training.optimizer.learn_rate] total_steps``, a number of its own: spaCy builds
an optimizer from the uninterpolated ``[training.optimizer]`` block wherever none is
passed (``nlp.initialize()``, ``nlp.update()``, ``nlp.resume_training()``,
``spacy debug data``, a trained pipeline's saved config), so that block holds no
``${...}`` reference. ``training.max_steps`` and ``total_steps`` are therefore set
together, and this callback, used as ``[training.before_update]``, makes forgetting
one of them impossible to miss::

    [training.before_update]
    @callbacks = "spacy_ft.check_schedule.v1"
    max_steps = ${training.max_steps}
    total_steps = ${training.optimizer.learn_rate.total_steps}

spaCy interpolates ``[training]`` before resolving it, so both references see the
command line's overrides. A leaf module (spaCy's registry only), registered as a
``spacy_callbacks`` entry point, so configs find it without ``import spacy_ft``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from spacy import registry

if TYPE_CHECKING:
    from spacy.language import Language

#: The fix the error names: the flag to add to ``spacy train``.
TOTAL_STEPS_FLAG = "--training.optimizer.learn_rate.total_steps"


def schedule_problem(max_steps: int, total_steps: int) -> Optional[str]:
    """Why a run of ``max_steps`` steps does not fit a schedule that reaches 0 at
    ``total_steps``, or None when it does (``max_steps <= total_steps``, or 0)."""
    if max_steps <= 0 or max_steps <= total_steps:
        return None
    return (
        f"training.max_steps = {max_steps} is more than the learning-rate schedule's "
        f"training.optimizer.learn_rate.total_steps = {total_steps}: the rate reaches 0 at step "
        f"{total_steps} and the last {max_steps - total_steps} steps would not learn. Set both to the "
        f"same number: with --training.max_steps {max_steps}, pass {TOTAL_STEPS_FLAG} {max_steps} as well"
    )


@registry.callbacks("spacy_ft.check_schedule.v1")
def check_schedule(max_steps: int, total_steps: int) -> Callable[["Language", Dict[str, Any]], None]:
    """A ``[training.before_update]`` callback: at the first training step, raise a
    ValueError naming both numbers and the fix when ``max_steps > total_steps``
    (the schedule would reach 0 before the run ends); afterwards it does nothing.

    ``max_steps = 0`` is spaCy's "no step limit" (the run ends by ``max_epochs`` or
    ``patience``): its length is not known in advance, so that is not an error, only
    a warning at the first step that the rate reaches 0 at ``total_steps`` (later
    steps do not learn). ``max_steps < total_steps`` is fine too: the run ends before
    the decay does. Only for schedules with a ``total_steps``; for another schedule
    drop the ``[training.before_update]`` block.
    """
    checked = False

    def before_update(nlp: "Language", args: Dict[str, Any]) -> None:
        # spaCy's loop calls this before every update with {"step", "epoch"}.
        nonlocal checked
        if checked:
            return
        checked = True
        problem = schedule_problem(max_steps, total_steps)
        if problem:
            raise ValueError(f"[spacy_ft.check_schedule.v1] {problem}")
        if max_steps <= 0:
            warnings.warn(
                f"[spacy_ft.check_schedule.v1] training.max_steps = 0 (no step limit): the learning "
                f"rate reaches 0 at training.optimizer.learn_rate.total_steps = {total_steps}, and "
                "steps after it do not learn; set both to the number of steps to train",
                UserWarning,
                stacklevel=2,
            )

    return before_update
