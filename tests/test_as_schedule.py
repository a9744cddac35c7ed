"""rampup.names.as_schedule: the one reader of "a schedule, its dict, or a name" for the adapters."""

from __future__ import annotations

import pytest

import rampup
from rampup import ScheduleTypeError, ScheduleValueError
from rampup.names import as_schedule, as_schedules


def test_the_three_forms_give_the_same_schedule() -> None:
    built = rampup.schedule("cosine", warmup_steps=10, total_steps=100)
    assert as_schedule(built) is built
    assert as_schedule(built.to_dict()) == built
    assert as_schedule("cosine", warmup_steps=10, total_steps=100) == built
    assert as_schedules([built, built.to_dict()]) == [built, built]


def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(ScheduleTypeError, match="only for a schedule given by name"):
        as_schedule(rampup.Cosine(steps=5), total_steps=5)
    with pytest.raises(ScheduleTypeError, match="only for a schedule given by name"):
        as_schedules([rampup.Cosine(steps=5)], total_steps=5)
    with pytest.raises(ScheduleTypeError, match="got function"):
        as_schedule(lambda t: 1.0)  # type: ignore[arg-type]
    with pytest.raises(ScheduleValueError, match="unknown schedule name"):
        as_schedule("cosin")
    with pytest.raises(ScheduleValueError, match="shape"):
        as_schedule({"steps": 5})


def test_jax_takes_the_same_forms() -> None:
    pytest.importorskip("jax")
    from rampup.jax import to_optax

    built = rampup.schedule("cosine", warmup_steps=10, total_steps=100)
    for given in (to_optax(built, 2.0), to_optax(built.to_dict(), 2.0),
                  to_optax("cosine", 2.0, warmup_steps=10, total_steps=100)):
        assert [given(t) for t in (0, 5, 50, 99)] == [2.0 * built(t) for t in (0, 5, 50, 99)]
