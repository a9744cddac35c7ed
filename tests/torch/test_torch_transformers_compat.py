"""rampup.torch's transformers-compatible API against transformers itself, as the oracle.

Each case runs the same real training loop (AdamW, two parameter groups with different rates,
backward, optimizer.step(), scheduler.step()) once under transformers' scheduler and once under
rampup's, and compares the rates bit for bit at every step.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
import torch
import transformers
import transformers.optimization as hf
from torch_adapter_helpers import assert_same, make_run, plateau_metrics, trajectory

import rampup
import rampup.torch as rt

N = 40  # num_training_steps
W = 8  # num_warmup_steps
EXTRA = 6  # steps run past num_training_steps

# Where transformers' curve is already at its final value and stays there.
# "holds": transformers holds from step N on, so compare the whole run including past the end.
# "climbs": transformers' cosine climbs back after N (rampup holds its step-N value).
# "climbs-early": cosine_warmup_with_min_lr ends at step N - 1 in transformers, then climbs.
# "open": no end at all (inverse_sqrt keeps decaying in both).
CASES: list[tuple[str, int | None, int | None, dict[str, Any], str]] = [
    ("linear", W, N, {}, "holds"),
    ("linear", 0, 25, {}, "holds"),
    ("linear", 10, 10, {}, "holds"),
    ("cosine", W, N, {}, "climbs"),
    ("cosine", 0, N, {}, "climbs"),
    ("cosine", W, N, {"num_cycles": 0.3}, "climbs"),
    ("cosine", W, N, {"num_cycles": 1.25}, "climbs"),
    ("cosine_with_restarts", W, N, {}, "holds"),
    ("cosine_with_restarts", W, N, {"num_cycles": 3}, "holds"),
    ("polynomial", W, N, {}, "holds"),
    ("polynomial", W, N, {"power": 2.0, "lr_end": 1e-5}, "holds"),
    ("polynomial", 5, 33, {"power": 0.5, "lr_end": 2e-4}, "holds"),
    ("constant", None, None, {}, "holds"),
    ("constant", W, N, {}, "holds"),  # transformers ignores the warmup for "constant"
    ("constant_with_warmup", W, None, {}, "holds"),
    ("constant_with_warmup", 13, N, {}, "holds"),
    ("inverse_sqrt", W, None, {}, "open"),
    ("inverse_sqrt", W, None, {"timescale": 20}, "open"),
    ("inverse_sqrt", 0, None, {}, "open"),
    ("cosine_with_min_lr", W, N, {"min_lr": 1e-5}, "climbs"),
    ("cosine_with_min_lr", W, N, {"min_lr_rate": 0.1}, "climbs"),
    ("cosine_with_min_lr", 0, N, {"min_lr_rate": 0.05, "num_cycles": 0.7}, "climbs"),
    ("cosine_warmup_with_min_lr", W, N, {"min_lr_rate": 0.1}, "climbs-early"),
    ("cosine_warmup_with_min_lr", W, N, {"min_lr": 1e-5}, "climbs-early"),
    ("cosine_warmup_with_min_lr", W, N, {"min_lr_rate": 0.1, "warmup_lr_rate": 0.05}, "climbs-early"),
    ("cosine_warmup_with_min_lr", 1, N, {"min_lr_rate": 0.2, "warmup_lr_rate": 0.3}, "climbs-early"),
    # a long warmup where the two roundings do differ by an ulp at some steps (e.g. t = 5, 10, 11)
    ("cosine_warmup_with_min_lr", 100, 130, {"min_lr_rate": 0.1, "warmup_lr_rate": 0.01}, "climbs-early"),
    ("warmup_stable_decay", W, N, {"num_decay_steps": 10}, "holds"),
    ("warmup_stable_decay", W, None, {"num_decay_steps": 10, "num_stable_steps": 12}, "holds"),
    ("warmup_stable_decay", W, N, {"num_decay_steps": 12, "min_lr_ratio": 0.1, "num_cycles": 0.8}, "holds"),
    *[
        ("warmup_stable_decay", W, N,
         {"num_decay_steps": 11, "warmup_type": wt, "decay_type": dt, "min_lr_ratio": 0.05}, "holds")
        for wt in ("linear", "cosine", "1-sqrt")
        for dt in ("linear", "cosine", "1-sqrt")
    ],
]

METRIC_CASES: list[tuple[str, dict[str, Any]]] = [
    ("reduce_lr_on_plateau", {}),
    ("reduce_lr_on_plateau", {"patience": 2, "factor": 0.5, "cooldown": 1}),
    ("reduce_lr_on_plateau", {"mode": "min", "patience": 1, "factor": 0.3, "threshold": 0.0,
                              "min_lr": [2e-5, 1e-5]}),
    ("greedy", {}),
    ("greedy", {"patience": 2, "factor": 0.5, "min_lr": [1e-5, 1e-6], "max_lr": [1e-2, 5e-3]}),
    ("greedy", {"patience": 1, "factor": 0.8, "cooldown": 2, "warmup": 1, "min_lr": 1e-5,
                "max_lr": 4e-3, "threshold": 1e-3, "threshold_mode": "rel"}),
    ("greedy", {"patience": 1, "factor": 0.5, "min_lr": [2e-4, 1e-4], "reset_start": 2}),
    ("greedy", {"patience": 2, "factor": 0.7, "smooth": True, "window_size": 4, "min_lr": 1e-6}),
]


def _length(name: str, total: int | None, kwargs: dict[str, Any]) -> int:
    if name == "warmup_stable_decay" and total is None:
        return W + kwargs["num_stable_steps"] + kwargs["num_decay_steps"]
    return N if total is None else total


def _both(name: str, warmup: int | None, total: int | None, kwargs: dict[str, Any]):
    """(transformers' rates, rampup's rates) for the whole run, as (group lrs, get_last_lr)."""
    out = []
    for get in (transformers.get_scheduler, rt.get_scheduler):
        run = make_run()
        scheduler = get(name, run.optimizer, num_warmup_steps=warmup, num_training_steps=total,
                        scheduler_specific_kwargs=dict(kwargs))
        out.append((run, scheduler))
    return out


def test_every_transformers_name_is_covered() -> None:
    names = {t.value for t in hf.TYPE_TO_SCHEDULER_FUNCTION}
    assert set(rt.TYPE_TO_SCHEDULER_FUNCTION) == names
    covered = {c[0] for c in CASES} | {c[0] for c in METRIC_CASES}
    assert covered == names
    for name in names:
        assert rt.TYPE_TO_SCHEDULER_FUNCTION[name].__name__ == hf.TYPE_TO_SCHEDULER_FUNCTION[
            hf.SchedulerType(name)].__name__


@pytest.mark.parametrize(("name", "warmup", "total", "kwargs", "end"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_get_scheduler_matches_transformers_bit_for_bit(name, warmup, total, kwargs, end) -> None:
    length = _length(name, total, kwargs)
    (hf_run, hf_sched), (rp_run, rp_sched) = _both(name, warmup, total, kwargs)
    assert isinstance(rp_sched, rt.Scheduler)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hf_lrs, hf_last = trajectory(hf_run, hf_sched, length)
        rp_lrs, rp_last = trajectory(rp_run, rp_sched, length)
    # Past the end: rampup warns once that it is holding (only for schedules that end).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hf_more, _ = trajectory(hf_run, hf_sched, EXTRA)
        rp_more, rp_more_last = trajectory(rp_run, rp_sched, EXTRA)
    rampup_warnings = [w for w in caught if issubclass(w.category, rampup.RampupWarning)]
    ends = end != "open" and name not in ("constant", "constant_with_warmup")
    if name == "warmup_stable_decay" and kwargs.get("num_cycles", 0.5) != 0.5:
        ends = None  # see test_report_and_past_end_for_wsd_with_other_num_cycles
    if ends is not None:
        assert len(rampup_warnings) == (1 if ends else 0), [str(w.message) for w in rampup_warnings]
    assert not [w for w in caught if not issubclass(w.category, rampup.RampupWarning)]

    # the optimizer's rates and get_last_lr(), at every step
    last_compared = length - 1 if end == "climbs-early" else length
    if name == "cosine_warmup_with_min_lr" and kwargs.get("warmup_lr_rate") is not None:
        # Documented 1-ulp exception: during warmup transformers computes
        # r + (1 - r) * t / (W - 1) as ((1 - r) * t) / (W - 1), rampup as (1 - r) * (t / (W - 1));
        # the two roundings can differ by one ulp of the multiplier (so ~2 ulp of the rate, well
        # inside rel_tol=1e-15). After warmup they agree bit for bit.
        for k in range(warmup):
            for a, b in zip(hf_lrs[k] + hf_last[k], rp_lrs[k] + rp_last[k], strict=True):
                assert math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0), (k, a, b)
        assert_same(hf_lrs[warmup:last_compared + 1], rp_lrs[warmup:last_compared + 1])
        assert_same(hf_last[warmup:last_compared + 1], rp_last[warmup:last_compared + 1])
    else:
        assert_same(hf_lrs[:last_compared + 1], rp_lrs[:last_compared + 1])
        assert_same(hf_last[:last_compared + 1], rp_last[:last_compared + 1])
    assert_same(rp_lrs, rp_last)

    hf_tail = hf_lrs[length:] + hf_more[1:]
    rp_tail = rp_lrs[length:] + rp_more[1:]
    if end in ("holds", "open"):
        assert_same(hf_tail, rp_tail)
    else:
        final = hf_lrs[last_compared]
        assert_same(rp_tail, [final] * len(rp_tail))  # rampup holds its final value
        if kwargs.get("num_cycles", 0.5) == 0.5:
            assert hf_tail[-1][0] > final[0]  # ... where transformers climbs back up
    assert_same(rp_more, rp_more_last)
    if end in ("holds", "open"):
        # identical rates all the way give identical training
        for p, q in zip(hf_run.model.parameters(), rp_run.model.parameters(), strict=True):
            assert torch.equal(p, q)


def _call_hf_function(function_name: str, optimizer, **kwargs):
    return getattr(hf, function_name)(optimizer, **kwargs)


FUNCTION_CASES: list[tuple[str, dict[str, Any], int]] = [
    ("get_constant_schedule", {}, N),
    ("get_constant_schedule_with_warmup", {"num_warmup_steps": W}, N),
    ("get_linear_schedule_with_warmup", {"num_warmup_steps": W, "num_training_steps": N}, N),
    ("get_cosine_schedule_with_warmup", {"num_warmup_steps": W, "num_training_steps": N}, N),
    ("get_cosine_schedule_with_warmup",
     {"num_warmup_steps": 3, "num_training_steps": 31, "num_cycles": 0.45}, 31),
    ("get_cosine_with_hard_restarts_schedule_with_warmup",
     {"num_warmup_steps": W, "num_training_steps": N, "num_cycles": 2}, N),
    ("get_polynomial_decay_schedule_with_warmup",
     {"num_warmup_steps": W, "num_training_steps": N, "lr_end": 3e-6, "power": 3.0}, N),
    ("get_inverse_sqrt_schedule", {"num_warmup_steps": 6, "timescale": 9}, N),
    ("get_cosine_with_min_lr_schedule_with_warmup",
     {"num_warmup_steps": W, "num_training_steps": N, "min_lr": 2e-5}, N),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     {"num_warmup_steps": W, "num_training_steps": N, "min_lr_rate": 0.02}, N - 1),
    ("get_wsd_schedule", {"num_warmup_steps": W, "num_decay_steps": 9, "num_training_steps": N}, N),
    ("get_wsd_schedule", {"num_warmup_steps": 4, "num_decay_steps": 9, "num_stable_steps": 7,
                          "warmup_type": "cosine", "decay_type": "1-sqrt", "min_lr_ratio": 0.2}, 20),
]


@pytest.mark.parametrize(("function_name", "kwargs", "steps"), FUNCTION_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FUNCTION_CASES)])
def test_get_functions_match_transformers(function_name, kwargs, steps) -> None:
    assert function_name in rt.__all__
    runs = []
    for module in (hf, rt):
        run = make_run()
        scheduler = getattr(module, function_name)(run.optimizer, **kwargs)
        runs.append(trajectory(run, scheduler, steps))
    (hf_lrs, hf_last), (rp_lrs, rp_last) = runs
    assert_same(hf_lrs, rp_lrs)
    assert_same(hf_last, rp_last)


def test_get_functions_cover_every_transformers_function() -> None:
    covered = {c[0] for c in FUNCTION_CASES} | {
        "get_reduce_on_plateau_schedule", "get_greedy_schedule", "get_scheduler"}
    expected = {n for n in dir(hf) if n.startswith("get_") and n.endswith(("_schedule", "scheduler"))
                and callable(getattr(hf, n))} - {"get_adafactor_schedule"}
    assert expected <= covered, expected - covered
    assert expected <= set(rt.__all__)


@pytest.mark.parametrize(("function_name", "kwargs"), [
    ("get_linear_schedule_with_warmup", {"num_warmup_steps": 5, "num_training_steps": 30}),
    ("get_cosine_schedule_with_warmup", {"num_warmup_steps": 5, "num_training_steps": 30}),
    ("get_constant_schedule_with_warmup", {"num_warmup_steps": 5}),
    ("get_wsd_schedule", {"num_warmup_steps": 5, "num_decay_steps": 7, "num_training_steps": 30}),
])
def test_last_epoch_resume_matches_transformers(function_name, kwargs) -> None:
    """transformers' own resume path: groups carry initial_lr, last_epoch=k continues at k + 1."""
    resume_at = 11
    runs = []
    for module in (hf, rt):
        run = make_run()
        for group in run.optimizer.param_groups:
            group["initial_lr"] = group["lr"]
            group["lr"] = 123.0  # stale: must be overwritten from initial_lr
        scheduler = getattr(module, function_name)(run.optimizer, last_epoch=resume_at, **kwargs)
        runs.append(trajectory(run, scheduler, 10))
    assert_same(runs[0][0], runs[1][0])
    assert_same(runs[0][1], runs[1][1])


