"""rampup.torch.critical_lr against the one case known in closed form, restoration, and bad input.

Oracle: gradient descent on a quadratic ``L(w) = 1/2 sum_j lam_j w_j^2`` multiplies ``w_j`` by
``(1 - eta lam_j)`` each update, so after ``k`` updates ``L_k = 1/2 sum_j lam_j (1 - eta lam_j)^(2k) w_j^2``.
The loss rises above the start exactly when ``eta > 2 / lam_max`` (the edge of stability); with the
probe's allowance ``rise`` and ``n`` updates, the first rate whose final loss exceeds
``(1 + rise) L_0`` solves ``L_n(eta) = (1 + rise) L_0``, found here by brute force on a fine grid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from probe_helpers import (  # one_thread: an autouse fixture
    assert_unchanged,
    make_batches,
    make_model,
    make_optimizer,
    mse,
    one_thread,  # noqa: F401
    record,
    train,
)
from torch import nn

import rampup
from rampup.errors import RampupError
from rampup.torch import critical_lr

LAMBDAS = torch.tensor([0.5, 2.0, 8.0], dtype=torch.float64)
START = torch.tensor([1.0, 1.0, 0.05], dtype=torch.float64)


def quadratic() -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Linear(3, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(START)
    return model, torch.optim.SGD(model.parameters(), lr=0.1)


def quadratic_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    return 0.5 * (LAMBDAS * model.weight[0] ** 2).sum()


def oracle(updates: int, rise: float) -> float:
    """The smallest rate whose losses within ``updates`` updates exceed the start by ``rise``."""
    lam, w = LAMBDAS.numpy(), START.numpy()
    start = 0.5 * np.sum(lam * w ** 2)
    etas = np.exp(np.linspace(math.log(1e-3), math.log(10.0), 200_001))[:, None]
    worst = np.max([0.5 * np.sum(lam * (1 - etas * lam) ** (2 * k) * w ** 2, axis=1)
                    for k in range(1, updates + 1)], axis=0)
    return float(etas[np.argmax(worst > (1 + rise) * start), 0])


@pytest.mark.parametrize(("updates", "rise"), [(1, 0.05), (5, 0.05), (3, 0.2)])
def test_critical_rate_of_gradient_descent_on_a_quadratic(updates: int, rise: float) -> None:
    model, optimizer = quadratic()
    result = critical_lr(model, optimizer, quadratic_loss, range(updates), updates=updates, rise=rise,
                         precision=0.002)
    expected = oracle(updates, rise)
    assert result.rate is not None and result.catapult_rate is not None
    assert result.rate <= expected * 1.0001 and result.catapult_rate >= expected / 1.0001
    assert math.log10(result.catapult_rate / result.rate) <= 0.002
    # the edge of stability 2 / lam_max bounds it from below; more updates bring it closer
    assert result.rate > 2 / 8.0 * 0.999


def test_every_trial_is_evidence_and_bisection_is_in_log_space() -> None:
    model, optimizer = quadratic()
    result = critical_lr(model, optimizer, quadratic_loss, range(5), min_lr=1e-4, max_lr=100.0)
    first, second, third = result.trials[:3]
    assert (first.lr, second.lr) == (100.0, 1e-4)  # the bracket is checked first
    assert first.catapult and not second.catapult
    assert third.lr == pytest.approx(math.sqrt(1e-4 * 100.0))  # then its geometric middle
    for trial in result.trials:
        assert len(trial.losses) == 6  # 5 updates, then batch 0 again
        assert trial.losses[0] == pytest.approx(result.reference[0])  # update 1 starts from the start
        assert trial.catapult == (trial.lr >= result.catapult_rate)


def test_no_catapult_up_to_max_lr_and_catapult_at_min_lr() -> None:
    model, optimizer = quadratic()
    result = critical_lr(model, optimizer, quadratic_loss, range(5), min_lr=1e-4, max_lr=0.1)
    assert result.rate == 0.1 and result.catapult_rate is None and "at least" in result.reason
    result = critical_lr(model, optimizer, quadratic_loss, range(5), min_lr=1.0, max_lr=10.0)
    assert result.rate is None and result.catapult_rate == 1.0
    with pytest.raises(RampupError, match="no critical rate"):
        result.warmup(3.0, 10)


def test_warmup_from_the_critical_rate() -> None:
    model, optimizer = quadratic()
    result = critical_lr(model, optimizer, quadratic_loss, range(5))
    assert result.rate is not None
    peak = 4 * result.rate
    ramp = result.warmup(peak, 50)
    assert ramp == rampup.Warmup(steps=50, start=0.25)
    # the same slope as a warmup from 0 over 100 steps: the first quarter of it is skipped
    assert result.suggested_steps(peak, 100) == 75
    assert result.warmup(peak, usual_steps=100) == rampup.Warmup(steps=75, start=0.25)
    assert result.warmup(result.rate / 2, usual_steps=100) == rampup.Warmup(steps=0, start=1.0)
    schedule = result.schedule(rampup.Cosine(steps=100), peak, 10)
    assert schedule(0) == pytest.approx(0.25 + 0.75 / 10)
    assert schedule(9) == pytest.approx(1.0)
    with pytest.raises(RampupError, match="not both"):
        result.warmup(peak, 10, usual_steps=100)


@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw", "rmsprop"])
def test_model_optimizer_and_generators_are_restored(kind: str) -> None:
    model = make_model()
    optimizer = make_optimizer(model, kind)
    train(model, optimizer, make_batches(2, seed=5))
    before = record(model, optimizer)
    result = critical_lr(model, optimizer, mse, make_batches(5), updates=5)
    assert len(result.trials) >= 3
    assert_unchanged(before, model, optimizer)


def test_dropout_draws_the_same_numbers_in_every_trial() -> None:
    """Tiny rates change almost nothing, so with the same dropout masks nothing catapults."""
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    result = critical_lr(model, optimizer, mse, make_batches(5), min_lr=1e-9, max_lr=1e-8)
    assert result.rate == 1e-8  # not even max_lr catapults
    for trial in result.trials:
        assert trial.losses[-1] == pytest.approx(result.reference[0], rel=1e-5)


class Boom(Exception):
    pass


def test_restored_after_an_exception_in_the_loss_function() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    before = record(model, optimizer)
    calls = 0

    def failing(m: nn.Module, batch: Any) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 12:
            raise Boom
        return mse(m, batch)

    with pytest.raises(Boom):
        critical_lr(model, optimizer, failing, make_batches(5))
    assert_unchanged(before, model, optimizer)


@pytest.mark.parametrize(("options", "name"), [
    ({"min_lr": 0.0}, "min_lr"), ({"max_lr": math.nan}, "max_lr"), ({"min_lr": 1.0, "max_lr": 0.5}, "min_lr"),
    ({"updates": 0}, "updates"), ({"rise": 0.0}, "rise"), ({"precision": -1.0}, "precision"),
])
def test_bad_options(options: dict[str, Any], name: str) -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    before = record(model, optimizer)
    with pytest.raises(RampupError, match=name):
        critical_lr(model, optimizer, mse, make_batches(5), **options)
    assert_unchanged(before, model, optimizer)


def test_short_data_and_bad_loss() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    before = record(model, optimizer)
    with pytest.raises(RampupError, match="data has 2 batches but updates=5 needs 5"):
        critical_lr(model, optimizer, mse, make_batches(2))
    with pytest.raises(RampupError, match="ran out after 2 batches"):
        critical_lr(model, optimizer, mse, iter(make_batches(2)))
    with pytest.raises(RampupError, match="scalar loss"):
        critical_lr(model, optimizer, lambda m, b: m(b[0]), make_batches(5))
    assert_unchanged(before, model, optimizer)


def test_step_post_hooks_do_not_see_the_trials_and_come_back_after() -> None:
    model, optimizer = quadratic()
    seen: list[int] = []
    optimizer.register_step_post_hook(lambda *args: seen.append(1))
    hooks_before = list(optimizer._optimizer_step_post_hooks)  # type: ignore[attr-defined]
    result = critical_lr(model, optimizer, quadratic_loss, [0] * 5, updates=5)
    assert result.trials and seen == []
    assert list(optimizer._optimizer_step_post_hooks) == hooks_before  # type: ignore[attr-defined]
    optimizer.step()
    assert seen == [1]
