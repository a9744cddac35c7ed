"""Per-parameter-group plumbing shared by rampup's torch schedulers.

The one place that reads and writes a parameter group's values: the rate, momentum, Adam's betas,
weight decay and the ``initial_*`` keys that record their bases (a tensor value is filled in
place, never replaced or aliased, so a ``torch.compile``d optimizer step keeps reading the same
tensor). Also: checking the optimizer, and spreading one schedule, or one per group, over its
groups. (The scheduler's per-step path assigns float rates itself, inlined: see
``Scheduler.step``.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from rampup.errors import RampupError, ScheduleTypeError, ScheduleValueError
from rampup.schedules import Schedule
from rampup.schedules.base import SCALAR


def check_optimizer(optimizer: object) -> Optimizer:
    """The optimizer, if it is a torch optimizer with at least one parameter group."""
    if not isinstance(optimizer, Optimizer):
        raise ScheduleTypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if not optimizer.param_groups:
        raise ScheduleValueError("optimizer has no parameter groups: nothing to schedule")
    return optimizer


def as_float(value: object) -> float:
    """A Python float from a float or a 0-d tensor."""
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)  # type: ignore[arg-type]


def read_value(group: Mapping[str, Any], key: str, index: int | None = None) -> Any:
    """``group[key]``, or its entry ``index`` (``betas[0]``); a float or a tensor, as stored."""
    value = group[key]
    return value if index is None else value[index]


def write_value(group: dict[str, Any], key: str, value: float, index: int | None = None) -> None:
    """Set ``group[key]`` (or its entry ``index``) to ``value``.

    A tensor is filled in place (never replaced, never aliased); in a tuple or list (``betas``) only
    entry ``index`` changes and the container keeps its type.
    """
    current = group[key]
    if index is None:
        if isinstance(current, torch.Tensor):
            current.fill_(value)
        else:
            group[key] = value
    elif isinstance(current[index], torch.Tensor):
        current[index].fill_(value)
    else:
        pair = list(current)
        pair[index] = value
        group[key] = tuple(pair) if isinstance(current, tuple) else pair


def write_rate(group: dict[str, Any], lr: float) -> None:
    """Set a group's rate; a tensor rate is filled in place (never replaced, never aliased)."""
    write_value(group, "lr", lr)


def write_rates(optimizer: Optimizer, lrs: Sequence[float]) -> None:
    """Set every group's rate (tensor rates in place), one value per group."""
    for group, lr in zip(optimizer.param_groups, lrs, strict=True):
        write_value(group, "lr", lr)


def read_rates(optimizer: Optimizer) -> list[float]:
    """Every group's current rate, as floats."""
    return [float(group["lr"]) for group in optimizer.param_groups]


def initial_lrs(optimizer: Optimizer) -> list[float]:
    """Each group's peak rate: its ``initial_lr`` if a scheduler set one before, else its ``lr``.

    ``initial_lr`` is written back (as torch's schedulers do) so other tools can read it.
    """
    peaks = []
    for group in optimizer.param_groups:
        peak = as_float(group.get("initial_lr", group["lr"]))
        group.setdefault("initial_lr", peak)
        peaks.append(peak)
    return peaks


def set_initial(optimizer: Optimizer, name: str, values: Sequence[float], *, keep: bool = False) -> None:
    """Record each group's base value of ``name`` as ``initial_<name>`` (``initial_lr``,
    ``initial_momentum``...), as torch's schedulers record ``initial_lr``; ``keep=True`` leaves a
    value that is already recorded."""
    key = f"initial_{name}"
    for group, value in zip(optimizer.param_groups, values, strict=True):
        if keep:
            group.setdefault(key, value)
        else:
            group[key] = value


def to_tensor_lrs(optimizer: Optimizer, dtype: torch.dtype = torch.float32) -> None:
    """Turn every group's float rate into a 0-d tensor (for ``torch.compile``d optimizer steps).

    Examples:
        >>> from rampup.torch import to_tensor_lrs
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> to_tensor_lrs(opt)
        >>> lr = opt.param_groups[0]["lr"]
        >>> type(lr).__name__, lr.dim(), lr.dtype, round(lr.item(), 6)
        ('Tensor', 0, torch.float32, 0.1)
    """
    for group in check_optimizer(optimizer).param_groups:
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), dtype=dtype)


def has_tensor_rates(optimizer: Optimizer) -> bool:
    """Whether any group's rate is a tensor (then every write goes through :func:`write_rate`)."""
    return any(isinstance(group["lr"], torch.Tensor) for group in optimizer.param_groups)


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
