"""Loading a state is all or nothing: a refused state changes neither the scheduler nor the optimizer.

Every refusal is a RampupError that names the field; the next update after a refusal gets the rate
of transformers' formula for the step the scheduler was at, as if the load had not been tried.
"""

from __future__ import annotations

import copy
import math
from functools import partial
from typing import Any

import pytest
import torch
import transformers.optimization as hf
from torch_adapter_helpers import LRS, make_run, trajectory

import rampup
from rampup.errors import RampupError
from rampup.torch import Scheduler
from rampup.torch.hyperparams import one_cycle_momentum

TOTAL = 40
hf_cosine = partial(hf._get_cosine_schedule_with_warmup_lr_lambda, num_warmup_steps=6,
                    num_training_steps=TOTAL, num_cycles=0.5, min_lr_rate=0.05)


def _cosine() -> rampup.Schedule:
    return rampup.schedule("cosine_with_min_lr", warmup_steps=6, total_steps=TOTAL, min_lr_rate=0.05)


def group_values(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """Every group's entries but the parameters, tensors as (identity, value)."""
    out = []
    for group in optimizer.param_groups:
        entry: dict[str, Any] = {}
        for key, value in group.items():
            if key == "params":
                continue
            tensor = isinstance(value, torch.Tensor)
            entry[key] = (id(value), float(value)) if tensor else copy.deepcopy(value)
        out.append(entry)
    return out


def _saved_after(steps: int, **kwargs: Any) -> dict[str, Any]:
    run = make_run(**kwargs)
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, steps)
    return scheduler.state_dict()


GOOD = _saved_after(9)

BAD_STATES: list[tuple[str, Any, str]] = [
    ("issue example", {**GOOD, "step": 5, "base_lrs": [7.0, 7.0], "skipped_steps": "x"}, "skipped_steps"),
    ("a list", [GOOD], "state_dict must be a dict"),
    ("None", None, "state_dict must be a dict"),
    ("missing step", {k: v for k, v in GOOD.items() if k != "step"}, "'step'"),
    ("missing base_lrs", {k: v for k, v in GOOD.items() if k != "base_lrs"}, "'base_lrs'"),
    ("missing schedules", {k: v for k, v in GOOD.items() if k != "schedules"}, "'schedules'"),
    ("missing format", {k: v for k, v in GOOD.items() if k != "format"}, "format"),
    ("extra key", {**GOOD, "stepp": 3}, "unknown keys.*stepp"),
    ("string rate", {**GOOD, "base_lrs": ["0.001", 3e-4]}, r"base_lrs'\]\[0\] must be a real number"),
    ("NaN rate", {**GOOD, "base_lrs": [math.nan, 3e-4]}, r"base_lrs'\]\[0\] must be a finite rate"),
    ("inf rate", {**GOOD, "base_lrs": [1e-3, math.inf]}, r"base_lrs'\]\[1\] must be a finite rate"),
    ("negative rate", {**GOOD, "base_lrs": [-1e-3, 3e-4]}, r"base_lrs'\]\[0\] must be a finite rate >= 0"),
    ("huge int rate", {**GOOD, "base_lrs": [10**400, 3e-4]}, r"base_lrs'\]\[0\]"),
    ("bool rate", {**GOOD, "base_lrs": [True, 3e-4]}, r"base_lrs'\]\[0\]"),
    ("tensor rates", {**GOOD, "base_lrs": torch.tensor([1e-3, 3e-4])}, r"base_lrs'\] must be a list"),
    ("one rate", {**GOOD, "base_lrs": [1e-3]}, "parameter groups"),
    ("base_lrs a dict", {**GOOD, "base_lrs": {"0": 1e-3}}, r"base_lrs'\] must be a list"),
    ("negative step", {**GOOD, "step": -3}, r"'step'\] must be an integer in \[0"),
    ("float step", {**GOOD, "step": 5.0}, r"'step'\] must be an integer"),
    ("string step", {**GOOD, "step": "5"}, r"'step'\] must be an integer"),
    ("bool step", {**GOOD, "step": True}, r"'step'\] must be an integer"),
    ("huge step", {**GOOD, "step": 10**400}, r"'step'\] must be an integer in \[0, 2\*\*63 - 1\]"),
    ("NaN step", {**GOOD, "step": math.nan}, r"'step'\]"),
    ("schedules a dict", {**GOOD, "schedules": GOOD["schedules"][0]}, r"'schedules'\] must be a list"),
    ("schedules of strings", {**GOOD, "schedules": ["cosine", "cosine"]}, r"'schedules'\] must be a list"),
    ("one schedule", {**GOOD, "schedules": GOOD["schedules"][:1]}, "1 schedules"),
    ("other schedule", {**GOOD, "schedules": [rampup.Constant().to_dict()] * 2}, "different schedule"),
    ("negative skipped", {**GOOD, "skipped_steps": -1}, "skipped_steps"),
    ("float skipped", {**GOOD, "skipped_steps": 1.5}, "skipped_steps"),
    ("zero step_count", {**GOOD, "step_count": 0}, "step_count"),
    ("list step_count", {**GOOD, "step_count": [10]}, "step_count"),
    ("unexpected hyperparams", {**GOOD, "hyperparams": {"momentum": {"bases": [0.9, 0.9], "schedules": [
        rampup.Constant().to_dict()] * 2}}}, "hyperparameters"),
    ("hyperparams a list", {**GOOD, "hyperparams": ["momentum"]}, r"'hyperparams'\] must be a dict"),
    ("unknown hyperparam", {**GOOD, "hyperparams": {"momentun": {}}}, "unknown hyperparameter 'momentun'"),
]


