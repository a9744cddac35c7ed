"""rampup's PyTorch scheduler: writes ``base_lr * schedule(step)`` into each parameter group.

It is a ``torch.optim.lr_scheduler.LRScheduler`` (so Lightning, transformers' Trainer and
accelerate accept it) but does not run that class's constructor: torch's constructor wraps
``optimizer.step`` in a Python closure, which ``torch.compile`` cannot trace through. Nothing here
reads the optimizer's current rate to compute the next one, so resuming and composing cannot
drift.
"""

from __future__ import annotations

import sys
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from torch.optim import Optimizer

from rampup.clock import Clock, as_clock, check_signals
from rampup.errors import (
    RampupWarning,
    ScheduleValueError,
    check_choice,
    check_int,
    warn_once,
)
from rampup.plan import Plan
from rampup.schedules import Schedule
from rampup.schedules.base import SCALAR
from rampup.torch import hyperparams as _hyper
from rampup.torch import table as _tables
from rampup.torch.base import RampupLRScheduler, new_warn_key
from rampup.torch.groups import (
    check_optimizer,
    has_tensor_rates,
    initial_lrs,
    one_per_group,
    set_initial,
    to_tensor_lrs,
    write_rate,
)
from rampup.torch.replan import ReplanMixin
from rampup.torch.resume import CONFIG_POLICIES, LoadPlan, ResumeMixin, check_flag

STATE_FORMAT = "rampup.Scheduler/1"


