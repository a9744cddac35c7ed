"""The range test inside Lightning and transformers: their own training step, optimizer and data.

- :func:`find_lr_lightning` runs :func:`~rampup.torch.find_lr` on a ``LightningModule``: the
  optimizer from its ``configure_optimizers`` (or one you pass), the loss from its own
  ``training_step`` (a tensor, or a dict with ``"loss"``), batches from the dataloader you give, a
  ``LightningDataModule``'s or the module's ``train_dataloader``, moved to the module's device
  through its batch-transfer hooks.
- :func:`find_lr_trainer` runs it on a transformers ``Trainer``: its model, its optimizer (built
  the way ``train()`` would build it, then dropped again if the Trainer had none), its training
  dataloader, ``compute_loss``, its gradient accumulation and its gradient clipping, so one sweep
  update is one real Trainer update.

Neither imports Lightning or transformers; both leave the model, the optimizer and the random
number generators exactly as they were.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.optim import Optimizer

from rampup.errors import ScheduleTypeError, ScheduleValueError, check_int
from rampup.torch.lr_finder import LRFinderResult, find_lr

__all__ = ["find_lr_lightning", "find_lr_trainer"]


def _first_optimizer(configured: Any) -> Optimizer:
    """The optimizer out of any of the forms ``configure_optimizers`` may return."""
    if isinstance(configured, Optimizer):
        return configured
    if isinstance(configured, dict) and "optimizer" in configured:
        return _first_optimizer(configured["optimizer"])
    if isinstance(configured, (list, tuple)) and configured:
        found = [_first_optimizer(item) for item in (configured[0] if isinstance(configured[0], (list, tuple))
                                                      else configured)
                 if isinstance(item, (Optimizer, dict))]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ScheduleValueError(f"configure_optimizers returned {len(found)} optimizers: pass the "
                                     "one to sweep as optimizer=")
    raise ScheduleTypeError(f"configure_optimizers returned {type(configured).__name__}, not an "
                            "optimizer: pass optimizer= explicitly")


def _loss_of(output: Any) -> torch.Tensor:
    if isinstance(output, dict):
        if "loss" not in output:
            raise ScheduleValueError("training_step returned a dict without a 'loss' entry")
        output = output["loss"]
    if output is None:
        raise ScheduleValueError("training_step returned None (it skips the batch): the range test "
                                 "needs a loss for every batch")
    return output  # type: ignore[no-any-return]


def find_lr_lightning(module: Any, dataloader: Iterable[Any] | None = None, *, datamodule: Any = None,
                      optimizer: Optimizer | None = None, **options: Any) -> LRFinderResult:
    """Range test of a ``LightningModule`` with its own ``training_step`` (see the module doc).

    ``options`` go to :func:`~rampup.torch.find_lr` (``min_lr``, ``max_lr``, ``steps``, ...).
    Apply the result yourself, e.g. ``model.hparams.lr = result.suggestion``: the module is left
    exactly as it was. Modules with manual optimisation step their own optimizers; use
    ``find_lr(..., update=...)`` for them.
    """
    if not (isinstance(module, torch.nn.Module) and callable(getattr(module, "training_step", None))):
        raise ScheduleTypeError(f"module must be a LightningModule, got {type(module).__name__}")
    if not getattr(module, "automatic_optimization", True):
        raise ScheduleValueError("module uses manual optimisation (automatic_optimization=False): its "
                                 "training_step steps the optimizer itself; use find_lr(..., update=...)")
    if dataloader is None:
        source: Any = datamodule if datamodule is not None else module
        if datamodule is not None and callable(getattr(datamodule, "setup", None)):
            datamodule.setup("fit")
        dataloader = source.train_dataloader()
    if optimizer is None:
        configure: Any = module.configure_optimizers
        optimizer = _first_optimizer(configure())
    device = next(iter(module.parameters())).device
    index = 0

    def loss_fn(model: Any, batch: Any) -> torch.Tensor:
        nonlocal index
        lightning: Any = model  # a LightningModule: its hooks are methods, not submodules
        batch = lightning.on_before_batch_transfer(batch, 0)
        batch = lightning.transfer_batch_to_device(batch, device, 0)
        batch = lightning.on_after_batch_transfer(batch, 0)
        loss = _loss_of(lightning.training_step(batch, index))
        index += 1
        return loss

    with warnings.catch_warnings():
        # training_step may call self.log; without a Trainer Lightning only warns and skips it
        warnings.filterwarnings("ignore", message=r".*self\.log\(\)")
        return find_lr(module, optimizer, loss_fn, dataloader, **options)


def find_lr_trainer(trainer: Any, **options: Any) -> LRFinderResult:
    """Range test of a transformers ``Trainer`` with its model, optimizer, data and update.

    One sweep update is one Trainer update: ``args.gradient_accumulation_steps`` micro-batches,
    each loss from ``trainer.compute_loss`` divided by their number, gradients clipped to
    ``args.max_grad_norm`` (when > 0), then ``optimizer.step()``. The dataloader must hold
    ``steps * gradient_accumulation_steps`` batches. ``options`` go to
    :func:`~rampup.torch.find_lr` (not ``update``); the Trainer is left as it was (an optimizer it
    did not have before is dropped again). The model is used as the Trainer holds it before
    ``train()`` wraps it: under several processes each sweeps its own shard without averaging
    gradients (the losses are still averaged, so all get the same suggestion).
    """
    for name in ("model", "args", "create_optimizer", "get_train_dataloader", "compute_loss"):
        if not hasattr(trainer, name):
            raise ScheduleTypeError(f"trainer must be a transformers Trainer (no {name!r} on "
                                    f"{type(trainer).__name__})")
    if "update" in options or "loss_fn" in options or "data" in options:
        raise ScheduleTypeError("find_lr_trainer builds the update from the Trainer: do not pass "
                                "update, loss_fn or data")
    steps = check_int("steps", options.get("steps", 100), minimum=10)
    accumulate = max(1, int(getattr(trainer.args, "gradient_accumulation_steps", 1) or 1))
    clip = float(getattr(trainer.args, "max_grad_norm", 0.0) or 0.0)
    model = trainer.model
    loader = trainer.get_train_dataloader()
    needed = steps * accumulate
    try:
        length = len(loader)
    except TypeError:
        length = None
    if length is not None and length < needed:
        raise ScheduleValueError(
            f"the Trainer's dataloader has {length} batches but steps={steps} needs {needed} "
            f"({accumulate} per update): give fewer steps or more data")
    had_optimizer = trainer.optimizer is not None
    optimizer = trainer.optimizer if had_optimizer else trainer.create_optimizer()
    prepare = getattr(trainer, "_prepare_inputs", lambda inputs: inputs)
    stream: Iterator[Any] | None = None
    done = 0

    def update() -> torch.Tensor:
        nonlocal stream, done
        if stream is None:
            stream = iter(loader)  # made inside the sweep: the random state is copied by then
            model.train()  # as Trainer.train does; the modes are given back afterwards
        optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), dtype=torch.float64)
        for _ in range(accumulate):
            try:
                inputs = prepare(next(stream))
            except StopIteration:
                raise ScheduleValueError(f"the Trainer's dataloader ran out after {done} batches; "
                                         f"steps={steps} needs {needed}") from None
            done += 1
            loss = trainer.compute_loss(model, inputs) / accumulate
            loss.backward()
            total = total + loss.detach().to(total.device, torch.float64).cpu()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return total

    try:
        return find_lr(model, optimizer, update=update, **options)
    finally:
        if not had_optimizer:
            trainer.optimizer = None
