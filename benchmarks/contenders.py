"""The schedulers rampup is measured against, each built for the same schedule.

Every contender is a zero-argument ``step`` function that advances one optimizer update and
writes the new rate into the optimizer, the way a training loop would call it.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import rampup
import rampup.torch as rt
from rampup.torch.scheduler import _update_counter

Step = Callable[[], None]


def optimizer(groups: int) -> torch.optim.Optimizer:
    """SGD with momentum, one parameter per group, different peak rates, with optimizer state."""
    params = [{"params": [torch.nn.Parameter(torch.zeros(4))], "lr": 0.1 * (1 + i / 64)}
              for i in range(groups)]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = torch.zeros_like(p)
    opt.step()  # momentum buffers exist, as in a real run
    return opt


def _timm() -> Any:
    """timm's scheduler package without importing timm's models (which need torchvision)."""
    if "timm.scheduler.cosine_lr" in sys.modules:
        return sys.modules["timm.scheduler.cosine_lr"]
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        raise ImportError("timm is not installed")
    root = Path(spec.origin).parent
    for name, folder in (("timm", root), ("timm.scheduler", root / "scheduler")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            sys.modules[name] = package
    import timm.scheduler.cosine_lr as cosine_lr

    return cosine_lr


def floor_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    """The floor: a hand-written closure that computes the rate and assigns it."""
    groups = opt.param_groups
    bases = [g["lr"] for g in groups]
    state = {"t": 0}
    span = total - warmup

    def step() -> None:
        t = state["t"] = state["t"] + 1
        m = t / warmup if t < warmup else 0.5 * (1.0 + math.cos(math.pi * min(t - warmup, span) / span))
        for group, base in zip(groups, bases):  # noqa: B905 (the same loop as rampup's step)
            group["lr"] = base * m

    return step


def floor_wsd(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    groups = opt.param_groups
    bases = [g["lr"] for g in groups]
    state = {"t": 0}
    decay = total // 5
    stable_end = total - decay

    def step() -> None:
        t = state["t"] = state["t"] + 1
        if t < warmup:
            m = t / warmup
        elif t < stable_end:
            m = 1.0
        else:
            m = 1.0 - math.sqrt(min(t - stable_end, decay) / decay)
        for group, base in zip(groups, bases):  # noqa: B905 (the same loop as rampup's step)
            group["lr"] = base * m

    return step


def _rampup_step(opt: torch.optim.Optimizer, schedule: rampup.Schedule) -> Step:
    scheduler = rt.Scheduler(opt, schedule)
    count_update = scheduler._count_update  # what optimizer.step() runs after each update
    step = scheduler.step
    # torch's Optimizer.step wrapper hands its post-step hooks the args and kwargs of the call it
    # already made, so a hook's own cost is the call alone: the same objects every time here.
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}

    def run() -> None:
        # The loop never calls optimizer.step() (its cost is not the scheduler's), so the
        # update-counting hook that optimizer.step() would run is called here, and charged to rampup.
        count_update(opt, args, kwargs)
        step()

    return run


def counted_loop(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    """Not a scheduler: what any scheduler that counts real updates pays at least, rampup's own
    update hook (as optimizer.step() calls it) and one method call doing the assignment loop with
    a fixed multiplier: no schedule, no state, no checks."""
    count_update = _update_counter([0])  # the hook a Scheduler registers, without a Scheduler
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}

    class Loop:
        def __init__(self) -> None:
            self.groups = opt.param_groups
            self.bases = [g["lr"] for g in opt.param_groups]

        def step(self) -> None:
            for group, base in zip(self.groups, self.bases):  # noqa: B905 (as in rampup's step)
                group["lr"] = base * 0.5

    step = Loop().step

    def run() -> None:
        count_update(opt, args, kwargs)
        step()

    return run


def rampup_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    return _rampup_step(opt, rampup.schedule("cosine", warmup_steps=warmup, total_steps=total))


def rampup_wsd(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    schedule = rampup.schedule("warmup_stable_decay", warmup_steps=warmup, total_steps=total,
                               num_decay_steps=total // 5, decay_type="1-sqrt")
    return _rampup_step(opt, schedule)


def transformers_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(opt, warmup, total).step  # type: ignore[no-any-return]


def transformers_wsd(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    from transformers import get_wsd_schedule

    return get_wsd_schedule(opt, warmup, total // 5, num_training_steps=total,  # type: ignore[no-any-return]
                            decay_type="1-sqrt").step


def torch_sequential(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    ramp = LinearLR(opt, start_factor=1.0 / warmup, total_iters=warmup)
    cosine = CosineAnnealingLR(opt, T_max=total - warmup)
    return SequentialLR(opt, [ramp, cosine], milestones=[warmup]).step


def pytorch_warmup(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    import pytorch_warmup as pw
    from torch.optim.lr_scheduler import CosineAnnealingLR

    cosine = CosineAnnealingLR(opt, T_max=total)
    dampener = pw.LinearWarmup(opt, warmup_period=warmup)

    def step() -> None:
        with dampener.dampening():
            cosine.step()

    return step


def warmup_scheduler(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    from torch.optim.lr_scheduler import CosineAnnealingLR
    from warmup_scheduler import GradualWarmupScheduler

    cosine = CosineAnnealingLR(opt, T_max=total - warmup)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GradualWarmupScheduler(opt, multiplier=1, total_epoch=warmup, after_scheduler=cosine).step


def timm_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    scheduler = _timm().CosineLRScheduler(opt, t_initial=total - warmup, warmup_t=warmup,
                                          warmup_prefix=True, t_in_epochs=False)
    state = {"t": 0}

    def step() -> None:
        state["t"] += 1
        scheduler.step_update(num_updates=state["t"])

    return step


def lrsched_cosine(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    import lrsched

    groups = opt.param_groups
    bases = [g["lr"] for g in groups]
    function = lrsched.with_warmup(lrsched.cosine(base_lr=1.0, min_lr=0.0, total_steps=total - warmup),
                                   warmup_steps=warmup, start_lr=0.0)
    state = {"t": 0}

    def step() -> None:
        t = state["t"] = state["t"] + 1
        m = function(t)
        for group, base in zip(groups, bases):  # noqa: B905 (the same loop as rampup's step)
            group["lr"] = base * m

    return step


def lrsched_wsd(opt: torch.optim.Optimizer, warmup: int, total: int) -> Step:
    import lrsched

    groups = opt.param_groups
    bases = [g["lr"] for g in groups]
    function = lrsched.warmup_stable_decay(base_lr=1.0, warmup_steps=warmup, decay_steps=total // 5,
                                           total_steps=total, final_lr=0.0, warmup_start=0.0,
                                           decay_shape="1-sqrt")
    state = {"t": 0}

    def step() -> None:
        t = state["t"] = state["t"] + 1
        m = function(t)
        for group, base in zip(groups, bases):  # noqa: B905 (the same loop as rampup's step)
            group["lr"] = base * m

    return step


COSINE: dict[str, Callable[[torch.optim.Optimizer, int, int], Step]] = {
    "hand-written closure (floor)": floor_cosine,
    "rampup Scheduler": rampup_cosine,
    "transformers get_cosine_schedule_with_warmup": transformers_cosine,
    "torch SequentialLR(LinearLR, CosineAnnealingLR)": torch_sequential,
    "pytorch_warmup LinearWarmup + CosineAnnealingLR": pytorch_warmup,
    "warmup_scheduler GradualWarmupScheduler": warmup_scheduler,
    "timm CosineLRScheduler.step_update": timm_cosine,
    "lrsched function + assignment loop": lrsched_cosine,
    "lower bound: update hook + assignment loop": counted_loop,
}

WSD: dict[str, Callable[[torch.optim.Optimizer, int, int], Step]] = {
    "hand-written closure (floor)": floor_wsd,
    "rampup Scheduler": rampup_wsd,
    "transformers get_wsd_schedule": transformers_wsd,
    "lrsched function + assignment loop": lrsched_wsd,
    "lower bound: update hook + assignment loop": counted_loop,
}
