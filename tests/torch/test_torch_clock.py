"""The torch Scheduler on clocks other than the update count: tokens, samples, time.

Expected rates come from formulas written here (a linear warmup then a cosine over the clock's
unit) or from uninterrupted runs, never from the scheduler under test.
"""

from __future__ import annotations

import io
import math
import random

import pytest
import torch
from torch_adapter_helpers import assert_same, make_run

import rampup
from rampup.clock import TimeClock, TokenClock
from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError
from rampup.torch import Scheduler

PEAK = 1e-3


def _warmup_cosine(t: int, warmup: int, total: int, floor: float = 0.0) -> float:
    """rampup's native warmup ((t + 1) / warmup) then a half cosine to ``floor`` at ``total``."""
    if t < warmup:
        return (t + 1) / warmup
    p = min(t - warmup, total - warmup) / (total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=PEAK)


def _step(scheduler: Scheduler, **signals: object) -> None:
    scheduler.optimizer.step()
    scheduler.step(**signals)


def _roundtrip(obj: object) -> object:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_token_clock_rate_is_the_schedule_of_tokens_seen() -> None:
    warmup, total = 10_000, 200_000
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.schedule("warmup_cosine", warmup_steps=warmup,
                                               total_steps=total), clock="tokens")
    rng = random.Random(1)
    seen = 0
    for _ in range(120):
        n = rng.choice([512, 1024, 2048, 1536])
        _step(scheduler, tokens=n)
        seen += n
        assert scheduler.position == seen
        assert opt.param_groups[0]["lr"] == pytest.approx(PEAK * _warmup_cosine(seen, warmup, total),
                                                          rel=1e-12)
    assert scheduler.last_epoch == 120  # updates are still counted


def test_token_durations_as_strings() -> None:
    clock = TokenClock()
    schedule = rampup.schedule("warmup_cosine", warmup_steps=clock.amount("2M tok"),
                               total_steps=clock.amount("0.1B"))
    scheduler = Scheduler(_optimizer(), schedule, clock=clock)
    scheduler.cooldown("10M tok")
    assert scheduler.planned_end == 10_000_000


def test_bad_signals_change_nothing() -> None:
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.schedule("warmup_linear", warmup_steps=5, total_steps=50),
                          clock="tokens")
    _step(scheduler, tokens=7)
    before = (scheduler.position, scheduler.last_epoch, scheduler._step_count, opt.param_groups[0]["lr"])
    opt.step()
    for bad, error in (({}, ScheduleValueError), ({"tokens": -3}, ScheduleValueError),
                       ({"tokens": 1.5}, ScheduleTypeError), ({"tokenz": 3}, ScheduleTypeError)):
        with pytest.raises(error, match=r"tokens|tokenz"):
            scheduler.step(**bad)
        after = (scheduler.position, scheduler.last_epoch, scheduler._step_count,
                 opt.param_groups[0]["lr"])
        assert after == before
    with pytest.raises(ScheduleValueError, match="epoch"):
        scheduler.step(5)


def test_default_clock_ignores_signals() -> None:
    schedule = rampup.schedule("warmup_cosine", warmup_steps=4, total_steps=30)
    plain, signalled = Scheduler(_optimizer(), schedule), Scheduler(_optimizer(), schedule)
    for k in range(30):
        _step(plain)
        _step(signalled, loss=1.0 / (k + 1), tokens=100)
        assert plain.get_last_lr() == signalled.get_last_lr()


def test_skipped_update_holds_the_token_clock() -> None:
    scheduler = Scheduler(_optimizer(), rampup.schedule("warmup_linear", warmup_steps=5,
                                                       total_steps=500), clock="tokens",
                          on_skipped_step="hold")
    _step(scheduler, tokens=10)
    scheduler.step(tokens=10)  # no optimizer.step(): a GradScaler skip
    assert (scheduler.position, scheduler.skipped_steps) == (10, 1)
    advancing = Scheduler(_optimizer(), rampup.schedule("warmup_linear", warmup_steps=5,
                                                        total_steps=500), clock="tokens")
    _step(advancing, tokens=10)
    advancing.step(tokens=10)
    assert (advancing.position, advancing.skipped_steps) == (20, 1)


def test_token_clock_resumes_bit_for_bit() -> None:
    schedule = rampup.schedule("warmup_cosine", warmup_steps=3000, total_steps=60_000)
    counts = [random.Random(3).choice([700, 900, 1100]) for _ in range(60)]
    counts = [c + k for k, c in enumerate(counts)]

    def run(resume_at: int | None) -> list[list[float]]:
        training = make_run()
        scheduler = Scheduler(training.optimizer, schedule, clock="tokens")
        rates = [training.lrs()]
        for k, n in enumerate(counts):
            if k == resume_at:
                state = _roundtrip(scheduler.state_dict())
                scheduler = Scheduler(training.optimizer, schedule, clock="tokens")
                scheduler.load_state_dict(state)  # type: ignore[arg-type]
            training.update()
            scheduler.step(tokens=n)
            rates.append(training.lrs())
        return rates

    assert_same(run(None), run(25))