@pytest.mark.parametrize("tensor", [False, True], ids=["float-lr", "tensor-lr"])
@pytest.mark.parametrize(("state", "match"), [case[1:] for case in BAD_STATES],
                         ids=[case[0] for case in BAD_STATES])
def test_a_refused_state_changes_nothing(state: Any, match: str, tensor: bool) -> None:
    run = make_run(tensor=tensor)
    scheduler = Scheduler(run.optimizer, _cosine())
    trajectory(run, scheduler, 3)
    before_state, before_groups = scheduler.state_dict(), group_values(run.optimizer)
    before_last = scheduler.get_last_lr()
    frozen = repr(state)
    with pytest.raises(RampupError, match=match):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == before_state
    assert group_values(run.optimizer) == before_groups
    assert scheduler.get_last_lr() == before_last
    assert repr(state) == frozen  # the state itself was not modified
    # the run goes on as if the load had not been tried: transformers' formula at steps 4, 5
    lrs, _ = trajectory(run, scheduler, 2)
    as_rate = (lambda x: float(torch.tensor(x, dtype=torch.float32))) if tensor else float
    assert lrs[1:] == [[as_rate(as_rate(b) * hf_cosine(t)) for b in LRS] for t in (4, 5)]


def test_the_same_states_are_refused_under_every_policy() -> None:
    """keep_step / keep_fraction / keep_base_lrs relax the schedule check, not the field checks."""
    for _, state, _match in BAD_STATES:
        if _ == "other schedule" or _ == "unexpected hyperparams":
            continue
        for policy in ("keep_step", "keep_fraction"):
            for keep in (False, True):
                run = make_run()
                scheduler = Scheduler(run.optimizer, _cosine())
                before, groups = scheduler.state_dict(), group_values(run.optimizer)
                with pytest.raises(RampupError):
                    scheduler.load_state_dict(state, on_config_change=policy, keep_base_lrs=keep)
                assert scheduler.state_dict() == before and group_values(run.optimizer) == groups, _


def test_a_good_state_still_loads_after_refusals() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    for _, state, _match in BAD_STATES:
        with pytest.raises(RampupError):
            scheduler.load_state_dict(state)
    scheduler.load_state_dict(GOOD)
    assert run.lrs() == [b * hf_cosine(9) for b in LRS]
    assert scheduler.state_dict() == GOOD


def test_numpy_and_tuple_values_from_other_serializers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    scheduler.load_state_dict({**GOOD, "step": np.int64(9), "base_lrs": (np.float64(1e-3), 3e-4)})
    assert run.lrs() == [b * hf_cosine(9) for b in LRS]
    assert scheduler.state_dict() == GOOD


def test_keep_fraction_with_an_unreadable_saved_schedule_is_refused() -> None:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _cosine())
    before, groups = scheduler.state_dict(), group_values(run.optimizer)
    state = {**GOOD, "schedules": [{"shape": "no such shape"}] * 2}
    with pytest.raises(RampupError, match=r"state_dict\['schedules'\] cannot be read"):
        scheduler.load_state_dict(state, on_config_change="keep_fraction")
    assert scheduler.state_dict() == before and group_values(run.optimizer) == groups
    # keep_step does not need to read it
    scheduler.load_state_dict(state, on_config_change="keep_step")
    assert run.lrs() == [b * hf_cosine(9) for b in LRS]


