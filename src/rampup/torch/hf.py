"""transformers' schedule functions on rampup's scheduler: the ``get_*`` functions and ``get_scheduler``.

They take transformers' names, signatures and defaults and give transformers' numbers, but return
rampup's own picklable, resumable, tensor-rate-safe :class:`~rampup.torch.Scheduler` instead of a
``LambdaLR`` over closures. Differences, on purpose: past ``num_training_steps`` every schedule
holds its final value (transformers' cosine climbs back up), and ``num_warmup_steps >
num_training_steps`` is an error. (The signatures mirror transformers' on purpose.)
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int
from rampup.hf import METRIC_DRIVEN, TRANSLATIONS, from_transformers
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
    num_warmup_steps: int | None = None,
    num_training_steps: int | None = None,
    **options: Any,
) -> Scheduler:
    """A Scheduler for transformers' ``name``: the schedule from :func:`rampup.hf.from_transformers`
    (which makes transformers' checks), resumed at ``last_epoch`` as transformers' ``LambdaLR``
    resumes."""
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
    translation = TRANSLATIONS.get(name) if isinstance(name, str) else None
    if translation is not None and "peak_lr" in translation.options:
        # transformers reads lr_end and min_lr against the optimizer's default rate.
        options["peak_lr"] = float(optimizer.defaults["lr"])
    schedule = from_transformers(name, num_warmup_steps=num_warmup_steps,
                                 num_training_steps=num_training_steps, **options)
    scheduler = Scheduler(optimizer, schedule)
    if resume_from >= 0:
        scheduler.step(resume_from + 1)
    return scheduler


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> Scheduler:
    """The optimizer's rate, unchanged.

    Examples:
        >>> from rampup.torch import get_constant_schedule
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_constant_schedule(opt)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(2):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs
        [0.1, 0.1, 0.1]
    """
    return _build(optimizer, "constant", last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs: Any) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau, as transformers returns it (metric-driven).

    Examples:
        >>> from rampup.torch import get_reduce_on_plateau_schedule
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_reduce_on_plateau_schedule(opt, factor=0.5, patience=0)
        >>> sched.step(1.0); sched.step(1.0)            # no improvement: 0.1 * 0.5
        >>> round(opt.param_groups[0]["lr"], 6)
        0.05
    """
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
    """Linear warmup from 0 over ``num_warmup_steps``, then the optimizer's rate.

    Examples:
        >>> from rampup.torch import get_constant_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_constant_schedule_with_warmup(opt, num_warmup_steps=2)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                                        # 0.1 * t / 2, then 0.1
        [0.0, 0.05, 0.1, 0.1]
    """
    return _build(optimizer, "constant_with_warmup", last_epoch, num_warmup_steps)


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> Scheduler:
    """Linear warmup from 0, then linear decay to 0 at ``num_training_steps``.

    Examples:
        >>> from rampup.torch import get_linear_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=6)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                                        # 0.1 * t / 2, then 0.1 * (6 - t) / 4
        [0.0, 0.05, 0.1, 0.075, 0.05, 0.025]
    """
    return _build(optimizer, "linear", last_epoch, num_warmup_steps, num_training_steps)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
) -> Scheduler:
    """Linear warmup from 0, then cosine decay (``num_cycles`` waves; 0.5 = down to 0).

    Examples:
        >>> from rampup.torch import get_cosine_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=2, num_training_steps=6)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                 # 0.1 * t / 2, then 0.1 * (1 + cos(pi * (t - 2) / 4)) / 2
        [0.0, 0.05, 0.1, 0.085355, 0.05, 0.014645]
    """
    return _build(optimizer, "cosine", last_epoch, num_warmup_steps, num_training_steps,
                  num_cycles=num_cycles)


def get_cosine_with_hard_restarts_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: int = 1,
    last_epoch: int = -1,
) -> Scheduler:
    """Linear warmup from 0, then ``num_cycles`` cosine decays with hard restarts.

    Examples:
        >>> from rampup.torch import get_cosine_with_hard_restarts_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_cosine_with_hard_restarts_schedule_with_warmup(
        ...     opt, num_warmup_steps=0, num_training_steps=4, num_cycles=2)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(3):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                                  # 0.1 * (1 + cos(pi * ((2 * t / 4) % 1))) / 2
        [0.1, 0.05, 0.1, 0.05]
    """
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
    """Linear warmup from 0, then polynomial decay to ``lr_end`` (read against the default lr).

    Examples:
        >>> from rampup.torch import get_polynomial_decay_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_polynomial_decay_schedule_with_warmup(
        ...     opt, num_warmup_steps=1, num_training_steps=5, lr_end=0.01, power=2)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                     # 0.01 + (0.1 - 0.01) * (1 - (t - 1) / 4) ** 2 from t = 1
        [0.0, 0.1, 0.060625, 0.0325, 0.015625, 0.01]
    """
    return _build(optimizer, "polynomial", last_epoch, num_warmup_steps, num_training_steps,
                  lr_end=lr_end, power=power)


