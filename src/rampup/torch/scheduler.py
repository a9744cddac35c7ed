"""rampup's PyTorch scheduler: writes ``base_lr * schedule(step)`` into each parameter group.

It is a ``torch.optim.lr_scheduler.LRScheduler`` (so Lightning, transformers' Trainer and
accelerate accept it) but does not run that class's constructor: torch's constructor wraps
``optimizer.step`` in a Python closure, which ``torch.compile`` cannot trace through. Nothing here
reads the optimizer's current rate to compute the next one, so resuming and composing cannot
drift.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from rampup.clock import Clock, as_clock, check_signals
from rampup.config import from_dict
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    warn_once,
)
from rampup.plan import Plan, planned_end
from rampup.schedules import Schedule
from rampup.schedules.base import SCALAR
from rampup.torch import hyperparams as _hyper
from rampup.torch.groups import as_float, one_per_group, write_rate
from rampup.torch.replan import ReplanMixin

STATE_FORMAT = "rampup.Scheduler/1"
CONFIG_POLICIES = ("error", "keep_step", "keep_fraction")
# Keys for warn_once: unique per scheduler for the whole process (an id() is reused once an object
# is freed, which silenced the warnings of every later scheduler that got the same id).
_instance_numbers = itertools.count()


def check_optimizer(optimizer: object) -> Optimizer:
    """The optimizer, if it is a torch optimizer with at least one parameter group."""
    if not isinstance(optimizer, Optimizer):
        raise ScheduleTypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    if not optimizer.param_groups:
        raise ScheduleValueError("optimizer has no parameter groups: nothing to schedule")
    return optimizer


def initial_lrs(optimizer: Optimizer) -> list[float]:
    """Each group's peak rate: its ``initial_lr`` if a scheduler set one before, else its ``lr``.

    ``initial_lr`` is written back (as torch's schedulers do) so other tools can read it.
    """
    peaks = []
    for group in optimizer.param_groups:
        peak = as_float(group.get("initial_lr", group["lr"]))
        group.setdefault("initial_lr", peak)
        peaks.append(peak)
    return peaks


def config_differences(saved: Any, current: Any, path: str = "") -> list[str]:
    """Human-readable differences between two schedule configs (nested dicts and lists)."""
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        out = []
        for key in sorted(set(saved) | set(current), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in saved or key not in current:
                out.append(f"{where}: only in {'this scheduler' if key in current else 'the saved state'}")
            else:
                out.extend(config_differences(saved[key], current[key], where))
        return out
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)):
        if len(saved) != len(current):
            return [f"{path}: {len(saved)} entries saved, {len(current)} now"]
        out = []
        for i, (a, b) in enumerate(zip(saved, current, strict=True)):
            out.extend(config_differences(a, b, f"{path}[{i}]"))
        return out
    return [] if saved == current else [f"{path}: saved {saved!r}, now {current!r}"]


def _update_counter(scheduler: Scheduler) -> Any:
    """A step hook that counts optimizer updates for ``scheduler`` without keeping it alive.

    ``step()`` compares the count with the last one it saw to tell a skipped update (GradScaler
    found inf/NaN and did not call ``optimizer.step()``) from a real one. A post-step hook adds no
    graph break or recompilation to a compiled training step, unlike torch's own schedulers,
    which replace ``optimizer.step`` with a wrapper.
    """
    reference = weakref.ref(scheduler)

    def count(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        owner = reference()
        if owner is not None:
            owner._updates += 1

    return count


class Scheduler(ReplanMixin, LRScheduler):
    """Drive any torch optimizer from a rampup schedule.

    ``lr_g(step) = base_lr_g * schedule_g(step)`` for each parameter group ``g``, where
    ``base_lr_g`` is the group's rate when the scheduler is attached (its peak) and ``step`` counts
    completed optimizer updates. Call ``optimizer.step()`` then ``scheduler.step()`` once per
    update. Before the first ``step()`` the rate in force is the schedule's value at step 0.

    Args:
        optimizer: any torch optimizer.
        schedule: one rampup schedule for every group, or a list with one per group (e.g. no
            warmup for a pretrained backbone, warmup for a new head).
        tensor_lr: convert float rates to 0-d tensors when attaching, for ``torch.compile``; a rate
            that is already a tensor is always updated in place with ``fill_``.
        on_skipped_step: what ``step()`` does when ``optimizer.step()`` did not run since the last
            call (a ``GradScaler`` skip on inf/NaN): ``"advance"`` (default: the planned length
            holds) or ``"hold"``. Skips are counted in ``skipped_steps``. (Fused optimizers that
            GradScaler steps anyway and that skip inside the kernel cannot be told apart.)
        total_steps: the planned number of updates, for the overshoot and completion checks
            (default: where the schedule stops changing).
        hyperparams: opt-in schedules for other hyper-parameters, e.g. ``{"momentum": s}``:
            ``"momentum"``, ``"beta1"`` (writes ``betas[0]`` only), ``"beta2"`` (``betas[1]``)
            and ``"weight_decay"``, each set to ``base * s(step)`` with ``base`` the group's value
            when attached (see :mod:`rampup.torch.hyperparams`; a schedule or one per group).
        clock: what the schedule counts (see :mod:`rampup.clock`): ``"updates"`` (default),
            ``"tokens"`` / ``"samples"`` (``step(tokens=n)`` with each update's count) or
            ``"time"`` (measured milliseconds), or a :class:`~rampup.clock.Clock` instance.
            Schedule lengths (and ``total_steps``) are then in that unit.

    The plan can change while training runs: :meth:`cooldown`, :meth:`extend` and :meth:`replan`
    splice a new phase in at the current position, continuing from the rate in force; the change
    is recorded in ``state_dict`` (see :mod:`rampup.plan`).
    """

    base_lrs: list[float]  # type: ignore[assignment]
    _multipliers: float | list[float]


    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | Sequence[Schedule],
        *,
        tensor_lr: bool = False,
        on_skipped_step: str = "advance",
        total_steps: int | None = None,
        hyperparams: Mapping[str, Schedule | Sequence[Schedule]] | None = None,
        clock: Clock | str | None = None,
    ) -> None:
        self.optimizer = check_optimizer(optimizer)
        groups = self.optimizer.param_groups
        schedules = one_per_group(
            schedule, len(groups), what="schedule",
            count_error="schedule list has {given} entries but the optimizer has {groups} parameter "
            "groups: give one schedule per group",
        )
        self._schedules = schedules
        self._clock = as_clock(clock)
        self.on_skipped_step = check_choice("on_skipped_step", on_skipped_step, ("advance", "hold"))
        # Private on purpose: accelerate's AcceleratedScheduler treats any scheduler with a
        # ``total_steps`` attribute as OneCycleLR (compares it with ``_step_count``, which fails on
        # None and stops stepping early under gradient accumulation).
        self._total_steps = None if total_steps is None else check_int("total_steps", total_steps, minimum=1)
        # Other hyper-parameters (opt-in): validated and their bases captured before anything is
        # written; an empty list costs the per-step path one truth test.
        self._hyperparams = [] if hyperparams is None else _hyper.attach_hyperparams(
            self.optimizer, hyperparams)
        if tensor_lr:
            for group in groups:
                if not isinstance(group["lr"], torch.Tensor):
                    group["lr"] = torch.tensor(float(group["lr"]), dtype=torch.float32)
        self.base_lrs = initial_lrs(self.optimizer)
        self.last_epoch = 0
        self._step_count = 1
        self.skipped_steps = 0
        self._updates = self._updates_seen = 0
        self._warned_too_often = False
        self._count_update = _update_counter(self)
        self._hook = self.optimizer.register_step_post_hook(self._count_update)
        self._warn_key = next(_instance_numbers)
        self._plan = Plan(schedules, self._total_steps)
        self._clock.attach(self)  # a clock that re-plans (adaptive warmup) reads the plan here
        self._refresh()
        self._clock.start()
        self._tensor_groups = any(isinstance(group["lr"], torch.Tensor) for group in groups)
        self._apply(0)

    def _refresh(self) -> None:
        """Precompute what the per-step path reads from the plan (after any change to it)."""
        plan = self._plan
        current = plan.schedules
        self._current = current
        self._shared = all(s is current[0] for s in current)
        self._evaluate = current[0]._eval
        self._end = plan.end
        self._last_changing_step = sys.maxsize if plan.end_time is None else plan.end_time
        # The default path (update clock, no change) never touches the clock or the warp.
        self._clocked = not self._clock.counts_updates or plan.changed

    # -- the per-step path ----------------------------------------------------------------------
    def step(self, epoch: int | None = None, **signals: Any) -> None:  # type: ignore[override]
        """Advance one optimizer update (or, with ``epoch``, jump to that step).

        ``signals`` describe the update for clocks that use them (see :data:`rampup.clock.SIGNALS`),
        e.g. ``step(tokens=n)`` on a token clock; the default clock needs none and ignores them.
        """
        if signals or self._clocked:
            self._step_clocked(epoch, signals)
            return
        if epoch is None:
            if self._updates == self._updates_seen:  # optimizer.step() did not run since last call
                self.skipped_steps += 1
                self._warn_if_stepping_too_often()
                if self.on_skipped_step == "hold":
                    return
            self._updates_seen = self._updates
            self.last_epoch += 1
            self._step_count += 1
        else:
            self.last_epoch = check_int("epoch", epoch)
        self._apply(self.last_epoch)

    def _step_clocked(self, epoch: int | None, signals: dict[str, Any]) -> None:
        """``step()`` with a clock other than the update count, a warp or a changed plan."""
        check_signals(signals)
        clock = self._clock
        if epoch is not None:
            if not clock.counts_updates:
                raise ScheduleValueError(
                    f"epoch: this scheduler counts {clock.unit}, not updates; it cannot jump to an "
                    "update number"
                )
            self.last_epoch = check_int("epoch", epoch)
        else:
            skipped = self._updates == self._updates_seen
            if skipped and self.on_skipped_step == "hold":
                self.skipped_steps += 1
                self._warn_if_stepping_too_often(5)
                return
            if not clock.counts_updates:
                clock.advance(signals)  # validates the signals before anything changes
            if skipped:
                self.skipped_steps += 1
                self._warn_if_stepping_too_often(5)
            self._updates_seen = self._updates
            self.last_epoch += 1
            self._step_count += 1
        self._apply(self._plan.warp.time(self.position), 6)

    def _apply(self, step: int, stacklevel: int = 5) -> None:
        # The hot path: one schedule evaluation (no validation: the step is our own count) and one
        # assignment per group. Which groups hold tensor rates is known from attach time.
        # ``step`` is schedule time: the update count unless a clock or a warp says otherwise.
        groups = self.optimizer.param_groups
        if self._shared:
            multiplier = self._evaluate(step, SCALAR)
            self._multipliers = multiplier
            if self._tensor_groups:
                for group, base in zip(groups, self.base_lrs, strict=True):
                    write_rate(group, base * multiplier)
            else:
                for group, base in zip(groups, self.base_lrs, strict=True):
                    group["lr"] = base * multiplier
        else:
            multipliers = [schedule._eval(step, SCALAR) for schedule in self._current]
            self._multipliers = multipliers
            for group, base, multiplier in zip(groups, self.base_lrs, multipliers, strict=True):
                write_rate(group, base * multiplier)
        if step > self._last_changing_step:
            self._warn_past_end(stacklevel)
        if self._hyperparams:
            _hyper.write_hyperparams(self.optimizer, self._hyperparams, step)

    def _warn_past_end(self, stacklevel: int) -> None:
        warn_once(
            f"past-end:{self._warn_key}",
            f"scheduler.step() went past the end of the schedule ({self._end} {self._units}, "
            f"now at {self.position}); the last rate is held. If training is meant to be this long, "
            "build the schedule with a larger total_steps.",
            stacklevel=stacklevel,
        )

    @property
    def _last_lr(self) -> list[float]:  # type: ignore[override]
        """The rates written by the last step, computed as they were written."""
        multipliers = self._multipliers
        if isinstance(multipliers, list):
            return [base * m for base, m in zip(self.base_lrs, multipliers, strict=True)]
        return [base * multipliers for base in self.base_lrs]

    @staticmethod
    def _planned_end_of(schedules: Sequence[Schedule], total_steps: int | None) -> int | None:
        """The step where a schedule that ends (decays to its last value) ends, else None.

        Schedules that settle on the peak (constant_with_warmup) never "end".
        """
        return planned_end(schedules, total_steps)

    def _warn_if_stepping_too_often(self, stacklevel: int = 4) -> None:
        if self._warned_too_often:
            return
        if self._step_count >= 8 and self.skipped_steps * 4 > self._step_count:
            self._warned_too_often = True
            warn_once(
                f"too-often:{self._warn_key}",
                f"scheduler.step() ran {self.skipped_steps} of {self._step_count} times without an "
                "optimizer update in between. Step the scheduler once per optimizer update: after "
                "gradient accumulation completes, and once per update (not once per process or "
                "micro-batch; with accelerate, prepare the scheduler with "
                "step_scheduler_with_optimizer=False or step it yourself).",
                stacklevel=stacklevel,
            )

    # -- torch's LRScheduler API ----------------------------------------------------------------
    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The rates for the current step (what ``step()`` last wrote)."""
        return list(self._last_lr)

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The rates in force, one float per parameter group."""
        return list(self._last_lr)

    @property
    def schedules(self) -> list[Schedule]:
        """The schedule in force for each parameter group (with any changes spliced in)."""
        return list(self._current)

    def lr_at(self, step: int) -> list[float]:
        """The rates each group gets at clock position ``step``, without changing anything."""
        time = self._plan.warp.time(check_int("step", step))
        return [base * s(time) for base, s in zip(self.base_lrs, self._current, strict=True)]

    def report(self, warn: bool = True) -> dict[str, Any]:
        """How much of the schedule ran; warns if it finished far short (< 90%) of its length."""
        horizon = self._end
        done = None if not horizon else self.position / horizon
        if warn and done is not None and done < 0.9:
            warn_once(
                f"short:{self._warn_key}",
                f"the schedule ran {self.position} of its {horizon} {self._units} ({done:.0%}). If "
                "training is over, the schedule was sized in the wrong unit (micro-batches or "
                "epochs instead of optimizer updates) or for too long a run.",
            )
        return {"step": self.position, "total_steps": horizon, "fraction_done": done,
                "skipped_steps": self.skipped_steps} | self._clock.report()

    def state_dict(self) -> dict[str, Any]:
        """Plain data only: the step, the peak rates, the schedules' configs as built, the clock
        (configuration and state), the warp and the log of changes to the plan."""
        if self._clock.counts_updates:
            self._clock.position = self.last_epoch
        return {
            "format": STATE_FORMAT,
            "step": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "schedules": [s.to_dict() for s in self._schedules],
            "skipped_steps": self.skipped_steps,
            "step_count": self._step_count,
            "clock": {"config": self._clock.to_dict(), "state": self._clock.state_dict()},
            **self._plan.state(),
        } | ({"hyperparams": _hyper.state_of(self._hyperparams)} if self._hyperparams else {})

    def load_state_dict(  # type: ignore[override]
        self,
        state_dict: Mapping[str, Any],
        *,
        on_config_change: str = "error",
        keep_base_lrs: bool = False,
    ) -> None:
        """Restore the step and peak rates, and write the rate into the optimizer at once.

        The saved schedules must equal this scheduler's, or ``on_config_change`` says what to do:
        ``"error"`` (default) names the fields that differ; ``"keep_step"`` keeps the saved step on
        the new schedule (e.g. training extended); ``"keep_fraction"`` moves to the same fraction
        of the new schedule's length. ``keep_base_lrs=True`` keeps this scheduler's peak rates (and
        hyperparameter bases) instead of the saved ones (a new peak for fine-tuning). Scheduled
        hyperparameters follow the same rules. ``state_dict`` is not modified.
        """
        policy = check_choice("on_config_change", on_config_change, CONFIG_POLICIES)
        if state_dict.get("format") != STATE_FORMAT:
            raise ScheduleValueError(
                f"not a rampup Scheduler state (format {state_dict.get('format')!r}, expected "
                f"{STATE_FORMAT!r})"
            )
        saved = list(state_dict["schedules"])
        current = [s.to_dict() for s in self._schedules]
        step = check_int("step", state_dict["step"])
        if saved != current:
            differences = config_differences(saved, current, "schedules")
            if policy == "error":
                raise ScheduleValueError(
                    "the saved state is for a different schedule: " + "; ".join(differences)
                    + ". Pass on_config_change='keep_step' or 'keep_fraction' to resume anyway."
                )
            if policy == "keep_fraction":
                old = Scheduler._planned_end_of([from_dict(d) for d in saved], None)
                new = self._end
                if old is None or new is None:
                    raise ScheduleValueError(
                        "keep_fraction needs schedules with an end (a finite horizon)"
                    )
                old_total = old
                step = round(step / old_total * new) if old_total else new
        saved_lrs = [float(v) for v in state_dict["base_lrs"]]
        if len(saved_lrs) != len(self.optimizer.param_groups):
            raise ScheduleValueError(
                f"the saved state has {len(saved_lrs)} parameter groups, the optimizer "
                f"{len(self.optimizer.param_groups)}"
            )
        saved_hyper = state_dict.get("hyperparams", {})
        _hyper.check_saved(self._hyperparams, saved_hyper, policy, len(self.optimizer.param_groups))
        clock_state, plan = self._check_saved_plan(state_dict, step, changed=saved != current)
        if not keep_base_lrs:
            self.base_lrs = saved_lrs
            for group, peak in zip(self.optimizer.param_groups, saved_lrs, strict=True):
                group["initial_lr"] = peak
            _hyper.load_bases(self.optimizer, self._hyperparams, saved_hyper)
        self.last_epoch = step
        self.skipped_steps = int(state_dict.get("skipped_steps", 0))
        self._step_count = int(state_dict.get("step_count", step + 1))
        self._updates_seen = self._updates
        self._clock.apply_state(clock_state)
        self._plan = plan
        self._refresh()
        self._apply(plan.warp.time(self.position))



def to_tensor_lrs(optimizer: Optimizer, dtype: torch.dtype = torch.float32) -> None:
    """Turn every group's float rate into a 0-d tensor (for ``torch.compile``d optimizer steps)."""
    for group in check_optimizer(optimizer).param_groups:
        if not isinstance(group["lr"], torch.Tensor):
            group["lr"] = torch.tensor(float(group["lr"]), dtype=dtype)

