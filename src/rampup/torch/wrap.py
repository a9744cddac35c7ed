"""Warmup in front of any existing torch scheduler, without changing what it does afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rampup.config import config_differences
from rampup.errors import ScheduleTypeError, ScheduleValueError, check_choice, check_int, warn_once
from rampup.schedules import Warmup
from rampup.torch.base import RampupLRScheduler, takes_metrics
from rampup.torch.groups import initial_lrs, read_rates, write_rates
from rampup.torch.states import load_nested, saved_count, saved_rates

WRAP_FORMAT = "rampup.WarmupWrapper/1"
_WRAP_KEYS = ("format", "step", "warmup", "mode", "base_lrs", "inner_lrs", "scheduler")


class WarmupWrapper(RampupLRScheduler):
    """Warmup over ``warmup.steps`` updates in front of an existing torch scheduler.

    ``mode="delay"`` (default): during warmup the rate is ``peak * warmup(t)`` and the wrapped
    scheduler does not run; from update ``W`` on it runs exactly as it would have from its own
    step 0 ("after the warmup phase, we go back to the original learning rate schedule").
    ``mode="dampen"``: the wrapped scheduler runs from step 0 as usual and, during warmup, its rate
    is multiplied by ``warmup(t)`` (pytorch_warmup's way); afterwards it is untouched.
    ``step(metrics)`` is passed to a metric-driven scheduler such as ReduceLROnPlateau (ignored
    while a delayed scheduler waits); a metric given to a scheduler that takes none is an error.

    In "delay" mode the peak is used for two updates, the last warmup update (``warmup(W - 1)``
    is 1 with the default ``Warmup``) and the wrapped scheduler's own step 0 (its initial rate),
    as torch's ``SequentialLR([LinearLR(start_factor=1/W, total_iters=W - 1), scheduler],
    milestones=[W])`` does: each phase keeps its full length. For a single update at the peak,
    pass ``Warmup(W, endpoints="start")`` (0 at update 0, the peak at update W, which is then the
    wrapped scheduler's step 0).

    ``load_state_dict`` is all or nothing: a refused state (a RampupError naming the field, the
    wrapped scheduler's state included) leaves the wrapper, the wrapped scheduler and the optimizer
    as they were.

    Examples:
        >>> from rampup.torch import warmup_wrapper
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = warmup_wrapper(torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5), 2)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs           # 0.1 * (t + 1) / 2 for t < 2, then StepLR from its step 0
        [0.05, 0.1, 0.1, 0.1, 0.05, 0.05]
    """

    STATE_FORMAT = WRAP_FORMAT

    def __init__(
        self,
        scheduler: LRScheduler | ReduceLROnPlateau,
        warmup: int | Warmup,
        *,
        mode: str = "delay",
    ) -> None:
        if not isinstance(scheduler, (LRScheduler, ReduceLROnPlateau)):
            raise ScheduleTypeError(
                f"scheduler must be a torch LR scheduler, got {type(scheduler).__name__}"
            )
        if isinstance(warmup, Warmup):
            self.warmup = warmup
        else:
            self.warmup = Warmup(steps=check_int("warmup", warmup))
        self.mode = check_choice("mode", mode, ("delay", "dampen"))
        self.scheduler = scheduler
        self.optimizer = scheduler.optimizer
        self._takes_metrics = takes_metrics(scheduler)
        # The wrapped scheduler has already written its step-0 rates; they are its own rates.
        self._inner_lrs = read_rates(self.optimizer)
        self.base_lrs = initial_lrs(self.optimizer)
        self.last_epoch = 0
        self._step_count = 1
        self._apply()

    @property
    def warmup_steps(self) -> int:
        return self.warmup.steps

    def step(self, metrics: Any = None, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance one optimizer update; ``metrics`` goes to a metric-driven wrapped scheduler."""
        if epoch is not None:
            raise ScheduleValueError("WarmupWrapper.step takes no epoch; call step() once per update")
        name = type(self.scheduler).__name__
        if metrics is not None and not self._takes_metrics:
            raise ScheduleValueError(
                f"the wrapped {name} takes no metric, but step() got metrics={metrics!r}: call step() "
                "(only a metric-driven scheduler such as ReduceLROnPlateau takes step(metrics=...))"
            )
        inner_active = self.mode == "dampen" or self.last_epoch + 1 > self.warmup_steps
        if inner_active and self._takes_metrics and metrics is None:
            raise ScheduleValueError(f"the wrapped {name} needs the metric: call step(metrics=loss)")
        self.last_epoch += 1
        self._step_count += 1
        if inner_active:
            # The wrapped scheduler may compute from the current rate: give it its own.
            write_rates(self.optimizer, self._inner_lrs)
            if self._takes_metrics:
                self.scheduler.step(metrics)
            else:
                self.scheduler.step()
            self._inner_lrs = read_rates(self.optimizer)
        self._apply()

    def _apply(self) -> None:
        t = self.last_epoch
        if t >= self.warmup_steps:
            lrs = list(self._inner_lrs)
        else:
            factor = self.warmup(t)
            reference = self._inner_lrs if self.mode == "dampen" else self.base_lrs
            lrs = [float(lr) * factor for lr in reference]
        write_rates(self.optimizer, lrs)
        self._last_lr = lrs

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": WRAP_FORMAT,
            "step": self.last_epoch,
            "warmup": self.warmup.to_dict(),
            "mode": self.mode,
            "base_lrs": list(self.base_lrs),
            "inner_lrs": list(self._inner_lrs),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        """Restore the step, the rates and the wrapped scheduler's state (all or nothing)."""
        state = self._checked_state(state_dict, _WRAP_KEYS)
        differences = config_differences(
            {"warmup": state["warmup"], "mode": state["mode"]},
            {"warmup": self.warmup.to_dict(), "mode": self.mode},
        )
        if differences:
            raise ScheduleValueError(
                "the saved state is for another warmup or mode: " + "; ".join(differences)
            )
        groups = len(self.optimizer.param_groups)
        step = saved_count("step", state["step"])
        base_lrs = saved_rates("base_lrs", state["base_lrs"], groups)
        inner_lrs = saved_rates("inner_lrs", state["inner_lrs"], groups)
        # The wrapped scheduler last: it is loaded all or nothing, and nothing after it can fail.
        load_nested(self.scheduler, state["scheduler"], "state_dict['scheduler']")
        self.last_epoch = step
        self._step_count = step + 1
        self.base_lrs = base_lrs
        self._inner_lrs = inner_lrs
        self._apply()


def warmup_wrapper(
    scheduler: LRScheduler | ReduceLROnPlateau, warmup: int | Warmup, *, mode: str = "delay"
) -> WarmupWrapper:
    """Wrap ``scheduler`` (any torch scheduler) with ``warmup`` (a number of updates, or a rampup
    ``Warmup``) in front of it.

    See :class:`WarmupWrapper` for the two modes (its example shows "delay", this one "dampen").
    (To put a warmup in front of a rampup *schedule*, use :func:`rampup.with_warmup`, which returns
    a schedule.)

    Examples:
        >>> from rampup.torch import warmup_wrapper
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> step_lr = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> sched = warmup_wrapper(step_lr, 2, mode="dampen")
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs           # StepLR's 0.1 * 0.5 ** (t // 2), times (t + 1) / 2 for t < 2
        [0.05, 0.1, 0.05, 0.05, 0.025, 0.025]
    """
    return WarmupWrapper(scheduler, warmup, mode=mode)


def with_warmup(
    scheduler: LRScheduler | ReduceLROnPlateau, warmup: int | Warmup, *, mode: str = "delay"
) -> WarmupWrapper:
    """Deprecated name of :func:`warmup_wrapper` (``rampup.with_warmup`` returns a schedule; this
    one wrapped a torch scheduler). Warns once."""
    warn_once(
        "deprecated:rampup.torch.with_warmup",
        "rampup.torch.with_warmup is deprecated: use rampup.torch.warmup_wrapper (it wraps a torch "
        "scheduler; rampup.with_warmup puts a warmup in front of a schedule)",
    )
    return warmup_wrapper(scheduler, warmup, mode=mode)
