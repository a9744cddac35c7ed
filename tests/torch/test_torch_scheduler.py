"""rampup.torch.Scheduler in real training loops: per-group schedules, torch integration, tensor
rates, skipped steps and the overshoot / completion warnings.

Expected rates come from transformers' own lambda functions or from formulas written out here.
"""

from __future__ import annotations

import gc
import math
import warnings
from functools import partial

import pytest
import torch
import transformers.optimization as hf
from torch_adapter_helpers import LRS, assert_same, make_run, trajectory

import rampup
from rampup.torch import Scheduler, to_tensor_lrs

hf_linear = hf._get_linear_schedule_with_warmup_lr_lambda
hf_cosine = hf._get_cosine_schedule_with_warmup_lr_lambda
hf_cosine_min = hf._get_cosine_with_min_lr_schedule_with_warmup_lr_rate_lambda


def linear(w: int, n: int):
    return rampup.schedule("linear", warmup_steps=w, total_steps=n)


def expected(bases, lambdas, steps):
    return [[b * f(t) for b, f in zip(bases, lambdas, strict=True)] for t in range(steps + 1)]


# --- per-group schedules and the rate before the first step -------------------------------

def test_one_schedule_per_group() -> None:
    n = 30
    run = make_run()
    schedules = [
        linear(5, n),
        rampup.schedule("cosine_with_min_lr", warmup_steps=0, total_steps=n, min_lr_rate=0.1),
    ]
    scheduler = Scheduler(run.optimizer, schedules)
    lrs, last = trajectory(run, scheduler, n)
    want = expected(LRS, [
        partial(hf_linear, num_warmup_steps=5, num_training_steps=n),
        partial(hf_cosine, num_warmup_steps=0, num_training_steps=n, num_cycles=0.5, min_lr_rate=0.1),
    ], n)
    assert_same(lrs, want)
    assert_same(last, want)
    assert scheduler.schedules == schedules
    assert scheduler.lr_at(17) == want[17]


def test_rate_before_first_step_is_schedule_at_zero() -> None:
    # transformers' cosine_warmup_with_min_lr starts its warmup at 1 / W, not at 0
    run = make_run()
    schedule = rampup.schedule("cosine_warmup_with_min_lr", warmup_steps=4, total_steps=20, min_lr_rate=0.1)
    scheduler = Scheduler(run.optimizer, schedule)
    want = [b * 0.25 for b in LRS]
    assert run.lrs() == want
    assert scheduler.get_last_lr() == want
    assert scheduler.lr_at(0) == want
    assert scheduler.last_epoch == 0
    assert [g["initial_lr"] for g in run.optimizer.param_groups] == list(LRS)


def test_initial_lr_is_the_peak_when_already_set() -> None:
    run = make_run()
    for group, peak in zip(run.optimizer.param_groups, (5e-3, 2e-3), strict=True):
        group["initial_lr"] = peak
    scheduler = Scheduler(run.optimizer, rampup.Constant())
    assert scheduler.base_lrs == [5e-3, 2e-3]
    assert run.lrs() == [5e-3, 2e-3]


def test_epoch_argument_jumps_to_that_step() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(4, 20))
    scheduler.step(epoch=10)
    want = [b * hf_linear(10, num_warmup_steps=4, num_training_steps=20) for b in LRS]
    assert run.lrs() == want
    assert scheduler.last_epoch == 10


# --- torch integration ---------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "sgd-plain"])
def test_correct_loop_emits_no_warnings(optimizer) -> None:
    n = 25
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "lr_scheduler.step() before optimizer.step()" too
        run = make_run(optimizer=optimizer)
        scheduler = Scheduler(run.optimizer, linear(5, n))
        lrs, _ = trajectory(run, scheduler, n)
        report = scheduler.report()
    assert report == {"step": n, "total_steps": n, "fraction_done": 1.0, "skipped_steps": 0}
    assert_same(lrs, expected(LRS, [partial(hf_linear, num_warmup_steps=5, num_training_steps=n)] * 2, n))


def test_is_a_torch_lr_scheduler_and_does_not_wrap_optimizer_step() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(2, 10))
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler)
    assert not hasattr(run.optimizer.step, "_wrapped_by_lr_sched")
    assert "step" not in vars(run.optimizer)
    # contrast: torch's own schedulers do wrap it, so the check above can fail
    torch.optim.lr_scheduler.StepLR(make_run().optimizer, 3)
    other = make_run()
    torch.optim.lr_scheduler.StepLR(other.optimizer, 3)
    assert hasattr(other.optimizer.step, "_wrapped_by_lr_sched")


