"""Error and warning types shared by every part of rampup.

Every bad argument is reported when a schedule or scheduler is built, through one of these types,
so that callers can catch ``RampupError`` or the familiar ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
import warnings
from collections.abc import Iterable, Mapping, Set
from decimal import Decimal

import numpy as np


class RampupError(Exception):
    """Base class of every error rampup raises on purpose."""


class ScheduleValueError(RampupError, ValueError):
    """An argument has the right type but a value outside its allowed range."""


class ScheduleTypeError(RampupError, TypeError):
    """An argument has the wrong type, or an option name is unknown."""


class OptionError(RampupError, ValueError):
    """A setting of a tool built on the schedules (the command line, plots, the demo) is bad:
    an option value, an output path, or options that contradict each other."""


class MissingDependencyError(RampupError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the
    extra to install (e.g. ``pip install 'rampup[plot]'``)."""


class RampupWarning(UserWarning):
    """Category of every warning rampup emits; each names the fix."""


_warned: set[str] = set()


def warn_once(key: str, message: str, stacklevel: int = 3) -> None:
    """Emit ``message`` as a RampupWarning the first time ``key`` is seen in this process."""
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(message, RampupWarning, stacklevel=stacklevel)


def closest(name: str, choices: Iterable[str]) -> str:
    """A 'did you mean' suffix for an unknown name, or an empty string."""
    if not isinstance(name, str) or len(name) > 100:  # difflib is quadratic in the length
        return ""
    match = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str)], n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


MAX_STEP = 2**62
"""The largest step, step count or other integer option rampup accepts (4.6e18): every integer
a schedule computes with stays exact in int64, and every step up to here is exact on both the
per-step and the numpy paths."""

MAX_MULTIPLIER = 1e6
"""The largest multiplier of the peak rate a schedule may produce (a ``Constant``, a one-cycle
start above the peak, the product of a ``multiply``): options that could exceed it are refused when
the schedule is built, so no evaluation can overflow to inf."""


class _ShortRepr(reprlib.Repr):
    """reprlib with bounded work on any value: huge ints are not converted to text (Python
    refuses more than 4300 digits, and it is slow), nesting and lengths are cut short."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 3
        self.maxstring = 60
        self.maxother = 60
        self.maxlong = 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 6

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1} digits>"
        return super().repr_int(x, level)


_SHORT = _ShortRepr()


def show(value: object) -> str:
    """A short, bounded ``repr`` of any value for an error message."""
    try:
        return _SHORT.repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__name__} object>"


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(name: str, value: object, *, minimum: int = 0, maximum: int = MAX_STEP) -> int:
    """Accept a whole number (int or numpy integer, not bool or float) in [minimum, maximum]."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        hint = ""
        if isinstance(value, float):
            hint = " (a float is not a step count; give a fraction through the *_fraction or '10%' forms)"
        raise ScheduleTypeError(
            f"{name} must be an integer >= {minimum}, got {show(value)} of type "
            f"{type(value).__name__}{hint}"
        )
    number = int(value)
    if number < minimum or number > maximum:
        high = "2**62" if maximum == MAX_STEP else str(maximum)
        raise ScheduleValueError(
            f"{name} must be an integer in [{minimum}, {high}], got {show(number)}"
        )
    return number


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Accept a finite real number within [low, high] (open ends where asked), as a Python float.

    Any real number converts: int, float, numpy numbers, Fraction, Decimal. The result is a plain
    float (``np.float32(0.1)`` becomes ``0.10000000149011612``), so that every path that reads it,
    and its JSON form, sees the same number; -0.0 becomes 0.0.
    """
    if _is_bool(value) or not isinstance(value, (numbers.Real, Decimal)):
        raise ScheduleTypeError(
            f"{name} must be a real number, got {show(value)} of type {type(value).__name__}"
        )
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    allowed = (f"in {left}{'-inf' if low is None else f'{low:g}'}, "
               f"{'inf' if high is None else f'{high:g}'}{right}")
    try:
        number = float(value)
    except (OverflowError, ValueError):  # a huge int or Fraction, a signalling Decimal NaN
        raise ScheduleValueError(f"{name} must be a finite number {allowed}, got {show(value)}") from None
    if not math.isfinite(number):
        raise ScheduleValueError(f"{name} must be a finite number {allowed}, got {show(value)}")
    number += 0.0  # -0.0 -> 0.0
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        raise ScheduleValueError(f"{name} must be {allowed}, got {number:g}")
    return number


def check_int_list(name: str, value: object) -> tuple[int, ...]:
    """Accept a sequence of integers (list, tuple, range, 1-d integer array) as a tuple of ints."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ScheduleTypeError(f"{name} must be a list of integers, got a {value.ndim}-d array")
        value = value.tolist()
    if isinstance(value, (str, bytes, Mapping, Set)) or not isinstance(value, Iterable):
        raise ScheduleTypeError(f"{name} must be a list of integers, got {show(value)}")
    return tuple(check_int(name, item) for item in value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Accept one of a fixed set of strings, suggesting the closest on a miss; returns a plain
    str (a numpy string becomes one, so that YAML can write it)."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        suggestion = closest(value[:100], options) if isinstance(value, str) else ""
        raise ScheduleValueError(
            f"{name} must be one of {', '.join(repr(o) for o in options)}, got {show(value)}."
            f"{suggestion}"
        )
    return str(value)


def check_peak_times_schedule(peak: float, schedule: object) -> None:
    """Refuse a peak rate whose product with the schedule's largest value overflows."""
    bound = float(getattr(schedule, "upper_bound")())  # noqa: B009 - any Schedule
    if not math.isfinite(peak * bound):
        raise ScheduleValueError(
            f"peak_lr={peak:g} times the schedule's largest multiplier ({bound:g}) overflows; "
            "give a smaller peak_lr"
        )
