"""Warmup shapes against the formulas of their docstrings, written out here independently."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rampup
from rampup import Warmup, gradual_warmup, untuned_warmup, untuned_warmup_steps

CURVES = ["linear", "cosine", "1-sqrt", "exponential", "constant"]
DEFAULT_START = {"linear": 0.0, "cosine": 0.0, "1-sqrt": 0.0, "exponential": 0.01, "constant": 0.1}


def progress(t: int, steps: int, endpoints: str) -> float:
    """p of the Warmup docstring: (t+1)/W ("end"), t/W ("start"), t/(W-1) ("both"), capped at 1."""
    if steps == 0:
        return 1.0
    if endpoints == "end":
        return min(t + 1, steps) / steps
    if endpoints == "start":
        return min(t, steps) / steps
    last = max(steps - 1, 1)
    return min(t, last) / last


def expected(t: int, steps: int, curve: str, start: float, endpoints: str) -> float:
    if curve == "constant":
        return start if t < steps else 1.0
    p = progress(t, steps, endpoints)
    if curve == "linear":
        return start + (1 - start) * p
    if curve == "cosine":
        return start + (1 - start) * (1 - math.cos(math.pi * p)) / 2
    if curve == "1-sqrt":
        return start + (1 - start) * (1 - math.sqrt(1 - p))
    return start ** (1 - p)  # exponential


def probe_steps(steps: int) -> list[int]:
    """0, 1, W-1, W, W+1 and well past the end."""
    return sorted({0, 1, max(steps - 1, 0), steps, steps + 1, steps + 10})


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("endpoints", ["end", "start", "both"])
@pytest.mark.parametrize("steps", [0, 1, 2, 5, 64])
def test_formula(curve: str, endpoints: str, steps: int) -> None:
    for start in (None, 0.05, 0.5, 1.0):
        if curve == "exponential" and start == 0.0:
            continue
        s = Warmup(steps=steps, curve=curve, start=start, endpoints=endpoints)
        begin = DEFAULT_START[curve] if start is None else start
        for t in probe_steps(steps):
            want = expected(t, steps, curve, begin, endpoints)
            assert s(t) == pytest.approx(want, abs=1e-15), (t, s(t), want)


def test_default_starts() -> None:
    for curve, start in DEFAULT_START.items():
        assert Warmup(steps=10, curve=curve).start == start


def test_hand_values_linear() -> None:
    s = Warmup(steps=4)  # native: (t + 1) / 4
    assert [s(t) for t in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    s = Warmup(steps=4, endpoints="start")  # transformers: t / 4
    assert [s(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    s = Warmup(steps=5, endpoints="both")  # t / 4
    assert [s(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    s = Warmup(steps=4, start=0.2)
    assert s(0) == pytest.approx(0.2 + 0.8 / 4)
    assert s(3) == 1.0


def test_hand_values_other_curves() -> None:
    cosine = Warmup(steps=4, curve="cosine")
    assert cosine(1) == pytest.approx(0.5)  # p = 1/2: (1 - cos(pi/2)) / 2
    assert cosine(0) == pytest.approx((1 - math.sqrt(0.5)) / 2)  # p = 1/4
    root = Warmup(steps=4, curve="1-sqrt")
    assert root(2) == pytest.approx(0.5)  # p = 3/4: 1 - sqrt(1/4)
    exponential = Warmup(steps=2, curve="exponential")  # from 0.01: 0.01 ** (1 - p)
    assert exponential(0) == pytest.approx(0.1)
    assert exponential(1) == 1.0
    assert Warmup(steps=3, curve="exponential", start=0.125, endpoints="start")(1) == (
        pytest.approx(0.25)
    )
    constant = Warmup(steps=3, curve="constant")
    assert [constant(t) for t in range(5)] == [0.1, 0.1, 0.1, 1.0, 1.0]


def test_end_convention_never_wastes_update_zero() -> None:
    for steps in (1, 2, 3, 10, 500, 2000):
        s = Warmup(steps=steps)
        assert s(0) == 1 / steps > 0
        assert s(steps - 1) == 1.0
        assert s(steps) == 1.0


def test_native_warmup_through_with_warmup_and_names() -> None:
    main = rampup.Cosine(steps=900)
    s = rampup.with_warmup(main, 100)
    assert s(0) == 1 / 100
    assert s(99) == 1.0
    assert s(100) == 1.0  # the cosine's own step 0
    named = rampup.schedule("warmup_cosine", warmup_steps=100, total_steps=1000)
    assert named(0) == 1 / 100
    assert named(99) == 1.0
    assert [named(t) for t in range(1000)] == [s(t) for t in range(1000)]


def test_each_update_is_first_at_start_under_start_convention() -> None:
    s = Warmup(steps=10, start=0.3, endpoints="start")
    assert s(0) == 0.3
    assert s(10) == 1.0
    assert s(9) < 1.0


def test_zero_steps_is_the_peak() -> None:
    for curve in CURVES:
        for endpoints in ("end", "start", "both"):
            s = Warmup(steps=0, curve=curve, endpoints=endpoints)
            assert [s(t) for t in range(3)] == [1.0, 1.0, 1.0]


def test_both_with_one_step_starts_at_start() -> None:
    # "both" with a single update: that update is the first one, so it runs at start.
    s = Warmup(steps=1, start=0.25, endpoints="both")
    assert s(0) == 0.25
    assert s(1) == 1.0


@pytest.mark.parametrize("factor", [1.0, 2.0, 8.0, 3.0])
def test_gradual_warmup_goyal(factor: float) -> None:
    """eta -> k * eta linearly over W updates: 1/k of the peak at update 0, the peak at W."""
    steps = 5
    s = gradual_warmup(steps, factor)
    assert s(0) == 1 / factor
    assert s(steps) == 1.0
    assert s(steps + 3) == 1.0
    for t in range(steps):
        assert s(t) == pytest.approx(1 / factor + (1 - 1 / factor) * t / steps, abs=1e-15)


def test_untuned_warmup() -> None:
    assert untuned_warmup_steps(0.999) == 2000
    assert untuned_warmup_steps() == 2000
    assert untuned_warmup_steps(0.99) == 200
    assert untuned_warmup_steps(0.98) == 100
    # 1 - beta2 is inexact in binary; the count is still the exact 2 / (1 - beta2).
    assert untuned_warmup_steps(0.9995) == 4000
    assert untuned_warmup_steps(0.99999) == 200_000
    assert untuned_warmup_steps(0.997) == 667  # ceil(666.67)
    assert untuned_warmup_steps(0.0) == 2
    assert untuned_warmup(0.999) == Warmup(steps=2000)
    assert untuned_warmup(0.99)(199) == 1.0


def test_horizon_and_preview() -> None:
    s = Warmup(steps=7, curve="cosine")
    assert s.horizon == 7
    assert s.curve == "cosine"  # the field; the whole-curve method is preview()
    values = s.preview(9)
    assert values.dtype == np.float64
    assert values.shape == (9,)
    np.testing.assert_allclose(values, [s(t) for t in range(9)], rtol=0, atol=1e-15)
    assert values[-1] == 1.0


def test_label_mentions_curve_and_length() -> None:
    label = Warmup(steps=12, curve="1-sqrt").label()
    assert "1-sqrt" in label
    assert "12" in label


def test_goyal_name() -> None:
    """Gradual warmup from peak / factor, then x gamma at milestones counted from step 0."""
    s = rampup.schedule("goyal", warmup_steps=5, factor=8.0, milestones=[30, 60])
    assert s(0) == 1 / 8
    assert s(5) == 1.0
    assert s(29) == 1.0
    assert s(30) == pytest.approx(0.1)
    assert s(60) == pytest.approx(0.01)
    for t in range(5):
        assert s(t) == pytest.approx(1 / 8 + (7 / 8) * t / 5, abs=1e-15)


@pytest.mark.parametrize("name", ["warmup_linear", "cosine", "wsd", "constant_with_warmup"])
def test_warmup_curve_option_uses_the_curves_own_start(name: str) -> None:
    # An exponential or constant warmup cannot start at 0; without warmup_start the names use the
    # curve's default start (0.01, 0.1) rather than 0.
    exponential = rampup.schedule(name, warmup_steps=4, total_steps=20, warmup_curve="exponential")
    constant = rampup.schedule(name, warmup_steps=4, total_steps=20, warmup_curve="constant")
    hf = name in ("cosine", "constant_with_warmup")  # transformers' convention: p = t / W
    assert exponential(0) == pytest.approx(0.01 if hf else 0.01 ** 0.75)
    assert constant(0) == constant(3) == 0.1
    assert exponential(4) == constant(4) == 1.0
    given = rampup.schedule(name, warmup_steps=4, total_steps=20, warmup_curve="exponential",
                            warmup_start=0.5)
    assert given(0) == pytest.approx(0.5 if hf else 0.5 ** 0.75)
