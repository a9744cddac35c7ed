"""Checkpoint and resume with rampup.torch.Scheduler: the resumed run is the uninterrupted run.

The reference is a run that was never interrupted (same model, data and optimizer), so nothing
expected is computed by the code under test; keep_step / keep_fraction / keep_base_lrs are checked
against transformers' formulas.
"""

from __future__ import annotations

import copy
import io
import pickle
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import torch
import transformers.optimization as hf
from torch_adapter_helpers import LRS, assert_same, make_run, trajectory

import rampup
import rampup.torch as rt
from rampup.torch import Scheduler

hf_linear = hf._get_linear_schedule_with_warmup_lr_lambda
hf_cosine = hf._get_cosine_schedule_with_warmup_lr_lambda

N, M = 17, 23  # steps before and after the checkpoint
TOTAL = N + M


def _cosine(total: int = TOTAL) -> rampup.Schedule:
    return rampup.schedule("cosine_with_min_lr", warmup_steps=6, total_steps=total, min_lr_rate=0.05)


def _torch_roundtrip(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


ROUNDTRIPS: dict[str, Callable[[Any], Any]] = {
    "plain": lambda s: s,
    "pickle": lambda s: pickle.loads(pickle.dumps(s)),
    "torch.save": _torch_roundtrip,
}


def _uninterrupted(make_scheduler, skip_at=()):
    run = make_run()
    scheduler = make_scheduler(run.optimizer)
    lrs, last = _loop(run, scheduler, TOTAL, skip_at)
    return run, lrs, last


def _loop(run, scheduler, steps, skip_at=(), offset=0):
    lrs, last = [run.lrs()], [scheduler.get_last_lr()]
    for k in range(steps):
        if k + offset in skip_at:
            scheduler.step()  # a skipped update (GradScaler-like)
        else:
            run.update()
            scheduler.step()
        lrs.append(run.lrs())
        last.append(scheduler.get_last_lr())
    return lrs, last


@pytest.mark.parametrize("order", ["optimizer-first", "scheduler-first", "optimizer-before-scheduler-built"])
@pytest.mark.parametrize("roundtrip", list(ROUNDTRIPS))
@pytest.mark.parametrize("builder", ["Scheduler", "get_scheduler", "per-group"])
def test_resume_equals_uninterrupted_run(order, roundtrip, builder) -> None:
    def make_scheduler(optimizer):
        if builder == "Scheduler":
            return Scheduler(optimizer, _cosine())
        if builder == "per-group":
            return Scheduler(optimizer, [_cosine(), rampup.schedule("linear", warmup_steps=3,
                                                                    total_steps=TOTAL)])
        return rt.get_scheduler("cosine_with_restarts", optimizer, 5, TOTAL,
                                scheduler_specific_kwargs={"num_cycles": 2})

    skips = {4, 20}
    reference, ref_lrs, ref_last = _uninterrupted(make_scheduler, skips)

    first = make_run()
    scheduler = make_scheduler(first.optimizer)
    _loop(first, scheduler, N, skips)
    checkpoint = {
        "model": copy.deepcopy(first.model.state_dict()),
        "optimizer": ROUNDTRIPS[roundtrip](first.optimizer.state_dict()),
        "scheduler": ROUNDTRIPS[roundtrip](scheduler.state_dict()),
    }
    assert checkpoint["scheduler"]["skipped_steps"] == 1

    second = make_run(seed=1)  # different initial weights: everything must come from the checkpoint
    second.model.load_state_dict(checkpoint["model"])
    if order == "optimizer-before-scheduler-built":
        second.optimizer.load_state_dict(checkpoint["optimizer"])
        resumed = make_scheduler(second.optimizer)
        resumed.load_state_dict(checkpoint["scheduler"])
    else:
        resumed = make_scheduler(second.optimizer)
        if order == "optimizer-first":
            second.optimizer.load_state_dict(checkpoint["optimizer"])
            resumed.load_state_dict(checkpoint["scheduler"])
        else:
            resumed.load_state_dict(checkpoint["scheduler"])
            second.optimizer.load_state_dict(checkpoint["optimizer"])
    assert resumed.last_epoch == N  # "advance": the skipped update still counted
    lrs, last = _loop(second, resumed, M, skips, offset=N)
    assert_same(lrs, ref_lrs[N:])
    assert_same(last, ref_last[N:])
    assert resumed.skipped_steps == 2
    for p, q in zip(reference.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_state_dict_is_plain_data_and_loading_does_not_mutate_it() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 5)
    state = scheduler.state_dict()
    frozen = copy.deepcopy(state)
    other = make_run()
    resumed = Scheduler(other.optimizer, _cosine())
    resumed.load_state_dict(state)
    assert state == frozen
    trajectory(other, resumed, 5)
    assert state == frozen
    # and the saved state does not follow the scheduler it came from
    trajectory(run, scheduler, 3)
    assert state == frozen
    assert _torch_roundtrip(state) == state


def test_load_writes_the_rate_into_the_optimizer_at_once() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 9)
    other = make_run()
    resumed = Scheduler(other.optimizer, _cosine())
    resumed.load_state_dict(scheduler.state_dict())
    f = partial(hf_cosine, num_warmup_steps=6, num_training_steps=TOTAL, num_cycles=0.5, min_lr_rate=0.05)
    assert other.lrs() == [b * f(9) for b in LRS] == run.lrs()
    assert resumed.get_last_lr() == other.lrs()


