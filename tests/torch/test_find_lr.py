"""rampup.torch.find_lr: the sweep, the stop, exact restoration, bad input, the second form, the figure."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import pytest
import torch
from probe_helpers import (
    OPTIMIZERS,
    assert_unchanged,
    make_batches,
    make_model,
    make_optimizer,
    mse,
    one_thread,  # noqa: F401  (an autouse fixture)
    record,
    train,
)
from torch import nn

from rampup.errors import RampupError
from rampup.torch import find_lr


def _scripted(values: list[float]) -> tuple[nn.Module, torch.optim.Optimizer, Any, list[int]]:
    """A model whose loss at update i is values[i] (its one weight gets zero gradients)."""
    model = nn.Linear(1, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls: list[int] = []

    def loss_fn(m: nn.Module, batch: int) -> torch.Tensor:
        calls.append(batch)
        return m.weight.sum() * 0.0 + values[batch]

    return model, optimizer, loss_fn, calls


# --- the sweep -----------------------------------------------------------------------------------

def test_rates_are_exponential_and_groups_keep_their_ratio() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    seen: list[list[float]] = []

    def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
        seen.append([float(g["lr"]) for g in optimizer.param_groups])
        return mse(m, batch)

    result = find_lr(model, optimizer, loss_fn, make_batches(30), min_lr=1e-5, max_lr=1e-1, steps=30,
                     diverge=1e9)
    expected = [1e-5 * (1e-1 / 1e-5) ** (i / 29) for i in range(30)]
    assert result.lrs == pytest.approx(expected, rel=1e-12)
    assert [s[0] for s in seen] == pytest.approx(expected, rel=1e-12)
    assert [s[1] for s in seen] == pytest.approx([lr / 10 for lr in expected], rel=1e-12)
    assert result.group_ratios == pytest.approx([1.0, 0.1])
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.1, 0.01])  # given back


def test_ratios_come_from_initial_lr_when_a_scheduler_set_it() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01)  # lr now 1e-5, 1e-6
    before = record(model, optimizer)  # with initial_lr in every group
    seen: list[list[float]] = []

    def loss_fn(m: nn.Module, batch: Any) -> torch.Tensor:
        seen.append([float(g["lr"]) for g in optimizer.param_groups])
        return mse(m, batch)

    find_lr(model, optimizer, loss_fn, make_batches(10), steps=10, diverge=1e9)
    assert all(second == pytest.approx(first / 10) for first, second in seen)
    assert_unchanged(before, model, optimizer)
    assert optimizer.param_groups[0]["initial_lr"] == 1e-3
    assert scheduler.get_last_lr() == pytest.approx([1e-5, 1e-6])


def test_step_post_hooks_do_not_see_the_sweep_and_come_back_after() -> None:
    """An attached rampup Scheduler must not count the sweep's updates as its own, and a user's
    post-hook (say, an average of the weights) must not record updates that are undone."""
    import rampup
    from rampup.torch import Scheduler

    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    scheduler = Scheduler(optimizer, rampup.Constant(1.0), total_steps=20, on_skipped_step="hold")
    seen: list[int] = []
    optimizer.register_step_post_hook(lambda *args: seen.append(1))
    hooks_before = list(optimizer._optimizer_step_post_hooks)  # type: ignore[attr-defined]
    find_lr(model, optimizer, mse, make_batches(12), steps=12, diverge=1e9)
    assert seen == []
    assert list(optimizer._optimizer_step_post_hooks) == hooks_before  # type: ignore[attr-defined]
    scheduler.step()  # no optimizer.step() since the scheduler was built: a skip, held
    assert scheduler.skipped_steps == 1
    optimizer.step()
    scheduler.step()
    assert seen == [1] and scheduler.skipped_steps == 1


def test_smoothed_losses_are_the_bias_corrected_moving_average() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    result = find_lr(model, optimizer, mse, make_batches(40), steps=40, beta=0.8, diverge=1e9)
    average, expected = 0.0, []
    for i, value in enumerate(result.raw_losses):
        average = 0.8 * average + 0.2 * value
        expected.append(average / (1 - 0.8 ** (i + 1)))
    assert result.losses == pytest.approx(expected, rel=1e-12)
    assert result.losses[0] == pytest.approx(result.raw_losses[0], rel=1e-15)


def test_same_losses_and_restore_as_torch_lr_finder() -> None:
    """torch-lr-finder 0.2.2 as an independent reference: the same exponential sweep gives the same
    losses; it restores model and optimizer too, but leaves the random generators advanced."""
    tlf = pytest.importorskip("torch_lr_finder")
    batches = make_batches(25)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.cat([b[0] for b in batches]),
                                       torch.cat([b[1] for b in batches])),
        batch_size=16)

    def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)  # no dropout: both must draw the same numbers for the same losses
        model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
        return model, torch.optim.Adam(model.parameters(), lr=1e-6)

    model, optimizer = fresh()
    torch.manual_seed(7)
    before = record(model, optimizer)
    theirs = tlf.LRFinder(model, optimizer, nn.MSELoss())
    theirs.range_test(loader, start_lr=1e-6, end_lr=1.0, num_iter=25, smooth_f=0.0, diverge_th=1e9)
    theirs.reset()
    their_rng = torch.get_rng_state()

    model2, optimizer2 = fresh()
    torch.manual_seed(7)
    ours = find_lr(model2, optimizer2, mse, loader, min_lr=1e-6, max_lr=1.0, steps=25, diverge=1e9)
    assert ours.lrs == pytest.approx(theirs.history["lr"], rel=1e-12)
    assert ours.raw_losses == pytest.approx(theirs.history["loss"], rel=1e-6)
    # both restore the weights and the optimizer ...
    for p, q, saved in zip(model.parameters(), model2.parameters(), before["parameters"], strict=True):
        assert torch.equal(p, saved) and torch.equal(q, saved)
    # ... ours the generators as well: iterating a DataLoader draws a seed from torch's generator
    assert_unchanged(before, model2, optimizer2)
    assert not torch.equal(their_rng, before["torch_rng"])


# --- exact restoration -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("trained", [False, True], ids=["fresh", "trained"])
def test_everything_is_restored_bit_for_bit(kind: str, trained: bool) -> None:
    model = make_model()
    optimizer = make_optimizer(model, kind)
    if trained:  # optimizer state with moments and step counts, gradients left in place
        train(model, optimizer, make_batches(3, seed=5))
    model.eval()  # a mode the sweep must give back
    np.random.seed(3)
    random.seed(4)
    before = record(model, optimizer)
    result = find_lr(model, optimizer, mse, make_batches(30), steps=30)
    assert len(result.raw_losses) >= 10
    assert_unchanged(before, model, optimizer)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_training_after_the_sweep_is_identical_to_training_without_it(kind: str) -> None:
    runs = []
    for sweep in (True, False):
        model = make_model()
        optimizer = make_optimizer(model, kind)
        torch.manual_seed(10)
        train(model, optimizer, make_batches(2, seed=5))
        torch.manual_seed(11)
        if sweep:
            find_lr(model, optimizer, mse, make_batches(20), steps=20)
        runs.append((train(model, optimizer, make_batches(5, seed=9)), list(model.parameters())))
    (losses, parameters), (twin_losses, twin_parameters) = runs
    assert losses == twin_losses
    for p, q in zip(parameters, twin_parameters, strict=True):
        assert torch.equal(p, q)


def test_restored_after_an_early_stop() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    train(model, optimizer, make_batches(2, seed=5))
    before = record(model, optimizer)
    result = find_lr(model, optimizer, mse, make_batches(40), min_lr=1e-2, max_lr=1e6, steps=40)
    assert result.stopped_early and len(result.raw_losses) < 40
    assert_unchanged(before, model, optimizer)


class Boom(Exception):
    pass


def test_restored_after_an_exception_in_the_loss_function() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adamw")
    train(model, optimizer, make_batches(2, seed=5))
    before = record(model, optimizer)
    calls = 0

    def failing(m: nn.Module, batch: Any) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls == 8:
            raise Boom("user code failed")
        return mse(m, batch)

    with pytest.raises(Boom):
        find_lr(model, optimizer, failing, make_batches(30), steps=30)
    assert calls == 8
    assert_unchanged(before, model, optimizer)


def test_tensor_rates_are_filled_in_place_and_restored() -> None:
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=torch.tensor(1e-3))
    rate = optimizer.param_groups[0]["lr"]
    find_lr(model, optimizer, mse, make_batches(12), steps=12)
    assert optimizer.param_groups[0]["lr"] is rate and float(rate) == pytest.approx(1e-3)


def test_dataloader_shuffling_generator_is_restored() -> None:
    batches = make_batches(12)
    dataset = torch.utils.data.TensorDataset(torch.cat([b[0] for b in batches]),
                                             torch.cat([b[1] for b in batches]))
    generator = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, generator=generator)
    state = generator.get_state()
    model = make_model()
    find_lr(model, make_optimizer(model, "sgd"), mse, loader, steps=12)
    assert torch.equal(generator.get_state(), state)


# --- stopping -------------------------------------------------------------------------------------

def test_a_lone_spike_does_not_stop_the_sweep() -> None:
    values = [2.0] * 40
    values[3] = 50.0  # one early spike, far above 4x the lowest smoothed loss
    values[4] = 30.0  # and a second reading still above it: fewer than patience=3
    model, optimizer, loss_fn, calls = _scripted(values)
    result = find_lr(model, optimizer, loss_fn, range(40), steps=40)
    assert not result.stopped_early and len(calls) == 40


def test_divergence_stops_after_patience_readings_above_the_limit() -> None:
    values = [2.0] * 20 + [1.0] * 10 + [100.0] * 10
    model, optimizer, loss_fn, calls = _scripted(values)
    result = find_lr(model, optimizer, loss_fn, range(40), steps=40, patience=3)
    # the lowest smoothed loss by update 30 is above 1; 3 readings of 100 (> 4x it) stop the sweep
    assert result.stopped_early and len(calls) == 33 and len(result.raw_losses) == 33


def test_a_non_finite_loss_stops_at_once() -> None:
    values = [2.0] * 15 + [math.nan] + [2.0] * 4
    model, optimizer, loss_fn, calls = _scripted(values)
    result = find_lr(model, optimizer, loss_fn, range(20), steps=20)
    assert result.stopped_early and len(calls) == 16 and math.isnan(result.raw_losses[-1])
    assert "nan" in result.stop_reason


def test_a_curve_without_descent_gets_no_suggestion() -> None:
    values = [2.0 + 0.01 * ((7 * i) % 5) for i in range(30)]  # flat, a little noise
    model, optimizer, loss_fn, _ = _scripted(values)
    result = find_lr(model, optimizer, loss_fn, range(30), steps=30)
    assert result.suggestion is None and result.reason.startswith("no usable descent")
    with pytest.raises(RampupError, match="no suggestion"):
        result.group_lrs()


# --- bad input ----------------------------------------------------------------------------------

BAD = [
    ({"min_lr": 0.0}, "min_lr"), ({"min_lr": -1e-3}, "min_lr"), ({"max_lr": math.inf}, "max_lr"),
    ({"min_lr": math.nan}, "min_lr"), ({"min_lr": 1.0, "max_lr": 1.0}, "min_lr"),
    ({"min_lr": 2.0, "max_lr": 1.0}, "min_lr"), ({"steps": 9}, "steps"), ({"steps": 20.0}, "steps"),
    ({"beta": 1.0}, "beta"), ({"diverge": 1.0}, "diverge"), ({"patience": 0}, "patience"),
]


@pytest.mark.parametrize(("options", "name"), BAD)
def test_bad_options_are_refused_before_any_update(options: dict[str, Any], name: str) -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    before = record(model, optimizer)
    calls = []
    with pytest.raises(RampupError, match=name):
        find_lr(model, optimizer, lambda m, b: calls.append(b) or mse(m, b), make_batches(30), **options)
    assert calls == []
    assert_unchanged(before, model, optimizer)


def test_too_short_data_says_how_many_batches_are_needed() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    before = record(model, optimizer)
    with pytest.raises(RampupError, match=r"data has 5 batches but steps=20 needs 20"):
        find_lr(model, optimizer, mse, make_batches(5), steps=20)
    with pytest.raises(RampupError, match=r"data has 0 batches"):
        find_lr(model, optimizer, mse, [], steps=20)
    with pytest.raises(RampupError, match=r"data is empty"):
        find_lr(model, optimizer, mse, iter([]), steps=20)
    assert_unchanged(before, model, optimizer)


def test_an_iterator_that_runs_out_is_an_error_and_restores() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    before = record(model, optimizer)
    with pytest.raises(RampupError, match=r"ran out after 7 batches: steps=20 needs 20"):
        find_lr(model, optimizer, mse, iter(make_batches(7)), steps=20)
    assert_unchanged(before, model, optimizer)


@pytest.mark.parametrize(("loss", "message"), [
    (lambda m, b: mse(m, b).reshape(1).repeat(3), "scalar loss"),
    (lambda m, b: float(mse(m, b).detach()), "torch.Tensor"),
    (lambda m, b: mse(m, b).detach(), "requires_grad"),
])
def test_a_bad_loss_is_refused_before_any_update(loss: Any, message: str) -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    train(model, optimizer, make_batches(1, seed=5))
    before = record(model, optimizer)
    steps = []
    optimizer.register_step_post_hook(lambda *args: steps.append(1))
    with pytest.raises(RampupError, match=message):
        find_lr(model, optimizer, loss, make_batches(20), steps=20)
    assert steps == []
    assert_unchanged(before, model, optimizer)  # the forward pass moved BatchNorm's statistics: back


def test_no_trainable_parameters() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    with pytest.raises(RampupError, match="no trainable parameters"):
        find_lr(model, optimizer, mse, make_batches(20), steps=20)


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((object(), None), {}, "model"),
    ((nn.Linear(1, 1), "sgd"), {}, "optimizer"),
])
def test_wrong_types(args: Any, kwargs: Any, message: str) -> None:
    with pytest.raises(RampupError, match=message):
        find_lr(*args, mse, make_batches(20), **kwargs)


def test_forms_are_not_mixed() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    with pytest.raises(RampupError, match="not both"):
        find_lr(model, optimizer, mse, make_batches(20), update=lambda: 1.0)
    with pytest.raises(RampupError, match="data is missing"):
        find_lr(model, optimizer, mse)
    with pytest.raises(RampupError, match="loss_fn"):
        find_lr(model, optimizer)


# --- the second form: the caller's own update ----------------------------------------------------

def test_update_form_gives_the_same_curve_as_the_loss_form() -> None:
    batches = make_batches(30)
    model = make_model()
    optimizer = make_optimizer(model, "adamw")
    torch.manual_seed(2)
    first = find_lr(model, optimizer, mse, batches, steps=30)

    model2 = make_model()
    optimizer2 = make_optimizer(model2, "adamw")
    stream = iter(batches)

    def update() -> torch.Tensor:
        loss = mse(model2, next(stream))
        optimizer2.zero_grad()
        loss.backward()
        optimizer2.step()
        return loss

    model2.train()
    torch.manual_seed(2)
    second = find_lr(model2, optimizer2, update=update, steps=30)
    assert second.raw_losses == first.raw_losses
    assert second.suggestion == first.suggestion


def test_gradient_accumulation_through_the_update_form() -> None:
    """Two half batches accumulated make the same update as one whole batch (no BatchNorm here)."""
    torch.manual_seed(0)
    whole = make_batches(20, size=16)

    def linear_model() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1))

    model = linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    reference = find_lr(model, optimizer, mse, whole, min_lr=1e-4, max_lr=1.0, steps=20)

    model2 = linear_model()
    optimizer2 = torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9)
    stream = iter(whole)

    def accumulate() -> float:
        x, y = next(stream)
        optimizer2.zero_grad()
        total = 0.0
        for part in (slice(0, 8), slice(8, 16)):
            loss = mse(model2, (x[part], y[part])) / 2
            loss.backward()
            total += float(loss.detach())
        optimizer2.step()
        return total

    before = record(model2, optimizer2)
    accumulated = find_lr(model2, optimizer2, update=accumulate, min_lr=1e-4, max_lr=1.0, steps=20)
    assert accumulated.raw_losses == pytest.approx(reference.raw_losses, rel=1e-5)
    assert_unchanged(before, model2, optimizer2)


def test_grad_scaler_state_is_restored() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=3)
    batches = iter(make_batches(30))

    def update() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = mse(model, next(batches))
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    update()  # the scaler has state now
    saved = copy.deepcopy(scaler.state_dict())
    before = record(model, optimizer)
    result = find_lr(model, optimizer, update=update, steps=20, restore=[scaler])
    assert len(result.raw_losses) >= 10
    assert scaler.state_dict() == saved
    assert_unchanged(before, model, optimizer)


def test_update_must_return_a_loss() -> None:
    model = make_model()
    optimizer = make_optimizer(model, "sgd")
    with pytest.raises(RampupError, match="update must return the loss"):
        find_lr(model, optimizer, update=lambda: None, steps=10)


# --- the result -------------------------------------------------------------------------------

def test_result_plot_and_dict(tmp_path: Any) -> None:
    model = make_model()
    optimizer = make_optimizer(model, "adam")
    result = find_lr(model, optimizer, mse, make_batches(60, size=256), steps=60)
    assert result.suggestion is not None and result.details.region is not None
    assert result.details.region[0] < result.suggestion < result.details.region[1]
    path = result.plot(tmp_path / "lr.png")
    assert path is not None and path.stat().st_size > 5000
    data = result.to_dict()
    assert data["lrs"] == result.lrs and data["suggestion"] == result.suggestion
    assert "why:" in str(result)
    with pytest.raises(RampupError, match="must end in"):
        result.plot(tmp_path / "lr.txt")
    assert result.group_lrs() == pytest.approx([result.suggestion, result.suggestion / 10])
    assert result.group_lrs(1.0) == pytest.approx([1.0, 0.1])
