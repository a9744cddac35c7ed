"""The warp: a piecewise-linear integer map from a clock's position to schedule time.

A scheduler's :class:`~rampup.clock.Clock` gives a position in its unit; the plan's :class:`Warp`
maps it to the schedule's own time, ``time = t0 + floor((p - p0) * num / den)`` on the segment
``(p0, t0, num, den)`` that holds ``p``. No warp is the identity. A change to a running plan
(:mod:`rampup.plan`: a cooldown, a longer or shorter run, the adaptive warmup's re-plan) adds a
segment from the current position on, so that what already ran keeps its times. Integers only, so
a warp round-trips exactly through ``state_dict`` and JSON.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

from rampup.errors import ScheduleValueError, check_int

Segment = tuple[int, int, int, int]


class Warp:
    """Piecewise-linear integer map from clock position to schedule time.

    Segment ``(p0, t0, num, den)`` holds from position ``p0`` to the next segment's ``p0``:
    ``time(p) = t0 + floor((p - p0) * num / den)``. The first segment starts at position 0;
    ``p0`` strictly increases. Integer arithmetic only: exact and identical on every machine.
    """

    __slots__ = ("_starts", "segments")

    def __init__(self, segments: Sequence[Sequence[int]] = ((0, 0, 1, 1),)) -> None:
        checked = check_segments(segments)
        self.segments: list[Segment] = checked
        self._starts = [s[0] for s in checked]

    @property
    def identity(self) -> bool:
        return self.segments == [(0, 0, 1, 1)]

    def time(self, position: int) -> int:
        """Schedule time at clock position ``position`` (>= 0)."""
        segments = self.segments
        p0, t0, num, den = segments[-1]
        if position < p0:
            p0, t0, num, den = segments[bisect.bisect_right(self._starts, position) - 1]
        return t0 + (position - p0) * num // den

    def position_of(self, target: int) -> int | None:
        """The first position whose time is ``>= target`` (None if time never gets there)."""
        for index, (p0, t0, num, den) in enumerate(self.segments):
            stop = self.segments[index + 1][0] if index + 1 < len(self.segments) else None
            if t0 >= target:
                return p0
            if num == 0:
                continue
            # smallest p >= p0 with t0 + floor((p - p0) * num / den) >= target
            p = p0 + -((t0 - target) * den // num)
            if stop is None or p < stop:
                return p
        return None

    def add(self, p0: int, t0: int, num: int, den: int) -> None:
        """From position ``p0`` on, use the segment ``(p0, t0, num, den)`` (replacing any segment
        that starts at or after ``p0``). Validates first; a bad segment changes nothing."""
        new = (check_int("p0", p0), check_int("t0", t0), check_int("num", num),
               check_int("den", den, minimum=1))
        kept = [s for s in self.segments if s[0] < new[0]]
        self.segments = [*kept, new]
        self._starts = [s[0] for s in self.segments]

    def state(self) -> list[list[int]]:
        """Plain data: ``[[p0, t0, num, den], ...]``."""
        return [list(s) for s in self.segments]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Warp) and self.segments == other.segments

    def __repr__(self) -> str:
        return f"Warp({self.segments})"


def check_segments(segments: Any) -> list[Segment]:
    """Validated warp segments (see :class:`Warp`)."""
    if isinstance(segments, (str, bytes)) or not isinstance(segments, Sequence) or not segments:
        raise ScheduleValueError(f"warp must be a non-empty list of [p0, t0, num, den], got {segments!r}")
    out: list[Segment] = []
    for item in segments:
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 4:
            raise ScheduleValueError(f"warp segment must be [p0, t0, num, den], got {item!r}")
        p0, t0, num, den = item
        segment = (check_int("warp p0", p0), check_int("warp t0", t0), check_int("warp num", num),
                   check_int("warp den", den, minimum=1))
        if out and segment[0] <= out[-1][0]:
            raise ScheduleValueError(f"warp segments must start at increasing positions, got {segments!r}")
        out.append(segment)
    if out[0][0] != 0:
        raise ScheduleValueError(f"the first warp segment must start at position 0, got {out[0]!r}")
    return out
