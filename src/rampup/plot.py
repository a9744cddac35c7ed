"""Pictures of schedules: a compact text plot for the terminal, and matplotlib figures.

A picture needs a few thousand points, not one per step: :func:`sample_steps` picks evenly
spread steps plus every step where the curve jumps, bends or turns (phase boundaries, step-decay
milestones, restarts, cycle peaks), each with its neighbours, so a drawn jump is vertical and a
peak is drawn at its height however long the run. Runs short enough are drawn at every step.

matplotlib is imported only inside :func:`render_figure` (the ``plot`` extra), with the
non-interactive Agg backend, so this works on machines without a screen.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rampup._files import write_atomic
from rampup.errors import MissingDependencyError, OptionError, ScheduleValueError
from rampup.schedules import (
    SGDR,
    Clamp,
    Cosine,
    CosineRestarts,
    Join,
    Multiply,
    MultiStep,
    OneCycle,
    Schedule,
    Step,
    Triangular,
    Warmup,
)

FIGURE_SIZE = (10.0, 5.0)
FIGURE_DPI = 100
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")
#: The text plot shows every step of runs up to this many steps.
EVERY_STEP_LIMIT = 20_000
#: At most this many notable steps (jumps, bends, turns) are sampled; past it they are denser
#: than any picture can show, and evenly spread samples are used instead (more of them).
FEATURE_LIMIT = 20_000

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Curve:
    """One schedule to draw, with its legend label."""

    label: str
    schedule: Schedule


class _TooMany(Exception):
    """More notable steps than a picture can show."""


class _Features:
    """Notable steps of a schedule inside [0, last], collected with a budget."""

    def __init__(self, last: int, limit: int) -> None:
        self.last = last
        self.limit = limit
        self.steps: set[int] = set()

    def add(self, step: float) -> None:
        if not math.isfinite(step):
            return
        centre = math.floor(step)
        for candidate in (centre - 1, centre, centre + 1, centre + 2):
            if 0 <= candidate <= self.last:
                self.steps.add(candidate)
        if len(self.steps) > self.limit:
            raise _TooMany

    def every(self, first: float, period: float, begin: int, end: int) -> None:
        """``begin + first + k * period`` for k >= 0, up to ``end`` (absolute steps)."""
        if period <= 0:
            return
        if (end - begin - first) / period > self.limit:
            raise _TooMany
        position = begin + first
        k = 0
        while position <= end:
            self.add(position)
            k += 1
            position = begin + first + k * period


def _collect(schedule: Schedule, begin: int, end: int, out: _Features) -> None:
    """Notable steps of ``schedule`` (which sees step ``t - begin`` at absolute step ``t``),
    between the absolute steps ``begin`` and ``end``."""
    if end < begin:
        return
    out.add(begin)
    if isinstance(schedule, Join):
        starts = (0, *schedule.boundaries)
        stops: tuple[int | None, ...] = (*schedule.boundaries, None)
        for phase, start, stop in zip(schedule.phases, starts, stops, strict=True):
            first = begin + start
            last = end if stop is None else min(end, begin + stop - 1)
            if stop is not None and stop <= start:
                continue
            out.add(first)
            if schedule.clock == "relative":
                _collect(phase, first, last, out)
            else:
                _collect_window(phase, begin, first, last, out)
        return
    if isinstance(schedule, Multiply):
        for factor in schedule.factors:
            _collect(factor, begin, end, out)
        return
    if isinstance(schedule, Clamp):
        _collect(schedule.schedule, begin, end, out)
        return
    horizon = schedule.horizon
    if horizon is not None:
        out.add(begin + horizon)
        out.add(begin + horizon - 1)
    if isinstance(schedule, Step):
        out.every(0, schedule.step_size, begin, end)
    elif isinstance(schedule, MultiStep):
        for milestone in schedule.milestones:
            if begin + milestone > end:
                break
            out.add(begin + milestone)
    elif isinstance(schedule, SGDR):
        _collect_sgdr(schedule, begin, end, out)
    elif isinstance(schedule, CosineRestarts):
        out.every(0, schedule.steps / float(schedule.cycles), begin, min(end, begin + schedule.steps))
    elif isinstance(schedule, Cosine):
        # The wave turns every half cycle: at progress k / (2 cycles).
        out.every(0, schedule.steps / (2.0 * float(schedule.cycles)), begin,
                  min(end, begin + schedule.steps))
    elif isinstance(schedule, Triangular):
        up = schedule.step_size_up
        period = up + (schedule.step_size_down or up)
        out.every(0, period, begin, end)
        out.every(up, period, begin, end)
    elif isinstance(schedule, OneCycle):
        for phase_end in schedule._phase_ends():
            out.add(begin + phase_end)
    elif isinstance(schedule, Warmup):
        out.add(begin + schedule.steps)


def _collect_window(schedule: Schedule, origin: int, first: int, last: int, out: _Features) -> None:
    """An absolute-clock phase: it sees the absolute step but is shown only in [first, last]."""
    window = _Features(last, out.limit)
    _collect(schedule, origin, last, window)
    for step in window.steps:
        if first <= step <= last:
            out.add(step)


def _collect_sgdr(schedule: SGDR, begin: int, end: int, out: _Features) -> None:
    period, mult = schedule.period_steps, float(schedule.period_mult)
    if mult == 1.0:
        out.every(0, period, begin, end)
        return
    index, start = 0, 0.0
    while begin + start <= end:
        if schedule.max_cycles is not None and index > schedule.max_cycles:
            break
        out.add(begin + start)
        index += 1
        start = period * (mult**index - 1.0) / (mult - 1.0)
        if index > out.limit:
            raise _TooMany


def _spread(total_steps: int, points: int) -> list[int]:
    """``points`` steps evenly spread over [0, total_steps], in integer arithmetic."""
    points = max(2, points)
    return [total_steps * i // (points - 1) for i in range(points)]


def sample_steps(total_steps: int, points: int = 4000, schedule: Schedule | None = None) -> IntArray:
    """Steps in [0, total_steps] at which to evaluate a curve for a picture, sorted, int64.

    Every step when there are at most ``points``; else ``points`` evenly
    spread steps plus, given the ``schedule``, each of its notable steps with its neighbours (or,
    when those are too many to show, four times as many evenly spread steps).
    """
    if total_steps < 0:
        raise ScheduleValueError(f"total_steps must be >= 0, got {total_steps}")
    if total_steps + 1 <= points:
        return np.arange(total_steps + 1, dtype=np.int64)
    steps = set(_spread(total_steps, points))
    if schedule is not None:
        features = _Features(total_steps, FEATURE_LIMIT)
        try:
            _collect(schedule, 0, total_steps, features)
        except _TooMany:
            steps.update(_spread(total_steps, 4 * points))
        else:
            steps.update(features.steps)
    return np.array(sorted(steps), dtype=np.int64)


def _values(schedule: Schedule, steps: IntArray, scale: float) -> npt.NDArray[np.float64]:
    with np.errstate(all="ignore"):  # a value that is not finite is reported just below
        values = np.asarray(schedule(steps), dtype=np.float64) * scale
    bad = ~np.isfinite(values)
    if bad.any():
        step = int(steps[int(np.argmax(bad))])
        raise ScheduleValueError(
            f"the schedule gives {values[bad][0]} at step {step}"
            + (f" with peak_lr={scale:g}" if scale != 1.0 else "")
            + ": nothing to draw"
        )
    return values


def text_plot(
    schedule: Schedule, total_steps: int, *, width: int = 72, height: int = 14,
    peak_lr: float | None = None,
) -> str:
    """A plot made of characters: each column shows the range of the rate over its steps.

    Column ``c`` of ``n`` covers steps ``[c (T + 1) // n, (c + 1) (T + 1) // n)``; with more
    steps than :data:`EVERY_STEP_LIMIT` its range is taken over the sampled steps in it (its two
    ends and every notable step, see :func:`sample_steps`).
    """
    width = max(20, width)
    height = max(3, height)
    scale = peak_lr if peak_lr is not None else 1.0
    label_width = 10
    columns = width - label_width - 2
    count = total_steps + 1
    # Column edges in steps (exact integers) and the sampled steps, each column's ends included.
    edges = [count * c // columns for c in range(columns + 1)]
    if count <= EVERY_STEP_LIMIT:
        steps = np.arange(count, dtype=np.int64)
    else:
        extra = {e for edge in edges for e in (edge - 1, edge) if 0 <= e < count}
        steps = np.union1d(sample_steps(total_steps, 16 * columns, schedule),
                           np.array(sorted(extra), dtype=np.int64))
    values = _values(schedule, steps, scale)
    top = float(values.max()) if values.size else 1.0
    bottom = min(0.0, float(values.min()))
    span = (top - bottom) or 1.0
    grid = [[" "] * columns for _ in range(height)]
    # Index range of the samples in each column; an empty column (fewer steps than columns)
    # shows its nearest step, as the one-step-per-column picture would.
    starts = np.searchsorted(steps, np.array(edges, dtype=np.int64), side="left")
    for column in range(columns):
        low_index = int(starts[column])
        high_index = max(int(starts[column + 1]), low_index + 1)
        chunk = values[min(low_index, len(values) - 1): high_index]
        rows = ((np.array([chunk.min(), chunk.max()]) - bottom) / span * (height - 1)).round()
        for row in range(int(rows[0]), int(rows[1]) + 1):
            grid[height - 1 - row][column] = "•"
    lines = []
    for index, row_cells in enumerate(grid):
        level = top - index * span / (height - 1)
        label = f"{level:.3g}" if index in (0, height // 2, height - 1) else ""
        lines.append(f"{label:>{label_width}} ┤" + "".join(row_cells))
    lines.append(" " * label_width + " └" + "─" * columns)
    right = f"step {total_steps}"
    lines.append(" " * (label_width + 2) + "0" + right.rjust(columns - 1))
    return "\n".join(lines)


def _warmup_end(schedule: Schedule) -> int | None:
    first = schedule.segments()[0]
    if isinstance(first[2], Warmup) and first[1]:
        return first[1]
    return None


def image_format(path: str | os.PathLike[str]) -> str:
    """The image format named by ``path``'s suffix ("png", "svg" or "pdf")."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise OptionError(
            f"an image file must end in {', '.join(IMAGE_SUFFIXES)}, got {os.fspath(path)!r}"
        )
    return suffix[1:]


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "writing an image needs matplotlib: pip install 'rampup[plot]'"
        ) from None
    matplotlib.use("Agg")
    return matplotlib