def test_last_epoch_without_initial_lr_raises_keyerror_like_torch() -> None:
    for module in (hf, rt):
        run = make_run()
        with pytest.raises(KeyError):
            module.get_linear_schedule_with_warmup(run.optimizer, 2, 10, last_epoch=3)


def test_scheduler_type_enum_is_accepted() -> None:
    runs = []
    for module in (transformers, rt):
        run = make_run()
        scheduler = module.get_scheduler(hf.SchedulerType.COSINE, run.optimizer, 4, 20)
        runs.append(trajectory(run, scheduler, 20)[0])
    assert_same(runs[0], runs[1])


@pytest.mark.parametrize(("name", "kwargs"), METRIC_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_CASES)])
def test_metric_driven_schedulers_match_transformers(name, kwargs) -> None:
    steps = 120
    metrics = plateau_metrics(steps)
    results = []
    for get in (transformers.get_scheduler, rt.get_scheduler):
        run = make_run()
        scheduler = get(name, run.optimizer, num_warmup_steps=W, num_training_steps=N,
                        scheduler_specific_kwargs=dict(kwargs))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            results.append(trajectory(run, scheduler, steps, metrics=metrics))
    (hf_lrs, hf_last), (rp_lrs, rp_last) = results
    assert_same(hf_lrs, rp_lrs)
    assert_same(hf_last, rp_last)
    # the metric really moved the rate (the comparison is not of two constants)
    assert len({tuple(r) for r in hf_lrs}) > 2


