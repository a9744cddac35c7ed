"""Checks for saved scheduler states, shared by rampup's torch schedulers.

A state handed to ``load_state_dict`` is untrusted data (a file, an old version, a hand edit).
Every loader here checks all of it and computes what it will assign before assigning anything, so
a refused state (a RampupError naming the field) leaves the scheduler and the optimizer as they
were. A wrapped torch scheduler's own state cannot be checked field by field (its loader takes
anything); :func:`load_nested` checks it against the shape of the state it has now and undoes the
load if torch's loader fails half-way.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Collection, Mapping
from typing import Any

from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError

__all__ = [
    "MAX_COUNT",
    "check_keys",
    "check_like",
    "load_nested",
    "saved_count",
    "saved_flag",
    "saved_mapping",
    "saved_rates",
    "saved_real",
]

# Counts in a saved state are bounded like a C long, as torch's own counters.
MAX_COUNT = sys.maxsize


def _where(key: str) -> str:
    return key if key.startswith("state_dict") else f"state_dict[{key!r}]"


def saved_mapping(state: object, what: str) -> Mapping[str, Any]:
    """``state`` if it is a dict-like state, else a ScheduleTypeError naming ``what``."""
    if not isinstance(state, Mapping):
        raise ScheduleTypeError(f"{what} must be a dict (from state_dict()), got {type(state).__name__}")
    return state


def check_keys(
    state: Mapping[str, Any],
    required: Collection[str],
    optional: Collection[str] = (),
    what: str = "state_dict",
) -> None:
    """Refuse unknown and missing keys, naming them."""
    unknown = [key for key in state if key not in required and key not in optional]
    if unknown:
        raise ScheduleValueError(
            f"{what} has unknown keys {sorted(map(repr, unknown))}; expected {', '.join(required)}"
            + (f" and optionally {', '.join(optional)}" if optional else "")
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise ScheduleValueError(f"{what} is missing {', '.join(map(repr, missing))}")


def saved_count(key: str, value: object, minimum: int = 0) -> int:
    """A count from a saved state: an integer in [minimum, 2**63 - 1]."""
    where = _where(key)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ScheduleTypeError(
            f"{where} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}"
        )
    number = int(value)
    if not minimum <= number <= MAX_COUNT:
        shown = number if number.bit_length() <= 64 else f"an integer of {number.bit_length()} bits"
        raise ScheduleValueError(f"{where} must be an integer in [{minimum}, 2**63 - 1], got {shown}")
    return number


def saved_flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ScheduleTypeError(f"{_where(key)} must be True or False, got {value!r}")
    return value


def _number(where: str, value: object) -> float:
    """A real number (not a bool) as a float; a huge int or fraction becomes +-inf."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScheduleTypeError(
            f"{where} must be a real number, got {value!r} of type {type(value).__name__}"
        )
    try:
        return float(value)
    except OverflowError:  # only huge ints and fractions overflow
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def saved_real(key: str, value: object, *, finite: bool = True) -> float:
    """A real number from a saved state (never NaN; infinite only if ``finite`` is False)."""
    where = _where(key)
    number = _number(where, value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ScheduleValueError(f"{where} must be {'finite' if finite else 'a number'}, got {number!r}")
    return number


def saved_rates(key: str, value: object, groups: int) -> list[float]:
    """Rates from a saved state: a list of one finite rate >= 0 per parameter group."""
    where = _where(key)
    if not isinstance(value, (list, tuple)):
        raise ScheduleTypeError(
            f"{where} must be a list of {groups} rates (one per parameter group), got "
            f"{type(value).__name__}"
        )
    if len(value) != groups:
        raise ScheduleValueError(
            f"the saved state has {len(value)} parameter groups ({where}), the optimizer {groups}"
        )
    rates = []
    for index, item in enumerate(value):
        rate = _number(f"{where}[{index}]", item)
        if not (math.isfinite(rate) and rate >= 0.0):
            raise ScheduleValueError(f"{where}[{index}] must be a finite rate >= 0, got {rate!r}")
        rates.append(rate)
    return rates


def check_like(saved: object, current: object, where: str) -> None:
    """Refuse ``saved`` unless it has the shape of ``current`` (a state of the same scheduler).

    Same types (a float may be given as an int; a finite value stays finite; a count that is not
    negative stays so), same lengths of lists, the same keys in dicts (keys the current state
    lacks are refused; keys it has may be missing, as torch's loaders keep the current value).
    ``None`` and values of other types (tensors, objects) are not checked.
    """
    if current is None:
        return
    if isinstance(current, bool):
        saved_flag(where, saved)
    elif isinstance(current, numbers.Integral):
        saved_count(where, saved, 0) if int(current) >= 0 else saved_real(where, saved, finite=False)
    elif isinstance(current, numbers.Real):
        saved_real(where, saved, finite=math.isfinite(current))
    elif isinstance(current, str):
        if not isinstance(saved, str):
            raise ScheduleTypeError(f"{where} must be a string, got {type(saved).__name__}")
    elif isinstance(current, (list, tuple)):
        if not isinstance(saved, (list, tuple)):
            raise ScheduleTypeError(f"{where} must be a list, got {type(saved).__name__}")
        if len(saved) != len(current):
            raise ScheduleValueError(f"{where} has {len(saved)} entries, expected {len(current)}")
        for index, (a, b) in enumerate(zip(saved, current, strict=True)):
            check_like(a, b, f"{where}[{index}]")
    elif isinstance(current, Mapping):
        if not isinstance(saved, Mapping):
            raise ScheduleTypeError(f"{where} must be a dict, got {type(saved).__name__}")
        unknown = [key for key in saved if key not in current]
        if unknown:
            raise ScheduleValueError(f"{where} has unknown keys {sorted(map(repr, unknown))}")
        for key, value in saved.items():
            check_like(value, current[key], f"{where}[{key!r}]")


def load_nested(scheduler: Any, state: object, where: str) -> None:
    """Load a wrapped scheduler's state all or nothing.

    rampup's own schedulers load all or nothing themselves. A torch scheduler's state is first
    checked against the shape of its current one (:func:`check_like`); its loader then runs, and
    if it fails its attributes are put back and the failure is a RampupError naming ``where``.
    """
    saved = saved_mapping(state, where)
    if getattr(scheduler, "_loads_atomically", False):
        try:
            scheduler.load_state_dict(saved)
        except RampupError as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        return
    check_like(saved, scheduler.state_dict(), where)
    before = dict(scheduler.__dict__)
    try:
        scheduler.load_state_dict(dict(saved))
    except Exception as exc:  # torch's loaders take anything; undo whatever they set
        scheduler.__dict__.clear()
        scheduler.__dict__.update(before)
        raise ScheduleValueError(f"{where} was refused by {type(scheduler).__name__}: {exc}") from exc
