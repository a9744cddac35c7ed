"""Schedules for optimizer hyper-parameters other than the rate: momentum, Adam's betas, weight decay.

``Scheduler(optimizer, lr_schedule, hyperparams={"momentum": s})`` writes ``base * s(step)`` into
each group's ``momentum`` at every step, where ``base`` is the group's value when the scheduler is
attached (kept in the group as ``initial_momentum``, as torch keeps ``initial_lr``, and in the
scheduler's state_dict). ``"beta1"``/``"beta2"`` write ``betas[0]``/``betas[1]`` and keep the
other. Momentum and betas must stay in [0, 1), weight decay >= 0: a schedule that could leave the
range is refused when the scheduler is built (checked at every step up to its end, or over its
first 1,000,000 steps if it has none) and, for steps past that check, when the value is written.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.optim import Optimizer

from rampup.config import config_differences
from rampup.errors import ScheduleTypeError, ScheduleValueError, closest
from rampup.schedules import Schedule
from rampup.schedules.base import SCALAR

# Re-exported from its home with the cyclic shapes, where it was first importable from here.
from rampup.schedules.cyclic import one_cycle_momentum
from rampup.torch.groups import as_float, one_per_group, read_value, set_initial, value_at, write_value

__all__ = [
    "HYPERPARAMS",
    "Hyperparam",
    "attach_hyperparams",
    "one_cycle_momentum",
    "plan_bases",
    "set_bases",
    "state_of",
    "write_hyperparams",
]

# Steps checked for an endless schedule (a schedule with an end is checked up to its end).
_ENDLESS_CHECK = 1_000_000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Spec:
    key: str  # the param-group key
    index: int | None  # position in a tuple value (betas), or None for a plain value
    below_one: bool  # [0, 1) if True, else [0, inf)
    hint: str  # what to schedule instead when the optimizer has no such key


HYPERPARAMS: dict[str, _Spec] = {
    "momentum": _Spec("momentum", None, True,
                      "Adam-style optimizers have betas instead: schedule 'beta1' (betas[0])"),
    "beta1": _Spec("betas", 0, True, "SGD-style optimizers have 'momentum' instead"),
    "beta2": _Spec("betas", 1, True, "this optimizer has no second-moment decay"),
    "weight_decay": _Spec("weight_decay", None, False, "this optimizer has no weight decay"),
}


@dataclass
class Hyperparam:
    """One scheduled hyper-parameter: its name, one schedule and one base value per group.

    ``extremes`` holds, per group, the schedule's (min, max, step of min, step of max) over the
    range checked at attach time, so that a base value loaded later is checked without
    re-evaluating the schedule.
    """

    name: str
    schedules: list[Schedule]
    bases: list[float]
    extremes: list[tuple[float, float, int, int]] = field(default_factory=list)

    @property
    def spec(self) -> _Spec:
        return HYPERPARAMS[self.name]

    def state(self) -> dict[str, Any]:
        return {"bases": list(self.bases), "schedules": [s.to_dict() for s in self.schedules]}


def _range_text(spec: _Spec) -> str:
    return "[0, 1)" if spec.below_one else "[0, inf)"


def _check_value(name: str, spec: _Spec, value: float, where: str) -> None:
    if not (math.isfinite(value) and value >= 0.0 and (value < 1.0 or not spec.below_one)):
        raise ScheduleValueError(f"{name} must stay in {_range_text(spec)}, but {where} it is {value:g}")


def _extremes(schedule: Schedule) -> tuple[float, float, int, int]:
    """(min, max, step of min, step of max) of the schedule over its whole length (or a window)."""
    horizon = schedule.horizon
    last = _ENDLESS_CHECK if horizon is None else horizon
    low = high = schedule(0)
    low_at = high_at = 0
    for start in range(0, last + 1, _CHUNK):
        values = schedule(np.arange(start, min(last + 1, start + _CHUNK)))
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            return math.nan, math.nan, start + bad, start + bad
        i, j = int(np.argmin(values)), int(np.argmax(values))
        if values[i] < low:
            low, low_at = float(values[i]), start + i
        if values[j] > high:
            high, high_at = float(values[j]), start + j
    return low, high, low_at, high_at


def attach_hyperparams(
    optimizer: Optimizer, hyperparams: Mapping[str, Schedule | Sequence[Schedule]]
) -> list[Hyperparam]:
    """Validate ``hyperparams`` against the optimizer and capture each group's base value."""
    if not isinstance(hyperparams, Mapping):
        raise ScheduleTypeError(
            f"hyperparams must be a dict like {{'momentum': schedule}}, got {type(hyperparams).__name__}"
        )
    groups = optimizer.param_groups
    kind = type(optimizer).__name__
    tracks = []
    for name, given in hyperparams.items():
        if name not in HYPERPARAMS:
            raise ScheduleValueError(
                f"unknown hyperparameter {name!r} in hyperparams; known: {', '.join(HYPERPARAMS)}."
                f"{closest(str(name), HYPERPARAMS)}"
            )
        spec = HYPERPARAMS[name]
        schedules = one_per_group(
            given, len(groups), what=f"hyperparams[{name!r}]",
            count_error=f"hyperparams[{name!r}] has {{given}} schedules but the optimizer has "
            "{groups} parameter groups: give one schedule, or one per group",
        )
        bases = []
        for index, group in enumerate(groups):
            if spec.key not in group or (spec.index is not None and not isinstance(
                    group[spec.key], (tuple, list))):
                raise ScheduleValueError(
                    f"cannot schedule {name}: {kind} has no {spec.key!r} in its parameter groups "
                    f"(group {index}); {spec.hint}"
                )
            base = as_float(group.get(f"initial_{name}", read_value(group, spec.key, spec.index)))
            where = f"{spec.key}[{spec.index}]" if spec.index is not None else spec.key
            if base == 0.0:
                raise ScheduleValueError(
                    f"cannot schedule {name}: {where} is 0 in parameter group {index}, and the "
                    f"schedule multiplies it. Create the optimizer with the peak {name} (the value "
                    "the multiplier 1.0 stands for)."
                )
            _check_value(name, spec, base, f"in parameter group {index} (the base value)")
            bases.append(base)
        extremes = []
        for schedule in schedules:
            low, high, low_at, high_at = _extremes(schedule)
            if math.isnan(low):
                raise ScheduleValueError(f"hyperparams[{name!r}] is not finite at step {low_at}")
            extremes.append((low, high, low_at, high_at))
        track = Hyperparam(name, schedules, bases, extremes)
        _check_range(track, bases)
        tracks.append(track)
    # Written only once every track has been checked: a refused scheduler changes nothing.
    for track in tracks:
        set_initial(optimizer, track.name, track.bases, keep=True)
    return tracks