def test_greedy_increases_and_decreases_like_transformers() -> None:
    """A metric that improves for long then stalls: the rate goes up, then down, in both."""
    metrics = [1.0 / (k + 1) for k in range(20)] + [0.05] * 30
    kwargs = {"patience": 2, "factor": 0.5, "min_lr": 1e-6, "max_lr": 1e-2}
    results = []
    for module in (hf, rt):
        run = make_run()
        scheduler = module.get_greedy_schedule(run.optimizer, **kwargs)
        results.append(trajectory(run, scheduler, len(metrics), metrics=metrics))
    assert_same(results[0][0], results[1][0])
    assert_same(results[0][1], results[1][1])
    first = results[0][0][0][0]
    assert max(r[0] for r in results[0][0]) > first > results[0][0][-1][0]


def test_greedy_state_dict_resume_is_exact() -> None:
    metrics = plateau_metrics(80)
    kwargs = {"patience": 2, "factor": 0.6, "min_lr": 1e-6, "smooth": True, "window_size": 5}
    run = make_run()
    full, _ = trajectory(run, rt.get_greedy_schedule(run.optimizer, **kwargs), 80, metrics=metrics)

    first = make_run()
    scheduler = rt.get_greedy_schedule(first.optimizer, **kwargs)
    trajectory(first, scheduler, 30, metrics=metrics)
    state = torch.load(_save(scheduler.state_dict()), weights_only=True)
    second = make_run()
    second.model.load_state_dict(first.model.state_dict())
    second.optimizer.load_state_dict(first.optimizer.state_dict())
    resumed = rt.get_greedy_schedule(second.optimizer, **kwargs)
    resumed.load_state_dict(state)
    rest, _ = trajectory(second, resumed, 50, metrics=metrics[30:])
    assert_same(full[30:], rest)


