"""The adaptive warmup clock on the torch Scheduler: rates, re-plan, resume, tensors, errors.

Expected rates come from formulas written here (a linear warmup then a cosine, on the re-planned
time ``L + floor((p - L) * (T - L) / (T - u_w))``), from the framework-free clock fed plain floats
(itself tested against an independent oracle in tests/test_adaptive.py), or from uninterrupted runs.
"""

from __future__ import annotations

import io
import math
import random

import pytest
import torch

import rampup
from rampup.adaptive import AdaptiveWarmup, StabilityRule
from rampup.errors import RampupError, ScheduleValueError
from rampup.torch import Scheduler
from rampup.torch import adaptive as torch_adaptive

PEAK, WARMUP, TOTAL, MAX = 0.5, 10, 60, 30
RULE = StabilityRule(window=8, min_history=4, threshold=2.0, severe=3.0)


def losses(seed: int = 0, n: int = TOTAL + 30) -> list[float]:
    rng = random.Random(seed)
    out = [2.0 * math.exp(-i / 15) + 1.0 + rng.gauss(0, 0.03) for i in range(n)]
    for i in (6, 7, 13, 19, 20, 21):
        out[i] *= 1.6
    return out


def schedule() -> rampup.Schedule:
    return rampup.with_warmup(rampup.Cosine(steps=TOTAL - WARMUP, min_lr_ratio=0.1), WARMUP)


def expected_multiplier(time: int) -> float:
    if time < WARMUP:
        return (time + 1) / WARMUP
    p = min(time - WARMUP, TOTAL - WARMUP) / (TOTAL - WARMUP)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))


def build(clock: AdaptiveWarmup | None = None) -> tuple[Scheduler, torch.optim.Optimizer]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=PEAK)
    clock = AdaptiveWarmup(MAX, rule=RULE) if clock is None else clock
    return Scheduler(opt, schedule(), clock=clock, total_steps=TOTAL), opt


def train(scheduler: Scheduler, opt: torch.optim.Optimizer, values: list[float],
          as_tensor: bool = True) -> list[float]:
    rates = []
    for x in values:
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(loss=torch.tensor(x, dtype=torch.float64) if as_tensor else x)
    return rates


def float_positions(values: list[float], **kwargs: object) -> tuple[list[int], int]:
    """The framework-free clock fed plain floats: positions after each update, and warmup end."""
    clock = AdaptiveWarmup(MAX, rule=RULE, **kwargs)  # type: ignore[arg-type]
    clock.bind([schedule()], TOTAL)
    out = []
    for x in values:
        clock.advance({"loss": x})
        out.append(clock.position)
    assert clock.warmup_end is not None
    return out, clock.warmup_end


def test_rates_follow_the_clock_and_the_run_ends_on_time() -> None:
    values = losses()[:TOTAL]
    scheduler, opt = build()
    rates = train(scheduler, opt, values)
    positions, end = float_positions(values)
    assert WARMUP < end <= MAX  # the spikes held the warmup
    expected = [PEAK * expected_multiplier(0)]
    for u, p in enumerate(positions[:-1], start=1):
        time = p if u <= end else WARMUP + (p - WARMUP) * (TOTAL - WARMUP) // (TOTAL - end)
        expected.append(PEAK * expected_multiplier(time))
    assert rates == pytest.approx(expected, rel=1e-12)
    # The last update of the planned total ends the schedule: the rate is the cosine's floor.
    assert opt.param_groups[0]["lr"] == pytest.approx(PEAK * 0.1, rel=1e-12)
    assert scheduler.changes == [{"update": end, "position": WARMUP, "time": WARMUP, "op": "extend",
                                  "total_steps": WARMUP + TOTAL - end}]
    report = scheduler.report(warn=False)
    assert report["fraction_done"] == 1.0
    summary = report["adaptive_warmup"]
    assert summary["warmup_updates"] == end and summary["min_warmup"] == WARMUP
    assert summary["max_warmup"] == MAX and summary["held_updates"] + summary["back_offs"] > 0
    assert summary["text"].startswith(f"adaptive warmup took {end} updates (bounds {WARMUP}..{MAX}): ")
    first = summary["events"][0]
    assert f"{first['decision']} at update" in summary["text"]


