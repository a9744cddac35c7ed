"""The learning-rate range test on the caller's own model, restored bit for bit afterwards.

``find_lr`` trains for ``steps`` updates while the rate grows exponentially from ``min_lr`` to
``max_lr`` (``lr_i = min_lr * (max_lr / min_lr) ** (i / (steps - 1))``), records the loss of each
update, and reads the curve with :func:`rampup.suggest.suggest_lr` (the rule is documented
there). Every parameter group keeps its ratio to the group with the largest rate, which follows
the sweep. Afterwards the model, the optimizer and the random number generators are exactly as
they were (:class:`~rampup.torch.probe_state.TrainingState`), also when the sweep stops early or
the caller's code raises.

Two forms:

- ``find_lr(model, optimizer, loss_fn, data)``: ``loss_fn(model, batch)`` returns the scalar loss
  of one batch; rampup calls ``zero_grad``, ``backward`` and ``optimizer.step()``.
- ``find_lr(model, optimizer, update=update)``: ``update()`` makes one whole training update itself
  (AMP with a ``GradScaler``, gradient accumulation, clipping, any custom step) and returns its
  loss; rampup only sets the rates before each call. Pass the scaler (and anything else with a
  ``state_dict``) as ``restore=[scaler]`` to have it restored as well.

Under ``torchrun`` every process must call ``find_lr``; the loss of each update is averaged over
the processes, so all of them see the same curve, stop at the same update and get the same
suggestion. Only rank 0 writes the figure.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim import Optimizer

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int, check_real
from rampup.suggest import BETA, LRSuggestion, suggest_lr
from rampup.torch.groups import as_float, write_rate
from rampup.torch.probe_state import TrainingState, loader_generators, step_observers_suspended

__all__ = ["LRFinderResult", "find_lr"]

LossFn = Callable[[nn.Module, Any], torch.Tensor]
Update = Callable[[], Any]


def world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, else (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def check_model(model: object, optimizer: object) -> tuple[nn.Module, Optimizer]:
    if not isinstance(model, nn.Module):
        raise ScheduleTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise ScheduleTypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ScheduleValueError("model has no trainable parameters (none has requires_grad=True): "
                                 "there is nothing for a learning rate to move")
    if not any(p.requires_grad for group in optimizer.param_groups for p in group["params"]):
        raise ScheduleValueError("optimizer has no trainable parameters in its parameter groups")
    return model, optimizer


def check_rates(min_lr: object, max_lr: object) -> tuple[float, float]:
    low = check_real("min_lr", min_lr, low=0.0, low_open=True)
    high = check_real("max_lr", max_lr, low=0.0, low_open=True)
    if low >= high:
        raise ScheduleValueError(f"min_lr must be below max_lr, got min_lr={low:g} >= max_lr={high:g}")
    return low, high


def group_ratios(optimizer: Optimizer) -> list[float]:
    """Each group's rate relative to the largest (the group's ``initial_lr`` if a scheduler set one).

    The sweep sets group ``g`` to ``lr * ratio_g``, so groups keep their proportions; if every rate
    is 0 (a warmup from 0 attached without ``initial_lr``) all groups follow the sweep alike.
    """
    bases = [as_float(group.get("initial_lr", group["lr"])) for group in optimizer.param_groups]
    for base in bases:
        if not math.isfinite(base) or base < 0:
            raise ScheduleValueError(f"optimizer has a parameter group with rate {base}: rates must be "
                                     "finite and >= 0")
    largest = max(bases)
    return [base / largest for base in bases] if largest > 0 else [1.0] * len(bases)


def set_rates(optimizer: Optimizer, lr: float, ratios: Sequence[float]) -> None:
    for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
        write_rate(group, lr * ratio)


def check_loss(loss: object, where: str) -> torch.Tensor:
    """The loss as a tensor with one element that can be differentiated, or a RampupError."""
    if not isinstance(loss, torch.Tensor):
        raise ScheduleTypeError(f"{where} must return the loss as a scalar torch.Tensor, got "
                                f"{type(loss).__name__}")
    if loss.numel() != 1:
        raise ScheduleValueError(f"{where} must return a scalar loss, got a tensor of shape "
                                 f"{tuple(loss.shape)} (reduce it, e.g. with .mean())")
    if not loss.requires_grad:
        raise ScheduleValueError(f"{where} returned a loss that does not depend on any trainable "
                                 "parameter (requires_grad=False): it cannot be trained")
    return loss


def read_loss(loss: object, where: str) -> float:
    """One loss as a float, averaged over the processes of a process group."""
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise ScheduleValueError(f"{where} must return a scalar loss, got a tensor of shape "
                                     f"{tuple(loss.shape)}")
        value = loss.detach().reshape(()).to(torch.float64)
    elif isinstance(loss, (int, float)) and not isinstance(loss, bool):
        value = torch.tensor(float(loss), dtype=torch.float64)
    else:
        raise ScheduleTypeError(f"{where} must return the loss (a number or a scalar tensor), got "
                                f"{type(loss).__name__}")
    _, size = world()
    if size > 1:
        if dist.get_backend() == "nccl" and value.device.type != "cuda":
            value = value.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(value)
        value = value / size
    return float(value)


def batches_needed(data: object, count: int, what: str) -> Iterable[Any]:
    """``data``, after checking that it is iterable and (when it has a length) holds ``count``.

    The caller makes the iterator only after copying the random state: iterating a DataLoader
    draws a seed from torch's generator."""
    if isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise ScheduleTypeError(f"data must be an iterable of batches (a DataLoader), got "
                                f"{type(data).__name__}")
    length = None
    with contextlib.suppress(TypeError):  # an iterable without a length is checked as it runs
        length = len(data)  # type: ignore[arg-type]
    if length is not None and length < count:
        raise ScheduleValueError(f"data has {length} batches but {what} needs {count} (one per "
                                 "update): give a longer iterable or fewer steps")
    return data


