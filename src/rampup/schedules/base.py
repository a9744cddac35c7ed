"""The Schedule base class: one formula per shape, evaluated for a Python int, a numpy array or any
array of the Python array API standard (torch, JAX, CuPy ...).

Each shape writes its formula once, in ``_eval(t, xp)``, against a tiny math namespace ``xp``:
``SCALAR`` (the ``math`` module and Python builtins, for the per-step fast path), ``ARRAY``
(numpy, for whole curves) or an ``ApiMath`` (the array's own namespace through array-api-compat,
for torch tensors and JAX arrays, traced or not). The base class validates the step and picks the
namespace. ``xp.kind`` tells combinators which they got: ``"scalar"`` and ``"numpy"`` may branch
on values (bisect, boolean masks); ``"array_api"`` must not (the step may be a traced value inside
``torch.compile`` or ``jax.jit``), so there a combinator evaluates every phase on a clamped local
step and selects with ``where``.

The two exact paths (a Python int, a numpy array) give the same float64 bits for every step up to
``MAX_STEP`` (2**62): steps reach the formulas as integers (a Python int, an int64 array), so the
integer parts (which phase, cycle or milestone) are exact; whole-number divisions go through
``ratio`` (Python's correctly rounded ``n / d`` on both paths); and where numpy's vectorised
functions may round differently from the C library that Python calls (``pow``, ``exp``, and
``cos`` wherever a probe finds it differs), the numpy path calls Python's, element by element
(``power``, ``exp``, :func:`per_value`). Steps above 2**52 in an array go through the per-step
path one by one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import operator
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, overload

import numpy as np
import numpy.typing as npt

from rampup.errors import MAX_MULTIPLIER, MAX_STEP, ScheduleTypeError, ScheduleValueError, show

FloatArray = npt.NDArray[np.float64]

EXACT = 2**53
"""Integers up to here convert to float64 exactly."""

_SPLIT = 2**52
"""Array steps above this go through the per-step path (see ``Schedule._eval_array``)."""

MAX_DEPTH = 32
"""Combinators (join, multiply, clamp) nest at most this deep."""

MAX_PREVIEW = 2**27
"""The most steps ``preview`` evaluates at once (a 1 GiB result)."""


def per_value(fn: Callable[[Any], Any], keys: Any, dtype: Any = np.float64) -> Any:
    """``fn(k)`` for every element ``k`` of the array ``keys``, called with Python numbers once per
    distinct value, as an array of ``dtype`` shaped like ``keys``.

    This is how the numpy path reaches bit for bit what the per-step path computes with ``math``
    and Python operators (``pow``, ``exp``), whose numpy counterparts may round differently. The
    keys of a schedule are few (a cycle or milestone count) or are the steps themselves.
    """
    keys = np.asarray(keys)
    if keys.size == 0:
        return np.empty(keys.shape, dtype=dtype)
    if keys.dtype.kind in "iu":
        low, high = int(keys.min()), int(keys.max())
        if high - low <= 2 * keys.size + 64:  # dense keys: a table indexed by key - low
            table = np.array([fn(k) for k in range(low, high + 1)], dtype=dtype)
            return table[keys - low]
    distinct, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    table = np.array([fn(k) for k in distinct.tolist()], dtype=dtype)
    return table[inverse].reshape(keys.shape)


@functools.cache
def _numpy_cos_is_libm() -> bool:
    """Whether numpy's float64 cos gives the C library's numbers (what ``math.cos`` returns).

    numpy calls the C library for float64 cos today; some builds have had (and may again have)
    vectorised versions that differ in the last bit. Checked once, on points that cover the
    arguments the formulas use.
    """
    rng = np.random.default_rng(20250101)
    x = np.concatenate([np.linspace(0.0, math.pi, 1025), rng.uniform(0.0, 4.0 * math.pi, 2048),
                        rng.uniform(0.0, 1e6, 512)])
    return bool(np.array_equal(np.cos(x), np.array([math.cos(v) for v in x.tolist()])))


def _array_cos(x: Any) -> Any:
    if _numpy_cos_is_libm():
        return np.cos(x)
    return per_value(math.cos, x)


class _ScalarMath:
    """The few array functions the formulas use, for Python numbers."""

    is_scalar = True
    kind = "scalar"
    cos = staticmethod(math.cos)
    sqrt = staticmethod(math.sqrt)
    exp = staticmethod(math.exp)
    log = staticmethod(math.log)
    floor = staticmethod(math.floor)
    minimum = staticmethod(min)
    maximum = staticmethod(max)
    power = staticmethod(operator.pow)
    ratio = staticmethod(operator.truediv)  # int / int: the exact quotient, correctly rounded

    @staticmethod
    def where(condition: Any, if_true: Any, if_false: Any) -> Any:
        return if_true if condition else if_false


class _ArrayMath:
    """The same functions for numpy arrays: steps are int64 (at most 2**52), results float64.

    Each gives the bits the scalar version gives: ``sqrt`` (correctly rounded everywhere) and
    ``cos`` (checked) are numpy's; ``exp`` and ``power`` are Python's, element by element (once
    per distinct value for integer exponents); ``ratio`` divides whole numbers as Python does.
    """

    is_scalar = False
    kind = "numpy"
    cos = staticmethod(_array_cos)
    sqrt = staticmethod(np.sqrt)
    floor = staticmethod(np.floor)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)

    @staticmethod
    def exp(x: Any) -> Any:
        if not isinstance(x, np.ndarray):
            return math.exp(x)
        return np.array(list(map(math.exp, x.reshape(-1).tolist())), dtype=np.float64).reshape(x.shape)

    @staticmethod
    def power(base: Any, exponent: Any) -> Any:
        """``base ** exponent`` as Python computes it (the C library's pow) for each element."""
        if isinstance(base, np.ndarray):
            out = [b**exponent for b in base.reshape(-1).tolist()]
            return np.array(out, dtype=np.float64).reshape(base.shape)
        if not isinstance(exponent, np.ndarray):
            return base**exponent
        if exponent.dtype.kind in "iu":  # a count (few distinct values) or the step itself
            return per_value(lambda k: base**k, exponent)
        out = [base**e for e in exponent.reshape(-1).tolist()]
        return np.array(out, dtype=np.float64).reshape(exponent.shape)

    @staticmethod
    def ratio(n: Any, d: int) -> Any:
        """``n / d`` for whole numbers, as Python divides them: numpy's float64 division is the
        same when both convert exactly; larger ones are divided one by one."""
        if not isinstance(n, np.ndarray):
            return n / d
        if d <= EXACT and (n.size == 0 or int(n.max()) <= EXACT):
            return n / d
        return per_value(lambda v: v / d, n)


class ApiMath:
    """The same functions for an array API namespace (torch, JAX ...), in one floating dtype.

    The formulas mix arrays with Python numbers. Operators (``t + 1``, ``0.5 ** t``, ``t // n``)
    take Python numbers as they are (they adopt the array's dtype); the functions here turn a
    Python number argument into a 0-d array of the computation's dtype on the step's device first,
    as not every library's ``minimum``/``where`` takes them (and ``where`` would otherwise pick the
    library's default dtype). Nothing here looks at values, so it traces.
    """

    is_scalar = False
    kind = "array_api"

    def __init__(self, namespace: Any, dtype: Any, device: Any, t: Any) -> None:
        self.namespace = namespace
        self.dtype = dtype
        self.device = device
        self._t = t

    def divisor(self, value: float) -> Any:
        """``value`` as an array the compiler cannot see as a constant, to divide by.

        XLA (``jax.jit``) rewrites ``x / c`` for a constant ``c`` as ``x * (1 / c)``, which is off
        by an ulp for most ``c`` (``49 * (1 / 49) < 1``) and moves the points where a formula
        turns exactly: the end of a phase, the restarts of ``CosineRestarts`` (an error of 1
        there), ``1 - p`` under a square root. Dividing by a value selected on the step keeps the
        division correctly rounded, as in numpy and eager torch/JAX.
        """
        return self.namespace.where(self._t < 0, self.asarray(1.0), self.asarray(value))

    def asarray(self, x: Any) -> Any:
        if isinstance(x, np.generic):  # a field given as a numpy number
            x = x.item()
        if isinstance(x, bool):
            return self.namespace.asarray(x, device=self.device)
        if isinstance(x, (int, float)):
            return self.namespace.asarray(x, dtype=self.dtype, device=self.device)
        return x

    def cos(self, x: Any) -> Any:
        return self.namespace.cos(self.asarray(x))

    def power(self, base: Any, exponent: Any) -> Any:
        return base**exponent

    def ratio(self, n: Any, d: Any) -> Any:
        return n / d

    def sqrt(self, x: Any) -> Any:
        return self.namespace.sqrt(self.asarray(x))

    def exp(self, x: Any) -> Any:
        return self.namespace.exp(self.asarray(x))

    def log(self, x: Any) -> Any:
        return self.namespace.log(self.asarray(x))

    def floor(self, x: Any) -> Any:
        return self.namespace.floor(self.asarray(x))

    def minimum(self, a: Any, b: Any) -> Any:
        return self.namespace.minimum(self.asarray(a), self.asarray(b))

    def maximum(self, a: Any, b: Any) -> Any:
        return self.namespace.maximum(self.asarray(a), self.asarray(b))

    def where(self, condition: Any, if_true: Any, if_false: Any) -> Any:
        return self.namespace.where(self.asarray(condition), self.asarray(if_true), self.asarray(if_false))


SCALAR = _ScalarMath()
ARRAY = _ArrayMath()
Math = _ScalarMath | _ArrayMath | ApiMath

S = TypeVar("S", bound="Schedule")


class Schedule:
    """A learning-rate multiplier as a pure function of the optimizer step.

    ``s(step)`` is the multiplier of the peak rate used by update number ``step`` (0-based count of
    completed optimizer updates). A Python int gives a Python float; a numpy array (or a list) of
    steps gives a float64 array of the same shape. Any other array that array-api-compat knows (a
    torch tensor on any device, a JAX array, a CuPy array ...) gives an array of the same library,
    device and shape, also inside ``torch.compile(fullgraph=True)`` and ``jax.jit`` (see
    :meth:`_eval_array_api` for its dtype and what it does not check). Past its end a schedule
    holds its last value; a negative step is an error. Subclasses are frozen dataclasses whose
    fields are their whole configuration.
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
