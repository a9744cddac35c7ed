"""Per-parameter-group plumbing shared by rampup's torch schedulers.

Reading and writing rates (a tensor rate is filled in place, never replaced or aliased) and
spreading one schedule, or one per group, over an optimizer's parameter groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError
from rampup.schedules import Schedule
from rampup.schedules.base import SCALAR


def as_float(value: object) -> float:
    """A Python float from a float or a 0-d tensor."""
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)  # type: ignore[arg-type]


def write_rate(group: dict[str, Any], lr: float) -> None:
    """Set a group's rate; a tensor rate is filled in place (never replaced, never aliased)."""
    current = group["lr"]
    if isinstance(current, torch.Tensor):
        current.fill_(lr)
    else:
        group["lr"] = lr


def write_rates(optimizer: Optimizer, lrs: Sequence[float]) -> None:
    """Set every group's rate (tensor rates in place), one value per group."""
    for group, lr in zip(optimizer.param_groups, lrs, strict=True):
        write_rate(group, lr)


def read_rates(optimizer: Optimizer) -> list[float]:
    """Every group's current rate, as floats."""
    return [float(group["lr"]) for group in optimizer.param_groups]


def one_per_group(given: object, groups: int, *, what: str, count_error: str) -> list[Schedule]:
    """``given`` (one schedule, or a list with one per group) as a list of ``groups`` schedules.

    ``what`` names the argument in the type error; ``count_error`` is the value error's message,
    formatted with ``given`` (how many were given) and ``groups``.
    """
    if isinstance(given, Schedule):
        return [given] * groups
    if isinstance(given, Sequence) and not isinstance(given, (str, bytes)):
        schedules = list(given)
        if len(schedules) != groups:
            raise ScheduleValueError(count_error.format(given=len(schedules), groups=groups))
        for item in schedules:
            if not isinstance(item, Schedule):
                raise ScheduleTypeError(f"every entry of {what} must be a rampup Schedule, got {item!r}")
        if schedules:
            return schedules
    kind = "a function" if callable(given) else f"{type(given).__name__} {given!r}"
    raise ScheduleTypeError(
        f"{what} must be a rampup Schedule or a list of them (one per group), got {kind}; build one "
        "with rampup.schedule(...) or the shapes in rampup (plain callables cannot be saved in a "
        "state_dict and resumed)"
    )


def value_at(schedule: Schedule, step: int, what: str) -> float:
    """``schedule`` at ``step`` as the per-step path computes it, or a RampupError naming ``what``.

    For restoring a saved step: the value is computed (and found finite) before anything is
    assigned, so an unreachable step is refused instead of failing half-way through a load.
    """
    try:
        value = float(schedule._eval(step, SCALAR))
    except RampupError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
        raise ScheduleValueError(f"{what} cannot be evaluated at step {step}: {exc}") from exc
    if not math.isfinite(value):
        raise ScheduleValueError(f"{what} is not finite at step {step} ({value})")
    return value