def test_get_last_lr_is_a_fresh_list_of_floats() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(3, 10))
    first = scheduler.get_last_lr()
    first.append(99.0)
    first[0] = -1.0
    assert scheduler.get_last_lr() == [b * (0 / 3) for b in LRS]
    run.update()
    scheduler.step()
    assert all(type(v) is float for v in scheduler.get_last_lr())
    assert scheduler.get_last_lr() == [b * (1 / 3) for b in LRS]


# --- tensor rates -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tensor_lr_is_updated_in_place(dtype) -> None:
    n = 12
    run = make_run(tensor=True, dtype=dtype)
    tensors = [g["lr"] for g in run.optimizer.param_groups]
    ids = [id(t) for t in tensors]
    bases = [float(t) for t in tensors]
    scheduler = Scheduler(run.optimizer, linear(3, n))
    seen = []
    for t in range(n + 1):
        groups = run.optimizer.param_groups
        assert [id(g["lr"]) for g in groups] == ids
        assert all(g["lr"] is x for g, x in zip(groups, tensors, strict=True))
        assert all(g["lr"].dtype == dtype and g["lr"].dim() == 0 for g in groups)
        want = [b * hf_linear(t, num_warmup_steps=3, num_training_steps=n) for b in bases]
        assert scheduler.get_last_lr() == want
        # the tensor holds the rate rounded to its own dtype
        assert [g["lr"].item() for g in groups] == [torch.tensor(w, dtype=dtype).item() for w in want]
        last = scheduler.get_last_lr()
        assert not any(isinstance(v, torch.Tensor) for v in last)
        seen.append(last)
        if t < n:
            run.update()
            scheduler.step()
    # get_last_lr() never aliased the tensors: earlier results did not change
    assert len({tuple(v) for v in seen}) > n // 2
    assert seen[0] == [0.0, 0.0]


def test_tensor_lr_true_converts_floats_to_0d_tensors() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(2, 10), tensor_lr=True)
    tensors = [g["lr"] for g in run.optimizer.param_groups]
    assert all(isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == torch.float32 for t in tensors)
    assert scheduler.base_lrs == [float(torch.tensor(b)) for b in LRS]
    for _ in range(4):
        run.update()
        scheduler.step()
    assert all(g["lr"] is t for g, t in zip(run.optimizer.param_groups, tensors, strict=True))
    assert [t.item() for t in tensors] == [
        torch.tensor(b * hf_linear(4, num_warmup_steps=2, num_training_steps=10)).item()
        for b in scheduler.base_lrs]


def test_to_tensor_lrs() -> None:
    run = make_run()
    to_tensor_lrs(run.optimizer, dtype=torch.float64)
    assert [g["lr"].dtype for g in run.optimizer.param_groups] == [torch.float64] * 2
    assert [g["lr"].item() for g in run.optimizer.param_groups] == list(LRS)


# --- skipped steps --------------------------------------------------------------------------

SKIP_AT = {3, 7, 8}


def _loop_with_skips(policy: str, n_updates: int = 12) -> tuple[Scheduler, list[float]]:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(4, 30), on_skipped_step=policy)
    lrs = [run.lrs()[0]]
    with warnings.catch_warnings(record=True):  # (3 skips in 12 may warn; tested below)
        warnings.simplefilter("always")
        for k in range(n_updates):
            if k in SKIP_AT:
                scheduler.step()  # no optimizer.step() before it: a skipped update
            else:
                run.update()
                scheduler.step()
            lrs.append(run.lrs()[0])
    return scheduler, lrs


def test_skipped_step_advance() -> None:
    scheduler, lrs = _loop_with_skips("advance")
    assert scheduler.skipped_steps == len(SKIP_AT)
    assert scheduler.last_epoch == 12
    f = partial(hf_linear, num_warmup_steps=4, num_training_steps=30)
    assert lrs == [LRS[0] * f(t) for t in range(13)]


def test_skipped_step_hold() -> None:
    scheduler, lrs = _loop_with_skips("hold")
    assert scheduler.skipped_steps == len(SKIP_AT)
    assert scheduler.last_epoch == 12 - len(SKIP_AT)
    f = partial(hf_linear, num_warmup_steps=4, num_training_steps=30)
    step, want = 0, [LRS[0] * f(0)]
    for k in range(12):
        if k not in SKIP_AT:
            step += 1
        want.append(LRS[0] * f(step))
    assert lrs == want
    assert lrs[4] == lrs[3] and lrs[9] == lrs[8] == lrs[7]


