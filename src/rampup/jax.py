"""JAX and optax: a rampup schedule as an optax schedule.

A rampup schedule already evaluates JAX arrays, also under ``jax.jit`` (see
``Schedule._eval_array_api``); this module only scales it to a learning rate in the form optax
takes. It imports jax when called, not when imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rampup.errors import check_peak_times_schedule, check_real
from rampup.names import ScheduleLike, as_schedule

__all__ = ["to_optax"]


def to_optax(schedule: ScheduleLike, peak_lr: float, *, dtype: Any = None,
             **options: Any) -> Callable[[Any], Any]:
    """An optax schedule: ``count -> peak_lr * schedule(count)``, jit-compatible.

    ``schedule`` is a rampup ``Schedule``, its ``to_dict()`` form, or a name for ``rampup.schedule``
    with ``options`` (``to_optax("cosine", 3e-4, warmup_steps=100, total_steps=1000)``).

    Use it wherever optax takes a schedule, e.g. ``optax.adamw(learning_rate=to_optax(s, 3e-4))``
    or ``optax.inject_hyperparams(optax.adamw)(learning_rate=to_optax(s, 3e-4))``.

    **Step convention.** optax calls the schedule with its update count *before* incrementing it,
    so update number ``k`` (0-based) runs at ``peak_lr * schedule(k)``: the same convention as
    ``schedule(step)`` everywhere in rampup (and transformers' LambdaLR), no shift needed. The one
    place an off-by-one shows is reading it back: after the ``k``-th ``update``,
    ``opt_state.hyperparams["learning_rate"]`` of ``inject_hyperparams`` holds the rate that update
    *used*, ``peak_lr * schedule(k)`` (after ``init`` it holds ``schedule(0)``), not the rate of the
    next update, which is what ``get_last_lr()`` of a PyTorch scheduler shows after
    ``scheduler.step()``.

    **dtype.** optax's count is an int32 array, so the rate is float32 by default and float64 with
    ``jax_enable_x64``. ``dtype`` casts it (e.g. to the parameters' dtype); optax's updates
    themselves keep the parameters' dtype either way. A Python int count gives a Python float.
    Counts are not checked for being >= 0 (they may be traced).
    """
    built = as_schedule(schedule, **options)
    peak = check_real("peak_lr", peak_lr, low=0.0)
    check_peak_times_schedule(peak, built)

    def learning_rate(count: Any) -> Any:
        rate = peak * built(count)
        if dtype is None or isinstance(rate, float):
            return rate
        import jax.numpy as jnp

        return jnp.asarray(rate, dtype=dtype)

    learning_rate.__doc__ = f"{peak:g} x {built.label()}, at optax's update count."
    return learning_rate
