"""The math namespaces a schedule's formula is written against (``xp`` in ``_eval(t, xp)``).

``SCALAR`` (the ``math`` module and Python builtins, for the per-step fast path), ``ARRAY``
(numpy, for whole curves) and ``ApiMath`` (an array's own namespace through array-api-compat, for
torch tensors and JAX arrays, traced or not) offer the same few functions. ``xp.kind`` tells
combinators which they got: ``"scalar"`` and ``"numpy"`` may branch on values (bisect, boolean
masks); ``"array_api"`` must not (the step may be a traced value inside ``torch.compile`` or
``jax.jit``).

The two exact ones give the same float64 bits: whole-number divisions go through ``ratio``
(Python's correctly rounded ``n / d`` on both), and where numpy's vectorised functions may round
differently from the C library that Python calls (``pow``, ``exp``, and ``cos`` wherever a probe
finds it differs), ``ARRAY`` calls Python's, element by element (``power``, ``exp``,
:func:`per_value`).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

EXACT = 2**53
"""Integers up to here convert to float64 exactly."""


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
