"""rampup.torch.warmup_wrapper around torch's own schedulers.

The reference is the same torch scheduler, built fresh on a fresh optimizer and run without any
warmup: "delay" must reproduce it shifted by the warmup length, "dampen" must reproduce it scaled
by the warmup during warmup and untouched afterwards.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch.optim import lr_scheduler as L
from torch_adapter_helpers import LRS, assert_same, make_run, plateau_metrics, trajectory

import rampup
from rampup.torch import WarmupWrapper, warmup_wrapper

W = 6
STEPS = 40
ONE_CYCLE_MAX = (1e-2, 3e-3)

MAKERS: dict[str, tuple[Callable[[Any], Any], tuple[float, ...]]] = {
    # name: (build on an optimizer, the peak rates the warmup climbs to)
    "StepLR": (lambda o: L.StepLR(o, step_size=7, gamma=0.5), LRS),
    "MultiStepLR": (lambda o: L.MultiStepLR(o, milestones=[5, 12, 20], gamma=0.3), LRS),
    "CosineAnnealingLR": (lambda o: L.CosineAnnealingLR(o, T_max=25, eta_min=1e-6), LRS),
    "CosineAnnealingWarmRestarts": (
        lambda o: L.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=2, eta_min=1e-6), LRS),
    "OneCycleLR": (lambda o: L.OneCycleLR(o, max_lr=list(ONE_CYCLE_MAX), total_steps=60),
                   tuple(m / 25.0 for m in ONE_CYCLE_MAX)),  # starts at max_lr / div_factor
    "ReduceLROnPlateau": (lambda o: L.ReduceLROnPlateau(o, patience=2, factor=0.5), LRS),
}
METRICS = plateau_metrics(STEPS + 10)


def _step_with_metrics(scheduler, value) -> None:
    scheduler.step(metrics=value)


def _run(name: str, steps: int, *, wrap: str | None, metrics=METRICS):
    run = make_run()
    scheduler = MAKERS[name][0](run.optimizer)
    if wrap is not None:
        scheduler = warmup_wrapper(scheduler, W, mode=wrap)
    is_rop = name == "ReduceLROnPlateau"
    return run, scheduler, trajectory(
        run, scheduler, steps, metrics=metrics if is_rop else None,
        step=_step_with_metrics if is_rop and wrap else None)


@pytest.mark.parametrize("name", list(MAKERS))
def test_delay_mode(name) -> None:
    peaks = MAKERS[name][1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, wrapper, (lrs, last) = _run(name, STEPS, wrap="delay")
        # the wrapped scheduler's step j runs at global step W + j; it sees the metrics from then on
        _, _, (ref, _) = _run(name, STEPS - W, wrap=None, metrics=METRICS[W:])
    assert isinstance(wrapper, WarmupWrapper)
    assert isinstance(wrapper, torch.optim.lr_scheduler.LRScheduler)
    for t in range(W):
        assert lrs[t] == [p * ((t + 1) / W) for p in peaks], t
    assert_same(lrs[W:], ref)
    assert_same(lrs, last)
    assert len({tuple(r) for r in ref}) > 2  # the wrapped scheduler really moved the rate


@pytest.mark.parametrize("name", list(MAKERS))
def test_dampen_mode(name) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, _, (lrs, last) = _run(name, STEPS, wrap="dampen")
        _, _, (ref, _) = _run(name, STEPS, wrap=None)
    for t in range(W):
        assert lrs[t] == [r * ((t + 1) / W) for r in ref[t]], t
    assert_same(lrs[W:], ref[W:])
    assert_same(lrs, last)


@pytest.mark.parametrize("mode", ["delay", "dampen"])
def test_zero_warmup_is_the_wrapped_scheduler(mode) -> None:
    run = make_run()
    wrapper = warmup_wrapper(L.CosineAnnealingLR(run.optimizer, T_max=12), 0, mode=mode)
    lrs, _ = trajectory(run, wrapper, 15)
    ref_run = make_run()
    ref, _ = trajectory(ref_run, L.CosineAnnealingLR(ref_run.optimizer, T_max=12), 15)
    assert_same(lrs, ref)


def test_custom_warmup_shape() -> None:
    run = make_run()
    warmup = rampup.Warmup(steps=5, curve="cosine")
    wrapper = warmup_wrapper(L.StepLR(run.optimizer, 3, 0.5), warmup)
    assert wrapper.warmup_steps == 5
    lrs, _ = trajectory(run, wrapper, 6)
    for t in range(5):
        factor = 0.5 * (1.0 - math.cos(math.pi * ((t + 1) / 5)))
        assert lrs[t] == [b * factor for b in LRS]
    assert lrs[5] == list(LRS)


def test_rop_metrics_are_ignored_while_delayed() -> None:
    run = make_run()
    inner = L.ReduceLROnPlateau(run.optimizer, patience=0, factor=0.5)
    wrapper = warmup_wrapper(inner, 4)
    for _ in range(4):
        run.update()
        wrapper.step(metrics=1.0)
    assert inner.num_bad_epochs == 0 and inner.best == math.inf
    assert run.lrs() == list(LRS)
    run.update()
    wrapper.step(metrics=1.0)  # now the wrapped scheduler runs
    assert inner.best == 1.0


def _roundtrip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("mode", ["delay", "dampen"])
@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau"])
@pytest.mark.parametrize("at", [3, 15])
def test_resume(name, mode, at) -> None:
    is_rop = name == "ReduceLROnPlateau"
    step = _step_with_metrics if is_rop else None
    _, _, (full, _) = _run(name, STEPS, wrap=mode)

    first = make_run()
    wrapper = warmup_wrapper(MAKERS[name][0](first.optimizer), W, mode=mode)
    trajectory(first, wrapper, at, metrics=METRICS if is_rop else None, step=step)
    state = _roundtrip({"wrapper": wrapper.state_dict(), "optimizer": first.optimizer.state_dict(),
                        "model": first.model.state_dict()})

    second = make_run(seed=3)
    second.model.load_state_dict(state["model"])
    second.optimizer.load_state_dict(state["optimizer"])
    resumed = warmup_wrapper(MAKERS[name][0](second.optimizer), W, mode=mode)
    resumed.load_state_dict(state["wrapper"])
    lrs, last = trajectory(second, resumed, STEPS - at, metrics=METRICS[at:] if is_rop else None, step=step)
    assert_same(lrs, full[at:])
    assert_same(last, full[at:])


def test_errors() -> None:
    run = make_run()
    with pytest.raises(TypeError, match="torch LR scheduler"):
        warmup_wrapper(run.optimizer, 5)
    with pytest.raises(ValueError, match="mode"):
        warmup_wrapper(L.StepLR(run.optimizer, 2), 5, mode="scale")
    with pytest.raises(ValueError):
        warmup_wrapper(L.StepLR(make_run().optimizer, 2), -1)
    with pytest.raises(TypeError):
        warmup_wrapper(L.StepLR(make_run().optimizer, 2), 2.5)
    wrapper = warmup_wrapper(L.StepLR(make_run().optimizer, 2), 3)
    with pytest.raises(ValueError, match="epoch"):
        wrapper.step(epoch=4)

    rop_run = make_run()
    rop = warmup_wrapper(L.ReduceLROnPlateau(rop_run.optimizer), 2)
    rop.step()  # still warming up: no metric needed yet
    rop.step()
    with pytest.raises(ValueError, match="metrics"):
        rop.step()

    other = warmup_wrapper(L.StepLR(make_run().optimizer, 2), 4)
    with pytest.raises(ValueError, match="warmup"):
        other.load_state_dict(wrapper.state_dict())
    dampened = warmup_wrapper(L.StepLR(make_run().optimizer, 2), 3, mode="dampen")
    with pytest.raises(ValueError, match="mode"):
        dampened.load_state_dict(wrapper.state_dict())
    with pytest.raises(ValueError, match="WarmupWrapper"):
        wrapper.load_state_dict(L.StepLR(make_run().optimizer, 2).state_dict())


# --- metrics, and the peak at the hand-over ------------------------------------------------------

@pytest.mark.parametrize("mode", ["delay", "dampen"])
def test_a_metric_for_a_scheduler_that_takes_none_is_an_error(mode: str) -> None:
    run = make_run()
    wrapper = warmup_wrapper(L.StepLR(run.optimizer, 2), 3, mode=mode)
    for value in (0.5, 0.0, torch.tensor(0.5)):
        before, lrs = wrapper.state_dict(), run.lrs()
        with pytest.raises(rampup.RampupError, match=r"StepLR takes no metric.*call step\(\)"):
            wrapper.step(value)
        with pytest.raises(rampup.RampupError, match="takes no metric"):
            wrapper.step(metrics=value)
        assert wrapper.state_dict() == before and run.lrs() == lrs  # nothing advanced
        run.update()
        wrapper.step()


def test_a_missing_metric_does_not_advance_the_wrapper() -> None:
    run = make_run()
    wrapper = warmup_wrapper(L.ReduceLROnPlateau(run.optimizer), 2, mode="dampen")
    before, lrs = wrapper.state_dict(), run.lrs()
    with pytest.raises(rampup.RampupError, match="needs the metric"):
        wrapper.step()
    assert wrapper.state_dict() == before and run.lrs() == lrs
    wrapper.step(1.0)
    assert wrapper.last_epoch == 1


def test_any_scheduler_whose_step_needs_a_metric_gets_it() -> None:
    """GreedyLR (step(metrics)) behind a delayed warmup: from step W it is fed the metrics and
    gives transformers' GreedyLR's numbers, run alone from its own step 0."""
    import transformers.optimization as hf

    metrics = plateau_metrics(STEPS)
    run = make_run()
    wrapper = warmup_wrapper(rampup.torch.GreedyLR(run.optimizer, patience=2, min_lr=1e-6), W)
    lrs, _ = trajectory(run, wrapper, STEPS, metrics=[None] * W + metrics[W:],
                        step=lambda s, m: s.step() if m is None else s.step(m))
    ref_run = make_run()
    ref, _ = trajectory(ref_run, hf.GreedyLR(ref_run.optimizer, patience=2, min_lr=1e-6), STEPS - W,
                        metrics=metrics[W:])
    assert_same(lrs[W:], ref)
    assert len({tuple(r) for r in ref}) > 2


SEQUENTIAL = {
    "StepLR": lambda o: L.StepLR(o, step_size=7, gamma=0.5),
    "ExponentialLR": lambda o: L.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, T_max=25, eta_min=1e-6),
    "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=2),
    "PolynomialLR": lambda o: L.PolynomialLR(o, total_iters=20, power=2.0),
}


@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_delay_is_torchs_sequential_lr_with_the_peak_held_for_two_updates(name: str) -> None:
    """Intended: the warmup's last update and the wrapped scheduler's step 0 both run at the peak,
    exactly as torch's SequentialLR of a LinearLR warmup (to 1 in W - 1 steps) and the scheduler."""
    make = SEQUENTIAL[name]
    run = make_run()
    lrs, _ = trajectory(run, warmup_wrapper(make(run.optimizer), W), STEPS)
    ref_run = make_run()
    opt = ref_run.optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR passes torch's deprecated epoch argument
        sequential = L.SequentialLR(opt, [L.LinearLR(opt, 1 / W, 1.0, total_iters=W - 1), make(opt)],
                                    milestones=[W])
        ref, _ = trajectory(ref_run, sequential, STEPS)
    assert lrs[W - 1] == lrs[W] == list(LRS)  # the peak, twice
    for row, want in zip(lrs[:W], ref[:W], strict=True):  # LinearLR multiplies its way up: ulps
        assert row == pytest.approx(want, rel=1e-12)
    assert_same(lrs[W:], ref[W:])


