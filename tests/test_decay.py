"""Main and decay shapes: docstring formulas written out here, and torch's schedulers as oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampup import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    MultiStep,
    Polynomial,
    SqrtDecay,
    Step,
)


def local(t: int, steps: int, endpoints: str = "start") -> tuple[int, int]:
    """(n, d) with progress n / d, capped at 1; a phase of 0 steps is at its end."""
    if steps == 0:
        return 1, 1
    if endpoints == "end":
        return min(t + 1, steps), steps
    if endpoints == "start":
        return min(t, steps), steps
    last = max(steps - 1, 1)
    return min(t, last), last


def probe(steps: int) -> list[int]:
    """Step 0, 1, T-1, T, T+1 and T+10 of a phase of T updates."""
    return sorted({0, 1, max(steps - 1, 0), steps, steps + 1, steps + 10})


STEPS = [0, 1, 2, 7, 100]
FLOORS = [0.0, 0.1, 0.5]


def test_constant() -> None:
    for value in (1.0, 0.25, 0.0, 2.0):
        s = Constant(value)
        assert [s(t) for t in (0, 1, 10**9)] == [value] * 3
        assert s.horizon == 0
    np.testing.assert_array_equal(Constant(0.5)(np.arange(4)), np.full(4, 0.5))


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("floor", FLOORS)
@pytest.mark.parametrize("endpoints", ["start", "end", "both"])
def test_linear(steps: int, floor: float, endpoints: str) -> None:
    s = Linear(steps=steps, min_lr_ratio=floor, endpoints=endpoints)
    for t in probe(steps):
        n, d = local(t, steps, endpoints)
        want = floor + (1 - floor) * (1 - n / d)
        assert s(t) == pytest.approx(want, abs=1e-15), (t, s(t), want)
    assert s(steps + 10) == floor
    assert s.horizon == steps


def test_linear_hand_values() -> None:
    s = Linear(steps=4)
    assert [s(t) for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    s = Linear(steps=4, min_lr_ratio=0.2, endpoints="end")
    assert [s(t) for t in range(5)] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.2])
    s = Linear(steps=5, endpoints="both")
    assert [s(t) for t in range(6)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("floor", FLOORS)
@pytest.mark.parametrize("cycles", [0.5, 0.25, 1.0, 1.5, 3])
@pytest.mark.parametrize("endpoints", ["start", "end", "both"])
def test_cosine(steps: int, floor: float, cycles: float, endpoints: str) -> None:
    s = Cosine(steps=steps, min_lr_ratio=floor, cycles=cycles, endpoints=endpoints)
    for t in probe(steps):
        n, d = local(t, steps, endpoints)
        wave = (1 + math.cos(2 * math.pi * cycles * n / d)) / 2
        assert s(t) == pytest.approx(floor + (1 - floor) * wave, abs=1e-15)


def test_cosine_hand_values() -> None:
    s = Cosine(steps=4)
    assert s(0) == 1.0
    assert s(2) == pytest.approx(0.5)
    assert s(4) == 0.0
    assert s(100) == 0.0
    floored = Cosine(steps=4, min_lr_ratio=0.2)
    assert floored(2) == pytest.approx(0.6)  # an affine rescale, not a clip
    assert floored(4) == pytest.approx(0.2)
    full = Cosine(steps=4, cycles=1.0)  # back up to the peak at the end, and held there
    assert full(2) == pytest.approx(0.0, abs=1e-15)
    assert full(4) == pytest.approx(1.0)
    assert full(9) == full(4)


@pytest.mark.parametrize("steps", [1, 2, 10, 99])
@pytest.mark.parametrize("cycles", [1, 2, 3, 2.5])
@pytest.mark.parametrize("floor", [0.0, 0.2])
def test_cosine_restarts(steps: int, cycles: float, floor: float) -> None:
    s = CosineRestarts(steps=steps, cycles=cycles, min_lr_ratio=floor)
    for t in sorted({*probe(steps), *range(0, steps, max(1, steps // 7))}):
        p = min(t, steps) / steps
        wave = 0.0 if p >= 1 else (1 + math.cos(math.pi * ((cycles * p) % 1.0))) / 2
        assert s(t) == pytest.approx(floor + (1 - floor) * wave, abs=1e-15)


def test_cosine_restarts_restart_to_peak() -> None:
    s = CosineRestarts(steps=12, cycles=3)  # restarts at 4 and 8
    assert [s(0), s(4), s(8)] == [1.0, 1.0, 1.0]
    assert s(3) < 0.2
    assert s(12) == 0.0
    assert CosineRestarts(steps=0)(0) == 0.0


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("power", [1.0, 2.0, 0.5, 3.7])
@pytest.mark.parametrize("floor", FLOORS)
def test_polynomial_relative(steps: int, power: float, floor: float) -> None:
    s = Polynomial(steps=steps, power=power, min_lr_ratio=floor)
    for t in probe(steps):
        q = 1 - (min(t, steps) / steps if steps else 1.0)
        assert s(t) == pytest.approx(floor + (1 - floor) * q**power, abs=1e-15)


@pytest.mark.parametrize(("peak", "end"), [(3e-4, 1e-7), (1.0, 0.0), (1e-3, 5e-4)])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_polynomial_absolute(peak: float, end: float, power: float) -> None:
    steps = 10
    s = Polynomial(steps=steps, power=power, lr_end=end, peak_lr=peak)
    for t in probe(steps):
        q = 1 - min(t, steps) / steps
        want = ((peak - end) * q**power + end) / peak
        assert s(t) == pytest.approx(want, rel=1e-15)
    assert peak * s(steps + 10) == pytest.approx(end, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("floor", FLOORS)
def test_sqrt_decay(steps: int, floor: float) -> None:
    s = SqrtDecay(steps=steps, min_lr_ratio=floor)
    for t in probe(steps):
        p = min(t, steps) / steps if steps else 1.0
        assert s(t) == pytest.approx(floor + (1 - floor) * (1 - math.sqrt(p)), abs=1e-15)
    assert SqrtDecay(steps=4)(1) == 0.5  # 1 - sqrt(1/4)


def test_step_multistep_exponential_formulas() -> None:
    s = Step(step_size=3, gamma=0.5)
    assert [s(t) for t in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert s.horizon is None
    m = MultiStep(milestones=(2, 5), gamma=0.1)
    assert [m(t) for t in range(7)] == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.01, 0.01])
    assert m.horizon == 5
    assert MultiStep(milestones=()).horizon == 0
    assert MultiStep(milestones=[0], gamma=0.5)(0) == 0.5  # a milestone at 0 applies at once
    e = Exponential(gamma=0.5)
    assert [e(t) for t in range(4)] == [1.0, 0.5, 0.25, 0.125]
    r = Exponential(rate=0.1)
    assert r(10) == pytest.approx(math.exp(-1.0))
    assert Exponential(gamma=1.0).horizon == 0
    assert Exponential(rate=0.0).horizon == 0
    assert Exponential(gamma=0.9).horizon is None


def test_inverse_sqrt() -> None:
    for timescale in (1, 4, 10_000):
        s = InverseSqrt(timescale=timescale)
        for t in (0, 1, 3, timescale, 10 * timescale):
            assert s(t) == pytest.approx(1 / math.sqrt((t + timescale) / timescale), rel=1e-15)
    assert InverseSqrt(timescale=4)(12) == 0.5
    assert InverseSqrt()(0) == 1.0


# -- torch oracles ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lr_scheduler():  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    return torch.optim.lr_scheduler


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (10, 0.9), (7, 1.0)])
def test_step_matches_torch_steplr(lr_scheduler, step_size: int, gamma: float) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    n = 80
    ref = torch_lrs(lambda o: lr_scheduler.StepLR(o, step_size=step_size, gamma=gamma), n)
    s = Step(step_size=step_size, gamma=gamma)
    np.testing.assert_allclose([s(t) for t in range(n)], ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(s(np.arange(n)), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("milestones", "gamma"), [((), 0.1), ((3, 7, 20), 0.1), ((1, 2), 0.3), ((0, 5), 0.5)]
)
def test_multistep_matches_torch(lr_scheduler, milestones: tuple[int, ...], gamma: float) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    n = 40
    ref = torch_lrs(
        lambda o: lr_scheduler.MultiStepLR(o, milestones=list(milestones), gamma=gamma), n
    )
    s = MultiStep(milestones=milestones, gamma=gamma)
    np.testing.assert_allclose([s(t) for t in range(n)], ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(s(np.arange(n)), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99, 1.0])
def test_exponential_matches_torch(lr_scheduler, gamma: float) -> None:  # type: ignore[no-untyped-def]
    from oracles import torch_lrs

    n = 300
    ref = torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=gamma), n, lr=3e-4)
    s = Exponential(gamma=gamma)
    np.testing.assert_allclose([3e-4 * s(t) for t in range(n)], ref, rtol=1e-12, atol=0)
