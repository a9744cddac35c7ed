"""A copy of everything a learning-rate probe can change, put back bit for bit afterwards.

The range test and the critical-rate probe train the caller's own model for a while; afterwards
the model, the optimizer and the random number generators must be exactly as they were, as if the
probe had never run. :class:`TrainingState` copies, and restores in place (so every reference the
caller holds, to a parameter, a state tensor or a tensor rate, stays valid):

- every parameter's value and gradient (``None`` stays ``None``) and every buffer (BatchNorm's
  running statistics and batch counter), of the model and of any parameter only the optimizer has;
- each module's ``training`` flag;
- the optimizer's per-parameter state (moments, step counts; state that did not exist is removed)
  and every parameter group's settings (rates, ``initial_lr``, betas, ...), plus torch's
  ``_opt_called`` marker;
- the random number generators: torch's CPU generator and, when CUDA has been initialised, every
  CUDA device's; numpy's global generator; Python's ``random``;
- any other object given with ``state_dict()``/``load_state_dict()`` (a ``GradScaler``, a
  scheduler) and the generators of a ``DataLoader``'s sampler, whose shuffling draws from them.

While a probe runs, :func:`step_observers_suspended` detaches the optimizer's own step post-hooks
(``optimizer.register_step_post_hook``): they observe updates that are undone afterwards, and what
they record would outlive the probe (a :class:`rampup.torch.Scheduler`'s count of updates since
its last ``step()``, an average of the weights kept by a hook). Pre-hooks stay: they may be part of
the update itself.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

__all__ = ["TrainingState", "loader_generators", "step_observers_suspended"]

_MISSING = object()


def _copy(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)


def _put(container: dict[Any, Any], key: Any, saved: Any) -> None:
    """``container[key] = saved``, filling a tensor of the same kind in place."""
    current = container.get(key, _MISSING)
    if (
        isinstance(current, torch.Tensor) and isinstance(saved, torch.Tensor)
        and current.shape == saved.shape and current.dtype == saved.dtype
        and current.device == saved.device
    ):
        with torch.no_grad():
            current.copy_(saved)
    else:
        container[key] = _copy(saved)


def loader_generators(data: object) -> list[torch.Generator]:
    """The torch generators a DataLoader (or sampler) draws from when it is iterated."""
    found: list[torch.Generator] = []
    seen: set[int] = set()
    for owner in (data, getattr(data, "sampler", None), getattr(data, "batch_sampler", None),
                  getattr(getattr(data, "batch_sampler", None), "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and id(generator) not in seen:
            seen.add(id(generator))
            found.append(generator)
    return found


@contextmanager
def step_observers_suspended(optimizer: Optimizer) -> Iterator[None]:
    """Detach ``optimizer``'s step post-hooks for the duration, then put the same ones back."""
    hooks = getattr(optimizer, "_optimizer_step_post_hooks", None)
    if not hooks:
        yield
        return
    saved = dict(hooks)
    hooks.clear()
    try:
        yield
    finally:
        # hooks registered during the probe are the probe's own; those taken away come back, in order
        hooks.clear()
        hooks.update(saved)


class TrainingState:
    """Everything a probe can change in ``model``, ``optimizer`` and the process (see module)."""

    def __init__(self, model: nn.Module, optimizer: Optimizer, extra: Sequence[Any] = (),
                 generators: Iterable[torch.Generator] = ()) -> None:
        self.model = model
        self.optimizer = optimizer
        tensors: dict[int, torch.Tensor] = {}
        for parameter in model.parameters():
            tensors[id(parameter)] = parameter
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                tensors.setdefault(id(parameter), parameter)
        self._parameters = [
            (p, p.detach().clone(), None if p.grad is None else p.grad.detach().clone())
            for p in tensors.values()
        ]
        self._buffers = [(b, b.detach().clone()) for b in model.buffers()]
        self._flags = [(module, module.training) for module in model.modules()]
        self._groups = [{k: _copy(v) for k, v in group.items() if k != "params"}
                        for group in optimizer.param_groups]
        self._state = {p: {k: _copy(v) for k, v in entries.items()}
                       for p, entries in optimizer.state.items()}
        self._opt_called = getattr(optimizer, "_opt_called", _MISSING)
        self._extra = [(item, copy.deepcopy(item.state_dict())) for item in extra]
        self._generators = [(g, g.get_state()) for g in generators]
        self._torch_rng = torch.get_rng_state()
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        self._cuda_rng = torch.cuda.get_rng_state_all() if cuda else None
        self._numpy_rng = np.random.get_state()
        self._python_rng = random.getstate()

    def restore(self) -> None:
        """Put everything back as it was when this state was taken (may be called many times)."""
        with torch.no_grad():
            for parameter, value, grad in self._parameters:
                parameter.copy_(value)
                if grad is None:
                    parameter.grad = None
                elif parameter.grad is None or parameter.grad.shape != grad.shape:
                    parameter.grad = grad.clone()
                else:
                    parameter.grad.copy_(grad)
            for buffer, value in self._buffers:
                buffer.copy_(value)
        for module, flag in self._flags:
            module.training = flag
        self._restore_optimizer()
        for item, state in self._extra:
            item.load_state_dict(copy.deepcopy(state))
        for generator, state in self._generators:
            generator.set_state(state)
        self.restore_rng()

    def restore_rng(self) -> None:
        """Put back only the global random number generators (torch, CUDA, numpy, Python)."""
        torch.set_rng_state(self._torch_rng)
        if self._cuda_rng is not None:
            torch.cuda.set_rng_state_all(self._cuda_rng)
        np.random.set_state(self._numpy_rng)
        random.setstate(self._python_rng)

    def _restore_optimizer(self) -> None:
        optimizer = self.optimizer
        for group, saved in zip(optimizer.param_groups, self._groups, strict=True):
            for key in [k for k in group if k != "params" and k not in saved]:
                del group[key]
            for key, value in saved.items():
                _put(group, key, value)
        for parameter in [p for p in optimizer.state if p not in self._state]:
            del optimizer.state[parameter]
        for parameter, saved_entries in self._state.items():
            entries = optimizer.state[parameter]
            for key in [k for k in entries if k not in saved_entries]:
                del entries[key]
            for key, value in saved_entries.items():
                _put(entries, key, value)
        if self._opt_called is _MISSING:
            if hasattr(optimizer, "_opt_called"):
                del optimizer._opt_called
        else:
            optimizer._opt_called = self._opt_called  # type: ignore[attr-defined]
