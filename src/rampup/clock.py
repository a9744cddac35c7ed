"""Clocks: how training progress becomes schedule time (framework-free).

Schedules are pure functions of their own integer time. A scheduler maps each completed optimizer
update to that time in two stages:

1. a :class:`Clock` turns the updates seen so far into an integer **position** in its unit:
   updates (:class:`UpdateClock`, the default), tokens or samples (:class:`CountClock`, advanced by
   the count passed with each update), or milliseconds of measured training time
   (:class:`TimeClock`);
2. a :class:`~rampup.warp.Warp` (piecewise linear, integer; in :mod:`rampup.warp`, also importable
   from here) maps the position to schedule time, so a plan can be stretched or shortened while
   running: ``time = t0 + floor((p - p0) * num / den)`` on the segment ``(p0, t0, num, den)`` that
   holds ``p``. No warp is the identity.

Everything here is plain integers and floats, so a clock's state and a warp round-trip exactly
through ``state_dict`` and JSON, and a resumed run continues bit for bit.
"""

from __future__ import annotations

import math
import numbers
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int, check_real
from rampup.warp import Segment as Segment  # (re-exported: the warp lived here before)
from rampup.warp import Warp as Warp
from rampup.warp import check_segments as check_segments

SIGNALS = frozenset({"loss", "tokens", "samples", "time", "grad_norm", "update_ratio"})
"""The names a scheduler accepts as signals of one update (``scheduler.step(tokens=n)``).

``tokens`` / ``samples``: how many the update consumed (global, over all processes); ``time``:
when the update was seen, in seconds of any monotonic clock; ``loss``, ``grad_norm``,
``update_ratio``: floats for clocks that adapt to training (ignored by the others).
"""


def check_signals(signals: Mapping[str, Any]) -> None:
    """Reject signal names no clock knows (a typo would otherwise be ignored silently)."""
    for name in signals:
        if name not in SIGNALS:
            raise ScheduleTypeError(
                f"scheduler.step() got an unknown signal {name!r}; known: "
                f"{', '.join(sorted(SIGNALS))}"
            )


