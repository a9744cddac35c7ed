"""One training run of the demo, on one process or under torchrun, with checkpoint and resume.

The run is the reference loop users can copy: ``optimizer.step()`` then ``scheduler.step()``
once per optimizer update, on every process; the global batch is split evenly over the processes
and DistributedDataParallel averages the gradients, so a run's numbers do not depend on how many
processes share it.
"""

from __future__ import annotations

import functools
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from rampup._files import write_atomic
from rampup.demo.experiments import Experiment, Sizes, Variant
from rampup.errors import OptionError, RampupError
from rampup.schedules import Schedule
from rampup.torch import Scheduler

DIVERGED_LOSS = 1e3  # a loss above this (or not finite) ends the run as diverged


@dataclass
class RunRecord:
    """What one (variant, seed) run produced."""

    variant: str
    seed: int
    total_steps: int
    lrs: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged: bool = False
    seconds: float = 0.0
    warmup: dict[str, Any] | None = None  # an adaptive warmup's summary (how long, where it held)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless running under an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def train(
    experiment: Experiment,
    variant: Variant,
    data: Any,
    sizes: Sizes,
    seed: int,
    device: torch.device,
    checkpoint: Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    progress: bool = False,
) -> RunRecord:
    """Train one variant with one seed; returns its learning-rate trace and losses."""
    rank, size = world()
    if variant.batch_size % size:
        raise OptionError(
            f"the {variant.name} batch size {variant.batch_size} does not split evenly over {size} "
            "processes: run on a number of processes that divides it"
        )
    per_epoch = experiment.steps_per_epoch(data, variant.batch_size)
    total = sizes.steps * variant.steps_scale
    schedule: Schedule = variant.schedule(total, per_epoch)

    torch.manual_seed(seed)  # the same initial weights on every process
    model: nn.Module = experiment.make_model(sizes).to(device)
    wrapped: nn.Module = model
    if size > 1:
        wrapped = nn.parallel.DistributedDataParallel(model)
    optimizer = experiment.make_optimizer(model.parameters(), variant.peak_lr)
    clock = None if variant.clock is None else variant.clock(total)
    scheduler = Scheduler(optimizer, schedule, total_steps=total, clock=clock)
    record = RunRecord(variant=variant.name, seed=seed, total_steps=total)
    start = 0
    spent = 0.0
    if resume and checkpoint is not None and checkpoint.exists():
        try:
            state = torch.load(checkpoint, map_location=device, weights_only=False)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"])
            record = RunRecord(**state["record"])
            start, spent = int(state["step"]), record.seconds
        except RampupError:
            raise
        except Exception as error:  # another run's file, a different model size, a damaged file
            raise OptionError(
                f"--resume: {checkpoint} is not a checkpoint of this run ({type(error).__name__}: "
                f"{' '.join(str(error).split())[:200]}); run without --resume, or with another --out"
            ) from None
    if record.diverged or start >= total:
        return record

    context = getattr(model, "context", 0)
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, desc=f"{experiment.name}/{variant.name} seed {seed}",
                   leave=False, dynamic_ncols=True)
    began = time.perf_counter()
    model.train()
    for step in range(start, total):
        inputs, targets = experiment.batch(data, seed, step, variant.batch_size, rank, size, context)
        inputs, targets = inputs.to(device), targets.to(device)
        logits = wrapped(inputs)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        record.lrs.append(scheduler.get_last_lr()[0])  # the rate this update uses
        if clock is not None and not clock.done:  # an adaptive warmup watches loss and gradient norm
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), math.inf)
            optimizer.step()
            scheduler.step(loss=loss.detach(), grad_norm=grad_norm)
        else:
            optimizer.step()
            scheduler.step()
        value = loss.detach()
        if size > 1:
            dist.all_reduce(value)
            value /= size
        loss_value = float(value)
        record.train_loss.append(loss_value)
        if not math.isfinite(loss_value) or loss_value > DIVERGED_LOSS:
            record.diverged = True
        done = step + 1
        if record.diverged or done % sizes.eval_every == 0 or done == total:
            val_loss, accuracy = experiment.evaluate(model, data, device)
            record.eval_steps.append(done)
            record.val_loss.append(val_loss)
            if accuracy is not None:
                record.val_accuracy.append(accuracy)
        record.seconds = spent + time.perf_counter() - began
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{record.lrs[-1]:.3g}")
        if checkpoint is not None and checkpoint_every and rank == 0 and (
            done % checkpoint_every == 0 or done == total or record.diverged
        ):
            payload = {
                "step": done, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": _rng_state(), "record": record.to_dict(),
            }
            write_atomic(checkpoint, functools.partial(torch.save, payload))
        if record.diverged:
            break
    if bar is not None:
        bar.close()
    if clock is not None:
        record.warmup = clock.summary()
    if size > 1:
        _check_rates_agree(record.lrs)
    return record


def _check_rates_agree(lrs: list[float]) -> None:
    """All processes must have used the same rate at every step (the schedule is global)."""
    mine = torch.tensor(lrs, dtype=torch.float64)
    gathered = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    for rank, other in enumerate(gathered):
        if not torch.equal(other, mine):
            raise RuntimeError(f"learning rates on rank {rank} differ from rank {dist.get_rank()}")
