"""Worker for test_find_lr_distributed.py: the range test under torch.distributed (gloo, CPU).

Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2 find_lr_two_process.py OUT``.
Each process holds half of every global batch of GLOBAL_BATCH; DistributedDataParallel averages the
gradients. Every process writes OUT/rank{r}.json (what it measured) and asks for the figure
OUT/figure-rank{r}.png; only rank 0 may write it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from rampup.torch import find_lr

GLOBAL_BATCH, STEPS = 64, 30


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def global_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for _ in range(STEPS):
        x = torch.randn(GLOBAL_BATCH, 4, generator=generator)
        out.append((x, (x[:, :1] - 0.5 * x[:, 1:2]).tanh()))
    return out


def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def main() -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    out = Path(sys.argv[1])
    model = make_model()
    wrapped = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    share = GLOBAL_BATCH // size
    mine = [(x[rank * share:(rank + 1) * share], y[rank * share:(rank + 1) * share])
            for x, y in global_batches()]
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(100 + rank)  # different generator states per process: each gets its own back
    rng = torch.get_rng_state()
    result = find_lr(wrapped, optimizer, loss_fn, mine, min_lr=1e-4, max_lr=100.0, steps=STEPS)
    written = result.plot(out / f"figure-rank{rank}.png")
    record = {
        "rank": rank, "size": size, "suggestion": result.suggestion, "lrs": result.lrs,
        "raw_losses": result.raw_losses, "stopped_early": result.stopped_early,
        "written": None if written is None else str(written),
        "restored": all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
        and torch.equal(rng, torch.get_rng_state()) and not optimizer.state,
    }
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