def _check_range(track: Hyperparam, bases: Sequence[float]) -> None:
    """Refuse ``bases`` if ``base * schedule`` leaves the allowed range anywhere it was checked."""
    spec = track.spec
    for index, (schedule, base, (low, high, low_at, high_at)) in enumerate(
            zip(track.schedules, bases, track.extremes, strict=True)):
        span = "over its length" if schedule.horizon is not None else (
            f"over its first {_ENDLESS_CHECK} steps")
        for value, at in ((base * low, low_at), (base * high, high_at)):
            _check_value(track.name, spec, value, f"{span}, at step {at} in parameter group {index} "
                         f"({base:g} x {value / base:g})")


def write_hyperparams(optimizer: Optimizer, tracks: Sequence[Hyperparam], step: int) -> None:
    """Write ``base * schedule(step)`` of every scheduled hyper-parameter into every group."""
    groups = optimizer.param_groups
    for track in tracks:
        spec = track.spec
        for group, base, schedule in zip(groups, track.bases, track.schedules, strict=True):
            value = base * schedule._eval(step, SCALAR)
            if not 0.0 <= value < (1.0 if spec.below_one else math.inf):
                _check_value(track.name, spec, value, f"at step {step}")
            write_value(group, spec.key, value, spec.index)


def state_of(tracks: Sequence[Hyperparam]) -> dict[str, Any]:
    """The plain-data state of the scheduled hyper-parameters, for the scheduler's state_dict."""
    return {track.name: track.state() for track in tracks}


def _saved_bases(name: str, spec: _Spec, value: object, groups: int, where: str) -> list[float]:
    """The saved base values of one hyper-parameter, checked (a list of ``groups`` valid values)."""
    if not isinstance(value, (list, tuple)):
        raise ScheduleTypeError(
            f"{where} must be a list of {groups} base values (one per parameter group), got "
            f"{type(value).__name__}"
        )
    if len(value) != groups:
        raise ScheduleValueError(
            f"the saved {name} has {len(value)} parameter groups, the optimizer {groups}"
        )
    bases = []
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise ScheduleTypeError(
                f"{where}[{index}] must be a real number, got {item!r} of type {type(item).__name__}"
            )
        try:
            base = float(item)
        except OverflowError:
            base = math.inf
        if base == 0.0:
            raise ScheduleValueError(f"{where}[{index}] is 0: a scheduled {name} needs a nonzero base")
        _check_value(name, spec, base, f"{where}[{index}]")
        bases.append(base)
    return bases


