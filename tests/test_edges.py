"""The edges of the promises: every option is checked once and converted to a Python number, no
formula overflows or divides by zero, and the per-step and numpy paths agree bit for bit up to
step 2**62. Expected values come from formulas written here (exact fractions, Python's pow)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import rampup
from rampup import (
    SGDR,
    Constant,
    Cosine,
    Exponential,
    InverseSqrt,
    Linear,
    MultiStep,
    OneCycle,
    Polynomial,
    RampupError,
    Step,
    Triangular,
    Warmup,
)
from rampup.errors import MAX_MULTIPLIER

TOP = 2**62


def _bits(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def _both(s: rampup.Schedule, steps: list[int]) -> list[float]:
    """The per-step values, after checking that the numpy path gives the same bits."""
    scalar = [s(t) for t in steps]
    np.testing.assert_array_equal(_bits(s(np.array(steps, dtype=np.int64))), _bits(scalar))
    return scalar


def _names(error: BaseException, parameter: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(parameter)}(?![\w])", str(error)) is not None


# -- one validation layer ---------------------------------------------------------------------


def test_numpy_scalar_options_become_python_numbers() -> None:
    s = Warmup(steps=np.int64(10), start=np.float32(0.1))
    assert type(s.start) is float and s.start == float(np.float32(0.1))
    assert type(s.steps) is int
    back = rampup.from_json(rampup.to_json(s))
    assert back == s
    want = s.start + (1 - s.start) * 6 / 10  # the linear warmup at step 5, "end" convention
    assert s(5) == back(5) == float(s(np.array([5]))[0]) == want
    step = Step(step_size=np.int32(3), gamma=np.float16(0.5))
    assert type(step.step_size) is int and type(step.gamma) is float
    assert rampup.from_yaml(rampup.to_yaml(step)) == step


def test_fraction_and_decimal_options_convert() -> None:
    s = Constant(Fraction(1, 3))
    assert s.value == 1 / 3 and type(s.value) is float
    assert rampup.from_json(rampup.to_json(s)) == s
    assert rampup.from_yaml(rampup.to_yaml(s)) == s
    d = Cosine(steps=10, min_lr_ratio=Decimal("0.25"))
    assert d.min_lr_ratio == 0.25 and rampup.from_json(rampup.to_json(d)) == d
    np.testing.assert_array_equal(s(np.arange(3)), [1 / 3] * 3)


def test_integer_valued_reals_are_floats_so_equal_schedules_compare_equal() -> None:
    assert Polynomial(steps=5, power=2) == Polynomial(steps=5, power=2.0)
    assert type(Polynomial(steps=5, power=2).power) is float
    assert rampup.CosineRestarts(steps=9, cycles=3) == rampup.CosineRestarts(steps=9, cycles=3.0)


BAD: list[tuple[Callable[[], Any], str]] = [
    (lambda: Constant(True), "value"),
    (lambda: Constant(np.True_), "value"),
    (lambda: Step(step_size=np.True_), "step_size"),
    (lambda: Constant(10**400), "value"),
    (lambda: Constant(Fraction(10**400, 3)), "value"),
    (lambda: Constant(Decimal("1e999")), "value"),
    (lambda: Constant(Decimal("sNaN")), "value"),
    (lambda: Constant(float("inf")), "value"),
    (lambda: Warmup(steps=10**400), "steps"),
    (lambda: Warmup(steps=2**62 + 1), "steps"),
    (lambda: Warmup(steps=Fraction(4, 1)), "steps"),
    (lambda: Cosine(steps=10, cycles=1e308), "cycles"),
    (lambda: Polynomial(steps=10, power=1e308), "power"),
    (lambda: OneCycle(steps=10, div_factor=1e-310), "div_factor"),
    (lambda: OneCycle(steps=10, div_factor=1.0, final_div_factor=1e-300), "final_div_factor"),
    (lambda: SGDR(period_steps=1, period_mult=1e300), "period_mult"),
    (lambda: SGDR(period_steps=1, period_mult=2.0, max_cycles=1100), "max_cycles"),
    (lambda: SGDR(period_steps=1, period_mult=3, max_cycles=10**9), "max_cycles"),
    (lambda: Triangular(step_size_up=2**62, step_size_down=1), "step_size_up"),
    (lambda: MultiStep(milestones=[1, 10**400]), "milestones"),
    (lambda: MultiStep(milestones={1, 2}), "milestones"),
    (lambda: MultiStep(milestones="12"), "milestones"),
    (lambda: Constant(2e6), "value"),
    (lambda: rampup.clamp(Constant(), minimum=1e7), "minimum"),
]


@pytest.mark.parametrize(("build", "parameter"), BAD)
def test_bad_options_are_rampup_errors_naming_the_parameter(build: Callable[[], Any],
                                                            parameter: str) -> None:
    with pytest.raises(RampupError) as info:
        build()
    assert _names(info.value, parameter), str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_products_are_bounded_when_built() -> None:
    with pytest.raises(RampupError, match="multiply"):
        rampup.multiply(Constant(1e3), Constant(1e4))
    with pytest.raises(RampupError, match="multiply"):
        rampup.multiply(Constant(1e3), rampup.multiply(Constant(1e2), Constant(1e2)))
    # Within the bound the product is evaluated as it is.
    s = rampup.multiply(Constant(1e3), Constant(1e3))
    assert s(0) == 1e6 == MAX_MULTIPLIER
    assert rampup.clamp(s, 0.0, 5.0)(0) == 5.0
    big_start = OneCycle(steps=10, div_factor=1e-6)  # starts at 1e6, the largest allowed
    assert big_start(0) == pytest.approx(1e6)
    with pytest.raises(RampupError, match="multiply"):
        rampup.multiply(big_start, Constant(2.0))


def test_nesting_depth_is_bounded() -> None:
    s: rampup.Schedule = Constant()
    for _ in range(32):
        s = rampup.clamp(s, 0.0)
    assert s(3) == 1.0
    with pytest.raises(RampupError, match="nest"):
        rampup.clamp(s, 0.0)


def test_named_schedule_option_errors() -> None:
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("multistep", {"milestones": 50}, "milestones"),
        ("goyal", {"warmup_steps": 5, "milestones": 50}, "milestones"),
        ("polynomial", {"total_steps": 10, "lr_end": "x", "peak_lr": 1.0}, "lr_end"),
        ("polynomial", {"total_steps": 10, "lr_end": "x"}, "lr_end"),
        ("one_cycle", {"total_steps": 1}, "total_steps"),
        ("one_cycle", {"total_steps": 3, "pct_start": 0.3}, "total_steps"),
        ("cosine", {"total_steps": 10, "num_cycles": 1e300}, "num_cycles"),
        ("step", {"step_size": 5, "steps_per_epoch": "x"}, "steps_per_epoch"),
        ("step", {"step_size": "9" * 5000}, "step_size"),
        ("warmup_stable_decay", {"warmup_steps": 2**61, "num_stable_steps": 2**61,
                                 "num_decay_steps": 2**61}, "num_stable_steps"),
        ("cosine", {"warmup_steps": 11, "total_steps": 10}, "warmup_steps"),
    ]
    for name, options, parameter in cases:
        with pytest.raises(RampupError) as info:
            rampup.schedule(name, **options)
        assert _names(info.value, parameter), (name, options, str(info.value))


def test_durations_and_step_counting_at_the_edges() -> None:
    with pytest.raises(RampupError) as info:
        rampup.resolve_duration("9" * 5000)
    assert _names(info.value, "warmup") and len(str(info.value)) < 200
    assert rampup.resolve_duration("0" * 30 + "12") == 12
    with pytest.raises(RampupError, match="warmup"):
        rampup.resolve_duration("9" * 400 + "ep", steps_per_epoch=3)
    with pytest.raises(RampupError, match="warmup"):
        rampup.resolve_duration("9" * 400 + "%", total_steps=3)
    with pytest.raises(RampupError) as info:
        rampup.training_steps(epochs=1e308, batches_per_epoch=10)
    assert _names(info.value, "epochs")
    assert rampup.training_steps(epochs=1e-12, batches_per_epoch=10).total == 1
    with pytest.raises(RampupError, match="base_lr"):
        rampup.linear_scaling(1e308, 1, 10)
    with pytest.raises(RampupError, match="base_lr"):
        rampup.sqrt_scaling(1e308, 1, 1000)
    assert rampup.linear_scaling(0.1, 256, 1024) == 0.1 * 1024 / 256


def test_steps_beyond_the_range_are_errors() -> None:
    s = Step(10, 0.5)
    for step in (10**400, TOP + 1, np.uint64(2**63)):
        with pytest.raises(RampupError, match="step"):
            s(step)
    for steps in (np.array([0, 2**63], dtype=np.uint64), [0, 10**30], np.array([1e300])):
        with pytest.raises(RampupError, match="step"):
            s(steps)
    with pytest.raises(RampupError, match="step"):
        s(["1"])
    assert s(TOP) == 0.0 and s(np.array([TOP]))[0] == 0.0
    np.testing.assert_array_equal(s([0, 2**62]), [1.0, 0.0])  # a list of Python ints


def test_preview_and_describe_stay_bounded() -> None:
    with pytest.raises(RampupError, match="total_steps"):
        Cosine(steps=10).preview(2**40)
    s = rampup.schedule("cosine", warmup_steps=10**15, total_steps=TOP)
    began = time.process_time()
    text = s.describe()
    assert time.process_time() - began < 10
    assert "sampled" in text and str(TOP) in text


# -- integer arithmetic: exact up to 2**62 on both paths ----------------------------------------


def test_sgdr_cycles_are_exact_at_2_62() -> None:
    s = SGDR(period_steps=12)
    offset = TOP % 12  # 4: a third of the way into a cycle
    want = 0.5 * (1.0 + math.cos(math.pi * offset / 12.0))
    end_of_cycle = 0.5 * (1.0 + math.cos(math.pi * 11 / 12.0))
    assert _both(s, [TOP, TOP - offset, TOP - offset - 1]) == [want, 1.0, end_of_cycle]
    doubling = SGDR(period_steps=1, period_mult=2.0, max_cycles=62)
    assert doubling.horizon == 2**62 - 1  # 1 + 2 + 4 + ... + 2**61
    # Cycle 61 starts at 2**61 - 1 and lasts 2**61 steps.
    assert _both(doubling, [2**61 - 1, 2**62 - 2, 2**62 - 1]) == [
        1.0, 0.5 * (1.0 + math.cos(math.pi * (2**61 - 1) / 2**61)), 0.0]


def test_sgdr_real_multiplier_cycle_starts_round_up() -> None:
    # Cycles of 4 * 1.5**i steps start at 0, 4, 10, 19, 32.5, 52.75, ...: the first whole step of
    # each cycle is ceil of its start; the cosine runs from the real start.
    s = SGDR(period_steps=4, period_mult=1.5)
    starts = [0, 4, 10, 19, 32.5, 52.75]
    for index, start in enumerate(starts):
        first = math.ceil(start)
        want = 0.5 * (1.0 + math.cos(math.pi * (first - start) / (4 * 1.5**index)))
        assert _both(s, [first]) == [want]
    huge = _both(s, [TOP, TOP - 1, 10**17])
    assert all(0.0 <= v <= 1.0 for v in huge)


def test_triangular_with_a_cycle_past_2_53() -> None:
    s = Triangular(step_size_up=2**53, step_size_down=1, min_lr_ratio=0.0)
    assert _both(s, [0, 2**52, 2**53, 2**53 + 1, 2**53 + 2]) == [
        0.0, 0.5, 1.0, 0.0, float(Fraction(1, 2**53))]


def test_phase_lengths_past_2_53_divide_exactly() -> None:
    d = 2**60 + 1
    s = Linear(steps=d)
    steps = [1, 3, 2**52 + 1, 2**59, d - 1]
    assert _both(s, steps) == [float(Fraction(d - n, d)) for n in steps]
    inv = InverseSqrt(timescale=2**60 + 3)
    for t in (5, 2**53 + 1, 2**60):
        assert _both(inv, [t]) == [1.0 / math.sqrt(float(Fraction(t + 2**60 + 3, 2**60 + 3)))]


def test_joins_and_milestones_at_huge_steps() -> None:
    s = rampup.join([Constant(0.5), Constant(0.25), Constant(0.125)], [2**53 + 1, 2**62])
    assert _both(s, [2**53, 2**53 + 1, 2**62 - 1, 2**62]) == [0.5, 0.25, 0.25, 0.125]
    m = MultiStep(milestones=(2**53 + 1, 2**62), gamma=0.5)
    assert _both(m, [2**53, 2**53 + 1, 2**62]) == [1.0, 0.5, 0.25]


# -- scalar == numpy, bit for bit ---------------------------------------------------------------


def test_multistep_uses_pythons_pow_on_both_paths() -> None:
    s = MultiStep(milestones=(1, 2))
    assert _both(s, [0, 1, 2]) == [1.0, 0.1, 0.1**2]  # torch's closed form: gamma ** count
    assert s(2) == 0.010000000000000002


POW_CASES = [
    Exponential(gamma=0.97),
    Exponential(gamma=0.9999999),
    Exponential(rate=0.013),
    Step(step_size=3, gamma=0.7),
    Warmup(steps=100, curve="exponential", start=0.003),
    Polynomial(steps=300, power=1.7, min_lr_ratio=0.05),
    Polynomial(steps=300, power=0.5, lr_end=1e-7, peak_lr=3e-4),
    rampup.schedule("goyal", warmup_steps=50, milestones=[100, 200, 250], factor=32),
    rampup.schedule("polynomial", warmup_steps=10, total_steps=300, peak_lr=1e-3, power=3.0),
    Triangular(step_size_up=3, mode="triangular2", min_lr_ratio=0.0),
    SGDR(period_steps=7, period_mult=1.3, peak_decay=0.77),
]


@pytest.mark.parametrize("s", POW_CASES, ids=lambda s: s.label())
def test_powers_and_exponentials_agree_bit_for_bit(s: rampup.Schedule) -> None:
    steps = [*range(400), 10**6, 10**9 + 7, 2**52, 2**52 + 1, 2**61]
    _both(s, steps)


def test_power_oracles() -> None:
    steps = list(range(200))
    assert _both(Exponential(gamma=0.97), steps) == [0.97**t for t in steps]
    assert _both(Exponential(rate=0.013), steps) == [math.exp(-0.013 * t) for t in steps]
    assert _both(Step(step_size=3, gamma=0.7), steps) == [0.7 ** (t // 3) for t in steps]
    w = Warmup(steps=100, curve="exponential", start=0.003)
    assert _both(w, steps) == [0.003 ** (1.0 - min(t + 1, 100) / 100) for t in steps]
