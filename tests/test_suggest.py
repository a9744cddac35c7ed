"""rampup.suggest: the smoothing and the suggestion rule against curves whose answer is known.

The synthetic range tests have a logistic descent in log-rate, ``L(x) = top - D / (1 + exp(-(x - x0) / s))``
(``x = log10(lr)``), followed by a blow-up. For it the rule's answer has a closed form: the rate
where the noise-free curve has fallen ``q`` of the way from ``top`` to its minimum, ``x0 + s *
ln(p / (1 - p))`` with ``p`` that fall as a share of ``D``; with ``q = 1/2`` and a minimum at the
asymptote that is ``x0``, the steepest point of the descent in log-rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampup.errors import RampupError
from rampup.suggest import DEPTH_FRACTION, smooth, suggest_lr

TOP, DEPTH, X0, WIDTH = 5.0, 3.0, -3.0, 0.3


def curve(x: np.ndarray, *, x0: float = X0, width: float = WIDTH, blow_up: float = 0.5) -> np.ndarray:
    """A logistic descent centred at ``x0``, then a loss that explodes ``blow_up`` decades later
    than the descent's end (where the logistic is within 0.1% of its floor)."""
    descent = TOP - DEPTH / (1.0 + np.exp(-(x - x0) / width))
    end = x0 + width * math.log(999.0)
    return descent + np.exp((x - end - blow_up) / 0.1)


def oracle(x: np.ndarray, q: float, **shape: float) -> float:
    """The closed-form crossing of the rule's level on the noise-free curve (see the module doc)."""
    values = curve(x, **shape)
    bottom = float(values.min())  # the sampled curve's own minimum
    x0, width = shape.get("x0", X0), shape.get("width", WIDTH)
    fall = q * (TOP - bottom) / DEPTH  # the logistic's share of D at the level
    return x0 + width * math.log(fall / (1.0 - fall))


def sweep(points: int = 100, low: float = -7.0, high: float = 1.0) -> np.ndarray:
    return np.linspace(low, high, points)


def test_smooth_is_the_bias_corrected_moving_average() -> None:
    values = np.random.default_rng(0).normal(size=30)
    average, expected = 0.0, []
    for i, v in enumerate(values):
        average = 0.7 * average + 0.3 * v
        expected.append(average / (1 - 0.7 ** (i + 1)))
    np.testing.assert_allclose(smooth(values, 0.7), expected, rtol=1e-12)
    assert smooth(values, 0.0).tolist() == values.tolist()
    with pytest.raises(RampupError, match="beta"):
        smooth(values, 1.0)


def test_smoothed_points_sit_on_a_line_in_log_rate() -> None:
    """Placed at the average of log-rate it stands for, a smoothed straight line is the line."""
    x = sweep(60)
    raw = 4.0 - 0.25 * x
    for beta in (0.5, 0.9):
        result = suggest_lr(10 ** x, raw, beta=beta)
        np.testing.assert_allclose(result.smoothed, 4.0 - 0.25 * result.log_lrs, atol=1e-9)


@pytest.mark.parametrize("x0", [-4.5, -3.0, -1.2])
@pytest.mark.parametrize("width", [0.2, 0.4])
def test_suggestion_is_the_rules_crossing_on_a_clean_curve(x0: float, width: float) -> None:
    x = sweep(200)
    raw = curve(x, x0=x0, width=width)
    result = suggest_lr(10 ** x, raw)
    expected = oracle(x, DEPTH_FRACTION, x0=x0, width=width)
    assert result.lr is not None
    assert math.log10(result.lr) == pytest.approx(expected, abs=0.03)
    assert result.region is not None and result.region[0] < result.lr < result.region[1]
    assert "90% of the way" in result.reason


@pytest.mark.parametrize("x0", [-5.0, -2.0])
def test_halfway_is_the_steepest_descent_in_log_rate(x0: float) -> None:
    x = sweep(200)
    raw = curve(x, x0=x0, blow_up=1.5)  # the minimum sits on the logistic's floor
    result = suggest_lr(10 ** x, raw, depth_fraction=0.5)
    assert result.lr is not None
    assert math.log10(result.lr) == pytest.approx(x0, abs=0.03)  # the logistic's inflection


def test_noise_moves_the_suggestion_little() -> None:
    x = sweep(100)
    expected = oracle(x, DEPTH_FRACTION)
    found = []
    for seed in range(20):
        noisy = curve(x) + np.random.default_rng(seed).normal(0.0, 0.03 * DEPTH, size=x.size)
        result = suggest_lr(10 ** x, noisy)
        assert result.lr is not None
        found.append(math.log10(result.lr))
    assert abs(float(np.median(found)) - expected) < 0.1
    assert float(np.std(found)) < 0.1  # decades: a coefficient of variation of about 0.23 in rate


