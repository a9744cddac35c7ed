"""Error and warning types shared by every part of rampup.

Every bad argument is reported when a schedule or scheduler is built, through one of these types,
so that callers can catch ``RampupError`` or the familiar ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings
from collections.abc import Iterable


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
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def check_int(name: str, value: object, *, minimum: int = 0) -> int:
    """Accept a whole number of steps (int or numpy integer, not bool or float) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        hint = ""
        if isinstance(value, float):
            hint = " (a float is not a step count; give a fraction through the *_fraction or '10%' forms)"
        raise ScheduleTypeError(
            f"{name} must be an integer >= {minimum}, got {value!r} of type "
            f"{type(value).__name__}{hint}"
        )
    if value < minimum:
        raise ScheduleValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Accept a finite real number within [low, high] (open ends where asked)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScheduleTypeError(
            f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ScheduleValueError(f"{name} must be finite, got {number}")
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if below or above:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        low_text = "-inf" if low is None else f"{low:g}"
        high_text = "inf" if high is None else f"{high:g}"
        raise ScheduleValueError(
            f"{name} must be in {left}{low_text}, {high_text}{right}, got {number:g}"
        )
    return number


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Accept one of a fixed set of strings, suggesting the closest on a miss."""
    options = list(choices)
    if not isinstance(value, str) or value not in options:
        suggestion = closest(value, options) if isinstance(value, str) else ""
        raise ScheduleValueError(
            f"{name} must be one of {', '.join(repr(o) for o in options)}, got {value!r}."
            f"{suggestion}"
        )
    return value