def _save(obj: Any):
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


# --- errors: the same exception types as transformers --------------------------------------

@pytest.mark.parametrize("name", ["linear", "cosine", "cosine_with_restarts", "polynomial",
                                  "constant_with_warmup", "inverse_sqrt", "warmup_stable_decay"])
def test_missing_num_warmup_steps_is_a_value_error_in_both(name) -> None:
    kwargs = {"num_decay_steps": 5} if name == "warmup_stable_decay" else {}
    for get in (transformers.get_scheduler, rt.get_scheduler):
        with pytest.raises(ValueError, match="num_warmup_steps"):
            get(name, make_run().optimizer, num_training_steps=N, scheduler_specific_kwargs=kwargs)


@pytest.mark.parametrize("name", ["linear", "cosine", "cosine_with_restarts", "polynomial"])
def test_missing_num_training_steps_is_a_value_error_in_both(name) -> None:
    for get in (transformers.get_scheduler, rt.get_scheduler):
        with pytest.raises(ValueError, match="num_training_steps"):
            get(name, make_run().optimizer, num_warmup_steps=W)


@pytest.mark.parametrize("name", ["cosine_with_min_lr", "cosine_warmup_with_min_lr"])
def test_min_lr_arguments_errors_match_transformers(name) -> None:
    for get in (transformers.get_scheduler, rt.get_scheduler):
        with pytest.raises(ValueError, match=r"(?i)num_training_steps"):
            get(name, make_run().optimizer, num_warmup_steps=W,
                scheduler_specific_kwargs={"min_lr_rate": 0.1})
        with pytest.raises(ValueError, match="Only one of min_lr"):
            get(name, make_run().optimizer, num_warmup_steps=W, num_training_steps=N,
                scheduler_specific_kwargs={"min_lr": 1e-5, "min_lr_rate": 0.1})
        with pytest.raises(ValueError, match="One of min_lr"):
            get(name, make_run().optimizer, num_warmup_steps=W, num_training_steps=N)


