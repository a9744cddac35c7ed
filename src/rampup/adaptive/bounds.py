"""An adaptive warmup's bounds, planned ahead: where its warmup can end and what its longest
plan does to the rest of the run (for ``rampup describe``, ``rampup plot --max-warmup`` and
reports). The bounds are resolved exactly as the clock resolves them when attached.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rampup.adaptive.clock import AdaptiveWarmup
from rampup.errors import check_int
from rampup.schedules import Schedule


@dataclass(frozen=True, slots=True)
class LatestPlan(Schedule):
    """The rates an adaptive warmup gives when it takes its longest: the warmup (``warmup`` steps
    of ``schedule``) spread over ``latest`` updates (its longest plan), then ``J = min(latest -
    warmup, plateau)`` steps the schedule holds at its peak after the warmup skipped, and the rest
    of the schedule (up to ``total``) compressed into the updates left so the run ends on time.

    ``time(u) = floor(u * warmup / latest)`` for ``u < latest``, ``warmup`` at ``u = latest``, else
    ``warmup + J + floor((u - latest) * (total - warmup - J) / (total - latest))``. For plots and
    descriptions of the planned bounds; the schedule itself is the earliest plan.
    """

    schedule: Schedule
    warmup: int
    latest: int
    total: int
    plateau: int = 0
    shape: ClassVar[str] = "adaptive_latest"

    def __post_init__(self) -> None:
        check_int("warmup", self.warmup, minimum=1)
        check_int("latest", self.latest, minimum=self.warmup)
        check_int("total", self.total, minimum=self.latest + 1)
        check_int("plateau", self.plateau)

    @property
    def skipped(self) -> int:
        """Peak steps skipped after the longest warmup: ``min(latest - warmup, plateau)``."""
        return min(self.latest - self.warmup, self.plateau)

    def _eval(self, t: Any, xp: Any) -> Any:
        w, m, n, j = self.warmup, self.latest, self.total, self.skipped
        if xp.is_scalar:
            time = (t * w // m if t < m else w if t == m
                    else w + j + (t - m) * (n - w - j) // (n - m))
        else:
            early = xp.floor((t * w + 1e-9) / m)
            late = w + j + xp.floor(((t - m) * (n - w - j) + 1e-9) / (n - m))
            time = xp.where(t < m, early, xp.where(t == m, w, late))
        return self.schedule._eval(time, xp)

    @property
    def horizon(self) -> int | None:
        return None if self.schedule.horizon is None else self.total

    def label(self) -> str:
        return f"adaptive warmup at its longest ({self.latest} updates)"


def planned_bounds(schedule: Schedule, total: int, max_warmup: int | float | str,
                   min_warmup: int | None = None) -> tuple[int, int, LatestPlan]:
    """(shortest warmup, longest warmup, the plan at the longest) for an adaptive warmup of
    ``schedule`` over ``total`` updates; raises on bounds that cannot hold (as the clock does)."""
    clock = AdaptiveWarmup(max_warmup, min_warmup=min_warmup)
    clock.bind([schedule], total)
    assert clock.min_warmup is not None and clock.max_warmup is not None
    return clock.min_warmup, clock.max_warmup, LatestPlan(schedule, clock.min_warmup, clock.max_warmup,
                                                          total, clock.plateau)


def describe_bounds(schedule: Schedule, total: int, max_warmup: int | float | str,
                    peak_lr: float | None = None) -> str:
    """Lines for ``describe``: where an adaptive warmup of ``schedule`` can end, and what its
    longest plan does to the rest of the run."""
    shortest, longest, latest = planned_bounds(schedule, total, max_warmup)
    skipped = latest.skipped
    speed = (total - shortest - skipped) / (total - longest)
    scale = 1.0 if peak_lr is None else peak_lr
    mid = (longest + total) // 2
    rest = (f"the rest of the schedule then runs up to {speed:.3g}x faster to end at update {total}"
            if speed > 1 else f"the run still ends at update {total}")
    if skipped:
        rest = f"up to {skipped} steps at the peak after it are skipped first; {rest}"
    return "\n".join([
        f"  adaptive warmup: reaches the peak between update {shortest} (never held) and update "
        f"{longest} (max_warmup); {rest}",
        f"  at its longest: at update {longest // 2}: {latest(longest // 2) * scale:.6g}, at "
        f"update {mid}: {latest(mid) * scale:.6g} (vs {schedule(mid) * scale:.6g} on the shortest), "
        f"at update {total}: {latest(total) * scale:.6g}",
    ])