def _update_counter(counter: list[int]) -> Any:
    """A step hook that marks in ``counter[0]`` that the optimizer made an update (it holds no
    scheduler).

    ``step()`` reads the mark and sets it back to 0, to tell a skipped update (GradScaler found
    inf/NaN and did not call ``optimizer.step()``) from a real one; only whether an update ran
    matters, so the hook stores a constant rather than counting (one operation fewer on every
    update). A post-step hook adds no graph break or recompilation to a compiled training step,
    unlike torch's own schedulers, which replace ``optimizer.step`` with a wrapper.
    """

    def count(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        counter[0] = 1

    return count


class Scheduler(ReplanMixin, ResumeMixin, RampupLRScheduler):
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
        on_config_change: what ``load_state_dict`` does by default when the saved schedules differ
            from this scheduler's: ``"error"`` (default), ``"keep_step"`` or ``"keep_fraction"``
            (see :meth:`load_state_dict`). Set it here when a framework calls ``load_state_dict``
            for you (transformers' Trainer loads ``scheduler.pt`` itself).
        keep_base_lrs: the default of ``load_state_dict``'s ``keep_base_lrs``.
        adopt_foreign: the default of ``load_state_dict``'s ``adopt_foreign``: take the step count
            of a state written by another torch scheduler (transformers' ``LambdaLR``, any
            ``LRScheduler``), to switch a running job to rampup.
        clock: what the schedule counts (see :mod:`rampup.clock`): ``"updates"`` (default),
            ``"tokens"`` / ``"samples"`` (``step(tokens=n)`` with each update's count) or
            ``"time"`` (measured milliseconds), or a :class:`~rampup.clock.Clock` instance.
            Schedule lengths (and ``total_steps``) are then in that unit.

    The plan can change while training runs: :meth:`cooldown`, :meth:`extend` and :meth:`replan`
    splice a new phase in at the current position, continuing from the rate in force; the change
    is recorded in ``state_dict`` (see :mod:`rampup.plan`).

    Pickling and ``copy.deepcopy`` work, with the optimizer or without: pickle the optimizer and
    the scheduler together (``pickle.dumps((optimizer, scheduler))``, ``torch.save(trainer)`` of
    an object holding both, ``copy.deepcopy`` of both) and the copy drives the copied optimizer
    and counts its updates. A scheduler pickled or copied on its own brings its own copy of the
    optimizer (as torch's schedulers do) and drives that copy, not the original; resume from
    ``state_dict()`` to attach a saved state to a new optimizer.

    Examples:
        >>> import rampup
        >>> from rampup.torch import Scheduler
        >>> import torch
        >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
        >>> sched = Scheduler(opt, rampup.with_warmup(rampup.Linear(steps=4), 2))
        >>> lrs = [round(opt.param_groups[0]["lr"], 6)]  # the rate each update uses
        >>> for _ in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
        >>> lrs                 # 0.1 * (t + 1) / 2 for t < 2, then 0.1 * (4 - (t - 2)) / 4
        [0.05, 0.1, 0.1, 0.075, 0.05, 0.025]
    """

    STATE_FORMAT = STATE_FORMAT
    # Rebuilt when a scheduler is unpickled or deep-copied, not saved with it: a hook on the
    # optimizer, its handle and finalizer, a bound method and the table of precomputed steps.
    _transient = ("_count_update", "_hook", "_detach", "_evaluate", "_runs", "_table",
                  "_table_next")

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | Sequence[Schedule],
        *,
        tensor_lr: bool = False,
        on_skipped_step: str = "advance",
        total_steps: int | None = None,
        hyperparams: Mapping[str, Schedule | Sequence[Schedule]] | None = None,
        on_config_change: str = "error",
        keep_base_lrs: bool = False,
        adopt_foreign: bool = False,
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
        self.on_config_change = check_choice("on_config_change", on_config_change, CONFIG_POLICIES)
        self.keep_base_lrs = check_flag("keep_base_lrs", keep_base_lrs)
        self.adopt_foreign = check_flag("adopt_foreign", adopt_foreign)
        # Other hyper-parameters (opt-in): validated and their bases captured before anything is
        # written; with none, step() takes its inlined path.
        self._hyperparams = [] if hyperparams is None else _hyper.attach_hyperparams(
            self.optimizer, hyperparams)
        if tensor_lr:
            to_tensor_lrs(self.optimizer)
        self.base_lrs = initial_lrs(self.optimizer)
        self._tensor_groups = has_tensor_rates(self.optimizer)
        self.last_epoch = 0
        self._step_count = 1
        self.skipped_steps = 0
        self._updates = [0]  # 1 once the optimizer updated since the last step() (a hook sets it)
        self._warned_too_often = False
        self._attach_counter()
        self._warn_key = new_warn_key()
        self._plan = Plan(schedules, self._total_steps)
        self._clock.attach(self)  # a clock that re-plans (adaptive warmup) reads the plan here
        self._refresh()
        self._clock.start()
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
        # step()'s inlined path: one shared schedule, float rates, nothing else scheduled.
        self._fast = not self._clocked and self._shared and not self._tensor_groups and not self._hyperparams
        self._tabulate = self._shared and _tables.tabulable(current[0])
        self._runs = _tables.constant_runs(current[0]) if self._tabulate else ()
        self._forget_table()

    def _forget_table(self) -> None:
        """Drop the precomputed steps (the plan changed, or the scheduler was copied)."""
        # (first step, number of steps, their multipliers): one attribute for the per-step path
        self._table: _tables.Table = _tables.EMPTY
        self._table_next = 0  # where the next table would start

    @property
    def _step_count(self) -> int:  # type: ignore[override]
        """How many times ``step()`` moved the scheduler, plus one (torch's count), kept as an
        offset from ``last_epoch``, which moves with it on every update: the per-step path then
        updates one counter. A jump to an ``epoch`` keeps the count."""
        return self.last_epoch + self._step_offset

    @_step_count.setter
    def _step_count(self, value: int) -> None:
        self._step_offset = value - self.last_epoch

    def _attach_counter(self) -> None:
        """Count this optimizer's updates with a post-step hook, removed when the scheduler dies."""
        hooks = self.optimizer.__dict__
        if "_optimizer_step_post_hooks" not in hooks:
            # Unpickling a cycle can hand us the optimizer before its own __setstate__ ran; that
            # method keeps a hook table that is already there.
            hooks["_optimizer_step_post_hooks"] = OrderedDict()
        self._count_update = _update_counter(self._updates)
        self._hook = self.optimizer.register_step_post_hook(self._count_update)
        self._detach = weakref.finalize(self, self._hook.remove)
        self._detach.atexit = False

    def _restore_transient(self) -> None:
        """Re-attach the update counter to the (unpickled or copied) optimizer.

        An optimizer's own pickled state drops its hooks, so the copy would otherwise see no
        updates and count every step as skipped.
        """
        self._evaluate = self._current[0]._eval
        self._runs = _tables.constant_runs(self._current[0]) if self._tabulate else ()
        self._forget_table()
        self._warn_key = new_warn_key()
        self._attach_counter()

    # -- the per-step path ----------------------------------------------------------------------
    def step(self, epoch: int | None = None, **signals: Any) -> None:  # type: ignore[override]
        """Advance one optimizer update (or, with ``epoch``, jump to that step).

        ``signals`` describe the update for clocks that use them (see :data:`rampup.clock.SIGNALS`),
        e.g. ``step(tokens=n)`` on a token clock; the default clock needs none and ignores them.
        """
        if signals or epoch is not None or not self._fast:
            if signals or self._clocked:
                self._step_clocked(epoch, signals)
            else:
                self._step_counted(epoch)
            return
        updates = self._updates
        if not updates[0]:  # optimizer.step() did not run since the last call
            self._step_counted(None)
            return
        # The common case, inlined (_step_counted and _apply do the same in general): one more
        # update, its multiplier from the table of precomputed steps, one float write per group.
        groups, bases = self.optimizer.param_groups, self.base_lrs
        if len(groups) != len(bases):
            self._groups_changed()
        updates[0] = 0
        step = self.last_epoch = self.last_epoch + 1  # (and so _step_count)
        start, size, table = self._table
        index = step - start
        if 0 <= index < size:
            multiplier = table[index]  # tables stop at the planned end: never past it
        else:
            multiplier = self._multiplier(step)
            if step > self._last_changing_step:
                self._warn_past_end(4)
        # (zip's strict=True would do the length check above, but its keyword takes a slow call)
        for group, base in zip(groups, bases):  # noqa: B905 (checked above, without the keyword)
            group["lr"] = base * multiplier  # float rates only here (groups.write_rate otherwise)

    def _step_counted(self, epoch: int | None) -> None:
        """``step()`` on the update count: a skipped update, a jump to ``epoch``, tensor rates or
        scheduled hyper-parameters."""
        if epoch is None:
            if not self._updates[0]:  # optimizer.step() did not run
                self.skipped_steps += 1
                self._warn_if_stepping_too_often(5)
                if self.on_skipped_step == "hold":
                    return
            self._updates[0] = 0
            self.last_epoch += 1  # (and so _step_count)
        else:
            count = self._step_count
            self.last_epoch = check_int("epoch", epoch)
            self._step_count = count
        self._apply(self.last_epoch, 6)

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
            count = self._step_count
            self.last_epoch = check_int("epoch", epoch)
            self._step_count = count
        else:
            skipped = not self._updates[0]
            if skipped and self.on_skipped_step == "hold":
                self.skipped_steps += 1
                self._warn_if_stepping_too_often(5)
                return
            if not clock.counts_updates:
                clock.advance(signals)  # validates the signals before anything changes
            if skipped:
                self.skipped_steps += 1
                self._warn_if_stepping_too_often(5)
            self._updates[0] = 0
            self.last_epoch += 1  # (and so _step_count)
        self._apply(self._plan.warp.time(self.position), 6)

    def _apply(self, step: int, stacklevel: int = 5) -> None:
        # Every write of the rates: one schedule evaluation (no validation: the step is our own
        # count) and one assignment per group; step() inlines the common case. Which groups hold
        # tensor rates is known from attach time. ``step`` is schedule time: the update count
        # unless a clock or a warp says otherwise.
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            self._groups_changed()
        if self._shared:
            multiplier = self._multiplier(step)
            if self._tensor_groups:
                for group, base in zip(groups, self.base_lrs, strict=True):
                    write_rate(group, base * multiplier)
            else:
                for group, base in zip(groups, self.base_lrs, strict=True):
                    group["lr"] = base * multiplier
        else:
            multipliers = [schedule._eval(step, SCALAR) for schedule in self._current]
            for group, base, multiplier in zip(groups, self.base_lrs, multipliers, strict=True):
                write_rate(group, base * multiplier)
        if step > self._last_changing_step:
            self._warn_past_end(stacklevel)
        if self._hyperparams:
            _hyper.write_hyperparams(self.optimizer, self._hyperparams, step)

    def _groups_changed(self) -> None:
        groups = len(self.optimizer.param_groups)
        raise ScheduleValueError(
            f"the optimizer has {groups} parameter groups, but this scheduler was attached to "
            f"{len(self.base_lrs)}: after add_param_group, build a new Scheduler (a group's peak "
            "rate is read when the scheduler is attached)"
        )

    def _multiplier(self, step: int) -> float:
        """The shared schedule at schedule time ``step``, from the table of precomputed steps.

        The table holds the next steps computed at once (:mod:`rampup.torch.table`), with the
        per-step path's bits at every step; it is refilled when the run walks off its end, and a
        step far from it is evaluated alone.
        """
        start, size, table = self._table
        if 0 <= step - start < size:
            return table[step - start]
        if self._tabulate and 0 <= step - self._table_next < _tables.TABLE_NEAR and self._fill(step):
            return self._table[2][0]
        self._table_next = step + 1
        return float(self._evaluate(step, SCALAR))

    def _fill(self, step: int) -> bool:
        """Precompute the shared schedule from ``step`` on (see :mod:`rampup.torch.table`); False
        (and no more tables for this plan) where that fails, which the per-step path then meets
        (and reports) at its own step."""
        table = _tables.fill(self._current[0], step, self._table[1], self._last_changing_step,
                             self._runs)
        if table is None:
            self._tabulate = False
            return False
        self._table = table
        self._table_next = step + table[1]
        return True

    def _warn_past_end(self, stacklevel: int) -> None:
        warn_once(
            f"past-end:{self._warn_key}",
            f"scheduler.step() went past the end of the schedule ({self._end} {self._units}, "
            f"now at {self.position}); the last rate is held. If training is meant to be this "
            "long, build the schedule with a larger total_steps.",
            stacklevel=stacklevel,
        )

    @property
    def _last_lr(self) -> list[float]:  # type: ignore[override]
        """The rates written by the last step, computed again as they were written: every write
        is ``base * schedule(warp.time(position))`` for the plan in force (nothing else moves the
        position), so the per-step path does not have to keep the multiplier it used."""
        time = self._plan.warp.time(self.position)
        if self._shared:
            multiplier = self._multiplier(time)
            return [base * multiplier for base in self.base_lrs]
        return [base * schedule._eval(time, SCALAR)
                for base, schedule in zip(self.base_lrs, self._current, strict=True)]

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
        on_config_change: str | None = None,
        keep_base_lrs: bool | None = None,
        adopt_foreign: bool | None = None,
    ) -> None:
        """Restore the step and peak rates, and write the rate into the optimizer at once.

        The saved schedules must equal this scheduler's, or ``on_config_change`` says what to do:
        ``"error"`` names the fields that differ; ``"keep_step"`` keeps the saved step on the new
        schedule (e.g. training extended); ``"keep_fraction"`` moves to the same fraction of the
        new schedule's length. ``keep_base_lrs=True`` keeps this scheduler's peak rates (and
        hyperparameter bases) instead of the saved ones (a new peak for fine-tuning). Scheduled
        hyperparameters follow the same rules. ``adopt_foreign=True`` accepts the state of another
        torch scheduler (one with ``last_epoch``, e.g. transformers' ``LambdaLR``): its step count
        (``last_epoch``) is kept as is on this schedule, with its ``base_lrs`` unless
        ``keep_base_lrs``, and a RampupWarning says that its schedule could not be checked. Each
        option left ``None`` takes the value given to the constructor.

        All or nothing: every field is checked and the new values are computed before anything is
        assigned, so a refused state (a RampupError naming the field) leaves the scheduler and the
        optimizer as they were. ``state_dict`` is not modified.
        """
        policy = check_choice("on_config_change",
                              self.on_config_change if on_config_change is None else on_config_change,
                              CONFIG_POLICIES)
        keep = check_flag("keep_base_lrs", self.keep_base_lrs if keep_base_lrs is None else keep_base_lrs)
        adopt = check_flag("adopt_foreign", self.adopt_foreign if adopt_foreign is None else adopt_foreign)
        plan = self._plan_load(state_dict, policy=policy, keep_base_lrs=keep, adopt_foreign=adopt)
        if plan.warning is not None:
            warnings.warn(plan.warning, RampupWarning, stacklevel=2)
        self._commit(plan)

    def _commit(self, plan: LoadPlan) -> None:
        """Assign a checked plan (nothing here can fail on a plan from ``_plan_load``)."""
        if plan.base_lrs is not None:
            self.base_lrs = list(plan.base_lrs)
            set_initial(self.optimizer, "lr", plan.base_lrs)
        _hyper.set_bases(self.optimizer, self._hyperparams, plan.hyper_bases)
        self.last_epoch = plan.step
        self.skipped_steps = plan.skipped_steps
        self._step_count = plan.step_count
        self._updates[0] = 0
        self._clock.apply_state(plan.clock_state)
        self._plan = plan.plan
        self._refresh()
        self._apply(plan.plan.warp.time(self.position))
