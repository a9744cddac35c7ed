"""Durations, step counting and learning-rate scaling, against numbers worked out by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import rampup
from rampup import (
    RampupWarning,
    ScheduleTypeError,
    ScheduleValueError,
    linear_scaling,
    resolve_duration,
    sqrt_scaling,
    training_steps,
)


@pytest.mark.parametrize(
    ("value", "kwargs", "steps"),
    [
        (500, {}, 500),
        (0, {}, 0),
        ("500", {}, 500),
        (" 42 ", {}, 42),
        (np.int64(7), {}, 7),
        ("10%", {"total_steps": 12_000}, 1200),
        ("12.5%", {"total_steps": 1000}, 125),
        ("0.5%", {"total_steps": 999}, 5),  # 4.995 rounds up
        ("100%", {"total_steps": 37}, 37),
        ("0%", {"total_steps": 37}, 0),
        (".5%", {"total_steps": 1000}, 5),
        (0.1, {"total_steps": 1000}, 100),
        (0.1, {"total_steps": 12_000}, 1200),
        # 0.07 * 100 is 7.000000000000001 in binary; the intended 7 steps, not 8.
        (0.07, {"total_steps": 100}, 7),
        (0.001, {"total_steps": 10}, 1),  # a positive fraction never gives 0 steps
        (1.0, {"total_steps": 50}, 50),
        (0.0, {"total_steps": 50}, 0),
        ("5ep", {"steps_per_epoch": 100}, 500),
        ("0.5ep", {"steps_per_epoch": 3}, 2),  # 1.5 rounds to the nearest step, half up
        ("2.25ep", {"steps_per_epoch": 10}, 23),  # 22.5
        ("0.3ep", {"steps_per_epoch": 10}, 3),
    ],
)
def test_resolve_duration(value, kwargs, steps) -> None:  # type: ignore[no-untyped-def]
    got = resolve_duration(value, **kwargs)
    assert got == steps
    assert type(got) is int


@pytest.mark.parametrize("text", ["5 ep", "110%", "-3", "abc", "5 %", "", "5epochs", "1e3", "%"])
def test_malformed_durations(text: str) -> None:
    with pytest.raises(ScheduleValueError, match="warmup"):
        resolve_duration(text, total_steps=100, steps_per_epoch=10)


def test_duration_errors_name_the_parameter() -> None:
    with pytest.raises(ScheduleValueError, match="my_phase"):
        resolve_duration(-3, name="my_phase")
    with pytest.raises(ScheduleValueError, match="my_phase"):
        resolve_duration(1.5, name="my_phase", total_steps=10)
    with pytest.raises(ScheduleValueError, match="my_phase"):
        resolve_duration(float("nan"), name="my_phase", total_steps=10)
    with pytest.raises(ScheduleTypeError, match="my_phase"):
        resolve_duration(True, name="my_phase")
    with pytest.raises(ScheduleTypeError, match="my_phase"):
        resolve_duration(None, name="my_phase")  # type: ignore[arg-type]
    with pytest.raises(ScheduleValueError, match="total_steps"):
        resolve_duration("10%")
    with pytest.raises(ScheduleValueError, match="total_steps"):
        resolve_duration(0.1)
    with pytest.raises(ScheduleValueError, match="steps_per_epoch"):
        resolve_duration("5ep")
    with pytest.raises(ScheduleValueError, match="steps_per_epoch"):
        resolve_duration("5ep", steps_per_epoch=0)


def test_zero_warmup_from_rounding_warns() -> None:
    with pytest.warns(RampupWarning, match="0 steps"):
        s = rampup.schedule("warmup_cosine", warmup="0.04ep", steps_per_epoch=3, total_steps=30)
    assert s(0) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rampup.schedule("warmup_cosine", warmup=0, total_steps=30)
        rampup.schedule("warmup_cosine", warmup="0%", total_steps=30)


# Each row: arguments, then (total, per_epoch, batches_per_epoch), worked out by hand.
TRAINING = [
    # README's example: ceil(50000 / 8) = 6250 samples per process, ceil(6250 / 32) = 196
    # micro-batches, ceil(196 / 4) = 49 optimizer steps per epoch, x 3 epochs.
    ({"epochs": 3, "dataset_size": 50_000, "batch_size": 32, "grad_accum": 4, "world_size": 8},
     (147, 49, 196)),
    # drop_last: 6250 // 32 = 195 micro-batches, ceil(195 / 4) = 49 steps.
    ({"epochs": 3, "dataset_size": 50_000, "batch_size": 32, "grad_accum": 4, "world_size": 8,
      "drop_last": True}, (147, 49, 195)),
    # Accumulation that does not divide the epoch: 100 micro-batches / 3 -> 34 steps (the last
    # window of 1 still steps).
    ({"epochs": 2, "dataset_size": 1000, "batch_size": 10, "grad_accum": 3}, (68, 34, 100)),
    # Padding over processes: ceil(10 / 4) = 3 samples each, ceil(3 / 2) = 2 micro-batches.
    ({"epochs": 1, "dataset_size": 10, "batch_size": 2, "world_size": 4}, (2, 2, 2)),
    ({"epochs": 1, "dataset_size": 10, "batch_size": 2, "world_size": 4, "drop_last": True},
     (1, 1, 1)),
    # Plain single process: 1000 / 32 = 31.25 -> 32 batches (31 with drop_last).
    ({"epochs": 5, "dataset_size": 1000, "batch_size": 32}, (160, 32, 32)),
    ({"epochs": 5, "dataset_size": 1000, "batch_size": 32, "drop_last": True}, (155, 31, 31)),
    # Fractional epochs round up: 2.5 x 4 = 10, 0.3 x 4 = 1.2 -> 2.
    ({"epochs": 2.5, "batches_per_epoch": 7, "grad_accum": 2}, (10, 4, 7)),
    ({"epochs": 0.3, "batches_per_epoch": 7, "grad_accum": 2}, (2, 4, 7)),
    # max_steps replaces the epoch count (as trainers' max_steps does): shorter ...
    ({"epochs": 10, "dataset_size": 1000, "batch_size": 10, "grad_accum": 3, "max_steps": 100},
     (100, 34, 100)),
    # ... or longer than the 340 steps of 10 epochs.
    ({"epochs": 10, "dataset_size": 1000, "batch_size": 10, "grad_accum": 3, "max_steps": 1000},
     (1000, 34, 100)),
    ({"epochs": 1, "batches_per_epoch": 5, "grad_accum": 8}, (1, 1, 5)),
]


@pytest.mark.parametrize(("kwargs", "expected"), TRAINING)
def test_training_steps(kwargs, expected) -> None:  # type: ignore[no-untyped-def]
    result = training_steps(**kwargs)
    assert (result.total, result.per_epoch, result.batches_per_epoch) == expected
    assert result.limited_by_max_steps == ("max_steps" in kwargs)
    text = result.describe()
    assert str(result.total) in text
    assert str(result.per_epoch) in text


def test_training_steps_global_batch() -> None:
    result = training_steps(epochs=1, dataset_size=50_000, batch_size=32, grad_accum=4,
                            world_size=8)
    assert result.global_batch_size == 32 * 4 * 8
    assert "1024" in result.describe()
    assert training_steps(epochs=1, batches_per_epoch=10).global_batch_size is None


def test_training_steps_errors() -> None:
    with pytest.raises(ScheduleValueError, match="batch_size"):
        training_steps(epochs=1, dataset_size=10, batch_size=32, drop_last=True)
    with pytest.raises(ScheduleValueError, match="batches_per_epoch"):
        training_steps(epochs=1, batches_per_epoch=5, dataset_size=10, batch_size=2)
    with pytest.raises(ScheduleValueError, match="dataset_size"):
        training_steps(epochs=1, dataset_size=10)
    with pytest.raises(ScheduleValueError, match="epochs"):
        training_steps(epochs=0, batches_per_epoch=5)
    with pytest.raises(ScheduleValueError, match="grad_accum"):
        training_steps(epochs=1, batches_per_epoch=5, grad_accum=0)
    with pytest.raises(ScheduleValueError, match="world_size"):
        training_steps(epochs=1, dataset_size=10, batch_size=2, world_size=0)
    with pytest.raises(ScheduleTypeError, match="batch_size"):
        training_steps(epochs=1, dataset_size=10, batch_size=2.0)  # type: ignore[arg-type]
    with pytest.raises(ScheduleValueError, match="max_steps"):
        training_steps(epochs=1, batches_per_epoch=5, max_steps=0)


def test_scaling_rules() -> None:
    assert linear_scaling(0.1, base_batch=256, batch=8192) == pytest.approx(3.2)
    assert linear_scaling(0.1, 256, 256) == 0.1
    assert linear_scaling(0.1, 256, 128) == pytest.approx(0.05)
    assert sqrt_scaling(0.1, base_batch=256, batch=1024) == pytest.approx(0.2)
    assert sqrt_scaling(1e-3, 64, 64) == 1e-3
    assert sqrt_scaling(0.1, 256, 8192) == pytest.approx(0.1 * math.sqrt(32))
    for rule in (linear_scaling, sqrt_scaling):
        with pytest.raises(ScheduleValueError, match="base_lr"):
            rule(0.0, 256, 512)
        with pytest.raises(ScheduleValueError, match="base_batch"):
            rule(0.1, 0, 512)
        with pytest.raises(ScheduleTypeError, match="batch"):
            rule(0.1, 256, 512.0)  # type: ignore[arg-type]
        with pytest.raises(ScheduleValueError, match="base_lr"):
            rule(float("inf"), 256, 512)
