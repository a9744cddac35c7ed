"""Pictures of schedules: a compact text plot for the terminal, and matplotlib figures.

matplotlib is imported only inside :func:`save_figure` (the ``plot`` extra), with the
non-interactive Agg backend, so this works on machines without a screen.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rampup.config import write_atomic
from rampup.schedules import Schedule, Warmup
from rampup.schedules.base import FloatArray

FIGURE_SIZE = (10.0, 5.0)
FIGURE_DPI = 100
IMAGE_SUFFIXES = (".png", ".svg", ".pdf")


@dataclass(frozen=True)
class Curve:
    """One schedule to draw, with its legend label."""

    label: str
    schedule: Schedule


def sample_steps(total_steps: int, points: int = 4000) -> FloatArray:
    """At most ``points`` steps spread over [0, total_steps], always including the ends."""
    if total_steps + 1 <= points:
        return np.arange(total_steps + 1, dtype=np.float64)
    return np.unique(np.linspace(0, total_steps, points).round())


def text_plot(
    schedule: Schedule, total_steps: int, *, width: int = 72, height: int = 14,
    peak_lr: float | None = None,
) -> str:
    """A plot made of characters: each column shows the range of the rate over its steps."""
    width = max(20, width)
    steps = np.arange(total_steps + 1)
    values = schedule(steps) * (peak_lr if peak_lr is not None else 1.0)
    top = float(values.max()) if values.size else 1.0
    bottom = min(0.0, float(values.min()))
    span = (top - bottom) or 1.0
    label_width = 10
    columns = width - label_width - 2
    edges = np.linspace(0, len(values), columns + 1).astype(int)
    grid = [[" "] * columns for _ in range(height)]
    for column in range(columns):
        chunk = values[edges[column]: max(edges[column + 1], edges[column] + 1)]
        if chunk.size == 0:
            continue
        rows = ((np.array([chunk.min(), chunk.max()]) - bottom) / span * (height - 1)).round()
        low, high = int(rows[0]), int(rows[1])
        for row in range(low, high + 1):
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
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"output must end in {', '.join(IMAGE_SUFFIXES)}, got {target.name!r}")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=FIGURE_DPI)
    axes = figure.add_subplot()
    steps = sample_steps(total_steps)
    scale = peak_lr if peak_lr is not None else 1.0
    for curve in curves:
        axes.plot(steps, curve.schedule(steps.astype(np.int64)) * scale, label=curve.label,
                  linewidth=1.6)
    if len(curves) == 1:
        schedule = curves[0].schedule
        end = _warmup_end(schedule)
        if end is not None:
            axes.axvspan(0, end, color="0.9", zorder=0, label=f"warmup ({end} steps)")
        top = float(np.max(schedule(steps.astype(np.int64)))) * scale
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
    figure.savefig(buffer, format=suffix[1:])
    write_atomic(target, buffer.getvalue())
    return target
