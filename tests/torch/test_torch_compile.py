"""torch.compile: a compiled optimizer step with a tensor rate that rampup changes every step
compiles once; with a float rate that changes every step it recompiles."""

from __future__ import annotations

import copy

import pytest
import torch
from torch_adapter_helpers import make_run

import rampup
from rampup.torch import Scheduler

STEPS = 20
# torch.compile's own internals use deprecated torch.jit APIs
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _train(*, tensor: bool, compiled: bool, steps: int) -> tuple[list[float], list[torch.Tensor], int]:
    """(rates used, final parameters, unique graphs compiled)."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    run = make_run(tensor=tensor)
    opt = run.optimizer
    scheduler = Scheduler(opt, rampup.schedule("cosine", warmup_steps=min(5, steps - 1), total_steps=steps))

    def step() -> None:
        opt.step()

    optimizer_step = torch.compile(step, backend="eager") if compiled else step
    rates = []
    for _ in range(steps):
        rates.append(float(opt.param_groups[0]["lr"]))
        opt.zero_grad()
        run.model(run.x).pow(2).mean().backward()
        optimizer_step()
        scheduler.step()
    graphs = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    torch._dynamo.reset()
    return rates, [p.detach().clone() for p in run.model.parameters()], graphs


@pytest.fixture(scope="module")
def tensor_runs():
    return _train(tensor=True, compiled=True, steps=STEPS), _train(tensor=True, compiled=False, steps=STEPS)


def test_tensor_lr_compiles_once(tensor_runs) -> None:
    (rates, _, graphs), _ = tensor_runs
    assert len(set(rates)) == STEPS  # the rate changed at every step ...
    assert graphs == 1  # ... and nothing recompiled


def test_compiled_step_uses_the_current_rate(tensor_runs) -> None:
    """Same parameters as the uncompiled run: the graph reads the tensor, no rate was baked in.

    (Traced AdamW may round differently from the eager one, hence a float32-level tolerance; a rate
    frozen at any one step would be off by far more.)
    """
    (rates, params, _), (eager_rates, eager_params, eager_graphs) = tensor_runs
    assert eager_graphs == 0
    assert rates == eager_rates
    for p, q in zip(params, eager_params, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    initial = make_run().model.parameters()
    assert any(not torch.allclose(p, q, rtol=1e-3, atol=1e-4) for p, q in zip(params, initial, strict=True))


def test_float_lr_that_changes_recompiles() -> None:
    """The contrast that makes the test above meaningful."""
    rates, _, graphs = _train(tensor=False, compiled=True, steps=4)
    assert len(set(rates)) == 4
    assert graphs > 1


def test_a_deep_copied_scheduler_counts_compiled_updates_without_recompiling() -> None:
    """The update counter re-attached to a copied optimizer adds no graph break either."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    run = make_run(tensor=True)
    scheduler = Scheduler(run.optimizer, rampup.schedule("cosine", warmup_steps=3, total_steps=STEPS))
    model, opt, sched = copy.deepcopy((run.model, run.optimizer, scheduler))

    @torch.compile(backend="eager")
    def step() -> None:
        opt.step()

    rates = []
    for _ in range(8):
        rates.append(float(opt.param_groups[0]["lr"]))
        opt.zero_grad()
        model(run.x).pow(2).mean().backward()
        step()
        sched.step()
    graphs = int(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    torch._dynamo.reset()
    assert sched.skipped_steps == 0
    assert len(set(rates)) == 8
    assert graphs == 1
