"""Generated states for rampup's torch schedulers (hypothesis).

1. Valid states, from random runs (schedules, group counts, optimizers, tensor rates, skipped
   updates, scheduled momentum) saved at a random step and resumed through ``torch.save``: the
   resumed run is bit-for-bit the uninterrupted one.
2. Random mutations of such states (wrong types, missing and extra keys, bad values, valid but
   different values): either the state is accepted and the scheduler is exactly what that state
   says (rates ``base * schedule(step)``), or a RampupError is raised and the scheduler and the
   optimizer are exactly as they were (state_dict and every group entry compared).
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler as L

import rampup
import rampup.torch as rt
from rampup.errors import RampupError
from rampup.torch import Scheduler
from rampup.torch.hyperparams import one_cycle_momentum

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
pytestmark = pytest.mark.filterwarnings("ignore::rampup.RampupWarning")

TOTAL = 30
SCHEDULES: dict[str, Callable[[], rampup.Schedule]] = {
    "cosine_min_lr": lambda: rampup.schedule("cosine_with_min_lr", warmup_steps=4, total_steps=TOTAL,
                                             min_lr_rate=0.1),
    "linear": lambda: rampup.schedule("linear", warmup_steps=3, total_steps=TOTAL),
    "one_cycle": lambda: rampup.OneCycle(steps=TOTAL),
    "exponential": lambda: rampup.with_warmup(rampup.Exponential(0.9), 2),
    "constant_with_warmup": lambda: rampup.schedule("constant_with_warmup", warmup_steps=5),
    "multistep": lambda: rampup.MultiStep((5, 12), 0.5),
}


class Setup:
    """A drawn configuration: groups, optimizer, schedules, options; builds fresh copies."""

    def __init__(self, groups: int, optimizer: str, names: list[str], tensor: bool, momentum: bool,
                 hold: bool) -> None:
        self.groups, self.optimizer, self.names = groups, optimizer, names
        self.tensor, self.momentum, self.hold = tensor, momentum and optimizer == "sgd", hold

    def build(self) -> tuple[torch.optim.Optimizer, Scheduler]:
        params = [torch.nn.Parameter(torch.ones(2)) for _ in range(self.groups)]
        for p in params:
            p.grad = torch.full_like(p, 0.5)
        lrs = [1e-3 * (k + 1) for k in range(self.groups)]
        groups = [{"params": [p], "lr": torch.tensor(lr) if self.tensor else lr}
                  for p, lr in zip(params, lrs, strict=True)]
        opt: torch.optim.Optimizer
        if self.optimizer == "sgd":
            opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
        else:
            opt = torch.optim.AdamW(groups, lr=lrs[0])
        schedule: Any = [SCHEDULES[n]() for n in self.names]
        if len(schedule) == 1:
            schedule = schedule[0]
        hyper = {"momentum": one_cycle_momentum(TOTAL)} if self.momentum else None
        policy = "hold" if self.hold else "advance"
        return opt, Scheduler(opt, schedule, hyperparams=hyper, on_skipped_step=policy)


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    groups = draw(st.integers(1, 3))
    per_group = draw(st.booleans())
    names = draw(st.lists(st.sampled_from(sorted(SCHEDULES)), min_size=groups, max_size=groups)) if (
        per_group and groups > 1) else [draw(st.sampled_from(sorted(SCHEDULES)))]
    return Setup(groups, draw(st.sampled_from(["sgd", "adamw"])), names, draw(st.booleans()),
                 draw(st.booleans()), draw(st.booleans()))


def _run(opt: torch.optim.Optimizer, scheduler: Scheduler, steps: range, skips: set[int]
         ) -> list[tuple[str, ...]]:
    """Each update's rates and momenta, as exact hex text."""
    out = []
    for k in steps:
        out.append(_values(opt))
        if k not in skips:
            opt.step()
        scheduler.step()
    out.append(_values(opt))
    return out


def _values(opt: torch.optim.Optimizer) -> tuple[str, ...]:
    return tuple(float(g["lr"]).hex() for g in opt.param_groups) + tuple(
        float(g["momentum"]).hex() for g in opt.param_groups if "momentum" in g)


def _roundtrip(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@SETTINGS
@given(setup=setups(), at=st.integers(0, TOTAL + 5), skips=st.sets(st.integers(0, TOTAL + 5), max_size=4))
def test_a_random_run_resumed_at_a_random_step_is_bit_exact(setup: Setup, at: int, skips: set[int]) -> None:
    steps = TOTAL + 6
    _, uninterrupted = setup.build()
    reference = _run(uninterrupted.optimizer, uninterrupted, range(steps), skips)
    opt, scheduler = setup.build()
    _run(opt, scheduler, range(at), skips)
    saved = _roundtrip({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()})
    opt2, resumed = setup.build()
    opt2.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["scheduler"])
    assert _run(opt2, resumed, range(at, steps), skips) == reference[at:]
    assert resumed.state_dict() == uninterrupted.state_dict()


# --- mutations ---------------------------------------------------------------------------------

BAD_VALUES = st.sampled_from([
    None, "x", "", -1, 0, 1, 7, 2**63, 10**400, -(10**400), 1.5, -0.5, 0.0, math.nan, math.inf, -math.inf,
    True, False, [], [1.0], [1.0, 2.0], [1e-3, 2e-3, 3e-3], {}, {"a": 1}, (1,), b"x", 1e308, 5e-324,
])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