@pytest.mark.parametrize("first_milestone", [45, 15])
def test_the_replan_skips_steps_at_the_peak_first(first_milestone: int) -> None:
    # A warmup then a step decay (x0.1 at first_milestone and at 55, absolute schedule time).
    # With the milestone at 45 the schedule holds its peak from step 10 to 44, more than the
    # warmup's extra updates: those peak steps are skipped and the decay keeps its place (the rate
    # of update u after the warmup is the schedule's at time u; no extend). With it at 15 only
    # steps 11-14 are at the peak: they are skipped, and the rest is mapped onto the updates left.
    def multiplier(time: int) -> float:
        if time < WARMUP:
            return (time + 1) / WARMUP
        return 0.1 ** ((time >= first_milestone) + (time >= 55))

    ramp = rampup.Warmup(steps=WARMUP)
    decay = rampup.MultiStep(milestones=(first_milestone, 55), gamma=0.1)
    plan = rampup.Join(phases=(ramp, decay), boundaries=(WARMUP,), clock="absolute")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=PEAK)
    scheduler = Scheduler(opt, plan, clock=AdaptiveWarmup(MAX, rule=RULE), total_steps=TOTAL)
    values = losses()[:TOTAL]
    rates = train(scheduler, opt, values)
    positions, end = float_positions(values)
    assert WARMUP < end <= MAX
    plateau = min(first_milestone - WARMUP - 1, MAX - WARMUP)  # peak steps after step WARMUP
    jump = min(end - WARMUP, plateau)
    expected = [PEAK * multiplier(0)]
    for u, p in enumerate(positions[:-1], start=1):
        if u <= end:
            time = p
        else:
            start = WARMUP + jump  # the position after the jump, where the rest of the plan starts
            time = start + (u - end) * (TOTAL - start) // (TOTAL - end)
        expected.append(PEAK * multiplier(time))
    assert rates == pytest.approx(expected, rel=1e-12)
    summary = scheduler.report(warn=False)["adaptive_warmup"]
    assert summary["peak_steps_skipped"] == jump
    if first_milestone == 45:
        assert jump == end - WARMUP and scheduler.changes == []
        assert rates[end + 1:] == pytest.approx([PEAK * multiplier(u) for u in range(end + 1, TOTAL)])
    else:
        assert jump == 4
        assert scheduler.changes == [{"update": end, "position": WARMUP + 4, "time": WARMUP + 4,
                                      "op": "extend", "total_steps": WARMUP + 4 + TOTAL - end}]
    assert opt.param_groups[0]["lr"] == pytest.approx(PEAK * 0.01, rel=1e-12)


@pytest.mark.filterwarnings("ignore:scheduler.step\\(\\) went past the end")
def test_on_time_false_extends_the_run_instead() -> None:
    values = losses()
    scheduler, opt = build(AdaptiveWarmup(MAX, rule=RULE, on_time=False))
    rates = train(scheduler, opt, values)
    positions, end = float_positions(values, on_time=False)
    expected = [PEAK * expected_multiplier(p) for p in [0, *positions[:-1]]]
    assert rates == pytest.approx(expected, rel=1e-12)
    assert scheduler.changes == []
    # The schedule's end comes end - WARMUP updates after the planned total.
    assert rates[TOTAL + end - WARMUP - 1] > PEAK * 0.1
    assert rates[TOTAL + end - WARMUP] == pytest.approx(PEAK * 0.1, rel=1e-12)
    assert scheduler.report(warn=False)["adaptive_warmup"]["extra_updates"] == end - WARMUP


def test_tensor_and_float_losses_give_the_same_rates() -> None:
    values = [float(torch.tensor(x, dtype=torch.float32)) for x in losses(3)[:TOTAL]]
    first, opt1 = build()
    second, opt2 = build()
    a = train(first, opt1, values, as_tensor=True)
    b = train(second, opt2, values, as_tensor=False)
    assert a == b
    third, opt3 = build()
    assert train(third, opt3, values) == a  # deterministic: the same losses, the same rates


