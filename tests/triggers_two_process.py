"""Worker for tests/torch/test_torch_triggers_distributed.py: two processes (gloo, CPU) each run a
DDP training loop with a cooldown trigger; the request reaches one rank only.

Run as ``python -m torch.distributed.run --standalone --nproc_per_node 2
tests/triggers_two_process.py OUT_DIR``. Two runs: a POSIX signal sent to rank 1 only (after
update 5), and a file that only rank 0 sees (a per-rank path, created after update 9). Each rank
writes the rate of every update, the update where its cooldown started and its change log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

import rampup
from rampup.torch import Scheduler
from rampup.torch.triggers import CooldownTrigger

UPDATES, COOLDOWN = 16, 5


def run(rank: int, out: Path, kind: str) -> dict[str, Any]:
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = Scheduler(optimizer, rampup.schedule("warmup_constant", warmup_steps=3))
    flag = out / f"{kind}-rank{rank}" / "COOLDOWN"  # only this rank's path
    flag.parent.mkdir(parents=True, exist_ok=True)
    if kind == "signal":
        trigger = CooldownTrigger(COOLDOWN, signal=signal.SIGUSR1)
    else:
        trigger = CooldownTrigger(COOLDOWN, file=flag)
    trigger.install()
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(rank))
    rates = []
    for k in range(UPDATES):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
        if kind == "signal" and rank == 1 and k == 5:
            os.kill(os.getpid(), signal.SIGUSR1)
        if kind == "file" and rank == 0 and k == 9:
            flag.touch()
        trigger.check(scheduler)
    trigger.uninstall()
    return {"rates": rates, "started_at": trigger.started_at, "changes": scheduler.changes}


def main() -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    out = Path(sys.argv[1])
    result = {kind: run(rank, out, kind) for kind in ("signal", "file")}
    (out / f"rank{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    dist.barrier()  # no rank tears the group down while its peer may still have work in flight
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
