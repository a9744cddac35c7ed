"""transformers' schedule names reproduce transformers' numbers bit for bit (scalar path).

The oracle is transformers itself: ``transformers.get_scheduler`` on a real torch optimizer,
stepped once per update; the optimizer's lr at update ``t`` must equal ``base_lr * s(t)``.

What is compared, per name (W = warmup steps, T = num_training_steps):

- every update ``0 .. T-1``: always, with ``==``. The single exception is
  ``cosine_warmup_with_min_lr`` with ``warmup_lr_rate`` set, during warmup only: transformers
  computes ``r + ((1 - r) * t) / (W - 1)`` and rampup ``r + (1 - r) * (t / (W - 1))``, which may
  round differently, so there we allow rel 1e-15 (at most 2 ulp; see
  ``test_cosine_warmup_with_min_lr``).
- update ``T`` itself, where transformers' value there is part of a curve that holds:
  ``linear``, ``constant``, ``constant_with_warmup``, ``inverse_sqrt``, ``warmup_stable_decay``
  always; ``cosine``, ``cosine_with_min_lr``, ``cosine_with_restarts``, ``polynomial`` when W < T.
  With W == T transformers divides by ``max(1, T - W) = 1``, so its decay restarts at T (1.0 for
  cosine, then an oscillation; polynomial divides by zero), while rampup is at its floor.
  ``cosine_warmup_with_min_lr`` counts progress as ``(t - W + 1) / (T - W)``, which passes 1 at T,
  so transformers' value at T is already past the floor: never compared at T.
- updates after ``T``: rampup holds its value at T. transformers holds too for ``linear``,
  ``constant*``, ``inverse_sqrt`` (no end), ``warmup_stable_decay``, and ``polynomial`` /
  ``cosine_with_restarts`` when W < T: compared there. transformers' cosines climb back up after
  T (a documented difference), so for them only rampup's hold is checked.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

import rampup

pytest.importorskip("torch")
pytest.importorskip("transformers")

from oracles import hf_lrs

# (warmup, total): no warmup, warmup == total, total == 1, tiny and odd sizes.
COMBOS = [(0, 1), (1, 1), (0, 10), (3, 10), (9, 10), (10, 10), (1, 2), (2, 2), (25, 200), (37, 251)]
AFTER = 5  # updates past T that are checked

ALWAYS_AT_END = {"linear", "constant", "constant_with_warmup", "inverse_sqrt", "warmup_stable_decay"}
AT_END_IF_DECAY = {"cosine", "cosine_with_min_lr", "cosine_with_restarts", "polynomial"}
HOLDS_AFTER = {"linear", "constant", "constant_with_warmup", "inverse_sqrt", "warmup_stable_decay"}
HOLDS_AFTER_IF_DECAY = {"cosine_with_restarts", "polynomial"}


def _compared_steps(name: str, warmup: int, total: int) -> tuple[int, bool]:
    """(number of updates compared with transformers, whether rampup's hold is checked after)."""
    n = total
    if name in ALWAYS_AT_END or (name in AT_END_IF_DECAY and warmup < total):
        n = total + 1
    if name in HOLDS_AFTER or (name in HOLDS_AFTER_IF_DECAY and warmup < total):
        n = total + 1 + AFTER
    return n, n < total + 1 + AFTER


def _mismatches(
    name: str,
    warmup: int,
    total: int,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    lr: float = 1.0,
    n: int | None = None,
) -> list[tuple[int, float, float]]:
    compared, check_hold = _compared_steps(name, warmup, total)
    if n is not None:
        compared = n
    s = rampup.schedule(name, warmup_steps=warmup, total_steps=total, **ours)
    ref = hf_lrs(name, compared, lr=lr, warmup=warmup, total=total, **theirs)
    bad = [(t, lr * s(t), ref[t]) for t in range(compared) if lr * s(t) != ref[t]]
    # The array path agrees with the same numbers up to rounding.
    curve = lr * s(np.arange(compared))
    np.testing.assert_allclose(curve, ref, rtol=1e-12, atol=1e-15 * lr)
    if check_hold:
        held = s(total)
        assert [s(total + k) for k in range(1, AFTER + 1)] == [held] * AFTER
    return bad


CASES: list[tuple[str, dict[str, Any], dict[str, Any], float]] = [
    ("linear", {}, {}, 1.0),
    ("linear", {}, {}, 3e-4),
    ("constant_with_warmup", {}, {}, 1.0),
    ("constant_with_warmup", {}, {}, 3e-4),
    ("cosine", {}, {}, 1.0),
    ("cosine", {}, {}, 3e-4),
    *[("cosine", {"num_cycles": c}, {"num_cycles": c}, 1.0) for c in (0.25, 1.0, 1.5, 3)],
    *[("cosine_with_restarts", {"num_cycles": c}, {"num_cycles": c}, 1.0) for c in (1, 2, 3)],
    ("cosine_with_restarts", {}, {}, 3e-4),
    *[
        ("polynomial", {"power": p, "lr_end": e, "peak_lr": lr}, {"power": p, "lr_end": e}, lr)
        for p, e, lr in [
            (1.0, 1e-7, 3e-4),
            (2.0, 1e-7, 3e-4),
            (0.5, 0.0, 3e-4),
            (3.0, 1e-5, 1e-3),
            (1.0, 0.25, 1.0),
        ]
    ],
    # lr_end left at transformers' default (1e-7).
    ("polynomial", {"peak_lr": 3e-4}, {}, 3e-4),
    ("polynomial", {"peak_lr": 1.0, "power": 2.0}, {"power": 2.0}, 1.0),
    ("inverse_sqrt", {}, {}, 1.0),
    *[("inverse_sqrt", {"timescale": ts}, {"timescale": ts}, 1.0) for ts in (1, 7, 100)],
    *[
        ("cosine_with_min_lr", {"min_lr_rate": r}, {"min_lr_rate": r}, 1.0)
        for r in (0.0, 0.1, 0.37)
    ],
    (
        "cosine_with_min_lr",
        {"min_lr_rate": 0.1, "num_cycles": 0.7},
        {"min_lr_rate": 0.1, "num_cycles": 0.7},
        1.0,
    ),
    ("cosine_with_min_lr", {"min_lr": 1e-5, "peak_lr": 3e-4}, {"min_lr": 1e-5}, 3e-4),
    *[
        ("cosine_warmup_with_min_lr", {"min_lr_rate": r}, {"min_lr_rate": r}, 1.0)
        for r in (0.0, 0.1, 0.37)
    ],
    (
        "cosine_warmup_with_min_lr",
        {"min_lr_rate": 0.05, "num_cycles": 0.3},
        {"min_lr_rate": 0.05, "num_cycles": 0.3},
        1.0,
    ),
    ("cosine_warmup_with_min_lr", {"min_lr": 1e-5, "peak_lr": 3e-4}, {"min_lr": 1e-5}, 3e-4),
]


def _case_id(case: tuple[str, dict[str, Any], dict[str, Any], float]) -> str:
    name, ours, _, lr = case
    return f"{name}-{ours}-lr{lr:g}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_bit_for_bit_with_transformers(case: tuple[str, dict[str, Any], dict[str, Any], float]) -> None:
    name, ours, theirs, lr = case
    for warmup, total in COMBOS:
        bad = _mismatches(name, warmup, total, ours, theirs, lr)
        assert not bad, f"{name} W={warmup} T={total}: (step, rampup, transformers) {bad[:5]}"


def test_constant_matches_transformers() -> None:
    # transformers' "constant" has no warmup at all; rampup rejects one (see test_errors).
    for total in (1, 10, 100):
        s = rampup.schedule("constant", total_steps=total)
        ref = hf_lrs("constant", total + AFTER, lr=3e-4)
        assert [3e-4 * s(t) for t in range(total + AFTER)] == ref


def test_cosine_min_lr_ratio_is_transformers_cosine_with_min_lr() -> None:
    # rampup's extra min_lr_ratio option of "cosine" is transformers' cosine_with_min_lr.
    for warmup, total in COMBOS:
        s = rampup.schedule("cosine", warmup_steps=warmup, total_steps=total, min_lr_ratio=0.1)
        ref = hf_lrs("cosine_with_min_lr", total, warmup=warmup, total=total, min_lr_rate=0.1)
        assert [s(t) for t in range(total)] == ref


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.3])
@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_cosine_warmup_with_min_lr(rate: float, floor: float) -> None:
    """warmup_lr_rate set: exact after warmup, within 1 ulp during it (see the module doc)."""
    for warmup, total in COMBOS:
        s = rampup.schedule(
            "cosine_warmup_with_min_lr",
            warmup_steps=warmup,
            total_steps=total,
            min_lr_rate=floor,
            warmup_lr_rate=rate,
        )
        ref = hf_lrs(
            "cosine_warmup_with_min_lr",
            total,
            warmup=warmup,
            total=total,
            min_lr_rate=floor,
            warmup_lr_rate=rate,
        )
        for t in range(total):
            if t < warmup:
                # ((1-r)*t)/(W-1) in transformers vs r + (1-r)*(t/(W-1)) here: the two roundings
                # differ by a unit or two in the last place (2 ulp is the worst seen), far inside
                # rel 1e-15.
                assert math.isclose(s(t), ref[t], rel_tol=1e-15), (warmup, total, t, s(t), ref[t])
                assert abs(s(t) - ref[t]) <= 2 * math.ulp(ref[t])
            else:
                assert s(t) == ref[t], (warmup, total, t, s(t), ref[t])
        # rampup holds the floor from T on (transformers' progress passes 1 there).
        assert s(total) == s(total + 7) == floor


