"""transformers' GreedyLR: a metric-driven rate that grows on improvement and shrinks on plateaus."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.optim import Optimizer

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_choice, check_int, check_real
from rampup.torch.base import RampupLRScheduler
from rampup.torch.groups import check_optimizer, read_rates, write_rate
from rampup.torch.states import check_keys, saved_count, saved_flag, saved_mapping, saved_rates, saved_real

__all__ = ["GreedyLR"]


class GreedyLR(RampupLRScheduler):
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

    Examples:
        >>> from rampup.torch import GreedyLR
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = GreedyLR(opt, factor=0.5, patience=1, min_lr=0.01)
        >>> lrs = []
        >>> for loss in [5.0, 4.0, 3.0, 3.0, 3.0]:
        ...     opt.step()
        ...     sched.step(loss)
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs      # 2 improvements: 0.1 / 0.5; then 2 without: 0.2 * 0.5
        [0.1, 0.2, 0.2, 0.2, 0.1]
    """

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
