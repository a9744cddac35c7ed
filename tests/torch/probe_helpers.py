"""Helpers for the range-test and critical-rate tests (not tests): a small model with BatchNorm and
dropout, real optimizers, batches, and an exact, independent record of everything a probe may touch.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

OPTIMIZERS = {
    "sgd": lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda groups: torch.optim.Adam(groups, lr=1e-3),
    "adamw": lambda groups: torch.optim.AdamW(groups, lr=1e-3, amsgrad=True, weight_decay=0.01),
    "rmsprop": lambda groups: torch.optim.RMSprop(groups, lr=1e-3, momentum=0.5, centered=True),
}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Any:
    """Tiny tensors: one intra-op thread is faster, and far faster on a busy machine (BatchNorm's
    parallel kernel waits for threads the machine does not have)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def make_optimizer(model: nn.Module, kind: str) -> torch.optim.Optimizer:
    """Two parameter groups at a 10:1 ratio of rates (the head is the second group)."""
    body = [p for name, p in model.named_parameters() if not name.startswith("4.")]
    head = [p for name, p in model.named_parameters() if name.startswith("4.")]
    optimizer = OPTIMIZERS[kind]([{"params": body}, {"params": head}])
    optimizer.param_groups[1]["lr"] = optimizer.param_groups[0]["lr"] / 10
    return optimizer


def make_batches(count: int, size: int = 16, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(6, 1, generator=generator)
    batches = []
    for _ in range(count):
        x = torch.randn(size, 6, generator=generator)
        batches.append((x, x @ weights + 0.1 * torch.randn(size, 1, generator=generator)))
    return batches


def mse(model: nn.Module, batch: Any) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


def train(model: nn.Module, optimizer: torch.optim.Optimizer, batches: list[Any]) -> list[float]:
    """Plain training updates (also uses dropout, so it draws from torch's generator)."""
    model.train()
    losses = []
    for batch in batches:
        loss = mse(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def record(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An exact copy of everything observable, taken with torch's and numpy's own APIs."""
    return {
        "parameters": [p.detach().clone() for p in model.parameters()],
        "grads": [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()],
        "buffers": {name: b.detach().clone() for name, b in model.named_buffers()},
        "training": [m.training for m in model.modules()],
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "groups": [{k: v for k, v in g.items() if k != "params"}
                   for g in copy.deepcopy(optimizer.param_groups)],
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor), where
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    else:
        assert a == b, (where, a, b)


def assert_unchanged(before: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Everything in ``record`` is bit for bit what it was."""
    after = record(model, optimizer)
    for key in before:
        _same(before[key], after[key], key)