def get_inverse_sqrt_schedule(
    optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None, last_epoch: int = -1
) -> Scheduler:
    """Linear warmup from 0, then ``1 / sqrt((t + timescale) / timescale)``, ``t`` counted from
    the end of the warmup.

    Examples:
        >>> from rampup.torch import get_inverse_sqrt_schedule
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_inverse_sqrt_schedule(opt, num_warmup_steps=2, timescale=4)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(14):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs[2], lrs[6], lrs[14]        # 0.1 / sqrt((t - 2 + 4) / 4): t - 2 = 0, 4, 12
        (0.1, 0.070711, 0.05)
    """
    return _build(optimizer, "inverse_sqrt", last_epoch, num_warmup_steps, timescale=timescale)


def get_cosine_with_min_lr_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    last_epoch: int = -1,
    min_lr: float | None = None,
    min_lr_rate: float | None = None,
) -> Scheduler:
    """Linear warmup from 0, then cosine decay to ``min_lr`` (or ``min_lr_rate`` of the peak).

    Examples:
        >>> from rampup.torch import get_cosine_with_min_lr_schedule_with_warmup
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_cosine_with_min_lr_schedule_with_warmup(
        ...     opt, num_warmup_steps=2, num_training_steps=6, min_lr_rate=0.1)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(6):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs       # 0.1 * (0.1 + 0.9 * (1 + cos(pi * (t - 2) / 4)) / 2) from t = 2
        [0.0, 0.05, 0.1, 0.08682, 0.055, 0.02318, 0.01]
    """
    return _build(optimizer, "cosine_with_min_lr", last_epoch, num_warmup_steps, num_training_steps,
                  num_cycles=num_cycles, min_lr=min_lr, min_lr_rate=min_lr_rate)


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
    """Warmup whose first step is nonzero, then cosine decay to ``min_lr``/``min_lr_rate``.

    Examples:
        >>> from rampup.torch import get_cosine_with_min_lr_schedule_with_warmup_lr_rate
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_cosine_with_min_lr_schedule_with_warmup_lr_rate(
        ...     opt, num_warmup_steps=2, num_training_steps=4, min_lr_rate=0.1)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(4):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs  # 0.1 * (t + 1) / 2, then 0.1 * (0.1 + 0.9 * (1 + cos(pi * (t - 1) / 2)) / 2)
        [0.05, 0.1, 0.055, 0.01, 0.01]
    """
    return _build(optimizer, "cosine_warmup_with_min_lr", last_epoch, num_warmup_steps,
                  num_training_steps, num_cycles=num_cycles, min_lr=min_lr,
                  min_lr_rate=min_lr_rate, warmup_lr_rate=warmup_lr_rate)


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
    """Warmup from ``min_lr_ratio`` of the peak, a stable phase at the peak, then a decay to
    ``min_lr_ratio`` of the peak (``num_stable_steps`` when given, else what
    ``num_training_steps`` leaves).

    Examples:
        >>> from rampup.torch import get_wsd_schedule
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_wsd_schedule(opt, num_warmup_steps=1, num_decay_steps=2, num_training_steps=5,
        ...                          min_lr_ratio=0.1)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> # 0.1 * (0.1 + 0.9 * p): warmup p = t / 1, stable (p = 1) for 5 - 1 - 2 = 2 updates,
        >>> # then p = (1 + cos(pi * (t - 3) / 2)) / 2, held at t = 5
        >>> lrs
        [0.01, 0.1, 0.1, 0.1, 0.055, 0.01]
    """
    return _build(optimizer, "warmup_stable_decay", last_epoch, num_warmup_steps, num_training_steps,
                  num_decay_steps=num_decay_steps, num_stable_steps=num_stable_steps,
                  warmup_type=warmup_type, decay_type=decay_type, min_lr_ratio=min_lr_ratio,
                  num_cycles=num_cycles)


def get_greedy_schedule(optimizer: Optimizer, **kwargs: Any) -> GreedyLR:
    """A :class:`GreedyLR` on ``optimizer``.

    Examples:
        >>> from rampup.torch import get_greedy_schedule
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> type(get_greedy_schedule(opt, factor=0.5)).__name__
        'GreedyLR'
    """
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
    """Any of transformers' schedulers by name, with transformers' arguments and numbers.

    Which arguments a name needs or ignores, and every check on them, are
    :func:`rampup.hf.from_transformers`'s; the metric-driven names build their schedulers here.

    Examples:
        >>> from rampup.torch import get_scheduler
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = get_scheduler("linear", opt, num_warmup_steps=2, num_training_steps=6)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                                         # 0.1 * t / 2, then 0.1 * (6 - t) / 4
        [0.0, 0.05, 0.1, 0.075, 0.05, 0.025]
        >>> type(get_scheduler("reduce_lr_on_plateau", opt)).__name__
        'ReduceLROnPlateau'
    """
    key = getattr(name, "value", name)  # a SchedulerType
    kwargs = dict(scheduler_specific_kwargs or {})
    if key in METRIC_DRIVEN:
        return TYPE_TO_SCHEDULER_FUNCTION[key](optimizer, **kwargs)
    if "peak_lr" in kwargs:
        raise ScheduleTypeError(
            f"{key} got unexpected option 'peak_lr': the peak is the optimizer's lr, as transformers reads it"
        )
    translation = TRANSLATIONS.get(key) if isinstance(key, str) else None
    if translation is not None and not translation.options:
        kwargs = {}  # transformers passes no scheduler_specific_kwargs to constant(_with_warmup)
    return _build(optimizer, key, -1, num_warmup_steps, num_training_steps, **kwargs)
