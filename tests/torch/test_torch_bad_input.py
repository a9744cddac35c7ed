"""Bad input to the PyTorch adapter is refused when the scheduler is built, with the familiar types."""

from __future__ import annotations

import pytest
import torch
from torch_adapter_helpers import make_run

import rampup
import rampup.torch as rt
from rampup.torch import Scheduler


def linear() -> rampup.Schedule:
    return rampup.schedule("linear", warmup_steps=2, total_steps=10)


@pytest.mark.parametrize("not_an_optimizer", [object(), None, [torch.nn.Parameter(torch.zeros(1))],
                                              torch.nn.Linear(2, 2)])
def test_not_an_optimizer_is_a_type_error(not_an_optimizer) -> None:
    with pytest.raises(TypeError, match=r"torch\.optim\.Optimizer"):
        Scheduler(not_an_optimizer, linear())
    with pytest.raises(TypeError):
        rt.get_linear_schedule_with_warmup(not_an_optimizer, 2, 10)
    with pytest.raises(TypeError):
        rt.to_tensor_lrs(not_an_optimizer)


@pytest.mark.parametrize("schedule", [lambda step: 1.0, "linear", 0.5, None,
                                      torch.optim.lr_scheduler.LambdaLR])
def test_non_rampup_schedule_is_a_type_error(schedule) -> None:
    with pytest.raises(TypeError, match="rampup Schedule"):
        Scheduler(make_run().optimizer, schedule)


def test_list_holding_a_non_schedule_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="rampup Schedule"):
        Scheduler(make_run().optimizer, [linear(), lambda step: 1.0])


@pytest.mark.parametrize("count", [0, 1, 3])
def test_wrong_number_of_per_group_schedules_is_a_value_error(count) -> None:
    with pytest.raises(ValueError, match="2 parameter groups"):
        Scheduler(make_run().optimizer, [linear()] * count)


def test_rejected_construction_leaves_the_optimizer_alone() -> None:
    run = make_run()
    before = [dict(g) for g in run.optimizer.param_groups]
    with pytest.raises(ValueError):
        Scheduler(run.optimizer, [linear()] * 3)
    with pytest.raises(TypeError):
        Scheduler(run.optimizer, lambda step: 1.0)
    assert [dict(g) for g in run.optimizer.param_groups] == before


def test_more_warmup_than_training_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="warmup"):
        rt.get_linear_schedule_with_warmup(make_run().optimizer, 11, 10)
    with pytest.raises(ValueError, match="warmup"):
        rt.get_scheduler("cosine", make_run().optimizer, num_warmup_steps=30, num_training_steps=20)


@pytest.mark.parametrize(("function", "kwargs"), [
    (rt.get_linear_schedule_with_warmup, {"num_warmup_steps": -1, "num_training_steps": 10}),
    (rt.get_linear_schedule_with_warmup, {"num_warmup_steps": 2, "num_training_steps": -10}),
    (rt.get_cosine_schedule_with_warmup, {"num_warmup_steps": 2, "num_training_steps": 0}),
    (rt.get_constant_schedule_with_warmup, {"num_warmup_steps": -3}),
    (rt.get_inverse_sqrt_schedule, {"num_warmup_steps": -3}),
    (rt.get_wsd_schedule, {"num_warmup_steps": 2, "num_decay_steps": -1, "num_training_steps": 10}),
])
def test_negative_steps_are_value_errors(function, kwargs) -> None:
    with pytest.raises(ValueError):
        function(make_run().optimizer, **kwargs)


def test_negative_steps_on_the_scheduler_are_value_errors() -> None:
    scheduler = Scheduler(make_run().optimizer, linear())
    with pytest.raises(ValueError):
        scheduler.step(epoch=-1)
    with pytest.raises(ValueError):
        scheduler.lr_at(-1)
    with pytest.raises(ValueError):
        Scheduler(make_run().optimizer, linear(), total_steps=0)
    with pytest.raises(ValueError):
        rt.get_linear_schedule_with_warmup(make_run().optimizer, 2, 10, last_epoch=-2)


