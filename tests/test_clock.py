"""Clocks and the warp (framework-free), against formulas written here."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest

from rampup.clock import (
    SampleClock,
    TimeClock,
    TokenClock,
    UpdateClock,
    Warp,
    as_clock,
    check_signals,
    clock_from_dict,
)
from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError


def test_core_clock_imports_no_framework() -> None:
    code = ("import sys, rampup.clock, rampup.plan; "
            "print(any(m in sys.modules for m in ('torch', 'matplotlib', 'click')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_update_clock_counts_updates() -> None:
    clock = UpdateClock()
    for _ in range(5):
        clock.advance({"loss": 1.0})
    assert clock.position == 5
    assert clock.to_dict() == {"clock": "updates"}
    assert clock.amount("500") == 500


def test_token_clock_adds_each_update_count() -> None:
    clock = TokenClock()
    counts = [512, 1024, 0, 4096]
    for n in counts:
        clock.advance({"tokens": n})
    assert clock.position == sum(counts)


@pytest.mark.parametrize("bad, error", [(None, ScheduleValueError), (-1, ScheduleValueError),
                                        (2.5, ScheduleTypeError), (True, ScheduleTypeError)])
def test_token_clock_rejects_missing_or_backwards_counts_unchanged(bad: object, error: type) -> None:
    clock = TokenClock()
    clock.advance({"tokens": 100})
    with pytest.raises(error, match="tokens"):
        clock.advance({"tokens": bad})
    assert clock.position == 100


def test_sample_clock_needs_samples_not_tokens() -> None:
    clock = SampleClock()
    with pytest.raises(ScheduleValueError, match="samples"):
        clock.advance({"tokens": 3})
    clock.advance({"samples": 3})
    assert clock.position == 3


@pytest.mark.parametrize("text, expected", [
    ("2B tok", 2_000_000_000), ("2B", 2_000_000_000), ("500M", 500_000_000),
    ("1.5k tokens", 1500), ("3T", 3 * 10**12), ("12345", 12345), ("0.5G", 500_000_000),
])
def test_count_amounts(text: str, expected: int) -> None:
    assert TokenClock().amount(text) == expected


@pytest.mark.parametrize("text", ["2B samples", "1.5 tok", "2X", "-3", "tok"])
def test_count_amount_errors_name_the_argument(text: str) -> None:
    with pytest.raises(ScheduleValueError, match="warmup"):
        TokenClock().amount(text, "warmup")


@pytest.mark.parametrize("value, ms", [("2h", 7_200_000), ("30min", 1_800_000), ("90s", 90_000),
                                       ("500ms", 500), (1.5, 1500), ("1d", 86_400_000)])
def test_time_amounts(value: object, ms: int) -> None:
    assert TimeClock().amount(value) == ms


@pytest.mark.parametrize("value", [0, "0s", -5.0])
def test_time_budget_must_be_positive(value: object) -> None:
    with pytest.raises(RampupError, match="total"):
        TimeClock().amount(value, "total", minimum=1)


def test_time_clock_sums_measured_intervals_with_an_injected_source() -> None:
    rng = random.Random(0)
    now = [100.0]
    clock = TimeClock(source=lambda: now[0])
    clock.start()
    clock.mark()
    total = 0.0
    for _ in range(200):
        dt = rng.uniform(0.05, 0.15)
        now[0] += dt
        total += dt
        clock.advance({})
    assert clock.elapsed == pytest.approx(total, rel=1e-12)
    assert clock.position == math.floor(clock.elapsed * 1000)


def test_time_clock_explicit_time_signal_and_backwards_time() -> None:
    clock = TimeClock(source=lambda: 0.0)
    clock.advance({"time": 10.0})  # first update: the timer starts here
    clock.advance({"time": 12.5})
    assert clock.position == 2500
    with pytest.raises(ScheduleValueError, match="backwards"):
        clock.advance({"time": 11.0})
    assert clock.position == 2500


def test_time_clock_state_resumes_budget_and_ignores_downtime() -> None:
    now = [0.0]
    clock = TimeClock(source=lambda: now[0])
    clock.mark()
    now[0] = 3.0
    clock.advance({})
    state = clock.state_dict()
    assert state == {"position": 3000, "elapsed": 3.0}
    later = [1000.0]  # the job was down for a long time
    resumed = TimeClock(source=lambda: later[0])
    resumed.load_state_dict(state)
    resumed.mark()
    later[0] += 2.0
    resumed.advance({})
    assert resumed.elapsed == pytest.approx(5.0)


def test_clock_state_validation_changes_nothing() -> None:
    clock = TimeClock()
    with pytest.raises(ScheduleValueError):
        clock.load_state_dict({"position": 10, "elapsed": 5.0})
    with pytest.raises(RampupError):
        clock.load_state_dict({"position": -1, "elapsed": 0.0})
    assert (clock.position, clock.elapsed) == (0, 0.0)


def test_clock_names_and_configs() -> None:
    for name in ("updates", "tokens", "samples", "time"):
        clock = as_clock(name)
        assert clock_from_dict(clock.to_dict()).to_dict() == clock.to_dict()
    with pytest.raises(ScheduleValueError, match="clock"):
        as_clock("epochs")
    with pytest.raises(ScheduleTypeError, match="unknown signal"):
        check_signals({"token": 3})


def _warp_oracle(segments: list[tuple[int, int, int, int]], p: int) -> int:
    start = [s for s in segments if s[0] <= p][-1]
    p0, t0, num, den = start
    return t0 + math.floor((p - p0) * num / den)


def test_warp_is_the_piecewise_integer_map() -> None:
    segments = [(0, 0, 1, 1), (100, 100, 3, 7), (250, 164, 5, 2), (300, 289, 0, 1)]
    warp = Warp(segments)
    for p in range(0, 400):
        assert warp.time(p) == _warp_oracle(segments, p)
    for target in range(0, 300):
        first = warp.position_of(target)
        brute = next((p for p in range(0, 400) if warp.time(p) >= target), None)
        assert first == brute


def test_warp_add_replaces_later_segments_and_validates() -> None:
    warp = Warp()
    warp.add(10, 10, 1, 2)
    warp.add(10, 10, 2, 1)
    assert warp.segments == [(0, 0, 1, 1), (10, 10, 2, 1)]
    with pytest.raises(ScheduleValueError, match="den"):
        warp.add(20, 30, 1, 0)
    assert warp.segments == [(0, 0, 1, 1), (10, 10, 2, 1)]
    with pytest.raises(ScheduleValueError):
        Warp([[5, 0, 1, 1]])
    with pytest.raises(ScheduleValueError):
        Warp([[0, 0, 1, 1], [0, 3, 1, 1]])


def test_schedule_in_a_clock_unit() -> None:
    import rampup
    from rampup.clock import schedule_in

    built = schedule_in("tokens", "warmup_cosine", warmup="200M", total="2B tok")
    assert built == rampup.schedule("warmup_cosine", warmup_steps=200_000_000,
                                    total_steps=2_000_000_000)
    timed = schedule_in(TimeClock(), "wsd", warmup="5min", total="2h", decay_steps="20min")
    assert timed == rampup.schedule("wsd", warmup_steps=300_000, total_steps=7_200_000,
                                    decay_steps=1_200_000)
    for bad in (0, "0s", -1):
        with pytest.raises(RampupError, match="total"):
            schedule_in("time", "warmup_cosine", total=bad)


def _megatron_batch(consumed: int, start: int, inc: int, ramp: int, full: int) -> int:
    """Megatron-LM's RampupBatchsizeNumMicroBatchesCalculator.update, written out."""
    if consumed > ramp:
        return full
    per_increment = ramp / ((full - start) / inc)
    return start + int(consumed / per_increment) * inc


def test_batch_ramp_matches_megatron() -> None:
    import numpy as np

    from rampup.batch import BatchRamp

    ramp = BatchRamp(start=32, increment=32, ramp_samples=100_000, full=1024)
    samples = list(range(0, 130_000, 37))
    expected = [_megatron_batch(s, 32, 32, 100_000, 1024) for s in samples]
    assert [ramp(s) for s in samples] == expected
    assert ramp(np.asarray(samples)).tolist() == expected
    with pytest.raises(ScheduleValueError, match="increment"):
        BatchRamp(start=32, increment=30, ramp_samples=10, full=1024)
    with pytest.raises(ScheduleValueError, match="samples"):
        ramp(-1)