@st.composite
def mutations(draw: st.DrawFn, state: dict[str, Any]) -> Any:
    """``state`` with one to three random changes (or replaced by something that is not a dict)."""
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, [], "state", [state], 3]))
    state = copy.deepcopy(state)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(state) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(state, path[:-1]), path[-1]
        old = parent[key]
        action = draw(st.sampled_from(["bad", "bad", "nearby", "delete", "extra"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "extra" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "stepp", "optimizer", "_step_count"]))] = draw(BAD_VALUES)
        elif action == "nearby" and isinstance(old, (int, float)) and not isinstance(old, bool):
            # a valid-looking value of the same type: often accepted
            parent[key] = type(old)(draw(st.integers(0, 60))) if isinstance(old, int) else old * draw(
                st.sampled_from([0.0, 0.5, 1.0, 2.0]))
        else:
            parent[key] = draw(BAD_VALUES)
    return state


def _group_entries(opt: torch.optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: (id(v), float(v).hex()) if isinstance(v, torch.Tensor) else repr(v)
             for k, v in g.items() if k != "params"} for g in opt.param_groups]


def _rate(setup: Setup, value: float) -> float:
    return float(torch.tensor(value)) if setup.tensor else value


@SETTINGS
@given(data=st.data(), setup=setups(), at=st.integers(0, TOTAL + 3),
       policy=st.sampled_from(["error", "error", "keep_step", "keep_fraction"]), keep=st.booleans())
def test_a_mutated_state_is_accepted_exactly_or_changes_nothing(
    data: st.DataObject, setup: Setup, at: int, policy: str, keep: bool
) -> None:
    opt, source = setup.build()
    _run(opt, source, range(at), set())
    state = data.draw(mutations(source.state_dict()))
    target_opt, target = setup.build()
    _run(target_opt, target, range(3), {1})
    before, groups = target.state_dict(), _group_entries(target_opt)
    frozen = repr(state)
    try:
        target.load_state_dict(state, on_config_change=policy, keep_base_lrs=keep)
    except RampupError:
        event("refused")
        assert target.state_dict() == before
        assert _group_entries(target_opt) == groups
        assert repr(state) == frozen
        return
    event("accepted")
    # accepted: the scheduler is what the state says, and writes base * schedule(step)
    after = target.state_dict()
    assert isinstance(state, dict)
    if policy == "error" or state["schedules"] == after["schedules"]:
        assert after["step"] == state["step"]
    if not keep:
        assert after["base_lrs"] == [float(v) for v in state["base_lrs"]]
    step = target.last_epoch
    for group, base, schedule in zip(target_opt.param_groups, after["base_lrs"], target.schedules,
                                     strict=True):
        assert float(group["lr"]) == _rate(setup, base * schedule(step))
        assert float(group["initial_lr"]) == base
    for name, saved in after.get("hyperparams", {}).items():
        for group, base, config in zip(target_opt.param_groups, saved["bases"], saved["schedules"],
                                       strict=True):
            assert group[name] == base * rampup.from_dict(config)(step)
    # and it resumes like any good state
    opt3, third = setup.build()
    third.load_state_dict(after)
    assert _values(opt3) == _values(target_opt) and third.state_dict() == after


WRAPPERS: dict[str, Callable[[torch.optim.Optimizer], Any]] = {
    "warmup_wrapper(StepLR)": lambda o: rt.warmup_wrapper(L.StepLR(o, 3, 0.5), 4),
    "warmup_wrapper(Scheduler)": lambda o: rt.warmup_wrapper(Scheduler(o, rampup.Exponential(0.9)), 3),
    "GradualWarmupScheduler": lambda o: rt.GradualWarmupScheduler(o, 2.0, 4, L.CosineAnnealingLR(o, 10)),
    "GreedyLR": lambda o: rt.GreedyLR(o, patience=1, min_lr=1e-6),
}


def _wrapped_run(name: str, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    second = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 0.1}, {"params": [second], "lr": 0.01}])
    scheduler = WRAPPERS[name](opt)
    for k in range(steps):
        opt.step()
        scheduler.step(1.0 / (1 + k % 5)) if name == "GreedyLR" else scheduler.step()
    return opt, scheduler


def _inner_state(scheduler: Any) -> Any:
    inner = getattr(scheduler, "scheduler", None) or getattr(scheduler, "after_scheduler", None)
    return None if inner is None else repr(inner.state_dict())


@SETTINGS
@given(data=st.data(), name=st.sampled_from(sorted(WRAPPERS)), at=st.integers(0, 15))
def test_a_mutated_wrapper_state_is_accepted_or_changes_nothing(
    data: st.DataObject, name: str, at: int
) -> None:
    _, source = _wrapped_run(name, at)
    state = data.draw(mutations(source.state_dict()))
    opt, target = _wrapped_run(name, 2)
    before, inner, groups = repr(target.state_dict()), _inner_state(target), _group_entries(opt)
    try:
        target.load_state_dict(state)
    except RampupError:
        event(f"{name}: refused")
        assert repr(target.state_dict()) == before
        assert _inner_state(target) == inner
        assert _group_entries(opt) == groups
        return
    event(f"{name}: accepted")
    # accepted: the rates in force are the ones the scheduler reports, and its state reloads
    assert [float(g["lr"]) for g in opt.param_groups] == [float(v) for v in target.get_last_lr()]
    _, again = _wrapped_run(name, 0)
    again.load_state_dict(target.state_dict())
    assert repr(again.state_dict()) == repr(target.state_dict())
