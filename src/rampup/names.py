"""Schedules by name: transformers' names with their numbers, and rampup's own.

``rampup.schedule(name, warmup_steps=..., total_steps=..., **options)`` looks the name up here.
Each :class:`Entry` declares what the generic code needs to know about its name (its options and
their defaults, whether it takes a warmup and with which endpoints, which options it cannot do
without and which count steps), so a misspelt or foreign option is an error that lists the valid
ones and no name is special-cased. transformers' names are translated by :mod:`rampup.hf` and keep
transformers' conventions (warmup from 0 at step 0, peak on the first step after warmup);
rampup's own names use the native warmup, whose first update already runs at
``peak / warmup_steps``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rampup.config import from_dict
from rampup.durations import Duration, resolve_duration, warn_if_zero
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
    closest,
    show,
)
from rampup.hf import TRANSLATIONS, check_options, translate
from rampup.recipes import (
    DECAY_CURVES,
    WARMUP_OPTIONS,
    check_warmup_options,
    prefixed,
    stable_decay,
    warmup_of,
)
from rampup.schedules import (
    SGDR,
    Constant,
    Cosine,
    Exponential,
    Linear,
    MultiStep,
    OneCycle,
    Polynomial,
    Schedule,
    Step,
    Triangular,
    gradual_warmup,
    with_warmup,
)

#: (warmup steps, total steps or None, options with their defaults) -> the whole schedule.
Builder = Callable[[int, "int | None", dict[str, Any]], Schedule]
#: (decay steps: total - warmup, 0 for a name that needs no total; options) -> what follows warmup.
Main = Callable[[int, dict[str, Any]], Schedule]

NATIVE_ENDPOINTS = "end"
"""rampup's own warmup: its first update already runs at ``peak / warmup_steps``."""

#: The keyword arguments of :func:`schedule` itself, which every name takes besides its options.
COMMON = ("warmup_steps", "warmup_fraction", "warmup", "total_steps", "steps_per_epoch")

#: What names call by different options (transformers' words and rampup's): a name takes at most
#: one option of each line (see :meth:`Entry.option_for`).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "cycles": ("num_cycles", "cycles"),  # cosine cycles
    "floor": ("min_lr_ratio", "min_lr_rate"),  # the final rate, relative to the peak
    "floor_lr": ("min_lr", "lr_end"),  # the final rate, absolute (read against peak_lr)
}


@dataclass(frozen=True)
class Entry:
    """One named schedule: how it is built and what it takes.

    Built either by ``main`` (what follows the warmup; the registry puts the warmup in front) or
    by ``build`` (the whole schedule, for names whose warmup is their own). ``warmup``: the name
    takes a warmup length with the warmup options (``warmup_curve``, ``warmup_start``,
    ``warmup_endpoints``), whose default endpoints are ``endpoints`` (transformers' names, built
    by :mod:`rampup.hf`, repeat their translation's). ``required``: options that
    must be given, ``"warmup"`` for a warmup length (a name whose warmup is its own shape, as
    ``goyal``'s). A name neither with ``warmup`` nor requiring one refuses a warmup length.
    ``durations``: options that count steps, which also take durations (``"30ep"``, ``"10%"``).
    """

    name: str
    summary: str
    options: dict[str, Any]
    main: Main | None = None
    build: Builder | None = None
    needs_total: bool = True
    warmup: bool = True
    endpoints: str = NATIVE_ENDPOINTS
    required: tuple[str, ...] = ()
    durations: frozenset[str] = field(default_factory=frozenset)
    transformers: bool = False

    def all_options(self) -> dict[str, Any]:
        return {**self.options, **(WARMUP_OPTIONS if self.warmup else {})}

    def option_for(self, concept: str) -> str | None:
        """This name's option for ``concept`` (a key of :data:`SYNONYMS`), or None."""
        return next((key for key in SYNONYMS[concept] if key in self.all_options()), None)

    @property
    def takes_warmup(self) -> bool:
        """Whether a warmup length is accepted at all."""
        return self.warmup or "warmup" in self.required

    def make(self, warmup: int, total: int | None, options: dict[str, Any]) -> Schedule:
        """The schedule, from checked arguments (options merged with their defaults)."""
        if self.main is not None:
            main = self.main(0 if total is None else total - warmup, options)
            return prefixed(main, warmup, options, endpoints=self.endpoints)
        if self.build is not None:
            return self.build(warmup, total, options)
        raise TypeError(f"the registry entry {self.name!r} has neither main nor build")


REGISTRY: dict[str, Entry] = {}


def _register(entry: Entry) -> None:
    REGISTRY[entry.name] = entry


# --- transformers' names, as rampup.hf translates them -----------------------------------------

def _translated(name: str) -> Builder:
    return lambda warmup, total, options: translate(name, warmup, total, options)


for _name, _translation in TRANSLATIONS.items():
    _register(Entry(
        _name, _translation.summary, dict(_translation.options), build=_translated(_name),
        needs_total=_translation.total == "required", warmup=_translation.warmup,
        endpoints=_translation.endpoints, required=_translation.required,
        durations=_translation.durations, transformers=True,
    ))

