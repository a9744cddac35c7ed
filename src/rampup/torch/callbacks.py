"""Callbacks that feed an adaptive warmup from Lightning and from transformers' Trainer.

Both frameworks step the scheduler themselves, once per optimizer update and without arguments,
so the loss cannot be passed as ``scheduler.step(loss=loss)``. These callbacks collect the loss of
the update in progress and hand it to the scheduler's :class:`~rampup.AdaptiveWarmup` clock with
``clock.observe(...)`` just before the optimizer steps; the framework's ``scheduler.step()`` then
uses it. Nothing is read from the device here (the clock reads tensors ``lag`` updates later).

- :func:`lightning_callback` (``lightning.pytorch.Callback``): the loss Lightning passes to
  ``backward`` (already divided by ``accumulate_grad_batches``), summed over the micro-batches of
  the update, i.e. the update's mean loss; and the gradient norm (all parameters' gradients,
  after AMP unscaling, before clipping). Automatic optimization only.
- :func:`trainer_callback` (``transformers.TrainerCallback``): the ``loss`` the model returns
  (``outputs.loss``, as Trainer's default ``compute_loss`` uses it), averaged over the
  micro-batches of the update, captured with a forward hook on the model while it trains. Trainer
  clips gradients before any callback sees them, so no gradient norm is fed (a clipped norm hides
  the spikes it should show).

The frameworks are imported when a callback is built, not when this module is.
"""

from __future__ import annotations

from typing import Any

import torch

from rampup.errors import ScheduleValueError

__all__ = ["lightning_callback", "trainer_callback"]


def _adaptive_clocks(schedulers: Any) -> list[Any]:
    from rampup.adaptive import AdaptiveWarmup

    found = []
    for scheduler in schedulers:
        clock = getattr(scheduler, "clock", None)
        if isinstance(clock, AdaptiveWarmup):
            found.append(clock)
    return found


def _grad_norm(parameters: Any) -> torch.Tensor | None:
    norms = [p.grad.detach().float().norm() for p in parameters if p.grad is not None]
    if not norms:
        return None
    total: torch.Tensor = torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))
    return total


def lightning_callback(grad_norm: bool = True) -> Any:
    """A Lightning callback feeding every rampup adaptive warmup of the fit (see the module doc).

    Use with a rampup Scheduler built with ``clock=rampup.AdaptiveWarmup(...)`` and stepped per
    update (``lr_scheduler_config(..., scheduler_options={"clock": AdaptiveWarmup(...)})``)::

        trainer = L.Trainer(callbacks=[rampup.torch.callbacks.lightning_callback()], ...)
    """
    from lightning.pytorch.callbacks import Callback

    class AdaptiveWarmupFeed(Callback):  # type: ignore[misc]
        """Feeds the update's loss (and gradient norm) to rampup's adaptive warmup clocks."""

        def __init__(self) -> None:
            self.loss: torch.Tensor | None = None

        def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
            value = loss.detach()
            self.loss = value if self.loss is None else self.loss + value

        def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
            clocks = _adaptive_clocks(c.scheduler for c in trainer.lr_scheduler_configs)
            loss, self.loss = self.loss, None
            if not clocks or loss is None:
                return
            norm = _grad_norm(pl_module.parameters()) if grad_norm else None
            for clock in clocks:
                clock.observe(loss=loss, grad_norm=norm)

    return AdaptiveWarmupFeed()


def trainer_callback() -> Any:
    """A transformers ``TrainerCallback`` feeding the scheduler's adaptive warmup (see the module
    doc). Pass the rampup Scheduler in ``optimizers=(optimizer, scheduler)`` (or set
    ``trainer.lr_scheduler``) and ``callbacks=[rampup.torch.callbacks.trainer_callback()]``."""
    from transformers import TrainerCallback

    class AdaptiveWarmupFeed(TrainerCallback):  # type: ignore[misc]
        """Feeds the update's mean loss to the Trainer's rampup adaptive warmup clock."""

        def __init__(self) -> None:
            self.total: torch.Tensor | None = None
            self.count = 0
            self.handle: Any = None

        def _capture(self, module: Any, inputs: Any, output: Any) -> None:
            if not (module.training and torch.is_grad_enabled()):
                return  # evaluation, or a forward outside training
            loss = getattr(output, "loss", None)
            if loss is None and isinstance(output, dict):
                loss = output.get("loss")
            if not isinstance(loss, torch.Tensor):
                return
            value = loss.detach().float().mean()
            self.total = value if self.total is None else self.total + value
            self.count += 1

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                           **kwargs: Any) -> None:
            if self.handle is None and model is not None:
                self.handle = model.register_forward_hook(self._capture)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.handle is not None:
                self.handle.remove()
                self.handle = None

        def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, lr_scheduler: Any = None,
                                  **kwargs: Any) -> None:
            total, count = self.total, self.count
            self.total, self.count = None, 0
            clocks = _adaptive_clocks([lr_scheduler])
            if not clocks or clocks[0].done:
                return
            if total is None:
                raise ScheduleValueError(
                    "loss: the model returned no loss during this update (outputs.loss), so the "
                    "adaptive warmup has nothing to watch; pass labels so the model computes its "
                    "loss, or step the scheduler yourself with scheduler.step(loss=loss)"
                )
            clocks[0].observe(loss=total / count)

    return AdaptiveWarmupFeed()
