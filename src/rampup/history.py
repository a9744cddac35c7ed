"""What a saved Scheduler state ran and plans to run, for ``rampup plot --state``.

A ``Scheduler.state_dict()`` holds the schedules as built, the clock position, the warp and the
change log: replaying the log on the schedules gives the whole plan, so the executed part
(positions up to now) and the planned part (from now on) are both exact. Loading a file uses
``torch.load(weights_only=True)`` (imported only then); the rest needs numpy, and matplotlib for
an image.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from rampup.config import from_dict
from rampup.errors import MissingDependencyError, ScheduleValueError
from rampup.plan import Plan

STATE_FORMAT = "rampup.Scheduler/1"
FloatArray = npt.NDArray[np.float64]


def find_state(data: Any, depth: int = 0) -> Mapping[str, Any]:
    """The Scheduler state in ``data``: the state itself, or one inside a checkpoint dict or list
    (``{"scheduler": ...}``, Lightning's ``"lr_schedulers": [...]``), searched a few levels deep."""
    if isinstance(data, Mapping) and data.get("format") == STATE_FORMAT:
        return data
    if depth < 3:
        children = data.values() if isinstance(data, Mapping) else data if isinstance(
            data, (list, tuple)) else ()
        for child in children:
            try:
                return find_state(child, depth + 1)
            except ScheduleValueError:
                continue
    raise ScheduleValueError(f"no rampup Scheduler state (format {STATE_FORMAT!r}) found")


def load_state(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """The Scheduler state in a file written by ``torch.save`` (read with ``weights_only=True``)."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("reading a checkpoint needs PyTorch (pip install torch)") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to unpickle safely is a refusal of the file
        raise ScheduleValueError(
            "not a file that torch.load(weights_only=True) reads: not written by torch.save, or "
            f"it holds objects other than tensors and plain data ({type(error).__name__})"
        ) from None
    return find_state(data)


@dataclass
class History:
    """Group 0's rates over sampled clock positions, split at ``position`` (now)."""

    unit: str
    position: int
    end: int | None
    base_lr: float
    steps: npt.NDArray[np.int64]
    rates: FloatArray  # the plan in force (executed up to now, planned after)
    original: FloatArray  # the schedule as built, without the changes
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> int:
        return int(self.steps[-1])


def history(state: Mapping[str, Any], points: int = 2000) -> History:
    """Replay a saved state's plan and sample it (group 0) over the run and its plan."""
    try:
        schedules = [from_dict(dict(d)) for d in state["schedules"]]
        base_lr = float(state["base_lrs"][0])
        clock = state.get("clock", {"config": {"clock": "updates"}, "state": {"position": state["step"]}})
        position = int(clock["state"]["position"])
        unit = {"updates": "updates", "tokens": "tokens", "samples": "samples", "time": "ms"}[
            clock["config"]["clock"]]
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise ScheduleValueError(f"the saved Scheduler state is incomplete or malformed: {error!r}") from None
    plan = Plan(schedules).restored(state, position)
    marks = [int(c["position"]) for c in plan.changes]
    end = plan.end
    if end is None:  # open-ended: show the run so far and as much again
        last = max(position * 2, position + 10, *[m + 10 for m in marks])
    else:
        last = max(end + max(1, end // 20), position)
    spread = np.unique(np.linspace(0, last, num=min(points, last + 1)).round().astype(np.int64))
    extra = [p + d for p in (position, *marks) for d in (-1, 0, 1) if 0 <= p + d <= last]
    steps = np.union1d(spread, np.asarray(extra, dtype=np.int64))
    times = np.asarray([plan.warp.time(int(p)) for p in steps], dtype=np.int64)
    rates = base_lr * np.asarray(plan.schedules[0](times), dtype=np.float64)
    original = base_lr * np.asarray(schedules[0](steps), dtype=np.float64)
    return History(unit, position, end, base_lr, steps, rates, original, list(plan.changes))


def describe_changes(h: History) -> list[str]:
    """One line per change: where and what."""
    lines = []
    for change in h.changes:
        args = ", ".join(f"{k}={v}" for k, v in change.items()
                         if k not in ("update", "position", "time", "op", "schedules"))
        lines.append(f"update {change['update']} ({h.unit} {change['position']}): {change['op']}"
                     + (f"({args})" if args else ""))
    return lines


def text_history(h: History, width: int = 72, height: int = 12) -> str:
    """Characters: '#' executed, '.' planned, '|' under a change, '^' now."""
    columns = max(20, width) - 12
    top = float(max(h.rates.max(), h.original.max())) or 1.0
    grid = [[" "] * columns for _ in range(height)]
    for step, rate in zip(h.steps, h.rates, strict=True):
        column = min(columns - 1, int(step * columns // (h.last + 1)))
        row = height - 1 - round(float(rate) / top * (height - 1))
        if grid[row][column] != "#":
            grid[row][column] = "#" if step <= h.position else "."
    axis = ["─"] * columns
    for change in h.changes:
        axis[min(columns - 1, int(change["position"]) * columns // (h.last + 1))] = "|"
    axis[min(columns - 1, h.position * columns // (h.last + 1))] = "^"
    lines = [f"{(f'{top:.3g}' if i == 0 else '0' if i == height - 1 else ''):>10} ┤" + "".join(r)
             for i, r in enumerate(grid)]
    lines.append(" " * 10 + " └" + "".join(axis))
    lines.append(" " * 12 + "0" + f"{h.unit} {h.last}".rjust(columns - 1))
    return "\n".join(lines)


def render_history(h: History, image: str = "png") -> bytes:
    """A figure: the executed rates (solid), the plan ahead (dashed), the schedule as built
    (dotted) and the changes (vertical lines)."""
    from rampup.plot import _matplotlib

    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=110)
    axes = figure.add_subplot()
    done = h.steps <= h.position
    axes.plot(h.steps, h.original, color="0.6", linestyle=":", linewidth=1.2, label="as built")
    axes.plot(h.steps[done], h.rates[done], color="C0", linewidth=1.8, label="executed")
    ahead = h.steps >= h.position
    axes.plot(h.steps[ahead], h.rates[ahead], color="C0", linestyle="--", linewidth=1.5,
              label="planned")
    top = float(max(h.rates.max(), h.original.max())) or 1.0
    for change in h.changes:
        where = int(change["position"])
        axes.axvline(where, color="C3", linestyle=":", linewidth=1)
        axes.annotate(f"{change['op']} @ {change['update']}", (where, top),
                      textcoords="offset points", xytext=(4, -12), fontsize=8, color="C3")
    axes.axvline(h.position, color="k", linewidth=0.8)
    axes.set_xlabel(f"{h.unit} (clock position)")
    axes.set_ylabel("learning rate (group 0)")
    axes.set_xlim(0, h.last)
    axes.set_ylim(bottom=0, top=top * 1.08 if math.isfinite(top) else None)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    axes.set_title(f"executed and planned; now at {h.unit} {h.position}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image)
    return buffer.getvalue()
