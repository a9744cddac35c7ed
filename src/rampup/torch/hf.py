"""transformers' schedule functions on rampup's scheduler: the ``get_*`` functions and ``get_scheduler``.

They take transformers' names, signatures and defaults and give transformers' numbers, but return
rampup's own picklable, resumable, tensor-rate-safe :class:`~rampup.torch.Scheduler` instead of a
``LambdaLR`` over closures. Differences, on purpose: past ``num_training_steps`` every schedule
holds its final value (transformers' cosine climbs back up), and ``num_warmup_steps >
num_training_steps`` is an error. (The signatures mirror transformers' on purpose.)
"""

from __future__ import annotations

import warnings
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int, check_real, closest
from rampup.names import schedule as named_schedule
from rampup.torch.greedy import GreedyLR
from rampup.torch.groups import check_optimizer
from rampup.torch.scheduler import Scheduler

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "MissingInitialLrError",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
]


class MissingInitialLrError(ScheduleValueError, KeyError):
    """A group has no ``initial_lr`` when resuming with ``last_epoch >= 0``.

    A KeyError as well, as torch and transformers raise in that case.
    """

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


def _build(
    optimizer: Optimizer,
    name: str,
    last_epoch: int,
    num_warmup_steps: int = 0,
    num_training_steps: int | None = None,
    **options: Any,
) -> Scheduler:
    check_optimizer(optimizer)
    resume_from = check_int("last_epoch", last_epoch, minimum=-1)
    if resume_from >= 0:
        for index, group in enumerate(optimizer.param_groups):
            if "initial_lr" not in group:
                raise MissingInitialLrError(
                    f"param 'initial_lr' is not specified in param_groups[{index}] when resuming "
                    "with last_epoch >= 0; load the optimizer state first, or better, load the "
                    "scheduler's state_dict"
                )
    warmup = None if name == "constant" else num_warmup_steps
    schedule = named_schedule(name, warmup_steps=warmup, total_steps=num_training_steps, **options)
    scheduler = Scheduler(optimizer, schedule)
    if resume_from >= 0:
        scheduler.step(resume_from + 1)
    return scheduler


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> Scheduler:
    """The optimizer's rate, unchanged."""
    return _build(optimizer, "constant", last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau, as transformers returns it (metric-driven)."""
    optimizer = check_optimizer(optimizer)
    try:
        return ReduceLROnPlateau(optimizer, **kwargs)
    except TypeError as exc:  # an unknown option
        raise ScheduleTypeError(f"reduce_lr_on_plateau: {exc}") from exc
    except ValueError as exc:  # torch's own checks (mode, factor, threshold_mode...)
        raise ScheduleValueError(f"reduce_lr_on_plateau: {exc}") from exc


def get_constant_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1
) -> Scheduler:
    """Linear warmup from 0 over ``num_warmup_steps``, then the optimizer's rate."""
    return _build(optimizer, "constant_with_warmup", last_epoch, num_warmup_steps)


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> Scheduler:
    """Linear warmup from 0, then linear decay to 0 at ``num_training_steps``."""
    return _build(optimizer, "linear", last_epoch, num_warmup_steps, num_training_steps)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> Scheduler:
    """Linear warmup from 0, then cosine decay (``num_cycles`` waves; 0.5 = down to 0)."""
    return _build(optimizer, "cosine", last_epoch, num_warmup_steps, num_training_steps,
                  num_cycles=num_cycles)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> Scheduler:
    """Linear warmup from 0, then ``num_cycles`` cosine decays with hard restarts."""
    return _build(optimizer, "cosine_with_restarts", last_epoch, num_warmup_steps,
                  num_training_steps, num_cycles=num_cycles)


def get_polynomial_decay_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    lr_end: float = 1e-7,
    power: float = 1.0,
    last_epoch: int = -1,
) -> Scheduler:
    """Linear warmup from 0, then polynomial decay to ``lr_end`` (read against the default lr)."""
    peak = check_optimizer(optimizer).defaults["lr"]
    lr_end = check_real("lr_end", lr_end, low=0.0)
    if not peak > lr_end:
        raise ScheduleValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({peak})")
    return _build(optimizer, "polynomial", last_epoch, num_warmup_steps, num_training_steps,
                  lr_end=lr_end, power=power, peak_lr=float(peak))


