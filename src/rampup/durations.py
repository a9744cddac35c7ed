"""Durations in steps, epochs or fractions, step counting, and learning-rate scaling rules.

Every schedule counts in optimizer steps: one step is one completed optimizer update (global,
after gradient accumulation). Epochs and fractions of training enter only here.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

import numpy as np

from rampup.errors import (
    MAX_STEP,
    ScheduleTypeError,
    ScheduleValueError,
    check_int,
    check_real,
    show,
    warn_once,
)

_STEPS = re.compile(r"^\d+$")
_PERCENT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)%$")
_EPOCHS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)ep$")

Duration = int | float | str


def resolve_duration(
    value: Duration,
    *,
    name: str = "warmup",
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
) -> int:
    """Turn a duration into a whole number of optimizer steps.

    - ``500`` or ``"500"``: 500 steps.
    - ``"10%"`` or ``0.1`` (a float in [0, 1]): that fraction of ``total_steps``, rounded up
      (as transformers rounds ``warmup_ratio``), so a positive fraction never gives 0 steps.
    - ``"5ep"``: 5 epochs of ``steps_per_epoch`` steps, rounded to the nearest step.

    Examples:
        >>> from rampup import resolve_duration
        >>> resolve_duration(500), resolve_duration("10%", total_steps=1200)
        (500, 120)
        >>> resolve_duration(0.001, total_steps=1200)      # ceil(1.2)
        2
        >>> resolve_duration("5ep", steps_per_epoch=390)
        1950
    """
    if isinstance(value, (bool, np.bool_)):
        raise ScheduleTypeError(f"{name} must be a step count, fraction or duration, got {value!r}")
    if isinstance(value, numbers.Integral):
        return check_int(name, value)
    if isinstance(value, numbers.Real):
        fraction = check_real(name, value, low=0.0, high=1.0)
        return _fraction_to_steps(name, fraction, total_steps)
    if not isinstance(value, str):
        raise ScheduleTypeError(
            f"{name} must be an int (steps), a float in [0, 1] (fraction) or a string like "
            f"'500', '10%' or '5ep', got {type(value).__name__}"
        )
    text = value.strip()
    if _STEPS.match(text):
        if len(text.lstrip("0")) > 19:  # more than 2**62 (and int() refuses 4300+ digits)
            raise ScheduleValueError(f"{name} must be at most 2**62 steps, got {show(value)}")
        return check_int(name, int(text))
    match = _PERCENT.match(text)
    if match:
        percent = float(match.group(1))
        if percent > 100.0:
            raise ScheduleValueError(f"{name} must be between 0% and 100%, got {show(value)}")
        return _fraction_to_steps(name, percent / 100.0, total_steps)
    match = _EPOCHS.match(text)
    if match:
        if steps_per_epoch is None:
            raise ScheduleValueError(
                f"{name}={value!r} is given in epochs: pass steps_per_epoch (optimizer steps in "
                "one epoch) to convert it"
            )
        per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        steps = float(match.group(1)) * per_epoch + 0.5
        if not steps <= MAX_STEP:
            raise ScheduleValueError(
                f"{name}={show(value)} is more than 2**62 steps ({per_epoch} steps per epoch)"
            )
        return math.floor(steps)
    raise ScheduleValueError(
        f"{name}={show(value)} is not a duration: use steps ('500'), a percentage of training ('10%') "
        "or epochs ('5ep'), with no spaces"
    )


def _fraction_to_steps(name: str, fraction: float, total_steps: int | None) -> int:
    if total_steps is None:
        raise ScheduleValueError(
            f"{name} is a fraction of training ({fraction:g}): pass total_steps to convert it"
        )
    total = check_int("total_steps", total_steps, minimum=1)
    return math.ceil(fraction * total - 1e-9)


@dataclass(frozen=True)
class TrainingSteps:
    """How many optimizer steps a run takes, and how that number was reached.

    Built by :func:`training_steps`; ``describe()`` gives the derivation in words.

    Examples:
        >>> from rampup import training_steps
        >>> run = training_steps(epochs=2, batches_per_epoch=10, grad_accum=4)
        >>> # ceil(10 / 4) = 3 updates per epoch (the last accumulates 2 batches), 2 x 3 in all
        >>> run.per_epoch, run.total, run.limited_by_max_steps
        (3, 6, False)
        >>> training_steps(epochs=2, batches_per_epoch=10, grad_accum=4, max_steps=5).total
        5
    """

    total: int
    per_epoch: int
    epochs: float
    batches_per_epoch: int
    micro_batch_size: int | None
    grad_accum: int
    world_size: int
    global_batch_size: int | None
    limited_by_max_steps: bool

    def describe(self) -> str:
        """The derivation in words."""
        parts = []
        if self.global_batch_size is not None:
            parts.append(
                f"One optimizer step uses {self.global_batch_size} samples "
                f"({self.micro_batch_size} per micro-batch x {self.grad_accum} accumulated "
                f"x {self.world_size} processes)."
            )
        else:
            parts.append(
                f"One optimizer step uses {self.grad_accum} micro-batch(es) on each of "
                f"{self.world_size} process(es)."
            )
        parts.append(
            f"Each process sees {self.batches_per_epoch} micro-batches per epoch, so an epoch is "
            f"{self.per_epoch} optimizer steps"
            + (" (the last, incomplete accumulation still steps)." if self.batches_per_epoch
               % self.grad_accum else ".")
        )
        if self.limited_by_max_steps:
            parts.append(f"max_steps sets the run to {self.total} steps (instead of {self.epochs:g} epochs).")
        else:
            parts.append(f"{self.epochs:g} epochs x {self.per_epoch} = {self.total} steps in total.")
        parts.append(
            f"Pass total_steps={self.total} (num_training_steps) to the schedule and step the "
            "scheduler once per optimizer step."
        )
        return " ".join(parts)


def training_steps(
    *,
    epochs: float,
    dataset_size: int | None = None,
    batch_size: int | None = None,
    batches_per_epoch: int | None = None,
    grad_accum: int = 1,
    world_size: int = 1,
    drop_last: bool = False,
    max_steps: int | None = None,
) -> TrainingSteps:
    """Total optimizer steps of a run.

    Give either ``dataset_size`` and ``batch_size`` (the per-process micro-batch; the dataset is
    split evenly over ``world_size`` processes as DistributedSampler does, padding the last share)
    or ``batches_per_epoch`` (``len(dataloader)`` on one process). An epoch is
    ``ceil(batches_per_epoch / grad_accum)`` optimizer steps: a final incomplete accumulation window
    still ends in an optimizer step. ``max_steps`` (if given) replaces the epoch count, as
    trainers' ``max_steps`` does, so the run may be shorter or longer than ``epochs``.

    Examples:
        >>> from rampup import training_steps
        >>> run = training_steps(epochs=3, dataset_size=50_000, batch_size=32, grad_accum=4, world_size=8)
        >>> # ceil(ceil(50000 / 8) / 32) = 196 batches, ceil(196 / 4) = 49 updates per epoch
        >>> run.total, run.per_epoch, run.global_batch_size
        (147, 49, 1024)
    """
    epochs_value = check_real("epochs", epochs, low=0.0, low_open=True)
    if not isinstance(drop_last, (bool, np.bool_)):
        raise ScheduleTypeError(f"drop_last must be True or False, got {show(drop_last)}")
    accum = check_int("grad_accum", grad_accum, minimum=1)
    world = check_int("world_size", world_size, minimum=1)
    micro: int | None = None
    if batches_per_epoch is not None:
        if dataset_size is not None or batch_size is not None:
            raise ScheduleValueError(
                "give either batches_per_epoch or dataset_size with batch_size, not both"
            )
        batches = check_int("batches_per_epoch", batches_per_epoch, minimum=1)
    else:
        if dataset_size is None or batch_size is None:
            raise ScheduleValueError(
                "give dataset_size and batch_size (per process), or batches_per_epoch"
            )
        size = check_int("dataset_size", dataset_size, minimum=1)
        micro = check_int("batch_size", batch_size, minimum=1)
        per_process = math.ceil(size / world)
        batches = per_process // micro if drop_last else math.ceil(per_process / micro)
        if batches == 0:
            raise ScheduleValueError(
                f"with drop_last, batch_size={micro} is larger than the {per_process} samples each "
                f"process sees per epoch (dataset_size={size} over world_size={world}): no step "
                "would ever run"
            )
    per_epoch = math.ceil(batches / accum)
    exact = epochs_value * per_epoch - 1e-9
    if not exact <= MAX_STEP:
        raise ScheduleValueError(
            f"epochs x steps per epoch must be at most 2**62 steps, got epochs={epochs_value:g} x "
            f"{per_epoch} (batches_per_epoch={batches}, grad_accum={accum})"
        )
    # At least one step: a positive number of epochs runs the optimizer at least once.
    total = max(1, math.ceil(exact))
    capped = False
    if max_steps is not None:
        # As in transformers' Trainer and Lightning: max_steps replaces the epoch count.
        total, capped = check_int("max_steps", max_steps, minimum=1), True
    return TrainingSteps(
        total=total,
        per_epoch=per_epoch,
        epochs=epochs_value,
        batches_per_epoch=batches,
        micro_batch_size=micro,
        grad_accum=accum,
        world_size=world,
        global_batch_size=None if micro is None else micro * accum * world,
        limited_by_max_steps=capped,
    )


def linear_scaling(base_lr: float, base_batch: int, batch: int) -> float:
    """Goyal et al.'s linear scaling rule: ``base_lr * batch / base_batch``.

    Examples:
        >>> from rampup import linear_scaling
        >>> linear_scaling(0.1, base_batch=256, batch=8192)   # 0.1 * 32
        3.2
    """
    lr = check_real("base_lr", base_lr, low=0.0, low_open=True)
    b0 = check_int("base_batch", base_batch, minimum=1)
    b = check_int("batch", batch, minimum=1)
    return _finite_rate(lr * b / b0, lr, b0, b)


def sqrt_scaling(base_lr: float, base_batch: int, batch: int) -> float:
    """Square-root scaling, gentler for very large batches: ``base_lr * sqrt(batch / base_batch)``.

    Examples:
        >>> from rampup import sqrt_scaling
        >>> sqrt_scaling(0.1, base_batch=256, batch=1024)     # 0.1 * sqrt(4)
        0.2
    """
    lr = check_real("base_lr", base_lr, low=0.0, low_open=True)
    b0 = check_int("base_batch", base_batch, minimum=1)
    b = check_int("batch", batch, minimum=1)
    return _finite_rate(lr * math.sqrt(b / b0), lr, b0, b)


def _finite_rate(rate: float, lr: float, b0: int, b: int) -> float:
    if not math.isfinite(rate) or (rate == 0.0 and lr > 0.0):
        raise ScheduleValueError(
            f"the scaled rate of base_lr={lr:g} from base_batch={b0} to batch={b} is not a positive "
            "finite number; choose a smaller base_lr or batch ratio"
        )
    return rate


def warn_if_zero(name: str, requested: Duration, steps: int) -> None:
    """Warn when a positive fraction or epoch count rounds to no steps at all."""
    if isinstance(requested, str) and _STEPS.match(requested.strip()):
        return  # a step count: 0 steps is what was asked
    if steps == 0 and requested not in (0, "0", 0.0, "0%", "0ep"):
        warn_once(
            f"zero:{name}:{requested}",
            f"{name}={requested!r} resolves to 0 steps; give a step count if that is not intended",
        )
