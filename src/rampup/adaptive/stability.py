"""The adaptive warmup's stability rule: is this update's loss a spike, and what follows.

The stability rule (:class:`StabilityRule`, one :class:`SpikeTest` per signal):

- history: the last ``window`` finite values of the signal, as they came (a spike is not
  clipped: the medians below already ignore a few outliers, and a history that took in only
  clipped values would keep an old trend for good);
- the expected next value follows the recent trend: ``level = median(history) + b * (n + 1) / 2``
  with ``b`` the median difference of consecutive values (a median alone lags behind a falling
  loss, and a spike on a falling curve would hide under that lag); the noise of one value is
  measured on the differences, so a trend does not count as noise:
  ``spread = max(1.4826 * MAD(differences) / sqrt(2), floor * |level|)`` (MAD = median absolute
  deviation around ``b``; 1.4826 makes it the standard deviation for normal noise; the floor
  keeps a near-constant history from calling every wobble a spike). Everything scales with the
  signal, so the test is scale-free: multiplying every loss by a positive constant changes no
  decision;
- a value ``x`` is a *spike* if ``x > level + threshold * spread`` and a *severe spike* if
  ``x > level + severe * spread`` or it is not finite (NaN, inf). With fewer than ``min_history``
  values in the history only non-finite values count as spikes. A loss that stops falling as fast
  as its recent trend also ends above the level: the warmup then holds while the loss curve bends
  (an unstable step often shows first as a loss that stops improving). Either way a lasting
  change (a new level, or a new pace) is accepted once it fills about half the window: the
  medians then follow it, and the warmup moves again. The extrapolated trend is itself noisy: on
  a flat or slowly falling loss with gaussian noise about one update in six is held (16% and 19%
  measured with the defaults). Each such episode also slows the warmup's pace (below), so on a
  noisy loss the warmup soon follows its longest plan; it ends near its shortest only on a loss
  that falls cleanly.

Each update's decision, from the worst result over the signals given (loss, and optionally the
gradient norm and the update-to-weight ratio, Kosson et al. 2024):

- no spike: **advance**, unless the last spike ended fewer than ``patience`` updates ago (then
  **hold**); how far an advance moves is the clock's *pace* (below);
- a spike: **hold** (position unchanged); a run of consecutive spike updates is one *episode*;
- a severe spike: **back** off once per episode, ``position = floor(position * backoff)``
  (the rate of a linear warmup falls by the same factor), then hold for the rest of the episode;
- every episode also multiplies the pace by ``slowdown``: after ``k`` episodes an advance moves
  the warmup ``slowdown ** k`` schedule steps (accumulated; the position is an integer), so the
  rate rises more slowly for the rest of the warmup. Why: a spike says the rate is near what
  training tolerates now, and the failure the demo measured at a high peak rate (a Post-LN
  Transformer that ends on a plateau) follows a fast rise of the rate with no loss spike at all;
  rising more slowly after a warning is what lets it train (the 2/(1-beta2) warmup, slow from the
  start, trains there);
- until the test can act (``lag`` + ``min_history`` updates) an update is untested and the
  clock **waits** (moves only with the longest plan; see :class:`~rampup.AdaptiveWarmup`);
- ``max_nonfinite`` consecutive non-finite losses raise :class:`~rampup.errors.ScheduleValueError`
  (training is broken; waiting would not fix it).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rampup.errors import ScheduleValueError, check_int, check_real

SIGNAL_NAMES = ("loss", "grad_norm", "update_ratio")
DECISIONS = ("advance", "hold", "back", "wait")
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): the MAD of normal noise times this is its standard deviation

Values = tuple[float | None, ...]  # one update's signals, in SIGNAL_NAMES order (None: not given)


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
        """Enter a finite value into the history."""
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
        slowdown: each spike episode multiplies the pace of the warmup (schedule steps per
            stable update) by this (1: the pace never changes; 0: after a spike the warmup
            follows its longest plan).
        patience: stable updates held after a spike episode ends before the warmup moves again.
        max_nonfinite: this many consecutive non-finite losses raise an error.

    Raises:
        ScheduleValueError: a field out of range, ``min_history > window`` or
            ``severe < threshold``.

    Examples:
        >>> from rampup import StabilityRule
        >>> rule = StabilityRule(threshold=4.0)
        >>> rule.threshold, rule.severe, rule.window
        (4.0, 6.0, 20)
        >>> StabilityRule(threshold=8.0)                 # severe (6) must not be below threshold
        Traceback (most recent call last):
        ...
        rampup.errors.ScheduleValueError: severe must be in [8, inf], got 6
    """

    window: int = 20
    min_history: int = 5
    threshold: float = 3.0
    severe: float = 6.0
    floor: float = 0.01
    backoff: float = 0.5
    patience: int = 0
    max_nonfinite: int = 10
    slowdown: float = 0.5

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
        check_real("slowdown", self.slowdown, low=0.0, high=1.0)
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

    def ready(self) -> bool:
        """Whether the loss test has the history it needs to act (``min_history`` values)."""
        return len(self.tests[0].history) >= self.rule.min_history

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