def test_different_schedule_is_refused_naming_the_field() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine(40))
    trajectory(run, scheduler, 5)
    state = scheduler.state_dict()
    other = make_run()
    resumed = Scheduler(other.optimizer, _cosine(60))
    before = other.lrs()
    # the decay phase is 40 - 6 = 34 steps in the saved schedule, 60 - 6 = 54 now
    with pytest.raises(ValueError, match=r"steps: saved 34, now 54"):
        resumed.load_state_dict(state)
    assert resumed.last_epoch == 0 and other.lrs() == before  # nothing changed

    floor = Scheduler(make_run().optimizer, rampup.schedule(
        "cosine_with_min_lr", warmup_steps=6, total_steps=40, min_lr_rate=0.2))
    with pytest.raises(ValueError, match=r"min_lr_ratio: saved 0\.05, now 0\.2"):
        floor.load_state_dict(state)

    shape = Scheduler(make_run().optimizer, rampup.schedule("linear", warmup_steps=6, total_steps=40))
    with pytest.raises(ValueError, match="shape"):
        shape.load_state_dict(state)


def test_keep_step_moves_the_saved_step_onto_the_new_schedule() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("linear", warmup_steps=4, total_steps=40))
    trajectory(run, scheduler, 20)
    other = make_run()
    longer = Scheduler(other.optimizer, rampup.schedule("linear", warmup_steps=4, total_steps=100))
    longer.load_state_dict(scheduler.state_dict(), on_config_change="keep_step")
    assert longer.last_epoch == 20
    f = partial(hf_linear, num_warmup_steps=4, num_training_steps=100)
    lrs, _ = trajectory(other, longer, 10)
    assert lrs == [[b * f(t) for b in LRS] for t in range(20, 31)]


def test_keep_fraction_moves_to_the_same_fraction() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("linear", warmup_steps=4, total_steps=40))
    trajectory(run, scheduler, 20)
    other = make_run()
    longer = Scheduler(other.optimizer, rampup.schedule("linear", warmup_steps=4, total_steps=60))
    longer.load_state_dict(scheduler.state_dict(), on_config_change="keep_fraction")
    assert longer.last_epoch == 30  # 20 / 40 of 60
    f = partial(hf_linear, num_warmup_steps=4, num_training_steps=60)
    assert other.lrs() == [b * f(30) for b in LRS]


def test_keep_fraction_needs_an_end() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("inverse_sqrt", warmup_steps=4))
    trajectory(run, scheduler, 5)
    other = Scheduler(make_run().optimizer, rampup.schedule("inverse_sqrt", warmup_steps=8))
    with pytest.raises(ValueError, match="horizon"):
        other.load_state_dict(scheduler.state_dict(), on_config_change="keep_fraction")


def test_keep_base_lrs() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 12)
    state = scheduler.state_dict()
    f = partial(hf_cosine, num_warmup_steps=6, num_training_steps=TOTAL, num_cycles=0.5, min_lr_rate=0.05)
    new_peaks = (4e-3, 1e-4)

    kept = make_run(new_peaks)
    fresh = Scheduler(kept.optimizer, _cosine())
    fresh.load_state_dict(state, keep_base_lrs=True)
    assert fresh.base_lrs == list(new_peaks)
    assert kept.lrs() == [b * f(12) for b in new_peaks]
    assert [g["initial_lr"] for g in kept.optimizer.param_groups] == list(new_peaks)

    restored = make_run(new_peaks)
    saved = Scheduler(restored.optimizer, _cosine())
    saved.load_state_dict(state)
    assert saved.base_lrs == list(LRS)
    assert restored.lrs() == [b * f(12) for b in LRS]
    assert [g["initial_lr"] for g in restored.optimizer.param_groups] == list(LRS)


def test_mismatched_states_are_value_errors() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    state = scheduler.state_dict()
    with pytest.raises(ValueError, match="format"):
        scheduler.load_state_dict(torch.optim.lr_scheduler.StepLR(make_run().optimizer, 2).state_dict())
    with pytest.raises(ValueError, match="format"):
        scheduler.load_state_dict({**state, "format": "rampup.Scheduler/0"})
    with pytest.raises(ValueError, match="parameter groups"):
        scheduler.load_state_dict({**state, "base_lrs": [1e-3]})
    with pytest.raises(ValueError, match="on_config_change"):
        scheduler.load_state_dict(state, on_config_change="ignore")
    with pytest.raises(ValueError):
        scheduler.load_state_dict({**state, "step": -3})
    one_group = Scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1), _cosine())
    with pytest.raises(ValueError):
        one_group.load_state_dict(state)
    per_group = Scheduler(make_run().optimizer, [_cosine(), _cosine(50)])
    with pytest.raises(ValueError, match=r"schedules\[1\]"):
        per_group.load_state_dict(state)
