"""Scheduler(hyperparams=...): momentum, beta1/beta2 and weight decay as base * schedule(step).

Oracles: torch's OneCycleLR (which cycles momentum and betas[0]) and an uninterrupted run for
resume; values are read from the optimizer's parameter groups after real updates.
"""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
import torch
from torch_adapter_helpers import LRS, make_run

import rampup
from rampup.torch import Scheduler
from rampup.torch.hyperparams import one_cycle_momentum


def _values(optimizer: torch.optim.Optimizer, key: str, index: int | None = None) -> list[float]:
    out = []
    for group in optimizer.param_groups:
        value = group[key] if index is None else group[key][index]
        out.append(float(value))
    return out


def _one_cycle_run(total: int, kind: str, pct: float, anneal: str, ours: bool) -> tuple[list[Any], list[Any]]:
    """Per-update (rates, momentum or beta1) of torch's OneCycleLR, or of rampup's equivalent."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    if kind == "sgd":
        optimizer: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.95)
        key, index, name = "momentum", None, "momentum"
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1, betas=(0.95, 0.999))
        key, index, name = "betas", 0, "beta1"
    if ours:
        scheduler: Any = Scheduler(optimizer, rampup.OneCycle(steps=total, pct_start=pct, anneal=anneal),
                                   hyperparams={name: one_cycle_momentum(total, pct, anneal=anneal)})
    else:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=total,
                                                        pct_start=pct, anneal_strategy=anneal)
    rates, momenta = [], []
    x = torch.randn(4, 3)
    for k in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        momenta.append(_values(optimizer, key, index)[0])
        if kind == "adam":
            assert optimizer.param_groups[0]["betas"][1] == 0.999  # beta2 untouched
        optimizer.zero_grad()
        model(x).pow(2).mean().backward()
        optimizer.step()
        if ours or k < total - 1:  # torch's OneCycleLR refuses a step past its total
            scheduler.step()
    return rates, momenta


@pytest.mark.filterwarnings("ignore:scheduler.step\\(\\) went past the end")
@pytest.mark.parametrize(("total", "kind", "pct", "anneal"), [
    (10, "sgd", 0.3, "cos"), (40, "adam", 0.25, "cos"), (20, "sgd", 0.5, "linear"),
])
def test_one_cycle_momentum_matches_torch_one_cycle_lr(
    total: int, kind: str, pct: float, anneal: str
) -> None:
    theirs = _one_cycle_run(total, kind, pct, anneal, ours=False)
    ours = _one_cycle_run(total, kind, pct, anneal, ours=True)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-15, abs=1e-15)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-9)
    assert min(ours[1]) == pytest.approx(0.85) and ours[1][0] == ours[1][-1] == pytest.approx(0.95)


def test_values_are_the_attach_time_base_times_the_schedule_for_every_group() -> None:
    run = make_run(optimizer="adamw")  # two groups, AdamW(weight_decay=0.01)
    run.optimizer.param_groups[1]["weight_decay"] = 0.1
    run.optimizer.param_groups[1]["betas"] = (0.8, 0.99)
    decay = rampup.schedule("warmup_linear", warmup_steps=2, total_steps=8, min_lr_ratio=0.5)
    beta1 = [rampup.Constant(), rampup.with_warmup(rampup.Constant(), 4, start=0.5)]  # one per group
    lr = rampup.schedule("cosine", warmup_steps=2, total_steps=8)
    scheduler = Scheduler(run.optimizer, lr, hyperparams={"weight_decay": decay, "beta1": beta1})
    for k in range(9):
        assert _values(run.optimizer, "weight_decay") == [0.01 * decay(k), 0.1 * decay(k)]
        assert _values(run.optimizer, "betas", 0) == [0.9 * beta1[0](k), 0.8 * beta1[1](k)]
        assert _values(run.optimizer, "betas", 1) == [0.999, 0.99]
        assert run.lrs() == [base * lr(k) for base in LRS]
        if k < 8:
            run.update()
            scheduler.step()
    group = run.optimizer.param_groups[1]
    assert (group["initial_weight_decay"], group["initial_beta1"]) == (0.1, 0.8)
    assert isinstance(group["betas"], tuple)


def test_tensor_values_are_updated_in_place() -> None:
    run = make_run()
    for group in run.optimizer.param_groups:
        group["betas"] = (torch.tensor(0.9), torch.tensor(0.999))
        group["weight_decay"] = torch.tensor(0.01)
    beta1s = [group["betas"][0] for group in run.optimizer.param_groups]
    decays = [group["weight_decay"] for group in run.optimizer.param_groups]
    schedule = rampup.Cosine(steps=5, min_lr_ratio=0.5)
    scheduler = Scheduler(run.optimizer, rampup.Constant(),
                          hyperparams={"beta1": schedule, "weight_decay": schedule})
    for k in range(1, 7):
        run.update()
        scheduler.step()
        for group, beta1, decay in zip(run.optimizer.param_groups, beta1s, decays, strict=True):
            assert group["betas"][0] is beta1 and group["weight_decay"] is decay
            # the base is the float32 tensor's value, as torch would read it
            assert beta1.item() == torch.tensor(torch.tensor(0.9).item() * schedule(k)).item()
            assert decay.item() == torch.tensor(torch.tensor(0.01).item() * schedule(k)).item()
            assert group["betas"][1].item() == torch.tensor(0.999).item()


def _save(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _momentum_scheduler(optimizer: torch.optim.Optimizer) -> Scheduler:
    return Scheduler(optimizer, rampup.OneCycle(steps=30), hyperparams={"momentum": one_cycle_momentum(30)})


# OneCycle's last change is at step 29, so the 30th step() warns that it went past the end
@pytest.mark.filterwarnings("ignore:scheduler.step\\(\\) went past the end")
@pytest.mark.parametrize("order", ["optimizer-first", "scheduler-first", "scheduler-after-optimizer-load"])
def test_resume_continues_momentum_and_rate_bit_for_bit(order: str) -> None:
    def trace(run: Any, scheduler: Scheduler, steps: int) -> list[tuple[str, ...]]:
        out = []
        for _ in range(steps):
            out.append(tuple(float(v).hex() for v in run.lrs() + _values(run.optimizer, "momentum")))
            run.update()
            scheduler.step()
        return out

    reference = make_run(optimizer="sgd")
    full = trace(reference, _momentum_scheduler(reference.optimizer), 30)
    first = make_run(optimizer="sgd")
    scheduler = _momentum_scheduler(first.optimizer)
    assert trace(first, scheduler, 12) == full[:12]
    checkpoint = _save({"model": first.model.state_dict(), "optimizer": first.optimizer.state_dict(),
                        "scheduler": scheduler.state_dict()})
    assert checkpoint["scheduler"]["hyperparams"]["momentum"]["bases"] == [0.9, 0.9]

    second = make_run(optimizer="sgd", seed=1)
    second.model.load_state_dict(checkpoint["model"])
    if order == "scheduler-after-optimizer-load":
        # the optimizer now holds the momentum of step 12; the saved initial_momentum is the base
        second.optimizer.load_state_dict(checkpoint["optimizer"])
        resumed = _momentum_scheduler(second.optimizer)
        assert resumed._hyperparams[0].bases == [0.9, 0.9]
        resumed.load_state_dict(checkpoint["scheduler"])
    else:
        resumed = _momentum_scheduler(second.optimizer)
        if order == "optimizer-first":
            second.optimizer.load_state_dict(checkpoint["optimizer"])
            resumed.load_state_dict(checkpoint["scheduler"])
        else:
            resumed.load_state_dict(checkpoint["scheduler"])
            second.optimizer.load_state_dict(checkpoint["optimizer"])
    assert trace(second, resumed, 18) == full[12:]
    for p, q in zip(reference.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_state_is_plain_data_and_unchanged_without_hyperparams() -> None:
    plain = Scheduler(make_run().optimizer, rampup.Constant())
    assert "hyperparams" not in plain.state_dict()
    run = make_run(optimizer="sgd")
    scheduler = _momentum_scheduler(run.optimizer)
    state = scheduler.state_dict()
    frozen = copy.deepcopy(state)
    assert _save(state) == state
    other = _momentum_scheduler(make_run(optimizer="sgd").optimizer)
    other.load_state_dict(state)
    run.update()
    scheduler.step()
    assert state == frozen


def test_a_different_hyperparameter_schedule_is_refused_unless_allowed() -> None:
    run = make_run(optimizer="sgd")
    scheduler = _momentum_scheduler(run.optimizer)
    for _ in range(5):
        run.update()
        scheduler.step()
    state = scheduler.state_dict()
    other_run = make_run(optimizer="sgd")
    other = Scheduler(other_run.optimizer, rampup.OneCycle(steps=30),
                      hyperparams={"momentum": one_cycle_momentum(30, base_momentum=0.8)})
    before = _values(other_run.optimizer, "momentum")
    with pytest.raises(ValueError, match=r"hyperparams\.momentum\.schedules\[0\]\.phases\[0\]\.min_lr_ratio"):
        other.load_state_dict(state)
    assert other.last_epoch == 0 and _values(other_run.optimizer, "momentum") == before  # nothing changed
    other.load_state_dict(state, on_config_change="keep_step")
    assert other.last_epoch == 5
    expected = 0.9 * one_cycle_momentum(30, base_momentum=0.8)(5)
    assert _values(other_run.optimizer, "momentum") == [expected] * 2
    without = Scheduler(make_run(optimizer="sgd").optimizer, rampup.OneCycle(steps=30))
    with pytest.raises(ValueError, match=r"schedules hyperparameters \['momentum'\], this scheduler \[\]"):
        without.load_state_dict(state)


def test_bad_hyperparams_are_refused_naming_the_parameter() -> None:
    adam = make_run(optimizer="adamw").optimizer
    with pytest.raises(ValueError, match=r"cannot schedule momentum: AdamW has no 'momentum'.*beta1"):
        Scheduler(adam, rampup.Constant(), hyperparams={"momentum": rampup.Constant()})
    sgd = make_run(optimizer="sgd").optimizer
    with pytest.raises(ValueError, match=r"cannot schedule beta1: SGD has no 'betas'.*momentum"):
        Scheduler(sgd, rampup.Constant(), hyperparams={"beta1": rampup.Constant()})
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'momentun'.*Did you mean 'momentum'"):
        Scheduler(sgd, rampup.Constant(), hyperparams={"momentun": rampup.Constant()})
    plain = make_run(optimizer="sgd-plain").optimizer  # momentum=0
    with pytest.raises(ValueError, match="momentum is 0 in parameter group 0"):
        Scheduler(plain, rampup.Constant(), hyperparams={"momentum": rampup.Constant()})
    # 0.9 x 1.2 = 1.08 at step 3: momentum must stay below 1
    rising = rampup.join([rampup.Constant(), rampup.Constant(1.2)], [3])
    with pytest.raises(ValueError, match=r"momentum must stay in \[0, 1\), but over its length, at step 3"):
        Scheduler(sgd, rampup.Constant(), hyperparams={"momentum": rising})
    with pytest.raises(ValueError, match=r"beta1 must stay in \[0, 1\)"):
        Scheduler(adam, rampup.Constant(), hyperparams={"beta1": rampup.Constant(1.2)})
    Scheduler(adam, rampup.Constant(), hyperparams={"weight_decay": rampup.Constant(5.0)})  # no upper bound
    with pytest.raises(TypeError, match="must be a rampup Schedule"):
        Scheduler(sgd, rampup.Constant(), hyperparams={"momentum": lambda step: 1.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="has 1 schedules but the optimizer has 2"):
        Scheduler(sgd, rampup.Constant(), hyperparams={"momentum": [rampup.Constant()]})
    # nothing was written by the refused schedulers
    assert all("initial_momentum" not in group for group in sgd.param_groups)