def test_deeply_nested_or_huge_saved_values_are_differences_not_crashes() -> None:
    nested: Any = 1
    for _ in range(5000):
        nested = {"x": nested}
    scheduler = Scheduler(make_run().optimizer, _cosine())
    before = scheduler.state_dict()
    for odd in (nested, [nested], list(range(10**6)), "x" * 10**6, torch.zeros(3)):
        config = {**GOOD["schedules"][0], "shape": odd}
        with pytest.raises(RampupError, match=r"schedules\[0\]\.shape: saved .{0,200}, now 'join'"):
            scheduler.load_state_dict({**GOOD, "schedules": [config, GOOD["schedules"][1]]})
    assert scheduler.state_dict() == before


# --- scheduled hyper-parameters ----------------------------------------------------------------

def _momentum(run: Any) -> Scheduler:
    return Scheduler(run.optimizer, rampup.OneCycle(steps=30),
                     hyperparams={"momentum": one_cycle_momentum(30)})


def _momentum_state(steps: int) -> dict[str, Any]:
    run = make_run(optimizer="sgd")
    scheduler = _momentum(run)
    trajectory(run, scheduler, steps)
    return scheduler.state_dict()


HYPER = _momentum_state(7)


def _hyper(**entry: Any) -> dict[str, Any]:
    return {**HYPER, "hyperparams": {"momentum": {**HYPER["hyperparams"]["momentum"], **entry}}}


BAD_HYPER: list[tuple[str, Any, str]] = [
    ("base >= 1", _hyper(bases=[1.0, 0.9]), r"momentum must stay in \[0, 1\)"),
    ("base 0", _hyper(bases=[0.0, 0.9]), "nonzero base"),
    ("NaN base", _hyper(bases=[0.9, math.nan]), r"bases'\]\[1\]"),
    ("string base", _hyper(bases=["0.9", 0.9]), r"bases'\]\[0\] must be a real number"),
    ("one base", _hyper(bases=[0.9]), "has 1 parameter groups"),
    ("bases a dict", _hyper(bases={"a": 0.9}), r"bases'\] must be a list"),
    ("schedules missing", {**HYPER, "hyperparams": {"momentum": {"bases": [0.9, 0.9]}}}, "'schedules'"),
    ("entry a list", {**HYPER, "hyperparams": {"momentum": [0.9, 0.9]}}, "must be a dict"),
    ("hyperparams missing", {k: v for k, v in HYPER.items() if k != "hyperparams"}, r"\['momentum'\]"),
]


@pytest.mark.parametrize(("state", "match"), [case[1:] for case in BAD_HYPER],
                         ids=[case[0] for case in BAD_HYPER])
def test_a_refused_hyperparameter_state_changes_nothing(state: Any, match: str) -> None:
    run = make_run(optimizer="sgd")
    scheduler = _momentum(run)
    trajectory(run, scheduler, 2)
    before, groups = scheduler.state_dict(), group_values(run.optimizer)
    with pytest.raises(RampupError, match=match):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == before and group_values(run.optimizer) == groups


def test_a_saved_base_that_the_schedule_would_push_out_of_range_is_refused() -> None:
    """0.97 x 1.05 > 1: valid as a base, but the schedule (checked when attached) leaves [0, 1)."""
    rising = rampup.join([rampup.Constant(), rampup.Constant(1.05)], [3])
    run = make_run(optimizer="sgd")
    scheduler = Scheduler(run.optimizer, rampup.Constant(), hyperparams={"momentum": rising})
    state = scheduler.state_dict()
    state["hyperparams"]["momentum"]["bases"] = [0.97, 0.9]
    before, groups = scheduler.state_dict(), group_values(run.optimizer)
    with pytest.raises(RampupError, match=r"momentum must stay in \[0, 1\).*at step 3 in parameter group 0"):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == before and group_values(run.optimizer) == groups
    # keep_base_lrs does not take the saved bases, so the same state loads
    scheduler.load_state_dict(state, keep_base_lrs=True)
    assert [g["momentum"] for g in run.optimizer.param_groups] == [0.9, 0.9]


def test_a_refused_hyperparameter_attach_writes_nothing() -> None:
    run = make_run(optimizer="adamw")
    before = group_values(run.optimizer)
    with pytest.raises(RampupError, match="beta1 must stay"):
        Scheduler(run.optimizer, rampup.Constant(),
                  hyperparams={"weight_decay": rampup.Constant(), "beta1": rampup.Constant(1.2)})
    assert group_values(run.optimizer) == before  # not even initial_weight_decay
