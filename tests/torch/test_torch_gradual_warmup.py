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

import rampup
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


# --- step(epoch), the package's README example, and every numeric difference ---------------------

def _run_package_example(cls: type) -> tuple[list[tuple[int, float]], list[warnings.WarningMessage]]:
    """Run the example shipped in the package (its README's, warmup_scheduler/run.py) with ``cls``
    as its GradualWarmupScheduler; the (epoch, lr) lines it prints and the warnings."""
    import contextlib
    import runpy
    from pathlib import Path

    path = Path(warmup_scheduler.__file__).with_name("run.py")
    original = warmup_scheduler.GradualWarmupScheduler
    out = io.StringIO()
    warmup_scheduler.GradualWarmupScheduler = cls  # the example imports it from the package
    try:
        with contextlib.redirect_stdout(out), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runpy.run_path(str(path), run_name="__main__")
    finally:
        warmup_scheduler.GradualWarmupScheduler = original
    lines = [line.split() for line in out.getvalue().splitlines()]
    return [(int(epoch), float(lr)) for epoch, lr in lines], caught


def test_the_package_readme_example_runs_unchanged() -> None:
    """The example calls step(epoch) with the epoch the scheduler reaches anyway: accepted, one
    warning; the numbers are those of the package's own step() loop. The package's step(epoch)
    path hands StepLR epoch - total_epoch, so it decays one epoch earlier (at 15, not 16)."""
    ours, our_warnings = _run_package_example(GradualWarmupScheduler)
    theirs, _ = _run_package_example(warmup_scheduler.GradualWarmupScheduler)
    assert [w.category for w in our_warnings] == [rampup.RampupWarning]
    assert "epoch argument is unnecessary" in str(our_warnings[0].message)
    assert [e for e, _ in ours] == [e for e, _ in theirs] == list(range(1, 20))
    differ = [e for (e, a), (_, b) in zip(ours, theirs, strict=True) if not math.isclose(a, b, rel_tol=1e-15)]
    assert differ == [15]
    assert dict(theirs)[15] == pytest.approx(0.01) and dict(ours)[15] == pytest.approx(0.1)
    # the same loop with step() in the package: rampup's numbers
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        package = warmup_scheduler.GradualWarmupScheduler(
            optimizer, multiplier=1, total_epoch=5,
            after_scheduler=L.StepLR(optimizer, step_size=10, gamma=0.1))
        optimizer.step()
        stepped = []
        for epoch in range(1, 20):
            package.step()
            stepped.append((epoch, optimizer.param_groups[0]["lr"]))
            optimizer.step()
    assert ours == stepped


def test_step_epoch_other_than_the_next_count_is_refused() -> None:
    run = make_run()
    scheduler = GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=5)
    scheduler.step()
    before, lrs = scheduler.state_dict(), run.lrs()
    for bad in (0, 1, 3, -1, 2.0, "2", True):
        with pytest.raises(rampup.RampupError, match=r"at step 1, so step\(epoch\) accepts only epoch=2"):
            scheduler.step(bad)
        assert scheduler.state_dict() == before and run.lrs() == lrs
    with pytest.warns(rampup.RampupWarning, match="unnecessary"):
        scheduler.step(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per scheduler
        scheduler.step(3)
        scheduler.step(epoch=4)
    assert scheduler.last_epoch == 4
    with pytest.warns(rampup.RampupWarning, match="unnecessary"):  # a new scheduler warns again
        GradualWarmupScheduler(make_run().optimizer, multiplier=2.0, total_epoch=5).step(1)


def test_a_metric_without_a_metric_driven_after_scheduler_is_an_error() -> None:
    run = make_run()
    for after in (None, L.StepLR(run.optimizer, 2)):
        scheduler = GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=2,
                                           after_scheduler=after)
        before = scheduler.state_dict()
        with pytest.raises(rampup.RampupError, match="takes no metric"):
            scheduler.step(metrics=0.5)
        assert scheduler.state_dict() == before
    rop = GradualWarmupScheduler(run.optimizer, multiplier=2.0, total_epoch=1,
                                 after_scheduler=L.ReduceLROnPlateau(run.optimizer))
    rop.step(metrics=1.0)  # warming up: a metric is welcome, not needed
    rop.step()  # the hand-over
    before = rop.state_dict()
    with pytest.raises(rampup.RampupError, match="call step\\(metrics=val_loss\\)"):
        rop.step()
    assert rop.state_dict() == before


# The README's "Differences from warmup_scheduler" table, measured here against the package
# (SGD at lr 0.1, total_epoch T = 5, the ordinary loop: optimizer.step() then scheduler.step()).
T = TOTAL_EPOCH
DIFF_AFTER = {
    "StepLR": lambda o: L.StepLR(o, step_size=4, gamma=0.5),
    "MultiStepLR": lambda o: L.MultiStepLR(o, milestones=[3, 7], gamma=0.1),
    "LambdaLR": lambda o: L.LambdaLR(o, lambda j: 0.95 ** j),
    "LinearLR": lambda o: L.LinearLR(o, 1.0, 0.1, total_iters=10),
    "CosineAnnealingWarmRestarts": lambda o: L.CosineAnnealingWarmRestarts(o, 5),
    "ExponentialLR": lambda o: L.ExponentialLR(o, 0.9),
    "CosineAnnealingLR(10)": lambda o: L.CosineAnnealingLR(o, 10),
    "CosineAnnealingLR(20)": lambda o: L.CosineAnnealingLR(o, 20),
    "PolynomialLR": lambda o: L.PolynomialLR(o, total_iters=10, power=2.0),
    "ReduceLROnPlateau": lambda o: L.ReduceLROnPlateau(o, patience=2, factor=0.5),
}