def test_cosine_warmup_with_min_lr_first_update_is_nonzero() -> None:
    s = rampup.schedule("cosine_warmup_with_min_lr", warmup_steps=4, total_steps=20, min_lr_rate=0.0)
    assert s(0) == 0.25
    assert s(3) == 1.0


WSD_TYPES = ("linear", "cosine", "1-sqrt")


@pytest.mark.parametrize(("warmup_type", "decay_type"), list(itertools.product(WSD_TYPES, WSD_TYPES)))
@pytest.mark.parametrize("floor", [0.0, 0.1])
def test_warmup_stable_decay(warmup_type: str, decay_type: str, floor: float) -> None:
    for warmup, total in COMBOS:
        for decay in sorted({0, (total - warmup) // 2, total - warmup}):
            options = {
                "warmup_type": warmup_type,
                "decay_type": decay_type,
                "min_lr_ratio": floor,
                "num_decay_steps": decay,
            }
            bad = _mismatches("warmup_stable_decay", warmup, total, options, options)
            assert not bad, f"W={warmup} T={total} D={decay}: {bad[:5]}"


@pytest.mark.parametrize("cycles", [1.0, 0.3, 2])
def test_warmup_stable_decay_num_cycles(cycles: float) -> None:
    # A cosine that does not end on the floor: transformers drops to min_lr_ratio after the decay.
    for warmup, total in COMBOS:
        options = {"num_decay_steps": (total - warmup + 1) // 2, "num_cycles": cycles,
                   "min_lr_ratio": 0.1}
        bad = _mismatches("warmup_stable_decay", warmup, total, options, options)
        assert not bad, f"W={warmup} T={total}: {bad[:5]}"


@pytest.mark.parametrize(("warmup", "stable", "decay"), [(2, 3, 4), (0, 5, 5), (4, 0, 6), (3, 7, 0)])
def test_warmup_stable_decay_by_stable_steps(warmup: int, stable: int, decay: int) -> None:
    """num_stable_steps instead of num_training_steps (transformers then needs no total)."""
    options = {"num_decay_steps": decay, "num_stable_steps": stable, "decay_type": "1-sqrt",
               "warmup_type": "cosine", "min_lr_ratio": 0.2}
    end = warmup + stable + decay
    n = end + AFTER
    s = rampup.schedule("warmup_stable_decay", warmup_steps=warmup, **options)
    ref = hf_lrs("warmup_stable_decay", n, warmup=warmup, total=None, **options)
    assert [s(t) for t in range(n)] == ref
    # Both given: transformers uses num_stable_steps (with a warning); so does rampup.
    s2 = rampup.schedule(
        "warmup_stable_decay", warmup_steps=warmup, total_steps=end + 50, **options
    )
    ref2 = hf_lrs("warmup_stable_decay", n, warmup=warmup, total=end + 50, **options)
    assert [s2(t) for t in range(n)] == ref2


def test_longer_run_bit_for_bit() -> None:
    """One realistic length for the main names (10 000 updates, 1 000 warmup)."""
    warmup, total = 1000, 10_000
    for name, ours, theirs in [
        ("linear", {}, {}),
        ("cosine", {}, {}),
        ("cosine_with_min_lr", {"min_lr_rate": 0.1}, {"min_lr_rate": 0.1}),
        ("polynomial", {"peak_lr": 1.0, "power": 2.0, "lr_end": 1e-4},
         {"power": 2.0, "lr_end": 1e-4}),
        ("warmup_stable_decay", {"num_decay_steps": 2000, "decay_type": "1-sqrt"},
         {"num_decay_steps": 2000, "decay_type": "1-sqrt"}),
    ]:
        bad = _mismatches(name, warmup, total, ours, theirs)
        assert not bad, f"{name}: {bad[:5]}"


def test_warmup_as_duration_gives_the_same_schedule() -> None:
    by_steps = rampup.schedule("linear", warmup_steps=100, total_steps=1000)
    assert rampup.schedule("linear", warmup="10%", total_steps=1000) == by_steps
    assert rampup.schedule("linear", warmup_fraction=0.1, total_steps=1000) == by_steps
    assert rampup.schedule("linear", warmup=0.1, total_steps=1000) == by_steps
    assert rampup.schedule("linear", warmup="2ep", steps_per_epoch=50, total_steps=1000) == by_steps


def test_transformers_names_are_flagged() -> None:
    hf = {"linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
          "constant_with_warmup", "inverse_sqrt", "cosine_with_min_lr",
          "cosine_warmup_with_min_lr", "warmup_stable_decay"}
    flagged = {name for name, entry in rampup.REGISTRY.items() if entry.transformers}
    assert flagged == hf
    assert hf <= set(rampup.names())


def test_polynomial_relative_form() -> None:
    # rampup's min_lr_ratio form of "polynomial" needs no peak_lr: floor + (1-floor) q**power.
    s = rampup.schedule("polynomial", warmup_steps=2, total_steps=12, power=2.0, min_lr_ratio=0.1)
    for t in range(2, 16):
        q = 1 - min(t - 2, 10) / 10
        assert s(t) == pytest.approx(0.1 + 0.9 * q**2, abs=1e-15)


def test_documented_differences_at_and_after_the_end() -> None:
    """Where rampup departs from transformers past the last training step (see the module doc)."""
    # warmup == total: transformers' decay progress is (t - W) / max(1, 0), so at T it restarts
    # at 1.0 (then oscillates); rampup's zero-length decay is at its floor.
    s = rampup.schedule("cosine", warmup_steps=10, total_steps=10)
    ref = hf_lrs("cosine", 13, warmup=10, total=10)
    assert [s(t) for t in range(10)] == ref[:10]
    assert (s(10), ref[10]) == (0.0, 1.0)
    assert ref[11:] == [0.0, 1.0]
    assert s(11) == s(12) == 0.0
    # After T, transformers' cosine climbs back up; rampup holds the floor.
    s = rampup.schedule("cosine", warmup_steps=2, total_steps=10)
    ref = hf_lrs("cosine", 15, warmup=2, total=10)
    assert s(10) == ref[10] == 0.0
    assert ref[14] > 0.0
    assert s(14) == 0.0
    # cosine_warmup_with_min_lr's progress passes 1 at T: transformers is above its floor there.
    s = rampup.schedule("cosine_warmup_with_min_lr", warmup_steps=2, total_steps=10,
                        min_lr_rate=0.1)
    ref = hf_lrs("cosine_warmup_with_min_lr", 11, warmup=2, total=10, min_lr_rate=0.1)
    assert s(10) == 0.1 < ref[10]
