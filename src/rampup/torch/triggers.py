"""Start the cooldown of a running job: at an update, when a file appears, or on a POSIX signal.

A :class:`CooldownTrigger` is checked between updates (``trigger.check(scheduler)`` after
``scheduler.step()`` in a plain loop; the Lightning and transformers callbacks below do it for
you). When its condition holds it calls ``scheduler.cooldown(steps, shape, floor)`` once.

Several processes: every process must change its plan at the same update. A file or a signal may
be seen by some processes only (a local disk, a signal sent to one PID), so when
``torch.distributed`` is initialised each check agrees by an all-reduce (MAX) of the local answers:
the cooldown starts on every rank at the same update as soon as any rank sees the request.
Checks run at the same updates on every rank (every ``every`` updates, counted by the scheduler,
which all ranks step alike), so the collectives line up. A run resumed after the cooldown finds it
in the scheduler's change log and does not start it again.
"""

from __future__ import annotations

import os
import signal as _signal
from pathlib import Path
from typing import Any

import torch

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int

__all__ = ["CooldownTrigger", "lightning_callback", "trainer_callback"]


class CooldownTrigger:
    """Start ``scheduler.cooldown(steps, shape, floor)`` once, when asked.

    Args:
        steps: the cooldown's length (in the scheduler's clock unit; ``"2B tok"`` strings too).
        shape: passed to :meth:`rampup.torch.Scheduler.cooldown`.
        floor: passed to it too.
        extend: passed to it too.
        at_update: start when the scheduler has counted this many updates.
        file: start when this path exists (e.g. ``touch COOLDOWN`` in the run directory).
        signal: start after this POSIX signal arrives (e.g. ``signal.SIGUSR1``; installed by
            :meth:`install`, which the callbacks call, in the main thread).
        every: check the file and the signal every this many updates (each check is one tiny
            all-reduce when several processes run).
    """

    def __init__(
        self,
        steps: int | str,
        *,
        shape: str = "1-sqrt",
        floor: float = 0.0,
        extend: bool = False,
        at_update: int | None = None,
        file: str | os.PathLike[str] | None = None,
        signal: int | None = None,
        every: int = 1,
    ) -> None:
        if at_update is None and file is None and signal is None:
            raise ScheduleValueError("give at least one of at_update, file, signal: when to start")
        if isinstance(steps, bool) or not isinstance(steps, (int, str)):
            raise ScheduleTypeError(f"steps must be an int or a duration string, got {steps!r}")
        self.steps, self.shape, self.floor, self.extend = steps, shape, floor, extend
        self.at_update = None if at_update is None else check_int("at_update", at_update)
        self.file = None if file is None else Path(file)
        if signal is not None and signal not in set(_signal.valid_signals()):
            raise ScheduleValueError(f"signal must be a POSIX signal number, got {signal!r}")
        self.signal = signal
        self.every = check_int("every", every, minimum=1)
        self.received = False  # set by the signal handler
        self.started_at: int | None = None  # the update where this trigger started the cooldown
        self._previous_handler: Any = None
        self._installed = False

    # -- signal handling ------------------------------------------------------------------------
    def install(self) -> None:
        """Install the signal handler (main thread only); the previous one is restored by
        :meth:`uninstall`."""
        if self.signal is None or self._installed:
            return
        self._previous_handler = _signal.signal(self.signal, self._on_signal)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed and self.signal is not None:
            _signal.signal(self.signal, self._previous_handler)
            self._installed = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        # Only set a flag: the cooldown itself starts at the next check, between two updates.
        self.received = True

    # -- the check ------------------------------------------------------------------------------
    def _requested_here(self, update: int) -> bool:
        """This process's answer (no communication)."""
        if self.received:
            return True
        return self.file is not None and self.file.exists()

    def check(self, scheduler: Any) -> bool:
        """Start the cooldown if asked (call between updates, on every rank); True if it started."""
        if self.started_at is not None or _has_cooldown(scheduler):
            return False
        update = scheduler.last_epoch
        due = self.at_update is not None and update >= self.at_update
        if not due and (self.file is not None or self.signal is not None) and update % self.every == 0:
            due = _agree(self._requested_here(update))
        if not due:
            return False
        scheduler.cooldown(self.steps, shape=self.shape, floor=self.floor, extend=self.extend)
        self.started_at = update
        return True


def _has_cooldown(scheduler: Any) -> bool:
    return any(change["op"] == "cooldown" for change in scheduler._plan.changes)


def _agree(local: bool) -> bool:
    """True on every rank if it is true on any rank (an all-reduce MAX); the local answer alone
    without torch.distributed."""
    distributed = torch.distributed
    if not (distributed.is_available() and distributed.is_initialized()):
        return local
    device = torch.device("cpu")
    if distributed.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    flag = torch.tensor([1 if local else 0], dtype=torch.int32, device=device)
    distributed.all_reduce(flag, op=distributed.ReduceOp.MAX)
    return bool(flag.item())


def _rampup_schedulers(candidates: Any) -> list[Any]:
    from rampup.torch.scheduler import Scheduler

    found = []
    for item in candidates:
        scheduler = getattr(item, "scheduler", item)  # Lightning's LRSchedulerConfig, or a scheduler
        if isinstance(scheduler, Scheduler):
            found.append(scheduler)
    if not found:
        raise ScheduleValueError(
            "the cooldown trigger found no rampup.torch.Scheduler to change in this trainer"
        )
    return found


def lightning_callback(trigger: CooldownTrigger) -> Any:
    """A ``lightning.pytorch.Callback`` that checks ``trigger`` before each optimizer update.

    It looks at the trainer's rampup schedulers at the start of each batch (Lightning steps them
    after ``on_train_batch_end``), once per update, so the cooldown's first rate is the one the
    next update uses. Imports Lightning when called.
    """
    from lightning.pytorch import Callback

    class CooldownCallback(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.trigger = trigger
            self._seen: int | None = None

        def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
            self.trigger.install()

        def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
            self.trigger.uninstall()

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int,
                                 ) -> None:
            if trainer.global_step == self._seen:  # once per update, not per micro-batch
                return
            self._seen = trainer.global_step
            for scheduler in _rampup_schedulers(trainer.lr_scheduler_configs):
                self.trigger.check(scheduler)

    return CooldownCallback()


def trainer_callback(trigger: CooldownTrigger) -> Any:
    """A ``transformers.TrainerCallback`` that checks ``trigger`` after each optimizer update (the
    Trainer has stepped the scheduler by then). Imports transformers when called."""
    from transformers import TrainerCallback

    class CooldownCallback(TrainerCallback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.trigger = trigger

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.trigger.install()

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.trigger.uninstall()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            for scheduler in _rampup_schedulers([kwargs.get("lr_scheduler")]):
                self.trigger.check(scheduler)

    return CooldownCallback()