def get_inverse_sqrt_schedule(
    optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> Scheduler:
    """Linear warmup from 0, then ``1 / sqrt((t + timescale) / timescale)`` after warmup."""
    return _build(optimizer, "inverse_sqrt", last_epoch, num_warmup_steps, timescale=timescale)


def _check_min_lr(min_lr: float | None, min_lr_rate: float | None) -> None:
    """transformers' rule for its min-lr cosines: exactly one of the two, with its messages."""
    if min_lr is not None and min_lr_rate is not None:
        raise ScheduleValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is None and min_lr_rate is None:
        raise ScheduleValueError(
            "One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`"
        )


def get_cosine_with_min_lr_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> Scheduler:
    """Linear warmup from 0, then cosine decay to ``min_lr`` (or ``min_lr_rate`` of the peak)."""
    _check_min_lr(min_lr, min_lr_rate)
    return _build(optimizer, "cosine_with_min_lr", last_epoch, num_warmup_steps, num_training_steps,
                  num_cycles=num_cycles, min_lr=min_lr, min_lr_rate=min_lr_rate,
                  peak_lr=float(check_optimizer(optimizer).defaults["lr"]))


def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
    warmup_lr_rate: float | None = None,
) -> Scheduler:
    """Warmup whose first step is nonzero, then cosine decay to ``min_lr``/``min_lr_rate``."""
    _check_min_lr(min_lr, min_lr_rate)
    return _build(optimizer, "cosine_warmup_with_min_lr", last_epoch, num_warmup_steps,
                  num_training_steps, num_cycles=num_cycles, min_lr=min_lr,
                  min_lr_rate=min_lr_rate, warmup_lr_rate=warmup_lr_rate,
                  peak_lr=float(check_optimizer(optimizer).defaults["lr"]))


def get_wsd_schedule(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_decay_steps: int,
    num_training_steps: int | None = None,
    num_stable_steps: int | None = None,
    warmup_type: str = "linear",
    decay_type: str = "cosine",
    min_lr_ratio: float = 0,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> Scheduler:
    """Warmup, a stable phase at the peak, then a decay to ``min_lr_ratio`` of the peak."""
    if num_training_steps is None and num_stable_steps is None:
        raise ScheduleValueError("Either num_training_steps or num_stable_steps must be specified.")
    if num_training_steps is not None and num_stable_steps is not None:
        warnings.warn(
            "Both num_training_steps and num_stable_steps are specified. num_stable_steps will be used.",
            stacklevel=2,
        )
    return _build(optimizer, "warmup_stable_decay", last_epoch, num_warmup_steps,
                  num_training_steps if num_stable_steps is None else None,
                  num_decay_steps=num_decay_steps, num_stable_steps=num_stable_steps,
                  warmup_type=warmup_type, decay_type=decay_type, min_lr_ratio=min_lr_ratio,
                  num_cycles=num_cycles)


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """A :class:`GreedyLR` on ``optimizer``."""
    return GreedyLR(optimizer, **kwargs)


TYPE_TO_SCHEDULER_FUNCTION: dict[str, Any] = {
    "linear": get_linear_schedule_with_warmup,
    "cosine": get_cosine_schedule_with_warmup,
    "cosine_with_restarts": get_cosine_with_hard_restarts_schedule_with_warmup,
    "polynomial": get_polynomial_decay_schedule_with_warmup,
    "constant": get_constant_schedule,
    "constant_with_warmup": get_constant_schedule_with_warmup,
    "inverse_sqrt": get_inverse_sqrt_schedule,
    "reduce_lr_on_plateau": get_reduce_on_plateau_schedule,
    "cosine_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup,
    "cosine_warmup_with_min_lr": get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    "warmup_stable_decay": get_wsd_schedule,
    "greedy": get_greedy_schedule,
}


def get_scheduler(
    name: Any,
    optimizer: Optimizer,
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    scheduler_specific_kwargs: dict[str, Any] | None = None,
) -> Any:
    """Any of transformers' schedulers by name, with transformers' arguments and numbers."""
    key = getattr(name, "value", name)
    if not isinstance(key, str) or key not in TYPE_TO_SCHEDULER_FUNCTION:
        raise ScheduleValueError(
            f"{key!r} is not a valid SchedulerType, please select one of "
            f"{list(TYPE_TO_SCHEDULER_FUNCTION)}.{closest(str(key), TYPE_TO_SCHEDULER_FUNCTION)}"
        )
    function = TYPE_TO_SCHEDULER_FUNCTION[key]
    if key == "constant":
        return function(optimizer)
    kwargs = dict(scheduler_specific_kwargs or {})
    if key in ("reduce_lr_on_plateau", "greedy"):
        return function(optimizer, **kwargs)
    if num_warmup_steps is None:
        raise ScheduleValueError(f"{key} requires `num_warmup_steps`, please provide that argument.")
    if key == "constant_with_warmup":
        return function(optimizer, num_warmup_steps=num_warmup_steps)
    if key == "inverse_sqrt":
        return function(optimizer, num_warmup_steps=num_warmup_steps, **kwargs)
    if key == "warmup_stable_decay":
        return function(optimizer, num_warmup_steps=num_warmup_steps,
                        num_training_steps=num_training_steps, **kwargs)
    if num_training_steps is None:
        raise ScheduleValueError(f"{key} requires `num_training_steps`, please provide that argument.")
    return function(optimizer, num_warmup_steps=num_warmup_steps,
                    num_training_steps=num_training_steps, **kwargs)
