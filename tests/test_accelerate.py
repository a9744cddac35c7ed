"""Two processes (torch.distributed, gloo, CPU) under accelerate step the schedule like one process.

The worker, ``accelerate_two_process.py``, runs under ``python -m torch.distributed.run`` and writes
the rate each optimizer update used; here the same model and data train in one plain process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the multi-process test needs PyTorch")
pytest.importorskip("accelerate", reason="the multi-process test needs accelerate (pip install accelerate)")
if not torch.distributed.is_available():
    pytest.skip("this PyTorch build has no torch.distributed", allow_module_level=True)

import accelerate_two_process as worker  # noqa: E402
from rampup.torch import Scheduler  # noqa: E402

WORKER = Path(__file__).with_name("accelerate_two_process.py")


def _one_process() -> tuple[list[float], list[float]]:
    """The same training in one process, without accelerate: rates per update and final weights."""
    model, optimizer = worker.make_model()
    scheduler = Scheduler(optimizer, worker.make_schedule())
    x, y = worker.make_data()
    rates = []
    window = worker.GLOBAL_BATCH * worker.ACCUMULATE
    for _ in range(worker.EPOCHS):
        for start in range(0, worker.SAMPLES, window):
            for micro in range(start, start + window, worker.GLOBAL_BATCH):
                batch = slice(micro, micro + worker.GLOBAL_BATCH)
                loss = torch.nn.functional.mse_loss(model(x[batch]), y[batch]) / worker.ACCUMULATE
                loss.backward()
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
    return rates, model.weight.detach().flatten().tolist()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("accelerate") / "two.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, object] = json.loads(out.read_text(encoding="utf-8"))
    return result


def test_stepping_once_per_update_gives_the_one_process_trace(two_processes: dict[str, object]) -> None:
    rates, weights = _one_process()
    schedule = worker.make_schedule()
    assert rates == [worker.PEAK * schedule(k) for k in range(worker.UPDATES)]
    run = two_processes["once_per_update"]
    assert isinstance(run, dict)
    assert two_processes["num_processes"] == 2
    assert run["rates"] == rates
    assert run["step"] == worker.UPDATES and run["skipped_steps"] == 0
    # the same updates, too: DDP's mean over two half batches is the one-process mean
    assert run["weights"] == pytest.approx(weights, rel=1e-5, abs=1e-6)


def test_accelerates_default_steps_the_scheduler_once_per_process(two_processes: dict[str, object]) -> None:
    # what the README warns about: with step_scheduler_with_optimizer=True (the default) and no
    # split_batches, accelerate steps the scheduler num_processes times per optimizer update
    schedule = worker.make_schedule()
    run = two_processes["accelerate_default"]
    assert isinstance(run, dict)
    assert run["rates"] == [worker.PEAK * schedule(2 * k) for k in range(worker.UPDATES)]
    assert run["step"] == 2 * worker.UPDATES
    assert run["skipped_steps"] == worker.UPDATES  # rampup sees each extra step as a skipped update
