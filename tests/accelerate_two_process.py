"""Worker for tests/test_accelerate.py: train under accelerate and write the per-update rates.

Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2 tests/accelerate_two_process.py
OUT.json`` (or plainly, for one process). Every process trains the same tiny model on its shard of
the data (global batch GLOBAL_BATCH, gradient accumulation ACCUMULATE) twice:

- ``once_per_update``: ``Accelerator(step_scheduler_with_optimizer=False)``, and the loop steps the
  scheduler itself once per optimizer update (``if accelerator.sync_gradients``);
- ``accelerate_default``: the scheduler prepared with accelerate's default
  (``step_scheduler_with_optimizer=True``) and stepped on every micro-batch, as accelerate's examples
  do: accelerate then steps it ``num_processes`` times per update.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

import rampup
from rampup.torch import Scheduler

PEAK, UPDATES_PER_EPOCH, EPOCHS, ACCUMULATE, GLOBAL_BATCH = 0.05, 3, 2, 2, 4
UPDATES = UPDATES_PER_EPOCH * EPOCHS
SAMPLES = UPDATES_PER_EPOCH * ACCUMULATE * GLOBAL_BATCH


def make_schedule() -> rampup.Schedule:
    return rampup.schedule("warmup_cosine", warmup_steps=2, total_steps=UPDATES, min_lr_ratio=0.1)


def make_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(SAMPLES, 4, generator=generator), torch.randn(SAMPLES, 1, generator=generator)


def make_model() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    return model, torch.optim.SGD(model.parameters(), lr=PEAK, momentum=0.9)


def run(accelerator: Accelerator, once_per_update: bool) -> dict[str, Any]:
    model, optimizer = make_model()
    scheduler = Scheduler(optimizer, make_schedule())
    loader = DataLoader(TensorDataset(*make_data()), batch_size=GLOBAL_BATCH // accelerator.num_processes)
    model, optimizer, prepared, loader = accelerator.prepare(model, optimizer, scheduler, loader)
    rates = []
    for _ in range(EPOCHS):
        for x, y in loader:
            with accelerator.accumulate(model):
                loss = torch.nn.functional.mse_loss(model(x), y)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    rates.append(optimizer.param_groups[0]["lr"])  # the rate this update uses
                optimizer.step()
                if not once_per_update:
                    prepared.step()  # accelerate decides how often to step
                elif accelerator.sync_gradients:
                    prepared.step()  # once per optimizer update, on every process
                optimizer.zero_grad()
    weights = accelerator.unwrap_model(model).weight.detach().flatten().tolist()
    return {"rates": rates, "step": scheduler.last_epoch, "skipped_steps": scheduler.skipped_steps,
            "weights": weights}


def main() -> None:
    torch.set_num_threads(1)
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=ACCUMULATE,
                              step_scheduler_with_optimizer=False)
    result: dict[str, Any] = {"num_processes": accelerator.num_processes}
    result["once_per_update"] = run(accelerator, once_per_update=True)
    accelerator.step_scheduler_with_optimizer = True  # read when a scheduler is prepared
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rampup warns that the scheduler steps too often: expected
        result["accelerate_default"] = run(accelerator, once_per_update=False)
    if accelerator.is_main_process:
        with open(sys.argv[1], "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    # every process finishes its collectives before any tears the process group down: gloo aborts
    # a process whose peer goes away while it still has work in flight
    accelerator.wait_for_everyone()
    accelerator.end_training()


if __name__ == "__main__":
    main()
