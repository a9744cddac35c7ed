"""The Schedule base class: one formula per shape, evaluated for a Python int or a numpy array.

Each shape writes its formula once, in ``_eval(t, xp)``, against a tiny math namespace ``xp``:
``SCALAR`` (the ``math`` module and Python builtins, for the per-step fast path) or ``numpy``
(for whole curves). The base class validates the step and picks the namespace.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
import numpy.typing as npt

from rampup.errors import ScheduleTypeError, ScheduleValueError

FloatArray = npt.NDArray[np.float64]


class _ScalarMath:
    """The few array functions the formulas use, for Python numbers."""

    is_scalar = True
    cos = staticmethod(math.cos)
    sqrt = staticmethod(math.sqrt)
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    floor = staticmethod(math.floor)
    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def where(condition: Any, if_true: Any, if_false: Any) -> Any:
        return if_true if condition else if_false


class _ArrayMath:
    """The same functions for numpy float64 arrays."""

    is_scalar = False
    cos = staticmethod(np.cos)
    sqrt = staticmethod(np.sqrt)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    floor = staticmethod(np.floor)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)


SCALAR = _ScalarMath()
ARRAY = _ArrayMath()
Math = _ScalarMath | _ArrayMath

S = TypeVar("S", bound="Schedule")


class Schedule:
    """A learning-rate multiplier as a pure function of the optimizer step.

    ``s(step)`` is the multiplier of the peak rate used by update number ``step`` (0-based count of
    completed optimizer updates). A Python int gives a Python float; a numpy array of steps gives a
    float64 array of the same shape. Past its end a schedule holds its last value; a negative step
    is an error. Subclasses are frozen dataclasses whose fields are their whole configuration.
    """

    __slots__ = ()
    shape: ClassVar[str] = ""

    # -- evaluation -------------------------------------------------------------------------
    @overload
    def __call__(self, step: int) -> float: ...

    @overload
    def __call__(self, step: npt.ArrayLike) -> Any: ...

    def __call__(self, step: Any) -> Any:
        if type(step) is int:
            if step < 0:
                raise ScheduleValueError(f"step must be >= 0, got {step}")
            return float(self._eval(step, SCALAR))
        if isinstance(step, numbers.Integral) and not isinstance(step, bool):
            return self(int(step))
        if isinstance(step, float):
            if not step.is_integer():
                raise ScheduleValueError(f"step must be a whole number, got {step}")
            return self(int(step))
        return self._eval_array(step)

    def _eval_array(self, step: Any) -> FloatArray:
        steps = np.asarray(step)
        if steps.dtype.kind == "b" or steps.dtype.kind not in "iuf":
            raise ScheduleTypeError(
                f"step must be an int or an array of integers, got dtype {steps.dtype}"
            )
        if steps.dtype.kind == "f" and (
            not np.all(np.isfinite(steps)) or np.any(steps != np.floor(steps))
        ):
            raise ScheduleValueError("step must hold whole numbers, got fractional or NaN")
        if steps.size and steps.min() < 0:
            raise ScheduleValueError(f"step must be >= 0, got {steps.min()}")
        t = steps.astype(np.float64)
        values = self._eval(t, ARRAY)
        return np.broadcast_to(np.asarray(values, dtype=np.float64), t.shape).copy()

    def _eval(self, t: Any, xp: Any) -> Any:
        """The formula: ``t`` is an int (xp=SCALAR) or a float64 array (xp=ARRAY), t >= 0."""
        raise NotImplementedError

    def preview(self, total_steps: int) -> FloatArray:
        """The multipliers for steps 0 .. total_steps - 1, as one float64 array."""
        from rampup.errors import check_int

        return self._eval_array(np.arange(check_int("total_steps", total_steps, minimum=0)))

    # -- description ------------------------------------------------------------------------
    @property
    def horizon(self) -> int | None:
        """First step from which the value never changes, or None if it keeps changing."""
        return None

    def label(self) -> str:
        """A one-line description of this shape and its parameters."""
        fields = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)  # type: ignore[arg-type]
        )
        return f"{self.shape}({fields})"

    def segments(self) -> list[tuple[int, int | None, Schedule]]:
        """(first step, end step or None, leaf schedule) for each phase, in order."""
        return [(0, self.horizon, self)]

    def describe(self, total_steps: int | None = None, peak_lr: float | None = None) -> str:
        """A short text to check a schedule at a glance (see ``rampup.describe``)."""
        from rampup.describe import describe

        return describe(self, total_steps=total_steps, peak_lr=peak_lr)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict that ``rampup.from_dict`` turns back into an equal schedule."""
        out: dict[str, Any] = {"shape": self.shape}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        # Fields validated as numbers may hold numpy scalars (np.int64 steps, np.float32 ...),
        # which json and yaml.safe_dump cannot write.
        return value.item()
    return value


def position(t: Any, steps: int, endpoints: str, xp: Any) -> tuple[Any, int]:
    """Where step ``t`` is inside a phase of ``steps`` updates: progress is ``n / d``.

    ``endpoints`` says which end values the phase itself uses:
    ``"end"``: n = t + 1, d = steps (the first update is already one step in; the last is at 1);
    ``"start"``: n = t, d = steps (the first update is at 0; 1 is reached on the step after);
    ``"both"``: n = t, d = steps - 1 (0 at the first update, 1 at the last).
    n is clamped to d, so past the phase the progress holds at 1; a phase of 0 steps is at 1.
    """
    if steps == 0:
        return 1, 1
    if endpoints == "end":
        return xp.minimum(t + 1, steps), steps
    if endpoints == "start":
        return xp.minimum(t, steps), steps
    last = max(1, steps - 1)
    return xp.minimum(t, last), last


ENDPOINTS = ("end", "start", "both")