def test_state_with_another_clock_is_refused_unchanged() -> None:
    schedule = rampup.schedule("warmup_linear", warmup_steps=5, total_steps=100)
    tokens = Scheduler(_optimizer(), schedule, clock="tokens")
    _step(tokens, tokens=50)
    opt = _optimizer()
    updates = Scheduler(opt, schedule)
    _step(updates)
    lr = opt.param_groups[0]["lr"]
    with pytest.raises(RampupError, match="clock"):
        updates.load_state_dict(tokens.state_dict())
    assert (updates.last_epoch, opt.param_groups[0]["lr"]) == (1, lr)


def _time_run(budget_s: float, step_s: float, jitter: float, seed: int,
              resume_at: int | None = None) -> tuple[list[float], list[float]]:
    """Elapsed seconds and rate after each update of a run on a time budget (an injected clock)."""
    rng = random.Random(seed)
    now = [0.0]
    clock = TimeClock(source=lambda: now[0])
    budget = clock.amount(budget_s, "total", minimum=1)
    schedule = rampup.schedule("warmup_cosine", warmup_steps=clock.amount(0.05 * budget_s),
                               total_steps=budget, min_lr_ratio=0.0)
    opt = _optimizer()
    scheduler = Scheduler(opt, schedule, clock=clock)
    elapsed, rates = [], []
    for k in range(int(1.2 * budget_s / step_s)):
        if k == resume_at:
            state = _roundtrip(scheduler.state_dict())
            now[0] += 500.0  # the job is down for a while; that time is not training time
            clock = TimeClock(source=lambda: now[0])
            scheduler = Scheduler(opt, schedule, clock=clock)
            scheduler.load_state_dict(state)  # type: ignore[arg-type]
        now[0] += step_s * rng.uniform(1 - jitter, 1 + jitter)
        _step(scheduler)
        elapsed.append(scheduler.clock.elapsed)  # type: ignore[attr-defined]
        rates.append(opt.param_groups[0]["lr"])
    return elapsed, rates


@pytest.mark.parametrize("resume_at", [None, 300])
@pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")
def test_time_budget_reaches_the_floor_at_the_deadline(resume_at: int | None) -> None:
    budget = 600.0  # seconds; ~1000 updates of ~0.6 s, jittered by +-50 %
    elapsed, rates = _time_run(budget, 0.6, 0.5, seed=7, resume_at=resume_at)
    first_floor = next(k for k, r in enumerate(rates) if r == 0.0)
    assert budget <= elapsed[first_floor] <= 1.01 * budget
    assert all(r > 0 for r in rates[:first_floor])
    # The rate is the formula of the measured elapsed time (floored to milliseconds).
    for e, r in zip(elapsed[:first_floor], rates[:first_floor], strict=True):
        t = math.floor(e * 1000)
        assert r == pytest.approx(PEAK * _warmup_cosine(t, 30_000, 600_000), rel=1e-12)


@pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")
def test_time_budget_resume_continues_the_same_budget() -> None:
    a = _time_run(600.0, 0.6, 0.5, seed=7)
    b = _time_run(600.0, 0.6, 0.5, seed=7, resume_at=300)
    assert a[1] == b[1]


@pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")
def test_ramping_batch_keeps_the_rate_per_token() -> None:
    """Megatron-style batch ramp: with a token clock the rate as a function of tokens seen is the
    fixed-batch run's; counting updates instead, it is not."""
    from rampup.batch import BatchRamp
    from rampup.clock import schedule_in

    seq, full = 64, 128
    ramp = BatchRamp(start=16, increment=16, ramp_samples=8192, full=full)
    total_tokens = 400 * full * seq

    def run(batch_of: object, clock: str) -> dict[int, float]:
        if clock == "tokens":
            schedule = schedule_in("tokens", "warmup_cosine", warmup=20 * full * seq, total=total_tokens)
        else:  # the same plan in updates of the full batch
            schedule = rampup.schedule("warmup_cosine", warmup_steps=20, total_steps=400)
        opt = _optimizer()
        scheduler = Scheduler(opt, schedule, clock=clock)
        samples = tokens = 0
        rates = {}
        while tokens < total_tokens:
            batch = batch_of(samples)  # type: ignore[operator]
            _step(scheduler, tokens=batch * seq, samples=batch)
            samples, tokens = samples + batch, tokens + batch * seq
            rates[tokens] = opt.param_groups[0]["lr"]
        return rates

    ramped, fixed = run(ramp, "tokens"), run(lambda s: full, "tokens")
    assert len(ramped) > len(fixed)  # the ramp takes more, smaller updates
    common = sorted(ramped.keys() & fixed.keys())
    assert len(common) >= 30
    assert [ramped[t] for t in common] == [fixed[t] for t in common]
    for t, rate in ramped.items():
        assert rate == pytest.approx(PEAK * _warmup_cosine(t, 20 * full * seq, total_tokens),
                                     rel=1e-12, abs=1e-18)
    by_update_ramped, by_update_fixed = run(ramp, "updates"), run(lambda s: full, "updates")
    common = sorted(by_update_ramped.keys() & by_update_fixed.keys())
    assert any(by_update_ramped[t] != by_update_fixed[t] for t in common)