def render_figure(
    curves: Sequence[Curve],
    total_steps: int,
    image: str = "png",
    *,
    peak_lr: float | None = None,
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> bytes:
    """Draw one or more schedules over [0, total_steps]; returns the PNG, SVG or PDF file."""
    if image not in ("png", "svg", "pdf"):
        raise OptionError(f"image must be png, svg or pdf, got {image!r}")
    if not curves:
        raise OptionError("curves must hold at least one schedule to draw")
    _matplotlib()
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
    axes = figure.add_subplot()
    scale = peak_lr if peak_lr is not None else 1.0
    drawn = []
    for curve in curves:
        steps = sample_steps(total_steps, schedule=curve.schedule)
        values = _values(curve.schedule, steps, scale)
        drawn.append(values)
        axes.plot(steps, values, label=curve.label, linewidth=1.6)
    if len(curves) == 1:
        schedule = curves[0].schedule
        end = _warmup_end(schedule)
        if end is not None:
            axes.axvspan(0, end, color="0.9", zorder=0, label=f"warmup ({end} steps)")
        top = float(np.max(drawn[0]))
        for begin, _, _ in schedule.segments()[1:]:
            if 0 < begin < total_steps:
                value = schedule(begin) * scale
                axes.axvline(begin, color="0.6", linestyle=":", linewidth=1)
                # Below the point in the upper half, so the label never runs into the title.
                below = value > 0.5 * top
                axes.annotate(f"step {begin}\n{value:.4g}", (begin, value),
                              textcoords="offset points", xytext=(6, -6 if below else 6),
                              va="top" if below else "baseline", fontsize=8)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("learning rate" if peak_lr is not None else "multiplier of the peak rate")
    axes.set_xlim(0, total_steps)
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    if steps_per_epoch:
        per_epoch = float(steps_per_epoch)

        def to_epochs(steps: Any) -> Any:
            return np.asarray(steps) / per_epoch

        def to_steps(epochs: Any) -> Any:
            return np.asarray(epochs) * per_epoch

        secondary = axes.secondary_xaxis("top", functions=(to_epochs, to_steps))
        secondary.set_xlabel("epoch")
    axes.set_title(title or ", ".join(c.label for c in curves))
    if len(curves) > 1 or _warmup_end(curves[0].schedule) is not None:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=image)
    return buffer.getvalue()


def save_figure(
    curves: Sequence[Curve],
    total_steps: int,
    path: str | os.PathLike[str],
    *,
    peak_lr: float | None = None,
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw one or more schedules and write PNG, SVG or PDF (by suffix), atomically."""
    data = render_figure(curves, total_steps, image_format(path), peak_lr=peak_lr,
                         steps_per_epoch=steps_per_epoch, title=title)
    return write_atomic(path, data)
