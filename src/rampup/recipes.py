"""Compositions that more than one vocabulary builds: a warmup described by options, the decay
curves that names choose by a word, and warmup-stable-decay.

rampup's own names (:mod:`rampup.names`) and transformers' names (:mod:`rampup.hf`) both build
these; each vocabulary keeps its own defaults (where the warmup starts, which endpoints it uses)
and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rampup.errors import check_choice, check_real
from rampup.schedules import Constant, Cosine, Join, Polynomial, Schedule, SqrtDecay, Warmup, with_warmup
from rampup.schedules.base import ENDPOINTS
from rampup.schedules.warmup import WARMUP_CURVES

WARMUP_OPTIONS: dict[str, Any] = {"warmup_curve": "linear", "warmup_start": None, "warmup_endpoints": None}
"""The options every name with a warmup takes, and their defaults (None: the name's own)."""

DECAY_CURVES = ("linear", "cosine", "1-sqrt")
"""The decays a name chooses by a word (transformers' WSD ``decay_type``, rampup's ``decay_curve``)."""


def check_warmup_options(options: Mapping[str, Any]) -> None:
    """Check the warmup options in ``options`` (all three present) before anything is built."""
    check_choice("warmup_curve", options["warmup_curve"], WARMUP_CURVES)
    if options["warmup_endpoints"] is not None:
        check_choice("warmup_endpoints", options["warmup_endpoints"], ENDPOINTS)
    if options["warmup_start"] is not None:
        check_real("warmup_start", options["warmup_start"], low=0.0, high=1.0)


def warmup_of(
    steps: int, options: Mapping[str, Any], *, endpoints: str, start: float = 0.0, curve: str | None = None
) -> Warmup:
    """The warmup of ``steps`` updates that ``options`` describe, with the caller's defaults.

    ``warmup_curve`` (or ``curve``, for vocabularies that name it otherwise), ``warmup_start``
    (else ``start``) and ``warmup_endpoints`` (else ``endpoints``). An exponential or constant
    warmup cannot start at 0 (it would never leave it), so a default start of 0 gives way there to
    :class:`Warmup`'s own default (0.01, 0.1).
    """
    shape = curve if curve is not None else options.get("warmup_curve", "linear")
    given = options.get("warmup_start")
    if given is None and not (start == 0.0 and shape in ("exponential", "constant")):
        given = start
    return Warmup(steps=steps, curve=shape, start=given,
                  endpoints=options.get("warmup_endpoints") or endpoints)


def prefixed(main: Schedule, steps: int, options: Mapping[str, Any], *, endpoints: str,
             start: float = 0.0) -> Schedule:
    """:func:`warmup_of` in front of ``main`` (``main`` itself for 0 warmup steps)."""
    if steps == 0:
        return main
    return with_warmup(main, warmup_of(steps, options, endpoints=endpoints, start=start))


def decay_of(curve: str, steps: int, floor: float, cycles: float = 0.5) -> Schedule:
    """A decay from 1 to ``floor`` over ``steps`` updates, by its word in :data:`DECAY_CURVES`."""
    if curve == "linear":
        # transformers' WSD computes 1 - progress, which is a power-1 polynomial, bit for bit.
        return Polynomial(steps=steps, power=1.0, min_lr_ratio=floor)
    if curve == "cosine":
        return Cosine(steps=steps, cycles=cycles, min_lr_ratio=floor)
    return SqrtDecay(steps=steps, min_lr_ratio=floor)


def stable_decay(warmup: Warmup, stable: int, curve: str, steps: int, floor: float,
                 cycles: float = 0.5) -> Join:
    """``warmup``, ``stable`` updates at the peak, then :func:`decay_of` over ``steps`` updates.

    A cosine of other than half a cycle does not end on ``floor``; transformers' WSD drops to
    ``min_lr_ratio`` once its decay is over, so the floor is held from there.
    """
    begin = warmup.steps
    phases: tuple[Schedule, ...] = (warmup, Constant(), decay_of(curve, steps, floor, cycles))
    boundaries: tuple[int, ...] = (begin, begin + stable)
    if curve == "cosine" and cycles != 0.5:
        phases += (Constant(floor),)
        boundaries += (begin + stable + steps,)
    return Join(phases=phases, boundaries=boundaries)