@pytest.mark.parametrize("x0", [-4.0, -2.5])
def test_a_deeper_dip_after_the_first_rise_is_not_the_bottom(x0: float) -> None:
    """Past its floor the loss jumps up (the rate starts to overshoot), recovers and dips below
    the floor before it blows up, as momentum SGD does. The descent ends at the jump, so the
    suggestion is the closed-form crossing of the clean descent; the later dip is not read."""
    x = sweep(200)
    shape = {"x0": x0, "blow_up": 2.0}
    raw = curve(x, **shape)
    floor_end = x0 + WIDTH * math.log(999.0)
    jump = (x > floor_end + 0.2) & (x < floor_end + 0.35)
    dip = (x > floor_end + 0.6) & (x < floor_end + 1.2)
    later = raw.copy()
    later[jump] += 0.5 * DEPTH
    later[dip] -= 0.4 * DEPTH  # lower than the floor of the descent
    result = suggest_lr(10 ** x, later)
    assert result.lr is not None and result.minimum_lr is not None
    assert math.log10(result.lr) == pytest.approx(oracle(x, DEPTH_FRACTION, **shape), abs=0.03)
    assert math.log10(result.minimum_lr) < floor_end + 0.2  # the bottom is before the jump
    assert result.bottom == pytest.approx(TOP - DEPTH, abs=0.01)
    assert "turns up at" in result.reason


def test_a_lone_early_spike_does_not_move_it() -> None:
    x = sweep(100)
    raw = curve(x)
    spiked = raw.copy()
    spiked[3] = 10 * TOP
    clean, result = suggest_lr(10 ** x, raw), suggest_lr(10 ** x, spiked)
    assert result.lr == pytest.approx(clean.lr, rel=1e-9)


def test_independent_of_the_number_of_sweep_steps() -> None:
    lrs = [suggest_lr(10 ** sweep(n), curve(sweep(n))).lr for n in (80, 150, 400)]
    assert all(v is not None for v in lrs)
    logs = [math.log10(v) for v in lrs if v is not None]
    assert max(logs) - min(logs) < 0.05


def test_stops_reading_at_the_first_non_finite_loss() -> None:
    x = sweep(100)
    raw = curve(x)
    cut = int(np.argmin(raw)) + 3
    broken = raw.copy()
    broken[cut] = np.nan
    broken[cut + 1:] = 0.0  # whatever follows a NaN is not read
    assert suggest_lr(10 ** x, broken).lr == pytest.approx(suggest_lr(10 ** x[:cut], raw[:cut]).lr)


@pytest.mark.parametrize("kind", ["flat", "rising", "too_short"])
def test_no_usable_descent_gives_no_number(kind: str) -> None:
    rng = np.random.default_rng(1)
    x = sweep(100)
    raw = {"flat": TOP + rng.normal(0, 0.05, x.size),
           "rising": TOP + np.exp(x / 2) + rng.normal(0, 0.05, x.size),
           "too_short": curve(x)}[kind]
    if kind == "too_short":
        x, raw = x[:6], raw[:6]
    result = suggest_lr(10 ** x, raw)
    assert result.lr is None and result.reason.startswith("no usable descent")


def test_notes_when_the_range_misses_the_start_or_the_bottom() -> None:
    x = sweep(100)
    still_falling = suggest_lr(10 ** x[:55], curve(x[:55]))  # stops before the floor
    assert still_falling.lr is not None and any("raise max_lr" in n for n in still_falling.notes)
    assert not suggest_lr(10 ** x[:55], curve(x[:55]), stopped=True).notes
    late = np.linspace(-3.5, 1.0, 100)  # the descent is under way at the first rate
    early = suggest_lr(10 ** late, curve(late, x0=-3.6))
    assert early.lr is not None and any("lower min_lr" in n for n in early.notes)


def test_bad_input() -> None:
    with pytest.raises(RampupError, match="equal length"):
        suggest_lr([1e-3, 1e-2], [1.0])
    with pytest.raises(RampupError, match="lrs must be finite and > 0"):
        suggest_lr([0.0, 1e-2], [1.0, 1.0])
    with pytest.raises(RampupError, match="depth_fraction"):
        suggest_lr([1e-3, 1e-2], [1.0, 1.0], depth_fraction=1.0)
