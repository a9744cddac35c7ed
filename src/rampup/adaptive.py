"""Adaptive warmup: a clock that moves through the warmup only while training is stable.

Schedules stay pure functions of their own time; :class:`AdaptiveWarmup` is a
:class:`~rampup.clock.Clock` whose position advances through the schedule's warmup phase one step
per *stable* update, holds on a spike and steps back on a severe one. When the position reaches
the end of the warmup, the rest of the plan is re-planned through the scheduler's warp so that the
run still ends at its planned total (or, with ``on_time=False``, the run is extended instead).

Everything here is framework-free and deterministic: the same sequence of signals gives the same
sequence of positions, on any machine, and the whole state is plain data. Loss tensors (torch) are
handed to :mod:`rampup.torch.adaptive`, imported only when one arrives, which reads them without
blocking and averages them over processes.

The stability rule (:class:`StabilityRule`, one :class:`SpikeTest` per signal):

- history: the last ``window`` finite values of the signal, each entered *clipped* to the spike
  limit it was tested against (so one outlier cannot widen the spread, and a lasting change of
  level is accepted after about ``window / 2`` updates);
- the expected next value follows the recent trend: ``level = median(history) + b * (n + 1) / 2``
  with ``b`` the median difference of consecutive values (a median alone lags behind a falling
  loss, and a spike on a falling curve would hide under that lag); the noise of one value is
  measured on the differences, so a trend does not count as noise:
  ``spread = max(1.4826 * MAD(differences) / sqrt(2), floor * |level|)`` (MAD = median absolute
  deviation; 1.4826 makes it the standard deviation for normal noise; the floor keeps a
  near-constant history from calling every wobble a spike). Everything scales with the signal,
  so the test is scale-free: multiplying every loss by a constant changes no decision;
- a value ``x`` is a *spike* if ``x > level + threshold * spread`` and a *severe spike* if
  ``x > level + severe * spread`` or it is not finite (NaN, inf). With fewer than ``min_history``
  values in the history only non-finite values count as spikes. A loss that stops falling as fast
  as its recent trend also ends above the level: the warmup then holds while the loss curve bends
  (an unstable step often shows first as a loss that stops improving), until the window has
  taken in the new pace.

Each update's decision, from the worst result over the signals given (loss, and optionally the
gradient norm and the update-to-weight ratio, Kosson et al. 2024):

- no spike: **advance** (position + 1), unless the last spike ended fewer than ``patience``
  updates ago (then **hold**);
- a spike: **hold** (position unchanged); a run of consecutive spike updates is one *episode*;
- a severe spike: **back** off once per episode, ``position = floor(position * backoff)``
  (the rate of a linear warmup falls by the same factor), then hold for the rest of the episode;
- ``max_nonfinite`` consecutive non-finite losses raise :class:`~rampup.errors.ScheduleValueError`
  (training is broken; waiting would not fix it).

Bounds: the warmup phase of the schedule (``min_warmup`` schedule steps) is the shortest warmup
(one step per update, nothing held); the warmup always ends by update ``max_warmup``: once the
updates left before that bound equal the warmup steps left, it advances whatever the signals say
(a back-off is limited the same way). Decisions are made ``lag`` updates after the update whose
signals they use, on every device, so a loss on a GPU is read without waiting for it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
import sys
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from rampup.clock import Clock
from rampup.durations import resolve_duration
from rampup.errors import (
    ScheduleTypeError,
    ScheduleValueError,
    check_choice,
    check_int,
    check_real,
)
from rampup.schedules import Schedule, Warmup

STATE_FORMAT = "rampup.AdaptiveWarmup/1"
SIGNAL_NAMES = ("loss", "grad_norm", "update_ratio")
DECISIONS = ("advance", "hold", "back")
MISSING_LOSS = ("error", "advance")
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): the MAD of normal noise times this is its standard deviation

Values = tuple[float | None, ...]  # one update's signals, in SIGNAL_NAMES order (None: not given)


# -- the spike test -----------------------------------------------------------------------------
def _median(ordered: Sequence[float]) -> float:
    n = len(ordered)
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def _median_absolute_deviation(ordered: Sequence[float], centre: float) -> float:
    """The median of ``|x - centre|`` over a sorted sequence, in O(n).

    The deviations below and above ``centre`` are each already sorted (walking outwards from
    ``centre``), so the k-th smallest deviation is found by merging the two walks.
    """
    n = len(ordered)
    split = bisect.bisect_left(ordered, centre)
    below, above = split - 1, split  # walk outwards: ordered[below] going down, ordered[above] up

    def take() -> float:
        nonlocal below, above
        if above < n and (below < 0 or ordered[above] - centre <= centre - ordered[below]):
            value = ordered[above] - centre
            above += 1
        else:
            value = centre - ordered[below]
            below -= 1
        return value

    middle = n // 2
    for _ in range(middle - (0 if n % 2 else 1)):
        take()
    first = take()
    return first if n % 2 else (first + take()) / 2.0


class SpikeTest:
    """The robust spike test for one signal (see the module docstring for the rule).

    ``history`` keeps the last ``window`` values in arrival order, ``ordered`` the same values
    sorted and ``steps`` the sorted differences of consecutive values, so one update costs
    O(window): sorted inserts and removals, and linear medians and MADs.
    """

    __slots__ = ("floor", "history", "min_history", "ordered", "severe", "steps", "threshold", "window")

    def __init__(self, window: int, min_history: int, threshold: float, severe: float,
                 floor: float) -> None:
        self.window, self.min_history = window, min_history
        self.threshold, self.severe, self.floor = threshold, severe, floor
        self.history: deque[float] = deque()
        self.ordered: list[float] = []
        self.steps: list[float] = []

    def limits(self) -> tuple[float, float] | None:
        """(spike limit, severe limit) for the next value, or None while the history is short.

        ``level = median(history) + slope * (n + 1) / 2`` with ``slope`` the median difference of
        consecutive values (the median sits mid-window, ``(n + 1) / 2`` updates before the next
        value); ``spread = max(1.4826 * MAD(differences) / sqrt(2), floor * |level|)``.
        """
        n = len(self.history)
        if n < self.min_history:
            return None
        slope = _median(self.steps)
        level = _median(self.ordered) + slope * (n + 1) / 2.0
        noise = MAD_TO_SIGMA * _median_absolute_deviation(self.steps, slope) / math.sqrt(2.0)
        spread = max(noise, self.floor * abs(level))
        return level + self.threshold * spread, level + self.severe * spread

    def score(self, value: float) -> int:
        """0: no spike, 1: spike, 2: severe spike (or not finite). Changes nothing."""
        if not math.isfinite(value):
            return 2
        limits = self.limits()
        if limits is None:
            return 0
        return 2 if value > limits[1] else 1 if value > limits[0] else 0

    def add(self, value: float) -> None:
        """Enter a finite value into the history, clipped to the spike limit it was tested against."""
        limits = self.limits()
        if limits is not None and value > limits[0]:
            value = limits[0]
        if self.history:
            bisect.insort(self.steps, value - self.history[-1])
        self.history.append(value)
        bisect.insort(self.ordered, value)
        if len(self.history) > self.window:
            old = self.history.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, old)]
            del self.steps[bisect.bisect_left(self.steps, self.history[0] - old)]

    def state(self) -> list[float]:
        return list(self.history)

    def load(self, values: Sequence[float]) -> None:
        self.history = deque(values)
        self.ordered = sorted(values)
        self.steps = sorted(b - a for a, b in itertools.pairwise(values))


@dataclass(frozen=True)
class StabilityRule:
    """What counts as a spike and what a spike does (see the module docstring).

    Args:
        window: how many recent values of each signal the test compares with.
        min_history: values needed before the test runs (until then only non-finite values count).
        threshold: a spike is a value above the median by more than ``threshold`` spreads.
        severe: a severe spike (step back) is above the median by more than ``severe`` spreads.
        floor: the spread is at least ``floor * |median|`` (relative; 0 disables the floor).
        backoff: a severe spike multiplies the warmup position by this (0: back to the start,
            1: hold only).
        patience: stable updates held after a spike episode ends before the warmup moves again.
        max_nonfinite: this many consecutive non-finite losses raise an error.
    """

    window: int = 20
    min_history: int = 5
    threshold: float = 3.0
    severe: float = 6.0
    floor: float = 0.01
    backoff: float = 0.5
    patience: int = 0
    max_nonfinite: int = 10

    def __post_init__(self) -> None:
        check_int("window", self.window, minimum=3)
        check_int("min_history", self.min_history, minimum=3)
        if self.min_history > self.window:
            raise ScheduleValueError(
                f"min_history must be <= window ({self.window}), got {self.min_history}"
            )
        threshold = check_real("threshold", self.threshold, low=0.0, low_open=True)
        check_real("severe", self.severe, low=threshold)
        check_real("floor", self.floor, low=0.0, high=1.0)
        check_real("backoff", self.backoff, low=0.0, high=1.0)
        check_int("patience", self.patience)
        check_int("max_nonfinite", self.max_nonfinite, minimum=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StabilityController:
    """Turns each update's signals into a decision: ``"advance"``, ``"hold"`` or ``"back"``.

    Framework-free and deterministic; ``state()`` / ``load()`` round-trip it exactly as plain data.
    """

    def __init__(self, rule: StabilityRule | None = None) -> None:
        self.rule = StabilityRule() if rule is None else rule
        r = self.rule
        self.tests = [SpikeTest(r.window, r.min_history, r.threshold, r.severe, r.floor)
                      for _ in SIGNAL_NAMES]
        self.nonfinite_run = 0  # consecutive updates with a non-finite loss
        self.in_episode = False  # the previous update was a spike
        self.backed_off = False  # this episode already stepped back
        self.calm_left = 0  # stable updates still to hold after the last episode

    def decide(self, values: Values) -> tuple[str, int]:
        """(decision, severity 0/1/2) for one update's signals; raises on a run of non-finite
        losses (nothing changed then)."""
        given = [(test, v) for test, v in zip(self.tests, values, strict=True) if v is not None]
        finite = all(math.isfinite(v) for _, v in given)
        if not finite and self.nonfinite_run + 1 >= self.rule.max_nonfinite:
            raise ScheduleValueError(
                f"loss: {self.nonfinite_run + 1} consecutive updates with a non-finite loss, "
                "gradient norm or update ratio (NaN or inf; max_nonfinite="
                f"{self.rule.max_nonfinite}): training has diverged and holding the warmup will "
                "not recover it. Restart from a checkpoint with a lower peak rate or a longer "
                "minimum warmup"
            )
        severity = max((test.score(v) for test, v in given), default=0)
        if finite:
            self.nonfinite_run = 0
            for test, v in given:
                test.add(v)
        else:
            self.nonfinite_run += 1
        if severity == 0:
            if self.in_episode:
                self.in_episode = False
                self.calm_left = self.rule.patience
            if self.calm_left:
                self.calm_left -= 1
                return "hold", 0
            return "advance", 0
        if not self.in_episode:
            self.in_episode, self.backed_off = True, False
        if severity == 2 and not self.backed_off:
            self.backed_off = True
            return "back", 2
        return "hold", severity

    def state(self) -> dict[str, Any]:
        return {
            "history": {name: test.state() for name, test in zip(SIGNAL_NAMES, self.tests, strict=True)},
            "nonfinite_run": self.nonfinite_run, "in_episode": self.in_episode,
            "backed_off": self.backed_off, "calm_left": self.calm_left,
        }

    @staticmethod
    def check_state(state: Any, rule: StabilityRule) -> dict[str, Any]:
        if not isinstance(state, Mapping):
            raise ScheduleValueError(f"controller state must be a dict, got {state!r}")
        history = state.get("history")
        if not isinstance(history, Mapping) or set(history) != set(SIGNAL_NAMES):
            raise ScheduleValueError(f"controller history must have keys {SIGNAL_NAMES}, got {history!r}")
        out: dict[str, Any] = {"history": {}}
        for name in SIGNAL_NAMES:
            values = history[name]
            if (isinstance(values, (str, bytes)) or not isinstance(values, Sequence)
                    or len(values) > rule.window):
                raise ScheduleValueError(
                    f"controller history of {name} must be a list of at most {rule.window} numbers"
                )
            out["history"][name] = [check_real(f"history of {name}", v) for v in values]
        out["nonfinite_run"] = check_int("nonfinite_run", state.get("nonfinite_run"))
        out["calm_left"] = check_int("calm_left", state.get("calm_left"))
        for key in ("in_episode", "backed_off"):
            if not isinstance(state.get(key), bool):
                raise ScheduleValueError(f"controller {key} must be True or False, got {state.get(key)!r}")
            out[key] = state[key]
        return out

    def load(self, checked: dict[str, Any]) -> None:
        for name, test in zip(SIGNAL_NAMES, self.tests, strict=True):
            test.load(checked["history"][name])
        self.nonfinite_run = checked["nonfinite_run"]
        self.in_episode, self.backed_off = checked["in_episode"], checked["backed_off"]
        self.calm_left = checked["calm_left"]


# -- the clock ----------------------------------------------------------------------------------
class _Attached(Protocol):
    """What the clock needs from the scheduler that runs it."""

    @property
    def original_schedules(self) -> list[Schedule]: ...

    @property
    def planned_end(self) -> int | None: ...

    def extend(self, total_steps: int) -> None: ...


def warmup_length(schedules: Sequence[Schedule]) -> int | None:
    """The length of the warmup phase the schedules start with (the longest over the groups
    that have one), or None if none starts with a :class:`~rampup.schedules.Warmup`."""
    lengths = []
    for schedule in schedules:
        begin, end, leaf = schedule.segments()[0]
        if isinstance(leaf, Warmup) and begin == 0 and end is not None and end > 0:
            lengths.append(end)
    return max(lengths) if lengths else None


@dataclass(frozen=True, slots=True)
class LatestPlan(Schedule):
    """The rates an adaptive warmup gives when it takes its longest: the warmup (``warmup`` steps
    of ``schedule``) spread over ``latest`` updates (holds spread evenly), then the rest of the
    schedule (up to ``total``) compressed into the updates left so the run ends on time.

    ``time(u) = floor(u * warmup / latest)`` for ``u < latest``, else
    ``warmup + floor((u - latest) * (total - warmup) / (total - latest))``. For plots and
    descriptions of the planned bounds; the schedule itself is the earliest plan.
    """

    schedule: Schedule
    warmup: int
    latest: int
    total: int
    shape: ClassVar[str] = "adaptive_latest"

    def __post_init__(self) -> None:
        check_int("warmup", self.warmup, minimum=1)
        check_int("latest", self.latest, minimum=self.warmup)
        check_int("total", self.total, minimum=self.latest + 1)

    def _eval(self, t: Any, xp: Any) -> Any:
        w, m, n = self.warmup, self.latest, self.total
        if xp.is_scalar:
            time = t * w // m if t < m else w + (t - m) * (n - w) // (n - m)
        else:
            early = xp.floor((t * w + 1e-9) / m)
            late = w + xp.floor(((t - m) * (n - w) + 1e-9) / (n - m))
            time = xp.where(t < m, early, late)
        return self.schedule._eval(time, xp)

    @property
    def horizon(self) -> int | None:
        return None if self.schedule.horizon is None else self.total

    def label(self) -> str:
        return f"adaptive warmup at its longest ({self.latest} updates)"


def planned_bounds(schedule: Schedule, total: int, max_warmup: int | float | str,
                   min_warmup: int | None = None) -> tuple[int, int, LatestPlan]:
    """(shortest warmup, longest warmup, the plan at the longest) for an adaptive warmup of
    ``schedule`` over ``total`` updates; raises on bounds that cannot hold (as the clock does)."""
    clock = AdaptiveWarmup(max_warmup, min_warmup=min_warmup)
    clock.bind([schedule], total)
    assert clock.min_warmup is not None and clock.max_warmup is not None
    return clock.min_warmup, clock.max_warmup, LatestPlan(schedule, clock.min_warmup, clock.max_warmup, total)


def describe_bounds(schedule: Schedule, total: int, max_warmup: int | float | str,
                    peak_lr: float | None = None) -> str:
    """Lines for ``describe``: where an adaptive warmup of ``schedule`` can end, and what its
    longest plan does to the rest of the run."""
    shortest, longest, latest = planned_bounds(schedule, total, max_warmup)
    speed = (total - shortest) / (total - longest)
    scale = 1.0 if peak_lr is None else peak_lr
    mid = (longest + total) // 2
    return "\n".join([
        f"  adaptive warmup: reaches the peak between update {shortest} (never held) and update "
        f"{longest} (max_warmup); the rest of the schedule then runs up to {speed:.3g}x faster to "
        f"end at update {total}",
        f"  at its longest: at update {longest // 2}: {latest(longest // 2) * scale:.6g}, at "
        f"update {mid}: {latest(mid) * scale:.6g} (vs {schedule(mid) * scale:.6g} on the shortest), "
        f"at update {total}: {latest(total) * scale:.6g}",
    ])


def _plain_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class AdaptiveWarmup(Clock):
    """A clock that advances through the warmup phase only while training is stable.

    Use it with the torch scheduler and pass the loss of every update::

        schedule = rampup.with_warmup(rampup.Cosine(steps=total - 20), 20)   # 20: the shortest warmup
        scheduler = Scheduler(optimizer, schedule, clock=rampup.AdaptiveWarmup(max_warmup=0.3))
        ...
        optimizer.step()
        scheduler.step(loss=loss)          # a tensor is fine: read later, without waiting for it

    The position is the schedule time of the warmup while it runs (advance, hold or step back per
    update, by :class:`StabilityRule`); from the end of the warmup on it advances one step per
    update, and the rest of the plan is mapped onto the updates left so that the run ends at its
    planned total (``on_time=True``; a ``scheduler.extend`` recorded in ``scheduler.changes``), or
    it runs at its own pace and the run takes as many more updates as the warmup took beyond its
    minimum (``on_time=False``).

    Args:
        max_warmup: the latest update at which the warmup ends: a count, a fraction of the planned
            total (``0.3`` or ``"30%"``). Default ``0.5``: a bound, not a target (the warmup only
            gets there if it keeps holding).
        min_warmup: the shortest warmup, in updates (= schedule steps of the warmup phase).
            Default: the length of the schedule's own warmup phase; given, it must match it (or
            name the first steps of a schedule that does not start with a ``Warmup``).
        rule: the spike test and its consequences (:class:`StabilityRule`).
        on_time: re-plan the rest so the run ends at its planned total (default) or extend it.
        missing_loss: ``"error"`` (default: ``scheduler.step()`` without ``loss=`` during the
            warmup raises) or ``"advance"`` (such an update advances, untested).
        lag: decisions use the signals of the update ``lag`` updates earlier (default 2), so a GPU
            loss is read after its copy finished rather than waited for; the first ``lag`` updates
            advance. The same lag applies on every device, so results do not depend on it.

    Signals (``scheduler.step(loss=..., grad_norm=..., update_ratio=...)``): floats or one-element
    tensors; ``grad_norm`` and ``update_ratio`` are optional extra spike tests. Under
    ``torch.distributed`` the signals are averaged over the processes (give the same signals on
    every rank), so every rank takes the same decisions. After the warmup the signals are ignored
    and ``loss`` may be left out.
    """

    kind = "adaptive_warmup"
    unit = "updates"

    def __init__(
        self,
        max_warmup: int | float | str = 0.5,
        *,
        min_warmup: int | None = None,
        rule: StabilityRule | None = None,
        on_time: bool = True,
        missing_loss: str = "error",
        lag: int = 2,
    ) -> None:
        super().__init__()
        if isinstance(max_warmup, bool) or not isinstance(max_warmup, (numbers.Real, str)):
            raise ScheduleTypeError(
                f"max_warmup must be an update count, a fraction or a string like '30%', got {max_warmup!r}"
            )
        if isinstance(max_warmup, numbers.Real) and not isinstance(max_warmup, numbers.Integral):
            check_real("max_warmup", max_warmup, low=0.0, high=1.0, low_open=True, high_open=True)
        elif isinstance(max_warmup, numbers.Integral):
            check_int("max_warmup", max_warmup, minimum=1)
        self.max_warmup_spec: int | float | str = max_warmup
        self.min_warmup_spec = None if min_warmup is None else check_int("min_warmup", min_warmup, minimum=1)
        if rule is not None and not isinstance(rule, StabilityRule):
            raise ScheduleTypeError(f"rule must be a rampup.StabilityRule, got {type(rule).__name__}")
        self.rule = StabilityRule() if rule is None else rule
        if not isinstance(on_time, bool):
            raise ScheduleTypeError(f"on_time must be True or False, got {on_time!r}")
        self.on_time = on_time
        self.missing_loss = check_choice("missing_loss", missing_loss, MISSING_LOSS)
        self.lag = check_int("lag", lag)
        # Bound when attached to a scheduler (or by bind() for use without one).
        self.min_warmup: int | None = None
        self.max_warmup: int | None = None
        self.total: int | None = None
        self._scheduler: Any = None
        self._reset()

    def _reset(self) -> None:
        self.position = 0
        self.updates = 0  # advance() calls so far
        self.controller = StabilityController(self.rule)
        self.pending: deque[Any] = deque()  # signals not yet acted on (tuples or device handles)
        self.warmup_end: int | None = None  # the update count at which the warmup ended
        self.replanned = False  # the end-of-warmup re-plan was made (or was not needed)
        self.events: list[list[Any]] = []  # [first update, last update, decision, position]
        self._observed: dict[str, Any] = {}  # signals given ahead of the coming step (observe)

    # -- binding to a plan --------------------------------------------------------------------
    def attach(self, scheduler: _Attached) -> None:
        """Called by the scheduler that takes this clock: reads the warmup length and total."""
        self.bind(scheduler.original_schedules, scheduler.planned_end)
        self._scheduler = weakref.ref(scheduler)

    def bind(self, schedules: Sequence[Schedule], total: int | None) -> None:
        """Resolve the bounds for ``schedules`` over ``total`` planned updates (None: open-ended).

        Raises (naming the argument) on bounds that cannot hold; nothing changes then.
        """
        found = warmup_length(schedules)
        minimum = self.min_warmup_spec
        if minimum is None:
            if found is None:
                raise ScheduleValueError(
                    "min_warmup: the schedule does not start with a Warmup phase, so the adaptive "
                    "warmup does not know which steps are warmup; build it with rampup.with_warmup "
                    "or pass min_warmup=<its warmup steps>"
                )
            minimum = found
        elif found is not None and found != minimum:
            raise ScheduleValueError(
                f"min_warmup={minimum} but the schedule's warmup phase is {found} steps: the "
                "shortest adaptive warmup is the schedule's own warmup; make them equal"
            )
        needed = self.lag + self.rule.min_history
        if minimum < needed:
            raise ScheduleValueError(
                f"min_warmup: the warmup phase is {minimum} steps, shorter than the {needed} updates "
                f"the spike test needs before it can act (lag {self.lag} + min_history "
                f"{self.rule.min_history}); give the schedule a warmup of at least {needed} steps"
            )
        spec = self.max_warmup_spec
        if isinstance(spec, numbers.Integral):
            maximum = int(spec)
        else:
            if total is None:
                raise ScheduleValueError(
                    f"max_warmup={spec!r} is a fraction of training, but the plan has no planned "
                    "end: pass total_steps to the scheduler or an update count"
                )
            maximum = resolve_duration(spec, name="max_warmup", total_steps=total)
        if maximum < minimum:
            raise ScheduleValueError(
                f"max_warmup ({maximum} updates) must be >= min_warmup ({minimum}, the schedule's "
                "warmup phase)"
            )
        if total is not None and maximum >= total:
            raise ScheduleValueError(
                f"max_warmup ({maximum} updates) must be shorter than the run ({total} updates)"
            )
        self.min_warmup, self.max_warmup, self.total = minimum, maximum, total

    # -- one update ---------------------------------------------------------------------------
    def observe(self, **signals: Any) -> None:
        """Give the signals of the update in progress before ``scheduler.step()`` is called.

        For training loops that step the scheduler themselves without signals (Lightning,
        transformers' Trainer; see their callbacks in :mod:`rampup.torch.callbacks`): the next
        ``advance`` uses these, and signals passed to ``scheduler.step()`` itself win.
        """
        for name in signals:
            if name not in SIGNAL_NAMES:
                raise ScheduleTypeError(
                    f"observe() got an unknown signal {name!r}; known: {', '.join(SIGNAL_NAMES)}"
                )
        self._observed = {k: v for k, v in signals.items() if v is not None}

    def advance(self, signals: Mapping[str, Any]) -> None:
        observed = self._observed
        if self.warmup_end is not None:
            if not self.replanned:
                self._replan()
            self._observed = {}
            self.position += 1
            self.updates += 1
            return
        if self.min_warmup is None:
            raise ScheduleValueError(
                "AdaptiveWarmup is not attached: pass it as Scheduler(..., clock=AdaptiveWarmup(...)) "
                "(or call bind(schedules, total) first)"
            )
        if observed:
            signals = {**observed, **{k: v for k, v in signals.items() if v is not None}}
        entry = self._read(signals)  # validates before anything changes
        queue = [*self.pending, entry]
        decision = "advance"
        if len(queue) > self.lag:
            values = self._resolve(queue.pop(0))
            if values is not None:
                decision = self._decide(values)  # raises (changing nothing) on non-finite runs
        self.pending = deque(queue)
        self._observed = {}
        self._move(decision)

    def _read(self, signals: Mapping[str, Any]) -> Any:
        """One update's signals as a tuple of floats, a device handle, or None (no loss, allowed)."""
        raw = [signals.get(name) for name in SIGNAL_NAMES]
        if raw[0] is None:
            if any(v is not None for v in raw[1:]) or self.missing_loss == "error":
                raise ScheduleValueError(
                    "loss: the adaptive warmup needs the training loss of every update during the "
                    "warmup: call scheduler.step(loss=loss) (a tensor is fine), or build the clock "
                    "with AdaptiveWarmup(missing_loss='advance') to advance untested without one"
                )
            return None
        for name, value in zip(SIGNAL_NAMES, raw, strict=True):
            if isinstance(value, (bool, str, bytes)):
                raise ScheduleTypeError(f"{name} must be a number or a one-element tensor, got {value!r}")
        if all(v is None or _plain_number(v) for v in raw) and not _distributed():
            return tuple(None if v is None else float(v) for v in raw)
        from rampup.torch.adaptive import read_signals

        return read_signals(raw)

    @staticmethod
    def _resolve(entry: Any) -> Values | None:
        if entry is None or isinstance(entry, tuple):
            return entry
        values: Values = entry.values()
        return values

    def _decide(self, values: Values) -> str:
        decision, _ = self.controller.decide(values)
        return decision

    def _move(self, decision: str) -> None:
        """Apply a decision to the position, within the bounds; record holds and back-offs."""
        assert self.min_warmup is not None and self.max_warmup is not None
        self.updates += 1
        old = self.position
        if decision == "advance":
            new = old + 1
        elif decision == "back":
            new = math.floor(old * self.rule.backoff)
        else:
            new = old
        # The warmup ends by max_warmup: the updates left must cover the warmup steps left.
        lowest = self.min_warmup - (self.max_warmup - self.updates)
        if new < lowest:
            new, decision = lowest, "forced"
        self.position = new
        if decision != "advance":
            self._log(decision, old)
        if new >= self.min_warmup:
            self.position = self.min_warmup
            self.warmup_end = self.updates
            self.pending.clear()
            if not self.on_time or self.total is None or self.warmup_end == self.min_warmup:
                self.replanned = True

    def _log(self, decision: str, position: int) -> None:
        update = self.updates - 1  # 0-based index of the update whose rate this decision sets next
        last = self.events[-1] if self.events else None
        if last is not None and last[2] == decision and last[1] == update - 1:
            last[1] = update
        else:
            self.events.append([update, update, decision, position])

    def _replan(self) -> None:
        """Map the rest of the plan onto the updates left (at the first update after warmup)."""
        assert self.warmup_end is not None and self.total is not None
        scheduler = None if self._scheduler is None else self._scheduler()
        if scheduler is not None:
            scheduler.extend(self.position + self.total - self.warmup_end)
        self.replanned = True

    # -- reporting ----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.warmup_end is not None

    def summary(self) -> dict[str, Any]:
        """How the warmup went: its length, the bounds, and where it held or stepped back."""
        holds = sum(e[1] - e[0] + 1 for e in self.events if e[2] == "hold")
        return {
            "warmup_updates": self.warmup_end,
            "warmup_done": self.warmup_end is not None,
            "min_warmup": self.min_warmup,
            "max_warmup": self.max_warmup,
            "held_updates": holds,
            "back_offs": sum(1 for e in self.events if e[2] == "back"),
            "forced_updates": sum(e[1] - e[0] + 1 for e in self.events if e[2] == "forced"),
            "events": [{"from_update": e[0], "to_update": e[1], "decision": e[2], "position": e[3]}
                       for e in self.events],
            "on_time": self.on_time,
            "extra_updates": (None if self.warmup_end is None or self.on_time
                              else self.warmup_end - (self.min_warmup or 0)),
        }

    def report(self) -> dict[str, Any]:
        """``scheduler.report()``'s part: the summary, and the same in words (``"text"``)."""
        return {"adaptive_warmup": self.summary() | {"text": self.describe()}}

    def describe(self) -> str:
        """One paragraph in words (for ``report()`` and logs)."""
        s = self.summary()
        if not s["warmup_done"]:
            head = (f"adaptive warmup still running after {self.updates} updates (position "
                    f"{self.position} of {self.min_warmup}; it ends by update {self.max_warmup})")
        else:
            head = (f"adaptive warmup took {s['warmup_updates']} updates (bounds {self.min_warmup}"
                    f"..{self.max_warmup})")
        parts = []
        for e in s["events"]:
            span = (f"update {e['from_update']}" if e["from_update"] == e["to_update"]
                    else f"updates {e['from_update']}-{e['to_update']}")
            parts.append(f"{e['decision']} at {span} (position {e['position']})")
        return head + (": " + "; ".join(parts) if parts else ", never held")

    # -- state --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.kind,
            "max_warmup": self.max_warmup_spec,
            "min_warmup": self.min_warmup_spec,
            "rule": self.rule.to_dict(),
            "on_time": self.on_time,
            "missing_loss": self.missing_loss,
            "lag": self.lag,
        }

    def state_dict(self) -> dict[str, Any]:
        """Plain data: position, update count, signals not yet acted on (read now), controller."""
        pending = [self._resolve(entry) for entry in self.pending]
        self.pending = deque(pending)  # read once: the values kept are the values saved
        return {
            "format": STATE_FORMAT,
            "position": self.position,
            "updates": self.updates,
            "pending": [None if v is None else list(v) for v in pending],
            "controller": self.controller.state(),
            "warmup_end": self.warmup_end,
            "replanned": self.replanned,
            "events": [list(e) for e in self.events],
        }

    def check_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, Mapping) else type(state).__name__
            raise ScheduleValueError(
                f"clock state: not an AdaptiveWarmup state (format {found!r}, expected "
                f"{STATE_FORMAT!r}); a state saved without the adaptive warmup cannot resume with it"
            )
        out = super().check_state(state)
        out["updates"] = check_int("updates", state.get("updates"))
        end = state.get("warmup_end")
        out["warmup_end"] = None if end is None else check_int("warmup_end", end)
        if not isinstance(state.get("replanned"), bool):
            raise ScheduleValueError(f"replanned must be True or False, got {state.get('replanned')!r}")
        out["replanned"] = state["replanned"]
        pending = state.get("pending")
        if (isinstance(pending, (str, bytes)) or not isinstance(pending, Sequence)
                or len(pending) > self.lag):
            raise ScheduleValueError(
                f"pending must be a list of at most lag={self.lag} entries, got {pending!r}"
            )
        entries: list[Values | None] = []
        for item in pending:
            if item is None:
                entries.append(None)
                continue
            if not isinstance(item, Sequence) or len(item) != len(SIGNAL_NAMES):
                raise ScheduleValueError(f"pending entry must list {SIGNAL_NAMES}, got {item!r}")
            entries.append(tuple(None if v is None else _state_float(name, v)
                                 for name, v in zip(SIGNAL_NAMES, item, strict=True)))
        out["pending"] = entries
        out["controller"] = StabilityController.check_state(state.get("controller"), self.rule)
        events = state.get("events")
        if isinstance(events, (str, bytes)) or not isinstance(events, Sequence):
            raise ScheduleValueError(f"events must be a list, got {events!r}")
        out["events"] = []
        for e in events:
            if not isinstance(e, Sequence) or len(e) != 4 or e[2] not in (*DECISIONS, "forced"):
                raise ScheduleValueError(f"bad event {e!r}")
            out["events"].append([check_int("event update", e[0]), check_int("event update", e[1]),
                                  e[2], check_int("event position", e[3])])
        return out

    def apply_state(self, state: dict[str, Any]) -> None:
        self.updates = state["updates"]
        self.pending = deque(state["pending"])
        self.controller = StabilityController(self.rule)
        self.controller.load(state["controller"])
        self.warmup_end = state["warmup_end"]
        self.replanned = state["replanned"]
        self.events = [list(e) for e in state["events"]]
        super().apply_state(state)

    def __repr__(self) -> str:
        return (f"AdaptiveWarmup(position={self.position}, updates={self.updates}, "
                f"warmup_end={self.warmup_end})")


def _state_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ScheduleValueError(f"pending {name} must be a number, got {value!r}")
    return float(value)


def _distributed() -> bool:
    """Whether torch.distributed runs with several processes (checked without importing torch)."""
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return False
    try:
        return bool(dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1)
    except (RuntimeError, ValueError):  # pragma: no cover - a half-initialised group
        return False


__all__ = [
    "AdaptiveWarmup",
    "LatestPlan",
    "SpikeTest",
    "StabilityController",
    "StabilityRule",
    "describe_bounds",
    "planned_bounds",
    "warmup_length",
]
