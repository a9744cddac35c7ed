"""rampup for PyTorch Lightning: the ``lr_scheduler`` config that ``configure_optimizers`` returns.

``lr_scheduler_config(optimizer, "cosine", self.trainer, warmup="5%")`` sizes a named schedule
from ``trainer.estimated_stepping_batches`` (optimizer updates, after gradient accumulation, per
process, for the whole fit) and returns ``{"scheduler": Scheduler(...), "interval": "step",
"frequency": 1}``: Lightning then steps it once per optimizer update, so it completes exactly at
the end of training. The scheduler is rampup's :class:`~rampup.torch.Scheduler`, a real
``torch.optim.lr_scheduler.LRScheduler``, so Lightning accepts it and saves and restores it in
its checkpoints. This module needs PyTorch but does not import Lightning itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch.optim import Optimizer

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int
from rampup.names import ScheduleLike, as_schedules
from rampup.schedules import Schedule
from rampup.torch.scheduler import Scheduler

__all__ = ["lr_scheduler_config", "training_steps_of"]


def _trainer_of(trainer: Any) -> Any:
    """The Trainer itself, or the Trainer of a LightningModule (``self`` in configure_optimizers)."""
    # Look the property up on the type: reading it on the instance would compute it.
    if trainer is None or hasattr(type(trainer), "estimated_stepping_batches"):
        return trainer
    owner = getattr(trainer, "_trainer", None)  # LightningModule.trainer raises when detached
    if owner is not None and hasattr(type(owner), "estimated_stepping_batches"):
        return owner
    raise ScheduleTypeError(
        f"trainer must be a lightning Trainer (or a LightningModule attached to one), got "
        f"{type(trainer).__name__}"
    )


def training_steps_of(trainer: Any) -> int:
    """The optimizer updates a Lightning fit will make: ``trainer.estimated_stepping_batches``.

    Lightning counts an update at the end of each accumulation window and at the end of every
    epoch (a short last window still steps), per process; an endless fit is an error here.
    """
    trainer = _trainer_of(trainer)
    if trainer is None:
        raise ScheduleTypeError("a Trainer is needed to count the training steps")
    total = trainer.estimated_stepping_batches
    if isinstance(total, float) and not math.isfinite(total):
        raise ScheduleValueError(
            "the trainer's length is unknown (max_epochs=-1 and max_steps=-1, or an iterable "
            "dataset without max_steps): set max_steps or pass total_steps"
        )
    return check_int("estimated_stepping_batches", int(total), minimum=1)


def _steps_per_epoch(trainer: Any) -> int | None:
    """Updates per epoch when every epoch has the same finite number of batches, else None."""
    batches = getattr(trainer, "num_training_batches", None)
    accumulate = getattr(trainer, "accumulate_grad_batches", None)
    if not isinstance(batches, int) or not isinstance(accumulate, int) or accumulate < 1:
        return None
    return math.ceil(batches / accumulate) if batches > 0 else None


def lr_scheduler_config(
    optimizer: Optimizer,
    schedule: ScheduleLike | Sequence[Schedule | Mapping[str, Any]],
    trainer: Any = None,
    *,
    total_steps: int | None = None,
    name: str | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Lightning's ``lr_scheduler`` config for a rampup schedule, stepped once per update.

    Use it in ``configure_optimizers``::

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.parameters(), lr=3e-4)
            config = lr_scheduler_config(optimizer, "warmup_cosine", self.trainer, warmup="5%")
            return {"optimizer": optimizer, "lr_scheduler": config}

    Args:
        optimizer: the torch optimizer, with each group's peak rate as its ``lr``.
        schedule: a rampup ``Schedule`` or its ``to_dict()`` form (or a list of them, one per
            parameter group), used as it is; or a name for ``rampup.schedule``, sized from
            ``total_steps`` or the trainer.
        trainer: the ``Trainer`` (or the LightningModule, ``self``); needed for a name without
            ``total_steps``. Its updates per epoch also resolve ``"2ep"`` durations.
        total_steps: the number of optimizer updates, instead of asking the trainer.
        name: Lightning's name for the scheduler (what ``LearningRateMonitor`` logs under).
        scheduler_options: keyword arguments for :class:`rampup.torch.Scheduler` (``tensor_lr``,
            ``on_skipped_step``, ``hyperparams`` ...).
        options: the name's options: ``warmup_steps``, ``warmup_fraction`` or ``warmup`` (``500``,
            ``"10%"``, ``"1ep"``), ``min_lr_ratio``, ...
    """
    kwargs = dict(scheduler_options or {})
    if isinstance(schedule, str):
        owner = _trainer_of(trainer)
        if total_steps is None:
            if owner is None:
                raise ScheduleTypeError(
                    f"schedule {schedule!r} is a name: pass the trainer (or total_steps) to size it"
                )
            total_steps = training_steps_of(owner)
        if "steps_per_epoch" not in options and owner is not None:
            per_epoch = _steps_per_epoch(owner)
            if per_epoch is not None:
                options["steps_per_epoch"] = per_epoch
        options["total_steps"] = total_steps
    built = as_schedules(schedule, **options)
    if total_steps is not None:
        kwargs.setdefault("total_steps", total_steps)
    config: dict[str, Any] = {
        "scheduler": Scheduler(optimizer, built, **kwargs),
        "interval": "step",
        "frequency": 1,
    }
    if name is not None:
        config["name"] = name
    return config
