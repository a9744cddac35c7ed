"""A loss that falls steeply and then flattens (every early training curve) is not a spike.

Found by ``rampup demo --experiment adaptive``: when the spike test extrapolated the recent trend,
the flattening was a spike, each spike entered the history clipped to a limit that kept the steep
trend, the limit fell below zero, and the warmup held until ``max_warmup`` forced it on. The test
now compares with the recent level (a median), which trails a falling loss.
"""

from __future__ import annotations

import random

from rampup.adaptive import StabilityController, StabilityRule


def test_a_flattening_loss_is_accepted_within_a_window() -> None:
    rule = StabilityRule()
    controller = StabilityController(rule)
    # 8 updates falling by 0.15 each (2.3 -> 1.25), then a plateau at 1.5 with a small wobble
    losses = [2.3 - 0.15 * i for i in range(8)] + [1.5 + 0.01 * (-1) ** i for i in range(60)]
    decisions = [controller.decide((loss, None, None))[0] for loss in losses]
    # a flattening is no spike: the warmup never stops advancing
    assert decisions == ["advance"] * len(losses)


def test_a_rise_that_stays_is_accepted_gradually() -> None:
    """A lasting jump of the loss holds the warmup for a while (the clipped history raises the
    level step by step), then the warmup advances again; it never holds for good."""
    rule = StabilityRule()
    controller = StabilityController(rule)
    rng = random.Random(0)
    losses = [1.0 + rng.gauss(0, 0.02) for _ in range(30)] + [1.3 + rng.gauss(0, 0.02) for _ in range(80)]
    decisions = [controller.decide((loss, None, None))[0] for loss in losses]
    # noise alone: a 3-spread test on gaussian noise flags about one update in a hundred
    assert decisions[:30].count("advance") >= 28
    assert decisions[30] in ("hold", "back")
    held = decisions[30:].index("advance")
    assert 3 <= held <= 40
    after = decisions[30 + held:]
    assert after.count("advance") >= 0.95 * len(after)
