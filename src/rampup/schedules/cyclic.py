"""Cyclic shapes: cosine warm restarts (SGDR), one-cycle and triangular cyclic rates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rampup.errors import ScheduleValueError, check_choice, check_int, check_real
from rampup.schedules.base import Schedule


@dataclass(frozen=True, slots=True)
class SGDR(Schedule):
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017).

    Cycle ``i`` lasts ``period_steps * period_mult ** i`` updates (real-valued when the multiplier
    is not an integer) and peaks at ``peak_decay ** i``. Inside a cycle, at ``tc`` steps from its
    start: ``min_lr_ratio + (1 - min_lr_ratio) * peak_decay ** i * 0.5 * (1 + cos(pi tc / len_i))``.
    After ``max_cycles`` cycles (if given) the floor is held.
    """

    period_steps: int
    period_mult: float = 1.0
    peak_decay: float = 1.0
    min_lr_ratio: float = 0.0
    max_cycles: int | None = None
    shape: ClassVar[str] = "sgdr"

    def __post_init__(self) -> None:
        check_int("period_steps", self.period_steps, minimum=1)
        check_real("period_mult", self.period_mult, low=1.0)
        check_real("peak_decay", self.peak_decay, low=0.0, high=1.0, low_open=True)
        check_real("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        if self.max_cycles is not None:
            check_int("max_cycles", self.max_cycles, minimum=1)

    def _cycle_start(self, index: Any, denominator: Any = None) -> Any:
        if self.period_mult == 1.0:
            return self.period_steps * index
        if denominator is None:
            denominator = self.period_mult - 1.0
        return self.period_steps * (self.period_mult**index - 1.0) / denominator

    def _eval(self, t: Any, xp: Any) -> Any:
        period, mult = self.period_steps, self.period_mult
        denominator = mult - 1.0
        if xp.kind == "array_api" and mult != 1.0:
            denominator = xp.divisor(denominator)  # a correctly rounded division (see ApiMath)
        if mult == 1.0:
            index = t // period
        else:
            index = xp.floor(xp.log(1.0 + t * (mult - 1.0) / period) / math.log(mult))
            # The logarithm can land one cycle off right at a boundary; settle it exactly.
            index = xp.where(t < self._cycle_start(index, denominator), index - 1, index)
            index = xp.where(t >= self._cycle_start(index + 1, denominator), index + 1, index)
        start = self._cycle_start(index, denominator)
        length = period * mult**index
        wave = 0.5 * (1.0 + xp.cos(math.pi * (t - start) / length))
        factor = self.peak_decay**index * wave
        if self.max_cycles is not None:
            factor = xp.where(index >= self.max_cycles, 0.0, factor)
        floor = self.min_lr_ratio
        return floor + (1.0 - floor) * factor

    @property
    def horizon(self) -> int | None:
        if self.max_cycles is None:
            return None
        end: float = self._cycle_start(self.max_cycles)
        return math.ceil(end)

    def label(self) -> str:
        return (
            f"SGDR cosine restarts, period {self.period_steps} x{self.period_mult:g}, "
            f"peak x{self.peak_decay:g} per cycle"
        )


@dataclass(frozen=True, slots=True)
class OneCycle(Schedule):
    """The one-cycle policy (Smith & Topin 2018) as a multiplier of the maximum rate.

    Starts at ``1 / div_factor``, rises to 1 by step ``pct_start * steps - 1``, then anneals to
    ``1 / (div_factor * final_div_factor)`` at step ``steps - 1`` (torch's OneCycleLR phases;
    ``three_phase`` goes back to the start value before the final anneal). Between phase ends the
    interpolation is ``end + (start - end) / 2 * (1 + cos(pi p))`` ("cos") or
    ``start + (end - start) p`` ("linear"). Held after the last step.
    """

    steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False
    shape: ClassVar[str] = "one_cycle"

    def __post_init__(self) -> None:
        check_int("steps", self.steps, minimum=2)
        check_real("pct_start", self.pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
        check_real("div_factor", self.div_factor, low=0.0, low_open=True)
        check_real("final_div_factor", self.final_div_factor, low=0.0, low_open=True)
        check_choice("anneal", self.anneal, ("cos", "linear"))
        if not isinstance(self.three_phase, bool):
            raise ScheduleValueError(f"three_phase must be True or False, got {self.three_phase!r}")
        if self._phase_ends()[0] <= 0:
            raise ScheduleValueError(
                f"pct_start * steps must be > 1 so the rise has a step, got "
                f"{self.pct_start:g} * {self.steps}"
            )

    def _phase_ends(self) -> list[float]:
        rise_end = float(self.pct_start * self.steps) - 1
        if self.three_phase:
            return [rise_end, float(2 * self.pct_start * self.steps) - 2, self.steps - 1]
        return [rise_end, self.steps - 1]

    def _levels(self) -> list[float]:
        initial = 1.0 / self.div_factor
        final = initial / self.final_div_factor
        return [initial, 1.0, initial, final] if self.three_phase else [initial, 1.0, final]

    def _interpolate(self, start: float, end: float, pct: Any, xp: Any) -> Any:
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (xp.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _eval(self, t: Any, xp: Any) -> Any:
        ends, levels = self._phase_ends(), self._levels()
        t = xp.minimum(t, self.steps - 1)
        if xp.is_scalar:
            begin = 0.0
            for i, end in enumerate(ends):
                if t <= end or i == len(ends) - 1:
                    return self._interpolate(levels[i], levels[i + 1], (t - begin) / (end - begin), xp)
                begin = end
        if xp.kind == "array_api":
            return self._select(t, ends, levels, xp)
        out = np.empty_like(t)
        begin = 0.0
        done = np.zeros(t.shape, dtype=bool)
        for i, end in enumerate(ends):
            mask = ~done if i == len(ends) - 1 else (~done & (t <= end))
            pct = (t[mask] - begin) / (end - begin)
            out[mask] = self._interpolate(levels[i], levels[i + 1], pct, xp)
            done |= mask
            begin = end
        return out

    def _select(self, t: Any, ends: list[float], levels: list[float], xp: Any) -> Any:
        """No value-dependent control flow (traced steps): each phase interpolates on t clamped
        to its own span, and ``where`` picks the first phase whose end is >= t (the last phase
        otherwise), as the scalar loop does. Clamping leaves the selected values as they are."""
        begins = [0.0, *ends[:-1]]
        out = None
        for i in reversed(range(len(ends))):
            begin, end = begins[i], ends[i]
            span = end - begin
            local = xp.minimum(xp.maximum(t, begin), end) if span > 0 else t
            pct = (local - begin) / (span if span > 0 else 1.0)
            value = self._interpolate(levels[i], levels[i + 1], pct, xp)
            out = value if out is None else xp.where(t <= end, value, out)
        return out

    @property
    def horizon(self) -> int:
        # The final value is reached at step steps - 1; the run it was sized for is steps updates.
        return self.steps

    def label(self) -> str:
        return f"one-cycle over {self.steps} steps (rise {self.pct_start:.0%}, {self.anneal})"


@dataclass(frozen=True, slots=True)
class Triangular(Schedule):
    """Triangular cyclic rate (Smith 2017) between ``min_lr_ratio`` and 1 (torch's CyclicLR).

    ``cycle = floor(1 + t / (up + down))``, ``x = 1 + t / (up + down) - cycle``; the height is
    ``x / r`` while ``x <= r = up / (up + down)``, else ``(x - 1) / (r - 1)``; the rate is
    ``min_lr_ratio + (1 - min_lr_ratio) * height * scale`` with scale 1 ("triangular") or
    ``1 / 2 ** (cycle - 1)`` ("triangular2").
    """

    step_size_up: int
    step_size_down: int | None = None
    min_lr_ratio: float = 0.1
    mode: str = "triangular"
    shape: ClassVar[str] = "triangular"

    def __post_init__(self) -> None:
        check_int("step_size_up", self.step_size_up, minimum=1)
        if self.step_size_down is not None:
            check_int("step_size_down", self.step_size_down, minimum=1)
        check_real("min_lr_ratio", self.min_lr_ratio, low=0.0, high=1.0)
        check_choice("mode", self.mode, ("triangular", "triangular2"))

    def _eval(self, t: Any, xp: Any) -> Any:
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        ratio = up / total
        cycle = xp.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        height = xp.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        if self.mode == "triangular2":
            # 0.5 ** k equals torch's 1 / 2.0 ** k exactly, and underflows to 0 instead of
            # overflowing (OverflowError for a Python int past cycle ~1025).
            height = height * 0.5 ** (cycle - 1)
        floor = self.min_lr_ratio
        return floor + (1.0 - floor) * height

    def label(self) -> str:
        return f"{self.mode} cycles {self.min_lr_ratio:g} <-> 1, up {self.step_size_up} steps"
