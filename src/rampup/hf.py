"""transformers' schedule vocabulary, translated once into rampup's own schedules (numpy only).

``from_transformers(name, num_warmup_steps=..., num_training_steps=..., **options)`` takes a
transformers scheduler name (``SchedulerType``) with the arguments transformers' ``get_scheduler``
and ``get_*_schedule*`` functions take, and returns the :class:`~rampup.Schedule` that gives
transformers' numbers: the multiplier of the optimizer's rate at each update, bit for bit (see
``tests/test_names_transformers.py`` for what is compared). transformers' own checks are made here,
with transformers' messages, as rampup errors (``ScheduleValueError`` is a ``ValueError``, as
transformers raises).

Conventions kept from transformers: the warmup rises from 0 at update 0 to the peak on the first
update after it (``Warmup(endpoints="start")``); the decays count from the end of warmup.
Deliberate differences: past ``num_training_steps`` every schedule holds its last value
(transformers' cosines climb back up), and ``num_warmup_steps > num_training_steps`` is an error.

Options that transformers reads off the optimizer (``lr_end`` and ``min_lr`` are absolute rates,
read against the optimizer's ``lr``) need ``peak_lr``, that rate. Besides transformers' options,
every name with a warmup takes rampup's ``warmup_curve``, ``warmup_start`` and
``warmup_endpoints``, and ``linear``, ``cosine`` and ``polynomial`` take ``min_lr_ratio`` (a floor
relative to the peak). :mod:`rampup.names` registers these names from :data:`TRANSLATIONS`, and
``rampup.torch``'s ``get_*`` functions call :func:`from_transformers`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rampup.errors import (
    MAX_STEP,
    RampupWarning,
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
    closest,
    show,
)
from rampup.recipes import (
    DECAY_CURVES,
    WARMUP_OPTIONS,
    check_warmup_options,
    prefixed,
    stable_decay,
    warmup_of,
)
from rampup.schedules import Constant, Cosine, CosineRestarts, InverseSqrt, Linear, Polynomial, Schedule
from rampup.schedules.decay import MAX_CYCLES

__all__ = ["METRIC_DRIVEN", "TRANSLATIONS", "Translation", "from_transformers", "translate"]

Build = Callable[[int, "int | None", dict[str, Any]], Schedule]

TRANSFORMERS_ENDPOINTS = "start"
"""transformers' warmup: 0 at update 0, the peak on the first update after warmup."""

METRIC_DRIVEN = ("reduce_lr_on_plateau", "greedy")
"""transformers' schedulers that follow a monitored metric rather than the step: no schedule to
translate (``rampup.torch.get_scheduler`` builds them)."""


@dataclass(frozen=True)
class Translation:
    """One transformers name: its options (transformers' and rampup's additions) and how the
    arguments become a schedule.

    ``total`` says what transformers' ``get_scheduler`` does with ``num_training_steps``
    (``"required"``, ``"optional"``, ``"ignored"``); ``warmup`` whether the name has a warmup
    (``get_scheduler`` ignores ``num_warmup_steps`` for ``constant``) and ``endpoints`` its
    warmup's default endpoints (see ``Warmup``). ``durations`` are the
    options that count steps (rampup's registry also takes durations such as ``"10%"`` there).
    """

    summary: str
    build: Build
    options: Mapping[str, Any]
    total: str = "required"
    warmup: bool = True
    endpoints: str = TRANSFORMERS_ENDPOINTS
    required: tuple[str, ...] = ()
    durations: frozenset[str] = field(default_factory=frozenset)

    def all_options(self) -> dict[str, Any]:
        """The options with their defaults, the warmup options included where there is a warmup."""
        return {**self.options, **(WARMUP_OPTIONS if self.warmup else {})}


# -- transformers' checks, each in one place ----------------------------------------------------

def _cycles(options: Mapping[str, Any]) -> float:
    """num_cycles under transformers' name (the shapes call it ``cycles``)."""
    return check_real("num_cycles", options["num_cycles"], low=0.0, low_open=True, high=MAX_CYCLES)


