"""Whole-object checkpoints: pickle, torch.save and copy.deepcopy of an optimizer with its scheduler.

The copy must drive the copied optimizer and keep counting its updates (no skipped steps, no
warning); the reference is the original, trained on in parallel on the same data.
"""

from __future__ import annotations

import copy
import gc
import io
import pickle
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch_adapter_helpers import LRS, Run, assert_same, make_run, plateau_metrics, trajectory

import rampup
import rampup.torch as rt
from rampup.torch import Scheduler


def _cosine() -> rampup.Schedule:
    return rampup.schedule("cosine", warmup_steps=4, total_steps=30)


class Trainer:
    """A trainer-like object holding the model, the optimizer and the scheduler."""

    def __init__(self, run: Run, scheduler: Any) -> None:
        self.run, self.scheduler = run, scheduler


def _torch_save(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


COPIES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
    "torch.save": _torch_save,
    "deepcopy": copy.deepcopy,
}

BUILDERS: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "Scheduler": lambda opt: Scheduler(opt, _cosine()),
    "Scheduler+momentum": lambda opt: Scheduler(opt, rampup.OneCycle(steps=30), hyperparams={
        "beta1": rt.hyperparams.one_cycle_momentum(30)}),
    "get_scheduler": lambda opt: rt.get_scheduler("linear", opt, 3, 30),
    "warmup_wrapper(StepLR)": lambda opt: rt.warmup_wrapper(torch.optim.lr_scheduler.StepLR(opt, 4, 0.5), 5),
    "warmup_wrapper(Scheduler)": lambda opt: rt.warmup_wrapper(Scheduler(opt, rampup.Exponential(0.9)), 5),
    "GradualWarmupScheduler": lambda opt: rt.GradualWarmupScheduler(
        opt, 2.0, 5, torch.optim.lr_scheduler.CosineAnnealingLR(opt, 20)),
    "GreedyLR": lambda opt: rt.GreedyLR(opt, patience=2, min_lr=1e-5),
}
METRIC = {"GreedyLR"}


def _step(name: str) -> Callable[[Any, Any], None]:
    if name in METRIC:
        return lambda scheduler, metric: scheduler.step(metric)
    return lambda scheduler, metric: scheduler.step()


@pytest.mark.parametrize("how", list(COPIES))
@pytest.mark.parametrize("builder", list(BUILDERS))
def test_a_copied_trainer_trains_on_like_the_original(builder: str, how: str) -> None:
    run = make_run()
    trainer = Trainer(run, BUILDERS[builder](run.optimizer))
    metrics = plateau_metrics(30)
    trajectory(run, trainer.scheduler, 8, metrics=metrics[:8], step=_step(builder))
    clone = COPIES[how](trainer)
    assert clone.scheduler.optimizer is clone.run.optimizer is not run.optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a copy that missed its optimizer's updates would warn
        original = trajectory(run, trainer.scheduler, 22, metrics=metrics[8:], step=_step(builder))
        copied = trajectory(clone.run, clone.scheduler, 22, metrics=metrics[8:], step=_step(builder))
    assert_same(copied[0], original[0])
    assert_same(copied[1], original[1])
    for p, q in zip(run.model.parameters(), clone.run.model.parameters(), strict=True):
        assert torch.equal(p, q)
    if isinstance(trainer.scheduler, Scheduler):
        assert clone.scheduler.skipped_steps == 0 == trainer.scheduler.skipped_steps


@pytest.mark.parametrize("how", list(COPIES))
def test_optimizer_and_scheduler_copied_together_stay_linked(how: str) -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 3)
    optimizer2, scheduler2 = COPIES[how]((run.optimizer, scheduler))
    assert scheduler2.optimizer is optimizer2
    # the copy counts the copied optimizer's updates, not the original's
    run.update()
    scheduler2.step()
    assert scheduler2.skipped_steps == 1
    optimizer2.step()
    scheduler2.step()
    assert scheduler2.skipped_steps == 1
    scheduler.step()
    assert scheduler.skipped_steps == 0  # the original still sees its own update


def test_a_copy_taken_between_the_update_and_the_scheduler_step_keeps_that_update() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    run.update()
    _, scheduler2 = copy.deepcopy((run.optimizer, scheduler))
    scheduler2.step()
    assert scheduler2.skipped_steps == 0


def test_a_scheduler_unpickled_alone_drives_its_own_copy_of_the_optimizer() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 3)
    alone = pickle.loads(pickle.dumps(scheduler))
    assert alone.optimizer is not run.optimizer
    alone.optimizer.step()  # no gradients: a no-op update, but an update
    alone.step()
    assert alone.skipped_steps == 0
    assert [g["lr"] for g in alone.optimizer.param_groups] == scheduler.lr_at(4)
    assert run.lrs() == scheduler.lr_at(3)  # the original optimizer is not touched
    with pytest.warns(rampup.RampupWarning, match="without an optimizer update"):
        for _ in range(8):  # stepping the copy without its optimizer: skips, and a warning
            alone.step()
    assert alone.skipped_steps == 8


def test_the_state_dict_of_a_copy_equals_the_original() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, [_cosine(), rampup.Constant()])
    trajectory(run, scheduler, 5)
    for how in COPIES.values():
        _, clone = how((run.optimizer, scheduler))
        assert clone.state_dict() == scheduler.state_dict()
        assert clone.get_last_lr() == scheduler.get_last_lr()


def test_the_counter_does_not_keep_the_scheduler_alive_and_leaves_with_it() -> None:
    run = make_run()
    hooks_before = len(run.optimizer._optimizer_step_post_hooks)
    scheduler = Scheduler(run.optimizer, _cosine())
    assert len(run.optimizer._optimizer_step_post_hooks) == hooks_before + 1
    pair = (run.optimizer, scheduler)
    copies = [copy.deepcopy(pair), pickle.loads(pickle.dumps(pair))]
    assert [len(o._optimizer_step_post_hooks) for o, _s in copies] == [1, 1]  # each copy's own counter
    refs = [weakref.ref(scheduler)] + [weakref.ref(s) for _, s in copies]
    optimizers = [run.optimizer] + [o for o, _ in copies]
    del scheduler, copies, pair
    gc.collect()
    assert all(r() is None for r in refs)
    assert [len(o._optimizer_step_post_hooks) for o in optimizers] == [hooks_before, 0, 0]
    run.update()  # the optimizer works on without it


def test_each_copy_warns_for_itself() -> None:
    """Once-only warnings are per scheduler: a copy of one that warned warns again."""
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("linear", warmup_steps=1, total_steps=3))
    with pytest.warns(rampup.RampupWarning, match="past the end"):
        trajectory(run, scheduler, 5)
    _, clone = copy.deepcopy((run.optimizer, scheduler))
    with pytest.warns(rampup.RampupWarning, match="past the end"):
        clone.optimizer.step()
        clone.step()


def test_pickled_scheduler_reads_the_same_rates_as_the_schedule() -> None:
    """Independent check of the unpickled copy: transformers-free formula for a linear decay."""
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("linear", warmup_steps=0, total_steps=10))
    run2, clone = pickle.loads(pickle.dumps((run, scheduler)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs, _ = trajectory(run2, clone, 10)
    assert lrs == [[b * ((10 - t) / 10) for b in LRS] for t in range(11)]