# --- rampup's own names ----------------------------------------------------------------------

_register(Entry(
    "warmup_linear", "native warmup (first update nonzero), then linear decay to min_lr_ratio",
    {"min_lr_ratio": 0.0}, main=lambda n, o: Linear(steps=n, min_lr_ratio=o["min_lr_ratio"]),
))
_register(Entry(
    "warmup_cosine", "native warmup, then half-cosine decay to min_lr_ratio",
    {"min_lr_ratio": 0.0, "cycles": 0.5},
    main=lambda n, o: Cosine(steps=n, min_lr_ratio=o["min_lr_ratio"], cycles=o["cycles"]),
))
_register(Entry(
    "warmup_constant", "native warmup, then the peak rate", {}, main=lambda n, o: Constant(),
    needs_total=False,
))
_register(Entry(
    "warmup_polynomial", "native warmup, then (1 - p) ** power decay to min_lr_ratio",
    {"power": 2.0, "min_lr_ratio": 0.0},
    main=lambda n, o: Polynomial(steps=n, power=o["power"], min_lr_ratio=o["min_lr_ratio"]),
))


def _wsd(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    if total is None:
        # Open-ended: warmup, then the stable phase until Scheduler.cooldown() starts the decay.
        if o["decay_steps"] is not None:
            raise ScheduleValueError(
                "wsd without total_steps is open-ended (its decay starts with Scheduler.cooldown());"
                " decay_steps needs total_steps"
            )
        return prefixed(Constant(), warmup, o, endpoints=NATIVE_ENDPOINTS)
    fraction = check_real("decay_fraction", o["decay_fraction"], low=0.0, high=1.0)
    decay = round(fraction * total) if o["decay_steps"] is None else check_int(
        "decay_steps", o["decay_steps"])
    if warmup + decay > total:
        given = "decay_steps" if o["decay_steps"] is not None else "decay_fraction * total_steps"
        raise ScheduleValueError(
            f"warmup_steps ({warmup}) + {given} ({decay}) must not exceed total_steps ({total})"
        )
    curve = check_choice("decay_curve", o["decay_curve"], DECAY_CURVES)
    floor = check_real("min_lr_ratio", o["min_lr_ratio"], low=0.0, high=1.0)
    # The native warmup starts from 0 (not from the floor, as transformers' WSD does).
    warm = warmup_of(warmup, o, endpoints=NATIVE_ENDPOINTS)
    return stable_decay(warm, total - warmup - decay, curve, decay, floor)


_register(Entry(
    "wsd", "native warmup, stable plateau, then a decay over the last decay_fraction of training",
    {"decay_fraction": 0.2, "decay_steps": None, "decay_curve": "1-sqrt", "min_lr_ratio": 0.0},
    build=_wsd, needs_total=False, durations=frozenset({"decay_steps"}),
))
_register(Entry(
    "step", "native warmup, then x gamma every step_size steps (torch StepLR)",
    {"step_size": None, "gamma": 0.1}, main=lambda n, o: Step(step_size=o["step_size"], gamma=o["gamma"]),
    needs_total=False, required=("step_size",), durations=frozenset({"step_size"}),
))
_register(Entry(
    "multistep", "native warmup, then x gamma at each milestone (steps counted after warmup)",
    {"milestones": None, "gamma": 0.1},
    main=lambda n, o: MultiStep(milestones=o["milestones"], gamma=o["gamma"]),
    needs_total=False, required=("milestones",), durations=frozenset({"milestones"}),
))


def _goyal(warmup: int, total: int | None, o: dict[str, Any]) -> Schedule:
    # The milestones count from step 0, so the decay runs on the global step under the warmup.
    return with_warmup(MultiStep(milestones=o["milestones"], gamma=o["gamma"]),
                       gradual_warmup(warmup, o["factor"]), clock="absolute")


_register(Entry(
    "goyal", "gradual warmup from peak/factor (Goyal et al. 2017), then x gamma at milestones "
    "counted from step 0",
    {"factor": 8.0, "milestones": None, "gamma": 0.1}, build=_goyal, needs_total=False,
    warmup=False, required=("warmup", "milestones"), durations=frozenset({"milestones"}),
))
_register(Entry(
    "exponential", "native warmup, then gamma ** t (or exp(-rate t)) decay",
    {"gamma": None, "rate": None}, main=lambda n, o: Exponential(gamma=o["gamma"], rate=o["rate"]),
    needs_total=False,
))
_register(Entry(
    "sgdr", "native warmup, then cosine annealing with warm restarts (period_mult, peak_decay)",
    {"period_steps": None, "period_mult": 1.0, "peak_decay": 1.0, "min_lr_ratio": 0.0,
     "max_cycles": None},
    main=lambda n, o: SGDR(period_steps=o["period_steps"], period_mult=o["period_mult"],
                           peak_decay=o["peak_decay"], min_lr_ratio=o["min_lr_ratio"],
                           max_cycles=o["max_cycles"]),
    needs_total=False, required=("period_steps",), durations=frozenset({"period_steps"}),
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
    {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "anneal": "cos",
     "three_phase": False},
    build=_one_cycle, warmup=False,
))
_register(Entry(
    "triangular", "triangular cyclic rate between min_lr_ratio and the peak (torch CyclicLR)",
    {"step_size_up": None, "step_size_down": None, "min_lr_ratio": 0.1, "mode": "triangular"},
    build=lambda w, t, o: Triangular(step_size_up=o["step_size_up"], step_size_down=o["step_size_down"],
                                     min_lr_ratio=o["min_lr_ratio"], mode=o["mode"]),
    needs_total=False, warmup=False, required=("step_size_up",),
    durations=frozenset({"step_size_up", "step_size_down"}),
))


def names() -> list[str]:
    """Every schedule name ``rampup.schedule`` accepts.

    Examples:
        >>> import rampup
        >>> rampup.names()[:4]
        ['linear', 'cosine', 'cosine_with_restarts', 'polynomial']
        >>> "wsd" in rampup.names()
        True
    """
    return list(REGISTRY)


def entry(name: object) -> Entry:
    """The registry entry of ``name``; an unknown name is an error that suggests the closest."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise ScheduleValueError(
            f"unknown schedule name {show(name)}; known: {', '.join(REGISTRY)}."
            f"{closest(name, REGISTRY)}"  # type: ignore[arg-type]
        )
    return REGISTRY[name]


def _durations(key: str, value: Any, total: int | None, steps_per_epoch: int | None) -> Any:
    def one(item: Any) -> Any:
        if isinstance(item, str):
            return resolve_duration(item, name=key, total_steps=total, steps_per_epoch=steps_per_epoch)
        return item

    if isinstance(value, (list, tuple)):
        return [one(item) for item in value]
    return one(value)


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

    Examples:
        >>> import rampup
        >>> s = rampup.schedule("linear", warmup_steps=2, total_steps=6)   # transformers' linear
        >>> [s(t) for t in range(7)]                     # t / 2, then (6 - t) / 4
        [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
        >>> rampup.schedule("cosine", warmup="10%", total_steps=1000)(100)  # warmup ends at update 100
        1.0
    """
    named = entry(name)
    valid = named.all_options()
    check_options(name, options, valid, COMMON)
    total = None if total_steps is None else check_int("total_steps", total_steps, minimum=1)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    if named.needs_total and total is None:
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
    if steps and not named.takes_warmup:
        instead = f"{name}_with_warmup"
        raise ScheduleValueError(
            f"{name} has no separate warmup (got {given[0]}: {steps} warmup steps); "
            + (f"use {instead}" if instead in REGISTRY else "set warmup to 0")
        )
    if total is not None and steps > total:
        raise ScheduleValueError(
            f"{given[0]} ({steps} steps) must not be longer than total_steps ({total})"
        )
    if "warmup" in named.required and not given:
        raise ScheduleValueError(f"{name} needs a warmup length (warmup_steps or warmup='5ep')")
    merged = {**valid, **options}
    for key in named.durations & merged.keys():
        merged[key] = _durations(key, merged[key], total, steps_per_epoch)
    if named.warmup:
        check_warmup_options(merged)
    for key in named.required:
        if key != "warmup" and merged[key] is None:
            raise ScheduleValueError(f"{name} needs the option {key}")
    return named.make(steps, total, merged)


#: What :func:`as_schedule` takes: a schedule, its ``to_dict()`` form, or a name.
ScheduleLike = Schedule | Mapping[str, Any] | str


def as_schedule(value: ScheduleLike, **options: Any) -> Schedule:
    """The schedule ``value`` describes: a ``Schedule`` as it is, its ``to_dict()`` form (through
    ``rampup.from_dict``), or a name for :func:`schedule` with ``options``.

    The one way the framework adapters (Keras, Lightning, JAX) read the schedule they are given.
    """
    if isinstance(value, str):
        return schedule(value, **options)
    _no_options(options)
    if isinstance(value, Mapping):
        return from_dict(dict(value))
    if not isinstance(value, Schedule):
        raise ScheduleTypeError(
            "schedule must be a rampup Schedule, its to_dict() form or a schedule name, got "
            f"{type(value).__name__}"
        )
    return value


def as_schedules(value: ScheduleLike | Sequence[Schedule | Mapping[str, Any]],
                 **options: Any) -> Schedule | list[Schedule]:
    """:func:`as_schedule`, or a list of them (one per parameter group) for a list or tuple."""
    if isinstance(value, (list, tuple)):
        _no_options(options)
        return [as_schedule(item) for item in value]
    return as_schedule(value, **options)  # type: ignore[arg-type]  # refuses any other sequence


def _no_options(options: Mapping[str, Any]) -> None:
    if options:
        raise ScheduleTypeError(
            f"options {sorted(options)} are only for a schedule given by name; this one is "
            "already built"
        )
