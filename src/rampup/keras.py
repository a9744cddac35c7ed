"""rampup for Keras 3: a ``LearningRateSchedule`` that serialises with the model.

``RampupSchedule(schedule, peak_lr)`` gives update ``k`` the rate ``peak_lr * schedule(k)``. Pass it
as any Keras optimizer's ``learning_rate``; ``keras.optimizers.serialize``/``deserialize``,
``model.save(...)`` and ``keras.saving.load_model(...)`` round-trip it through the schedule's
``to_dict()`` (registered as ``"rampup>RampupSchedule"``). Importing this module imports Keras, so
set ``KERAS_BACKEND`` before the first ``import keras`` as usual.

Keras calls the schedule with its micro-batch counter (``optimizer._iterations``). Where that is a
concrete number (eager execution: the torch backend, ``run_eagerly=True``) it is evaluated exactly
in float64 on the Python path. Inside a traced step (jax ``jit``, a TensorFlow graph) the step is
symbolic: a schedule with an end is then read from a precomputed float32 table of its values,
which any backend can index; a schedule without an end falls back to evaluating ``schedule`` on
the backend tensor, which needs rampup's array-API support for that backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from rampup.config import from_dict
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_int,
    check_peak_times_schedule,
    check_real,
)
from rampup.names import as_schedule
from rampup.schedules import Schedule

__all__ = ["RampupSchedule"]

# Largest table of precomputed rates kept for traced (symbolic) steps: 4M float32 values, 16 MiB.
_MAX_TABLE = 1 << 22


def _concrete_step(step: Any) -> int | None:
    """The step as a Python int when it has a value now (eager), else None (traced/symbolic)."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        return int(step)
    try:
        return int(step)
    except Exception:  # jax's ConcretizationTypeError, TensorFlow's graph-mode TypeError, ...
        return None


@keras.saving.register_keras_serializable(package="rampup")
class RampupSchedule(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """A Keras learning-rate schedule driven by a rampup schedule: ``peak_lr * schedule(step)``.

    Args:
        schedule: a rampup ``Schedule``, its ``to_dict()`` form, or a name for
            ``rampup.schedule`` (then ``options`` are that name's options, e.g.
            ``RampupSchedule("cosine", 1e-3, warmup_steps=100, total_steps=1000)``).
        peak_lr: the rate the multiplier 1.0 stands for (> 0).
        gradient_accumulation_steps: the optimizer's ``gradient_accumulation_steps`` if it has
            one: Keras then counts micro-batches, and update ``k`` must read ``schedule(k)``.
        name: an optional name, kept in the config.
    """

    def __init__(
        self,
        schedule: Schedule | Mapping[str, Any] | str,
        peak_lr: float,
        *,
        gradient_accumulation_steps: int | None = None,
        name: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__()
        self.schedule: Schedule = as_schedule(schedule, **options)
        self.peak_lr = check_real("peak_lr", peak_lr, low=0.0, low_open=True)
        check_peak_times_schedule(self.peak_lr, self.schedule)
        accumulation = 1 if gradient_accumulation_steps is None else gradient_accumulation_steps
        self.gradient_accumulation_steps = check_int(
            "gradient_accumulation_steps", accumulation, minimum=1
        )
        self.name = name
        self._table: Any = None

    def __call__(self, step: Any) -> Any:
        concrete = _concrete_step(step)
        if concrete is not None:
            if concrete < 0:
                raise ScheduleValueError(f"step must be >= 0, got {concrete}")
            return self.peak_lr * self.schedule(concrete // self.gradient_accumulation_steps)
        return self._traced(step)

    def _traced(self, step: Any) -> Any:
        """The rate for a symbolic step, with backend ops only (no Python branch on its value)."""
        ops = keras.ops
        update = ops.floor_divide(ops.cast(step, "int64"), self.gradient_accumulation_steps)
        horizon = self.schedule.horizon
        if horizon is not None and horizon + 1 <= _MAX_TABLE:
            if self._table is None:
                values = self.peak_lr * self.schedule(np.arange(horizon + 1))
                self._table = values.astype(np.float32)
            index = ops.minimum(update, horizon)
            return ops.take(ops.convert_to_tensor(self._table), index)
        try:
            return self.peak_lr * self.schedule(update)
        except Exception as error:
            raise ScheduleValueError(
                f"cannot evaluate {self.schedule.label()} on a traced step: it has no end (or more "
                f"than {_MAX_TABLE} steps) and rampup cannot evaluate it on this backend's "
                f"tensors ({error}). Run eagerly (jit_compile=False / run_eagerly=True) or give the "
                "schedule an end."
            ) from error

    def get_config(self) -> dict[str, Any]:
        """Plain, JSON-ready data: the schedule's ``to_dict()``, the peak rate and the options."""
        return {
            "schedule": self.schedule.to_dict(),
            "peak_lr": self.peak_lr,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RampupSchedule:
        """The schedule ``get_config`` describes (the schedule through ``rampup.from_dict``)."""
        if not isinstance(config, Mapping):
            raise ScheduleTypeError(f"a RampupSchedule config must be a dict, got {type(config).__name__}")
        data = dict(config)
        unknown = sorted(set(data) - {"schedule", "peak_lr", "gradient_accumulation_steps", "name"})
        if unknown or "schedule" not in data or "peak_lr" not in data:
            raise ScheduleTypeError(
                f"a RampupSchedule config needs the keys schedule and peak_lr (optional: "
                f"gradient_accumulation_steps, name); got {sorted(data)}"
                + (f", unexpected: {unknown}" if unknown else "")
            )
        if not isinstance(data["schedule"], Mapping):
            raise ScheduleTypeError(
                f"schedule in a RampupSchedule config must be a schedule's to_dict() form, got "
                f"{type(data['schedule']).__name__}"
            )
        return cls(
            from_dict(dict(data["schedule"])),
            data["peak_lr"],
            gradient_accumulation_steps=data.get("gradient_accumulation_steps"),
            name=data.get("name"),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RampupSchedule):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((self.schedule, self.peak_lr, self.gradient_accumulation_steps, self.name))

    def __repr__(self) -> str:
        return f"RampupSchedule({self.schedule.label()}, peak_lr={self.peak_lr:g})"

