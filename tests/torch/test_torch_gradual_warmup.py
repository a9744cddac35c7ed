"""rampup.torch.GradualWarmupScheduler against the `warmup_scheduler` package (the oracle) and
against Goyal et al.'s definition; hand-over to cosine and ReduceLROnPlateau; checkpoints."""

from __future__ import annotations

import io
import math
import warnings

import pytest
import torch
import warmup_scheduler
from torch.optim import lr_scheduler as L
from torch_adapter_helpers import LRS, assert_same, make_run, plateau_metrics, trajectory

from rampup.torch import GradualWarmupScheduler

TOTAL_EPOCH = 5
AFTER = {
    "none": lambda o: None,
    "StepLR": lambda o: L.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda o: L.MultiStepLR(o, milestones=[3, 7, 15], gamma=0.1),
}


def _package_lrs(multiplier: float, after: str, steps: int) -> list[list[float]]:
    run = make_run()
    with warnings.catch_warnings():
        # the package passes the deprecated epoch argument to torch's schedulers
        warnings.simplefilter("ignore")
        scheduler = warmup_scheduler.GradualWarmupScheduler(
            run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH,
            after_scheduler=AFTER[after](run.optimizer))
        lrs, _ = trajectory(run, scheduler, steps)
    return lrs


@pytest.mark.parametrize("after", list(AFTER))
@pytest.mark.parametrize("multiplier", [1.0, 4.0, 2.5])
def test_matches_the_warmup_scheduler_package(multiplier, after) -> None:
    steps = 30
    expected = _package_lrs(multiplier, after, steps)
    run = make_run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rampup's own version warns about nothing
        scheduler = GradualWarmupScheduler(run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH,
                                           after_scheduler=AFTER[after](run.optimizer))
        lrs, last = trajectory(run, scheduler, steps)
    for k, (want, got) in enumerate(zip(expected, lrs, strict=True)):
        for a, b in zip(want, got, strict=True):
            assert math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0), (k, want, got)
    assert_same(lrs, last)  # get_last_lr() stays current after the hand-over
    if after != "none":
        assert lrs[-1][0] < lrs[TOTAL_EPOCH][0]  # the after_scheduler really took over


@pytest.mark.parametrize("multiplier", [1.0, 8.0])
def test_goyal_shape(multiplier) -> None:
    run = make_run()
    scheduler = GradualWarmupScheduler(run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH)
    lrs, _ = trajectory(run, scheduler, 12)
    if multiplier == 1.0:
        assert lrs[0] == [0.0, 0.0]  # the package's convention: from 0 when multiplier == 1
    else:
        assert lrs[0] == list(LRS)  # from eta ...
    for t in range(TOTAL_EPOCH + 1):
        for lr, base in zip(lrs[t], LRS, strict=True):
            start = 0.0 if multiplier == 1.0 else base
            assert math.isclose(lr, start + (multiplier * base - start) * t / TOTAL_EPOCH, rel_tol=1e-14)
    for lr, base in zip(lrs[TOTAL_EPOCH], LRS, strict=True):
        assert math.isclose(lr, multiplier * base, rel_tol=1e-15)  # ... to multiplier * eta
    assert all(row == lrs[TOTAL_EPOCH] for row in lrs[TOTAL_EPOCH:])


def test_cosine_after_hand_over_starts_at_and_never_exceeds_the_peak() -> None:
    multiplier, t_max, steps = 4.0, 10, 30
    run = make_run()
    scheduler = GradualWarmupScheduler(run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH,
                                       after_scheduler=L.CosineAnnealingLR(run.optimizer, T_max=t_max))
    lrs, last = trajectory(run, scheduler, steps)
    peaks = [multiplier * b for b in LRS]
    # (torch's recursive cosine drifts by ~1e-17 over a full period; allow that, not more)
    assert all(lr <= peak * (1 + 1e-12) for row in lrs for lr, peak in zip(row, peaks, strict=True))
    assert all(lr <= peak for row in lrs[:TOTAL_EPOCH + 1 + 2 * t_max]
               for lr, peak in zip(row, peaks, strict=True))
    assert lrs[TOTAL_EPOCH + 1] == lrs[TOTAL_EPOCH]
    for t in range(TOTAL_EPOCH + 1, TOTAL_EPOCH + 1 + t_max):
        j = t - TOTAL_EPOCH - 1  # the cosine's own step
        for lr, peak in zip(lrs[t], peaks, strict=True):
            want = peak * (1 + math.cos(math.pi * j / t_max)) / 2
            assert math.isclose(lr, want, rel_tol=1e-9, abs_tol=1e-15)
    assert_same(lrs, last)

    # contrast: the package overshoots the peak on the step after the hand-over
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pkg_run = make_run()
        pkg = warmup_scheduler.GradualWarmupScheduler(
            pkg_run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH,
            after_scheduler=L.CosineAnnealingLR(pkg_run.optimizer, T_max=t_max))
        pkg_lrs, _ = trajectory(pkg_run, pkg, steps)
    assert max(row[0] for row in pkg_lrs) > peaks[0] * 1.01


