"""The adaptive warmup as a clock: its position moves through the warmup only while training is
stable.

Schedules stay pure functions of their own time; :class:`AdaptiveWarmup` is a
:class:`~rampup.clock.Clock` whose position advances through the schedule's warmup phase one step
per *stable* update, holds on a spike and steps back on a severe one (the decisions of
:mod:`rampup.adaptive.stability`; signals are read by :mod:`rampup.adaptive.signals`). When the
position reaches the end of the warmup, the rest of the plan is re-planned through the scheduler's
warp so that the run still ends at its planned total (or, with ``on_time=False``, the run is
extended instead).

Bounds: the warmup phase of the schedule (``W = min_warmup`` schedule steps) is the shortest
warmup (one step per update, nothing held); ``M = max_warmup`` updates is the longest. After ``u``
updates the position is never below the longest plan, ``floor(W * u / M)`` (the linear warmup over
``M`` updates): whatever the signals say, the warmup ends by update ``M`` and never climbs faster
than one step per update to get there (a bound that instead let the warmup hold until the last
``W`` updates and then forced it up at full speed gave the steepest ramp of all at the end: in the
demo's Post-LN Transformer at its highest rate that rise ended the run on a plateau). A back-off is
limited the same way.

Pace: an advance moves ``pace`` schedule steps (accumulated in ``credit``; the position moves by
whole steps); the pace starts at 1 and each spike episode multiplies it by the rule's
``slowdown`` (see :mod:`rampup.adaptive.stability`). Untested updates (the first ``lag`` +
``min_history``, before the spike test can act) *wait*: the position only follows the longest plan
(the demo measured why: at a high rate a fast unwatched start put the Post-LN Transformer on a
plateau it never left, while the same run trained when those updates waited).

Decisions are made ``lag`` updates after the update whose signals they use, on every device, so a
loss on a GPU is read without waiting for it.

Re-plan (``on_time=True``): a warmup that took ``E`` updates more than ``W`` makes the rest of the
plan ``E`` updates shorter. The steps right after the warmup during which the schedule stays at its
peak value (the stable phase of a step decay or warmup-stable-decay schedule; none for a cosine)
are skipped first, so a decay keeps its length; whatever ``E`` they do not cover is taken by
mapping the rest of the plan linearly onto the updates left (``scheduler.extend``).
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from rampup.adaptive.signals import check_pending, read_entry, resolve_entry
from rampup.adaptive.stability import (
    DECISIONS,
    SIGNAL_NAMES,
    StabilityController,
    StabilityRule,
    Values,
)
from rampup.clock import Clock
from rampup.durations import resolve_duration
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
)
from rampup.schedules import Schedule, Warmup

STATE_FORMAT = "rampup.AdaptiveWarmup/2"
MISSING_LOSS = ("error", "advance")


class _Attached(Protocol):
    """What the clock needs from the scheduler that runs it."""

    @property
    def original_schedules(self) -> list[Schedule]: ...

    @property
    def planned_end(self) -> int | None: ...

    def extend(self, total_steps: int) -> None: ...


def peak_steps(schedules: Sequence[Schedule], start: int, limit: int) -> int:
    """How many steps right after ``start`` (at most ``limit``) every schedule stays at its value
    at ``start``: the first steps of a stable phase after the warmup (0 for a cosine)."""
    if limit <= 0:
        return 0
    import numpy as np

    times = np.arange(start + 1, start + 1 + limit)
    count = limit
    for schedule in schedules:
        top = float(schedule(start))
        values = np.asarray(schedule(times), dtype=float)
        below = np.flatnonzero(values < top - 1e-12 * abs(top))
        if below.size:
            count = min(count, int(below[0]))
    return count


def warmup_length(schedules: Sequence[Schedule]) -> int | None:
    """The length of the warmup phase the schedules start with (the longest over the groups
    that have one), or None if none starts with a :class:`~rampup.schedules.Warmup`."""
    lengths = []
    for schedule in schedules:
        begin, end, leaf = schedule.segments()[0]
        if isinstance(leaf, Warmup) and begin == 0 and end is not None and end > 0:
            lengths.append(end)
    return max(lengths) if lengths else None


class AdaptiveWarmup(Clock):
    """A clock that advances through the warmup phase only while training is stable.

    Use it with the torch scheduler and pass the loss of every update::

        schedule = rampup.with_warmup(rampup.Cosine(steps=total - 20), 20)   # 20: the shortest warmup
        scheduler = Scheduler(optimizer, schedule, clock=rampup.AdaptiveWarmup(max_warmup=0.3))
        ...
        optimizer.step()
        scheduler.step(loss=loss)          # a tensor is fine: read later, without waiting for it

    The position is the schedule time of the warmup while it runs (advance, hold or step back per
    update, by :class:`StabilityRule`; an advance moves ``pace`` steps, halved by each spike
    episode with the default rule; never below the linear warmup over ``max_warmup`` updates);
    from the end of the warmup on it advances one step per update, and the plan is shortened so
    that the run ends at its planned total (``on_time=True``: first the steps the schedule holds
    at its peak after the warmup are skipped, then the rest is mapped onto the updates left, a
    ``scheduler.extend`` recorded in ``scheduler.changes``), or it runs at its own pace and the run
    takes as many more updates as the warmup took beyond its minimum (``on_time=False``).

    Args:
        max_warmup: the latest update at which the warmup ends: a count, a fraction of the planned
            total (``0.3`` or ``"30%"``). Default ``0.5``: a bound, not a target (the warmup only
            gets there if it keeps holding).
        min_warmup: the shortest warmup, in updates (= schedule steps of the warmup phase).
            Default: the length of the schedule's own warmup phase; given, it must match it (or
            name the first steps of a schedule that does not start with a ``Warmup``).
        rule: the spike test and its consequences (:class:`StabilityRule`).
        on_time: re-plan the rest so the run ends at its planned total (default) or extend it.
        missing_loss: ``"error"`` (default: ``scheduler.step()`` without ``loss=`` during the
            warmup raises) or ``"advance"`` (such an update advances, untested).
        lag: decisions use the signals of the update ``lag`` updates earlier (default 2), so a GPU
            loss is read after its copy finished rather than waited for; the first ``lag`` updates
            advance. The same lag applies on every device, so results do not depend on it.

    Signals (``scheduler.step(loss=..., grad_norm=..., update_ratio=...)``): floats or one-element
    tensors; ``grad_norm`` and ``update_ratio`` are optional extra spike tests. Under
    ``torch.distributed`` the signals are averaged over the processes (give the same signals on
    every rank), so every rank takes the same decisions. After the warmup the signals are ignored
    and ``loss`` may be left out.

    Examples:
        >>> import rampup
        >>> clock = rampup.AdaptiveWarmup(max_warmup="30%")
        >>> clock.lag, clock.on_time, clock.rule == rampup.StabilityRule()
        (2, True, True)
        >>> rampup.AdaptiveWarmup(max_warmup=1.5)        # a fraction lies in (0, 1)
        Traceback (most recent call last):
        ...
        rampup.errors.ScheduleValueError: max_warmup must be in (0, 1), got 1.5
    """

    kind = "adaptive_warmup"
    unit = "updates"

    def __init__(
        self,
        max_warmup: int | float | str = 0.5,
        *,
        min_warmup: int | None = None,
        rule: StabilityRule | None = None,
        on_time: bool = True,
        missing_loss: str = "error",
        lag: int = 2,
    ) -> None:
        super().__init__()
        if isinstance(max_warmup, bool) or not isinstance(max_warmup, (numbers.Real, str)):
            raise ScheduleTypeError(
                f"max_warmup must be an update count, a fraction or a string like '30%', got {max_warmup!r}"
            )
        if isinstance(max_warmup, numbers.Real) and not isinstance(max_warmup, numbers.Integral):
            check_real("max_warmup", max_warmup, low=0.0, high=1.0, low_open=True, high_open=True)
        elif isinstance(max_warmup, numbers.Integral):
            check_int("max_warmup", max_warmup, minimum=1)
        self.max_warmup_spec: int | float | str = max_warmup
        self.min_warmup_spec = None if min_warmup is None else check_int("min_warmup", min_warmup, minimum=1)
        if rule is not None and not isinstance(rule, StabilityRule):
            raise ScheduleTypeError(f"rule must be a rampup.StabilityRule, got {type(rule).__name__}")
        self.rule = StabilityRule() if rule is None else rule
        if not isinstance(on_time, bool):
            raise ScheduleTypeError(f"on_time must be True or False, got {on_time!r}")
        self.on_time = on_time
        self.missing_loss = check_choice("missing_loss", missing_loss, MISSING_LOSS)
        self.lag = check_int("lag", lag)
        # Bound when attached to a scheduler (or by bind() for use without one).
        self.min_warmup: int | None = None
        self.max_warmup: int | None = None
        self.total: int | None = None
        self.plateau = 0  # steps at the peak right after the warmup, skipped first by the re-plan
        self._scheduler: Any = None
        self._reset()

    def _reset(self) -> None:
        self.position = 0
        self.updates = 0  # advance() calls so far
        self.controller = StabilityController(self.rule)
        self.pending: deque[Any] = deque()  # signals not yet acted on (tuples or device handles)
        self.warmup_end: int | None = None  # the update count at which the warmup ended
        self.replanned = False  # the end-of-warmup re-plan was made (or was not needed)
        self.pace = 1.0  # schedule steps per stable update (times rule.slowdown per spike episode)
        self.credit = 0.0  # steps earned but not yet taken (the position moves by whole steps)
        self.events: list[list[Any]] = []  # [first update, last update, decision, position]
        self._observed: dict[str, Any] = {}  # signals given ahead of the coming step (observe)

    # -- binding to a plan --------------------------------------------------------------------
    def attach(self, scheduler: _Attached) -> None:
        """Called by the scheduler that takes this clock: reads the warmup length and total."""
        self.bind(scheduler.original_schedules, scheduler.planned_end)
        self._scheduler = weakref.ref(scheduler)

    def bind(self, schedules: Sequence[Schedule], total: int | None) -> None:
        """Resolve the bounds for ``schedules`` over ``total`` planned updates (None: open-ended).

        Raises (naming the argument) on bounds that cannot hold; nothing changes then.
        """
        found = warmup_length(schedules)
        minimum = self.min_warmup_spec
        if minimum is None:
            if found is None:
                raise ScheduleValueError(
                    "min_warmup: the schedule does not start with a Warmup phase, so the adaptive "
                    "warmup does not know which steps are warmup; build it with rampup.with_warmup "
                    "or pass min_warmup=<its warmup steps>"
                )
            minimum = found
        elif found is not None and found != minimum:
            raise ScheduleValueError(
                f"min_warmup={minimum} but the schedule's warmup phase is {found} steps: the "
                "shortest adaptive warmup is the schedule's own warmup; make them equal"
            )
        needed = self.lag + self.rule.min_history
        if minimum < needed:
            raise ScheduleValueError(
                f"min_warmup: the warmup phase is {minimum} steps, shorter than the {needed} updates "
                f"the spike test needs before it can act (lag {self.lag} + min_history "
                f"{self.rule.min_history}); give the schedule a warmup of at least {needed} steps"
            )
        spec = self.max_warmup_spec
        if isinstance(spec, numbers.Integral):
            maximum = int(spec)
        else:
            if total is None:
                raise ScheduleValueError(
                    f"max_warmup={spec!r} is a fraction of training, but the plan has no planned "
                    "end: pass total_steps to the scheduler or an update count"
                )
            maximum = resolve_duration(spec, name="max_warmup", total_steps=total)
        if maximum < minimum:
            raise ScheduleValueError(
                f"max_warmup ({maximum} updates) must be >= min_warmup ({minimum}, the schedule's "
                "warmup phase)"
            )
        if total is not None and maximum >= total:
            raise ScheduleValueError(
                f"max_warmup ({maximum} updates) must be shorter than the run ({total} updates)"
            )
        self.plateau = peak_steps(schedules, minimum, maximum - minimum)
        self.min_warmup, self.max_warmup, self.total = minimum, maximum, total

    # -- one update ---------------------------------------------------------------------------
    def observe(self, **signals: Any) -> None:
        """Give the signals of the update in progress before ``scheduler.step()`` is called.

        For training loops that step the scheduler themselves without signals (Lightning,
        transformers' Trainer; see their callbacks in :mod:`rampup.torch.callbacks`): the next
        ``advance`` uses these, and signals passed to ``scheduler.step()`` itself win.
        """
        for name in signals:
            if name not in SIGNAL_NAMES:
                raise ScheduleTypeError(
                    f"observe() got an unknown signal {name!r}; known: {', '.join(SIGNAL_NAMES)}"
                )
        self._observed = {k: v for k, v in signals.items() if v is not None}

    def advance(self, signals: Mapping[str, Any]) -> None:
        observed = self._observed
        if self.warmup_end is not None:
            if not self.replanned:
                self._replan()
            self._observed = {}
            self.position += 1
            self.updates += 1
            return
        if self.min_warmup is None:
            raise ScheduleValueError(
                "AdaptiveWarmup is not attached: pass it as Scheduler(..., clock=AdaptiveWarmup(...)) "
                "(or call bind(schedules, total) first)"
            )
        if observed:
            signals = {**observed, **{k: v for k, v in signals.items() if v is not None}}
        entry = read_entry(signals, self.missing_loss)  # validates before anything changes
        queue = [*self.pending, entry]
        decision = "wait"  # no signals to act on yet: untested
        if len(queue) > self.lag:
            values = resolve_entry(queue.pop(0))
            # raises (changing nothing) on non-finite runs; no loss (missing_loss='advance'):
            # advance untested, as asked
            decision = "advance" if values is None else self._decide(values)
        self.pending = deque(queue)
        self._observed = {}
        self._move(decision)

    def _decide(self, values: Values) -> str:
        """The controller's decision; a new spike episode slows the pace; an advance the spike
        test could not check yet (too little history) waits."""
        tested = self.controller.ready()
        calm = not self.controller.in_episode
        decision, severity = self.controller.decide(values)
        if severity and calm:
            self.pace *= self.rule.slowdown
            self.credit = 0.0
        if decision == "advance" and not tested:
            decision = "wait"
        return decision

    def _move(self, decision: str) -> None:
        """Apply a decision to the position, within the bounds; record holds and back-offs."""
        assert self.min_warmup is not None and self.max_warmup is not None
        self.updates += 1
        old = new = self.position
        if decision == "advance":
            self.credit += self.pace
            if self.credit >= 1.0:
                new, self.credit = old + 1, self.credit - 1.0
        elif decision == "back":
            new = math.floor(old * self.rule.backoff)
        # Never below the longest plan (the linear warmup over max_warmup updates): it ends the
        # warmup by max_warmup without a steep rise at the end.
        lowest = self.min_warmup * self.updates // self.max_warmup
        if new < lowest:
            new, decision = lowest, "forced"
        self.position = new
        if decision != "advance":
            self._log(decision, old)
        if new >= self.min_warmup:
            self.position = self.min_warmup
            self.warmup_end = self.updates
            self.pending.clear()
            if not self.on_time or self.total is None or self.warmup_end == self.min_warmup:
                self.replanned = True

    def _log(self, decision: str, position: int) -> None:
        update = self.updates - 1  # 0-based index of the update whose rate this decision sets next
        last = self.events[-1] if self.events else None
        if last is not None and last[2] == decision and last[1] == update - 1:
            last[1] = update
        else:
            self.events.append([update, update, decision, position])

    def skipped(self) -> int:
        """Peak steps the re-plan skips: ``min(warmup_end - min_warmup, plateau)`` (0 before the
        end of the warmup or with ``on_time=False``)."""
        if self.warmup_end is None or not self.on_time or self.total is None:
            return 0
        return min(self.warmup_end - (self.min_warmup or 0), self.plateau)

    def _replan(self) -> None:
        """Shorten the rest of the plan by the updates the warmup took beyond its minimum (at the
        first update after warmup): skip peak steps first, then map the rest onto the updates left.
        """
        assert self.warmup_end is not None and self.total is not None and self.min_warmup is not None
        jump = self.skipped()
        self.position += jump
        if self.warmup_end - self.min_warmup > jump:
            scheduler = None if self._scheduler is None else self._scheduler()
            if scheduler is not None:
                scheduler.extend(self.position + self.total - self.warmup_end)
        self.replanned = True

    # -- reporting ----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.warmup_end is not None

    def summary(self) -> dict[str, Any]:
        """How the warmup went: its length, the bounds, and where it held or stepped back."""
        holds = sum(e[1] - e[0] + 1 for e in self.events if e[2] == "hold")
        return {
            "warmup_updates": self.warmup_end,
            "warmup_done": self.warmup_end is not None,
            "min_warmup": self.min_warmup,
            "max_warmup": self.max_warmup,
            "held_updates": holds,
            "back_offs": sum(1 for e in self.events if e[2] == "back"),
            "forced_updates": sum(e[1] - e[0] + 1 for e in self.events if e[2] == "forced"),
            "waited_updates": sum(e[1] - e[0] + 1 for e in self.events if e[2] == "wait"),
            "pace": self.pace,
            "peak_steps_skipped": self.skipped(),
            "events": [{"from_update": e[0], "to_update": e[1], "decision": e[2], "position": e[3]}
                       for e in self.events],
            "on_time": self.on_time,
            "extra_updates": (None if self.warmup_end is None or self.on_time
                              else self.warmup_end - (self.min_warmup or 0)),
        }

    def report(self) -> dict[str, Any]:
        """``scheduler.report()``'s part: the summary, and the same in words (``"text"``)."""
        return {"adaptive_warmup": self.summary() | {"text": self.describe()}}

    def describe(self) -> str:
        """One paragraph in words (for ``report()`` and logs)."""
        s = self.summary()
        if not s["warmup_done"]:
            head = (f"adaptive warmup still running after {self.updates} updates (position "
                    f"{self.position} of {self.min_warmup}; it ends by update {self.max_warmup})")
        else:
            head = (f"adaptive warmup took {s['warmup_updates']} updates (bounds {self.min_warmup}"
                    f"..{self.max_warmup})")
        parts = []
        for e in s["events"]:
            span = (f"update {e['from_update']}" if e["from_update"] == e["to_update"]
                    else f"updates {e['from_update']}-{e['to_update']}")
            parts.append(f"{e['decision']} at {span} (position {e['position']})")
        return head + (": " + "; ".join(parts) if parts else ", never held")

    # -- state --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.kind,
            "max_warmup": self.max_warmup_spec,
            "min_warmup": self.min_warmup_spec,
            "rule": self.rule.to_dict(),
            "on_time": self.on_time,
            "missing_loss": self.missing_loss,
            "lag": self.lag,
        }

    def state_dict(self) -> dict[str, Any]:
        """Plain data: position, update count, signals not yet acted on (read now), controller."""
        pending = [resolve_entry(entry) for entry in self.pending]
        self.pending = deque(pending)  # read once: the values kept are the values saved
        return {
            "format": STATE_FORMAT,
            "position": self.position,
            "updates": self.updates,
            "pending": [None if v is None else list(v) for v in pending],
            "pace": self.pace,
            "credit": self.credit,
            "controller": self.controller.state(),
            "warmup_end": self.warmup_end,
            "replanned": self.replanned,
            "events": [list(e) for e in self.events],
        }

    def check_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ScheduleValueError(
                f"clock state: not an AdaptiveWarmup state (format {found!r}, expected "
                f"{STATE_FORMAT!r}); a state saved without the adaptive warmup cannot resume with it"
            )
        out = super().check_state(state)
        out["updates"] = check_int("updates", state.get("updates"))
        end = state.get("warmup_end")
        out["warmup_end"] = None if end is None else check_int("warmup_end", end)
        if not isinstance(state.get("replanned"), bool):
            raise ScheduleValueError(f"replanned must be True or False, got {state.get('replanned')!r}")
        out["replanned"] = state["replanned"]
        out["pending"] = check_pending(state.get("pending"), self.lag)
        out["pace"] = check_real("pace", state.get("pace"), low=0.0, high=1.0)
        out["credit"] = check_real("credit", state.get("credit"), low=0.0, high=1.0, high_open=True)
        out["controller"] = StabilityController.check_state(state.get("controller"), self.rule)
        events = state.get("events")
        if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
            raise ScheduleValueError(f"events must be a list, got {events!r}")
        out["events"] = []
        for e in events:
            if not isinstance(e, Sequence) or len(e) != 4 or e[2] not in (*DECISIONS, "forced"):
                raise ScheduleValueError(f"bad event {e!r}")
            out["events"].append([check_int("event update", e[0]), check_int("event update", e[1]),
                                  e[2], check_int("event position", e[3])])
        return out

    def apply_state(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        self.pending = deque(state["pending"])
        self.pace, self.credit = state["pace"], state["credit"]
        self.controller = StabilityController(self.rule)
        self.controller.load(state["controller"])
        self.warmup_end = state["warmup_end"]
        self.replanned = state["replanned"]
        self.events = [list(e) for e in state["events"]]
        super().apply_state(state)

    def __repr__(self) -> str:
        return (f"AdaptiveWarmup(position={self.position}, updates={self.updates}, "
                f"warmup_end={self.warmup_end})")
