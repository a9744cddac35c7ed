"""What rampup's torch schedulers share: torch's ``LRScheduler`` contract and a versioned state.

:class:`~rampup.torch.Scheduler`, :class:`~rampup.torch.WarmupWrapper`,
:class:`~rampup.torch.GradualWarmupScheduler` and :class:`~rampup.torch.GreedyLR` are
``LRScheduler`` subclasses (so Lightning, transformers' Trainer and accelerate accept them) that do
not run torch's constructor: it wraps ``optimizer.step`` in a Python closure, which
``torch.compile`` cannot trace through, and it computes rates from the optimizer's current ones.
Each keeps the rates it last wrote in ``_last_lr`` (``get_lr``/``get_last_lr`` return copies) and
loads a saved state all or nothing (:mod:`rampup.torch.states`); those with a ``STATE_FORMAT``
write it as the state's ``"format"`` and refuse a state without it. Attributes named in
``_transient`` (hooks, handles, bound methods) are left out when pickling or copying and rebuilt
by ``_restore_transient``.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Mapping
from typing import Any, ClassVar

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rampup.errors import ScheduleTypeError, ScheduleValueError
from rampup.torch.states import check_keys

# Keys for warn_once, unique per scheduler for the whole process (an id() is reused once an object
# is freed, which silenced the warnings of every later scheduler that got the same id).
_instance_numbers = itertools.count()


def new_warn_key() -> int:
    """A number no other scheduler of this process has, for its one-time warnings."""
    return next(_instance_numbers)


def takes_metrics(scheduler: object) -> bool:
    """Whether ``scheduler.step`` needs a metric (ReduceLROnPlateau, GreedyLR and their kind).

    Read from the signature: a ``step`` with a required argument is metric-driven (torch's
    ``LRScheduler.step(epoch=None)`` has none).
    """
    if isinstance(scheduler, ReduceLROnPlateau):
        return True
    try:
        parameters = inspect.signature(scheduler.step).parameters.values()  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    return any(p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


class RampupLRScheduler(LRScheduler):
    """The contract rampup's torch schedulers share (see the module docstring)."""

    base_lrs: list[float]  # type: ignore[assignment]
    _last_lr: list[float]  # type: ignore[assignment]
    # load_state_dict checks everything before it assigns anything (states.load_nested reads this).
    _loads_atomically: ClassVar[bool] = True
    STATE_FORMAT: ClassVar[str] = ""  # "rampup.<Class>/<version>"; empty: a state without one
    _transient: ClassVar[tuple[str, ...]] = ()

    # -- torch's LRScheduler API ----------------------------------------------------------------
    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The rates for the current step (what ``step()`` last wrote)."""
        return list(self._last_lr)

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The rates in force, one float per parameter group."""
        return list(self._last_lr)

    # -- the versioned state --------------------------------------------------------------------
    def _checked_state(
        self, state: object, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        """``state`` if it is a dict of this class's format with only known keys, all required
        ones present; else a RampupError naming what is wrong. Assigns nothing."""
        name = type(self).__name__
        if not isinstance(state, Mapping):
            raise ScheduleTypeError(
                f"state_dict must be a dict (from {name}.state_dict()), got {type(state).__name__}"
            )
        if state.get("format") != self.STATE_FORMAT:
            raise ScheduleValueError(
                f"not a rampup {name} state (format {state.get('format')!r}, expected "
                f"{self.STATE_FORMAT!r})"
            )
        check_keys(state, required, optional)
        return state

    # -- pickling and copying -------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """Everything but the transient attributes (rebuilt when unpickled or copied)."""
        return {key: value for key, value in self.__dict__.items() if key not in self._transient}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._restore_transient()

    def _restore_transient(self) -> None:
        """Rebuild the attributes named in ``_transient`` (nothing by default)."""