def _peak(options: Mapping[str, Any], what: str, relative: str) -> float:
    """The optimizer's rate, against which the absolute ``what`` is read (``relative``: the
    option that gives the same end relative to the peak instead)."""
    if options.get("peak_lr") is None:
        raise ScheduleValueError(
            f"{what} is an absolute rate: pass peak_lr (the optimizer's lr) to read it against, "
            f"or give {relative} as a fraction of the peak"
        )
    return check_real("peak_lr", options["peak_lr"], low=0.0, low_open=True)


def _min_ratio(options: Mapping[str, Any]) -> float:
    """transformers' pair min_lr (absolute) / min_lr_rate (a fraction of the peak): exactly one."""
    min_lr, rate = options.get("min_lr"), options.get("min_lr_rate")
    if min_lr is not None and rate is not None:
        raise ScheduleValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        peak = _peak(options, "min_lr", "min_lr_rate")
        return check_real("min_lr", min_lr, low=0.0, high=peak) / peak
    if rate is None:
        raise ScheduleValueError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )
    return check_real("min_lr_rate", rate, low=0.0, high=1.0)


def _lr_end(options: Mapping[str, Any]) -> tuple[float, float]:
    """(lr_end, peak): transformers' default end 1e-7 and the optimizer's rate (``Polynomial``
    checks that the end is below it, in transformers' words)."""
    lr_end = check_real("lr_end", 1e-7 if options["lr_end"] is None else options["lr_end"], low=0.0)
    return lr_end, _peak(options, f"polynomial's lr_end={lr_end:g}", "min_lr_ratio")


def _decay_steps(warmup: int, total: int | None) -> int:
    # Names whose total is "required" always have one here (see translate).
    return 0 if total is None else total - warmup


def _start(main: Callable[[int, dict[str, Any]], Schedule]) -> Build:
    """The common case: transformers' warmup from 0 in front of ``main(decay steps, options)``."""

    def build(warmup: int, total: int | None, options: dict[str, Any]) -> Schedule:
        return prefixed(main(_decay_steps(warmup, total), options), warmup, options,
                        endpoints=TRANSFORMERS_ENDPOINTS)

    return build


# -- the names ----------------------------------------------------------------------------------

def _polynomial(steps: int, o: dict[str, Any]) -> Schedule:
    if o["min_lr_ratio"] is not None:  # rampup's relative form
        if o["lr_end"] is not None:
            raise ScheduleValueError("give either lr_end (absolute) or min_lr_ratio, not both")
        return Polynomial(steps=steps, power=o["power"], min_lr_ratio=o["min_lr_ratio"])
    lr_end, peak = _lr_end(o)
    return Polynomial(steps=steps, power=o["power"], lr_end=lr_end, peak_lr=peak)