def test_reduce_on_plateau_hand_over() -> None:
    multiplier, steps = 2.0, 45
    metrics = [1.0] * steps  # never improves after the first value
    run = make_run()
    rop = L.ReduceLROnPlateau(run.optimizer, patience=3, factor=0.5)
    scheduler = GradualWarmupScheduler(run.optimizer, multiplier=multiplier, total_epoch=TOTAL_EPOCH,
                                       after_scheduler=rop)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs, last = trajectory(run, scheduler, steps, metrics=metrics,
                               step=lambda s, m: s.step(metrics=m))
    peaks = [multiplier * b for b in LRS]
    assert lrs[TOTAL_EPOCH + 1] == peaks
    # the reference: torch's ReduceLROnPlateau on the peak rates, fed the metrics from the step
    # after the hand-over on
    ref_run = make_run(peaks)
    ref_lrs, _ = trajectory(ref_run, L.ReduceLROnPlateau(ref_run.optimizer, patience=3, factor=0.5),
                            steps - TOTAL_EPOCH - 1, metrics=metrics[TOTAL_EPOCH + 1:])
    assert_same(lrs[TOTAL_EPOCH + 1:], ref_lrs)
    assert_same(lrs, last)
    # 1 improvement, then more than `patience` bad epochs: halved
    first_drop = next(t for t, row in enumerate(lrs) if t > TOTAL_EPOCH and row[0] < peaks[0])
    assert first_drop == TOTAL_EPOCH + 1 + 1 + 3 + 1
    assert lrs[first_drop] == [p * 0.5 for p in peaks]
    assert lrs[-1][0] < peaks[0] * 0.5

    with pytest.raises(ValueError, match="metrics"):
        scheduler.step()


def _roundtrip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("after", ["none", "StepLR", "MultiStepLR", "CosineAnnealingLR", "ReduceLROnPlateau"])
@pytest.mark.parametrize("at", [3, TOTAL_EPOCH + 1, 12])
def test_state_dict_roundtrip_resumes_exactly(after, at) -> None:
    steps = 30
    metrics = plateau_metrics(steps)
    makers = {**AFTER, "CosineAnnealingLR": lambda o: L.CosineAnnealingLR(o, T_max=15),
              "ReduceLROnPlateau": lambda o: L.ReduceLROnPlateau(o, patience=1, factor=0.5)}
    is_rop = after == "ReduceLROnPlateau"
    step = (lambda s, m: s.step(metrics=m)) if is_rop else None

    def build(run):
        return GradualWarmupScheduler(run.optimizer, multiplier=3.0, total_epoch=TOTAL_EPOCH,
                                      after_scheduler=makers[after](run.optimizer))

    ref_run = make_run()
    full, _ = trajectory(ref_run, build(ref_run), steps, metrics=metrics if is_rop else None, step=step)

    first = make_run()
    scheduler = build(first)
    trajectory(first, scheduler, at, metrics=metrics if is_rop else None, step=step)
    state = _roundtrip({"scheduler": scheduler.state_dict(), "optimizer": first.optimizer.state_dict()})

    second = make_run()
    second.model.load_state_dict(first.model.state_dict())
    second.optimizer.load_state_dict(state["optimizer"])
    resumed = build(second)
    resumed.load_state_dict(state["scheduler"])
    lrs, last = trajectory(second, resumed, steps - at, metrics=metrics[at:] if is_rop else None, step=step)
    assert_same(lrs, full[at:])
    assert_same(last, full[at:])


def test_errors() -> None:
    run = make_run()
    for cls in (GradualWarmupScheduler, warmup_scheduler.GradualWarmupScheduler):
        with pytest.raises(ValueError):
            cls(make_run().optimizer, multiplier=0.5, total_epoch=5)
    with pytest.raises(ValueError):
        GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=0)
    with pytest.raises(TypeError):
        GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=5, after_scheduler=object())
    with pytest.raises(ValueError, match="same optimizer"):
        GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=5,
                               after_scheduler=L.StepLR(make_run().optimizer, 2))
    with pytest.raises(TypeError):
        GradualWarmupScheduler(object(), multiplier=2.0, total_epoch=5)
    scheduler = GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=5)
    with pytest.raises(ValueError, match="epoch"):
        scheduler.step(3)
    other = GradualWarmupScheduler(make_run().optimizer, multiplier=3.0, total_epoch=5)
    with pytest.raises(ValueError, match="multiplier"):
        other.load_state_dict(scheduler.state_dict())
    with_after = GradualWarmupScheduler(make_run().optimizer, multiplier=2.0, total_epoch=5,
                                        after_scheduler=None)
    assert with_after.state_dict()["after_scheduler"] is None
    stepped = make_run()
    chained = GradualWarmupScheduler(stepped.optimizer, multiplier=2.0, total_epoch=5,
                                     after_scheduler=L.StepLR(stepped.optimizer, 2))
    with pytest.raises(ValueError, match="after_scheduler"):
        chained.load_state_dict(scheduler.state_dict())
