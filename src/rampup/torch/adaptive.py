"""Reading an adaptive warmup's signals from torch without stopping the device.

:class:`rampup.AdaptiveWarmup` calls :func:`read_signals` when an update's signals include a
tensor, or when ``torch.distributed`` runs several processes. The signals are packed into one
float64 tensor on their device; under ``torch.distributed`` they are summed over the processes
(``all_reduce``, asynchronous) and divided by the process count, so every rank holds the same
average and takes the same decision. On a GPU the packed tensor is copied into pinned host memory
with ``non_blocking=True`` and a CUDA event is recorded after the copy; the clock reads the values
``lag`` updates later (default 2), by which time the copy has finished in any training loop whose
host runs less than ``lag`` updates ahead of the device (otherwise reading waits for that copy
only). No call here waits for the device when the signals are pushed.

On a CPU the same path runs (the copy is immediate); the clock's lag applies on every device, so a
CPU test exercises the code that runs on a GPU, and results never depend on timing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

from rampup.errors import ScheduleTypeError, ScheduleValueError

NAMES = ("loss", "grad_norm", "update_ratio")


def _as_element(name: str, value: Any, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ScheduleValueError(
                f"{name} must be a single number (a 0-d or one-element tensor), got a tensor of "
                f"shape {tuple(value.shape)}"
            )
        if value.is_complex() or value.dtype == torch.bool:
            raise ScheduleTypeError(f"{name} must be a real number, got a tensor of dtype {value.dtype}")
        return value.detach().reshape(()).to(device=device, dtype=torch.float64, non_blocking=True)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ScheduleTypeError(
                f"{name} must be a number or a one-element tensor, got {type(value).__name__}"
            ) from None
    return torch.tensor(float(value), dtype=torch.float64, device=device)


def _device_of(values: Sequence[Any]) -> torch.device:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class PendingSignals:
    """One update's signals on their way to the host; :meth:`values` reads them (once)."""

    __slots__ = ("_event", "_given", "_host", "_result", "_tensor", "_work", "_world")

    def __init__(self, raw: Sequence[Any]) -> None:
        given = [i for i, v in enumerate(raw) if v is not None]
        device = _device_of(raw)
        packed = torch.stack([_as_element(NAMES[i], raw[i], device) for i in given])
        world = 1
        work = None
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            world = dist.get_world_size()
            work = dist.all_reduce(packed, op=dist.ReduceOp.SUM, async_op=True)
        host: torch.Tensor | None = None
        event = None
        if packed.is_cuda:
            if work is not None:
                work.wait()  # on a CUDA tensor this orders the streams; the host does not wait
                work = None
            host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
            host.copy_(packed, non_blocking=True)
            event = torch.cuda.Event()  # type: ignore[no-untyped-call]
            event.record()
        self._given, self._world = given, world
        self._tensor, self._work, self._host, self._event = packed, work, host, event
        self._result: tuple[float | None, ...] | None = None

    def values(self) -> tuple[float | None, ...]:
        """The signals as floats (averaged over processes), in ``NAMES`` order; None where absent."""
        if self._result is None:
            if self._work is not None:
                self._work.wait()
            if self._event is not None:
                self._event.synchronize()
            source = self._host if self._host is not None else self._tensor
            numbers = source.tolist()
            out: list[float | None] = [None] * len(NAMES)
            for index, value in zip(self._given, numbers, strict=True):
                out[index] = value / self._world if math.isfinite(value) else value
            self._result = tuple(out)
            self._tensor = self._host = self._work = self._event = None  # type: ignore[assignment]
        return self._result


def read_signals(raw: Sequence[Any]) -> PendingSignals:
    """Start reading one update's signals (see the module docstring)."""
    return PendingSignals(raw)
