"""Two processes (torch.distributed, gloo) with different local losses hold the same rates.

The worker ``tests/adaptive_two_process.py`` runs under ``python -m torch.distributed.run``. The
expected rates are those of one process fed the average of the two ranks' losses, computed here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this PyTorch build has no torch.distributed", allow_module_level=True)

WORKER = Path(__file__).parent.parent / "adaptive_two_process.py"
sys.path.insert(0, str(WORKER.parent))
import adaptive_two_process as worker  # noqa: E402
import rampup  # noqa: E402
from rampup.torch import Scheduler  # noqa: E402


def one_process(values: list[float]) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=worker.PEAK)
    schedule = rampup.with_warmup(rampup.Cosine(steps=worker.TOTAL - worker.WARMUP), worker.WARMUP)
    scheduler = Scheduler(optimizer, schedule, total_steps=worker.TOTAL,
                          clock=rampup.AdaptiveWarmup(worker.MAX, rule=worker.rule()))
    rates = []
    for loss in values:
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(loss=loss)
    return rates


def test_two_ranks_with_different_losses_hold_the_same_rates(tmp_path: Path) -> None:
    out = tmp_path / "adaptive"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [json.loads(Path(f"{out}.rank{r}.json").read_text(encoding="utf-8")) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    zero, one = worker.local_losses(0), worker.local_losses(1)
    average = one_process([(a + b) / 2 for a, b in zip(zero, one, strict=True)])
    for kind in ("tensor", "float"):
        assert ranks[0][kind] == ranks[1][kind] == average
    # Each rank alone would have decided differently: the averaging is what keeps them together.
    assert one_process(zero) != one_process(one)