def _inverse_sqrt(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    timescale = o["timescale"]
    if timescale is None:
        timescale = warmup or 10_000
    return prefixed(InverseSqrt(timescale=timescale), warmup, o, endpoints=TRANSFORMERS_ENDPOINTS)


_FIRST_STEP_NONZERO = "end"


def _cosine_warmup_with_min_lr(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    # Its warmup's first update is already above 0 ("end"), or from warmup_lr_rate at update 0 to
    # the peak at the last warmup update ("both"); its cosine counts t - W + 1 ("end").
    floor = _min_ratio(o)
    main = Cosine(steps=_decay_steps(warmup, total), cycles=_cycles(o), min_lr_ratio=floor,
                  endpoints="end")
    if o["warmup_lr_rate"] is None:
        return prefixed(main, warmup, o, endpoints=_FIRST_STEP_NONZERO)
    if o.get("warmup_start") is not None:
        raise ScheduleValueError("give warmup_lr_rate or warmup_start, not both")
    rate = check_real("warmup_lr_rate", o["warmup_lr_rate"], low=0.0, high=1.0)
    return prefixed(main, warmup, {**o, "warmup_start": rate}, endpoints="both")


def _warmup_stable_decay(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    decay = check_int("num_decay_steps", o["num_decay_steps"])
    stable = o["num_stable_steps"]
    if stable is None:
        if total is None:
            raise ScheduleValueError("Either num_training_steps or num_stable_steps must be specified.")
        stable = total - warmup - decay
        if stable < 0:
            raise ScheduleValueError(
                f"num_warmup_steps + num_decay_steps ({warmup} + {decay}) must not exceed "
                f"total_steps ({total})"
            )
    stable = check_int("num_stable_steps", stable)
    if warmup + stable + decay > MAX_STEP:
        raise ScheduleValueError(
            f"warmup_steps + num_stable_steps + num_decay_steps must be at most 2**62, got "
            f"{warmup} + {stable} + {decay}"
        )
    if o.get("warmup_curve", "linear") != "linear":
        raise ScheduleValueError(
            "warmup_stable_decay sets its warmup shape with warmup_type, not warmup_curve"
        )
    warmup_type = check_choice("warmup_type", o["warmup_type"], DECAY_CURVES)
    decay_type = check_choice("decay_type", o["decay_type"], DECAY_CURVES)
    floor = check_real("min_lr_ratio", o["min_lr_ratio"], low=0.0, high=1.0)
    # transformers' WSD warmup starts from min_lr_ratio.
    warm = warmup_of(warmup, o, endpoints=TRANSFORMERS_ENDPOINTS, start=floor, curve=warmup_type)
    return stable_decay(warm, stable, decay_type, decay, floor, _cycles(o))


TRANSLATIONS: dict[str, Translation] = {
    "linear": Translation(
        "linear warmup from 0, then linear decay to 0 at total_steps (transformers)",
        _start(lambda n, o: Linear(steps=n, min_lr_ratio=o["min_lr_ratio"])), {"min_lr_ratio": 0.0},
    ),
    "cosine": Translation(
        "linear warmup from 0, then half-cosine decay to 0 at total_steps (transformers)",
        _start(lambda n, o: Cosine(steps=n, cycles=_cycles(o), min_lr_ratio=o["min_lr_ratio"])),
        {"num_cycles": 0.5, "min_lr_ratio": 0.0},
    ),
    "cosine_with_restarts": Translation(
        "linear warmup, then num_cycles cosines with hard restarts (transformers)",
        _start(lambda n, o: CosineRestarts(steps=n, cycles=_cycles(o))), {"num_cycles": 1},
    ),
    "polynomial": Translation(
        "linear warmup, then (1 - p) ** power decay to lr_end (transformers)",
        _start(_polynomial), {"lr_end": None, "power": 1.0, "peak_lr": None, "min_lr_ratio": None},
    ),
    "constant": Translation(
        "the peak rate throughout, no warmup (transformers)",
        lambda w, t, o: Constant(), {}, total="ignored", warmup=False,
    ),
    "constant_with_warmup": Translation(
        "linear warmup from 0, then the peak rate (transformers)",
        _start(lambda n, o: Constant()), {}, total="ignored",
    ),
    "inverse_sqrt": Translation(
        "linear warmup, then 1/sqrt decay with timescale (default warmup or 10000)",
        _inverse_sqrt, {"timescale": None}, total="ignored", durations=frozenset({"timescale"}),
    ),
    "cosine_with_min_lr": Translation(
        "linear warmup, then cosine decay to min_lr / min_lr_rate (transformers)",
        _start(lambda n, o: Cosine(steps=n, cycles=_cycles(o), min_lr_ratio=_min_ratio(o))),
        {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None, "peak_lr": None},
    ),
    "cosine_warmup_with_min_lr": Translation(
        "warmup whose first step is already nonzero, then cosine decay to min_lr (transformers)",
        _cosine_warmup_with_min_lr,
        {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None, "warmup_lr_rate": None,
         "peak_lr": None},
        endpoints=_FIRST_STEP_NONZERO,
    ),
    "warmup_stable_decay": Translation(
        "warmup, a stable plateau, then a decay to min_lr_ratio (transformers)",
        _warmup_stable_decay,
        {"num_decay_steps": None, "num_stable_steps": None, "warmup_type": "linear",
         "decay_type": "cosine", "min_lr_ratio": 0.0, "num_cycles": 0.5},
        total="optional", required=("num_decay_steps",),
        durations=frozenset({"num_decay_steps", "num_stable_steps"}),
    ),
}
"""transformers' schedule names, in ``SchedulerType``'s order."""


def check_options(name: str, options: Mapping[str, Any], valid: Mapping[str, Any],
                  listed: tuple[str, ...] = ()) -> None:
    """Refuse an option ``name`` does not take, listing the valid ones (``listed`` first)."""
    for key in options:
        if key not in valid:
            listing = ", ".join([*listed, *valid])
            raise ScheduleTypeError(
                f"{name} got unexpected option {show(key)}; valid: {listing}.{closest(key, valid)}"
            )


def translate(name: str, warmup: int, total: int | None, options: Mapping[str, Any]) -> Schedule:
    """The schedule of transformers' ``name`` with ``warmup`` steps (an int, checked) over
    ``total`` (or None), and ``options`` (checked against the name's, defaults filled in).

    The arguments' own rules (which a name needs, which it ignores) are :func:`from_transformers`'s
    and rampup's registry's; this is the translation both share.
    """
    translation = TRANSLATIONS[name]
    check_options(name, options, translation.all_options())
    merged = {**translation.all_options(), **options}
    if translation.warmup:
        check_warmup_options(merged)
    for key in translation.required:
        if merged[key] is None:
            raise ScheduleValueError(f"{name} needs the option {key}")
    return translation.build(warmup, total, merged)


def from_transformers(
    name: str,
    *,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    **options: Any,
) -> Schedule:
    """The rampup schedule for transformers' scheduler ``name`` and its arguments.

    The same rules as transformers' ``get_scheduler``: every name but ``constant`` needs
    ``num_warmup_steps``; ``linear``, ``cosine``, ``cosine_with_restarts``, ``polynomial`` and
    the min-lr cosines need ``num_training_steps``; ``constant`` ignores both, and
    ``constant_with_warmup`` and ``inverse_sqrt`` ignore ``num_training_steps``.
    ``warmup_stable_decay`` takes ``num_training_steps`` or ``num_stable_steps`` (with both, it
    warns and uses ``num_stable_steps``). ``options`` are the name's own (``num_cycles``,
    ``lr_end``, ``power``, ``min_lr``, ``min_lr_rate``, ``warmup_lr_rate``, ``timescale``,
    ``num_decay_steps``, ...), and ``peak_lr`` where an absolute rate is read against it.

    Raises ScheduleValueError (a ValueError) with transformers' message where transformers
    raises, and ScheduleTypeError for an option the name does not take.
    """
    if name in METRIC_DRIVEN:
        raise ScheduleValueError(
            f"{name} follows a monitored metric, not the step: it has no schedule to build (use "
            "rampup.torch.get_scheduler)"
        )
    if not isinstance(name, str) or name not in TRANSLATIONS:
        known = [*TRANSLATIONS, *METRIC_DRIVEN]
        raise ScheduleValueError(
            f"{show(name)} is not a valid SchedulerType, please select one of {known}."
            f"{closest(name, known)}"
        )
    translation = TRANSLATIONS[name]
    warmup = 0
    if translation.warmup:
        if num_warmup_steps is None:
            raise ScheduleValueError(f"{name} requires `num_warmup_steps`, please provide that argument.")
        warmup = check_int("num_warmup_steps", num_warmup_steps)
    total = None if translation.total == "ignored" else num_training_steps
    if total is None and translation.total == "required":
        raise ScheduleValueError(f"{name} requires `num_training_steps`, please provide that argument.")
    if total is not None:
        total = check_int("num_training_steps", total, minimum=1)
        if warmup > total:
            raise ScheduleValueError(
                f"num_warmup_steps ({warmup}) must not be larger than num_training_steps ({total})"
            )
        if "num_stable_steps" in translation.options and options.get("num_stable_steps") is not None:
            warnings.warn(
                "Both num_training_steps and num_stable_steps are specified. num_stable_steps "
                "will be used.",
                RampupWarning,
                stacklevel=2,
            )
    return translate(name, warmup, total, options)

