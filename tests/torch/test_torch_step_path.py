"""The Scheduler's per-step path: rates read from tables of precomputed steps, bit for bit.

``step()`` reads the shared schedule from tables that the schedule's numpy path fills ahead (64
steps, then doubling to 1024). These runs cross many table ends, and jump, skip, resume and change
the plan between them; the expected rates come from transformers' own lambda functions (the
LambdaLR numbers) or from formulas written out here, never from rampup.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import torch
import transformers.optimization as hf

import rampup
from rampup.errors import RampupError, RampupWarning
from rampup.torch import Scheduler

W, N = 100, 3000
hf_cosine = hf._get_cosine_schedule_with_warmup_lr_lambda
LRS = (0.1, 0.03)


def _optimizer(lrs: tuple[float, ...] = LRS) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(params, lr=lrs[0])


def _cosine(t: int) -> float:
    return hf_cosine(t, num_warmup_steps=W, num_training_steps=N, num_cycles=0.5)


def _rates(opt: torch.optim.Optimizer) -> list[float]:
    return [group["lr"] for group in opt.param_groups]


def _expected(t: int, lrs: tuple[float, ...] = LRS) -> list[float]:
    return [lr * _cosine(t) for lr in lrs]


def test_a_long_run_is_transformers_bit_for_bit_across_every_table() -> None:
    opt = _optimizer()
    scheduler = rampup.torch.get_cosine_schedule_with_warmup(opt, W, N)
    assert _rates(opt) == _expected(0)
    for t in range(1, N + 1):
        opt.step()
        scheduler.step()
        assert _rates(opt) == _expected(t), t
        assert scheduler.get_last_lr() == _rates(opt)


def test_plateaus_read_from_constant_tables_are_transformers_bit_for_bit() -> None:
    # A plateau (the stable phase of warmup-stable-decay; constant_with_warmup from its warmup's
    # end on) is tabled as one value repeated: transformers' lambdas at every step, across the
    # plateau's tables and the phase changes on both sides of it.
    wsd = functools.partial(hf._get_wsd_scheduler_lambda, num_warmup_steps=W, num_stable_steps=2500,
                            num_decay_steps=400, warmup_type="linear", decay_type="1-sqrt",
                            min_lr_ratio=0.0, num_cycles=0.5)
    flat = functools.partial(hf._get_constant_schedule_with_warmup_lr_lambda, num_warmup_steps=W)
    for build, expected in (
        (lambda o: rampup.torch.get_wsd_schedule(o, W, 400, num_training_steps=N, decay_type="1-sqrt"), wsd),
        (lambda o: rampup.torch.get_constant_schedule_with_warmup(o, W), flat),
    ):
        opt = _optimizer()
        scheduler = build(opt)
        assert _rates(opt) == [lr * expected(0) for lr in LRS]
        for t in range(1, N + 1):
            opt.step()
            scheduler.step()
            assert _rates(opt) == [lr * expected(t) for lr in LRS], t


def test_constant_phases_of_nested_joins_and_their_ends() -> None:
    # 0.25 on updates 0-499, then an absolute join seen from update 500 on: 0.5 until its own
    # step 1800 (update 2300), then 0.125 for good.
    inner = rampup.Join(phases=(rampup.Constant(0.5), rampup.Constant(0.125)), boundaries=(1800,),
                        clock="absolute")
    schedule = rampup.Join(phases=(rampup.Constant(0.25), inner), boundaries=(500,))
    opt = _optimizer()
    scheduler = Scheduler(opt, schedule, total_steps=N)  # (the run goes on past the last change)
    for t in range(1, N + 1):
        opt.step()
        scheduler.step()
        m = 0.25 if t < 500 else 0.5 if t < 2300 else 0.125
        assert _rates(opt) == [lr * m for lr in LRS], t


def test_skips_jumps_and_resumes_between_tables() -> None:
    opt = _optimizer()
    scheduler = rampup.torch.get_cosine_schedule_with_warmup(opt, W, N)
    saved = None
    t = 0
    for k in range(1, 2200):
        if k % 97 == 0:  # a skipped update (GradScaler): advances on the planned length
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scheduler.step()
        elif k % 331 == 0:  # a jump, backwards or forwards
            t = (t * 7) % N
            scheduler.step(t)
            assert _rates(opt) == _expected(t)
            continue
        else:
            opt.step()
            scheduler.step()
        t += 1
        assert _rates(opt) == _expected(t), (k, t)
        if k == 1500:
            saved = scheduler.state_dict()
    assert saved is not None
    resumed_opt = _optimizer()
    resumed = rampup.torch.get_cosine_schedule_with_warmup(resumed_opt, W, N)
    resumed.load_state_dict(saved)
    at = saved["step"]
    assert _rates(resumed_opt) == _expected(at)
    for s in range(at + 1, N + 1):
        resumed_opt.step()
        resumed.step()
        assert _rates(resumed_opt) == _expected(s), s


def test_a_change_of_plan_drops_the_table() -> None:
    # After a cooldown at update 700 over 200 updates: 1 - sqrt(k / 200) of the rate in force.
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.schedule("cosine", warmup_steps=W, total_steps=N))
    for _ in range(700):
        opt.step()
        scheduler.step()
    before = _cosine(700)
    scheduler.cooldown(200)
    for k in range(1, 260):
        opt.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # past the new end (900) from update 901 on
            scheduler.step()
        m = before * (1.0 - math.sqrt(min(k, 200) / 200))
        assert _rates(opt) == [lr * m for lr in LRS], k
        assert scheduler.get_last_lr() == _rates(opt)


def test_the_step_past_the_end_warns_once_there() -> None:
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.Linear(steps=500))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for t in range(1, 700):
            opt.step()
            scheduler.step()
            past = [w for w in caught if "past the end" in str(w.message)]
            assert len(past) == (t > 500), t
    assert past[0].filename == __file__
    assert _rates(opt) == [0.0, 0.0]


def test_a_group_added_after_attaching_is_refused_before_anything_changes() -> None:
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.Cosine(steps=50))
    opt.step()
    scheduler.step()
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
    before = (scheduler.last_epoch, _rates(opt))
    opt.step()
    with pytest.raises(RampupError, match=r"3 parameter groups.*attached to 2"):
        scheduler.step()
    assert (scheduler.last_epoch, _rates(opt)) == before


@dataclass(frozen=True, slots=True)
class _Stairs(rampup.Schedule):
    """A schedule class from outside rampup whose numpy path disagrees with its per-step one: the
    scheduler must use the per-step one (``1 / (1 + t // 10)``)."""

    shape: ClassVar[str] = "stairs"

    def _eval(self, t: Any, xp: Any) -> Any:
        if xp.is_scalar:
            return 1.0 / (1 + t // 10)
        return t * 0.0 + 123.0


def test_a_schedule_class_from_elsewhere_is_evaluated_one_step_at_a_time() -> None:
    opt = _optimizer()
    scheduler = Scheduler(opt, _Stairs())
    for t in range(1, 300):
        opt.step()
        scheduler.step()
        assert _rates(opt) == [lr * (1.0 / (1 + t // 10)) for lr in LRS], t


def test_warnings_on_the_default_path_point_at_the_caller() -> None:
    opt = _optimizer()
    scheduler = Scheduler(opt, rampup.Cosine(steps=1000))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(20):
            scheduler.step()  # no optimizer.step(): stepped too often
    ours = [w for w in caught if issubclass(w.category, RampupWarning)]
    assert ours and all(w.filename == __file__ for w in ours)
