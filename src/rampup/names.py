"""Schedules by name: transformers' names with their numbers, and rampup's own.

``rampup.schedule(name, warmup_steps=..., total_steps=..., **options)`` looks the name up here.
Each entry declares its options, so a misspelt or foreign option is an error that lists the valid
ones. transformers' names keep transformers' conventions (warmup from 0 at step 0, peak on the
first step after warmup); rampup's own names use the native warmup, whose first update already
runs at ``peak / warmup_steps``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rampup.durations import Duration, resolve_duration, warn_if_zero
from rampup.errors import (
    MAX_STEP,
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
    closest,
    show,
)
from rampup.schedules import (
    SGDR,
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Join,
    Linear,
    MultiStep,
    OneCycle,
    Polynomial,
    Schedule,
    SqrtDecay,
    Step,
    Triangular,
    Warmup,
    with_warmup,
)
from rampup.schedules.base import ENDPOINTS
from rampup.schedules.decay import MAX_CYCLES
from rampup.schedules.warmup import WARMUP_CURVES

Builder = Callable[[int, "int | None", dict[str, Any]], Schedule]

_WARMUP_OPTIONS = {"warmup_curve": "linear", "warmup_start": None, "warmup_endpoints": None}


@dataclass(frozen=True)
class Entry:
    """One named schedule: how to build it, its options and their defaults."""

    name: str
    summary: str
    build: Builder
    options: dict[str, Any]
    needs_total: bool = True
    warmup: bool = True
    transformers: bool = False

    def all_options(self) -> dict[str, Any]:
        return {**self.options, **(_WARMUP_OPTIONS if self.warmup else {})}


REGISTRY: dict[str, Entry] = {}


def _register(entry: Entry) -> None:
    REGISTRY[entry.name] = entry


def _prefix(
    main: Schedule, warmup: int, options: dict[str, Any], default_endpoints: str, start: float = 0.0
) -> Schedule:
    curve = options.get("warmup_curve", "linear")
    return with_warmup(main, warmup, curve=curve, start=_warmup_start(options, curve, start),
                       endpoints=options.get("warmup_endpoints") or default_endpoints)


def _warmup_start(options: dict[str, Any], curve: str, default: float) -> float | None:
    """The warmup_start option, else ``default``; an exponential or constant warmup cannot start
    at 0 (it would never leave it), so there None picks Warmup's own default (0.01, 0.1)."""
    given = options.get("warmup_start")
    if given is not None:
        return given  # type: ignore[no-any-return]
    if default == 0.0 and curve in ("exponential", "constant"):
        return None
    return default


def _decay_steps(warmup: int, total: int | None) -> int:
    assert total is not None
    return total - warmup


def _hf(main: Callable[[int, dict[str, Any]], Schedule]) -> Builder:
    def build(warmup: int, total: int | None, options: dict[str, Any]) -> Schedule:
        length = _decay_steps(warmup, total) if total is not None else 0
        return _prefix(main(length, options), warmup, options, "start")

    return build


def _own(main: Callable[[int, dict[str, Any]], Schedule]) -> Builder:
    def build(warmup: int, total: int | None, options: dict[str, Any]) -> Schedule:
        length = _decay_steps(warmup, total) if total is not None else 0
        return _prefix(main(length, options), warmup, options, "end")

    return build


def _min_ratio(options: dict[str, Any], *, required: bool, rate_key: str = "min_lr_rate") -> float:
    """transformers' pair min_lr (absolute, read against peak_lr) / min_lr_rate (a fraction)."""
    min_lr, rate = options.get("min_lr"), options.get(rate_key)
    if min_lr is not None and rate is not None:
        raise ScheduleValueError(f"Only one of min_lr or {rate_key} should be set")
    if min_lr is not None:
        peak = options.get("peak_lr")
        if peak is None:
            raise ScheduleValueError(
                "min_lr is an absolute rate: pass peak_lr (the optimizer's lr) to read it "
                f"against, or give {rate_key} as a fraction of the peak"
            )
        peak_value = check_real("peak_lr", peak, low=0.0, low_open=True)
        return check_real("min_lr", min_lr, low=0.0, high=peak_value) / peak_value
    if rate is None:
        if required:
            raise ScheduleValueError(f"One of min_lr or {rate_key} should be set")
        return 0.0
    return check_real(rate_key, rate, low=0.0, high=1.0)


