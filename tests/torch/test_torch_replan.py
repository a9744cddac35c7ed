"""Changing the plan of a running Scheduler: cooldown, extend/shorten, replan, branching, resume.

Expected rates are formulas written here (the cooldown shapes, the integer stretch of the
remaining plan) or uninterrupted runs; continuity is checked against the old plan's own largest
step-to-step change.
"""

from __future__ import annotations

import copy
import io
import itertools
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch_adapter_helpers import assert_same, make_run

import rampup
from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError
from rampup.torch import Scheduler

pytestmark = pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")

SHAPES: dict[str, Callable[[float], float]] = {
    "1-sqrt": lambda x: 1 - math.sqrt(x),
    "linear": lambda x: 1 - x,
    "cosine": lambda x: 0.5 * (1 + math.cos(math.pi * x)),
}


def _opt(lrs: tuple[float, ...] = (1.0,)) -> torch.optim.Optimizer:
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def _advance(scheduler: Scheduler, n: int) -> list[float]:
    """Step ``n`` updates; the rate of group 0 in force after each."""
    out = []
    for _ in range(n):
        scheduler.optimizer.step()
        scheduler.step()
        out.append(float(scheduler.optimizer.param_groups[0]["lr"]))
    return out


def _roundtrip(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


BASES: dict[str, Callable[[], rampup.Schedule]] = {
    "warmup_constant": lambda: rampup.schedule("warmup_constant", warmup_steps=20),
    "warmup_cosine": lambda: rampup.schedule("warmup_cosine", warmup_steps=20, total_steps=300),
    "wsd": lambda: rampup.schedule("wsd", warmup_steps=20, total_steps=300),
    "linear_hf": lambda: rampup.schedule("linear", warmup_steps=20, total_steps=300),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_cooldown_follows_its_formula_from_the_rate_in_force(shape: str, floor: float) -> None:
    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 120)
    m = scheduler.get_last_lr()[0]
    scheduler.cooldown(50, shape=shape, floor=floor)
    assert scheduler.get_last_lr()[0] == pytest.approx(m, rel=1e-15)
    rates = _advance(scheduler, 70)
    for k, rate in enumerate(rates, start=1):
        expected = floor + (m - floor) * SHAPES[shape](min(k, 50) / 50)
        assert rate == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert scheduler.planned_end == 170


def _old_max_step(schedule: rampup.Schedule, upto: int) -> float:
    values = [schedule(t) for t in range(upto + 1)]
    return max(abs(b - a) for a, b in itertools.pairwise(values))


def _cooldown(shape: str) -> Callable[[Scheduler], None]:
    return lambda scheduler: scheduler.cooldown(40, shape=shape, extend=True)


CHANGES: dict[str, Callable[[Scheduler], None]] = {
    **{f"cooldown-{s}": _cooldown(s) for s in SHAPES},
    "extend": lambda sch: sch.extend(600),
    "shorten": lambda sch: sch.extend(sch.position + 30),
    "replan-cosine": lambda sch: sch.replan(rampup.Cosine(steps=80)),
    "replan-linear": lambda sch: sch.replan(rampup.Linear(steps=80, min_lr_ratio=0.2)),
    "replan-half": lambda sch: sch.replan(rampup.Constant(0.5)),
}


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("change", list(CHANGES))
@pytest.mark.parametrize("at", [7, 20, 150, 290])
def test_continuity_at_every_splice(base: str, change: str, at: int) -> None:
    """At the splice the rate moves no more than the old plan's largest step-to-step change."""
    schedule = BASES[base]()
    scheduler = Scheduler(_opt(), schedule)
    _advance(scheduler, at)
    before = scheduler.get_last_lr()[0]
    previous = schedule(at - 1)
    try:
        CHANGES[change](scheduler)
    except RampupError as error:
        # Only these are refused: nothing left to stretch, or an open-ended plan has no end.
        assert change in ("extend", "shorten") and ("already ended" in str(error)
                                                    or "open-ended" in str(error))
        return
    bound = _old_max_step(schedule, max(at + 1, 300))
    after = scheduler.get_last_lr()[0]
    assert after == pytest.approx(before, rel=1e-15, abs=0)
    assert abs(after - previous) <= bound + 1e-15
    # The new plan's own first step is its shape, not a splice jump, for extend and match.
    nxt = _advance(scheduler, 1)[0]
    if change in ("extend",):
        assert abs(nxt - after) <= bound + 1e-15


def test_jump_changes_the_rate_at_once() -> None:
    scheduler = Scheduler(_opt((2.0,)), BASES["warmup_cosine"]())
    _advance(scheduler, 100)
    scheduler.replan(rampup.Constant(0.25), continuity="jump")
    assert scheduler.get_last_lr() == [0.5]
    assert _advance(scheduler, 3) == [0.5, 0.5, 0.5]
    assert scheduler.planned_end is None


def test_replan_match_scales_the_new_schedule_to_the_rate_in_force() -> None:
    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 100)
    m = scheduler.get_last_lr()[0]
    scheduler.replan(rampup.Linear(steps=40, min_lr_ratio=0.5))
    rates = _advance(scheduler, 45)
    for k, rate in enumerate(rates, start=1):
        assert rate == pytest.approx(m * (0.5 + 0.5 * (40 - min(k, 40)) / 40), rel=1e-12)
    assert scheduler.planned_end == 140


