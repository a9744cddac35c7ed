"""Could the numpy path of Join, MultiStep and OneCycle be their array-API path?

The array-API branch of each combinator selects with ``where`` after evaluating every phase on
every step (no branching on values, so it traces). This script runs that branch on numpy, with
numpy's exact functions passed down to the phases, and times whole curves of 1M steps against
the numpy branch in use (masks: each phase on its own steps) and against a plain numpy formula
(the whole-curve target is at most 2x that). It also checks that the two give the same bits.

    python benchmarks/numpy_select.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import rampup
from rampup import Constant, Cosine, Join, Linear, Multiply, MultiStep, OneCycle, Warmup
from rampup.schedules.xp import ARRAY

IN_USE = {cls: cls._eval for cls in (Join, MultiStep, OneCycle)}


def _join(self: Any, t: Any, xp: Any) -> Any:
    return self._select(t, xp) if xp is ARRAY else IN_USE[Join](self, t, xp)


def _multistep(self: Any, t: Any, xp: Any) -> Any:
    if xp is not ARRAY:
        return IN_USE[MultiStep](self, t, xp)
    count: Any = 0.0
    for milestone in self.milestones:
        count = count + xp.where(t >= milestone, 1.0, 0.0)
    return xp.power(self.gamma, count)


def _one_cycle(self: Any, t: Any, xp: Any) -> Any:
    if xp is not ARRAY:
        return IN_USE[OneCycle](self, t, xp)
    return self._select(xp.minimum(t, self.steps - 1), self._phase_ends(), self._levels(), xp)


def select(on: bool) -> None:
    """Make the numpy path take the array-API branch (on) or the branch in use (off)."""
    for cls, patched in ((Join, _join), (MultiStep, _multistep), (OneCycle, _one_cycle)):
        cls._eval = patched if on else IN_USE[cls]  # type: ignore[method-assign]


def plain(n: int, warmup: int = 1_000, total: int = 100_000) -> np.ndarray:
    """The bench's floor: warmup and cosine as one numpy expression."""
    t = np.arange(n, dtype=np.float64)
    progress = np.minimum(t - warmup, total - warmup) / (total - warmup)
    return np.where(t < warmup, t / warmup, 0.5 * (1.0 + np.cos(np.pi * progress)))


def cases() -> dict[str, rampup.Schedule]:
    replanned: rampup.Schedule = rampup.schedule("cosine", warmup_steps=1_000, total_steps=1_000_000)
    for k in range(10):  # as Plan splices a new phase at each change
        phase = Multiply(factors=(Constant(0.9), Cosine(steps=50_000)))
        replanned = Join(phases=(replanned, phase), boundaries=(50_000 * (k + 1),))
    eight = Join(
        phases=(Warmup(steps=1_000), *[Linear(steps=120_000, min_lr_ratio=0.5)] * 6, Cosine(steps=200_000)),
        boundaries=tuple(1_000 + 120_000 * i for i in range(7)),
    )
    return {
        "cosine (the bench's curve: a 2-phase join)": rampup.schedule("cosine", warmup_steps=1_000,
                                                                        total_steps=100_000),
        "wsd (3-phase join)": rampup.schedule("wsd", warmup_steps=1_000, total_steps=1_000_000),
        "8-phase join": eight,
        "cosine after 10 re-plans (nested joins)": replanned,
        "goyal (warmup + multistep)": rampup.schedule("goyal", warmup_steps=5_000,
                                                       milestones=[300_000, 600_000, 800_000]),
        "multistep, 3 milestones": MultiStep(milestones=(300_000, 600_000, 800_000)),
        "one_cycle": OneCycle(steps=1_000_000),
        "one_cycle, three phases": OneCycle(steps=1_000_000, three_phase=True),
    }


def main(rounds: int = 7) -> None:
    steps = np.arange(1_000_000)

    def timed(run: Callable[[], Any]) -> tuple[float, Any]:
        times, value = [], None
        for _ in range(rounds):
            began = time.perf_counter()
            value = run()
            times.append(time.perf_counter() - began)
        return statistics.median(times), value

    print("| curve, 1M steps | plain numpy | masks (in use) | array-API branch on numpy | same bits |")
    print("| --- | --- | --- | --- | --- |")
    for name, schedule in cases().items():
        select(False)
        masks, a = timed(lambda s=schedule: s(steps))
        select(True)
        selected, b = timed(lambda s=schedule: s(steps))
        select(False)
        floor, _ = timed(lambda: plain(steps.size))
        print(f"| {name} | {floor * 1e3:.0f} ms | {masks / floor:.2f}x | {selected / floor:.2f}x | "
              f"{np.array_equal(a, b)} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
