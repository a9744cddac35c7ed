"""Where warmup can start: the largest rate the untrained network takes without a loss catapult.

Kalra & Barkeshli (2024, "Why Warmup the Learning Rate?", arXiv 2406.09405) find that warmup's
main benefit is to carry the network to regions that tolerate a large rate, and that a warmup can
start at the critical rate ``eta_c`` of the initial network instead of at 0: below ``eta_c`` a
few updates lower the loss, above it the loss first shoots up (a "catapult") before it comes down,
or diverges. Starting at ``eta_c`` saves the warmup steps spent below it.

:func:`critical_lr` measures ``eta_c`` on the caller's model, from its current weights:

- it takes the first ``updates`` batches of ``data`` and records the loss of each at the current
  weights (``reference[k]``, no update made);
- a *trial* at rate ``eta`` makes ``updates`` updates at that constant rate, update ``k`` on batch
  ``k``, and then reads the loss of batch 0 once more. It *catapults* when some loss is not finite
  or rises clearly above the same batch's reference: ``loss[k] > reference[k] + rise * |reference[k]|``
  (comparing each batch with itself removes the batch-to-batch noise);
- the rates are searched by bisection in log space between ``min_lr`` (must not catapult) and
  ``max_lr`` (must), until the bracket is narrower than a factor ``10 ** precision``; the critical
  rate is the largest rate found not to catapult.

Before every trial, and at the end, the model, optimizer and random number generators are put
back bit for bit (:class:`~rampup.torch.probe_state.TrainingState`), so each trial starts from
the same weights and draws the same random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int, check_real
from rampup.schedules import Schedule, Warmup, with_warmup
from rampup.torch.lr_finder import (
    LossFn,
    batches_needed,
    check_loss,
    check_model,
    check_rates,
    group_ratios,
    next_batch,
    read_loss,
    set_rates,
)
from rampup.torch.probe_state import TrainingState, loader_generators, step_observers_suspended

__all__ = ["CriticalLRResult", "Trial", "critical_lr"]


@dataclass(frozen=True)
class Trial:
    """One trial: its rate, the loss of each update (then batch 0 again), and the verdict."""

    lr: float
    losses: tuple[float, ...]
    catapult: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "losses": [v if math.isfinite(v) else None for v in self.losses],
                "catapult": self.catapult, "why": self.why}


@dataclass(frozen=True)
class CriticalLRResult:
    """The critical rate and the evidence: every trial in the order it ran.

    ``rate`` is the largest rate found not to catapult (``None`` if even ``min_lr`` did);
    ``catapult_rate`` the smallest found to catapult (``None`` if even ``max_lr`` did not).

    Examples:
        >>> from rampup.torch.critical import CriticalLRResult
        >>> result = CriticalLRResult(rate=0.125, catapult_rate=0.25, reference=(1.0,), trials=(),
        ...                           reason="", updates=5, rise=0.05)
        >>> result.start_fraction(0.5)                  # 0.125 / 0.5
        0.25
        >>> result.suggested_steps(0.5, usual_steps=100)   # ceil(100 * (1 - 0.25))
        75
        >>> result.warmup(0.5, usual_steps=100)
        Warmup(steps=75, curve='linear', start=0.25, endpoints='end')
    """

    rate: float | None
    catapult_rate: float | None
    reference: tuple[float, ...]
    trials: tuple[Trial, ...]
    reason: str
    updates: int
    rise: float
    group_ratios: list[float] = field(default_factory=list)

    def start_fraction(self, peak_lr: float) -> float:
        """Where a warmup to ``peak_lr`` can start, as a fraction of it: ``min(1, rate / peak_lr)``."""
        peak = check_real("peak_lr", peak_lr, low=0.0, low_open=True)
        if self.rate is None:
            raise ScheduleValueError(f"there is no critical rate to start from: {self.reason}")
        return min(1.0, self.rate / peak)

    def suggested_steps(self, peak_lr: float, usual_steps: int) -> int:
        """The part of a usual linear warmup from 0 over ``usual_steps`` that runs above the
        critical rate, at the same slope: ``ceil(usual_steps * (1 - rate / peak_lr))``.

        The steps below the critical rate are the ones Kalra & Barkeshli find can be skipped.
        """
        steps = check_int("usual_steps", usual_steps, minimum=0)
        return math.ceil(steps * (1.0 - self.start_fraction(peak_lr)) - 1e-9)

    def warmup(self, peak_lr: float, steps: int | None = None, *, usual_steps: int | None = None,
               curve: str = "linear") -> Warmup:
        """A warmup from the critical rate to ``peak_lr``: ``Warmup(steps, start=rate/peak_lr)``.

        ``steps``: its length; or ``usual_steps``, the warmup from 0 you would otherwise use, to
        get :meth:`suggested_steps` of it. A critical rate at or above the peak needs no warmup
        (``start`` 1, and 0 suggested steps).
        """
        if (steps is None) == (usual_steps is None):
            raise ScheduleTypeError("give either steps (the warmup's length) or usual_steps (the "
                                    "warmup from 0 it replaces), not both or neither")
        start = self.start_fraction(peak_lr)
        length = self.suggested_steps(peak_lr, usual_steps) if usual_steps is not None else steps
        return Warmup(steps=length, start=start, curve=curve)  # type: ignore[arg-type]

    def schedule(self, main: Schedule, peak_lr: float, steps: int | None = None, *,
                 usual_steps: int | None = None) -> Schedule:
        """``main`` after a linear warmup from the critical rate (see :meth:`warmup`)."""
        ramp = self.warmup(peak_lr, steps, usual_steps=usual_steps)
        return with_warmup(main, ramp.steps, start=ramp.start)

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "catapult_rate": self.catapult_rate, "reason": self.reason,
                "reference": list(self.reference), "updates": self.updates, "rise": self.rise,
                "trials": [t.to_dict() for t in self.trials]}

    def __str__(self) -> str:
        rate = "none" if self.rate is None else f"{self.rate:.3g}"
        return f"critical rate: {rate} ({len(self.trials)} trials)\nwhy: {self.reason}"


def _judge(losses: Sequence[float], reference: Sequence[float], rise: float) -> tuple[bool, str]:
    for k, (value, ref) in enumerate(zip(losses, reference, strict=True)):
        if not math.isfinite(value):
            return True, f"the loss of update {k + 1} was {value}"
        if value > ref + rise * abs(ref):
            return True, (f"update {k + 1}: loss {value:.4g} > {ref:.4g} at the start on the same "
                          f"batch (+{(value - ref) / abs(ref) if ref else math.inf:.0%})")
    return False, "every loss stayed below its batch's starting loss + the allowed rise"


def critical_lr(
    model: nn.Module,
    optimizer: Optimizer,
    loss_fn: LossFn,
    data: Iterable[Any],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    updates: int = 5,
    rise: float = 0.05,
    precision: float = 0.05,
    restore: Sequence[Any] = (),
) -> CriticalLRResult:
    """Find the largest rate that does not catapult the loss from the current weights.

    Args:
        model: the (untrained) model.
        optimizer: its optimizer; the groups keep their ratios to each other.
        loss_fn: ``loss_fn(model, batch)`` -> the scalar loss of one batch.
        data: an iterable with at least ``updates`` batches; the first ``updates`` are used by
            every trial.
        min_lr: the low end of the bracket searched (bisection in log10 space).
        max_lr: the high end of the bracket.
        updates: updates per trial (>= 1).
        rise: how far above the same batch's starting loss counts as a catapult (a share of it).
        precision: stop when ``log10(catapult rate / critical rate) <= precision``.
        restore: more objects with ``state_dict``/``load_state_dict`` to restore.

    Returns the rate and the evidence; the model, optimizer and RNGs are left as they were.

    Examples:
        >>> from rampup.torch import critical_lr
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.randn(20, 8, 4)
        >>> data = [(xb, xb.sum(1, keepdim=True)) for xb in x]          # 20 batches of 8
        >>> def loss_fn(model, batch):
        ...     return torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        >>> before = model.weight.clone()
        >>> result = critical_lr(model, opt, loss_fn, data, min_lr=1e-4, max_lr=10.0, updates=3)
        >>> result.trials[0].lr                          # the first trial runs at max_lr
        10.0
        >>> result.rate is None or 1e-4 <= result.rate <= 10.0
        True
        >>> torch.equal(model.weight, before)            # left as it was
        True
    """
    model, optimizer = check_model(model, optimizer)
    low, high = check_rates(min_lr, max_lr)
    count = check_int("updates", updates, minimum=1)
    rise = check_real("rise", rise, low=0.0, low_open=True)
    precision = check_real("precision", precision, low=0.0, low_open=True)
    if not callable(loss_fn):
        raise ScheduleTypeError(f"loss_fn must be a function loss_fn(model, batch) -> loss, got "
                                f"{type(loss_fn).__name__}")
    what = f"updates={count}"
    source = batches_needed(data, count, what)
    ratios = group_ratios(optimizer)
    state = TrainingState(model, optimizer, restore, loader_generators(data))
    trials: list[Trial] = []
    with step_observers_suspended(optimizer):
        try:
            iterator = iter(source)
            batches = [next_batch(iterator, k, count, what) for k in range(count)]
            model.train()
            reference = _reference(model, loss_fn, batches)
            state.restore()

            def run(lr: float) -> bool:
                losses = _trial(model, optimizer, loss_fn, batches, lr, ratios, state)
                state.restore()
                catapult, why = _judge(losses, [*reference, reference[0]], rise)
                trials.append(Trial(lr, tuple(losses), catapult, why))
                return catapult

            if not run(high):
                rate, over = high, None
                reason = (f"no catapult even at max_lr={high:g}: the critical rate is at least that; "
                          "raise max_lr to find it")
            elif run(low):
                rate, over = None, low
                reason = (f"the loss catapults already at min_lr={low:g}: lower min_lr, or the model "
                          "does not train from these weights")
            else:
                below, over = low, high
                while math.log10(over / below) > precision:
                    middle = math.sqrt(below * over)
                    if run(middle):
                        over = middle
                    else:
                        below = middle
                rate = below
                reason = (f"{rate:.3g} is the largest rate found whose {count} updates kept every loss "
                          f"within +{rise:.0%} of its batch's starting loss; {over:.3g} catapulted "
                          f"({next(t.why for t in reversed(trials) if t.lr == over)})")
        finally:
            state.restore()
    return CriticalLRResult(rate=rate, catapult_rate=over, reference=tuple(reference),
                            trials=tuple(trials), reason=reason, updates=count, rise=rise,
                            group_ratios=ratios)


def _reference(model: nn.Module, loss_fn: LossFn, batches: list[Any]) -> list[float]:
    values = []
    for batch in batches:
        loss = check_loss(loss_fn(model, batch), "loss_fn")
        values.append(read_loss(loss, "loss_fn"))
    if not all(math.isfinite(v) for v in values):
        raise ScheduleValueError(f"loss_fn gave a non-finite loss at the starting weights: {values}")
    return values


def _trial(model: nn.Module, optimizer: Optimizer, loss_fn: LossFn, batches: list[Any], lr: float,
           ratios: Sequence[float], state: TrainingState) -> list[float]:
    set_rates(optimizer, lr, ratios)
    losses = []
    for batch in batches:
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        value = read_loss(loss, "loss_fn")
        losses.append(value)
        if not math.isfinite(value):
            return losses + [math.nan] * (len(batches) - len(losses) + 1)
    # batch 0 again, with the random numbers (dropout) its reference reading drew
    state.restore_rng()
    with torch.no_grad():
        losses.append(read_loss(loss_fn(model, batches[0]), "loss_fn"))
    return losses
