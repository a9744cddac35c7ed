"""Schedule.length: the run a schedule is planned for, derived by combinators from their parts.

Expected values are the step counts the schedules were built with (None: goes on by design).
"""

from __future__ import annotations

import pytest

import rampup
from rampup import (
    SGDR,
    Constant,
    Cosine,
    Exponential,
    Linear,
    Multiply,
    MultiStep,
    OneCycle,
    Step,
    Triangular,
    Warmup,
    clamp,
    join,
)
from rampup.plan import planned_end


@pytest.mark.parametrize(("schedule", "length"), [
    (Warmup(steps=7), 7),
    (Linear(steps=30), 30),
    (Cosine(steps=30, endpoints="end"), 30),
    (OneCycle(steps=100), 100),
    (SGDR(period_steps=4, max_cycles=3), 12),
    (SGDR(period_steps=4), None),
    (Constant(), None),
    (Constant(0.3), 0),
    (Step(step_size=5), None),
    (MultiStep(milestones=(5, 9)), None),
    (Exponential(gamma=0.9), None),
    (Triangular(step_size_up=3), None),
])
def test_shapes(schedule: rampup.Schedule, length: int | None) -> None:
    assert schedule.length == length


def test_one_cycle_length_is_its_horizon() -> None:
    s = OneCycle(steps=100)
    assert s.length == s.horizon == 100 and s(99) == s(100)


def test_combinators_derive_it_from_their_parts() -> None:
    assert join([Warmup(steps=10), Cosine(steps=90)], [10]).length == 100
    assert join([Warmup(steps=10), Cosine(steps=90)], [10], clock="absolute").length == 90
    assert join([Warmup(steps=10), Cosine(steps=5)], [10], clock="absolute").length == 10
    assert join([Warmup(steps=10), Constant()], [10]).length is None
    assert join([Warmup(steps=10), Cosine(steps=20), Constant(0.1)], [10, 30]).length == 30
    assert join([Warmup(steps=10), MultiStep(milestones=(50,))], [10]).length is None
    nested = join([Warmup(steps=4), join([Constant(), Linear(steps=6)], [3])], [4])
    assert nested.length == 13
    assert Multiply(factors=(Constant(0.5), Cosine(steps=40))).length == 40
    assert Multiply(factors=(Warmup(steps=10), Cosine(steps=40))).length == 40
    assert Multiply(factors=(Warmup(steps=10), Step(step_size=3))).length is None
    assert Multiply(factors=(Constant(0.5), Constant(2.0))).length is None  # the peak
    assert Multiply(factors=(Constant(0.5), Constant())).length == 0
    assert clamp(Cosine(steps=40), 0.1).length == 40


@pytest.mark.parametrize(("name", "options", "length"), [
    ("warmup_cosine", {"warmup_steps": 10, "total_steps": 100}, 100),
    ("cosine", {"warmup_steps": 10, "total_steps": 100}, 100),
    ("constant_with_warmup", {"warmup_steps": 10}, None),
    ("constant", {}, None),
    ("wsd", {"warmup_steps": 10}, None),
    ("wsd", {"warmup_steps": 10, "total_steps": 100}, 100),
    ("warmup_stable_decay", {"warmup_steps": 5, "total_steps": 60, "num_decay_steps": 10,
                             "num_cycles": 0.8, "min_lr_ratio": 0.1}, 60),
    ("goyal", {"warmup_steps": 5, "milestones": [30, 60]}, None),
    ("step", {"warmup_steps": 5, "step_size": 30}, None),
    ("inverse_sqrt", {"warmup_steps": 5}, None),
    ("one_cycle", {"total_steps": 50}, 50),
])
def test_named_schedules(name: str, options: dict[str, object], length: int | None) -> None:
    schedule = rampup.schedule(name, **options)
    assert schedule.length == length
    assert planned_end([schedule], None) == length
    assert planned_end([schedule, Cosine(steps=7)], None) == (None if length is None else max(length, 7))
    assert planned_end([schedule], 42) == 42
