"""Test helpers (not tests): run real torch / transformers schedulers, record the lr at each step."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def _optimizer(lr: float) -> Any:
    import torch

    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def torch_lrs(make: Callable[[Any], Any], n: int, lr: float = 1.0) -> list[float]:
    """The optimizer's lr during updates 0 .. n-1 under the scheduler ``make(optimizer)`` builds.

    The scheduler is stepped once after each optimizer step, as in a training loop; it is never
    stepped past update n-1 (some schedulers raise or divide by zero there).
    """
    optimizer = _optimizer(lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make(optimizer)
        out = [float(optimizer.param_groups[0]["lr"])]
        for _ in range(n - 1):
            optimizer.step()
            scheduler.step()
            out.append(float(optimizer.param_groups[0]["lr"]))
    return out


def hf_lrs(
    name: str,
    n: int,
    *,
    lr: float = 1.0,
    warmup: int | None = None,
    total: int | None = None,
    **kwargs: Any,
) -> list[float]:
    """transformers.get_scheduler(name, ...)'s lr at updates 0 .. n-1."""
    from transformers import get_scheduler

    return torch_lrs(
        lambda opt: get_scheduler(
            name,
            opt,
            num_warmup_steps=warmup,
            num_training_steps=total,
            scheduler_specific_kwargs=kwargs or None,
        ),
        n,
        lr=lr,
    )
