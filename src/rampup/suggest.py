"""Read a learning-rate range test: smooth its loss curve and suggest a peak rate, with reasons.

Framework-free (numpy only): :func:`rampup.torch.find_lr` records the curve, this module reads it.
The same functions read curves recorded by any other tool.

The rule, on the smoothed curve against the logarithm of the rate:

1. **Smoothing.** ``S_i = A_i / (1 - beta^(i+1))`` with ``A_i = beta A_(i-1) + (1 - beta) L_i`` and
   ``A_(-1) = 0``: an exponential moving average of the raw losses ``L``, bias-corrected so that
   ``S_0 = L_0``. An average of the past lags behind the curve; each ``S_i`` is therefore placed at
   the same average of ``log10(lr)``, ``X_i`` (the centroid of its weights), not at the current
   rate. For a curve that is linear in log-rate over the window this placement is exact, so the
   smoothing shifts no feature of the curve to higher rates. The default ``beta = 0.5`` averages
   about three updates: enough to calm the noise, short enough to keep the sharp bend where a
   sweep turns unstable.
2. **The descent.** ``top`` is the median of the raw losses of the first 10% of the sweep (at
   least 5: the loss before the rate does anything). A fall ``top - m`` is usable when it exceeds
   ``needed``: ``noise_multiple`` times its own uncertainty (from the noise ``sigma`` of one raw
   loss, estimated from second differences: ``sigma * sqrt(pi / (2 n_top) + (1 - beta) /
   (1 + beta))``) and a ``min_drop`` share of ``|top|``. (Four times, because the minimum of a
   noisy curve lies below its true floor by one to two noise units: a flat, noisy curve must not
   pass for a descent.)
3. **Where the descent ends.** With ``m_i = min(S_0..S_i)`` the lowest smoothed loss so far, the
   descent ends at the first ``i`` after the start window where ``top - m_i`` is already a usable
   fall and the curve has turned clearly up: ``S_i - m_i > max(noise_multiple * sigma_s,
   rise * (top - m_i))``, with ``sigma_s = sigma * sqrt((1 - beta) / (1 + beta))`` the noise of
   one smoothed value and ``rise = 0.1``. ``bottom`` is the lowest smoothed loss before that
   point (the whole curve's minimum when it never turns up) and ``depth = top - bottom``; with
   no usable ``depth`` there is no suggestion, and the result says why. Past the first clear rise
   the sweep is training at rates that already overshoot: the loss there may recover and, by
   chance, dip below the first floor (momentum SGD with BatchNorm does, by a noisy amount that
   changes with the data order), and a bottom taken from that chaotic part makes the level below
   arbitrary. Measured on the demo's sweeps (``rampup.demo.probe.rampup_sweep``) over data
   orders 3 to 23 of the large-batch ResNet, none of them the probe report's: the whole curve's
   minimum put 4 of 21 suggestions at 0.5-0.67 against 0.076-0.115 for the rest (coefficient of
   variation 1.06); with the descent ending at its first clear rise they are 0.074-0.115 (0.13;
   0.13 on orders 12 to 23, which were not looked at while the rule was written). On the Post-LN
   Transformer (orders 3 to 20) 17 of 18 suggestions are unchanged (0.17 before, 0.18 after).
4. **The suggestion** is the first rate at which the smoothed curve reaches
   ``top - depth_fraction * depth`` (linearly interpolated in log-rate). With the
   default 0.9 it is where the sweep has made 90% of its fall: past it a larger rate buys little
   more descent and brings the rate at which the loss turns up close, so it sits below the
   bottom by however wide the curve's valley is, rather than by a fixed factor such as the
   "minimum / 10" rule. A level crossing depends on the whole descent, not on two neighbouring
   noisy points, so it moves little between runs (unlike the argmax of a numerical derivative).

The defaults were chosen on the demo's two models (``rampup demo --experiment probe``) and are the
same for both; nothing depends on the sweep's length or on hand-set ``skip_start``/``skip_end``
margins. The models do not agree on where the best training rate lies relative to the sweep
(``rampup.demo.probe_scale``, short runs at 1, 1.5, 2 and 3 times the median suggestion, 6-10
seeds each): the Post-LN Transformer's best is the suggestion itself and 1.5 times it stalls
(1.25x the loss); the large-batch ResNet's best is 1.5 times it, with momentum SGD (at the
suggestion 1.25x the loss) and with AdamW (1.07x). The difference follows the model, not the
optimizer, and no single ``depth_fraction`` or multiple moves all of them towards their best, so
the suggestion stays at the 90% point, below the Transformer's cliff.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rampup.errors import ScheduleValueError, check_real

__all__ = ["LRSuggestion", "smooth", "suggest_lr"]

BETA = 0.5
DEPTH_FRACTION = 0.9
NOISE_MULTIPLE = 4.0
MIN_DROP = 0.01
START_SHARE = 0.1
START_POINTS = 5
RISE = 0.1  # the descent ends when the curve climbs this share of its fall above its lowest point


def smooth(values: Sequence[float] | np.ndarray, beta: float = BETA) -> np.ndarray:
    """The bias-corrected exponential moving average of ``values`` (``S_0 = values[0]``).

    ``S_i = A_i / (1 - beta^(i+1))``, ``A_i = beta A_(i-1) + (1 - beta) v_i``, ``A_(-1) = 0``.
    """
    beta = check_real("beta", beta, low=0.0, high=1.0, high_open=True)
    data = np.asarray(values, dtype=np.float64)
    out = np.empty_like(data)
    average = 0.0
    weight = 1.0
    for i, value in enumerate(data):
        average = beta * average + (1.0 - beta) * value
        weight *= beta
        out[i] = average / (1.0 - weight) if weight < 1.0 else value
    return out


@dataclass(frozen=True)
class LRSuggestion:
    """A suggested rate and the reasoning behind it (``lr`` is None when there is none).

    ``log_lrs``/``smoothed`` are the curve the rule read (log10 of the rate each smoothed point
    stands for, and the smoothed loss); ``index`` is the point of the suggestion on that curve,
    ``region`` the rates from where the descent begins (10% of its depth) to its bottom (the
    lowest point before the curve first turns clearly up; ``minimum_lr`` is its rate).
    """

    lr: float | None
    reason: str
    index: int | None = None
    region: tuple[float, float] | None = None
    top: float | None = None
    bottom: float | None = None
    level: float | None = None
    noise: float | None = None
    minimum_lr: float | None = None
    log_lrs: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    smoothed: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    notes: tuple[str, ...] = ()


def _noise(raw: np.ndarray) -> float:
    """The noise of one loss reading: ``1.4826 * MAD(second differences) / sqrt(6)``.

    A second difference ``L_(i+1) - 2 L_i + L_(i-1)`` cancels a locally linear trend and has
    variance ``6 sigma^2`` for independent noise; the median absolute deviation ignores spikes.
    """
    if raw.size < 4:
        return 0.0
    second = raw[2:] - 2.0 * raw[1:-1] + raw[:-2]
    mad = float(np.median(np.abs(second - np.median(second))))
    return 1.4826 * mad / math.sqrt(6.0)


def _interpolate(x: np.ndarray, y: np.ndarray, level: float, i: int) -> float:
    """Where the segment from point ``i - 1`` (at or above ``level``) to ``i`` (below) crosses it."""
    if i == 0:
        return float(x[0])
    span = y[i - 1] - y[i]
    share = (y[i - 1] - level) / span if span > 0 else 0.0
    return float(x[i - 1] + share * (x[i] - x[i - 1]))


def _first_below(y: np.ndarray, level: float) -> int:
    """The first index at which ``y`` reaches ``level`` or below (there is one: the minimum)."""
    return int(np.argmax(y <= level))


def _last_above(y: np.ndarray, level: float, end: int) -> int:
    """The index after the last point at or above ``level`` before ``end`` (0 if none is)."""
    i = end
    while i > 0 and y[i - 1] < level:
        i -= 1
    return i


def _descent_end(y: np.ndarray, top: float, first: int, needed: float, turn: float) -> int:
    """The index of the first clear rise after a usable fall (``len(y)`` if there is none).

    With ``m_i`` the lowest value so far: the first ``i >= first`` with ``top - m_i > needed`` and
    ``y_i - m_i > max(turn, RISE * (top - m_i))``.
    """
    lowest = np.minimum.accumulate(y)
    for i in range(first, y.size):
        fall = top - float(lowest[i])
        if fall > needed and float(y[i] - lowest[i]) > max(turn, RISE * fall):
            return i
    return int(y.size)


def suggest_lr(
    lrs: Sequence[float] | np.ndarray,
    losses: Sequence[float] | np.ndarray,
    *,
    beta: float = BETA,
    depth_fraction: float = DEPTH_FRACTION,
    noise_multiple: float = NOISE_MULTIPLE,
    min_drop: float = MIN_DROP,
    stopped: bool = False,
) -> LRSuggestion:
    """Suggest a peak rate from a range test's rates and raw losses (see the module's rule).

    Args:
        lrs: the rate of each update, increasing.
        losses: the raw loss of each update; reading stops at the first non-finite one.
        beta: the smoothing factor of the moving average.
        depth_fraction: how far down the descent the suggestion sits (0.9: 90% of the fall).
        noise_multiple: how deep a descent must be to count, in units of the loss's noise.
        min_drop: how deep it must be as a share of the starting loss.
        stopped: the sweep ended early because the loss diverged (only changes the notes).
    """
    rates = np.asarray(lrs, dtype=np.float64)
    raw = np.asarray(losses, dtype=np.float64)
    if rates.ndim != 1 or raw.ndim != 1 or rates.size != raw.size:
        raise ScheduleValueError(
            f"lrs and losses must be 1-D and of equal length, got {rates.shape} and {raw.shape}"
        )
    if rates.size and (not np.all(np.isfinite(rates)) or np.any(rates <= 0)):
        raise ScheduleValueError("lrs must be finite and > 0")
    depth_fraction = check_real("depth_fraction", depth_fraction, low=0.0, high=1.0,
                                low_open=True, high_open=True)
    noise_multiple = check_real("noise_multiple", noise_multiple, low=0.0)
    min_drop = check_real("min_drop", min_drop, low=0.0)
    finite = np.isfinite(raw)
    usable = int(np.argmin(finite)) if not finite.all() else raw.size
    raw, rates = raw[:usable], rates[:usable]
    if usable < START_POINTS + 2:
        return LRSuggestion(None, f"no usable descent: only {usable} finite losses were recorded "
                                  f"(at least {START_POINTS + 2} are needed); lower min_lr")
    x = smooth(np.log10(rates), beta)
    y = smooth(raw, beta)
    first = max(START_POINTS, round(START_SHARE * usable))
    top = float(np.median(raw[:first]))
    # the noise from the part of the sweep up to the minimum, or its first half if that is longer
    # (second differences ignore the trend; their median ignores a chaotic tail)
    noise = _noise(raw[:max(int(np.argmin(y)) + 1, first, usable // 2)])
    # the uncertainty of a fall: a median of `first` readings (variance ~ pi/2 sigma^2 / n) and one
    # smoothed value (variance (1 - beta) / (1 + beta) sigma^2)
    spread = noise * math.sqrt(math.pi / (2 * first) + (1.0 - beta) / (1.0 + beta))
    needed = max(noise_multiple * spread, min_drop * abs(top))
    end = _descent_end(y, top, first, needed, noise_multiple * noise * math.sqrt((1.0 - beta) / (1.0 + beta)))
    bottom_index = int(np.argmin(y[:end]))
    bottom = float(y[bottom_index])
    depth = top - bottom
    common = {"top": top, "bottom": bottom, "noise": noise, "log_lrs": x, "smoothed": y,
              "minimum_lr": float(10 ** x[bottom_index])}
    if depth <= needed:
        reason = (f"no usable descent: the smoothed loss falls at most {max(depth, 0.0):.4g} below "
                  f"its start ({top:.4g}), which is within the noise (needs more than {needed:.4g}); "
                  "the rates swept are too small to train, or all too large, or the loss does not "
                  "respond to the rate")
        return LRSuggestion(None, reason, **common)  # type: ignore[arg-type]
    level = top - depth_fraction * depth
    # the first time the curve gets this far down: on a noisy, flat-bottomed valley a later
    # crossing could sit anywhere along the floor
    index = _first_below(y[:bottom_index + 1], level)
    where = _interpolate(x, y, level, index)
    begin_level = top - 0.1 * depth
    begin = _interpolate(x, y, begin_level, _last_above(y, begin_level, index))
    notes = []
    half = first // 2
    if index == 0 or float(np.median(raw[:half])) - float(np.median(raw[half:first])) > 0.1 * depth:
        notes.append("the loss was already falling at the first rates: lower min_lr to see the "
                     "start of the descent")
    if end == usable and bottom_index >= usable - 2 and not stopped:
        notes.append("the loss was still falling at the largest rate: raise max_lr to see the "
                     "bottom of the descent")
    suggestion = float(10 ** where)
    turned = (f", before it first turns up at {10 ** x[end]:.3g}" if end < usable else "")
    reason = (f"the smoothed loss falls from {top:.4g} (start) to {bottom:.4g} (the bottom of its "
              f"descent, at {10 ** x[bottom_index]:.3g}{turned}); the suggestion is where it has "
              f"fallen {depth_fraction:.0%} of the way ({level:.4g}), at {suggestion:.3g}")
    return LRSuggestion(
        suggestion, reason, index=index, region=(float(10 ** begin), float(10 ** x[bottom_index])),
        level=level, notes=tuple(notes), **common,  # type: ignore[arg-type]
    )
