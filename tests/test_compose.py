"""Combinators (join, multiply, clamp, with_warmup) and describe()."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import rampup
from rampup import (
    Clamp,
    Constant,
    Cosine,
    Exponential,
    Join,
    Linear,
    Multiply,
    Step,
    Warmup,
    clamp,
    join,
    multiply,
    with_warmup,
)

STEPS = np.arange(60)


def values(s: rampup.Schedule, steps: np.ndarray = STEPS) -> list[float]:
    return [s(int(t)) for t in steps]


def test_single_phase_join_is_the_phase() -> None:
    for x in (Cosine(steps=20, min_lr_ratio=0.1), Step(step_size=7, gamma=0.5), Warmup(steps=9)):
        j = join([x], [])
        assert values(j) == values(x)
        np.testing.assert_array_equal(j(STEPS), x(STEPS))
        assert j.horizon == x.horizon


def test_join_relative_clock() -> None:
    a, b, c = Constant(0.5), Linear(steps=10), Constant(0.25)
    s = join([a, b, c], [5, 15])
    for t in range(40):
        if t < 5:
            want = 0.5
        elif t < 15:
            want = 1 - (t - 5) / 10  # b sees t - 5
        else:
            want = 0.25
        assert s(t) == pytest.approx(want, abs=1e-15), t


def test_join_absolute_clock() -> None:
    main = Linear(steps=20)
    s = join([Constant(0.5), main], [5], clock="absolute")
    assert [s(t) for t in range(5)] == [0.5] * 5
    for t in range(5, 30):
        assert s(t) == main(t)  # the main phase sees the global step
    relative = join([Constant(0.5), main], [5])
    assert relative(5) == main(0) != s(5)
    assert s.horizon == 20
    assert relative.horizon == 25


def test_boundary_at_zero() -> None:
    # The first phase has no steps at all; the second runs from step 0 with its own step 0.
    main = Cosine(steps=10)
    s = join([Constant(0.0), main], [0])
    assert values(s) == values(main)
    np.testing.assert_array_equal(s(STEPS), main(STEPS))
    # Equal boundaries make an unused zero-length phase.
    s2 = join([Constant(0.3), Constant(0.0), main], [4, 4])
    assert values(s2)[:4] == [0.3] * 4
    assert values(s2)[4:20] == values(main)[:16]


def test_nesting_invariance() -> None:
    a, b, c, d = Warmup(steps=5), Constant(1.0), Cosine(steps=30, min_lr_ratio=0.1), Constant(0.1)
    flat = join([a, b, c, d], [5, 12, 42])
    right = join([a, join([b, join([c, d], [30])], [7])], [5])
    left = join([join([a, b], [5]), c, d], [12, 42])
    steps = np.arange(80)
    assert values(flat, steps) == values(right, steps) == values(left, steps)
    np.testing.assert_array_equal(flat(steps), right(steps))
    np.testing.assert_array_equal(flat(steps), left(steps))
    # The nested joins report the same phases.
    assert [(b0, e0) for b0, e0, _ in right.segments()] == [(b0, e0) for b0, e0, _ in flat.segments()]


def test_join_array_path_matches_scalar_path() -> None:
    s = join([Warmup(steps=3), Exponential(gamma=0.9), Constant(0.2)], [3, 20], clock="relative")
    np.testing.assert_allclose(s(STEPS), values(s), rtol=0, atol=1e-15)
    t = np.array([[0, 25], [3, 2]])
    out = s(t)
    assert out.shape == (2, 2)
    assert out[0, 1] == s(25)


def test_multiply() -> None:
    warm, main = Warmup(steps=10), Cosine(steps=50)
    s = multiply(warm, main)
    for t in range(60):
        assert s(t) == warm(t) * main(t)
    assert isinstance(s, Multiply)
    assert s.horizon == 50
    assert multiply(Constant(0.5))(3) == 0.5
    assert multiply(warm, Step(step_size=5)).horizon is None
    np.testing.assert_allclose(s(STEPS), values(s), rtol=0, atol=1e-15)


def test_clamp() -> None:
    main = Linear(steps=10)
    s = clamp(main, 0.2, 0.8)
    for t in range(15):
        assert s(t) == min(max(main(t), 0.2), 0.8)
    assert s(0) == 0.8
    assert s(14) == 0.2
    floor_only = clamp(main, 0.3)
    assert floor_only(0) == 1.0
    assert floor_only(9) == 0.3
    assert isinstance(s, Clamp)
    assert s.horizon == 10
    np.testing.assert_array_equal(s(np.arange(15)), values(s, np.arange(15)))


def test_with_warmup() -> None:
    main = Cosine(steps=90)
    assert with_warmup(main, 0) is main
    s = with_warmup(main, 10)
    assert isinstance(s, Join)
    assert s.boundaries == (10,)
    for t in range(10):
        assert s(t) == (t + 1) / 10
    for t in range(10, 110):
        assert s(t) == main(t - 10)
    hf = with_warmup(main, 10, endpoints="start")
    assert [hf(t) for t in (0, 5, 10)] == [0.0, 0.5, 1.0]
    cosine = with_warmup(main, 4, curve="cosine", start=0.2)
    assert cosine(3) == 1.0
    assert cosine(0) == pytest.approx(0.2 + 0.8 * (1 - math.cos(math.pi / 4)) / 2)
    absolute = with_warmup(Linear(steps=100), 10, clock="absolute")
    assert absolute(10) == Linear(steps=100)(10)
    assert absolute.horizon == 100


def test_segments_and_horizon() -> None:
    s = rampup.schedule("warmup_stable_decay", warmup_steps=10, total_steps=100, num_decay_steps=20)
    spans = [(begin, end) for begin, end, _ in s.segments()]
    assert spans == [(0, 10), (10, 80), (80, 100)]
    assert s.horizon == 100
    assert Join(phases=(Constant(1.0), Step(step_size=3)), boundaries=(5,)).horizon is None


# -- describe ---------------------------------------------------------------------------------


def test_describe_phases_and_extremes() -> None:
    s = rampup.schedule("cosine", warmup_steps=100, total_steps=1000, min_lr_ratio=0.1)
    text = s.describe()
    lines = text.splitlines()
    warm = next(line for line in lines if "warmup" in line)
    decay = next(line for line in lines if "cosine" in line and "steps" in line and line != lines[0])
    # Each phase's step range.
    assert re.search(r"\b0\s*-\s*99\b", warm)
    assert re.search(r"\b100\s*-\s*999\b", decay)
    # The min and max with where they are reached: 0 at step 0, the peak at step 100.
    summary = next(line for line in lines if "min" in line and "max" in line)
    assert re.search(r"min 0 at step 0\b", summary)
    assert re.search(r"max 1 at step 100\b", summary)
    assert "1000" in text
    assert "held" in summary and "0.1" in summary


def test_describe_with_peak_lr_gives_rates() -> None:
    s = rampup.schedule("linear", warmup_steps=10, total_steps=100)
    text = s.describe(peak_lr=3e-4)
    assert "0.0003" in text
    summary = next(line for line in text.splitlines() if "max" in line)
    assert "max 0.0003 at step 10" in summary


def test_describe_nested_join_lists_every_leaf() -> None:
    inner = join([Warmup(steps=5), Cosine(steps=10)], [5])
    s = join([Constant(0.5), inner], [3])
    text = s.describe()
    assert re.search(r"\b0\s*-\s*2\b", text)
    assert re.search(r"\b3\s*-\s*7\b", text)
    assert re.search(r"\b8\s*-\s*17\b", text)
    assert "min 0 at step 18" in text
    assert "max 1 at step 7" in text


def test_describe_open_ended_and_cut_short() -> None:
    s = rampup.SGDR(period_steps=10)
    assert "keeps changing" in s.describe()
    cut = s.describe(total_steps=35)
    assert "held" not in cut  # SGDR never holds: no claim that it does
    assert "min" in cut and "max 1 at step 0" in cut
    decay = rampup.schedule("cosine", warmup_steps=10, total_steps=100)
    assert "held" not in decay.describe(total_steps=50)
    assert "held at 0 from step 100" in decay.describe()


def test_describe_function_matches_method() -> None:
    s = rampup.schedule("warmup_linear", warmup_steps=3, total_steps=30)
    assert rampup.describe(s) == s.describe()
    assert rampup.describe(s, total_steps=10) == s.describe(total_steps=10)


def test_readme_examples() -> None:
    s = rampup.schedule("cosine", warmup_steps=500, total_steps=10_000)
    assert (s(0), s(500), s(10_000)) == (0.0, 1.0, 0.0)
    curve = s(np.arange(10_000))
    assert curve.dtype == np.float64
    assert curve.shape == (10_000,)
    mine = rampup.with_warmup(Cosine(steps=9_500, min_lr_ratio=0.1), 500)
    assert mine(0) == 0.002
    same = rampup.from_dict(mine.to_dict())
    assert same == mine
    assert rampup.resolve_duration("10%", total_steps=12_000) == 1200
    assert rampup.linear_scaling(0.1, base_batch=256, batch=8192) == pytest.approx(3.2)
    assert rampup.untuned_warmup_steps(0.999) == 2000


def _spans(text: str) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in re.findall(r"steps\s+(\d+)\s*-\s*(\d+)", text)]


def test_describe_constant_phases() -> None:
    # Schedules constant from step 0 (horizon 0) describe without error.
    for s in (Constant(0.5), rampup.schedule("constant"), Warmup(steps=0),
              rampup.MultiStep(milestones=())):
        text = s.describe()
        assert "min" in text and "max" in text
    # A constant last phase runs to the end: no empty or inverted step range.
    text = rampup.schedule("constant_with_warmup", warmup_steps=5).describe(total_steps=10)
    assert _spans(text) == [(0, 4), (5, 9)]
    for begin, end in _spans(rampup.schedule("warmup_stable_decay", warmup_steps=5,
                                             num_decay_steps=4, num_stable_steps=0).describe()):
        assert begin <= end
