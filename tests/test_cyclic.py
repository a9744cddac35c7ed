"""Cyclic shapes: torch's OneCycleLR, CyclicLR and CosineAnnealingWarmRestarts as oracles, plus
the docstring formulas for what torch has no equivalent of (real period multipliers, peak decay,
max_cycles)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampup import SGDR, OneCycle, Triangular

REL = 1e-12


@pytest.fixture(scope="module")
def lr_scheduler():  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    return torch.optim.lr_scheduler


def _close(s, ref: list[float]) -> None:  # type: ignore[no-untyped-def]
    n = len(ref)
    np.testing.assert_allclose([s(t) for t in range(n)], ref, rtol=REL, atol=1e-300)
    np.testing.assert_allclose(s(np.arange(n)), ref, rtol=REL, atol=1e-300)


# -- OneCycle ---------------------------------------------------------------------------------


# pct_start * steps must exceed 1 (rampup rejects a rise without a step; see test_errors).
ONE_CYCLE_SIZES = [
    (steps, pct)
    for steps in (3, 10, 100, 1001)
    for pct in (0.3, 0.5, 0.25, 0.9)
    if pct * steps > 1
]


@pytest.mark.parametrize(("steps", "pct_start"), ONE_CYCLE_SIZES)
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_matches_torch(lr_scheduler, steps, pct_start, anneal, three_phase) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    s = OneCycle(steps=steps, pct_start=pct_start, anneal=anneal, three_phase=three_phase)
    ref = torch_lrs(
        lambda o: lr_scheduler.OneCycleLR(
            o,
            max_lr=1.0,
            total_steps=steps,
            pct_start=pct_start,
            anneal_strategy=anneal,
            three_phase=three_phase,
            cycle_momentum=False,
        ),
        steps,
    )
    _close(s, ref)
    # Held after the last update (torch refuses to step further).
    assert s(steps + 5) == s(steps - 1)


def test_one_cycle_factors_match_torch(lr_scheduler) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    s = OneCycle(steps=200, pct_start=0.2, div_factor=10.0, final_div_factor=100.0)
    ref = torch_lrs(
        lambda o: lr_scheduler.OneCycleLR(
            o, max_lr=1.0, total_steps=200, pct_start=0.2, div_factor=10.0,
            final_div_factor=100.0, cycle_momentum=False,
        ),
        200,
    )
    _close(s, ref)


def test_one_cycle_landmarks() -> None:
    s = OneCycle(steps=100, pct_start=0.3, div_factor=25.0, final_div_factor=1e4)
    assert s(0) == pytest.approx(1 / 25)
    assert s(29) == pytest.approx(1.0)  # pct_start * steps - 1
    assert s(99) == pytest.approx(1 / 25 / 1e4)
    assert s(500) == s(99)
    # The last value is reached at step 99; the horizon is the run length it was sized for.
    assert s.horizon == 100 and s(99) == s(100)
    three = OneCycle(steps=100, pct_start=0.3, three_phase=True)
    assert three(29) == pytest.approx(1.0)
    assert three(58) == pytest.approx(1 / 25)  # back to the start value at 2 pct steps - 2
    assert three(99) == pytest.approx(1 / 25 / 1e4)
    linear = OneCycle(steps=11, pct_start=0.5, anneal="linear", div_factor=2.0, final_div_factor=1.0)
    # rise 0.5 -> 1 over steps 0..4.5, fall 1 -> 0.5 over 4.5..10
    assert linear(0) == 0.5
    assert linear(3) == pytest.approx(0.5 + 0.5 * 3 / 4.5)
    assert linear(10) == pytest.approx(0.5)


# -- Triangular -------------------------------------------------------------------------------


@pytest.mark.parametrize(("up", "down"), [(1, None), (4, None), (3, 7), (10, 2)])
@pytest.mark.parametrize("mode", ["triangular", "triangular2"])
@pytest.mark.parametrize("floor", [0.0, 0.1, 0.25])
def test_triangular_matches_torch_cycliclr(lr_scheduler, up, down, mode, floor) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    s = Triangular(step_size_up=up, step_size_down=down, min_lr_ratio=floor, mode=mode)
    ref = torch_lrs(
        lambda o: lr_scheduler.CyclicLR(
            o,
            base_lr=floor,
            max_lr=1.0,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            cycle_momentum=False,
        ),
        120,
    )
    _close(s, ref)


def test_triangular_hand_values() -> None:
    s = Triangular(step_size_up=2, min_lr_ratio=0.0)
    assert [s(t) for t in range(9)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.5, 1.0, 0.5, 0.0]
    halves = Triangular(step_size_up=2, min_lr_ratio=0.0, mode="triangular2")
    assert [halves(t) for t in (2, 6, 10)] == [1.0, 0.5, 0.25]
    floored = Triangular(step_size_up=1, step_size_down=3, min_lr_ratio=0.2)
    assert [floored(t) for t in range(5)] == pytest.approx([0.2, 1.0, 0.2 + 0.8 * 2 / 3,
                                                            0.2 + 0.8 / 3, 0.2])
    assert s.horizon is None


# -- SGDR -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "mult", "floor"),
    [(1, 1, 0.0), (5, 1, 0.1), (3, 2, 0.0), (4, 3, 0.05), (1, 2, 0.0), (7, 2, 0.2)],
)
def test_sgdr_matches_torch_warm_restarts(lr_scheduler, period, mult, floor) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    s = SGDR(period_steps=period, period_mult=mult, min_lr_ratio=floor)
    ref = torch_lrs(
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=period, T_mult=mult, eta_min=floor),
        500,
    )
    _close(s, ref)


def sgdr_reference(t: int, period: float, mult: float, decay: float, floor: float,
                   max_cycles: int | None) -> float:
    """Walk the cycles one by one (lengths period * mult**i), then apply the docstring formula."""
    start, length, index = 0.0, float(period), 0
    while t >= start + length:
        start += length
        length *= mult
        index += 1
    if max_cycles is not None and index >= max_cycles:
        return floor
    wave = (1 + math.cos(math.pi * (t - start) / length)) / 2
    return floor + (1 - floor) * decay**index * wave


@pytest.mark.parametrize(
    ("period", "mult", "decay", "floor", "max_cycles"),
    [
        (4, 1.5, 1.0, 0.0, None),  # cycles start at 0, 4, 10, 19, 32.5, 52.75: real lengths
        (4, 1.5, 0.5, 0.1, None),
        (10, 1.0, 0.8, 0.0, 3),
        (2, 2.0, 0.9, 0.05, 4),
        (8, 1.25, 1.0, 0.0, 5),
    ],
)
def test_sgdr_formula(period, mult, decay, floor, max_cycles) -> None:  # type: ignore[no-untyped-def]
    s = SGDR(period_steps=period, period_mult=mult, peak_decay=decay, min_lr_ratio=floor,
             max_cycles=max_cycles)
    steps = range(300)
    want = [sgdr_reference(t, period, mult, decay, floor, max_cycles) for t in steps]
    np.testing.assert_allclose([s(t) for t in steps], want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s(np.arange(300)), want, rtol=1e-12, atol=1e-15)


def test_sgdr_landmarks() -> None:
    s = SGDR(period_steps=4, period_mult=1.5, peak_decay=0.5)
    assert [s(0), s(4), s(10), s(19)] == [1.0, 0.5, 0.25, 0.125]  # every restart, peak halves
    # Cycle 4 starts at 32.5 (peak 1/16): step 33 is half a step into it, just below its peak.
    assert 0.99 * 0.0625 < s(33) < 0.0625
    assert s(32) < 0.01  # the end of cycle 3
    assert s.horizon is None
    capped = SGDR(period_steps=10, max_cycles=2, min_lr_ratio=0.1)
    assert capped.horizon == 20
    assert capped(20) == capped(1000) == 0.1
    assert capped(10) == 1.0
    assert SGDR(period_steps=4, period_mult=1.5, max_cycles=3).horizon == 19
    assert SGDR(period_steps=4, period_mult=1.5, max_cycles=4).horizon == 33  # ceil(32.5)