def _lrs(cls: type, multiplier: float, after: str, steps: int = 40, epoch_arg: bool = False) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    rop = after == "ReduceLROnPlateau"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = cls(optimizer, multiplier=multiplier, total_epoch=T,
                        after_scheduler=DIFF_AFTER[after](optimizer))
        out = [optimizer.param_groups[0]["lr"]]
        for k in range(1, steps + 1):
            optimizer.step()
            args = (k,) if epoch_arg else ()
            scheduler.step(*args, **({"metrics": 1.0} if rop else {}))
            out.append(optimizer.param_groups[0]["lr"])
    return out


def _both(multiplier: float, after: str, **kwargs) -> tuple[list[float], list[float]]:
    return (_lrs(warmup_scheduler.GradualWarmupScheduler, multiplier, after, **kwargs),
            _lrs(GradualWarmupScheduler, multiplier, after, **kwargs))


def _differing(a: list[float], b: list[float]) -> list[int]:
    return [k for k, (x, y) in enumerate(zip(a, b, strict=True)) if not math.isclose(x, y, rel_tol=1e-12)]


SAME = ["StepLR", "MultiStepLR", "LambdaLR", "LinearLR", "CosineAnnealingWarmRestarts"]


@pytest.mark.parametrize("multiplier", [1.0, 8.0])
@pytest.mark.parametrize("after", SAME)
def test_table_same_numbers(after: str, multiplier: float) -> None:
    package, ours = _both(multiplier, after)
    assert _differing(package, ours) == []


@pytest.mark.parametrize("multiplier", [1.0, 8.0])
def test_table_exponential_lr_package_applies_gamma_one_step_earlier(multiplier: float) -> None:
    package, ours = _both(multiplier, "ExponentialLR")
    peak = 0.1 * multiplier
    assert ours[T] == ours[T + 1] == pytest.approx(peak) and package[T] == pytest.approx(peak)
    for k in range(T + 1, 41):
        assert package[k] == pytest.approx(peak * 0.9 ** (k - T))  # gamma from step T + 1
        assert ours[k] == pytest.approx(peak * 0.9 ** (k - T - 1))  # its step j at T + 1 + j


@pytest.mark.parametrize(("after", "overshoot"), [("CosineAnnealingLR(10)", 0.0251),
                                                  ("CosineAnnealingLR(20)", 0.0062)])
def test_table_cosine_overshoot(after: str, overshoot: float) -> None:
    t_max = 10 if "10" in after else 20
    package, ours = _both(4.0, after)
    peak = 0.4
    assert max(package) / peak - 1 == pytest.approx(overshoot, abs=5e-5)  # at step T + 1
    assert package.index(max(package)) == T + 1
    assert max(ours) == pytest.approx(peak) and ours[T + 1] == pytest.approx(peak)
    assert _differing(package, ours) == list(range(T + 1, T + 1 + t_max))  # the first period only


def test_table_polynomial_lr() -> None:
    package, ours = _both(1.0, "PolynomialLR")
    assert _differing(package, ours) == list(range(T + 1, T + 11))
    assert ours[T + 1 + 1] == pytest.approx(0.1 * (1 - 1 / 10) ** 2)  # torch's formula, its step 1
    assert package[T + 1] == pytest.approx(0.1 * (10 / 11) ** 2)  # the package: 0.83 x peak at T + 1
    assert max(abs(a - b) / b for a, b in zip(package[T + 1:T + 10], ours[T + 1:T + 10], strict=True)) \
        == pytest.approx(0.174, abs=1e-3)


def test_table_reduce_on_plateau() -> None:
    package, ours = _both(8.0, "ReduceLROnPlateau", steps=16)
    assert package[0] == pytest.approx(0.24) and ours[0] == pytest.approx(0.1)  # the package's step 1
    assert package[:T] == pytest.approx(ours[1:T + 1])  # its warmup one step ahead
    peak_at = [next(k for k, v in enumerate(lrs) if math.isclose(v, 0.8)) for lrs in (package, ours)]
    assert peak_at == [T - 1, T]
    first_cut = [next(k for k, v in enumerate(lrs) if k > at and v < 0.8 - 1e-12)
                 for lrs, at in zip((package, ours), peak_at, strict=True)]
    assert first_cut == [8, 10]  # flat metric, patience 2: the package cuts 2 steps earlier
    flat, ours1 = _both(1.0, "ReduceLROnPlateau", steps=8)
    assert flat[:T + 1] == [0.1] * (T + 1)  # multiplier 1: the package does not warm up at all
    assert ours1[:T + 1] == pytest.approx([0.1 * t / T for t in range(T + 1)])


@pytest.mark.parametrize("after", SAME)
def test_table_step_epoch_package_runs_the_after_scheduler_one_step_ahead(after: str) -> None:
    package_epoch, ours_epoch = _both(8.0, after, epoch_arg=True)
    package_step, ours_step = _both(8.0, after)
    assert ours_epoch == ours_step == pytest.approx(package_step)  # step(epoch) is step() in rampup
    assert _differing(package_epoch, package_step)  # not in the package
    # the package's step(epoch) path: the after_scheduler's step j at T + j (j >= 2), not T + 1 + j
    assert package_epoch[T + 2:-1] == pytest.approx(package_step[T + 3:], rel=1e-12)
