"""A plain-text summary of a schedule: its phases, the rates at the joints, min and max."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from rampup.errors import MAX_STEP, ScheduleTypeError, check_int, check_real


@runtime_checkable
class Describable(Protocol):
    """What describing reads of a schedule (``rampup.Schedule`` has it all). Written as a
    protocol so that this module needs nothing from the schedules, whose ``describe`` method
    calls it."""

    @property
    def horizon(self) -> int | None: ...

    def __call__(self, step: Any) -> Any: ...

    def segments(self) -> list[tuple[int, int | None, Any]]: ...

    def label(self) -> str: ...


def _fmt(value: float, peak_lr: float | None) -> str:
    return f"{value * peak_lr:.6g}" if peak_lr is not None else f"{value:.6g}"


_ALL_STEPS = 1 << 20


def _probe_steps(total: int, joints: set[int]) -> tuple[np.ndarray, bool]:
    """Steps 0 .. total, or (past 2**20 steps) an even sample of them with every joint and its
    neighbours: the min and max of a long schedule are then those of the sample."""
    if total < _ALL_STEPS:
        return np.arange(total + 1, dtype=np.int64), False
    grid = np.linspace(0, total, _ALL_STEPS).astype(np.int64)
    extra = [0, 1, total - 1, total, *joints, *(b - 1 for b in joints), *(b + 1 for b in joints)]
    steps = np.unique(np.concatenate([grid, np.asarray(extra, dtype=np.int64)]))
    return steps[(steps >= 0) & (steps <= total)], True


def describe(schedule: Describable, total_steps: int | None = None, peak_lr: float | None = None) -> str:
    """Describe ``schedule`` over ``total_steps`` (default: where it stops changing).

    Values are multipliers of the peak, or absolute rates when ``peak_lr`` is given.
    """
    if not isinstance(schedule, Describable):
        raise ScheduleTypeError(f"schedule must be a rampup Schedule, got {type(schedule).__name__}")
    if peak_lr is not None:
        peak_lr = check_real("peak_lr", peak_lr, low=0.0, low_open=True)
    total = None if total_steps is None else check_int("total_steps", total_steps, minimum=1)
    segments = schedule.segments()
    if total is None and schedule.horizon is not None:
        # A schedule constant from step 0 (horizon 0) is still described over its first step.
        total = min(max(schedule.horizon, 1), MAX_STEP)
    unit = "lr" if peak_lr is not None else "multiplier"
    lines = [f"{schedule.label()}" + (f", {total} steps" if total else "") + f" ({unit})"]
    width = len(str(max(total or 0, *(b for b, _, _ in segments)))) + 1
    for begin, end, leaf in segments:
        if (total is not None and begin >= total) or begin > MAX_STEP:
            break  # (nested joins may place phases past the last step there is)
        # A last phase constant from its start (horizon 0) runs to the end, not for 0 steps.
        stop = end if end is not None and end > begin else total
        if total is not None and stop is not None:
            stop = min(stop, total)
        if stop is not None:
            stop = min(stop, MAX_STEP + 1)
        span = f"steps {begin:>{width}} - {stop - 1 if stop else '...':>{width}}"
        value_begin = _fmt(schedule(begin), peak_lr)
        value_end = _fmt(schedule(stop - 1), peak_lr) if stop else "..."
        lines.append(f"  {span}  {leaf.label()}  [{value_begin} -> {value_end}]")
    if total is None:
        lines.append("  keeps changing: pass total_steps for the final value, min and max")
        return "\n".join(lines)
    joints = {b for b, _, _ in segments if 0 < b < total}
    marks = sorted({0, 1, total - 1, total} | joints)
    lines.append("  at step: " + ", ".join(f"{s}: {_fmt(schedule(s), peak_lr)}" for s in marks))
    steps, sampled = _probe_steps(total, joints)
    values = schedule(steps)
    low, high = int(np.argmin(values)), int(np.argmax(values))
    lines.append(
        f"  min {_fmt(float(values[low]), peak_lr)} at step {int(steps[low])}, "
        f"max {_fmt(float(values[high]), peak_lr)} at step {int(steps[high])}"
        + (f" (over {steps.size} sampled steps)" if sampled else "") + "; "
        + (
            f"held at {_fmt(float(values[-1]), peak_lr)} from step {total} on"
            if schedule.horizon is not None and schedule.horizon <= total
            else f"{_fmt(float(values[-1]), peak_lr)} at step {total}, still changing"
        )
    )
    return "\n".join(lines)
