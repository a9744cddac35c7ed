"""Property-based fuzzing of the schedule core (hypothesis).

Options for every shape, combinator and registered name, configs (valid, mutated, hostile) and
the other public functions are generated, mostly valid, then one option is replaced by an edge or
hostile value. Whatever comes in, the promises hold:

- a build either fails with a ``RampupError`` whose one-line message names the replaced option,
  or gives a schedule whose values are finite, non-negative and within ``upper_bound()`` at any
  step up to 2**62, held from ``horizon`` on;
- the per-step (Python int) and numpy paths give the same bits at every step;
- ``to_dict``, JSON and YAML round trips give an equal schedule with the same bits;
- loading a config never raises anything but a ``RampupError`` and never takes long.

The ``ci`` profile (default) runs a fixed, bounded set of examples; ``make fuzz`` runs many
random ones (``HYPOTHESIS_PROFILE=fuzz``).
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rampup
from rampup import RampupError, Schedule
from rampup.errors import MAX_MULTIPLIER, MAX_STEP
from rampup.schedules import SHAPES

yaml = pytest.importorskip("yaml")

_BASE = settings.default.max_examples


def examples(factor: float) -> settings:
    """This profile's number of examples, scaled for a test's cost."""
    return settings(max_examples=max(5, int(_BASE * factor)))


# -- values -----------------------------------------------------------------------------------

EDGE_INTS = [0, 1, 2, 3, 7, 2**31, 2**52, 2**52 + 1, 2**53 + 1, 2**61, MAX_STEP - 1, MAX_STEP]
EDGE_FLOATS = [0.0, 5e-324, 1e-300, 1e-7, 0.1, 0.5, 1.0 - 2**-53, 1.0, 1.0 + 2**-52, 1.5, 2.0, 3.0,
               1e6, 1e300]


class _Opaque:
    def __repr__(self) -> str:
        return "<opaque>"


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


HOSTILE = st.one_of(
    st.sampled_from([
        None, True, False, np.True_, -1, -(2**70), MAX_STEP + 1, 2**63, 2**64, 10**400, -0.0,
        float("nan"), float("inf"), -float("inf"), 1e308, -1e-300, 1e6 * (1 + 2**-50), 1e7,
        "", "x", "10%", "5ep", "500", "9" * 5000, "1e3", " 5 ", b"5", bytearray(b"1"),
        [], [1], [2, 1], [1, 1], [0, 2**63], ["1"], [None], [[1]], (3,), {}, {"a": 1}, {1, 2},
        frozenset(), range(3), 1j, Fraction(1, 3), Fraction(10**400, 3), Decimal("0.1"),
        Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), Decimal("1e999"),
        np.float32(0.1), np.float16(0.5), np.float64("nan"), np.int8(3), np.uint64(2**63),
        np.int64(-5), np.array(5), np.array([1, 2]), np.array([[1]]), np.str_("linear"),
        _Opaque(), _BadRepr(), print, rampup.Constant(),
    ]),
    st.sampled_from(EDGE_INTS),
    st.sampled_from(EDGE_FLOATS),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)

small = st.integers(0, 300)
counts = st.one_of(small, st.sampled_from(EDGE_INTS), st.integers(0, MAX_STEP))
positive_counts = st.one_of(st.integers(1, 300), st.sampled_from(EDGE_INTS[1:]),
                            st.integers(1, MAX_STEP))
ratios = st.one_of(st.sampled_from([0.0, 0.1, 0.5, 1.0, 5e-324, 1.0 - 2**-53]), st.floats(0.0, 1.0))
unit_open = st.one_of(st.sampled_from([5e-324, 1e-300, 0.5, 1.0 - 2**-53, 1.0]),
                      st.floats(0.0, 1.0, exclude_min=True))
endpoints = st.sampled_from(["end", "start", "both"])
curves = st.sampled_from(["linear", "cosine", "1-sqrt", "exponential", "constant"])


def _steps_for(s: Schedule) -> st.SearchStrategy[list[int]]:
    """Steps to probe: small ones, around the horizon and any huge one up to 2**62."""
    near: list[int] = [MAX_STEP, MAX_STEP - 1, 2**52, 2**52 + 1, 2**53 + 1]
    horizon = s.horizon
    if horizon is not None:
        near += [h for h in range(horizon - 2, horizon + 3) if 0 <= h <= MAX_STEP]
    for begin, end, _ in s.segments()[:8]:
        near += [b for b in (begin - 1, begin, begin + 1, end) if b is not None and 0 <= b <= MAX_STEP]
    return st.lists(st.one_of(st.integers(0, 400), st.sampled_from(near), st.integers(0, MAX_STEP)),
                    min_size=1, max_size=24)


# -- the promises -----------------------------------------------------------------------------


def _bits(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def check_schedule(s: Schedule, data: st.DataObject) -> None:
    """Every promise about a built schedule, at steps drawn for it."""
    steps = data.draw(_steps_for(s), label="steps")
    scalar = [s(t) for t in steps]
    assert all(type(v) is float for v in scalar)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or invalid value on the way
        array = s(np.array(steps, dtype=np.int64))
    assert array.dtype == np.float64 and array.shape == (len(steps),)
    np.testing.assert_array_equal(_bits(array), _bits(scalar), err_msg=f"scalar != numpy for {s!r}")
    bound = s.upper_bound()
    assert 0.0 <= bound <= MAX_MULTIPLIER
    for t, v in zip(steps, scalar, strict=True):
        assert math.isfinite(v) and v >= 0.0, (s, t, v)
        assert v <= bound * (1 + 1e-12), (s, t, v, bound)
    horizon = s.horizon
    if horizon is not None and horizon <= MAX_STEP:
        later = data.draw(st.integers(horizon, MAX_STEP), label="after the horizon")
        assert _bits(s(later)) == _bits(s(horizon)), (s, horizon, later)
    # Round trips: an equal schedule with the same bits.
    plain = s.to_dict()
    text = json.dumps(plain, allow_nan=False)
    for back in (rampup.from_dict(plain), rampup.from_json(text), rampup.from_yaml(rampup.to_yaml(s))):
        assert back == s and type(back) is type(s)
        np.testing.assert_array_equal(_bits([back(t) for t in steps]), _bits(scalar))
    assert s.label() and s.segments()
    # A Constant phase holds its value over its whole segment (the torch scheduler's tables of a
    # plateau rely on it).
    for begin, end, leaf in s.segments()[:8]:
        if type(leaf) is rampup.Constant and (end is None or end > begin):
            last = MAX_STEP if end is None else min(end - 1, MAX_STEP)
            if begin <= last:
                inside = data.draw(st.integers(begin, last), label="inside a constant phase")
                assert _bits(s(inside)) == _bits(leaf.value), (s, begin, end, inside)
    total = data.draw(st.integers(1, 400), label="describe over")
    assert s.describe(total_steps=total)


def names_parameter(error: BaseException, parameter: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(parameter)}(?![\w])", str(error)) is not None


def check_error(error: RampupError, parameters: list[str]) -> None:
    """A one-line message that names one of ``parameters``."""
    message = str(error)
    assert "\n" not in message and len(message) < 1000, message
    assert any(names_parameter(error, p) for p in parameters), (parameters, message)


def attempt(build: Callable[[], Any], parameters: list[str]) -> Any:
    """``build()``, or None after checking that it failed with a RampupError naming one of
    ``parameters``. Anything else (another exception type) fails the test."""
    try:
        return build()
    except RampupError as error:
        check_error(error, parameters)
        return None


# -- shapes -------------------------------------------------------------------------------------


@st.composite
def _warmup(draw: st.DrawFn) -> dict[str, Any]:
    curve = draw(curves)
    start = draw(st.one_of(st.none(), unit_open if curve == "exponential" else ratios))
    return {"steps": draw(counts), "curve": curve, "start": start, "endpoints": draw(endpoints)}


@st.composite
def _polynomial(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": draw(counts),
                           "power": draw(st.one_of(st.floats(0.01, 10.0), st.sampled_from([1.0, 1e6])))}
    if draw(st.booleans()):
        out["min_lr_ratio"] = draw(ratios)
    else:
        peak = draw(st.floats(1e-12, 10.0))
        out.update(peak_lr=peak, lr_end=peak * draw(st.floats(0.0, 0.999)))
    return out


@st.composite
def _exponential(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"gamma": draw(st.one_of(unit_open, st.floats(0.9, 1.0)))}
    return {"rate": draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-12, 1e6])))}


@st.composite
def _one_cycle(draw: st.DrawFn) -> dict[str, Any]:
    steps = draw(st.one_of(st.integers(2, 500), st.integers(2, MAX_STEP)))
    low = min(0.99, 1.5 / steps)
    return {"steps": steps, "pct_start": draw(st.floats(low, 0.99)),
            "div_factor": draw(st.one_of(st.floats(1e-6, 1e6), st.sampled_from([1e-6, 25.0, 1e300]))),
            "final_div_factor": draw(st.one_of(st.floats(1.0, 1e6), st.sampled_from([1.0, 1e300]))),
            "anneal": draw(st.sampled_from(["cos", "linear"])), "three_phase": draw(st.booleans())}


@st.composite
def _sgdr(draw: st.DrawFn) -> dict[str, Any]:
    mult = draw(st.one_of(st.just(1.0), st.integers(1, 5), st.floats(1.0, 4.0),
                          st.sampled_from([1.0 + 2**-52, 1.5, 1e6])))
    return {"period_steps": draw(positive_counts), "period_mult": mult,
            "peak_decay": draw(unit_open), "min_lr_ratio": draw(ratios),
            "max_cycles": draw(st.one_of(st.none(), st.integers(1, 60)))}


@st.composite
def _triangular(draw: st.DrawFn) -> dict[str, Any]:
    up = draw(st.one_of(st.integers(1, 300), st.integers(1, 2**61)))
    down = draw(st.one_of(st.none(), st.integers(1, 300), st.integers(1, 2**61)))
    return {"step_size_up": up, "step_size_down": down, "min_lr_ratio": draw(ratios),
            "mode": draw(st.sampled_from(["triangular", "triangular2"]))}


SHAPE_OPTIONS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "warmup": _warmup(),
    "constant": st.fixed_dictionaries({"value": st.one_of(st.floats(0.0, 2.0),
                                                          st.sampled_from([0.0, 1e6, 5e-324]))}),
    "linear": st.fixed_dictionaries({"steps": counts, "min_lr_ratio": ratios, "endpoints": endpoints}),
    "cosine": st.fixed_dictionaries({
        "steps": counts, "min_lr_ratio": ratios, "endpoints": endpoints,
        "cycles": st.one_of(st.floats(1e-3, 50.0), st.sampled_from([0.5, 1.0, 2.0**32]))}),
    "cosine_restarts": st.fixed_dictionaries({
        "steps": counts, "min_lr_ratio": ratios,
        "cycles": st.one_of(st.integers(1, 10), st.floats(1e-3, 50.0), st.just(2.0**32))}),
    "polynomial": _polynomial(),
    "sqrt_decay": st.fixed_dictionaries({"steps": counts, "min_lr_ratio": ratios}),
    "step": st.fixed_dictionaries({"step_size": positive_counts, "gamma": unit_open}),
    "multistep": st.fixed_dictionaries({
        "milestones": st.lists(counts, max_size=6, unique=True).map(sorted), "gamma": unit_open}),
    "exponential": _exponential(),
    "inverse_sqrt": st.fixed_dictionaries({"timescale": positive_counts}),
    "sgdr": _sgdr(),
    "one_cycle": _one_cycle(),
    "triangular": _triangular(),
}
LEAVES = sorted(SHAPE_OPTIONS)


def test_every_shape_is_generated() -> None:
    assert set(SHAPE_OPTIONS) | {"join", "multiply", "clamp"} == set(SHAPES)


@examples(8.0)
@given(shape=st.sampled_from(LEAVES), data=st.data())
def test_shapes_with_edge_and_hostile_options(shape: str, data: st.DataObject) -> None:
    cls = SHAPES[shape]
    options = data.draw(SHAPE_OPTIONS[shape], label="options")
    built = attempt(lambda: cls(**options), list(options))
    if built is None:
        return
    check_schedule(built, data)
    fields = [f for f in cls.__dataclass_fields__ if f != "shape"]  # type: ignore[attr-defined]
    key = data.draw(st.sampled_from(fields), label="replaced option")
    value = data.draw(HOSTILE, label="value")
    mutated = attempt(lambda: cls(**{**options, key: value}), [key])
    if mutated is not None:
        check_schedule(mutated, data)


# -- combinators --------------------------------------------------------------------------------


@st.composite
def leaf_schedules(draw: st.DrawFn) -> Schedule:
    shape = draw(st.sampled_from(LEAVES))
    try:
        return SHAPES[shape](**draw(SHAPE_OPTIONS[shape]))
    except RampupError:
        return rampup.Constant(draw(st.floats(0.0, 1.0)))


def _combine(children: st.SearchStrategy[Schedule]) -> st.SearchStrategy[Any]:
    boundaries = st.lists(counts, max_size=4).map(sorted)
    return st.one_of(
        st.tuples(st.just("join"), st.lists(children, min_size=1, max_size=4), boundaries,
                  st.sampled_from(["relative", "absolute"])),
        st.tuples(st.just("multiply"), st.lists(children, min_size=1, max_size=3)),
        st.tuples(st.just("clamp"), children, st.floats(0.0, 2.0),
                  st.one_of(st.none(), st.floats(0.0, 2.0))),
        st.tuples(st.just("with_warmup"), children, counts, curves, endpoints,
                  st.sampled_from(["relative", "absolute"])),
    )


def _build(plan: Any) -> Any:
    """Build a drawn plan bottom up; a refused inner build gives None (the property is checked
    on the error where it happens)."""
    if isinstance(plan, Schedule):
        return plan
    kind, *args = plan
    if kind == "join":
        phases = [_build(p) for p in args[0]]
        if any(p is None for p in phases):
            return None
        cuts = args[1][: len(phases) - 1]
        cuts += [cuts[-1] if cuts else 0] * (len(phases) - 1 - len(cuts))
        return attempt(lambda: rampup.join(phases, cuts, clock=args[2]), ["boundaries", "join"])
    if kind == "multiply":
        factors = [_build(p) for p in args[0]]
        if any(f is None for f in factors):
            return None
        return attempt(lambda: rampup.multiply(*factors), ["multiply"])
    inner = _build(args[0])
    if inner is None:
        return None
    if kind == "clamp":
        low, high = args[1], args[2]
        return attempt(lambda: rampup.clamp(inner, low, high), ["maximum", "clamp"])
    steps, curve, ends, clock = args[1:]
    return attempt(lambda: rampup.with_warmup(inner, steps, curve=curve, endpoints=ends, clock=clock),
                   ["join"])


plans = st.recursive(leaf_schedules(), _combine, max_leaves=8)


@examples(6.0)
@given(plan=plans, data=st.data())
def test_combinations(plan: Any, data: st.DataObject) -> None:
    s = _build(plan)
    if s is not None:
        check_schedule(s, data)


@examples(2.0)
@given(data=st.data(), which=st.sampled_from(["join", "multiply", "clamp", "with_warmup"]))
def test_combinators_with_hostile_arguments(data: st.DataObject, which: str) -> None:
    a, b = data.draw(leaf_schedules()), data.draw(leaf_schedules())
    valid: dict[str, dict[str, Any]] = {
        "join": {"phases": [a, b], "boundaries": [5], "clock": "relative"},
        "multiply": {"factors": [rampup.Constant(0.5), b]},
        "clamp": {"schedule": a, "minimum": 0.1, "maximum": 0.9},
        "with_warmup": {"main": a, "warmup_steps": 10, "curve": "linear", "start": None,
                        "endpoints": "end", "clock": "relative"},
    }
    options = valid[which]
    key = data.draw(st.sampled_from(sorted(options)), label="replaced")
    options = {**options, key: data.draw(HOSTILE, label="value")}
    if which == "multiply":
        factors = options["factors"]
        call: Callable[[], Any] = (lambda: rampup.multiply(*factors)) if isinstance(
            factors, list) else (lambda: rampup.multiply(factors))
    else:
        function = getattr(rampup, which)
        call = lambda: function(**options)  # noqa: E731
    parameters = {"warmup_steps": ["warmup_steps", "steps"], "curve": ["curve"],
                  "start": ["start"], "endpoints": ["endpoints"]}.get(key, [key])
    built = attempt(call, parameters)
    if built is not None:
        check_schedule(built, data)


# -- names --------------------------------------------------------------------------------------

_WARMUPS = st.one_of(st.integers(0, 50), st.sampled_from([2**40]))


def _named_options(name: str) -> st.SearchStrategy[dict[str, Any]]:
    total = st.one_of(st.integers(60, 2000), st.sampled_from([100, 2**40, MAX_STEP]))
    common: dict[str, Any] = {"total_steps": total, "warmup_steps": st.integers(0, 50)}
    extra: dict[str, Any] = {
        "linear": {"min_lr_ratio": ratios},
        "cosine": {"num_cycles": st.floats(0.1, 3.0), "min_lr_ratio": ratios},
        "cosine_with_restarts": {"num_cycles": st.integers(1, 4)},
        "polynomial": {"peak_lr": st.floats(1e-4, 1.0), "power": st.floats(0.1, 4.0)},
        "constant": {},
        "constant_with_warmup": {},
        "inverse_sqrt": {"timescale": st.one_of(st.none(), st.integers(1, 5000))},
        "cosine_with_min_lr": {"min_lr_rate": ratios},
        "cosine_warmup_with_min_lr": {"min_lr_rate": ratios,
                                      "warmup_lr_rate": st.one_of(st.none(), ratios)},
        "warmup_stable_decay": {"num_decay_steps": st.integers(0, 10),
                                "decay_type": st.sampled_from(["linear", "cosine", "1-sqrt"]),
                                "min_lr_ratio": ratios},
        "warmup_linear": {"min_lr_ratio": ratios},
        "warmup_cosine": {"min_lr_ratio": ratios},
        "warmup_constant": {},
        "warmup_polynomial": {"power": st.floats(0.5, 3.0)},
        "wsd": {"decay_fraction": st.floats(0.0, 0.5)},
        "step": {"step_size": positive_counts, "gamma": unit_open},
        "multistep": {"milestones": st.lists(counts, max_size=5, unique=True).map(sorted)},
        "goyal": {"milestones": st.lists(counts, max_size=5, unique=True).map(sorted),
                  "factor": st.floats(1.0, 64.0)},
        "exponential": {"gamma": st.floats(0.5, 1.0)},
        "sgdr": {"period_steps": positive_counts, "period_mult": st.sampled_from([1.0, 2.0, 1.5])},
        "one_cycle": {"pct_start": st.floats(0.1, 0.9)},
        "triangular": {"step_size_up": st.integers(1, 500)},
    }[name]
    entry = rampup.REGISTRY[name]
    if not entry.warmup and name != "goyal":
        common = {"total_steps": total}
    if name == "goyal":
        common = {"warmup_steps": st.integers(1, 50)}
    return st.fixed_dictionaries({**common, **extra})


@examples(8.0)
@given(name=st.sampled_from(rampup.names()), data=st.data())
def test_named_schedules_with_edge_and_hostile_options(name: str, data: st.DataObject) -> None:
    options = data.draw(_named_options(name), label="options")
    built = attempt(lambda: rampup.schedule(name, **options), list(options))
    if built is None:
        return
    check_schedule(built, data)
    keys = sorted({*options, *rampup.REGISTRY[name].all_options(), "warmup_steps",
                   "warmup_fraction", "warmup", "total_steps", "steps_per_epoch"})
    key = data.draw(st.sampled_from(keys), label="replaced option")
    value = data.draw(HOSTILE, label="value")
    mutated = attempt(lambda: rampup.schedule(name, **{**options, key: value}), [key])
    if mutated is not None:
        check_schedule(mutated, data)


# -- steps given to a schedule ------------------------------------------------------------------

HOSTILE_STEPS = st.one_of(
    HOSTILE,
    st.sampled_from([
        np.array([], dtype=np.int64), np.array([[1, 2], [3, 2**62]]), np.array([1.5]),
        np.array([True]), np.array([1 + 1j]), np.array(["1"]), np.array([None]),
        np.array([2**63], dtype=np.uint64), np.array([-1]), np.array(7), np.array([3.0, 2.0**62]),
        np.array([1e300]), np.arange(5, dtype=np.uint8), np.arange(5, dtype=np.float16),
        [1, 2**62], [1, 10**30], [1, "2"], [[1, 2], [3]], (1, 2), [np.int64(3)], [True, 1],
    ]),
    st.lists(st.integers(-5, MAX_STEP + 5), max_size=5),
)


@examples(3.0)
@given(step=HOSTILE_STEPS, s=leaf_schedules())
def test_any_step_gives_values_or_a_rampup_error(step: Any, s: Schedule) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = s(step)
    except RampupError as error:
        check_error(error, ["step"])
        return
    values = np.asarray(out, dtype=np.float64)
    assert np.all(np.isfinite(values)) and np.all(values >= 0)
    expected = np.asarray(step).astype(np.int64)
    np.testing.assert_array_equal(_bits(values).reshape(-1), _bits([s(int(t)) for t in expected.reshape(-1)]))


# -- configs --------------------------------------------------------------------------------------


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(data, dict):
        return {**data, head: _replace(data[head], tuple(rest), value)}
    copy = list(data)
    copy[head] = _replace(copy[head], tuple(rest), value)
    return copy


_JSON_HOSTILE = st.one_of(
    st.sampled_from([None, True, 0, -1, 2**63, 10**30, 1e308, -0.0, "", "x", "constant", "join",
                     [], [1, 2], {}, {"shape": "constant"}, {"shape": "nope"}, {"shape": None},
                     {"shape": ["constant"]}, [{"shape": "warmup", "steps": 3}]]),
    st.integers(-(2**64), 2**64), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> Any:
    s = draw(plans.map(_build).filter(lambda s: s is not None))
    data = s.to_dict()
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)))
        action = draw(st.sampled_from(["replace", "drop", "add", "wrap"]))
        target: Any = data
        for part in path:
            target = target[part]
        if action == "replace":
            data = _replace(data, path, draw(_JSON_HOSTILE))
        elif action == "drop" and isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            data = _replace(data, path, {k: v for k, v in target.items() if k != key})
        elif action == "add" and isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(["shape", "steps", "phases", "value", "clock"]),
                                 st.text(max_size=6)))
            data = _replace(data, path, {**target, key: draw(_JSON_HOSTILE)})
        elif action == "wrap":
            data = _replace(data, path, [target])
    return data


def _load_or_refuse(load: Callable[[], Schedule], data: st.DataObject) -> None:
    began = time.process_time()  # CPU time: the bound is on the work, whatever the machine's load
    try:
        s = load()
    except RampupError as error:
        assert "\n" not in str(error), str(error)
    else:
        check_schedule(s, data)
    assert time.process_time() - began < 5.0


@examples(5.0)
@given(config=mutated_configs(), data=st.data())
def test_mutated_configs(config: Any, data: st.DataObject) -> None:
    _load_or_refuse(lambda: rampup.from_dict(config), data)
    text = json.dumps(config)
    _load_or_refuse(lambda: rampup.from_json(text), data)
    _load_or_refuse(lambda: rampup.from_yaml(text), data)
    _load_or_refuse(lambda: rampup.from_yaml(yaml.safe_dump(config)), data)


_SNIPPETS = ["&a ", "*a", "[", "]", "{", "}", ": ", "- ", "\n", "!!python/object ", "!!str ", "? ",
             "---\n", "<<: *a\n", '"', "'", "\\", "#", ",", "9" * 30, "1e999", ".nan", "\t", "\x00",
             "\ufeff", "%YAML 1.1\n"]


@examples(5.0)
@given(s=plans.map(_build).filter(lambda s: s is not None), data=st.data())
def test_mangled_config_text(s: Schedule, data: st.DataObject) -> None:
    for text in (rampup.to_json(s), rampup.to_yaml(s)):
        for _ in range(data.draw(st.integers(1, 4), label="edits")):
            where = data.draw(st.integers(0, len(text)), label="at")
            kind = data.draw(st.sampled_from(["insert", "delete", "repeat"]), label="edit")
            if kind == "insert":
                text = text[:where] + data.draw(st.one_of(st.sampled_from(_SNIPPETS),
                                                          st.text(max_size=4))) + text[where:]
            elif kind == "delete":
                text = text[:where] + text[where + data.draw(st.integers(1, 20)):]
            else:
                text = text[:where] + text[where:where + 30] * data.draw(st.integers(2, 50)) + text[where:]
        for parse in (rampup.from_json, rampup.from_yaml):
            _load_or_refuse(functools.partial(parse, text), data)


@st.composite
def hostile_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["deep", "aliases", "wide", "random"]))
    if kind == "deep":
        depth = draw(st.integers(90, 3000))
        opener = draw(st.sampled_from(["[", "{a: ", "- ", '{"a": ']))
        if opener == "- ":
            return "".join("  " * i + "- \n" for i in range(min(depth, 150)))
        return opener * depth
    if kind == "aliases":
        width, levels = draw(st.integers(2, 12)), draw(st.integers(2, 12))
        lines = [f"l0: &l0 [{', '.join(['1'] * draw(st.integers(1, 500)))}]"]
        for level in range(1, levels):
            lines.append(f"l{level}: &l{level} [{', '.join(['*l' + str(level - 1)] * width)}]")
        return "\n".join([*lines, "shape: multistep", f"milestones: *l{levels - 1}"])
    if kind == "wide":
        count = draw(st.integers(5000, 30000))
        return "shape: multistep\nmilestones: [" + ", ".join(["1"] * count) + "]"
    return draw(st.text(max_size=200))


@examples(1.0)
@given(text=hostile_texts(), data=st.data())
def test_hostile_config_text(text: str, data: st.DataObject) -> None:
    _load_or_refuse(lambda: rampup.from_yaml(text), data)
    _load_or_refuse(lambda: rampup.from_json(text), data)


# -- the other public functions -------------------------------------------------------------------

FUNCTIONS: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
    "resolve_duration": (rampup.resolve_duration,
                         {"value": "10%", "total_steps": 100, "steps_per_epoch": 10}),
    "resolve_duration epochs": (rampup.resolve_duration, {"value": "2.5ep", "steps_per_epoch": 10}),
    "training_steps": (rampup.training_steps,
                       {"epochs": 3, "batches_per_epoch": 50, "grad_accum": 2, "world_size": 1}),
    "training_steps sizes": (rampup.training_steps,
                             {"epochs": 1.5, "dataset_size": 1000, "batch_size": 32,
                              "world_size": 2, "drop_last": True, "max_steps": None}),
    "linear_scaling": (rampup.linear_scaling, {"base_lr": 0.1, "base_batch": 256, "batch": 1024}),
    "sqrt_scaling": (rampup.sqrt_scaling, {"base_lr": 0.1, "base_batch": 256, "batch": 1024}),
    "untuned_warmup_steps": (rampup.untuned_warmup_steps, {"beta2": 0.999}),
    "untuned_warmup": (rampup.untuned_warmup, {"beta2": 0.99}),
    "gradual_warmup": (rampup.gradual_warmup, {"steps": 10, "factor": 8.0}),
    "describe": (rampup.describe, {"schedule": rampup.Cosine(steps=50), "total_steps": 60,
                                   "peak_lr": 1e-3}),
    "preview": (lambda total_steps: rampup.Cosine(steps=50).preview(total_steps), {"total_steps": 70}),
}


def _check_result(result: Any) -> None:
    if isinstance(result, Schedule):
        return
    if isinstance(result, rampup.TrainingSteps):
        assert 1 <= result.total <= MAX_STEP and result.describe()
    elif isinstance(result, bool):
        raise AssertionError(result)
    elif isinstance(result, int):
        assert 0 <= result <= MAX_STEP
    elif isinstance(result, float):
        assert math.isfinite(result) and result > 0
    elif isinstance(result, str):
        assert result
    else:
        values = np.asarray(result)
        assert values.dtype == np.float64 and np.all(np.isfinite(values)) and np.all(values >= 0)


@examples(4.0)
@given(which=st.sampled_from(sorted(FUNCTIONS)), data=st.data())
def test_public_functions_with_hostile_arguments(which: str, data: st.DataObject) -> None:
    function, valid = FUNCTIONS[which]
    _check_result(function(**valid))
    key = data.draw(st.sampled_from(sorted(valid)), label="replaced argument")
    value = data.draw(HOSTILE, label="value")
    arguments = {**valid, key: value}
    parameters = {"value": ["warmup"], "schedule": ["schedule"]}.get(key, [key])
    if which.startswith("resolve_duration") and key in ("total_steps", "steps_per_epoch"):
        parameters = [key, "warmup"]
    try:
        result = function(**arguments)
    except RampupError as error:
        check_error(error, parameters)
    else:
        _check_result(result)