def _cycles(options: dict[str, Any]) -> float:
    """Validate num_cycles under the name the caller used (the shapes call it ``cycles``)."""
    return check_real("num_cycles", options["num_cycles"], low=0.0, low_open=True, high=MAX_CYCLES)


# --- transformers' names -------------------------------------------------------------------

_register(Entry(
    "linear", "linear warmup from 0, then linear decay to 0 at total_steps (transformers)",
    _hf(lambda n, o: Linear(steps=n, min_lr_ratio=o["min_lr_ratio"])),
    {"min_lr_ratio": 0.0}, transformers=True,
))
_register(Entry(
    "cosine", "linear warmup from 0, then half-cosine decay to 0 at total_steps (transformers)",
    _hf(lambda n, o: Cosine(steps=n, cycles=_cycles(o), min_lr_ratio=o["min_lr_ratio"])),
    {"num_cycles": 0.5, "min_lr_ratio": 0.0}, transformers=True,
))
_register(Entry(
    "cosine_with_restarts", "linear warmup, then num_cycles cosines with hard restarts (transformers)",
    _hf(lambda n, o: CosineRestarts(steps=n, cycles=_cycles(o))),
    {"num_cycles": 1}, transformers=True,
))


def _polynomial(n: int, o: dict[str, Any]) -> Schedule:
    if o["min_lr_ratio"] is not None:
        if o["lr_end"] is not None:
            raise ScheduleValueError("give either lr_end (absolute) or min_lr_ratio, not both")
        return Polynomial(steps=n, power=o["power"], min_lr_ratio=o["min_lr_ratio"])
    lr_end = check_real("lr_end", 1e-7 if o["lr_end"] is None else o["lr_end"], low=0.0)
    if o["peak_lr"] is None:
        raise ScheduleValueError(
            f"polynomial reads lr_end={lr_end:g} against the peak rate: pass peak_lr (the "
            "optimizer's lr), or min_lr_ratio for an end value relative to the peak"
        )
    peak = check_real("peak_lr", o["peak_lr"], low=0.0, low_open=True)
    if not peak > lr_end:
        raise ScheduleValueError(f"lr_end ({lr_end:g}) must be smaller than initial lr (peak_lr={peak:g})")
    return Polynomial(steps=n, power=o["power"], lr_end=lr_end, peak_lr=peak)


_register(Entry(
    "polynomial", "linear warmup, then (1 - p) ** power decay to lr_end (transformers)",
    _hf(_polynomial), {"lr_end": None, "power": 1.0, "peak_lr": None, "min_lr_ratio": None},
    transformers=True,
))
_register(Entry(
    "constant", "the peak rate throughout, no warmup (transformers)",
    lambda w, t, o: Constant(), {}, needs_total=False, warmup=False, transformers=True,
))
_register(Entry(
    "constant_with_warmup", "linear warmup from 0, then the peak rate (transformers)",
    _hf(lambda n, o: Constant()), {}, needs_total=False, transformers=True,
))


