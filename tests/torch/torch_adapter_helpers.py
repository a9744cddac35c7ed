"""Helpers for the PyTorch adapter tests (not tests): a tiny two-group model and a real training loop.

Every loop here runs a real forward pass, ``loss.backward()``, ``optimizer.step()`` and then the
scheduler's ``step()``, and records the rates in force for each update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

LRS = (1e-3, 3e-4)


@dataclass
class Run:
    """A model with two parameter groups (different rates) and its optimizer."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    x: torch.Tensor = field(repr=False)

    def update(self) -> None:
        """One real training update: forward, backward, optimizer step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.model(self.x).pow(2).mean()
        loss.backward()
        self.optimizer.step()

    def lrs(self) -> list[float]:
        return [float(g["lr"]) for g in self.optimizer.param_groups]


def make_run(
    lrs: Sequence[float] = LRS,
    *,
    optimizer: str = "adamw",
    tensor: bool = False,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Run:
    """Two Linear layers, one parameter group each, with rates ``lrs`` (a fresh, seeded model)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    groups = []
    for layer, lr in zip((model[0], model[2]), lrs, strict=True):
        rate: Any = torch.tensor(lr, dtype=dtype) if tensor else lr
        groups.append({"params": list(layer.parameters()), "lr": rate})
    default = lrs[0]
    if optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=default, weight_decay=0.01)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=default, momentum=0.9)
    elif optimizer == "sgd-plain":
        opt = torch.optim.SGD(groups, lr=default)
    else:
        raise ValueError(optimizer)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1234))  # same data for every seed
    return Run(model, opt, x)


def trajectory(
    run: Run,
    scheduler: Any,
    steps: int,
    *,
    metrics: Sequence[float] | None = None,
    step: Callable[[Any, Any], None] | None = None,
) -> tuple[list[list[float]], list[list[float]]]:
    """(optimizer group rates, get_last_lr()) at steps 0 .. ``steps``.

    Entry ``k`` is what is in force for update ``k`` (after ``k`` updates and ``k`` scheduler
    steps). ``metrics[k]`` is passed to ``scheduler.step`` after update ``k`` when given.
    """
    group_lrs = [run.lrs()]
    last = [[float(v) for v in scheduler.get_last_lr()]]
    for k in range(steps):
        run.update()
        if step is not None:
            step(scheduler, None if metrics is None else metrics[k])
        elif metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[k])
        group_lrs.append(run.lrs())
        last.append([float(v) for v in scheduler.get_last_lr()])
    return group_lrs, last


def bits(values: Sequence[Sequence[float]]) -> list[list[str]]:
    """Exact (bit-level) text of each rate, so -0.0 and 0.0 or 1-ulp differences show."""
    return [[float(v).hex() for v in row] for row in values]


def first_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> str:
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if bits([x]) != bits([y]):
            return f"first difference at step {k}: {list(x)!r} != {list(y)!r}"
    return "equal"


def assert_same(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> None:
    """Bit-for-bit equality of two rate trajectories, naming the first differing step."""
    assert len(a) == len(b)
    assert bits(a) == bits(b), first_difference(a, b)


def plateau_metrics(n: int) -> list[float]:
    """A validation-loss-like sequence: improving streaks, flat plateaus, a bump, a recovery."""
    out: list[float] = []
    value = 2.0
    pattern = (
        ["down"] * 13 + ["flat"] * 13 + ["down"] * 3 + ["up"] * 2 + ["flat"] * 4 + ["down"] * 8
        + ["flat"] * 14
    )
    for k in range(n):
        kind = pattern[k % len(pattern)]
        if kind == "down":
            value *= 0.9
        elif kind == "up":
            value *= 1.05
        out.append(value)
    return out