def test_tensors_are_read_lag_updates_later(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    original = torch_adaptive.PendingSignals.values
    scheduler, opt = build(AdaptiveWarmup(MAX, rule=RULE, lag=3))

    def spy(self: torch_adaptive.PendingSignals) -> tuple[float | None, ...]:
        reads.append(scheduler.last_epoch)
        return original(self)

    monkeypatch.setattr(torch_adaptive.PendingSignals, "values", spy)
    train(scheduler, opt, [1.0] * 8)
    # The loss of update u (0-based; last_epoch is u while it is stepped) is read at update u + 3.
    assert reads == [3, 4, 5, 6, 7]


@pytest.mark.parametrize("cut", [0, 1, 2, 5, 9, 14, 22, 23, 24, 40, 59])
def test_resume_at_any_update_is_bit_for_bit(cut: int) -> None:
    values = losses(1)[:TOTAL]
    reference, opt = build()
    expected = train(reference, opt, values)
    first, opt1 = build()
    rates = train(first, opt1, values[:cut])
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    second, opt2 = build()
    second.load_state_dict(state)
    rates += train(second, opt2, values[cut:])
    assert rates == expected
    assert second.changes == reference.changes
    assert second.report(warn=False) == reference.report(warn=False)


def test_missing_loss_names_the_call_and_changes_nothing() -> None:
    scheduler, opt = build()
    train(scheduler, opt, [1.0, 1.0])
    before = (scheduler.last_epoch, scheduler.position, opt.param_groups[0]["lr"])
    opt.step()
    with pytest.raises(ScheduleValueError, match=r"scheduler\.step\(loss=loss\)"):
        scheduler.step()
    assert (scheduler.last_epoch, scheduler.position, opt.param_groups[0]["lr"]) == before
    lenient, opt2 = build(AdaptiveWarmup(MAX, rule=RULE, missing_loss="advance"))
    for _ in range(WARMUP + 3):
        opt2.step()
        lenient.step()
    # the first lag = 2 updates have no signals to act on yet: they wait (the longest plan,
    # floor(10 u / 30), is still 0); the other 11 advance, 10 of them through the warmup
    assert lenient.position == WARMUP + 1


def test_loss_may_be_left_out_after_the_warmup() -> None:
    scheduler, opt = build()
    # the first lag + min_history = 6 updates are untested and wait on the longest plan
    # (floor(10 u / 30) = 2 after 6), then a flat loss advances one step an update: 8 more
    train(scheduler, opt, [1.0] * 13)
    assert not scheduler.clock.done  # type: ignore[attr-defined]
    train(scheduler, opt, [1.0])
    assert scheduler.clock.done  # type: ignore[attr-defined]
    opt.step()
    scheduler.step()
    assert scheduler.position == WARMUP + 1


def test_a_run_of_nonfinite_losses_raises() -> None:
    scheduler, opt = build(AdaptiveWarmup(MAX, rule=StabilityRule(max_nonfinite=4), lag=0))
    train(scheduler, opt, [1.0] * 5 + [math.nan] * 3)
    opt.step()
    with pytest.raises(RampupError, match="non-finite"):
        scheduler.step(loss=torch.tensor(math.inf))


def test_states_of_other_schedulers_are_rejected() -> None:
    plain = Scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK), schedule(),
                      total_steps=TOTAL)
    adaptive, _ = build()
    with pytest.raises(RampupError, match="clock"):
        adaptive.load_state_dict(plain.state_dict())
    with pytest.raises(RampupError, match="clock"):
        plain.load_state_dict(adaptive.state_dict())
    other, _ = build(AdaptiveWarmup(MAX + 1, rule=RULE))
    with pytest.raises(RampupError, match="clock"):
        other.load_state_dict(adaptive.state_dict())


def test_bad_bounds_fail_when_the_scheduler_is_built() -> None:
    with pytest.raises(ScheduleValueError, match="shorter than the run"):
        build(AdaptiveWarmup(TOTAL))
    with pytest.raises(ScheduleValueError, match="min_warmup"):
        build(AdaptiveWarmup(MAX, min_warmup=WARMUP + 1))
    with pytest.raises(ScheduleValueError, match="single number"):
        scheduler, opt = build()
        opt.step()
        scheduler.step(loss=torch.ones(2))


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_resume_around_the_end_of_warmup_is_bit_for_bit(offset: int) -> None:
    # Saved just before, at (re-plan still to come) and just after the update that ends the warmup.
    values = losses(2)[:TOTAL]
    reference, opt = build()
    expected = train(reference, opt, values)
    end = reference.report(warn=False)["adaptive_warmup"]["warmup_updates"]
    assert end > WARMUP  # the re-plan is real
    cut = end + offset
    first, opt1 = build()
    rates = train(first, opt1, values[:cut])
    assert (first.changes == []) == (cut <= end)  # the re-plan happens on the update after the end
    second, opt2 = build()
    second.load_state_dict(first.state_dict())
    rates += train(second, opt2, values[cut:])
    assert rates == expected and second.changes == reference.changes
