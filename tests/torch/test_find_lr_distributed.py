"""The range test on two processes (torch.distributed, gloo, CPU) agrees with one process.

The worker, ``find_lr_two_process.py``, runs under ``python -m torch.distributed.run``. Oracle: the
same sweep in one plain process on the whole global batches (DDP's averaged gradient of two half
batches is the gradient of the whole batch, and the averaged loss its loss).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

if not torch.distributed.is_available():
    pytest.skip("this PyTorch build has no torch.distributed", allow_module_level=True)

import find_lr_two_process as worker

from rampup.torch import find_lr

WORKER = Path(__file__).with_name("find_lr_two_process.py")


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    out = tmp_path_factory.mktemp("find_lr_ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_every_process_sees_the_same_curve_and_suggestion(two: tuple[Path, list[dict]]) -> None:
    _, (first, second) = two
    assert first["size"] == second["size"] == 2
    assert first["raw_losses"] == second["raw_losses"] and first["lrs"] == second["lrs"]
    assert first["suggestion"] == second["suggestion"]
    assert first["stopped_early"] == second["stopped_early"]


def test_the_curve_is_the_one_process_curve_on_the_whole_batches(two: tuple[Path, list[dict]]) -> None:
    _, (first, _) = two
    torch.set_num_threads(1)
    model = worker.make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    alone = find_lr(model, optimizer, worker.loss_fn, worker.global_batches(), min_lr=1e-4, max_lr=100.0,
                    steps=worker.STEPS)
    assert first["raw_losses"] == pytest.approx(alone.raw_losses, rel=1e-5, abs=1e-7)
    assert first["suggestion"] == pytest.approx(alone.suggestion, rel=1e-4)


def test_only_rank_zero_writes_and_both_are_restored(two: tuple[Path, list[dict]]) -> None:
    out, (first, second) = two
    assert first["written"] and (out / "figure-rank0.png").stat().st_size > 5000
    assert second["written"] is None and not (out / "figure-rank1.png").exists()
    assert first["restored"] and second["restored"]
