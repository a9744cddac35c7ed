"""Warmup in front of any existing torch scheduler, without changing what it does afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_choice, check_int
from rampup.schedules import Warmup
from rampup.torch.groups import read_rates, write_rates
from rampup.torch.scheduler import initial_lrs

WRAP_FORMAT = "rampup.WarmupWrapper/1"


class WarmupWrapper(LRScheduler):
    """Warmup over ``warmup.steps`` updates in front of an existing torch scheduler.

    ``mode="delay"`` (default): during warmup the rate is ``peak * warmup(t)`` and the wrapped
    scheduler does not run; from update ``W`` on it runs exactly as it would have from its own
    step 0 ("after the warmup phase, we go back to the original learning rate schedule").
    ``mode="dampen"``: the wrapped scheduler runs from step 0 as usual and, during warmup, its rate
    is multiplied by ``warmup(t)`` (pytorch_warmup's way); afterwards it is untouched.
    ``step(metrics)`` is passed to a metric-driven scheduler such as ReduceLROnPlateau (ignored
    while a delayed scheduler waits).
    """

    base_lrs: list[float]  # type: ignore[assignment]
    _last_lr: list[float]  # type: ignore[assignment]


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
        self.last_epoch += 1
        self._step_count += 1
        inner_active = self.mode == "dampen" or self.last_epoch > self.warmup_steps
        if inner_active:
            # The wrapped scheduler may compute from the current rate: give it its own.
            write_rates(self.optimizer, self._inner_lrs)
            if isinstance(self.scheduler, ReduceLROnPlateau):
                if metrics is None:
                    raise ScheduleValueError(
                        "the wrapped ReduceLROnPlateau needs the metric: call step(metrics=loss)"
                    )
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

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

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
        if state_dict.get("format") != WRAP_FORMAT:
            raise ScheduleValueError("not a rampup WarmupWrapper state")
        if state_dict["warmup"] != self.warmup.to_dict() or state_dict["mode"] != self.mode:
            raise ScheduleValueError(
                f"the saved state is for warmup {state_dict['warmup']} in mode "
                f"{state_dict['mode']!r}; this wrapper has {self.warmup.to_dict()} in mode "
                f"{self.mode!r}"
            )
        self.scheduler.load_state_dict(dict(state_dict["scheduler"]))
        self.last_epoch = int(state_dict["step"])
        self._step_count = self.last_epoch + 1
        self.base_lrs = [float(v) for v in state_dict["base_lrs"]]
        self._inner_lrs = [float(v) for v in state_dict["inner_lrs"]]
        self._apply()


def with_warmup(
    scheduler: LRScheduler | ReduceLROnPlateau, warmup: int | Warmup, *, mode: str = "delay"
) -> WarmupWrapper:
    """Put ``warmup`` (a number of updates, or a rampup ``Warmup``) in front of ``scheduler``.

    See :class:`WarmupWrapper` for the two modes.
    """
    return WarmupWrapper(scheduler, warmup, mode=mode)