def _saved_configs(value: object, groups: int, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, Mapping) for v in value):
        raise ScheduleTypeError(
            f"{where} must be a list of {groups} schedule configs (dicts), got {type(value).__name__}"
        )
    if len(value) != groups:
        raise ScheduleValueError(f"{where} has {len(value)} entries, the optimizer {groups} parameter groups")
    return list(value)


def plan_bases(
    tracks: Sequence[Hyperparam],
    saved: object,
    *,
    policy: str,
    groups: int,
    keep_bases: bool,
    step: int,
) -> list[list[float] | None]:
    """Check the saved hyper-parameter state and return each track's new bases (None: unchanged).

    Nothing is modified; every way the state can be refused raises here, before the scheduler
    assigns anything. The saved schedules must equal this scheduler's unless ``policy`` (the
    scheduler's ``on_config_change``) allows a change; saved base values must be valid for their
    hyper-parameter and keep ``base * schedule`` in range wherever it was checked at attach time
    and at ``step``, the step being restored.
    """
    if not isinstance(saved, Mapping):
        raise ScheduleTypeError(
            "state_dict['hyperparams'] must be a dict like {'momentum': {'bases': [...], "
            f"'schedules': [...]}}}}, got {type(saved).__name__}"
        )
    parsed: dict[str, tuple[list[float], list[Mapping[str, Any]]]] = {}
    for name, entry in saved.items():
        where = f"state_dict['hyperparams'][{name!r}]"
        if not isinstance(name, str) or name not in HYPERPARAMS:
            raise ScheduleValueError(
                f"unknown hyperparameter {name!r} in state_dict['hyperparams']; known: "
                f"{', '.join(HYPERPARAMS)}"
            )
        if not isinstance(entry, Mapping) or set(entry) != {"bases", "schedules"}:
            found = sorted(map(str, entry)) if isinstance(entry, Mapping) else type(entry).__name__
            raise ScheduleValueError(
                f"{where} must be a dict with the keys 'bases' and 'schedules', got {found}"
            )
        parsed[name] = (_saved_bases(name, HYPERPARAMS[name], entry["bases"], groups, f"{where}['bases']"),
                        _saved_configs(entry["schedules"], groups, f"{where}['schedules']"))
    if policy == "error":
        current = {track.name for track in tracks}
        if set(parsed) != current:
            raise ScheduleValueError(
                f"the saved state schedules hyperparameters {sorted(parsed)}, this scheduler "
                f"{sorted(current)}. Pass on_config_change='keep_step' or 'keep_fraction' to resume anyway."
            )
        differences = []
        for track in tracks:
            schedules = [s.to_dict() for s in track.schedules]
            differences += config_differences(parsed[track.name][1], schedules,
                                              f"hyperparams.{track.name}.schedules")
        if differences:
            raise ScheduleValueError(
                "the saved state is for different hyperparameter schedules: " + "; ".join(differences)
                + ". Pass on_config_change='keep_step' or 'keep_fraction' to resume anyway."
            )
    plan: list[list[float] | None] = []
    for track in tracks:
        new = None if keep_bases or track.name not in parsed else parsed[track.name][0]
        bases = track.bases if new is None else new
        if new is not None:
            _check_range(track, new)
        spec = track.spec
        for index, (schedule, base) in enumerate(zip(track.schedules, bases, strict=True)):
            multiplier = value_at(schedule, step, f"hyperparams[{track.name!r}] (group {index})")
            _check_value(track.name, spec, base * multiplier,
                         f"at step {step} (the step restored) in parameter group {index}")
        plan.append(new)
    return plan


def set_bases(optimizer: Optimizer, tracks: Sequence[Hyperparam], plan: Sequence[list[float] | None]) -> None:
    """Apply :func:`plan_bases`' result: new bases, and each group's ``initial_<name>``."""
    for track, bases in zip(tracks, plan, strict=True):
        if bases is not None:
            track.bases = list(bases)
            set_initial(optimizer, track.name, track.bases)
