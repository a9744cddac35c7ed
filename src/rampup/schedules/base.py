"""The Schedule base class: one formula per shape, evaluated for a Python int, a numpy array or any
array of the Python array API standard (torch, JAX, CuPy ...).

Each shape writes its formula once, in ``_eval(t, xp)``, against a tiny math namespace ``xp``
(:mod:`rampup.schedules.xp`): ``SCALAR`` for a Python int, ``ARRAY`` for numpy, an ``ApiMath`` for
other arrays. The base class validates the step and picks the namespace. On the array API path a
combinator evaluates every phase on a clamped local step and selects with ``where`` (no branching
on values that may be traced).

The two exact paths (a Python int, a numpy array) give the same float64 bits for every step up to
``MAX_STEP`` (2**62): steps reach the formulas as integers (a Python int, an int64 array), so the
integer parts (which phase, cycle or milestone) are exact, and the namespaces round alike (see
:mod:`rampup.schedules.xp`). Steps above 2**52 in an array go through the per-step path one by one.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
import numpy.typing as npt

from rampup.errors import MAX_MULTIPLIER, MAX_STEP, ScheduleTypeError, ScheduleValueError, show
from rampup.schedules.xp import ARRAY as ARRAY  # ARRAY and SCALAR: also importable from here
from rampup.schedules.xp import SCALAR as SCALAR
from rampup.schedules.xp import ApiMath, per_value

FloatArray = npt.NDArray[np.float64]

_SPLIT = 2**52
"""Array steps above this go through the per-step path (see ``Schedule._eval_array``)."""

MAX_DEPTH = 32
"""Combinators (join, multiply, clamp) nest at most this deep."""

MAX_PREVIEW = 2**27
"""The most steps ``preview`` evaluates at once (a 1 GiB result)."""


S = TypeVar("S", bound="Schedule")


class Schedule:
    """A learning-rate multiplier as a pure function of the optimizer step.

    ``s(step)`` is the multiplier of the peak rate used by update number ``step`` (0-based count of
    completed optimizer updates), for steps 0 .. 2**62. A Python int gives a Python float; a numpy
    array (or a list) of steps gives a float64 array of the same shape, with the same bits as the
    Python floats of its steps. Any other array that array-api-compat knows (a
    torch tensor on any device, a JAX array, a CuPy array ...) gives an array of the same library,
    device and shape, also inside ``torch.compile(fullgraph=True)`` and ``jax.jit`` (see
    :meth:`_eval_array_api` for its dtype and what it does not check). Past its end a schedule
    holds its last value; a negative step or one past 2**62 is an error. Subclasses are frozen
    dataclasses whose fields are their whole configuration, checked and converted to plain Python
    values when built; every value is in ``[0, upper_bound()]``.

    Examples:
        >>> import rampup
        >>> s = rampup.Linear(steps=4)                   # (4 - t) / 4, then held
        >>> s(1), s(10)
        (0.75, 0.0)
        >>> s([0, 2, 4]).tolist()
        [1.0, 0.5, 0.0]
        >>> s(-1)
        Traceback (most recent call last):
        ...
        rampup.errors.ScheduleValueError: step must be in [0, 2**62], got -1
    """

    # __weakref__: jax.jit(schedule) keeps a weak reference to the function it compiles.
    __slots__ = ("__weakref__",)
    shape: ClassVar[str] = ""

    # -- evaluation -------------------------------------------------------------------------
    @overload
    def __call__(self, step: int) -> float: ...

    @overload
    def __call__(self, step: npt.ArrayLike) -> Any: ...

    def __call__(self, step: Any) -> Any:
        if type(step) is int:
            if step < 0 or step > MAX_STEP:
                raise ScheduleValueError(f"step must be in [0, 2**62], got {show(step)}")
            return float(self._eval(step, SCALAR))
        if isinstance(step, numbers.Integral) and not isinstance(step, (bool, np.bool_)):
            return self(int(step))
        if isinstance(step, float):
            if not step.is_integer():
                raise ScheduleValueError(f"step must be a whole number, got {step}")
            return self(int(step))
        if not isinstance(step, (np.ndarray, np.generic, list, tuple)):
            namespace = _array_api_namespace(step)
            if namespace is not None:
                return self._eval_array_api(step, namespace)
        return self._eval_array(step)

    def _eval_array(self, step: Any) -> FloatArray:
        """The numpy path: steps as int64, the formulas on steps up to 2**52, larger steps (rare)
        one by one through the per-step path, so that both give the same bits everywhere."""
        steps = _integer_steps(step)
        flat = steps.reshape(-1)
        if flat.size and int(flat.max()) > _SPLIT:
            out = np.empty(flat.shape, dtype=np.float64)
            big = flat > _SPLIT
            small = ~big
            if small.any():
                out[small] = self._numpy_values(flat[small])
            out[big] = per_value(lambda v: float(self._eval(v, SCALAR)), flat[big])
            return out.reshape(steps.shape)
        return self._numpy_values(flat).reshape(steps.shape)

    def _numpy_values(self, t: Any) -> FloatArray:
        values = np.asarray(self._eval(t, ARRAY), dtype=np.float64)
        if values.shape == t.shape:
            return values  # a fresh array already (formulas build new arrays)
        return np.broadcast_to(values, t.shape).copy()

    def _eval_array_api(self, step: Any, namespace: Any) -> Any:
        """The schedule on an array API array: same library, device and shape as ``step``.

        Integer steps are computed in float64 where the library has it on that device (torch;
        JAX with ``jax_enable_x64``), else in float32; a float32 or float64 step is computed in
        its own dtype, a narrower float (float16, bfloat16) in float32 and rounded back. The result
        has the step's dtype if it is floating, else the computation's. float64 results match the
        numpy path to about 1e-12, float32 ones to about 1e-6 (float32 also holds whole numbers
        exactly only up to 2 ** 24 steps).

        The step's values are not checked (a negative or fractional step gives an unspecified
        number rather than an error): they may be traced values inside ``torch.compile`` or
        ``jax.jit``, and checking a GPU tensor would wait for the device. Only the dtype is
        checked. Pass validated step counts.
        """
        import array_api_compat

        dtype = step.dtype
        integral = namespace.isdtype(dtype, "integral")
        if dtype == namespace.bool or not (integral or namespace.isdtype(dtype, "real floating")):
            raise ScheduleTypeError(f"step must be an int or an array of integers, got dtype {dtype}")
        device = array_api_compat.device(step)
        if integral:
            available = namespace.__array_namespace_info__().dtypes(kind="real floating", device=device)
            compute = namespace.float64 if "float64" in available else namespace.float32
            result = compute
        else:
            compute = namespace.float64 if dtype == namespace.float64 else namespace.float32
            result = dtype
        t = step if dtype == compute else namespace.astype(step, compute)
        xp = ApiMath(namespace, compute, device, t)
        values = xp.asarray(self._eval(t, xp))
        if values.shape != t.shape:
            values = values * namespace.ones_like(t)  # a constant phase: a fresh array, t's shape
        return values if values.dtype == result else namespace.astype(values, result)

    def _eval(self, t: Any, xp: Any) -> Any:
        """The formula: ``t`` is an int (xp=SCALAR), an int64 numpy array of steps <= 2**52
        (xp=ARRAY) or a floating array API array (xp an ``ApiMath``); t >= 0."""
        raise NotImplementedError

    def preview(self, total_steps: int) -> FloatArray:
        """The multipliers for steps 0 .. total_steps - 1 (at most 2**27), as one float64 array."""
        from rampup.errors import check_int

        total = check_int("total_steps", total_steps, minimum=0, maximum=MAX_PREVIEW)
        return self._eval_array(np.arange(total, dtype=np.int64))

    def upper_bound(self) -> float:
        """A bound that no value of this schedule exceeds (at most ``MAX_MULTIPLIER``, 1e6)."""
        return 1.0

    def children(self) -> tuple[Schedule, ...]:
        """The schedules this one combines (none for a shape)."""
        return ()

    # -- description ------------------------------------------------------------------------
    @property
    def horizon(self) -> int | None:
        """A step from which the value never changes (None if it keeps changing): the
        :attr:`length` of a shape that has one (whose last value may come a step before it, where
        its endpoints put it there), the last change of one that does not (a last milestone)."""
        return None

    @property
    def length(self) -> int | None:
        """The run this schedule is planned for, in steps: where it is meant to end, or None for
        a schedule that goes on by design (a plateau at the peak, a step decay, a cycle).

        Shapes sized by a step count have that count; combinators derive theirs from their parts.
        A scheduler warns when it steps past it and ``extend``/``keep_fraction`` rescale it.
        """
        return None

    def label(self) -> str:
        """A one-line description of this shape and its parameters, in words."""
        raise NotImplementedError

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


class Sized(Schedule):
    """A shape planned over ``steps`` updates (a warmup, a decay, one cycle): its length, and the
    step from which it holds its last value."""

    __slots__ = ()
    steps: int

    @property
    def horizon(self) -> int:
        return self.steps

    @property
    def length(self) -> int:
        return self.steps


def _integer_steps(step: Any) -> Any:
    """Steps as an int64 array, after checking that each is a whole number in [0, 2**62]."""
    try:
        steps = np.asarray(step)
    except (ValueError, TypeError, OverflowError) as error:
        raise ScheduleTypeError(
            f"step must be an int or an array of integers, got {show(step)}, which is not an "
            "array of numbers (a ragged list?)"
        ) from error
    kind = steps.dtype.kind
    if kind == "O":  # e.g. a list holding Python ints beyond int64
        items = steps.reshape(-1).tolist()
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                   for v in items):
            raise ScheduleTypeError("step must be an int or an array of integers, got dtype object")
        if items and (min(items) < 0 or max(items) > MAX_STEP):
            bad = min(items) if min(items) < 0 else max(items)
            raise ScheduleValueError(f"step must be in [0, 2**62], got {show(bad)}")
        return np.array(items, dtype=np.int64).reshape(steps.shape)
    if kind not in "iuf":
        raise ScheduleTypeError(f"step must be an int or an array of integers, got dtype {steps.dtype}")
    if kind == "f" and (not np.all(np.isfinite(steps)) or np.any(steps != np.floor(steps))):
        raise ScheduleValueError("step must hold whole numbers, got fractional or NaN")
    if steps.size:
        # As Python numbers: comparing a float16/float32 numpy scalar with 2**62 would cast the
        # bound to that narrow type (an overflow warning) instead of comparing exactly.
        low, high = steps.min().item(), steps.max().item()
        if low < 0:
            raise ScheduleValueError(f"step must be in [0, 2**62], got {show(low)}")
        if high > MAX_STEP:
            raise ScheduleValueError(f"step must be in [0, 2**62], got {show(high)}")
    return steps.astype(np.int64)


def set_fields(schedule: Schedule, **values: Any) -> None:
    """Store checked (converted) values on a frozen schedule, from its ``__post_init__``."""
    for name, value in values.items():
        object.__setattr__(schedule, name, value)


def check_tree(schedule: Schedule) -> None:
    """Refuse a combination nested deeper than ``MAX_DEPTH`` or able to exceed
    ``MAX_MULTIPLIER``; called by every combinator when it is built."""
    depth = _depth(schedule)
    if depth > MAX_DEPTH:
        raise ScheduleValueError(
            f"schedules nest at most {MAX_DEPTH} combinators deep (join, multiply, clamp), got {depth}"
        )
    bound = schedule.upper_bound()
    if not bound <= MAX_MULTIPLIER:
        raise ScheduleValueError(
            f"{schedule.shape} could reach a multiplier of {bound:g}; multipliers must stay at most "
            f"{MAX_MULTIPLIER:g} (rampup.errors.MAX_MULTIPLIER)"
        )


def _depth(schedule: Schedule) -> int:
    children = schedule.children()
    if not children:
        return 0
    return 1 + max(_depth(child) for child in children)


def _array_api_namespace(step: Any) -> Any:
    """The array API namespace of ``step``, or None if array-api-compat does not know it (or is
    not installed; such inputs then go to numpy, as before)."""
    try:
        import array_api_compat
    except ImportError:  # pragma: no cover - a core dependency
        return None
    if not array_api_compat.is_array_api_obj(step):
        return None
    return array_api_compat.array_namespace(step)


def _plain(value: Any) -> Any:
    # Fields hold only Python numbers, strings, None, bools, tuples and schedules (the checks
    # convert numpy numbers), which json and yaml.safe_dump write as they are.
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def position(t: Any, steps: int, endpoints: str, xp: Any) -> tuple[Any, Any]:
    """Where step ``t`` is inside a phase of ``steps`` updates: progress is ``xp.ratio(n, d)``,
    whole numbers with ``n <= d``.

    ``endpoints`` says which end values the phase itself uses:
    ``"end"``: n = t + 1, d = steps (the first update is already one step in; the last is at 1);
    ``"start"``: n = t, d = steps (the first update is at 0; 1 is reached on the step after);
    ``"both"``: n = t, d = steps - 1 (0 at the first update, 1 at the last).
    n is clamped to d, so past the phase the progress holds at 1; a phase of 0 steps is at 1.
    In the array API path ``d`` is an array (see ``ApiMath.divisor``), so that ``n / d`` is
    exactly 1 at the end of the phase under ``jax.jit`` too.
    """
    if steps == 0:
        return 1, 1
    if endpoints == "end":
        n, d = xp.minimum(t + 1, steps), steps
    elif endpoints == "start":
        n, d = xp.minimum(t, steps), steps
    else:
        d = max(1, steps - 1)
        n = xp.minimum(t, d)
    if xp.kind == "array_api":
        return n, xp.divisor(d)
    return n, d


ENDPOINTS = ("end", "start", "both")
