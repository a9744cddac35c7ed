"""All-or-nothing loading for WarmupWrapper, GradualWarmupScheduler and GreedyLR.

A refused state is a RampupError naming the field and changes nothing: the scheduler's state, the
wrapped scheduler's state and the optimizer's groups are compared before and after, and the run
then goes on exactly like a reference run that never saw the bad state.
"""

from __future__ import annotations

import copy
import io
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler as L
from torch_adapter_helpers import assert_same, make_run, plateau_metrics, trajectory

import rampup
import rampup.torch as rt
from rampup.errors import RampupError

METRICS = plateau_metrics(40)


def _wrapper(opt: Any) -> Any:
    return rt.warmup_wrapper(L.StepLR(opt, step_size=3, gamma=0.5), 4)


def _wrapper_rop(opt: Any) -> Any:
    return rt.warmup_wrapper(L.ReduceLROnPlateau(opt, patience=1), 2, mode="dampen")


def _wrapper_rampup(opt: Any) -> Any:
    return rt.warmup_wrapper(rt.Scheduler(opt, rampup.Exponential(0.9)), 3)


def _gradual(opt: Any) -> Any:
    return rt.GradualWarmupScheduler(opt, 2.0, 4, L.CosineAnnealingLR(opt, T_max=10))


def _gradual_rop(opt: Any) -> Any:
    return rt.GradualWarmupScheduler(opt, 2.0, 2, L.ReduceLROnPlateau(opt, patience=1))


def _greedy(opt: Any) -> Any:
    return rt.GreedyLR(opt, patience=1, min_lr=1e-6, smooth=True, window_size=3)


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "wrapper": _wrapper, "wrapper-rop": _wrapper_rop, "wrapper-rampup": _wrapper_rampup,
    "gradual": _gradual, "gradual-rop": _gradual_rop, "greedy": _greedy,
}
METRIC_DRIVEN = {"wrapper-rop", "gradual-rop", "greedy"}


def _run(name: str, run: Any, scheduler: Any, steps: int, start: int = 0) -> list[list[float]]:
    """The rates of ``steps`` updates from metric ``start`` on (metrics for metric-driven ones)."""
    if name in METRIC_DRIVEN:
        lrs, _ = trajectory(run, scheduler, steps, metrics=METRICS[start:],
                            step=lambda s, m: s.step(metrics=m))
    else:
        lrs, _ = trajectory(run, scheduler, steps)
    return lrs


def _saved(name: str, steps: int = 9) -> dict[str, Any]:
    run = make_run()
    scheduler = BUILDERS[name](run.optimizer)
    _run(name, run, scheduler, steps)
    return scheduler.state_dict()


