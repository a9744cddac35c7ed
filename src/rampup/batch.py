"""A batch-size ramp: the global batch size as a function of the samples seen (framework-free).

Megatron-LM's ``--rampup-batch-size START INCREMENT RAMP_SAMPLES`` grows the global batch from
``START`` by ``INCREMENT`` in equal slices of the first ``RAMP_SAMPLES`` samples until it reaches
the full batch. With ``n = (full - start) / increment`` increments:

    batch(s) = min(start + increment * floor(s * n / ramp_samples), full)

(integer arithmetic: Megatron divides by ``ramp_samples / n`` in floating point, which can differ
by one slice at a boundary). A run whose batch ramps this way keeps the same learning rate per
token or sample when its scheduler counts tokens or samples
(``Scheduler(..., clock="tokens")`` and ``step(tokens=batch * seq_len)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int


@dataclass(frozen=True)
class BatchRamp:
    """Global batch size as a function of samples seen (see the module docstring)."""

    start: int
    increment: int
    ramp_samples: int
    full: int

    def __post_init__(self) -> None:
        start = check_int("start", self.start, minimum=1)
        increment = check_int("increment", self.increment, minimum=1)
        check_int("ramp_samples", self.ramp_samples, minimum=1)
        full = check_int("full", self.full, minimum=1)
        if full < start:
            raise ScheduleValueError(f"full must be >= start ({start}), got {full}")
        if (full - start) % increment:
            raise ScheduleValueError(
                f"increment must divide full - start ({full} - {start} = {full - start}), got "
                f"{increment}"
            )

    @property
    def increments(self) -> int:
        """How many times the batch grows."""
        return (self.full - self.start) // self.increment

    def __call__(self, samples: Any) -> Any:
        """The global batch size after ``samples`` samples (an int, or a numpy array of them)."""
        if isinstance(samples, bool):
            raise ScheduleTypeError(f"samples must be an integer count, got {samples!r}")
        if isinstance(samples, (int, np.integer)):
            s = check_int("samples", samples)
            return min(self.start + self.increment * (s * self.increments // self.ramp_samples),
                       self.full)
        counts = np.asarray(samples)
        if counts.dtype.kind not in "iu":
            raise ScheduleTypeError(f"samples must be integers, got dtype {counts.dtype}")
        if counts.size and counts.min() < 0:
            raise ScheduleValueError(f"samples must be >= 0, got {counts.min()}")
        slices = counts.astype(np.int64) * self.increments // self.ramp_samples
        return np.minimum(self.start + self.increment * slices, self.full)

    @property
    def horizon(self) -> int:
        """Samples after which the batch is full."""
        return self.ramp_samples

    def to_dict(self) -> dict[str, Any]:
        return {"shape": "batch_ramp", "start": self.start, "increment": self.increment,
                "ramp_samples": self.ramp_samples, "full": self.full}
