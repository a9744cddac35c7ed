"""Worker for tests/torch/test_torch_adaptive_ddp.py: an adaptive warmup on each of 2 processes.

Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2
tests/adaptive_two_process.py OUT`` (gloo, CPU). Each rank feeds its OWN loss (they differ: only
rank 0 sees the spikes), once as tensors and once as Python floats, and writes the rate of every
update to ``OUT.rank<N>.json``.
"""

from __future__ import annotations

import json
import math
import sys

import torch
import torch.distributed as dist

import rampup
from rampup.torch import Scheduler

PEAK, WARMUP, TOTAL, MAX = 0.1, 12, 40, 24
SPIKES = (5, 6, 9)


def local_losses(rank: int) -> list[float]:
    """Rank 0: a decaying loss with spikes; rank 1: the same curve, lower and without spikes."""
    out = []
    for i in range(TOTAL):
        base = 2.0 * math.exp(-i / 10) + 1.0 + 0.01 * math.sin(i)
        out.append(base * (2.0 if rank == 0 and i in SPIKES else 1.0) - 0.1 * rank)
    return out


def rule() -> rampup.StabilityRule:
    return rampup.StabilityRule(window=6, min_history=4, threshold=2.0, severe=3.0)


def run(rank: int, as_tensor: bool) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=PEAK)
    schedule = rampup.with_warmup(rampup.Cosine(steps=TOTAL - WARMUP), WARMUP)
    scheduler = Scheduler(optimizer, schedule, total_steps=TOTAL,
                          clock=rampup.AdaptiveWarmup(MAX, rule=rule()))
    rates = []
    for loss in local_losses(rank):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(loss=torch.tensor(loss, dtype=torch.float64) if as_tensor else loss)
    return rates


def main() -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = {"rank": rank, "world": dist.get_world_size(), "tensor": run(rank, True),
              "float": run(rank, False)}
    with open(f"{sys.argv[1]}.rank{rank}.json", "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