def _set(state: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(state)
    target = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()

# (builder, path into the state, bad value, what the message names)
CASES: list[tuple[str, tuple[Any, ...], Any, str]] = [
    ("wrapper", ("step",), -1, "'step'"),
    ("wrapper", ("step",), "3", "'step'"),
    ("wrapper", ("base_lrs",), [1e-3], "parameter groups"),
    ("wrapper", ("inner_lrs", 1), math.nan, r"inner_lrs'\]\[1\]"),
    ("wrapper", ("mode",), ["delay"], "mode"),
    ("wrapper", ("warmup", "steps"), 5, "warmup"),
    ("wrapper", ("format",), "rampup.WarmupWrapper/0", "format"),
    ("wrapper", ("extra",), 1, "unknown keys"),
    ("wrapper", ("inner_lrs",), _DELETE, "missing 'inner_lrs'"),
    ("wrapper", ("scheduler",), [], r"state_dict\['scheduler'\] must be a dict"),
    ("wrapper", ("scheduler", "last_epoch"), "x", r"scheduler'\]\['last_epoch'\]"),
    ("wrapper", ("scheduler", "last_epoch"), -5, r"scheduler'\]\['last_epoch'\]"),
    ("wrapper", ("scheduler", "optimizer"), None, "unknown keys.*optimizer"),
    ("wrapper", ("scheduler", "base_lrs"), [1e-3], r"scheduler'\]\['base_lrs'\] has 1 entries"),
    ("wrapper", ("scheduler", "gamma"), math.inf, r"scheduler'\]\['gamma'\] must be finite"),
    ("wrapper-rop", ("scheduler", "mode"), "up", r"refused by ReduceLROnPlateau.*mode"),
    ("wrapper-rop", ("scheduler", "patience"), 1.5, r"scheduler'\]\['patience'\]"),
    ("wrapper-rampup", ("scheduler", "step"), -1, r"scheduler'\]: state_dict\['step'\]"),
    ("wrapper-rampup", ("scheduler", "base_lrs", 0), "x", r"scheduler'\]: state_dict\['base_lrs'\]\[0\]"),
    ("gradual", ("finished",), False, "finished"),
    ("gradual", ("finished",), "yes", "finished"),
    ("gradual", ("multiplier",), 3.0, "multiplier=3.0"),
    ("gradual", ("multiplier",), "2", "multiplier"),
    ("gradual", ("total_epoch",), 4.0, "total_epoch"),
    ("gradual", ("last_lr",), None, r"last_lr'\] must be a list"),
    ("gradual", ("base_lrs", 0), -1.0, r"base_lrs'\]\[0\] must be a finite rate"),
    ("gradual", ("after_scheduler",), None, "after_scheduler"),
    ("gradual", ("after_scheduler", "T_max"), "10", r"after_scheduler'\]\['T_max'\]"),
    ("gradual", ("after_scheduler", "_last_lr"), [1.0, "x"], r"after_scheduler'\]\['_last_lr'\]\[1\]"),
    ("gradual-rop", ("after_scheduler", "threshold_mode"), "relative", "refused by ReduceLROnPlateau"),
    ("greedy", ("factor",), 1.5, r"'factor'\] must be in \(0, 1\)"),
    ("greedy", ("mode",), "up", r"'mode'\] must be one of"),
    ("greedy", ("min_lrs",), [1e-6], "parameter groups"),
    ("greedy", ("best",), math.nan, r"'best'\]"),
    ("greedy", ("_window",), [1.0, 2.0, 3.0, 4.0], "more than window_size=3"),
    ("greedy", ("window_size",), 0, "window_size"),
    ("greedy", ("optimizer",), None, "unknown keys.*optimizer"),
    ("greedy", ("patience",), "2", "patience"),
    ("greedy", ("smooth",), 1, "smooth"),
    ("greedy", ("_last_lr", 0), math.inf, r"_last_lr'\]\[0\]"),
]


def _groups(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


def _inner(scheduler: Any) -> Any:
    return getattr(scheduler, "scheduler", None) or getattr(scheduler, "after_scheduler", None)


@pytest.mark.parametrize(("name", "path", "value", "match"), CASES,
                         ids=[f"{c[0]}-{'.'.join(map(str, c[1]))}-{c[2]!r}"[:60] for c in CASES])
def test_a_refused_state_changes_nothing(name: str, path: tuple[Any, ...], value: Any, match: str) -> None:
    bad = _set(_saved(name), path, value)
    reference, run = make_run(), make_run()
    ref_scheduler, scheduler = BUILDERS[name](reference.optimizer), BUILDERS[name](run.optimizer)
    _run(name, reference, ref_scheduler, 5)
    _run(name, run, scheduler, 5)
    before, groups = scheduler.state_dict(), _groups(run.optimizer)
    inner = _inner(scheduler)
    inner_before = None if inner is None else dict(inner.__dict__)
    with pytest.raises(RampupError, match=match):
        scheduler.load_state_dict(bad)
    assert scheduler.state_dict() == before
    assert _groups(run.optimizer) == groups
    if inner is not None:
        assert inner.__dict__ == inner_before
    # the run goes on as if nothing had been tried
    assert_same(_run(name, run, scheduler, 15, 5), _run(name, reference, ref_scheduler, 15, 5))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_not_a_dict_is_refused(name: str) -> None:
    scheduler = BUILDERS[name](make_run().optimizer)
    for bad in ([], None, "state", 3):
        with pytest.raises(RampupError, match="must be a dict"):
            scheduler.load_state_dict(bad)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_good_states_still_resume_exactly(name: str) -> None:
    reference = make_run()
    full = _run(name, reference, BUILDERS[name](reference.optimizer), 25)
    first = make_run()
    scheduler = BUILDERS[name](first.optimizer)
    _run(name, first, scheduler, 9)
    second = make_run()
    second.model.load_state_dict(first.model.state_dict())
    second.optimizer.load_state_dict(first.optimizer.state_dict())
    resumed = BUILDERS[name](second.optimizer)
    resumed.load_state_dict(torch.load(_bytes(scheduler.state_dict()), weights_only=True))
    assert_same(_run(name, second, resumed, 16, 9), full[9:])


def _bytes(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer
