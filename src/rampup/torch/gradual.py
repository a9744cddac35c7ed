"""Goyal et al.'s gradual warmup with the interface of the ``warmup_scheduler`` package."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int, check_real, warn_once
from rampup.torch.base import RampupLRScheduler, new_warn_key, takes_metrics
from rampup.torch.groups import check_optimizer, initial_lrs, read_rates, set_initial, write_rates
from rampup.torch.states import load_nested, saved_count, saved_flag, saved_rates, saved_real

__all__ = ["GradualWarmupScheduler"]


class GradualWarmupScheduler(RampupLRScheduler):
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

    Examples:
        >>> from rampup.torch import GradualWarmupScheduler
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = GradualWarmupScheduler(opt, multiplier=2, total_epoch=4)
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                                         # 0.1 * (t / 4 + 1), then 0.2
        [0.1, 0.125, 0.15, 0.175, 0.2, 0.2]
    """

    STATE_FORMAT = "rampup.GradualWarmupScheduler/1"

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
        self._warn_key = new_warn_key()
        self.base_lrs = initial_lrs(self.optimizer)
        self.finished = False
        self.last_epoch = 0
        self._step_count = 1
        self._set(self._warmup_lrs(0))

    def _warmup_lrs(self, t: int) -> list[float]:
        # warmup_scheduler's own arithmetic, on purpose, so that its numbers come out bit for bit
        # (rampup.gradual_warmup is the same ramp as a schedule, multiplied in another order).
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
        set_initial(self.optimizer, "lr", peaks)
        self._set(peaks)
        after.last_epoch = 0
        after._last_lr = list(peaks)  # type: ignore[assignment]

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": self.STATE_FORMAT,
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
        state = self._checked_state(state_dict, _GRADUAL_KEYS)
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


_GRADUAL_KEYS = ("format", "step", "base_lrs", "multiplier", "total_epoch", "finished", "after_scheduler",
                 "last_lr")