class Clock:
    """Turns completed optimizer updates into an integer schedule position (``>= 0``).

    Subclasses set ``kind`` (their name in configs) and ``unit``, and implement ``advance``.
    ``counts_updates`` is true only for :class:`UpdateClock`, whose position the scheduler keeps
    itself (its update count), so the default per-step path does no clock work at all.
    """

    kind: ClassVar[str] = ""
    unit: ClassVar[str] = ""
    counts_updates: ClassVar[bool] = False

    def __init__(self) -> None:
        self.position = 0

    def advance(self, signals: Mapping[str, Any]) -> None:
        """One optimizer update completed with these signals. Validates before changing."""
        raise NotImplementedError

    def start(self) -> None:
        """Called when a scheduler attaches the clock or loads its state (resets any timer)."""

    def attach(self, scheduler: Any) -> None:
        """Called once by the scheduler that takes this clock, before its first rate is written
        (a clock that changes the plan keeps the scheduler here; the default needs nothing)."""

    def report(self) -> dict[str, Any]:
        """What the clock adds to ``scheduler.report()`` (default: nothing)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Plain data: everything needed to continue exactly."""
        return {"position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output; a bad state raises and changes nothing."""
        checked = self.check_state(state)
        self.apply_state(checked)

    def check_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The validated state (plain data), without applying it."""
        if not isinstance(state, Mapping):
            raise ScheduleTypeError(f"clock state must be a dict, got {type(state).__name__}")
        return {"position": check_int("clock position", state.get("position"))}

    def apply_state(self, state: dict[str, Any]) -> None:
        self.position = state["position"]
        self.start()

    def to_dict(self) -> dict[str, Any]:
        """Its configuration: compared with the saved one when a run resumes."""
        return {"clock": self.kind}

    def amount(self, value: Any, name: str = "duration", minimum: int = 0) -> int:
        """A duration in this clock's unit, as an integer number of positions.

        An int is taken as it is; strings are described by the subclass.
        """
        return check_int(name, value, minimum=minimum)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(position={self.position})"


class UpdateClock(Clock):
    """The default: one position per optimizer update. Signals are ignored."""

    kind = "updates"
    unit = "updates"
    counts_updates = True

    def advance(self, signals: Mapping[str, Any]) -> None:
        self.position += 1

    def amount(self, value: Any, name: str = "duration", minimum: int = 0) -> int:
        """A number of updates: an int or a digit string such as ``"500"``."""
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        return check_int(name, value, minimum=minimum)


_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmbgt]?)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNIT_WORDS = {"tokens": ("tok", "tokens", "token"), "samples": ("samples", "sample", "sa")}


class CountClock(Clock):
    """Counts tokens or samples: each update advances by the count passed with it.

    ``scheduler.step(tokens=n)``: ``n`` is what that update consumed over all processes (an int
    ``>= 0``); it must be given with every update. Durations are integers in the unit, or strings
    with a decimal suffix: ``"2B tok"`` = 2e9 tokens, ``"500M"``, ``"1.5k samples"`` (k, M, B/G, T).
    Use :class:`TokenClock` or :class:`SampleClock`.
    """

    def advance(self, signals: Mapping[str, Any]) -> None:
        count = signals.get(self.unit)
        if count is None:
            raise ScheduleValueError(
                f"this scheduler counts {self.unit}: pass {self.unit}=<{self.unit} in this update> "
                f"to every scheduler.step() call (missing {self.unit})"
            )
        if isinstance(count, bool) or not isinstance(count, numbers.Integral):
            raise ScheduleTypeError(
                f"{self.unit} must be an integer count of this update's {self.unit}, got "
                f"{count!r} of type {type(count).__name__}"
            )
        if count < 0:
            raise ScheduleValueError(
                f"{self.unit} must be >= 0 (the {self.unit} of this one update), got {count}: the "
                f"{self.unit} count cannot go backwards"
            )
        self.position += int(count)

    def amount(self, value: Any, name: str = "duration", minimum: int = 0) -> int:
        """``2_000_000_000``, ``"2B"``, ``"2B tok"``, ``"1.5M samples"`` -> a whole count."""
        if isinstance(value, str):
            match = _COUNT.match(value)
            words = _UNIT_WORDS.get(self.unit, (self.unit,))
            if not match or (match.group(3) and match.group(3).lower() not in words):
                raise ScheduleValueError(
                    f"{name}={value!r} is not a number of {self.unit}: use an integer or a string "
                    f"like '2B {words[0]}', '500M' or '1.5k' (suffixes k, M, B/G, T)"
                )
            exact = Decimal(match.group(1)) * _MULTIPLIERS[match.group(2).lower()]
            if exact != exact.to_integral_value():
                raise ScheduleValueError(f"{name}={value!r} is not a whole number of {self.unit}")
            value = int(exact)
        return check_int(name, value, minimum=minimum)


class TokenClock(CountClock):
    """A clock counting tokens: ``scheduler.step(tokens=n)`` after every update."""

    kind = "tokens"
    unit = "tokens"


class SampleClock(CountClock):
    """A clock counting samples: ``scheduler.step(samples=n)`` after every update."""

    kind = "samples"
    unit = "samples"


_TIME = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|sec|min|m|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0,
            "d": 86400.0}


class TimeClock(Clock):
    """Measured training time, in milliseconds: position = ``floor(1000 * elapsed seconds)``.

    Each update adds the time since the previous one (or since the clock started: when the
    scheduler was built or its state loaded, so time spent down between a save and a resume does
    not count). ``scheduler.step(time=t)`` gives the update's own timestamp (seconds, any
    monotonic origin as ``source``); otherwise ``source()`` is read (default ``time.monotonic``;
    inject another to test). ``elapsed`` is in the state, so a resumed run continues the same budget.
    Durations: seconds as a number, or strings ``"90s"``, ``"30min"``, ``"2h"``, ``"500ms"``.
    """

    kind = "time"
    unit = "ms"

    def __init__(self, source: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.source = time.monotonic if source is None else source
        if not callable(self.source):
            raise ScheduleTypeError(f"source must be a function returning seconds, got {source!r}")
        self.elapsed = 0.0
        self._last: float | None = None

    def start(self) -> None:
        """The first update's time counts from now (a scheduler calls this when built or resumed)."""
        self._last = check_real("time", self.source())

    def _now(self, signals: Mapping[str, Any]) -> float:
        given = signals.get("time")
        now = self.source() if given is None else given
        return check_real("time", now)

    def advance(self, signals: Mapping[str, Any]) -> None:
        now = self._now(signals)
        last = self._last
        if last is not None and now < last:
            raise ScheduleValueError(
                f"time went backwards: {now:g} s after {last:g} s (pass monotonic times)"
            )
        if last is not None:
            self.elapsed += now - last
            self.position = math.floor(self.elapsed * 1000.0)
        self._last = now

    def mark(self, now: float | None = None) -> None:
        """Start timing the next update from ``now`` (default: ``source()``)."""
        self._last = check_real("now", self.source() if now is None else now)

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position, "elapsed": self.elapsed}

    def check_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        out = super().check_state(state)
        out["elapsed"] = check_real("clock elapsed", state.get("elapsed"), low=0.0)
        if math.floor(out["elapsed"] * 1000.0) != out["position"]:
            raise ScheduleValueError(
                f"clock state is inconsistent: elapsed {out['elapsed']!r} s is not position "
                f"{out['position']} ms"
            )
        return out

    def apply_state(self, state: dict[str, Any]) -> None:
        self.elapsed = state["elapsed"]
        super().apply_state(state)

    def amount(self, value: Any, name: str = "duration", minimum: int = 0) -> int:
        """Seconds (a number) or ``"90s"`` / ``"30min"`` / ``"2h"`` / ``"500ms"`` -> milliseconds."""
        if isinstance(value, str):
            match = _TIME.match(value)
            if not match:
                raise ScheduleValueError(
                    f"{name}={value!r} is not a time: use seconds (a number) or a string like "
                    "'90s', '30min', '2h' or '500ms'"
                )
            seconds = float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]
        else:
            seconds = check_real(name, value, low=0.0)
        ms = round(seconds * 1000.0)
        if ms < minimum:
            raise ScheduleValueError(
                f"{name} must be at least {minimum} ms, got {value!r} ({ms} ms)"
            )
        return ms

    def __repr__(self) -> str:
        return f"TimeClock(elapsed={self.elapsed:g} s)"