@pytest.mark.parametrize("policy", ["advance", "hold"])
def test_grad_scaler_skip_is_detected(policy) -> None:
    """A real GradScaler skip (inf gradient): optimizer.step() is not run, the scheduler notices."""
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(2, 20), on_skipped_step=policy)
    scaler = torch.amp.GradScaler("cpu", init_scale=16.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(6):
            run.optimizer.zero_grad()
            x = run.x * (math.inf if k == 2 else 1.0)
            scaler.scale(run.model(x).pow(2).mean()).backward()
            scaler.step(run.optimizer)
            scaler.update()
            scheduler.step()
    assert scheduler.skipped_steps == 1
    assert scheduler.last_epoch == (6 if policy == "advance" else 5)


def test_a_parameter_without_gradient_does_not_look_like_a_skip() -> None:
    routed = torch.nn.Parameter(torch.ones(2))  # gets a gradient on the first update only
    always = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.AdamW([routed, always], lr=0.1)
    scheduler = Scheduler(opt, linear(2, 50), on_skipped_step="hold")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for k in range(12):
            opt.zero_grad()
            loss = (always * always).sum() + ((routed * routed).sum() if k == 0 else 0.0)
            loss.backward()
            opt.step()
            scheduler.step()
    assert scheduler.skipped_steps == 0
    assert scheduler.last_epoch == 12


def test_optimizer_without_state_still_has_its_skips_counted() -> None:
    # Plain SGD keeps no state; the step hook still sees whether optimizer.step() ran.
    run = make_run(optimizer="sgd-plain")
    scheduler = Scheduler(run.optimizer, linear(2, 20))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for _ in range(10):
            run.update()
            scheduler.step()
            scheduler.step()
    assert scheduler.skipped_steps == 10
    assert scheduler.last_epoch == 20


def test_stepping_twice_per_update_warns_exactly_once() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(5, 200))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(60):
            run.update()
            scheduler.step()
            scheduler.step()
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert issubclass(caught[0].category, rampup.RampupWarning)
    assert "once per optimizer update" in str(caught[0].message)
    assert scheduler.skipped_steps == 60


def test_occasional_skips_do_not_warn() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(5, 200))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in range(100):
            run.update()
            scheduler.step()
            if k % 10 == 0:
                scheduler.step()
    assert scheduler.skipped_steps == 10


def test_past_the_end_holds_the_last_value_and_warns_once() -> None:
    n = 10
    run = make_run()
    schedule = rampup.schedule("cosine_with_min_lr", warmup_steps=2, total_steps=n, min_lr_rate=0.1)
    scheduler = Scheduler(run.optimizer, schedule)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trajectory(run, scheduler, n)
    end = [b * hf_cosine(n, num_warmup_steps=2, num_training_steps=n, num_cycles=0.5, min_lr_rate=0.1)
           for b in LRS]
    assert run.lrs() == end
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lrs, _ = trajectory(run, scheduler, 15)
    assert lrs == [end] * 16
    assert len(caught) == 1 and issubclass(caught[0].category, rampup.RampupWarning)
    assert "past the end" in str(caught[0].message)


def test_constant_with_warmup_never_ends() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("constant_with_warmup", warmup_steps=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs, _ = trajectory(run, scheduler, 40)
        assert scheduler.report()["total_steps"] is None
    assert lrs[3:] == [list(LRS)] * 38


def test_every_new_scheduler_warns_even_when_ids_are_reused() -> None:
    """Regression: the once-only keys were id(self), and a freed scheduler's id is reused."""
    schedule = linear(1, 3)
    seen: set[int] = set()
    reused = False
    for _ in range(60):
        run = make_run(optimizer="sgd-plain")
        scheduler = Scheduler(run.optimizer, schedule)
        reused = id(scheduler) in seen
        seen.add(id(scheduler))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(5):
                scheduler.step()
        assert len(caught) == 1, f"a new scheduler (id reused: {reused}) did not warn past the end"
        if reused:
            break
        del scheduler, run
        gc.collect()
    assert reused, "no id was reused: the regression was not exercised"


# --- report ----------------------------------------------------------------------------------

def test_report_warns_when_far_short() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(2, 40))
    trajectory(run, scheduler, 20)
    with pytest.warns(rampup.RampupWarning, match="ran 20 of its 40 steps"):
        report = scheduler.report()
    assert report == {"step": 20, "total_steps": 40, "fraction_done": 0.5, "skipped_steps": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scheduler.report(warn=False)["fraction_done"] == 0.5


def test_report_is_quiet_from_90_percent() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, linear(2, 40))
    trajectory(run, scheduler, 36)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scheduler.report()["fraction_done"] == 0.9


def test_total_steps_overrides_the_schedule_length() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, rampup.schedule("constant_with_warmup", warmup_steps=3),
                          total_steps=50)
    trajectory(run, scheduler, 10)
    with pytest.warns(rampup.RampupWarning):
        assert scheduler.report()["fraction_done"] == 10 / 50
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trajectory(run, scheduler, 41)
    assert len(caught) == 1 and "past the end" in str(caught[0].message)
