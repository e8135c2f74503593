"""``spacy_ft.check_schedule.v1``: a step budget above the schedule's total_steps
stops training at its first step, with both numbers and the fix; anything else
trains, and the check costs nothing after the first step."""

from __future__ import annotations

import warnings

import pytest
from spacy import registry

from spacy_ft.training_checks import check_schedule, schedule_problem

ARGS = {"step": 0, "epoch": 0}


def test_registered_under_its_config_name():
    assert registry.callbacks.get("spacy_ft.check_schedule.v1") is check_schedule


def test_a_budget_above_total_steps_raises_at_the_first_step_naming_both_numbers():
    before_update = check_schedule(max_steps=3000, total_steps=1500)  # building it never raises
    with pytest.raises(ValueError) as info:
        before_update(None, ARGS)
    message = str(info.value)
    assert "training.max_steps = 3000" in message
    assert "training.optimizer.learn_rate.total_steps = 1500" in message
    assert "pass --training.optimizer.learn_rate.total_steps 3000 as well" in message


@pytest.mark.parametrize("max_steps,total_steps", [(1500, 1500), (600, 1500), (1, 1)])
def test_a_budget_within_the_schedule_passes_silently(max_steps, total_steps):
    before_update = check_schedule(max_steps=max_steps, total_steps=total_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in range(3):
            before_update(None, {"step": step, "epoch": 0})
    assert schedule_problem(max_steps, total_steps) is None


def test_it_checks_once():
    """Only the first call looks; later steps return at once (even if the first raised)."""
    before_update = check_schedule(max_steps=10, total_steps=5)
    with pytest.raises(ValueError):
        before_update(None, ARGS)
    before_update(None, {"step": 1, "epoch": 0})


def test_no_step_limit_only_warns_that_the_rate_reaches_zero():
    """max_steps = 0: the run ends by max_epochs or patience, its length unknown."""
    before_update = check_schedule(max_steps=0, total_steps=800)
    with pytest.warns(UserWarning, match=r"reaches 0 at training\.optimizer\.learn_rate\.total_steps = 800"):
        before_update(None, ARGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before_update(None, {"step": 1, "epoch": 0})


def test_resolved_from_a_training_block_with_references():
    """As spaCy resolves it: [training] interpolated, so both references are numbers."""
    from thinc.api import Config

    config = Config().from_str(
        """
        [training]
        max_steps = 40

        [training.before_update]
        @callbacks = "spacy_ft.check_schedule.v1"
        max_steps = ${training.max_steps}
        total_steps = ${training.optimizer.learn_rate.total_steps}

        [training.optimizer]
        @optimizers = "Adam.v1"

        [training.optimizer.learn_rate]
        @schedules = "warmup_linear.v1"
        warmup_steps = 2
        total_steps = 20
        initial_rate = 0.001
        """
    )
    before_update = registry.resolve({"check": config["training"]["before_update"]})["check"]
    with pytest.raises(ValueError, match=r"training\.max_steps = 40 .*learn_rate\.total_steps = 20"):
        before_update(None, ARGS)
