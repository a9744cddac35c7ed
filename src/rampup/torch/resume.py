"""Resuming a :class:`~rampup.torch.Scheduler`: checking a saved state and computing what loading
it assigns, without assigning anything.

``Scheduler.load_state_dict`` asks :meth:`ResumeMixin._plan_load` for a :class:`LoadPlan` (every
field of the state checked, the new values computed, a refusal raised as a RampupError naming the
field) and only then assigns it (``Scheduler._commit``), so a refused state leaves the scheduler
and the optimizer as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch.optim import Optimizer

from rampup.clock import Clock
from rampup.config import config_differences, from_dict
from rampup.errors import ScheduleTypeError, ScheduleValueError
from rampup.plan import Plan, planned_end
from rampup.schedules import Schedule
from rampup.torch import hyperparams as _hyper
from rampup.torch.groups import value_at
from rampup.torch.states import saved_count, saved_rates

CONFIG_POLICIES = ("error", "keep_step", "keep_fraction")
# The keys of a state written by state_dict(): the first four always, the others when present.
REQUIRED_KEYS = ("format", "step", "base_lrs", "schedules")
OPTIONAL_KEYS = ("skipped_steps", "step_count", "hyperparams", "clock", "warp", "changes")


@dataclass(frozen=True)
class LoadPlan:
    """What loading a checked state assigns."""

    step: int
    step_count: int
    skipped_steps: int
    base_lrs: list[float] | None  # None: keep the current peaks
    hyper_bases: list[list[float] | None]  # per scheduled hyper-parameter; None: unchanged
    warning: str | None  # emitted just before the plan is applied
    clock_state: dict[str, Any]  # checked, for Clock.apply_state
    plan: Plan  # the schedules in force, warp and change log


class ResumeMixin:
    """Checks a saved state against a :class:`~rampup.torch.Scheduler` (see the module docstring)."""

    if TYPE_CHECKING:
        optimizer: Optimizer
        _schedules: Sequence[Schedule]
        _hyperparams: list[_hyper.Hyperparam]
        _clock: Clock
        _plan: Plan
        _total_steps: int | None
        _end: int | None

        def _checked_state(self, state: object, required: tuple[str, ...],
                           optional: tuple[str, ...] = ()) -> Mapping[str, Any]: ...
        def _check_saved_plan(self, state: Mapping[str, Any], step: int, *,
                              changed: bool) -> tuple[dict[str, Any], Plan]: ...

    def _plan_load(
        self, state: object, *, policy: str, keep_base_lrs: bool, adopt_foreign: bool
    ) -> LoadPlan:
        """Check a saved state and compute what loading it sets; assigns nothing."""
        if isinstance(state, Mapping) and "format" not in state and "last_epoch" in state:
            return self._plan_foreign(state, keep_base_lrs=keep_base_lrs, adopt=adopt_foreign)
        state = self._checked_state(state, REQUIRED_KEYS, OPTIONAL_KEYS)
        groups = len(self.optimizer.param_groups)
        step = saved_count("step", state["step"], 0)
        saved_lrs = saved_rates("base_lrs", state["base_lrs"], groups)
        saved = state["schedules"]
        if not isinstance(saved, (list, tuple)) or not all(isinstance(d, Mapping) for d in saved):
            raise ScheduleTypeError(
                f"state_dict['schedules'] must be a list of schedule configs (dicts), got "
                f"{type(saved).__name__}"
            )
        if len(saved) != groups:
            raise ScheduleValueError(
                f"the saved state has {len(saved)} schedules (parameter groups), the optimizer {groups}"
            )
        saved = list(saved)
        current = [s.to_dict() for s in self._schedules]
        differences = config_differences(saved, current, "schedules")
        if differences:
            if policy == "error":
                raise ScheduleValueError(
                    "the saved state is for a different schedule: " + "; ".join(differences)
                    + ". Pass on_config_change='keep_step' or 'keep_fraction' to resume anyway."
                )
            if policy == "keep_fraction":
                step = self._same_fraction(saved, step)
        skipped = saved_count("skipped_steps", state.get("skipped_steps", 0), 0)
        step_count = saved_count("step_count", state.get("step_count", step + 1), 1)
        hyper = _hyper.plan_bases(
            self._hyperparams, state.get("hyperparams", {}), policy=policy, groups=groups,
            keep_bases=keep_base_lrs, step=step)
        clock_state, replanned = self._check_saved_plan(state, step, changed=bool(differences))
        self._check_reachable(replanned, clock_state["position"])
        return LoadPlan(step, step_count, skipped, None if keep_base_lrs else saved_lrs, hyper, None,
                         clock_state, replanned)

    def _plan_foreign(self, state: Mapping[str, Any], *, keep_base_lrs: bool, adopt: bool) -> LoadPlan:
        """Adopt the step count of another torch scheduler's state (``last_epoch``)."""
        last_epoch = state["last_epoch"]
        if not adopt:
            raise ScheduleValueError(
                f"not a rampup Scheduler state (no 'format' key): it looks like the state of "
                f"another torch scheduler (last_epoch={last_epoch!r}), e.g. transformers' LambdaLR. "
                "To take over its step count (its schedule cannot be checked against this one), "
                "pass adopt_foreign=True to load_state_dict or to Scheduler(...)"
            )
        if not self._clock.counts_updates:
            raise ScheduleValueError(
                f"adopt_foreign: another scheduler's state counts updates; this scheduler counts "
                f"{self._clock.unit}"
            )
        groups = len(self.optimizer.param_groups)
        step = saved_count("last_epoch", last_epoch, 0)
        base_lrs = None
        if "base_lrs" in state and not keep_base_lrs:
            base_lrs = saved_rates("base_lrs", state["base_lrs"], groups)
        step_count = saved_count("_step_count", state.get("_step_count", step + 1), 1)
        hyper = _hyper.plan_bases(self._hyperparams, {}, policy="keep_step", groups=groups,
                                  keep_bases=True, step=step)
        fresh = Plan(self._plan.original, self._total_steps)
        self._check_reachable(fresh, step)
        warning = (
            f"adopted step {step} from a state that is not rampup's (another torch scheduler's, "
            "with last_epoch): its schedule could not be compared with this scheduler's; the rates "
            f"now follow this scheduler's schedule from step {step}"
            + ("" if base_lrs is None else " with the saved base_lrs as peaks")
        )
        return LoadPlan(step, step_count, 0, base_lrs, hyper, warning, {"position": step}, fresh)

    def _same_fraction(self, saved: list[Any], step: int) -> int:
        """``step`` of the saved schedules moved to the same fraction of this scheduler's length."""
        try:
            old = planned_end([from_dict(dict(d)) for d in saved], None)
        except Exception as exc:  # a saved config is user data: any failure to read it is a refusal
            raise ScheduleValueError(
                f"state_dict['schedules'] cannot be read as schedules for keep_fraction: {exc}"
            ) from exc
        new = self._end
        if old is None or new is None:
            raise ScheduleValueError("keep_fraction needs schedules with an end (a finite horizon)")
        return round(step / old * new) if old else new

    def _check_reachable(self, plan: Plan, position: int) -> None:
        """Refuse a position where a schedule cannot be evaluated (before anything is assigned)."""
        time = plan.warp.time(position)
        for index, schedule in enumerate(plan.schedules):
            value_at(schedule, time, f"the schedule of parameter group {index}")


def check_flag(name: str, value: object) -> bool:
    """``value`` if it is True or False, else a ScheduleTypeError naming ``name``."""
    if not isinstance(value, bool):
        raise ScheduleTypeError(f"{name} must be True or False, got {value!r}")
    return value
