"""rampup.hf.from_transformers: transformers' arguments in, transformers' numbers and errors out.

The oracle is transformers' ``get_scheduler`` on a real optimizer (``oracles.hf_lrs``); the
numbers are compared over the run up to the step before the end (where every name agrees; what
happens at and after the end is covered name by name in ``test_names_transformers.py``).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from rampup import RampupWarning, ScheduleTypeError, ScheduleValueError
from rampup.hf import METRIC_DRIVEN, TRANSLATIONS, from_transformers

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from oracles import hf_lrs  # noqa: E402 - after the skips

W, T, LR = 6, 30, 3e-4

# (name, transformers' scheduler_specific_kwargs); peak_lr is added where an absolute rate needs it.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("linear", {}),
    ("cosine", {"num_cycles": 0.7}),
    ("cosine_with_restarts", {"num_cycles": 3}),
    ("polynomial", {"power": 2.0, "lr_end": 1e-5}),
    ("polynomial", {}),
    ("constant", {}),
    ("constant_with_warmup", {}),
    ("inverse_sqrt", {"timescale": 11}),
    ("cosine_with_min_lr", {"min_lr": 2e-5}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.2}),
    ("warmup_stable_decay", {"num_decay_steps": 9, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}),
    ("warmup_stable_decay", {"num_decay_steps": 9, "num_stable_steps": 4, "warmup_type": "cosine"}),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_the_numbers_are_transformers(name: str, kwargs: dict[str, Any]) -> None:
    total = None if "num_stable_steps" in kwargs else T
    absolute = {"peak_lr": LR} if name in ("polynomial", "cosine_with_min_lr") else {}
    schedule = from_transformers(name, num_warmup_steps=W, num_training_steps=total,
                                 **kwargs, **absolute)
    reference = hf_lrs(name, T - 1, lr=LR, warmup=W, total=total, **kwargs)
    assert [LR * schedule(t) for t in range(T - 1)] == reference


def test_every_transformers_schedule_name_is_translated() -> None:
    names = [str(member.value) for member in transformers.SchedulerType]
    assert sorted(TRANSLATIONS) == sorted(set(names) - set(METRIC_DRIVEN))


def _transformers_error(name: str, **arguments: Any) -> str:
    """The message transformers' get_scheduler raises (a ValueError) for these arguments."""
    import torch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    with pytest.raises(ValueError) as info:
        transformers.get_scheduler(name, optimizer, **arguments)
    return str(info.value)


@pytest.mark.parametrize(("name", "arguments", "options"), [
    ("linear", {"num_training_steps": T}, {}),
    ("cosine", {"num_warmup_steps": W}, {}),
    ("cosine_with_min_lr", {"num_warmup_steps": W, "num_training_steps": T},
     {"min_lr": 1e-5, "min_lr_rate": 0.1}),
    ("cosine_with_min_lr", {"num_warmup_steps": W, "num_training_steps": T}, {}),
    ("warmup_stable_decay", {"num_warmup_steps": W}, {"num_decay_steps": 3}),
])
def test_errors_carry_transformers_messages(name: str, arguments: dict[str, Any],
                                            options: dict[str, Any]) -> None:
    expected = _transformers_error(name, **arguments, scheduler_specific_kwargs=options)
    with pytest.raises(ScheduleValueError) as info:
        from_transformers(name, **arguments, **options)
    assert str(info.value) == expected.replace(f"SchedulerType.{name.upper()}", name)


def test_lr_end_at_or_above_the_peak_is_refused_naming_both() -> None:
    with pytest.raises(ScheduleValueError, match=r"lr_end \(0.001\) must be smaller than initial lr"):
        from_transformers("polynomial", num_warmup_steps=W, num_training_steps=T, lr_end=1e-3,
                          peak_lr=1e-3)
    with pytest.raises(ScheduleValueError, match="peak_lr"):
        from_transformers("polynomial", num_warmup_steps=W, num_training_steps=T, lr_end=1e-5)


def test_what_transformers_ignores_is_ignored_and_the_rest_is_checked() -> None:
    # get_scheduler ignores the warmup for "constant" and the length for the open-ended names.
    assert from_transformers("constant", num_warmup_steps=5, num_training_steps=3)(0) == 1.0
    assert from_transformers("constant_with_warmup", num_warmup_steps=5, num_training_steps=3)(5) == 1.0
    with pytest.raises(ScheduleTypeError, match="num_cycle"):
        from_transformers("cosine", num_warmup_steps=W, num_training_steps=T, num_cycle=2)
    with pytest.raises(ScheduleValueError, match="num_warmup_steps"):
        from_transformers("linear", num_warmup_steps=T + 1, num_training_steps=T)
    with pytest.raises(ScheduleValueError, match="SchedulerType"):
        from_transformers("cosine_with_restart", num_warmup_steps=W, num_training_steps=T)
    for name in METRIC_DRIVEN:
        with pytest.raises(ScheduleValueError, match="metric"):
            from_transformers(name, num_warmup_steps=W, num_training_steps=T)


def test_both_lengths_of_wsd_warn_as_transformers_does_and_use_the_stable_steps() -> None:
    with pytest.warns(RampupWarning, match="num_stable_steps will be used"):
        both = from_transformers("warmup_stable_decay", num_warmup_steps=2, num_training_steps=100,
                                 num_decay_steps=3, num_stable_steps=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stable = from_transformers("warmup_stable_decay", num_warmup_steps=2, num_decay_steps=3,
                                   num_stable_steps=4)
    assert both == stable
