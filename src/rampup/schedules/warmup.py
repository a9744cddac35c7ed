"""Warmup shapes: from a start fraction of the peak up to the peak over ``steps`` updates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from rampup.errors import (
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
)
from rampup.schedules.base import ENDPOINTS, Sized, position, set_fields

WARMUP_CURVES = ("linear", "cosine", "1-sqrt", "exponential", "constant")
_DEFAULT_START = {"linear": 0.0, "cosine": 0.0, "1-sqrt": 0.0, "exponential": 0.01, "constant": 0.1}


@dataclass(frozen=True, slots=True)
class Warmup(Sized):
    """Warmup from ``start`` (a fraction of the peak) to 1 over ``steps`` updates, then 1.

    With progress ``p = n / d`` from :func:`position` (by default ``p = (t + 1) / steps``, so
    update 0 runs at ``start + (1 - start) / steps`` and update ``steps - 1`` at the peak):

    - ``linear``:      start + (1 - start) * p
    - ``cosine``:      start + (1 - start) * (1 - cos(pi p)) / 2
    - ``1-sqrt``:      start + (1 - start) * (1 - sqrt(1 - p))
    - ``exponential``: start * (1 / start) ** p, i.e. start ** (1 - p)   (start > 0)
    - ``constant``:    start while t < steps, then 1  (Goyal et al. 2017, "constant warmup")

    ``endpoints="start"`` gives the transformers convention ``p = t / steps`` (update 0 at
    ``start``, the peak on the first step after warmup); ``"both"`` gives ``p = t / (steps - 1)``.
    Defaults for ``start``: 0 (linear, cosine, 1-sqrt), 0.01 (exponential), 0.1 (constant).

    Examples:
        >>> from rampup import Warmup
        >>> [Warmup(steps=4)(t) for t in range(5)]       # (t + 1) / 4, then held at 1
        [0.25, 0.5, 0.75, 1.0, 1.0]
        >>> [Warmup(steps=4, endpoints="start")(t) for t in range(5)]   # t / 4 (transformers)
        [0.0, 0.25, 0.5, 0.75, 1.0]
        >>> Warmup(steps=4, start=0.5)(1)                # 0.5 + 0.5 * 2 / 4
        0.75
        >>> Warmup(steps=4, curve="constant", start=0.1)(3), Warmup(steps=4, curve="constant", start=0.1)(4)
        (0.1, 1.0)
    """

    steps: int
    curve: str = "linear"
    start: float | None = None
    endpoints: str = "end"
    shape: ClassVar[str] = "warmup"

    def __post_init__(self) -> None:
        steps = check_int("steps", self.steps)
        curve = check_choice("curve", self.curve, WARMUP_CURVES)
        endpoints = check_choice("endpoints", self.endpoints, ENDPOINTS)
        start = _DEFAULT_START[curve] if self.start is None else self.start
        start = check_real("start", start, low=0.0, high=1.0)
        if curve == "exponential" and start <= 0.0:
            raise ScheduleValueError(
                "start must be in (0, 1] for curve='exponential' (it multiplies by a constant "
                f"factor each step, so it cannot leave 0), got {start:g}"
            )
        set_fields(self, steps=steps, curve=curve, start=start, endpoints=endpoints)

    def _eval(self, t: Any, xp: Any) -> Any:
        start: float = self.start  # type: ignore[assignment]
        shape = self.curve
        if shape == "constant":
            return xp.where(t < self.steps, start, 1.0)
        n, d = position(t, self.steps, self.endpoints, xp)
        progress = xp.ratio(n, d)
        if shape == "exponential":
            return xp.power(start, 1.0 - progress)
        if shape == "linear":
            ramp = progress
        elif shape == "cosine":
            ramp = 0.5 * (1.0 - xp.cos(math.pi * progress))
        else:
            ramp = 1.0 - xp.sqrt(1.0 - progress)
        return start + (1.0 - start) * ramp

    def label(self) -> str:
        return f"{self.curve} warmup {self.start:g} -> 1 over {self.steps} steps"


def gradual_warmup(steps: int, factor: float) -> Warmup:
    """Goyal et al.'s gradual warmup: from eta to ``factor`` * eta over ``steps`` updates.

    As a multiplier of the peak ``factor * eta``: linear from ``1 / factor`` at update 0 to 1 at
    update ``steps`` (``endpoints="start"``).

    Examples:
        >>> from rampup import gradual_warmup
        >>> s = gradual_warmup(4, factor=8.0)            # 1/8 + (1 - 1/8) * t / 4
        >>> s(0), s(2), s(4)
        (0.125, 0.5625, 1.0)
    """
    k = check_real("factor", factor, low=1.0)
    return Warmup(steps=steps, start=1.0 / k, endpoints="start")


def untuned_warmup_steps(beta2: float = 0.999) -> int:
    """The "untuned" warmup length for Adam-type optimizers, ceil(2 / (1 - beta2)).

    Ma & Yarats (2019): linear warmup over 2 / (1 - beta2) updates works about as well as a tuned
    one (2000 updates for beta2 = 0.999).

    Examples:
        >>> from rampup import untuned_warmup_steps
        >>> untuned_warmup_steps(0.999), untuned_warmup_steps(0.99), untuned_warmup_steps(0.9995)
        (2000, 200, 4000)
    """
    b2 = check_real("beta2", beta2, low=0.0, high=1.0, high_open=True)
    # In binary, 1 - 0.9995 is 0.00049999999999994..., which would push the exact quotient 4000
    # just past the integer; work with the decimal the caller wrote instead.
    return math.ceil(Decimal(2) / (Decimal(1) - Decimal(repr(b2))))


def untuned_warmup(beta2: float = 0.999) -> Warmup:
    """A linear warmup over :func:`untuned_warmup_steps` updates.

    Examples:
        >>> from rampup import untuned_warmup
        >>> untuned_warmup(0.99)
        Warmup(steps=200, curve='linear', start=0.0, endpoints='end')
    """
    return Warmup(steps=untuned_warmup_steps(beta2))
