"""Changing the plan of a running :class:`~rampup.torch.Scheduler`, and its clock.

The operations live in :class:`rampup.plan.Plan` (framework-free); this mixin gives the scheduler
its public methods (``cooldown``, ``extend``, ``replan``), its clock-related properties and the
validation of the saved clock and plan on resume. Each operation validates everything, then
changes the plan, records it in the change log (part of ``state_dict``) and writes the rate in
force again from the new plan (the same rate, to rounding, unless a jump was asked for).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rampup.clock import Clock
from rampup.errors import ScheduleValueError
from rampup.plan import Plan
from rampup.schedules import Schedule
from rampup.torch.groups import one_per_group
from rampup.warp import Warp

IDENTITY = [[0, 0, 1, 1]]


class ReplanMixin:
    """Plan changes and clock access for :class:`~rampup.torch.Scheduler`."""

    if TYPE_CHECKING:
        _clock: Clock
        _plan: Plan
        last_epoch: int

        def _refresh(self) -> None: ...
        def _apply(self, step: int) -> None: ...

    # -- where the run is -----------------------------------------------------------------------
    @property
    def position(self) -> int:
        """Where the run is on its clock: updates, tokens, samples or milliseconds so far."""
        return self.last_epoch if self._clock.counts_updates else self._clock.position

    @property
    def _units(self) -> str:
        """The clock's unit as messages name it (updates are "steps" there)."""
        return "steps" if self._clock.counts_updates else self._clock.unit

    @property
    def clock(self) -> Clock:
        """The clock that turns updates into schedule positions."""
        return self._clock

    @property
    def warp(self) -> Warp:
        """The map from clock position to schedule time (the identity until a plan changes)."""
        return self._plan.warp

    @property
    def changes(self) -> list[dict[str, Any]]:
        """The changes made to the plan so far, oldest first (copies)."""
        return [dict(c) for c in self._plan.changes]

    @property
    def original_schedules(self) -> list[Schedule]:
        """The schedules the scheduler was built with (before any change)."""
        return list(self._plan.original)

    @property
    def planned_end(self) -> int | None:
        """The clock position where the plan stops changing (None: open-ended)."""
        return self._plan.end

    # -- changing the plan ----------------------------------------------------------------------
    def cooldown(
        self, steps: int | str, shape: str = "1-sqrt", floor: float = 0.0, *, extend: bool = False
    ) -> None:
        """Decay from the rate in force to ``floor`` x peak over the next ``steps`` positions.

        ``shape``: ``"1-sqrt"`` (Hägele et al. 2024), ``"linear"`` or ``"cosine"``. After ``steps``
        more updates (tokens, ... on other clocks; strings like ``"2B tok"`` are accepted) the
        rate is the floor, held from there. A cooldown that would end after the planned end of a
        bounded plan is an error unless ``extend=True`` (the end then moves); an open-ended plan
        ends with it.
        """
        steps = self._clock.amount(steps, "steps", minimum=1)
        self._plan.cooldown(self.position, self.last_epoch, steps, shape, floor, extend=extend)
        self._changed()

    def extend(self, total_steps: int | str) -> None:
        """Stretch (or shorten) the rest of the plan so that it ends at ``total_steps``.

        The remaining part of the schedule (everything after the current position, warmup
        included if it is not over) is mapped linearly onto the new remaining length, with integer
        arithmetic, so the rate continues from where it is and reaches the plan's end at
        ``total_steps`` (a position on the scheduler's clock).
        """
        total = self._clock.amount(total_steps, "total_steps", minimum=1)
        self._plan.extend(self.position, self.last_epoch, total)
        self._changed()

    def replan(self, schedule: Schedule | Sequence[Schedule], *, continuity: str = "match") -> None:
        """Run ``schedule`` (its own step 0 now) for the rest of training.

        ``continuity="match"`` scales it so that it starts at the rate in force (its values are
        relative to that rate: a cosine from 1 to 0 then decays from the current rate to 0);
        ``"jump"`` uses it as given (values are multipliers of the peak), changing the rate at once.
        One schedule for every group, or one per group.
        """
        schedules = one_per_group(
            schedule, len(self._plan.schedules), what="schedule",
            count_error="schedule list has {given} entries but the optimizer has {groups} "
            "parameter groups: give one schedule per group",
        )
        self._plan.replan(self.position, self.last_epoch, schedules, continuity)
        self._changed()

    def _changed(self) -> None:
        self._refresh()
        self._apply(self._plan.warp.time(self.position))

    # -- resume ---------------------------------------------------------------------------------
    def _check_saved_plan(
        self, state: Mapping[str, Any], step: int, *, changed: bool
    ) -> tuple[dict[str, Any], Plan]:
        """The saved clock state and the plan rebuilt from the saved changes, both validated."""
        default = {"config": {"clock": "updates"}, "state": {"position": step}}
        saved = state.get("clock", default)
        if not isinstance(saved, Mapping) or saved.get("config") != self._clock.to_dict():
            config = saved.get("config") if isinstance(saved, Mapping) else saved
            raise ScheduleValueError(
                f"clock: the saved state counts with {config!r}, this scheduler with "
                f"{self._clock.to_dict()!r}"
            )
        clock_state = self._clock.check_state(saved.get("state", {}))
        if self._clock.counts_updates:
            clock_state["position"] = step  # the update count is the position (keep_* may move it)
        if changed and (state.get("changes") or state.get("warp", IDENTITY) != IDENTITY):
            raise ScheduleValueError(
                "on_config_change: the saved state has changes to its plan (cooldown, extend, "
                "replan) made on a different schedule; they cannot be carried over. Build the "
                "scheduler with the saved schedule to resume it"
            )
        return clock_state, self._plan.restored(state, clock_state["position"])