def _inverse_sqrt(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    timescale = o["timescale"]
    if timescale is None:
        timescale = warmup or 10_000
    return _prefix(InverseSqrt(timescale=timescale), warmup, o, "start")


_register(Entry(
    "inverse_sqrt", "linear warmup, then 1/sqrt decay with timescale (default warmup or 10000)",
    _inverse_sqrt, {"timescale": None}, needs_total=False, transformers=True,
))
_register(Entry(
    "cosine_with_min_lr", "linear warmup, then cosine decay to min_lr / min_lr_rate (transformers)",
    _hf(lambda n, o: Cosine(steps=n, cycles=_cycles(o), min_lr_ratio=_min_ratio(o, required=True))),
    {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None, "peak_lr": None}, transformers=True,
))


def _cosine_warmup_with_min_lr(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    floor = _min_ratio(o, required=True)
    assert total is not None
    main = Cosine(steps=total - warmup, cycles=_cycles(o), min_lr_ratio=floor, endpoints="end")
    if o["warmup_lr_rate"] is None:
        return _prefix(main, warmup, o, "end")
    if o.get("warmup_start") is not None:
        raise ScheduleValueError("give warmup_lr_rate or warmup_start, not both")
    rate = check_real("warmup_lr_rate", o["warmup_lr_rate"], low=0.0, high=1.0)
    return _prefix(main, warmup, {**o, "warmup_start": rate}, "both")


_register(Entry(
    "cosine_warmup_with_min_lr",
    "warmup whose first step is already nonzero, then cosine decay to min_lr (transformers)",
    _cosine_warmup_with_min_lr,
    {"num_cycles": 0.5, "min_lr": None, "min_lr_rate": None, "warmup_lr_rate": None,
     "peak_lr": None},
    transformers=True,
))

_DECAYS = ("linear", "cosine", "1-sqrt")


def _decay(kind: str, steps: int, floor: float, cycles: float) -> Schedule:
    if kind == "linear":
        # transformers' WSD computes 1 - progress, which is a power-1 polynomial, bit for bit.
        return Polynomial(steps=steps, power=1.0, min_lr_ratio=floor)
    if kind == "cosine":
        return Cosine(steps=steps, cycles=cycles, min_lr_ratio=floor)
    return SqrtDecay(steps=steps, min_lr_ratio=floor)


def _stable_decay(
    warmup: int, stable: int, decay: int, o: dict[str, Any], warmup_kind: str, decay_kind: str,
    floor: float, cycles: float, endpoints: str, start: float | None,
) -> Schedule:
    warm = Warmup(
        steps=warmup, curve=warmup_kind, start=start,
        endpoints=o.get("warmup_endpoints") or endpoints,
    )
    phases = (warm, Constant(), _decay(decay_kind, decay, floor, cycles))
    if decay_kind == "cosine" and cycles != 0.5:
        # A cosine of other than half a cycle does not end on the floor; transformers' WSD
        # drops to min_lr_ratio once the decay is over, so hold the floor from there.
        end = warmup + stable + decay
        return Join(phases=(*phases, Constant(floor)), boundaries=(warmup, warmup + stable, end))
    return Join(phases=phases, boundaries=(warmup, warmup + stable))


def _wsd_hf(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    decay = o["num_decay_steps"]
    if decay is None:
        raise ScheduleValueError("warmup_stable_decay needs num_decay_steps")
    decay = check_int("num_decay_steps", decay)
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
    warmup_type = check_choice("warmup_type", o["warmup_type"], _DECAYS)
    decay_type = check_choice("decay_type", o["decay_type"], _DECAYS)
    floor = check_real("min_lr_ratio", o["min_lr_ratio"], low=0.0, high=1.0)
    # transformers' WSD warmup starts from min_lr_ratio.
    return _stable_decay(warmup, stable, decay, o, warmup_type, decay_type, floor,
                         _cycles(o), "start", _warmup_start(o, warmup_type, floor))


_register(Entry(
    "warmup_stable_decay", "warmup, a stable plateau, then a decay to min_lr_ratio (transformers)",
    _wsd_hf,
    {"num_decay_steps": None, "num_stable_steps": None, "warmup_type": "linear",
     "decay_type": "cosine", "min_lr_ratio": 0.0, "num_cycles": 0.5},
    needs_total=False, transformers=True,
))

# --- rampup's own names ----------------------------------------------------------------------

_register(Entry(
    "warmup_linear", "native warmup (first update nonzero), then linear decay to min_lr_ratio",
    _own(lambda n, o: Linear(steps=n, min_lr_ratio=o["min_lr_ratio"])), {"min_lr_ratio": 0.0},
))
_register(Entry(
    "warmup_cosine", "native warmup, then half-cosine decay to min_lr_ratio",
    _own(lambda n, o: Cosine(steps=n, min_lr_ratio=o["min_lr_ratio"], cycles=o["cycles"])),
    {"min_lr_ratio": 0.0, "cycles": 0.5},
))
_register(Entry(
    "warmup_constant", "native warmup, then the peak rate",
    _own(lambda n, o: Constant()), {}, needs_total=False,
))
_register(Entry(
    "warmup_polynomial", "native warmup, then (1 - p) ** power decay to min_lr_ratio",
    _own(lambda n, o: Polynomial(steps=n, power=o["power"], min_lr_ratio=o["min_lr_ratio"])),
    {"power": 2.0, "min_lr_ratio": 0.0},
))


def _wsd(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    if total is None:
        # Open-ended: warmup, then the stable phase until Scheduler.cooldown() starts the decay.
        if o["decay_steps"] is not None:
            raise ScheduleValueError(
                "wsd without total_steps is open-ended (its decay starts with Scheduler.cooldown());"
                " decay_steps needs total_steps"
            )
        return _prefix(Constant(), warmup, o, "end")
    fraction = check_real("decay_fraction", o["decay_fraction"], low=0.0, high=1.0)
    decay = round(fraction * total) if o["decay_steps"] is None else check_int(
        "decay_steps", o["decay_steps"])
    if warmup + decay > total:
        given = "decay_steps" if o["decay_steps"] is not None else "decay_fraction * total_steps"
        raise ScheduleValueError(
            f"warmup_steps ({warmup}) + {given} ({decay}) must not exceed total_steps ({total})"
        )
    kind = check_choice("decay_curve", o["decay_curve"], _DECAYS)
    floor = check_real("min_lr_ratio", o["min_lr_ratio"], low=0.0, high=1.0)
    # The native warmup starts from 0 (not from the floor, as transformers' WSD does).
    curve = o.get("warmup_curve", "linear")
    return _stable_decay(warmup, total - warmup - decay, decay, o, curve, kind, floor, 0.5, "end",
                         _warmup_start(o, curve, 0.0))


_register(Entry(
    "wsd", "native warmup, stable plateau, then a decay over the last decay_fraction of training",
    _wsd, {"decay_fraction": 0.2, "decay_steps": None, "decay_curve": "1-sqrt", "min_lr_ratio": 0.0},
    needs_total=False,
))
_register(Entry(
    "step", "native warmup, then x gamma every step_size steps (torch StepLR)",
    _own(lambda n, o: Step(step_size=o["step_size"], gamma=o["gamma"])),
    {"step_size": None, "gamma": 0.1}, needs_total=False,
))
_register(Entry(
    "multistep", "native warmup, then x gamma at each milestone (steps counted after warmup)",
    _own(lambda n, o: MultiStep(milestones=o["milestones"], gamma=o["gamma"])),
    {"milestones": None, "gamma": 0.1}, needs_total=False,
))


def _goyal(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    factor = check_real("factor", o["factor"], low=1.0)
    main = MultiStep(milestones=o["milestones"], gamma=o["gamma"])
    if warmup == 0:
        return main
    warm = Warmup(steps=warmup, curve="linear", start=1.0 / factor, endpoints="start")
    return Join(phases=(warm, main), boundaries=(warmup,), clock="absolute")


_register(Entry(
    "goyal", "gradual warmup from peak/factor (Goyal et al. 2017), then x gamma at milestones "
    "counted from step 0",
    _goyal, {"factor": 8.0, "milestones": None, "gamma": 0.1}, needs_total=False, warmup=False,
))
_register(Entry(
    "exponential", "native warmup, then gamma ** t (or exp(-rate t)) decay",
    _own(lambda n, o: Exponential(gamma=o["gamma"], rate=o["rate"])),
    {"gamma": None, "rate": None}, needs_total=False,
))
_register(Entry(
    "sgdr", "native warmup, then cosine annealing with warm restarts (period_mult, peak_decay)",
    _own(lambda n, o: SGDR(period_steps=o["period_steps"], period_mult=o["period_mult"],
                           peak_decay=o["peak_decay"], min_lr_ratio=o["min_lr_ratio"],
                           max_cycles=o["max_cycles"])),
    {"period_steps": None, "period_mult": 1.0, "peak_decay": 1.0, "min_lr_ratio": 0.0,
     "max_cycles": None},
    needs_total=False,
))
def _one_cycle(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    # OneCycle calls its length steps; here it is total_steps, so check it under that name.
    steps = check_int("total_steps", total, minimum=2)
    pct = check_real("pct_start", o["pct_start"], low=0.0, high=1.0, low_open=True, high_open=True)
    if not pct * steps > 1:
        raise ScheduleValueError(
            f"pct_start * total_steps must be > 1 so the rise has a step, got {pct:g} * {steps}"
        )
    return OneCycle(steps=steps, pct_start=pct, div_factor=o["div_factor"],
                    final_div_factor=o["final_div_factor"], anneal=o["anneal"],
                    three_phase=o["three_phase"])


_register(Entry(
    "one_cycle", "one-cycle policy over total_steps (torch OneCycleLR); its rise is the warmup",
    _one_cycle,
    {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "anneal": "cos",
     "three_phase": False},
    warmup=False,
))
_register(Entry(
    "triangular", "triangular cyclic rate between min_lr_ratio and the peak (torch CyclicLR)",
    lambda w, t, o: Triangular(step_size_up=o["step_size_up"], step_size_down=o["step_size_down"],
                               min_lr_ratio=o["min_lr_ratio"], mode=o["mode"]),
    {"step_size_up": None, "step_size_down": None, "min_lr_ratio": 0.1, "mode": "triangular"},
    needs_total=False, warmup=False,
))


# Options that count steps may also be given as durations ("30ep", "10%").
_DURATION_OPTIONS = {"milestones", "step_size", "period_steps", "decay_steps", "num_decay_steps",
                     "num_stable_steps", "step_size_up", "step_size_down", "timescale"}


def _durations(key: str, value: Any, total: int | None, steps_per_epoch: int | None) -> Any:
    def one(item: Any) -> Any:
        if isinstance(item, str):
            return resolve_duration(item, name=key, total_steps=total, steps_per_epoch=steps_per_epoch)
        return item

    if isinstance(value, (list, tuple)):
        return [one(item) for item in value]
    return one(value)


def names() -> list[str]:
    """Every schedule name ``rampup.schedule`` accepts."""
    return list(REGISTRY)


def schedule(
    name: str,
    *,
    warmup_steps: int | None = None,
    warmup_fraction: float | None = None,
    warmup: Duration | None = None,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
    **options: Any,
) -> Schedule:
    """Build a schedule by name, e.g. ``schedule("cosine", warmup_steps=500, total_steps=10_000)``.

    Warmup is given by at most one of ``warmup_steps`` (int), ``warmup_fraction`` (of
    ``total_steps``) or ``warmup`` (a duration: ``500``, ``"10%"``, ``"5ep"`` with
    ``steps_per_epoch``). Options are the name's own (see ``rampup list`` or ``REGISTRY``); every
    name with a warmup also takes ``warmup_curve``, ``warmup_start`` and ``warmup_endpoints``.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise ScheduleValueError(
            f"unknown schedule name {show(name)}; known: {', '.join(REGISTRY)}."
            f"{closest(name, REGISTRY)}"
        )
    entry = REGISTRY[name]
    valid = entry.all_options()
    for key in options:
        if key not in valid:
            listing = ", ".join(["warmup_steps", "warmup_fraction", "warmup", "total_steps",
                                 "steps_per_epoch", *valid])
            raise ScheduleTypeError(
                f"{name} got unexpected option {show(key)}; valid: {listing}.{closest(key, valid)}"
            )
    total = None if total_steps is None else check_int("total_steps", total_steps, minimum=1)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if entry.needs_total and total is None:
        raise ScheduleValueError(f"{name} requires total_steps (num_training_steps)")
    given = [k for k, v in (("warmup_steps", warmup_steps), ("warmup_fraction", warmup_fraction),
                            ("warmup", warmup)) if v is not None]
    if len(given) > 1:
        raise ScheduleValueError(f"give at most one of warmup_steps, warmup_fraction, warmup; got {given}")
    steps = 0
    if warmup_steps is not None:
        steps = check_int("warmup_steps", warmup_steps)
    elif warmup_fraction is not None:
        fraction = check_real("warmup_fraction", warmup_fraction, low=0.0, high=1.0)
        steps = resolve_duration(fraction, name="warmup_fraction", total_steps=total)
    elif warmup is not None:
        steps = resolve_duration(warmup, name="warmup", total_steps=total,
                                 steps_per_epoch=steps_per_epoch)
        warn_if_zero("warmup", warmup, steps)
    if steps and not entry.warmup and name != "goyal":
        raise ScheduleValueError(
            f"{name} has no separate warmup (got {given[0]}: {steps} warmup steps); "
            + ("use constant_with_warmup" if name == "constant" else "set warmup to 0")
        )
    if total is not None and steps > total:
        raise ScheduleValueError(
            f"{given[0]} ({steps} steps) must not be longer than total_steps ({total})"
        )
    if name == "goyal" and steps == 0 and warmup_steps is None and warmup is None:
        raise ScheduleValueError("goyal needs a warmup length (warmup_steps or warmup='5ep')")
    merged = {**valid, **options}
    for key in _DURATION_OPTIONS & merged.keys():
        merged[key] = _durations(key, merged[key], total, steps_per_epoch)
    if entry.warmup:
        check_choice("warmup_curve", merged["warmup_curve"], WARMUP_CURVES)
        if merged["warmup_endpoints"] is not None:
            check_choice("warmup_endpoints", merged["warmup_endpoints"], ENDPOINTS)
        if merged["warmup_start"] is not None:
            check_real("warmup_start", merged["warmup_start"], low=0.0, high=1.0)
    for key in ("step_size", "milestones", "period_steps", "step_size_up"):
        if key in merged and merged[key] is None and key in valid:
            raise ScheduleValueError(f"{name} needs the option {key}")
    return entry.build(steps, total, merged)