@pytest.mark.parametrize("new_total", [500, 1000, 233, 140])
def test_extend_maps_the_rest_of_the_plan_onto_the_new_length(new_total: int) -> None:
    schedule = BASES["warmup_cosine"]()
    scheduler = Scheduler(_opt(), schedule)
    _advance(scheduler, 130)
    scheduler.extend(new_total)
    rates = _advance(scheduler, new_total - 130 + 5)
    for k, rate in enumerate(rates, start=131):
        t = 130 + (min(k, new_total) - 130) * (300 - 130) // (new_total - 130)
        assert rate == schedule(t)
    assert rates[new_total - 131] == schedule(300) == 0.0
    assert scheduler.planned_end == new_total


def test_extend_then_cooldown_then_extend_compose() -> None:
    schedule = BASES["warmup_cosine"]()
    scheduler = Scheduler(_opt(), schedule)
    _advance(scheduler, 50)
    scheduler.extend(800)
    _advance(scheduler, 100)
    m = scheduler.get_last_lr()[0]
    assert m == schedule(50 + 100 * 250 // 750)
    scheduler.cooldown(60, shape="linear")
    rates = _advance(scheduler, 30)
    assert rates[-1] == pytest.approx(m * (1 - 30 / 60), rel=1e-12)
    scheduler.extend(300)  # stretch the rest of the cooldown: 30 left -> 120 left
    rates = _advance(scheduler, 120)
    assert rates[59] == pytest.approx(m * (1 - (30 + 60 * 30 // 120) / 60), rel=1e-12)
    assert rates[-1] == 0.0
    assert len(scheduler.changes) == 3


SCENARIOS: dict[str, Callable[[Scheduler, int], None]] = {
    "cooldown": lambda s, k: s.cooldown(15, shape="1-sqrt", floor=0.05) if k == 20 else None,
    "extend+cooldown": lambda s, k: (s.extend(80) if k == 10 else
                                     s.cooldown(12, shape="cosine") if k == 25 else None),
    "replan+shorten": lambda s, k: (s.replan(rampup.Cosine(steps=40)) if k == 12 else
                                    s.extend(35) if k == 22 else None),
}
TOTAL = 45


def _training(scenario: str, resume_at: int | None, roundtrip: Callable[[Any], Any] = _roundtrip,
              ) -> list[list[float]]:
    """A real two-group AdamW run of TOTAL updates with plan changes; optionally saved at
    ``resume_at`` and resumed into a fresh scheduler built with the ORIGINAL schedule."""
    schedule = rampup.schedule("warmup_cosine", warmup_steps=6, total_steps=40, min_lr_ratio=0.1)
    run = make_run()
    scheduler = Scheduler(run.optimizer, schedule)
    rates = [run.lrs()]
    for k in range(TOTAL):
        if k == resume_at:
            checkpoint = roundtrip({"model": copy.deepcopy(run.model.state_dict()),
                                    "optimizer": copy.deepcopy(run.optimizer.state_dict()),
                                    "scheduler": scheduler.state_dict()})
            run = make_run(seed=99)  # a new process: fresh objects, state from the checkpoint
            run.model.load_state_dict(checkpoint["model"])
            run.optimizer.load_state_dict(checkpoint["optimizer"])
            scheduler = Scheduler(run.optimizer, schedule)
            scheduler.load_state_dict(checkpoint["scheduler"])
        SCENARIOS[scenario](scheduler, k)
        run.update()
        scheduler.step()
        rates.append(run.lrs())
    return rates


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_resume_anywhere_is_bit_for_bit(scenario: str) -> None:
    reference = _training(scenario, None)
    for resume_at in (5, 10, 11, 20, 21, 26, 40):
        assert_same(reference, _training(scenario, resume_at))


def test_state_is_plain_data_and_json_ready() -> None:
    import json

    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 30)
    scheduler.extend(500)
    scheduler.replan(rampup.Linear(steps=50))
    state = scheduler.state_dict()
    again = json.loads(json.dumps(state))
    other = Scheduler(_opt(), BASES["warmup_cosine"]())
    other.load_state_dict(again)
    assert other.changes == scheduler.changes and other.warp == scheduler.warp
    assert _advance(other, 60) == _advance(scheduler, 60)


def test_branching_several_cooldowns_from_one_checkpoint_is_reproducible() -> None:
    base = rampup.schedule("warmup_constant", warmup_steps=10)
    trunk = Scheduler(_opt(), base)
    _advance(trunk, 100)
    checkpoint = _roundtrip(trunk.state_dict())

    def branch(length: int) -> list[float]:
        scheduler = Scheduler(_opt(), base)
        scheduler.load_state_dict(checkpoint)
        scheduler.cooldown(length)
        return _advance(scheduler, length + 2)

    for length in (20, 50, 80):
        first, second = branch(length), branch(length)
        assert first == second
        assert first[length - 2] > 0.0 and first[length - 1:] == [0.0, 0.0, 0.0]
        for k, rate in enumerate(first, start=1):
            assert rate == pytest.approx(1 - math.sqrt(min(k, length) / length), abs=1e-15)
    # A branch equals the cooldown made on the live trunk.
    trunk.cooldown(50)
    assert _advance(trunk, 52) == branch(50)


def test_per_group_cooldowns_start_from_each_group_rate() -> None:
    schedules = [rampup.schedule("warmup_cosine", warmup_steps=10, total_steps=200),
                 rampup.schedule("warmup_constant", warmup_steps=30)]
    opt = _opt((1.0, 0.1))
    scheduler = Scheduler(opt, schedules)
    _advance(scheduler, 20)
    m = scheduler.get_last_lr()
    scheduler.cooldown(30, shape="linear", floor=0.0)
    _advance(scheduler, 15)
    assert scheduler.get_last_lr() == pytest.approx([m[0] * 0.5, m[1] * 0.5], rel=1e-12)


def test_open_ended_run_ends_only_with_a_cooldown() -> None:
    scheduler = Scheduler(_opt(), rampup.schedule("wsd", warmup_steps=10))
    assert scheduler.planned_end is None
    assert _advance(scheduler, 500)[-1] == 1.0
    scheduler.cooldown(100)
    assert scheduler.planned_end == 600
    assert _advance(scheduler, 100)[-1] == 0.0
    assert rampup.schedule("wsd", warmup_steps=10)(10_000) == 1.0
    with pytest.raises(ScheduleValueError, match="decay_steps"):
        rampup.schedule("wsd", warmup_steps=10, decay_steps=100)


def _frozen(scheduler: Scheduler) -> tuple[Any, ...]:
    return (scheduler.state_dict(), scheduler.get_last_lr(),
            [g["lr"] for g in scheduler.optimizer.param_groups])


BAD: dict[str, tuple[Callable[[Scheduler], None], type, str]] = {
    "cooldown past the bounded end": (lambda s: s.cooldown(500), ScheduleValueError, "steps=500"),
    "zero steps": (lambda s: s.cooldown(0), ScheduleValueError, "steps"),
    "negative steps": (lambda s: s.cooldown(-5), ScheduleValueError, "steps"),
    "float steps": (lambda s: s.cooldown(2.5), ScheduleTypeError, "steps"),  # type: ignore[arg-type]
    "unknown shape": (lambda s: s.cooldown(10, shape="sqrt"), ScheduleValueError, "shape"),
    "floor above rate": (lambda s: s.cooldown(10, floor=0.99), ScheduleValueError, "floor"),
    "floor out of range": (lambda s: s.cooldown(10, floor=1.5), ScheduleValueError, "floor"),
    "extend before now": (lambda s: s.extend(50), ScheduleValueError, "total_steps"),
    "extend to now": (lambda s: s.extend(100), ScheduleValueError, "total_steps"),
    "extend to zero": (lambda s: s.extend(0), ScheduleValueError, "total_steps"),
    "replan wrong count": (lambda s: s.replan([rampup.Constant(), rampup.Constant()]),
                           ScheduleValueError, "schedule"),
    "replan not a schedule": (lambda s: s.replan("cosine"), ScheduleTypeError, "schedule"),  # type: ignore[arg-type]
    "replan match from 0": (lambda s: s.replan(rampup.schedule("warmup_constant", warmup_steps=5,
                                                               warmup_start=0.0, warmup_endpoints="start")),
                            ScheduleValueError, "continuity"),
    "unknown continuity": (lambda s: s.replan(rampup.Constant(), continuity="smooth"),
                           ScheduleValueError, "continuity"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_changes_name_the_argument_and_change_nothing(case: str) -> None:
    call, error, name = BAD[case]
    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 100)
    before = _frozen(scheduler)
    with pytest.raises(error, match=name):
        call(scheduler)
    assert _frozen(scheduler) == before


def test_cooldown_past_the_end_with_explicit_extension() -> None:
    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 250)
    scheduler.cooldown(100, extend=True)
    assert scheduler.planned_end == 350


def test_extend_of_an_open_ended_or_finished_plan_is_refused() -> None:
    open_ended = Scheduler(_opt(), BASES["warmup_constant"]())
    _advance(open_ended, 50)
    with pytest.raises(ScheduleValueError, match=r"total_steps.*open-ended"):
        open_ended.extend(100)
    done = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(done, 310)
    with pytest.raises(ScheduleValueError, match="already ended"):
        done.extend(400)


def test_saved_changes_refused_on_a_different_schedule_and_when_tampered() -> None:
    scheduler = Scheduler(_opt(), BASES["warmup_cosine"]())
    _advance(scheduler, 40)
    scheduler.cooldown(30)
    state = scheduler.state_dict()
    other = Scheduler(_opt(), BASES["wsd"]())
    _advance(other, 3)
    before = _frozen(other)
    with pytest.raises(ScheduleValueError, match="on_config_change"):
        other.load_state_dict(state, on_config_change="keep_step")
    assert _frozen(other) == before
    same = Scheduler(_opt(), BASES["warmup_cosine"]())
    before = _frozen(same)
    for tamper in ({"op": "rewind"}, {"steps": 0}, {"position": 999}, {"shape": "cubic"}):
        bad = copy.deepcopy(state)
        bad["changes"][0].update(tamper)
        with pytest.raises(RampupError):
            same.load_state_dict(bad)
        assert _frozen(same) == before
    bad = copy.deepcopy(state)
    bad["warp"] = [[0, 0, 1, 0]]
    with pytest.raises(RampupError, match="den"):
        same.load_state_dict(bad)
    assert _frozen(same) == before


def test_deepcopy_and_pickle_keep_the_changed_plan() -> None:
    import pickle

    optimizer = _opt()
    scheduler = Scheduler(optimizer, BASES["warmup_cosine"]())
    _advance(scheduler, 60)
    scheduler.extend(400)
    scheduler.cooldown(50, shape="cosine")
    for _copied_optimizer, copied in (copy.deepcopy((optimizer, scheduler)),
                                      pickle.loads(pickle.dumps((optimizer, scheduler)))):
        assert copied.changes == scheduler.changes and copied.warp == scheduler.warp
        assert _advance(copied, 55) == _advance(copy.deepcopy(scheduler), 55)