def test_wsd_errors_and_warnings_match_transformers() -> None:
    for module in (hf, rt):
        with pytest.raises(ValueError, match="num_training_steps or num_stable_steps"):
            module.get_wsd_schedule(make_run().optimizer, num_warmup_steps=2, num_decay_steps=3)
        with pytest.raises(ValueError):
            module.get_wsd_schedule(make_run().optimizer, 2, 3, num_training_steps=20, warmup_type="exp")
        with pytest.raises(ValueError):
            module.get_wsd_schedule(make_run().optimizer, 2, 3, num_training_steps=20, decay_type="step")
        with pytest.warns(UserWarning, match="num_stable_steps will be used"):
            module.get_wsd_schedule(make_run().optimizer, 2, 3, num_training_steps=20, num_stable_steps=4)


def test_polynomial_lr_end_not_below_lr_is_a_value_error_in_both() -> None:
    for module in (hf, rt):
        with pytest.raises(ValueError, match="lr_end"):
            module.get_polynomial_decay_schedule_with_warmup(make_run().optimizer, 2, 10, lr_end=1e-3)


def test_unknown_name_is_a_value_error_in_both() -> None:
    for get in (transformers.get_scheduler, rt.get_scheduler):
        with pytest.raises(ValueError):
            get("cosine_with_restart", make_run().optimizer, 2, 10)


def test_greedy_argument_errors_match_transformers() -> None:
    for module in (hf, rt):
        with pytest.raises(ValueError, match="Factor"):
            module.get_greedy_schedule(make_run().optimizer, factor=1.0)
        with pytest.raises(ValueError, match="min_lrs"):
            module.get_greedy_schedule(make_run().optimizer, min_lr=[1e-5])
        with pytest.raises(ValueError, match="unknown"):
            module.get_greedy_schedule(make_run().optimizer, mode="up")
        with pytest.raises(TypeError):
            module.get_greedy_schedule(object())


def test_reduce_on_plateau_is_torch_reduce_on_plateau() -> None:
    scheduler = rt.get_scheduler("reduce_lr_on_plateau", make_run().optimizer)
    assert type(scheduler) is torch.optim.lr_scheduler.ReduceLROnPlateau


def test_get_scheduler_passes_options_as_transformers_does() -> None:
    # constant_with_warmup gets no scheduler_specific_kwargs from transformers' get_scheduler, and
    # the peak for polynomial's lr_end is the optimizer's rate, not an option.
    runs = []
    for get in (transformers.get_scheduler, rt.get_scheduler):
        run = make_run()
        scheduler = get("constant_with_warmup", run.optimizer, num_warmup_steps=W,
                        scheduler_specific_kwargs={"num_cycles": 3})
        runs.append(trajectory(run, scheduler, 2 * W))
        with pytest.raises(TypeError):
            get("polynomial", make_run().optimizer, W, N, scheduler_specific_kwargs={"peak_lr": 1.0})
    assert_same(runs[0][0], runs[1][0])
