"""Reading one update's signals for the adaptive warmup: plain numbers now, tensors later.

Plain numbers become a tuple of floats in :data:`~rampup.adaptive.stability.SIGNAL_NAMES` order at
once. Tensors, and every signal under ``torch.distributed`` with several processes, go to
:mod:`rampup.torch.adaptive` (imported only then), which starts a non-blocking copy (and the
all-reduce) and returns a handle whose values are read when the decision is due, ``lag`` updates
later. Checked here too: the signals not yet acted on in a saved state.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rampup.adaptive.stability import SIGNAL_NAMES, Values
from rampup.errors import ScheduleTypeError, ScheduleValueError


def read_entry(signals: Mapping[str, Any], missing_loss: str) -> Any:
    """One update's signals as a tuple of floats, a device handle, or None (no loss, allowed)."""
    raw = [signals.get(name) for name in SIGNAL_NAMES]
    if raw[0] is None:
        if any(v is not None for v in raw[1:]) or missing_loss == "error":
            raise ScheduleValueError(
                "loss: the adaptive warmup needs the training loss of every update during the "
                "warmup: call scheduler.step(loss=loss) (a tensor is fine), or build the clock "
                "with AdaptiveWarmup(missing_loss='advance') to advance untested without one"
            )
        return None
    for name, value in zip(SIGNAL_NAMES, raw, strict=True):
        if isinstance(value, (bool, str, bytes)):
            raise ScheduleTypeError(f"{name} must be a number or a one-element tensor, got {value!r}")
    if all(v is None or _plain_number(v) for v in raw) and not _distributed():
        return tuple(None if v is None else float(v) for v in raw)
    from rampup.torch.adaptive import read_signals

    return read_signals(raw)


def resolve_entry(entry: Any) -> Values | None:
    """The values of an entry from :func:`read_entry` (a device handle is read now)."""
    if entry is None or isinstance(entry, tuple):
        return entry
    values: Values = entry.values()
    return values


def check_pending(pending: Any, lag: int) -> list[Values | None]:
    """The saved signals not yet acted on (at most ``lag`` entries), checked."""
    if (isinstance(pending, (str, bytes)) or not isinstance(pending, Sequence)
            or len(pending) > lag):
        raise ScheduleValueError(
            f"pending must be a list of at most lag={lag} entries, got {pending!r}"
        )
    entries: list[Values | None] = []
    for item in pending:
        if item is None:
            entries.append(None)
            continue
        if not isinstance(item, Sequence) or len(item) != len(SIGNAL_NAMES):
            raise ScheduleValueError(f"pending entry must list {SIGNAL_NAMES}, got {item!r}")
        entries.append(tuple(None if v is None else _state_float(name, v)
                             for name, v in zip(SIGNAL_NAMES, item, strict=True)))
    return entries


def _plain_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _state_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScheduleValueError(f"pending {name} must be a number, got {value!r}")
    return float(value)


def _distributed() -> bool:
    """Whether torch.distributed runs with several processes (checked without importing torch)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return False
    try:
        return bool(dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)
    except (RuntimeError, ValueError):  # pragma: no cover - a half-initialised group
        return False
