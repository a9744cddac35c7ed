"""Bad input is rejected when a schedule is built, with an error that names the parameter."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import rampup
from rampup import (
    SGDR,
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    MultiStep,
    OneCycle,
    Polynomial,
    RampupError,
    ScheduleTypeError,
    ScheduleValueError,
    SqrtDecay,
    Step,
    Triangular,
    Warmup,
)

NAN, INF = float("nan"), float("inf")


def test_error_types() -> None:
    assert issubclass(ScheduleValueError, ValueError)
    assert issubclass(ScheduleTypeError, TypeError)
    assert issubclass(ScheduleValueError, RampupError)
    assert issubclass(ScheduleTypeError, RampupError)
    assert issubclass(rampup.RampupWarning, UserWarning)


def _names(message: str, parameter: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(parameter)}(?![\w])", message) is not None


# (builder, parameter that must be named, error type)
SHAPES: list[tuple[Callable[[], Any], str, type[Exception]]] = [
    (lambda: Warmup(steps=-1), "steps", ScheduleValueError),
    (lambda: Warmup(steps=2.0), "steps", ScheduleTypeError),
    (lambda: Warmup(steps=True), "steps", ScheduleTypeError),
    (lambda: Warmup(steps="5"), "steps", ScheduleTypeError),
    (lambda: Warmup(steps=5, curve="exp"), "curve", ScheduleValueError),
    (lambda: Warmup(steps=5, start=NAN), "start", ScheduleValueError),
    (lambda: Warmup(steps=5, start=1.5), "start", ScheduleValueError),
    (lambda: Warmup(steps=5, start=-0.1), "start", ScheduleValueError),
    (lambda: Warmup(steps=5, curve="exponential", start=0.0), "start", ScheduleValueError),
    (lambda: Warmup(steps=5, endpoints="middle"), "endpoints", ScheduleValueError),
    (lambda: Constant(NAN), "value", ScheduleValueError),
    (lambda: Constant(-1.0), "value", ScheduleValueError),
    (lambda: Linear(steps=-5), "steps", ScheduleValueError),
    (lambda: Linear(steps=5, min_lr_ratio=INF), "min_lr_ratio", ScheduleValueError),
    (lambda: Linear(steps=5, min_lr_ratio=1.1), "min_lr_ratio", ScheduleValueError),
    (lambda: Cosine(steps=5, cycles=0.0), "cycles", ScheduleValueError),
    (lambda: Cosine(steps=5, cycles=NAN), "cycles", ScheduleValueError),
    (lambda: Cosine(steps=5.5), "steps", ScheduleTypeError),
    (lambda: CosineRestarts(steps=5, cycles=-1), "cycles", ScheduleValueError),
    (lambda: Polynomial(steps=5, power=0.0), "power", ScheduleValueError),
    (lambda: Polynomial(steps=5, power=-2.0), "power", ScheduleValueError),
    (lambda: Polynomial(steps=5, power=INF), "power", ScheduleValueError),
    (lambda: Polynomial(steps=5, lr_end=1e-7), "peak_lr", ScheduleValueError),
    (lambda: Polynomial(steps=5, lr_end=1.0, peak_lr=0.5), "lr_end", ScheduleValueError),
    (lambda: Polynomial(steps=5, lr_end=NAN, peak_lr=0.5), "lr_end", ScheduleValueError),
    (lambda: SqrtDecay(steps=5, min_lr_ratio=-0.1), "min_lr_ratio", ScheduleValueError),
    (lambda: Step(step_size=0), "step_size", ScheduleValueError),
    (lambda: Step(step_size=3, gamma=0.0), "gamma", ScheduleValueError),
    (lambda: Step(step_size=3, gamma=-0.5), "gamma", ScheduleValueError),
    (lambda: Step(step_size=3, gamma=NAN), "gamma", ScheduleValueError),
    (lambda: MultiStep(milestones=(5, 3)), "milestones", ScheduleValueError),
    (lambda: MultiStep(milestones=(3, 3)), "milestones", ScheduleValueError),
    (lambda: MultiStep(milestones=(3, 4.5)), "milestones", ScheduleTypeError),
    (lambda: MultiStep(milestones=(-1, 4)), "milestones", ScheduleValueError),
    (lambda: MultiStep(milestones=5), "milestones", ScheduleTypeError),
    (lambda: MultiStep(milestones=(3,), gamma=0.0), "gamma", ScheduleValueError),
    (lambda: Exponential(gamma=0.0), "gamma", ScheduleValueError),
    (lambda: Exponential(gamma=-0.9), "gamma", ScheduleValueError),
    (lambda: Exponential(gamma=1.5), "gamma", ScheduleValueError),
    (lambda: Exponential(), "gamma", ScheduleValueError),
    (lambda: Exponential(gamma=0.9, rate=0.1), "rate", ScheduleValueError),
    (lambda: Exponential(rate=-0.1), "rate", ScheduleValueError),
    (lambda: InverseSqrt(timescale=0), "timescale", ScheduleValueError),
    (lambda: SGDR(period_steps=0), "period_steps", ScheduleValueError),
    (lambda: SGDR(period_steps=5, period_mult=0.5), "period_mult", ScheduleValueError),
    (lambda: SGDR(period_steps=5, peak_decay=0.0), "peak_decay", ScheduleValueError),
    (lambda: SGDR(period_steps=5, max_cycles=0), "max_cycles", ScheduleValueError),
    (lambda: OneCycle(steps=1), "steps", ScheduleValueError),
    (lambda: OneCycle(steps=100, pct_start=0.0), "pct_start", ScheduleValueError),
    (lambda: OneCycle(steps=100, pct_start=1.0), "pct_start", ScheduleValueError),
    (lambda: OneCycle(steps=3, pct_start=0.3), "pct_start", ScheduleValueError),
    (lambda: OneCycle(steps=100, div_factor=0.0), "div_factor", ScheduleValueError),
    (lambda: OneCycle(steps=100, final_div_factor=NAN), "final_div_factor", ScheduleValueError),
    (lambda: OneCycle(steps=100, anneal="cosine"), "anneal", ScheduleValueError),
    (lambda: OneCycle(steps=100, three_phase=1), "three_phase", ScheduleValueError),
    (lambda: Triangular(step_size_up=0), "step_size_up", ScheduleValueError),
    (lambda: Triangular(step_size_up=2, step_size_down=0), "step_size_down", ScheduleValueError),
    (lambda: Triangular(step_size_up=2, mode="exp_range"), "mode", ScheduleValueError),
    (lambda: Triangular(step_size_up=2, min_lr_ratio=NAN), "min_lr_ratio", ScheduleValueError),
    (lambda: rampup.join([Constant()], [3]), "boundaries", ScheduleValueError),
    (lambda: rampup.join([Constant(), Constant()], [-1]), "boundaries", ScheduleValueError),
    (lambda: rampup.join([Constant(), Constant()], [2.0]), "boundaries", ScheduleTypeError),
    (lambda: rampup.join([Constant()] * 3, [5, 2]), "boundaries", ScheduleValueError),
    (lambda: rampup.join([], []), "phases", ScheduleValueError),
    (lambda: rampup.join([Constant(), 1.0], [2]), "phases", ScheduleTypeError),
    (lambda: rampup.join(Constant(), []), "phases", ScheduleTypeError),
    (lambda: rampup.join([Constant(), Constant()], [2], clock="wall"), "clock", ScheduleValueError),
    (lambda: rampup.multiply(), "factors", ScheduleValueError),
    (lambda: rampup.multiply(Constant(), lambda t: 1.0), "factors", ScheduleTypeError),
    (lambda: rampup.clamp(Constant(), minimum=-0.1), "minimum", ScheduleValueError),
    (lambda: rampup.clamp(Constant(), minimum=0.5, maximum=0.2), "maximum", ScheduleValueError),
    (lambda: rampup.clamp(Constant(), minimum=NAN), "minimum", ScheduleValueError),
    (lambda: rampup.clamp(lambda t: 1.0), "schedule", ScheduleTypeError),
    (lambda: rampup.with_warmup(Constant(), -1), "warmup_steps", ScheduleValueError),
    (lambda: rampup.with_warmup(Constant(), 2.5), "warmup_steps", ScheduleTypeError),
    (lambda: rampup.gradual_warmup(5, 0.5), "factor", ScheduleValueError),
    (lambda: rampup.untuned_warmup_steps(1.0), "beta2", ScheduleValueError),
    (lambda: rampup.untuned_warmup_steps(NAN), "beta2", ScheduleValueError),
]


@pytest.mark.parametrize(("build", "parameter", "kind"), SHAPES)
def test_shape_arguments(build: Callable[[], Any], parameter: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as info:
        build()
    assert _names(str(info.value), parameter), str(info.value)


# (name, keyword arguments, parameter that must be named, error type)
NAMED: list[tuple[str, dict[str, Any], str, type[Exception]]] = [
    ("cosine", {"warmup_steps": -1, "total_steps": 10}, "warmup_steps", ScheduleValueError),
    ("cosine", {"warmup_steps": 1.0, "total_steps": 10}, "warmup_steps", ScheduleTypeError),
    ("cosine", {"warmup_steps": True, "total_steps": 10}, "warmup_steps", ScheduleTypeError),
    ("cosine", {"warmup_steps": 11, "total_steps": 10}, "total_steps", ScheduleValueError),
    ("cosine", {"warmup_steps": 0, "total_steps": 0}, "total_steps", ScheduleValueError),
    ("cosine", {"warmup_steps": 0, "total_steps": 10.0}, "total_steps", ScheduleTypeError),
    ("cosine", {"warmup_steps": 1}, "total_steps", ScheduleValueError),
    ("cosine", {"warmup_steps": 1, "warmup_fraction": 0.1, "total_steps": 10}, "warmup_fraction",
     ScheduleValueError),
    ("cosine", {"warmup_steps": 1, "warmup": "10%", "total_steps": 10}, "warmup",
     ScheduleValueError),
    ("cosine", {"warmup_fraction": NAN, "total_steps": 10}, "warmup_fraction", ScheduleValueError),
    ("cosine", {"warmup_fraction": 1.5, "total_steps": 10}, "warmup_fraction", ScheduleValueError),
    ("cosine", {"warmup": "5 ep", "total_steps": 10, "steps_per_epoch": 2}, "warmup",
     ScheduleValueError),
    ("cosine", {"warmup": "110%", "total_steps": 10}, "warmup", ScheduleValueError),
    ("cosine", {"total_steps": 10, "num_cycles": NAN}, "num_cycles", ScheduleValueError),
    ("cosine", {"total_steps": 10, "num_cycles": 0}, "num_cycles", ScheduleValueError),
    ("cosine", {"total_steps": 10, "num_cycles": INF}, "num_cycles", ScheduleValueError),
    ("cosine", {"total_steps": 10, "min_lr_ratio": INF}, "min_lr_ratio", ScheduleValueError),
    ("cosine", {"warmup_steps": 2, "total_steps": 10, "warmup_curve": "exp"}, "warmup_curve",
     ScheduleValueError),
    ("cosine", {"warmup_steps": 2, "total_steps": 10, "warmup_start": NAN}, "warmup_start",
     ScheduleValueError),
    ("cosine", {"warmup_steps": 2, "total_steps": 10, "warmup_endpoints": "x"},
     "warmup_endpoints", ScheduleValueError),
    ("warmup_cosine", {"warmup_steps": 2, "total_steps": 10, "warmup_curve": "exponential",
                       "warmup_start": 0.0}, "start", ScheduleValueError),
    ("cosine_with_restarts", {"total_steps": 10, "num_cycles": -1}, "num_cycles",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10}, "min_lr_rate", ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": 1e-5, "min_lr_rate": 0.1}, "min_lr_rate",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr_rate": NAN}, "min_lr_rate",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr_rate": 1.5}, "min_lr_rate",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": 1e-5}, "peak_lr", ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": INF, "peak_lr": 1.0}, "min_lr",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": 1e-5, "peak_lr": 0.0}, "peak_lr",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": 1e-5, "peak_lr": NAN}, "peak_lr",
     ScheduleValueError),
    ("cosine_with_min_lr", {"total_steps": 10, "min_lr": "x", "peak_lr": 1.0}, "min_lr",
     ScheduleTypeError),
    ("cosine_warmup_with_min_lr", {"total_steps": 10, "min_lr_rate": 0.1,
                                   "warmup_lr_rate": NAN, "warmup_steps": 2}, "warmup_lr_rate",
     ScheduleValueError),
    ("cosine_warmup_with_min_lr", {"total_steps": 10, "min_lr_rate": 0.1, "warmup_lr_rate": 0.1,
                                   "warmup_start": 0.2, "warmup_steps": 2}, "warmup_start",
     ScheduleValueError),
    ("polynomial", {"total_steps": 10}, "peak_lr", ScheduleValueError),
    ("polynomial", {"total_steps": 10, "peak_lr": NAN}, "peak_lr", ScheduleValueError),
    ("polynomial", {"total_steps": 10, "peak_lr": "1"}, "peak_lr", ScheduleTypeError),
    ("polynomial", {"total_steps": 10, "peak_lr": 1e-8}, "lr_end", ScheduleValueError),
    ("polynomial", {"total_steps": 10, "peak_lr": 1.0, "lr_end": NAN}, "lr_end",
     ScheduleValueError),
    ("polynomial", {"total_steps": 10, "peak_lr": 1.0, "power": 0}, "power", ScheduleValueError),
    ("polynomial", {"total_steps": 10, "peak_lr": 1.0, "power": -1.0}, "power",
     ScheduleValueError),
    ("polynomial", {"total_steps": 10, "lr_end": 0.1, "min_lr_ratio": 0.1}, "lr_end",
     ScheduleValueError),
    ("inverse_sqrt", {"warmup_steps": 1, "timescale": 0}, "timescale", ScheduleValueError),
    ("inverse_sqrt", {"warmup_steps": 1, "timescale": 1.5}, "timescale", ScheduleTypeError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10}, "num_decay_steps",
     ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "num_decay_steps": 2}, "num_stable_steps",
     ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2.0},
     "num_decay_steps", ScheduleTypeError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 20},
     "num_decay_steps", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2,
                             "num_stable_steps": -1}, "num_stable_steps", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2,
                             "warmup_type": "exponential"}, "warmup_type", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2,
                             "decay_type": "step"}, "decay_type", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2,
                             "min_lr_ratio": NAN}, "min_lr_ratio", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 1, "total_steps": 10, "num_decay_steps": 2,
                             "num_cycles": NAN}, "num_cycles", ScheduleValueError),
    ("warmup_stable_decay", {"warmup_steps": 2, "total_steps": 10, "num_decay_steps": 2,
                             "warmup_curve": "cosine"}, "warmup_type", ScheduleValueError),
    ("constant", {"warmup_steps": 5}, "warmup", ScheduleValueError),
    ("one_cycle", {"total_steps": 100, "warmup_steps": 5}, "warmup", ScheduleValueError),
    ("one_cycle", {"total_steps": 100, "pct_start": NAN}, "pct_start", ScheduleValueError),
    ("step", {"warmup_steps": 1}, "step_size", ScheduleValueError),
    ("step", {"step_size": 3, "gamma": 0}, "gamma", ScheduleValueError),
    ("multistep", {"milestones": [5, 3]}, "milestones", ScheduleValueError),
    ("exponential", {"gamma": -0.5}, "gamma", ScheduleValueError),
    ("sgdr", {"period_steps": 0}, "period_steps", ScheduleValueError),
    ("triangular", {"step_size_up": 2, "mode": "tri"}, "mode", ScheduleValueError),
    ("goyal", {"warmup_steps": 5, "milestones": [9], "factor": 0.5}, "factor", ScheduleValueError),
    ("goyal", {"milestones": [9]}, "warmup_steps", ScheduleValueError),
    ("wsd", {"warmup_steps": 5, "total_steps": 100, "decay_fraction": NAN}, "decay_fraction",
     ScheduleValueError),
    ("wsd", {"warmup_steps": 5, "total_steps": 100, "decay_curve": "exp"}, "decay_curve",
     ScheduleValueError),
    ("wsd", {"warmup_steps": 90, "total_steps": 100}, "total_steps", ScheduleValueError),
]


@pytest.mark.parametrize(("name", "kwargs", "parameter", "kind"), NAMED)
def test_named_arguments(name: str, kwargs: dict[str, Any], parameter: str,
                         kind: type[Exception]) -> None:
    with pytest.raises(kind) as info:
        rampup.schedule(name, **kwargs)
    assert _names(str(info.value), parameter), str(info.value)


@pytest.mark.parametrize(("typo", "meant"), [("cosin", "cosine"), ("linaer", "linear"),
                                             ("warmup_stable_dcay", "warmup_stable_decay"),
                                             ("inverse_sqr", "inverse_sqrt")])
def test_unknown_name_suggests_the_closest(typo: str, meant: str) -> None:
    with pytest.raises(ScheduleValueError) as info:
        rampup.schedule(typo, warmup_steps=1, total_steps=10)
    message = str(info.value)
    assert f"Did you mean {meant!r}" in message
    assert typo in message


def test_unknown_name_of_wrong_type() -> None:
    with pytest.raises(ScheduleValueError, match="unknown schedule name"):
        rampup.schedule(None, total_steps=10)  # type: ignore[arg-type]


def test_unknown_option_lists_the_valid_ones() -> None:
    with pytest.raises(ScheduleTypeError) as info:
        rampup.schedule("cosine", warmup_steps=1, total_steps=10, num_cycle=1.0)
    message = str(info.value)
    assert "num_cycle" in message
    for valid in ("num_cycles", "min_lr_ratio", "warmup_steps", "total_steps", "warmup_curve"):
        assert valid in message
    assert "Did you mean 'num_cycles'" in message
    # An option of another name is foreign here too.
    with pytest.raises(ScheduleTypeError, match="min_lr_rate"):
        rampup.schedule("linear", warmup_steps=1, total_steps=10, min_lr_rate=0.1)
    # Names without a warmup take no warmup options.
    with pytest.raises(ScheduleTypeError, match="warmup_curve"):
        rampup.schedule("constant", warmup_curve="cosine")


# -- steps passed to a schedule ---------------------------------------------------------------

S = Cosine(steps=10)


def test_negative_step() -> None:
    with pytest.raises(ScheduleValueError, match="step"):
        S(-1)
    with pytest.raises(ScheduleValueError, match="step"):
        S(np.int64(-3))
    with pytest.raises(ScheduleValueError, match="step"):
        S(np.array([0, 1, -2]))


def test_fractional_and_bool_steps() -> None:
    with pytest.raises(ScheduleValueError, match="whole"):
        S(np.array([0.0, 1.5]))
    with pytest.raises(ScheduleValueError, match="whole"):
        S(np.array([0.0, NAN]))
    with pytest.raises(ScheduleValueError, match="whole"):
        S(2.5)
    with pytest.raises(ScheduleTypeError, match="step"):
        S(True)
    with pytest.raises(ScheduleTypeError, match="step"):
        S(np.array([True, False]))
    with pytest.raises(ScheduleTypeError, match="step"):
        S(np.array(["1"]))
    # Whole numbers in a float array are steps.
    np.testing.assert_array_equal(S(np.array([0.0, 3.0])), S(np.array([0, 3])))


def test_step_types() -> None:
    assert type(S(3)) is float
    assert type(S(np.int64(3))) is float
    assert S(np.uint8(3)) == S(3)
    out = S(np.arange(5, dtype=np.int32))
    assert out.dtype == np.float64
    assert out.shape == (5,)
    assert S([0, 1]).tolist() == S(np.array([0, 1])).tolist()
    assert S(np.array([], dtype=np.int64)).shape == (0,)
    with pytest.raises(ScheduleValueError, match="total_steps"):
        S.preview(-1)


@pytest.mark.parametrize("cls", [rampup.Step, rampup.MultiStep])
def test_step_decays_reject_growth_factors(cls) -> None:  # type: ignore[no-untyped-def]
    kwargs = {"step_size": 10} if cls is rampup.Step else {"milestones": (10,)}
    with pytest.raises(ScheduleValueError, match=r"gamma must be in \(0, 1\]"):
        cls(gamma=1.5, **kwargs)


def test_python_float_steps() -> None:
    schedule = rampup.schedule("linear", warmup_steps=4, total_steps=10)
    value = schedule(5.0)
    assert type(value) is float and value == schedule(5)
    with pytest.raises(ScheduleValueError, match="whole number"):
        schedule(5.5)