def next_batch(batches: Iterator[Any], done: int, count: int, what: str) -> Any:
    try:
        return next(batches)
    except StopIteration:
        if done == 0:
            raise ScheduleValueError(f"data is empty: {what} needs {count} batches") from None
        raise ScheduleValueError(f"data ran out after {done} batches: {what} needs {count} (one per "
                                 "update); give a longer iterable or fewer steps") from None


@dataclass
class LRFinderResult:
    """What a range test measured and what it suggests.

    ``lrs[i]`` is the rate of update ``i`` (of the group with the largest rate; the others ran at
    ``lrs[i] * group_ratios[g]``), ``raw_losses[i]`` its loss and ``losses[i]`` the smoothed loss.
    ``suggestion`` is the suggested peak rate, or None when the curve has no usable descent;
    ``reason`` says how it was chosen (or why there is none) and ``details`` holds the numbers.

    Examples:
        >>> from rampup.torch import find_lr
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.randn(20, 8, 4)
        >>> data = [(xb, xb.sum(1, keepdim=True)) for xb in x]          # 20 batches of 8
        >>> def loss_fn(model, batch):
        ...     return torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        >>> before = model.weight.clone()
        >>> result = find_lr(model, opt, loss_fn, data, min_lr=1e-3, max_lr=0.1, steps=10)
        >>> len(result.lrs) == len(result.raw_losses) == len(result.losses) <= 10
        True
        >>> result.group_ratios, result.group_lrs(0.05)  # one group: the peak itself
        ([1.0], [0.05])
    """

    lrs: list[float]
    raw_losses: list[float]
    losses: list[float]
    suggestion: float | None
    reason: str
    details: LRSuggestion
    stopped_early: bool
    stop_reason: str
    group_ratios: list[float]
    min_lr: float
    max_lr: float
    steps: int
    rank: int = 0
    notes: tuple[str, ...] = field(default=())

    def group_lrs(self, lr: float | None = None) -> list[float]:
        """The rate of every parameter group for a peak ``lr`` (default: the suggestion)."""
        peak = self.suggestion if lr is None else lr
        if peak is None:
            raise ScheduleValueError(f"there is no suggestion to spread over the groups: {self.reason}")
        return [peak * ratio for ratio in self.group_ratios]

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready (non-finite losses as None)."""
        def clean(values: Sequence[float]) -> list[float | None]:
            return [v if math.isfinite(v) else None for v in values]

        return {
            "suggestion": self.suggestion, "reason": self.reason, "notes": list(self.notes),
            "region": list(self.details.region) if self.details.region else None,
            "minimum_lr": self.details.minimum_lr, "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason, "lrs": self.lrs, "raw_losses": clean(self.raw_losses),
            "losses": clean(self.losses),
            "smoothed_lrs": [float(10 ** v) for v in self.details.log_lrs],  # where the rule reads them
            "group_ratios": self.group_ratios,
            "min_lr": self.min_lr, "max_lr": self.max_lr, "steps": self.steps,
        }

    def __str__(self) -> str:
        head = (f"suggested peak rate: {self.suggestion:.3g}" if self.suggestion is not None
                else "no suggestion")
        lines = [head, f"why: {self.reason}", f"sweep: {len(self.lrs)} updates from {self.min_lr:g} "
                 f"towards {self.max_lr:g}; {self.stop_reason}"]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike[str], *, title: str | None = None) -> Path | None:
        """Write a figure (PNG, SVG or PDF by suffix): raw and smoothed loss against the rate (log
        scale), the descent the suggestion came from, the suggestion and the minimum. Only rank 0
        of a process group writes; other ranks return None."""
        from rampup._files import write_atomic
        from rampup.plot import IMAGE_SUFFIXES

        target = Path(path)
        suffix = target.suffix.lower()
        if suffix not in IMAGE_SUFFIXES:
            raise ScheduleValueError(f"path must end in {', '.join(IMAGE_SUFFIXES)}, got {target.name!r}")
        if self.rank != 0:
            return None
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7.5, 4.2), dpi=110)
        axes = figure.add_subplot()
        raw = np.asarray(self.raw_losses, dtype=np.float64)
        details = self.details
        axes.plot(self.lrs, raw, ".", color="0.65", markersize=3, label="loss of each update")
        if details.smoothed.size:
            axes.plot(10 ** details.log_lrs, details.smoothed, color="C0", linewidth=1.8,
                      label="smoothed (placed at the rates it averages)")
        if details.region is not None:
            axes.axvspan(*details.region, color="C2", alpha=0.12, label="descent")
        if details.minimum_lr is not None and details.bottom is not None:
            axes.plot([details.minimum_lr], [details.bottom], "v", color="C3",
                      label=f"bottom of the descent at {details.minimum_lr:.3g}")
        if self.suggestion is not None and details.level is not None:
            axes.axvline(self.suggestion, color="C1", linewidth=1.5,
                         label=f"suggestion {self.suggestion:.3g}")
            axes.plot([self.suggestion], [details.level], "o", color="C1")
        finite = raw[np.isfinite(raw)]
        if finite.size and details.top is not None and details.bottom is not None:
            span = max(details.top - details.bottom, 1e-12)
            axes.set_ylim(min(float(finite.min()), details.bottom) - 0.1 * span,
                          details.top + 0.6 * span)
        axes.set_xscale("log")
        axes.set_xlabel("learning rate (log scale)")
        axes.set_ylabel("training loss")
        axes.set_title(title or "learning-rate range test", fontsize=10)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=7, loc="lower left")
        wrapped = _wrap(self.reason, 110)
        figure.text(0.01, 0.01, wrapped, fontsize=6.5, va="bottom")
        figure.tight_layout(rect=(0, 0.07, 1, 1))
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:])
        write_atomic(target, buffer.getvalue())
        return target


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def find_lr(
    model: nn.Module,
    optimizer: Optimizer,
    loss_fn: LossFn | None = None,
    data: Iterable[Any] | None = None,
    *,
    update: Update | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    beta: float = BETA,
    diverge: float = 4.0,
    patience: int = 3,
    restore: Sequence[Any] = (),
) -> LRFinderResult:
    """Run a learning-rate range test and suggest a peak rate; leaves everything as it was.

    Args:
        model: the model being trained (a DistributedDataParallel wrapper is fine).
        optimizer: its optimizer; each group keeps its ratio to the largest group rate.
        loss_fn: ``loss_fn(model, batch)`` -> the scalar loss of one batch (first form).
        data: an iterable with at least ``steps`` batches, e.g. a DataLoader (first form). An
            iterator is consumed; a DataLoader's shuffling generator is restored.
        update: instead of ``loss_fn``/``data``, a function making one whole training update
            (forward, backward, ``optimizer.step()``) and returning its loss (second form).
        min_lr: the first rate of the exponential sweep.
        max_lr: its last rate.
        steps: updates in the sweep (>= 10).
        beta: the smoothing factor of the bias-corrected moving average of the loss.
        diverge: the sweep stops once the loss of ``patience`` consecutive updates is above
            ``diverge`` times the lowest smoothed loss so far (for a loss near or below 0: above
            it by ``diverge - 1`` times the fall from the start), so a lone spike does not stop
            it; and at once when a loss is not finite.
        patience: the consecutive updates above that level that stop the sweep.
        restore: more objects with ``state_dict``/``load_state_dict`` (a ``GradScaler``) to restore.

    In the first form the model is in training mode during the sweep and gets its modes back
    afterwards. Raises a RampupError naming the argument, before any update, on bad input.

    The rate of update ``i`` is ``min_lr * (max_lr / min_lr) ** (i / (steps - 1))``.

    The suggestion is a safe peak rather than always the best one: on the demo's Post-LN
    Transformer the best short runs are at the suggestion and 1.5 times it stalls, while on its
    BatchNorm ResNet (momentum SGD or AdamW) the best is 1.5 times the suggestion
    (``make demo-probe-scale``; the probe guide has the numbers).

    Examples:
        >>> from rampup.torch import find_lr
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> x = torch.randn(20, 8, 4)
        >>> data = [(xb, xb.sum(1, keepdim=True)) for xb in x]          # 20 batches of 8
        >>> def loss_fn(model, batch):
        ...     return torch.nn.functional.mse_loss(model(batch[0]), batch[1])
        >>> before = model.weight.clone()
        >>> result = find_lr(model, opt, loss_fn, data, min_lr=1e-5, max_lr=0.1, steps=20)
        >>> len(result.lrs), result.lrs[0], round(result.lrs[-1], 6)   # 1e-5 * 10**4 at i = 19
        (20, 1e-05, 0.1)
        >>> result.suggestion is None or result.suggestion > 0
        True
        >>> torch.equal(model.weight, before), opt.param_groups[0]["lr"]   # left as they were
        (True, 0.1)
    """
    model, optimizer = check_model(model, optimizer)
    low, high = check_rates(min_lr, max_lr)
    count = check_int("steps", steps, minimum=10)
    beta = check_real("beta", beta, low=0.0, high=1.0, high_open=True)
    diverge = check_real("diverge", diverge, low=1.0, low_open=True)
    patience = check_int("patience", patience, minimum=1)
    for item in restore:
        if not (callable(getattr(item, "state_dict", None))
                and callable(getattr(item, "load_state_dict", None))):
            raise ScheduleTypeError(f"every entry of restore needs state_dict() and load_state_dict(), "
                                    f"got {type(item).__name__}")
    source: Iterable[Any] | None = None
    if update is not None:
        if loss_fn is not None or data is not None:
            raise ScheduleTypeError("give either loss_fn and data, or update, not both")
        if not callable(update):
            raise ScheduleTypeError(f"update must be callable, got {type(update).__name__}")
    else:
        if loss_fn is None or not callable(loss_fn):
            raise ScheduleTypeError("loss_fn must be a function loss_fn(model, batch) -> loss (or give "
                                    "update=... for a custom training step)")
        if data is None:
            raise ScheduleTypeError("data is missing: give an iterable of batches (a DataLoader)")
        source = batches_needed(data, count, f"steps={count}")
    ratios = group_ratios(optimizer)
    rank, _ = world()
    rates = [low * (high / low) ** (i / (count - 1)) for i in range(count)]

    state = TrainingState(model, optimizer, restore, loader_generators(data))
    raw: list[float] = []
    smoothed: list[float] = []
    stop_reason = f"ran all {count} updates"
    stopped = False
    with step_observers_suspended(optimizer):
        try:
            batches = None if source is None else iter(source)
            if batches is not None:
                model.train()
            average, weight, best, start, above = 0.0, 1.0, math.inf, 0.0, 0
            for i, lr in enumerate(rates):
                set_rates(optimizer, lr, ratios)
                if batches is not None:
                    assert loss_fn is not None
                    batch = next_batch(batches, i, count, f"steps={count}")
                    loss = check_loss(loss_fn(model, batch), "loss_fn")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()  # type: ignore[no-untyped-call]
                    optimizer.step()
                    value = read_loss(loss, "loss_fn")
                else:
                    assert update is not None
                    value = read_loss(update(), "update")
                raw.append(value)
                if not math.isfinite(value):
                    smoothed.append(math.nan)
                    stop_reason = f"stopped at update {i + 1}: the loss became {value}"
                    stopped = True
                    break
                average = beta * average + (1.0 - beta) * value
                weight *= beta
                current = average / (1.0 - weight)
                smoothed.append(current)
                if i == 0:
                    start = current
                best = min(best, current)
                # diverge x the lowest smoothed loss, measured from 0 for a positive loss and from the
                # start's distance for a loss near or below 0
                limit = best + (diverge - 1.0) * max(abs(best), start - best)
                above = above + 1 if value > limit else 0
                if above >= patience:
                    stop_reason = (f"stopped at update {i + 1} (rate {lr:.3g}): the loss of {patience} "
                                   f"updates in a row was above {diverge:g} x its lowest smoothed value")
                    stopped = True
                    break
        finally:
            state.restore()
    details = suggest_lr(rates[:len(raw)], raw, beta=beta, stopped=stopped)
    return LRFinderResult(
        lrs=rates[:len(raw)], raw_losses=raw, losses=smoothed, suggestion=details.lr,
        reason=details.reason, details=details, stopped_early=stopped, stop_reason=stop_reason,
        group_ratios=ratios, min_lr=low, max_lr=high, steps=count, rank=rank, notes=details.notes,
    )
