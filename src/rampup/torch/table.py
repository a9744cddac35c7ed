"""Tables of precomputed steps: what :class:`~rampup.torch.Scheduler`'s per-step path reads.

The per-step path reads the shared schedule's multiplier from a table of the next steps, a tuple
``(first step, number of steps, their multipliers as a list of floats)``, filled ahead of the run
in one of two ways:

- on a span where the schedule is constant by its structure (a :class:`~rampup.schedules.Constant`
  phase of a join, e.g. the stable phase of warmup-stable-decay, or any schedule from its
  ``horizon`` on), the per-step formula's value at the span's first step repeated: a list of one
  float, which costs about as much as one evaluation to make;
- elsewhere, the schedule's numpy path over the next steps, which gives the per-step path's bits
  at every step (the core's property tests check it): 64 steps, then doubling up to 1024 (a table
  of 1024 floats costs about as much as 30 single evaluations to fill), so a short run computes
  little ahead.

Either way a table stops at the plan's last changing step, so the step past it is never read from
a table and the scheduler warns there. A schedule with a part from outside rampup (whose numpy
path is not known to match) is evaluated one step at a time.
"""

from __future__ import annotations

import math

import numpy as np

from rampup.schedules import SHAPES, Constant, Schedule
from rampup.schedules.base import _SPLIT as NUMPY_EXACT
from rampup.schedules.base import SCALAR

TABLE_MOST = 1024
TABLE_FIRST = 64
# A table is refilled when the run has walked off its end by fewer than this many steps (schedule
# time moving a few steps per update at most, as a warp or a small sample count moves it); a jump
# further away, e.g. a token clock's, evaluates that one step instead, which is cheaper than a
# table used for a few updates.
TABLE_NEAR = 8

Table = tuple[int, int, list[float]]
Run = tuple[int, int | None]  # steps first <= t < end (None: no end) on which a schedule is constant
EMPTY: Table = (0, 0, [])


def tabulable(schedule: Schedule) -> bool:
    """Whether every part of ``schedule`` is one of rampup's shapes, whose numpy path gives the
    per-step path's bits at every step (the core's property suite checks it); a schedule class
    from elsewhere is evaluated one step at a time."""
    parts = [schedule]
    while parts:
        part = parts.pop()
        if SHAPES.get(part.shape) is not type(part):
            return False
        parts.extend(part.children())
    return True


def constant_runs(schedule: Schedule) -> tuple[Run, ...]:
    """The spans on which ``schedule`` is constant by its structure: each phase that is a
    :class:`~rampup.schedules.Constant` in its segments, and its horizon on (both promises of the
    core, property-tested there)."""
    runs: list[Run] = [(first, end) for first, end, leaf in schedule.segments()
                       if type(leaf) is Constant and (end is None or end > first)]
    horizon = schedule.horizon
    if horizon is not None:
        runs.append((horizon, None))
    return tuple(runs)


def fill(schedule: Schedule, step: int, previous: int, last_changing_step: int,
         runs: tuple[Run, ...]) -> Table | None:
    """A table of ``schedule`` from ``step`` on (``previous``: the size of the table before it);
    None if the values there are not finite or the numpy path fails, which the per-step path
    then meets (and reports) at its own step."""
    for first, end in runs:
        if first <= step and (end is None or step < end):
            size = TABLE_MOST if end is None else min(TABLE_MOST, end - step)
            if step <= last_changing_step:
                size = min(size, last_changing_step - step + 1)
            # The per-step formula's own value, checked at both ends of the span it is used for.
            try:
                value = float(schedule._eval(step, SCALAR))
                same = float(schedule._eval(step + size - 1, SCALAR)) == value
            except (ArithmeticError, ValueError, TypeError, RecursionError):
                break
            if math.isfinite(value) and same:
                return step, size, [value] * size
            break
    size = min(TABLE_MOST, 2 * previous or TABLE_FIRST)
    if step <= last_changing_step:
        # Stop at the planned end: the step past it is then never read from a table, and the
        # scheduler warns about it there.
        size = min(size, last_changing_step - step + 1)
    values = None
    if step + size <= NUMPY_EXACT:  # (beyond, the numpy path itself goes step by step)
        try:
            with np.errstate(all="ignore"):
                # Our own steps, in range: the numpy path without the checks of schedule(steps)
                values = schedule._numpy_values(np.arange(step, step + size, dtype=np.int64))
        except (ArithmeticError, ValueError, TypeError, RecursionError):
            pass
    if values is None or not np.isfinite(values).all():
        return None
    return step, size, values.tolist()
