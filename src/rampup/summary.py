"""``rampup.describe``: the plain description of a schedule, plus an adaptive warmup's planned bounds.

Kept apart from :mod:`rampup.describe` so that the schedules (whose ``describe`` method uses that
module) never import the adaptive-warmup code, which itself builds on the schedules.
"""

from __future__ import annotations

from rampup.adaptive import describe_bounds
from rampup.describe import Describable
from rampup.describe import describe as describe_plain
from rampup.errors import ScheduleValueError


def describe(schedule: Describable, total_steps: int | None = None, peak_lr: float | None = None,
             *, max_warmup: int | float | str | None = None) -> str:
    """Describe ``schedule`` over ``total_steps`` (default: where it stops changing).

    Values are multipliers of the peak, or absolute rates when ``peak_lr`` is given. With
    ``max_warmup`` (an :class:`~rampup.AdaptiveWarmup` bound) a last line gives the planned
    bounds of an adaptive warmup on this schedule.

    Raises:
        ScheduleValueError: ``max_warmup`` without ``total_steps`` on a schedule with no end.

    Examples:
        >>> import rampup
        >>> print(rampup.describe(rampup.Linear(steps=4), peak_lr=0.1))   # 0.1 * (4 - t) / 4
        linear decay 1 -> 0 over 4 steps, 4 steps (lr)
          steps  0 -  3  linear decay 1 -> 0 over 4 steps  [0.1 -> 0.025]
          at step: 0: 0.1, 1: 0.075, 3: 0.025, 4: 0
          min 0 at step 4, max 0.1 at step 0; held at 0 from step 4 on
    """
    text = describe_plain(schedule, total_steps, peak_lr)
    if max_warmup is None:
        return text
    total = total_steps if total_steps is not None else schedule.horizon
    if total is None:
        raise ScheduleValueError("max_warmup: pass total_steps to describe an adaptive warmup")
    return text + "\n" + describe_bounds(schedule, total, max_warmup, peak_lr)  # type: ignore[arg-type]