def test_float_step_counts_are_type_errors() -> None:
    with pytest.raises(TypeError):
        rt.get_linear_schedule_with_warmup(make_run().optimizer, 2.5, 10)
    with pytest.raises(TypeError):
        Scheduler(make_run().optimizer, linear()).step(epoch=2.0)


def test_bad_choices_are_value_errors() -> None:
    with pytest.raises(ValueError, match="on_skipped_step"):
        Scheduler(make_run().optimizer, linear(), on_skipped_step="skip")


def test_mismatched_state_is_a_value_error() -> None:
    run = make_run()
    saved = Scheduler(run.optimizer, linear()).state_dict()
    other = Scheduler(make_run().optimizer, rampup.schedule("linear", warmup_steps=3, total_steps=10))
    with pytest.raises(ValueError, match=r"steps: saved 8, now 7"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError):
        other.load_state_dict({"step": 3})


@pytest.mark.parametrize(("call", "kind", "match"), [
    (lambda o: rt.get_linear_schedule_with_warmup(o, 2, 10, last_epoch=3), KeyError, "initial_lr"),
    (lambda o: rt.get_polynomial_decay_schedule_with_warmup(o, 2, 10, lr_end=1.0), ValueError, "lr_end"),
    (lambda o: rt.get_polynomial_decay_schedule_with_warmup(o, 2, 10, lr_end="x"), TypeError, "lr_end"),
    (lambda o: rt.get_cosine_with_min_lr_schedule_with_warmup(o, 2, 10), ValueError, "min_lr"),
    (lambda o: rt.get_cosine_with_min_lr_schedule_with_warmup(o, 2, 10, min_lr=0.0, min_lr_rate=0.1),
     ValueError, "min_lr"),
    (lambda o: rt.get_wsd_schedule(o, 2, 3), ValueError, "num_stable_steps"),
    (lambda o: rt.get_scheduler("nope", o, 2, 10), ValueError, "SchedulerType"),
    (lambda o: rt.get_scheduler(["linear"], o, 2, 10), ValueError, "SchedulerType"),
    (lambda o: rt.get_scheduler("linear", o), ValueError, "num_warmup_steps"),
    (lambda o: rt.get_scheduler("linear", o, 2), ValueError, "num_training_steps"),
    (lambda o: rt.get_reduce_on_plateau_schedule(o, mode="up"), ValueError, "mode"),
    (lambda o: rt.get_reduce_on_plateau_schedule(o, patience_steps=3), TypeError, "patience_steps"),
    (lambda o: rt.GreedyLR(o, factor=1.5), ValueError, "Factor"),
    (lambda o: rt.GreedyLR(o, factor="x"), TypeError, "factor"),
    (lambda o: rt.GreedyLR(o, mode="up"), ValueError, "mode"),
    (lambda o: rt.GreedyLR(o, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda o: rt.GreedyLR(o, min_lr=[1e-5]), ValueError, "min_lrs"),
    (lambda o: rt.GreedyLR(o, min_lr=[1e-5, "x"]), TypeError, r"min_lr\[1\]"),
    (lambda o: rt.GreedyLR(o, eps=-1.0), ValueError, "eps"),
    (lambda o: rt.GreedyLR(o).step("x"), TypeError, "metrics"),
    (lambda o: rt.GreedyLR(o).step(1.0, epoch=-1), ValueError, "epoch"),
])
def test_adapter_errors_are_rampup_errors_of_the_familiar_type(call, kind, match) -> None:
    with pytest.raises(kind, match=match) as caught:
        call(make_run().optimizer)
    assert isinstance(caught.value, rampup.RampupError)


def test_the_missing_initial_lr_message_is_not_quoted_like_a_key() -> None:
    with pytest.raises(KeyError) as caught:
        rt.get_linear_schedule_with_warmup(make_run().optimizer, 2, 10, last_epoch=3)
    assert str(caught.value).startswith("param 'initial_lr' is not specified")