CLOCKS = ("updates", "tokens", "samples", "time")


def clock_from_dict(config: Mapping[str, Any]) -> Clock:
    """The clock a ``to_dict()`` describes (a time clock gets the default time source)."""
    kind = config.get("clock") if isinstance(config, Mapping) else None
    if kind == "updates":
        return UpdateClock()
    if kind == "tokens":
        return TokenClock()
    if kind == "samples":
        return SampleClock()
    if kind == "time":
        return TimeClock()
    raise ScheduleValueError(f"unknown clock {kind!r}; known: {', '.join(CLOCKS)}")


def as_clock(value: Clock | str | None) -> Clock:
    """A clock from an instance, a name (``"updates"``, ``"tokens"``, ``"samples"``, ``"time"``)
    or None (updates)."""
    if value is None:
        return UpdateClock()
    if isinstance(value, Clock):
        return value
    if isinstance(value, str):
        if value not in CLOCKS:
            raise ScheduleValueError(f"clock must be one of {', '.join(map(repr, CLOCKS))}, got {value!r}")
        return clock_from_dict({"clock": value})
    raise ScheduleTypeError(f"clock must be a rampup Clock or a clock name, got {type(value).__name__}")


def schedule_in(clock: Clock | str, name: str, *, total: Any = None, warmup: Any = None,
                **options: Any) -> Any:
    """``rampup.schedule(name, ...)`` with lengths in ``clock``'s unit.

    ``schedule_in("tokens", "warmup_cosine", warmup="200M", total="2B tok")`` or
    ``schedule_in(TimeClock(), "wsd", warmup="5min", total="2h")``: ``total`` and ``warmup``, and
    options that count steps (``decay_steps`` ...), go through ``clock.amount``; a total that is
    not positive is an error naming ``total``. Use the same clock in the Scheduler.
    """
    from rampup.names import entry, schedule

    clock = as_clock(clock)
    kwargs = dict(options)
    for key in entry(name).durations & kwargs.keys():
        if isinstance(kwargs[key], str) and not kwargs[key].strip().endswith(("%", "ep")):
            kwargs[key] = clock.amount(kwargs[key], key)
    if total is not None:
        kwargs["total_steps"] = clock.amount(total, "total", minimum=1)
    if warmup is not None:
        kwargs["warmup_steps"] = clock.amount(warmup, "warmup")
    return schedule(name, **kwargs)