@pytest.mark.parametrize("name", list(SEQUENTIAL))
def test_a_warmup_that_ends_on_the_scheduler_step_zero_uses_the_peak_once(name: str) -> None:
    make = SEQUENTIAL[name]
    run = make_run()
    lrs, _ = trajectory(run, warmup_wrapper(make(run.optimizer), rampup.Warmup(W, endpoints="start")), STEPS)
    ref_run = make_run()
    opt = ref_run.optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequential = L.SequentialLR(opt, [L.LambdaLR(opt, lambda t: t / W), make(opt)], milestones=[W])
        ref, _ = trajectory(ref_run, sequential, STEPS)
    assert_same(lrs, ref)
    assert lrs[W - 1] != list(LRS) and lrs[W] == list(LRS)  # the peak once, at the hand-over


def test_with_warmup_is_a_deprecated_name_of_warmup_wrapper() -> None:
    from rampup import errors

    errors._warned.discard("deprecated:rampup.torch.with_warmup")  # warned once per process
    run, old_run = make_run(), make_run()
    with pytest.warns(rampup.RampupWarning, match=r"rampup\.torch\.warmup_wrapper") as caught:
        old = rampup.torch.with_warmup(L.StepLR(old_run.optimizer, 3, 0.5), 4, mode="dampen")
    assert caught[0].filename == __file__  # points at the caller
    new = warmup_wrapper(L.StepLR(run.optimizer, 3, 0.5), 4, mode="dampen")
    assert isinstance(old, WarmupWrapper) and (old.warmup_steps, old.mode) == (4, "dampen")
    assert trajectory(old_run, old, 12) == trajectory(run, new, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        rampup.torch.with_warmup(L.StepLR(make_run().optimizer, 3), 2)
