"""Drop-in replacements for transformers' schedule functions and for GradualWarmupScheduler.

The ``get_*`` functions and ``get_scheduler`` take transformers' names, signatures and defaults
and give transformers' numbers, but return rampup's own picklable, resumable, tensor-rate-safe
:class:`~rampup.torch.Scheduler` instead of a ``LambdaLR`` over closures. Differences, on purpose:
past ``num_training_steps`` every schedule holds its final value (transformers' cosine climbs back
up), and ``num_warmup_steps > num_training_steps`` is an error.
"""

from __future__ import annotations

import itertools
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
    closest,
    warn_once,
)
from rampup.names import schedule as named_schedule
from rampup.torch.groups import read_rates, write_rate, write_rates
from rampup.torch.scheduler import Scheduler, check_optimizer, initial_lrs
from rampup.torch.states import (
    check_keys,
    load_nested,
    saved_count,
    saved_flag,
    saved_mapping,
    saved_rates,
    saved_real,
)
from rampup.torch.wrap import takes_metrics

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "GradualWarmupScheduler",
    "GreedyLR",
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

# Keys for warn_once, unique per scheduler for the whole process.
_instance_numbers = itertools.count()


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


class GreedyLR(LRScheduler):
    """Metric-driven rate that grows on improvement and shrinks on plateaus (transformers' GreedyLR).

    After more than ``patience`` consecutive improvements (by ``threshold``, absolute or relative)
    every group's rate is divided by ``factor`` (capped at ``max_lr``); after more than
    ``patience`` consecutive non-improvements it is multiplied by ``factor`` (floored at
    ``min_lr``). ``cooldown`` / ``warmup`` steps are skipped after a decrease / an increase.
    Changes smaller than ``eps`` are not applied. When every group has sat at ``min_lr`` for
    ``reset_start`` decreases, the state resets to the initial rates. ``smooth`` averages the
    metric over the last ``window_size`` values. Call ``step(metric)``.

    ``load_state_dict`` checks every field (types, ranges, one rate per group) before it assigns
    any; a refused state changes nothing.
    """

    base_lrs: list[float]  # type: ignore[assignment]
    _last_lr: list[float]  # type: ignore[assignment]
    _loads_atomically = True


    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.95,
        patience: int = 10,
        threshold: float = 1e-6,
        threshold_mode: str = "abs",
        cooldown: int = 0,
        warmup: int = 0,
        min_lr: float | list[float] = 1e-3,
        max_lr: float | list[float] = 1.0,
        eps: float = 1e-8,
        verbose: bool = False,
        smooth: bool = False,
        window_size: int = 50,
        reset_start: int = 500,
    ) -> None:
        self.factor = check_real("factor", factor, low=0.0, low_open=True)
        if self.factor >= 1.0:
            raise ScheduleValueError(f"Factor should be < 1.0 (factor must be in (0, 1), got {factor!r}).")
        self.optimizer = check_optimizer(optimizer)
        groups = self.optimizer.param_groups
        if mode not in ("min", "max"):
            raise ScheduleValueError(f"mode {mode!r} is unknown! (mode must be 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ScheduleValueError(
                f"threshold mode {threshold_mode!r} is unknown! (threshold_mode must be 'rel' or 'abs')"
            )
        self.patience = check_int("patience", patience)
        self.threshold = check_real("threshold", threshold)
        self.threshold_mode, self.mode = threshold_mode, mode
        self.cooldown, self.warmup = check_int("cooldown", cooldown), check_int("warmup", warmup)
        self.eps = check_real("eps", eps, low=0.0)
        self.verbose, self.smooth = bool(verbose), bool(smooth)
        self.window_size = check_int("window_size", window_size, minimum=1)
        self.reset_start = self.reset_start_original = check_int("reset_start", reset_start)
        self.min_lrs = self._per_group("min_lr", min_lr, len(groups))
        self.max_lrs = self._per_group("max_lr", max_lr, len(groups))
        self._init_lrs = read_rates(self.optimizer)
        self.base_lrs = list(self._init_lrs)
        self._last_lr = list(self._init_lrs)
        self.last_epoch = 0
        self._window: list[float] = []
        self._reset_counters()

    @staticmethod
    def _per_group(name: str, value: float | list[float], count: int) -> list[float]:
        if isinstance(value, (list, tuple)):
            if len(value) != count:
                raise ScheduleValueError(
                    f"expected {count} {name}s (one per parameter group), got {len(value)}"
                )
            return [check_real(f"{name}[{i}]", v, low=0.0) for i, v in enumerate(value)]
        return [check_real(name, value, low=0.0)] * count

    def _reset_counters(self) -> None:
        self.best = float("inf") if self.mode == "min" else float("-inf")
        self.num_bad_epochs = self.num_good_epochs = 0
        self.cooldown_counter = self.warmup_counter = 0

    def _is_better(self, current: float) -> bool:
        if self.mode == "min":
            bound = self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else (
                self.best - self.threshold)
            return current < bound
        bound = self.best * (1.0 + self.threshold) if self.threshold_mode == "rel" else (
            self.best + self.threshold)
        return current > bound

    def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
        try:
            current = float(metrics)
        except (TypeError, ValueError) as exc:
            raise ScheduleTypeError(
                f"metrics must be a number (the monitored value), got {metrics!r}"
            ) from exc
        if epoch is not None:
            epoch = check_int("epoch", epoch)
        if self.smooth:
            self._window.append(current)
            if len(self._window) > self.window_size:
                self._window.pop(0)
            current = sum(self._window) / len(self._window)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        else:
            if self._is_better(current):
                self.best = current
                self.num_bad_epochs, self.num_good_epochs = 0, self.num_good_epochs + 1
            else:
                self.num_bad_epochs, self.num_good_epochs = self.num_bad_epochs + 1, 0
            if self.num_good_epochs > self.patience:
                self._change(increase=True)
                self.warmup_counter, self.num_good_epochs = self.warmup, 0
            elif self.num_bad_epochs > self.patience:
                self._change(increase=False)
                self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = read_rates(self.optimizer)

    def _change(self, *, increase: bool) -> None:
        all_at_min = True
        for index, group in enumerate(self.optimizer.param_groups):
            old = float(group["lr"])
            if increase:
                new = min(old / self.factor, self.max_lrs[index])
                if new - old > self.eps:
                    write_rate(group, new)
            else:
                new = max(old * self.factor, self.min_lrs[index])
                if old - new > self.eps:
                    write_rate(group, new)
                if float(group["lr"]) > self.min_lrs[index]:
                    all_at_min = False
            if self.verbose:
                print(f"Epoch {self.last_epoch}: learning rate of group {index} is {new:.4e}.")
        if increase:
            self.reset_start = self.reset_start_original
        elif all_at_min:
            self.reset_start -= 1
            if self.reset_start <= 0:
                for group, lr in zip(self.optimizer.param_groups, self._init_lrs, strict=True):
                    write_rate(group, lr)
                self._reset_counters()
                self.reset_start = self.reset_start_original
                self._window = []

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {key: (list(value) if isinstance(value, list) else value)
                for key, value in self.__dict__.items() if key in _GREEDY_FIELDS}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Restore every field; all are checked (types, ranges, group counts) before any is set."""
        state = saved_mapping(state_dict, "state_dict")
        check_keys(state, (), _GREEDY_FIELDS, what="a GreedyLR state_dict")
        groups = len(self.optimizer.param_groups)
        values = {key: _GREEDY_FIELDS[key](key, value, groups) for key, value in state.items()}
        window_size = values.get("window_size", self.window_size)
        window = values.get("_window", self._window)
        if len(window) > window_size:
            raise ScheduleValueError(
                f"state_dict['_window'] holds {len(window)} values, more than window_size={window_size}"
            )
        for key, value in values.items():
            setattr(self, key, value)
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            write_rate(group, lr)


def _factor(key: str, value: object, groups: int) -> float:
    factor = saved_real(key, value)
    if not 0.0 < factor < 1.0:
        raise ScheduleValueError(f"state_dict[{key!r}] must be in (0, 1), got {factor!r}")
    return factor


def _window(key: str, value: object, groups: int) -> list[float]:
    if not isinstance(value, (list, tuple)):
        raise ScheduleTypeError(f"state_dict[{key!r}] must be a list of metrics, got {type(value).__name__}")
    return [saved_real(f"state_dict[{key!r}][{i}]", v, finite=False) for i, v in enumerate(value)]


def _best(key: str, value: object, groups: int) -> float:
    return saved_real(key, value, finite=False)  # +-inf before the first metric, never NaN


def _non_negative(key: str, value: object) -> float:
    number = saved_real(key, value)
    if number < 0.0:
        raise ScheduleValueError(f"state_dict[{key!r}] must be >= 0, got {number!r}")
    return number


def _count(minimum: int = 0) -> Any:
    return lambda key, value, groups: saved_count(key, value, minimum)


def _choice(*choices: str) -> Any:
    def check(key: str, value: object, groups: int) -> str:
        return check_choice(f"state_dict[{key!r}]", value, choices)
    return check


_GREEDY_FIELDS: dict[str, Any] = {
    "factor": _factor,
    "patience": _count(),
    "threshold": lambda key, value, groups: saved_real(key, value),
    "threshold_mode": _choice("rel", "abs"),
    "mode": _choice("min", "max"),
    "cooldown": _count(),
    "warmup": _count(),
    "eps": lambda key, value, groups: _non_negative(key, value),
    "verbose": lambda key, value, groups: saved_flag(key, value),
    "smooth": lambda key, value, groups: saved_flag(key, value),
    "window_size": _count(1),
    "reset_start": _count(),
    "reset_start_original": _count(),
    "min_lrs": saved_rates,
    "max_lrs": saved_rates,
    "_init_lrs": saved_rates,
    "base_lrs": saved_rates,
    "_last_lr": saved_rates,
    "last_epoch": _count(),
    "_window": _window,
    "best": _best,
    "num_bad_epochs": _count(),
    "num_good_epochs": _count(),
    "cooldown_counter": _count(),
    "warmup_counter": _count(),
}


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


class GradualWarmupScheduler(LRScheduler):
    """Goyal et al.'s gradual warmup with the signature of the ``warmup_scheduler`` package.

    For ``t <= total_epoch``: ``lr = base * ((multiplier - 1) * t / total_epoch + 1)``, i.e. from
    the base rate eta up to ``multiplier * eta``; with ``multiplier == 1``,
    ``lr = base * t / total_epoch`` (from 0, as that package does). Afterwards
    ``after_scheduler`` takes over with ``multiplier * base`` as its base rates: its own step ``j``
    is used at step ``total_epoch + 1 + j``. With ReduceLROnPlateau, pass ``metrics`` to
    ``step``; a metric given when nothing takes one is an error. Unlike that package: no
    deprecated-``epoch`` warnings, the state holds no optimizer (``torch.load(weights_only=True)``
    reads it), ``get_last_lr()`` stays current after the hand-over, and a cosine after the
    hand-over starts from, and never exceeds, the peak.

    ``step(epoch)`` (the package's README calls it so) is accepted when ``epoch`` is the count the
    scheduler reaches anyway (one more than the last), with a one-time warning that the argument
    is unnecessary; any other epoch is refused, since this scheduler counts steps itself (load a
    ``state_dict`` to resume at another step). ``load_state_dict`` is all or nothing.
    """

    base_lrs: list[float]  # type: ignore[assignment]
    _last_lr: list[float]  # type: ignore[assignment]
    _loads_atomically = True


    def __init__(
        self,
        optimizer: Optimizer,
        multiplier: float,
        total_epoch: int,
        after_scheduler: LRScheduler | ReduceLROnPlateau | None = None,
    ) -> None:
        self.optimizer = check_optimizer(optimizer)
        self.multiplier = check_real("multiplier", multiplier, low=1.0)
        self.total_epoch = check_int("total_epoch", total_epoch, minimum=1)
        if after_scheduler is not None:
            if not isinstance(after_scheduler, (LRScheduler, ReduceLROnPlateau)):
                raise ScheduleTypeError(
                    f"after_scheduler must be a torch LR scheduler, got {type(after_scheduler).__name__}"
                )
            if after_scheduler.optimizer is not optimizer:
                raise ScheduleValueError("after_scheduler must drive the same optimizer")
        self.after_scheduler = after_scheduler
        self._after_takes_metrics = after_scheduler is not None and takes_metrics(after_scheduler)
        self._warn_key = next(_instance_numbers)
        self.base_lrs = initial_lrs(self.optimizer)
        self.finished = False
        self.last_epoch = 0
        self._step_count = 1
        self._set(self._warmup_lrs(0))

    def _warmup_lrs(self, t: int) -> list[float]:
        k, total = self.multiplier, self.total_epoch
        if k == 1.0:
            return [base * (float(t) / total) for base in self.base_lrs]
        return [base * ((k - 1.0) * t / total + 1.0) for base in self.base_lrs]

    def _set(self, lrs: list[float]) -> None:
        write_rates(self.optimizer, lrs)
        self._last_lr = [float(lr) for lr in lrs]

    def step(self, epoch: int | None = None, metrics: Any = None) -> None:  # type: ignore[override]
        """Advance one step; pass ``metrics`` when ``after_scheduler`` is ReduceLROnPlateau."""
        if epoch is not None:
            self._check_epoch(epoch)
        after = self.after_scheduler
        if metrics is not None and not self._after_takes_metrics:
            what = "no after_scheduler" if after is None else f"the after_scheduler {type(after).__name__}"
            raise ScheduleValueError(
                f"step() got metrics={metrics!r}, but {what} takes no metric: call step() (metrics "
                "are for a metric-driven after_scheduler such as ReduceLROnPlateau)"
            )
        if self.finished and self._after_takes_metrics and metrics is None:
            raise ScheduleValueError(
                f"the after_scheduler is {type(after).__name__}: call step(metrics=val_loss)"
            )
        self.last_epoch += 1
        self._step_count += 1
        t = self.last_epoch
        after = self.after_scheduler
        if t <= self.total_epoch:
            self._set(self._warmup_lrs(t))
            return
        peaks = [base * self.multiplier for base in self.base_lrs]
        if after is None:
            self._set(peaks)
            return
        if not self.finished:
            self.finished = True
            self._hand_over(after, peaks)
            return
        if self._after_takes_metrics:
            after.step(metrics)
        else:
            after.step()
        self._last_lr = read_rates(self.optimizer)

    def _check_epoch(self, epoch: object) -> None:
        """Accept ``step(epoch)`` only for the count the scheduler reaches anyway."""
        expected = self.last_epoch + 1
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch != expected:
            raise ScheduleValueError(
                f"GradualWarmupScheduler counts steps itself and cannot jump: it is at step "
                f"{self.last_epoch}, so step(epoch) accepts only epoch={expected} (the step it reaches "
                f"anyway), got {epoch!r}. Call step() once per epoch, or load a state_dict to resume "
                "at another step."
            )
        warn_once(
            f"epoch-argument:{self._warn_key}",
            "GradualWarmupScheduler.step(epoch): the epoch argument is unnecessary (it was the step "
            "this scheduler reaches anyway); call step()",
            stacklevel=4,
        )

    def _hand_over(self, after: LRScheduler | ReduceLROnPlateau, peaks: list[float]) -> None:
        """Restart ``after`` at its own step 0 with the peak rates as its base rates."""
        if isinstance(after, ReduceLROnPlateau):
            self._set(peaks)
            return
        after.base_lrs = list(peaks)
        for group, peak in zip(self.optimizer.param_groups, peaks, strict=True):
            group["initial_lr"] = peak
        self._set(peaks)
        after.last_epoch = 0
        after._last_lr = list(peaks)  # type: ignore[assignment]

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": _GRADUAL_FORMAT,
            "step": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "multiplier": self.multiplier,
            "total_epoch": self.total_epoch,
            "finished": self.finished,
            "after_scheduler": None if self.after_scheduler is None
            else self.after_scheduler.state_dict(),
            "last_lr": list(self._last_lr),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Restore the step, the rates and the after_scheduler's state (all or nothing)."""
        state = saved_mapping(state_dict, "state_dict")
        if state.get("format") != _GRADUAL_FORMAT:
            raise ScheduleValueError(
                f"not a rampup GradualWarmupScheduler state (format {state.get('format')!r}, expected "
                f"{_GRADUAL_FORMAT!r})"
            )
        check_keys(state, _GRADUAL_KEYS)
        multiplier = saved_real("multiplier", state["multiplier"])
        total_epoch = saved_count("total_epoch", state["total_epoch"], 1)
        for key, value in (("multiplier", multiplier), ("total_epoch", total_epoch)):
            if value != getattr(self, key):
                raise ScheduleValueError(
                    f"the saved state has {key}={value!r}, this scheduler {getattr(self, key)!r}"
                )
        if (state["after_scheduler"] is None) != (self.after_scheduler is None):
            raise ScheduleValueError("the saved state and this scheduler differ in after_scheduler")
        groups = len(self.optimizer.param_groups)
        step = saved_count("step", state["step"])
        base_lrs = saved_rates("base_lrs", state["base_lrs"], groups)
        last_lr = saved_rates("last_lr", state["last_lr"], groups)
        finished = saved_flag("finished", state["finished"])
        if finished != (self.after_scheduler is not None and step > total_epoch):
            raise ScheduleValueError(
                f"state_dict['finished'] is {finished} at step {step}, but the hand-over to the "
                f"after_scheduler happens at step {total_epoch + 1}"
            )
        if self.after_scheduler is not None:
            # Loaded all or nothing; nothing after it can fail.
            load_nested(self.after_scheduler, state["after_scheduler"], "state_dict['after_scheduler']")
        self.last_epoch = step
        self._step_count = step + 1
        self.base_lrs = base_lrs
        self.finished = finished
        self._set(last_lr)


_GRADUAL_FORMAT = "rampup.GradualWarmupScheduler/1"
_GRADUAL_KEYS = ("format", "step", "base_lrs", "multiplier", "total_epoch", "finished", "after_scheduler",
                 "last_lr")
