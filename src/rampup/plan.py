"""The plan a scheduler executes, and changes to it while it runs (framework-free).

A :class:`Plan` holds the original schedules (one per parameter group), the schedules in force
(the originals with new phases spliced in at the schedule time of each change), the
:class:`~rampup.warp.Warp` from clock position to schedule time, and the log of changes. Each
change is one entry ``{"update", "position", "time", "op", ...arguments}``; a plan restored from
a saved state rebuilds the spliced schedules by replaying the log on the original schedules, so the
change is part of the state and resuming before or after it is bit for bit identical.

Operations (at the current position ``p``, schedule time ``t0 = warp.time(p)``, multiplier
``m = s(t0)`` in force):

- ``cooldown(steps, shape, floor)``: ``floor + (m - floor) * d(k / steps)`` for ``k`` positions
  after ``p`` (``d`` = ``1 - sqrt(x)``, ``1 - x`` or ``(1 + cos(pi x)) / 2``), the floor held after.
- ``extend(total)``: the rest of the plan, schedule times ``t0 .. E`` (``E`` its end), is mapped
  onto positions ``p .. total`` by the warp segment ``(p, t0, E - t0, total - p)``.
- ``replan(schedules, continuity)``: the new schedule ``s'`` from ``p`` on, scaled by ``m / s'(0)``
  (``"match"``) or as given (``"jump"``).

Continuity: with ``cooldown``, ``extend`` and ``replan(..., "match")`` the multiplier at ``p`` is the
one already in force (to rounding), so the step into the change moves the rate no more than the
old plan's own step did; the new phase then follows its own shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rampup.config import from_dict
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
)
from rampup.schedules import Constant, Cosine, Join, Linear, Multiply, Schedule, SqrtDecay
from rampup.warp import Warp

COOLDOWN_SHAPES = ("1-sqrt", "linear", "cosine")
CONTINUITY = ("match", "jump")
OPS = ("cooldown", "extend", "replan")


def planned_end(schedules: Sequence[Schedule], total_steps: int | None) -> int | None:
    """Where a plan stops changing: ``total_steps`` if given, else the longest schedule's
    :attr:`~rampup.Schedule.length` (None if one of them goes on by design)."""
    if total_steps is not None:
        return total_steps
    lengths = [schedule.length for schedule in schedules]
    if any(length is None for length in lengths):
        return None
    return max(length for length in lengths if length is not None)


def cooldown_phase(current: float, steps: int, shape: str, floor: float) -> Schedule:
    """``floor + (current - floor) * d(k / steps)`` for k >= 0, as core shapes (a constant times a
    decay whose own floor is ``floor / current``)."""
    if current == floor:
        return Constant(current)
    ratio = floor / current
    decay: Schedule
    if shape == "1-sqrt":
        decay = SqrtDecay(steps=steps, min_lr_ratio=ratio)
    elif shape == "linear":
        decay = Linear(steps=steps, min_lr_ratio=ratio)
    else:
        decay = Cosine(steps=steps, min_lr_ratio=ratio)
    return decay if current == 1.0 else Multiply(factors=(Constant(current), decay))


class Plan:
    """Original schedules, spliced schedules, warp and change log (see the module docstring).

    ``end`` is the clock position where the plan stops changing and ``end_time`` the schedule
    time there (None for an open-ended plan).
    """

    def __init__(self, schedules: Sequence[Schedule], total: int | None = None) -> None:
        self.original: tuple[Schedule, ...] = tuple(schedules)
        self.total = total
        self.schedules: list[Schedule] = list(schedules)
        self.warp = Warp()
        self.changes: list[dict[str, Any]] = []
        self.end_time = planned_end(self.original, total)
        self.end = self.end_time

    @property
    def changed(self) -> bool:
        """Whether anything moved the plan off its original schedules or identity warp."""
        return bool(self.changes) or not self.warp.identity

    def multipliers(self, time: int) -> list[float]:
        return [schedule(time) for schedule in self.schedules]

    # -- operations (validate everything, then change) ----------------------------------------
    def cooldown(
        self, position: int, update: int, steps: int, shape: str = "1-sqrt", floor: float = 0.0,
        *, extend: bool = False,
    ) -> None:
        """Decay from the multiplier in force to ``floor`` over the next ``steps`` positions."""
        steps = check_int("steps", steps, minimum=1)
        shape = check_choice("shape", shape, COOLDOWN_SHAPES)
        floor = check_real("floor", floor, low=0.0, high=1.0)
        if not isinstance(extend, bool):
            raise ScheduleTypeError(f"extend must be True or False, got {extend!r}")
        if self.end is not None and position + steps > self.end and not extend:
            remaining = max(0, self.end - position)
            raise ScheduleValueError(
                f"steps={steps}: the cooldown would end at {position + steps}, after the planned "
                f"end {self.end} ({remaining} left from {position}); pass extend=True to move the "
                "end, or a shorter cooldown"
            )
        entry = {"op": "cooldown", "steps": steps, "shape": shape, "floor": floor}
        self._commit(self._record(entry, position, update))

    def extend(self, position: int, update: int, total: int) -> None:
        """Stretch (or cut) the rest of the plan so that it ends at position ``total``."""
        total = check_int("total_steps", total, minimum=1)
        if self.end_time is None:
            raise ScheduleValueError(
                "total_steps: this plan is open-ended (it holds its rate until told otherwise); "
                "start its end with cooldown(steps) instead of extend()"
            )
        if total <= position:
            raise ScheduleValueError(
                f"total_steps must be after the current position {position}, got {total}"
            )
        time = self.warp.time(position)
        if time >= self.end_time:
            raise ScheduleValueError(
                f"total_steps={total}: the plan already ended (at schedule time {self.end_time}); "
                "use cooldown() or replan() to train on with a new phase"
            )
        self._commit(self._record({"op": "extend", "total_steps": total}, position, update))

    def replan(
        self, position: int, update: int, schedules: Sequence[Schedule], continuity: str = "match",
    ) -> None:
        """Replace the rest of the plan with ``schedules`` (one per group) from ``position`` on."""
        continuity = check_choice("continuity", continuity, CONTINUITY)
        if len(schedules) != len(self.schedules):
            raise ScheduleValueError(
                f"schedule: give one schedule or one per group ({len(self.schedules)}), got "
                f"{len(schedules)}"
            )
        for schedule in schedules:
            if not isinstance(schedule, Schedule):
                raise ScheduleTypeError(f"schedule must be a rampup schedule, got {schedule!r}")
        entry = {"op": "replan", "schedules": [s.to_dict() for s in schedules],
                 "continuity": continuity}
        self._commit(self._record(entry, position, update))

    # -- the machinery shared by live operations and replay -------------------------------------
    def _record(self, entry: dict[str, Any], position: int, update: int) -> dict[str, Any]:
        return {"update": update, "position": position, "time": self.warp.time(position)} | entry

    def _commit(self, entry: dict[str, Any]) -> None:
        """Apply one change: compute everything first (errors leave the plan as it was)."""
        schedules, end, end_time = self._splice(entry)
        segment = self._segment(entry, end_time)
        self.schedules, self.end, self.end_time = schedules, end, end_time
        if segment is not None:
            self.warp.add(*segment)
        self.changes.append(entry)

    def _segment(self, entry: dict[str, Any], end_time: int | None) -> tuple[int, int, int, int] | None:
        """The warp segment a live change adds (replay takes the saved warp instead)."""
        position, time = entry["position"], entry["time"]
        if entry["op"] == "extend":
            assert end_time is not None
            num, den = end_time - time, entry["total_steps"] - position
            divisor = math.gcd(num, den)
            return position, time, num // divisor, den // divisor
        p0, t0, num, den = self.warp.segments[-1]
        if num == den and t0 + (position - p0) == time:
            return None  # already one schedule step per position here
        return position, time, 1, 1

    def _splice(self, entry: dict[str, Any]) -> tuple[list[Schedule], int | None, int | None]:
        """The schedules, end and end time after ``entry``; raises if it cannot apply."""
        op, position, time = entry["op"], entry["position"], entry["time"]
        if op == "extend":
            return list(self.schedules), entry["total_steps"], self.end_time
        current = self.multipliers(time)
        phases: list[Schedule] = []
        if op == "cooldown":
            floor, steps = entry["floor"], entry["steps"]
            for group, m in enumerate(current):
                if floor > m:
                    raise ScheduleValueError(
                        f"floor={floor:g} is above the current multiplier {m:g} of parameter group "
                        f"{group}: a cooldown only goes down"
                    )
            cache: dict[float, Schedule] = {}
            for m in current:
                if m not in cache:
                    cache[m] = cooldown_phase(m, steps, entry["shape"], floor)
                phases.append(cache[m])
            length: int | None = steps
        else:
            new = [from_dict(d) for d in entry["schedules"]]
            for group, (schedule, m) in enumerate(zip(new, current, strict=True)):
                start = schedule(0)
                if entry["continuity"] == "jump" or start == m:
                    phases.append(schedule)
                elif start == 0.0:
                    raise ScheduleValueError(
                        f"schedule: group {group}'s new schedule starts at 0 and the rate in force "
                        f"is {m:g} x peak; continuity='match' cannot scale 0 to it. Pass "
                        "continuity='jump' to start it as it is"
                    )
                else:
                    phases.append(Multiply(factors=(Constant(m / start), schedule)))
            # A rate constant from here on has no end to step past: the run holds it until told
            # otherwise (where a constant below the peak ending a schedule is that schedule's end).
            length = None if all(n.horizon == 0 for n in new) else planned_end(new, None)
        spliced: list[Schedule] = [Join(phases=(old, phase), boundaries=(time,)) for old, phase in
                   zip(self.schedules, phases, strict=True)]
        if all(s is self.schedules[0] for s in self.schedules) and all(p is phases[0] for p in phases):
            spliced = [spliced[0]] * len(spliced)  # keep one shared schedule (one evaluation a step)
        if length is None:
            return spliced, None, None
        return spliced, position + length, time + length

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Plain data: the warp and the change log (copies)."""
        return {"warp": self.warp.state(), "changes": [dict(c) for c in self.changes]}

    def restored(self, state: Mapping[str, Any], position: int) -> Plan:
        """A new plan with this one's original schedules, the saved warp and the saved changes
        replayed. Raises on any inconsistency; ``self`` is never changed."""
        plan = Plan(self.original, self.total)
        changes = state.get("changes", [])
        if isinstance(changes, (str, bytes)) or not isinstance(changes, Sequence):
            raise ScheduleValueError(f"changes must be a list, got {changes!r}")
        last = 0
        for raw in changes:
            entry = check_entry(raw)
            if entry["position"] < last or entry["position"] > position:
                raise ScheduleValueError(
                    f"change at position {entry['position']} is out of order (previous {last}, "
                    f"now {position})"
                )
            last = entry["position"]
            plan.schedules, plan.end, plan.end_time = plan._splice(entry)
            plan.changes.append(entry)
        plan.warp = Warp(state.get("warp", [[0, 0, 1, 1]]))
        return plan


def check_entry(raw: Any) -> dict[str, Any]:
    """One validated change-log entry (a copy)."""
    if not isinstance(raw, Mapping):
        raise ScheduleValueError(f"a change must be a dict, got {raw!r}")
    op = check_choice("op", raw.get("op"), OPS)
    entry: dict[str, Any] = {key: check_int(key, raw.get(key)) for key in ("update", "position", "time")}
    entry["op"] = op
    if op == "cooldown":
        entry["steps"] = check_int("steps", raw.get("steps"), minimum=1)
        entry["shape"] = check_choice("shape", raw.get("shape"), COOLDOWN_SHAPES)
        entry["floor"] = check_real("floor", raw.get("floor"), low=0.0, high=1.0)
    elif op == "extend":
        entry["total_steps"] = check_int("total_steps", raw.get("total_steps"), minimum=1)
    else:
        entry["continuity"] = check_choice("continuity", raw.get("continuity"), CONTINUITY)
        schedules = raw.get("schedules")
        if not isinstance(schedules, Sequence) or isinstance(schedules, (str, bytes)):
            raise ScheduleValueError(f"a replan change needs its schedules, got {schedules!r}")
        entry["schedules"] = [dict(d) for d in schedules]
    return entry
