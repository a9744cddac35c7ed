"""Main and decay shapes. Each starts at 1 (the peak) on its own step 0 unless stated."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rampup.errors import (
    MAX_MULTIPLIER,
    ScheduleValueError,
    check_choice,
    check_int,
    check_int_list,
    check_real,
    show,
)
from rampup.schedules.base import ENDPOINTS, Schedule, Sized, position, set_fields

MAX_CYCLES = 2.0**32
"""The most cosine cycles a ``Cosine`` or ``CosineRestarts`` takes (4.3e9)."""

MAX_POWER = 1e6
"""The largest exponent of a ``Polynomial``."""

MAX_RATE = 1e6
"""The largest ``Exponential`` rate (exp(-1e6) is 0 already; rate * step stays finite)."""


def _check_floor(value: object) -> float:
    return check_real("min_lr_ratio", value, low=0.0, high=1.0)


def _check_cycles(value: object) -> float:
    return check_real("cycles", value, low=0.0, low_open=True, high=MAX_CYCLES)


@dataclass(frozen=True, slots=True)
class Constant(Schedule):
    """A constant multiplier: ``value`` at every step (1 = the peak rate).

    Examples:
        >>> from rampup import Constant
        >>> Constant(0.5)(0), Constant(0.5)(10**6)
        (0.5, 0.5)
    """

    value: float = 1.0
    shape: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        set_fields(self, value=check_real("value", self.value, low=0.0, high=MAX_MULTIPLIER))

    def _eval(self, t: Any, xp: Any) -> Any:
        return self.value

    @property
    def horizon(self) -> int:
        return 0

    @property
    def length(self) -> int | None:
        # At the peak, a plateau that goes on (constant_with_warmup, an open-ended wsd); any other
        # level is where a plan ends (the floor held after a decay).
        return None if self.value == 1.0 else 0

    def upper_bound(self) -> float:
        return self.value

    def label(self) -> str:
        return f"constant {self.value:g}"


class Decay(Sized):
    """A decay from 1 to ``min_lr_ratio`` over ``steps`` updates, then held at the floor:
    ``min_lr_ratio + (1 - min_lr_ratio) * curve(n, d)``, with the shape's ``curve`` going from 1
    to 0 as the progress ``n / d`` (from :func:`position`) goes from 0 to 1. The floor is an
    affine rescale, never a clip. Subclasses declare the fields ``steps`` and ``min_lr_ratio``
    (in their own order, which is their constructor's and their config's) and the curve.
    """

    __slots__ = ()
    min_lr_ratio: float

    def _check(self) -> None:
        """Check and store the two fields every decay has (first, as each subclass's
        ``__post_init__`` starts)."""
        set_fields(self, steps=check_int("steps", self.steps),
                   min_lr_ratio=_check_floor(self.min_lr_ratio))

    def _endpoints(self) -> str:
        return "start"

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        """The shape's curve at progress ``n / d``: 1 at the start, 0 at the end."""
        raise NotImplementedError

    def _level(self, curve: Any) -> Any:
        floor = self.min_lr_ratio
        return floor + (1.0 - floor) * curve

    def _eval(self, t: Any, xp: Any) -> Any:
        n, d = position(t, self.steps, self._endpoints(), xp)
        return self._level(self._curve(n, d, xp))

    def _final(self) -> float:
        return self.min_lr_ratio

    def label(self) -> str:
        return f"{self.shape_label()} 1 -> {self._final():g} over {self.steps} steps"

    def shape_label(self) -> str:
        """The curve in words ("linear decay", "polynomial decay (power 2)" ...)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Linear(Decay):
    """Linear decay from 1 to ``min_lr_ratio`` over ``steps`` updates, then held.

    With ``n, d`` from :func:`position` (default ``n = t``, ``d = steps``):
    ``min_lr_ratio + (1 - min_lr_ratio) * (d - n) / d``.

    Examples:
        >>> from rampup import Linear
        >>> [Linear(steps=4)(t) for t in range(6)]       # (4 - t) / 4, then held
        [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
        >>> Linear(steps=4, min_lr_ratio=0.5)(2)         # 0.5 + 0.5 * 2 / 4
        0.75
    """

    steps: int
    min_lr_ratio: float = 0.0
    endpoints: str = "start"
    shape: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        self._check()
        set_fields(self, endpoints=check_choice("endpoints", self.endpoints, ENDPOINTS))

    def _endpoints(self) -> str:
        return self.endpoints

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        return xp.ratio(d - n, d)

    def shape_label(self) -> str:
        return "linear decay"


@dataclass(frozen=True, slots=True)
class Cosine(Decay):
    """Cosine decay from 1 to ``min_lr_ratio`` over ``steps`` updates, then held.

    ``min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(pi * cycles * 2 * p))`` with ``p = n / d``
    from :func:`position`. ``cycles=0.5`` is a half cosine (1 down to the floor); larger values
    swing back up (transformers' ``num_cycles``).

    Examples:
        >>> from rampup import Cosine
        >>> s = Cosine(steps=4)                          # 0.5 * (1 + cos(pi * t / 4))
        >>> s(0), s(2), s(4), s(9)
        (1.0, 0.5, 0.0, 0.0)
        >>> Cosine(steps=4, min_lr_ratio=0.1)(4)         # the floor, reached exactly at the end
        0.1
    """

    steps: int
    min_lr_ratio: float = 0.0
    cycles: float = 0.5
    endpoints: str = "start"
    shape: ClassVar[str] = "cosine"

    def __post_init__(self) -> None:
        self._check()
        set_fields(self, cycles=_check_cycles(self.cycles),
                   endpoints=check_choice("endpoints", self.endpoints, ENDPOINTS))

    def _endpoints(self) -> str:
        return self.endpoints

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        return 0.5 * (1.0 + xp.cos(math.pi * self.cycles * 2.0 * xp.ratio(n, d)))

    def shape_label(self) -> str:
        return "cosine decay"

    def label(self) -> str:
        extra = "" if self.cycles == 0.5 else f", {self.cycles:g} cycles"
        return Decay.label(self) + extra


@dataclass(frozen=True, slots=True)
class CosineRestarts(Decay):
    """Cosine with ``cycles`` equal hard restarts over ``steps`` updates, then the floor.

    ``p = t / steps``; for p < 1: ``floor + (1 - floor) * 0.5 * (1 + cos(pi * ((cycles * p) mod 1)))``,
    else ``floor`` (transformers' ``cosine_with_restarts``).

    Examples:
        >>> from rampup import CosineRestarts
        >>> s = CosineRestarts(steps=8, cycles=2)        # two cosines of 4 steps, then the floor
        >>> s(0), s(2), s(4), s(6), s(8)
        (1.0, 0.5, 1.0, 0.5, 0.0)
    """

    steps: int
    cycles: float = 1
    min_lr_ratio: float = 0.0
    shape: ClassVar[str] = "cosine_restarts"

    def __post_init__(self) -> None:
        set_fields(self, steps=check_int("steps", self.steps), cycles=_check_cycles(self.cycles),
                   min_lr_ratio=_check_floor(self.min_lr_ratio))

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        progress = xp.ratio(n, d)
        wave = 0.5 * (1.0 + xp.cos(math.pi * ((self.cycles * progress) % 1.0)))
        return xp.where(progress >= 1.0, 0.0, wave)

    def shape_label(self) -> str:
        return f"cosine, {self.cycles:g} hard restarts"

    def label(self) -> str:
        return f"{self.shape_label()} over {self.steps} steps"


@dataclass(frozen=True, slots=True)
class Polynomial(Decay):
    """Polynomial decay over ``steps`` updates, then held; ``q = 1 - t / steps``.

    Relative form (default): ``min_lr_ratio + (1 - min_lr_ratio) * q ** power``.
    Absolute form (transformers' ``lr_end``): with ``lr_end`` and ``peak_lr`` given,
    ``((peak_lr - lr_end) * q ** power + lr_end) / peak_lr`` (as transformers rounds it).

    Examples:
        >>> from rampup import Polynomial
        >>> s = Polynomial(steps=4, power=2.0)           # (1 - t / 4) ** 2
        >>> s(0), s(2), s(4)
        (1.0, 0.25, 0.0)
    """

    steps: int
    power: float = 1.0
    min_lr_ratio: float = 0.0
    lr_end: float | None = None
    peak_lr: float | None = None
    shape: ClassVar[str] = "polynomial"

    def __post_init__(self) -> None:
        set_fields(self, steps=check_int("steps", self.steps),
                   power=check_real("power", self.power, low=0.0, low_open=True, high=MAX_POWER),
                   min_lr_ratio=_check_floor(self.min_lr_ratio))
        if (self.lr_end is None) != (self.peak_lr is None):
            raise ScheduleValueError(
                "lr_end and peak_lr go together: lr_end is an absolute rate read against "
                f"peak_lr; got lr_end={show(self.lr_end)}, peak_lr={show(self.peak_lr)}"
            )
        if self.lr_end is not None and self.peak_lr is not None:
            peak = check_real("peak_lr", self.peak_lr, low=0.0, low_open=True)
            end = check_real("lr_end", self.lr_end, low=0.0)
            if self.min_lr_ratio != 0.0:
                raise ScheduleValueError("give either min_lr_ratio or lr_end, not both")
            if not end < peak:
                # transformers' words for its polynomial's rule (rampup.hf relies on this check).
                raise ScheduleValueError(
                    f"lr_end ({end:g}) must be smaller than initial lr (peak_lr={peak:g})"
                )
            set_fields(self, peak_lr=peak, lr_end=end)

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        return xp.power(1 - xp.ratio(n, d), self.power)

    def _level(self, curve: Any) -> Any:
        if self.lr_end is not None and self.peak_lr is not None:
            return ((self.peak_lr - self.lr_end) * curve + self.lr_end) / self.peak_lr
        return Decay._level(self, curve)

    def _final(self) -> float:
        if self.lr_end is not None and self.peak_lr:
            return self.lr_end / self.peak_lr
        return self.min_lr_ratio

    def shape_label(self) -> str:
        return f"polynomial decay (power {self.power:g})"


@dataclass(frozen=True, slots=True)
class SqrtDecay(Decay):
    """The "1-sqrt" cooldown of warmup-stable-decay schedules, then held.

    ``min_lr_ratio + (1 - min_lr_ratio) * (1 - sqrt(t / steps))``.

    Examples:
        >>> from rampup import SqrtDecay
        >>> s = SqrtDecay(steps=4)                       # 1 - sqrt(t / 4)
        >>> s(0), s(1), s(4)
        (1.0, 0.5, 0.0)
    """

    steps: int
    min_lr_ratio: float = 0.0
    shape: ClassVar[str] = "sqrt_decay"

    def __post_init__(self) -> None:
        self._check()

    def _curve(self, n: Any, d: Any, xp: Any) -> Any:
        return 1.0 - xp.sqrt(xp.ratio(n, d))

    def shape_label(self) -> str:
        return "1-sqrt decay"


@dataclass(frozen=True, slots=True)
class Step(Schedule):
    """Step decay: ``gamma ** floor(t / step_size)`` (torch's StepLR).

    Examples:
        >>> from rampup import Step
        >>> s = Step(step_size=10, gamma=0.5)            # 0.5 ** (t // 10)
        >>> s(9), s(10), s(25)
        (1.0, 0.5, 0.25)
    """

    step_size: int
    gamma: float = 0.1
    shape: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        set_fields(self, step_size=check_int("step_size", self.step_size, minimum=1),
                   gamma=check_real("gamma", self.gamma, low=0.0, high=1.0, low_open=True))

    def _eval(self, t: Any, xp: Any) -> Any:
        # gamma ** k with k = t // step_size an exact integer (Python's pow on both paths).
        return xp.power(self.gamma, t // self.step_size)

    def label(self) -> str:
        return f"x{self.gamma:g} every {self.step_size} steps"


@dataclass(frozen=True, slots=True)
class MultiStep(Schedule):
    """Multi-step decay: ``gamma ** (number of milestones <= t)`` (torch's MultiStepLR).

    Examples:
        >>> from rampup import MultiStep
        >>> s = MultiStep(milestones=(10, 20), gamma=0.5)
        >>> s(9), s(10), s(19), s(20)
        (1.0, 0.5, 0.5, 0.25)
    """

    milestones: tuple[int, ...]
    gamma: float = 0.1
    shape: ClassVar[str] = "multistep"

    def __post_init__(self) -> None:
        milestones = check_int_list("milestones", self.milestones)
        if any(b <= a for a, b in itertools.pairwise(milestones)):
            raise ScheduleValueError(
                f"milestones must be strictly increasing, got {show(list(milestones))}"
            )
        set_fields(self, milestones=milestones,
                   gamma=check_real("gamma", self.gamma, low=0.0, high=1.0, low_open=True))

    def _eval(self, t: Any, xp: Any) -> Any:
        if xp.is_scalar:
            count: Any = bisect.bisect_right(self.milestones, t)
        elif xp.kind == "array_api":
            # No searchsorted on traced steps: count the milestones passed with comparisons.
            count = 0.0
            for milestone in self.milestones:
                count = count + xp.where(t >= milestone, 1.0, 0.0)
        else:  # an integer count: one pow per milestone (the float count above: one per step, 7x)
            count = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return xp.power(self.gamma, count)

    @property
    def horizon(self) -> int:
        return self.milestones[-1] if self.milestones else 0

    def label(self) -> str:
        return f"x{self.gamma:g} at steps {', '.join(map(str, self.milestones))}"


@dataclass(frozen=True, slots=True)
class Exponential(Schedule):
    """Exponential decay, ``gamma ** t`` or ``exp(-rate * t)`` (exactly one of them given).

    Examples:
        >>> from rampup import Exponential
        >>> Exponential(gamma=0.5)(3)                    # 0.5 ** 3
        0.125
        >>> Exponential(rate=0.0)(100)                   # exp(-0 * 100)
        1.0
    """

    gamma: float | None = None
    rate: float | None = None
    shape: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        if (self.gamma is None) == (self.rate is None):
            raise ScheduleValueError(
                "give exactly one of gamma (factor per step, in (0, 1]) or rate "
                f"(k in exp(-k t), >= 0); got gamma={show(self.gamma)}, rate={show(self.rate)}"
            )
        if self.gamma is not None:
            set_fields(self, gamma=check_real("gamma", self.gamma, low=0.0, high=1.0, low_open=True))
        if self.rate is not None:
            set_fields(self, rate=check_real("rate", self.rate, low=0.0, high=MAX_RATE))

    def _eval(self, t: Any, xp: Any) -> Any:
        if self.gamma is not None:
            return xp.power(self.gamma, t)
        rate: float = self.rate  # type: ignore[assignment]
        return xp.exp(-rate * t)

    @property
    def horizon(self) -> int | None:
        return 0 if self.gamma == 1.0 or self.rate == 0.0 else None

    def label(self) -> str:
        if self.gamma is not None:
            return f"exponential decay x{self.gamma:g} per step"
        return f"exponential decay exp(-{self.rate:g} t)"


@dataclass(frozen=True, slots=True)
class InverseSqrt(Schedule):
    """Inverse square root decay: ``1 / sqrt((t + timescale) / timescale)``; 1 at t = 0.

    Examples:
        >>> from rampup import InverseSqrt
        >>> s = InverseSqrt(timescale=4)                 # 1 / sqrt((t + 4) / 4)
        >>> s(0), s(12), s(60)
        (1.0, 0.5, 0.25)
    """

    timescale: int = 10_000
    shape: ClassVar[str] = "inverse_sqrt"

    def __post_init__(self) -> None:
        set_fields(self, timescale=check_int("timescale", self.timescale, minimum=1))

    def _eval(self, t: Any, xp: Any) -> Any:
        return 1.0 / xp.sqrt(xp.ratio(t + self.timescale, self.timescale))

    def label(self) -> str:
        return f"inverse sqrt decay (timescale {self.timescale})"
