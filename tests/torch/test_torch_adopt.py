"""Load policies set when the scheduler is built, and adopting another torch scheduler's state.

transformers' Trainer calls ``scheduler.load_state_dict(torch.load("scheduler.pt"))`` itself, so
the policy must come from the constructor. The oracles are transformers' own schedulers (run
uninterrupted) and transformers' formulas.
"""

from __future__ import annotations

import io
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
import transformers.optimization as hf
from torch_adapter_helpers import LRS, assert_same, make_run, trajectory

import rampup
from rampup.errors import RampupError
from rampup.torch import Scheduler

hf_linear = hf._get_linear_schedule_with_warmup_lr_lambda


def _linear(total: int) -> rampup.Schedule:
    return rampup.schedule("linear", warmup_steps=4, total_steps=total)


def _roundtrip(state: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _state_after(steps: int, total: int = 40) -> dict[str, Any]:
    run = make_run()
    scheduler = Scheduler(run.optimizer, _linear(total))
    trajectory(run, scheduler, steps)
    return scheduler.state_dict()


# --- policies given to the constructor ---------------------------------------------------------

def test_on_config_change_from_the_constructor_is_the_default_of_load_state_dict() -> None:
    state = _state_after(20)
    other = make_run()
    longer = Scheduler(other.optimizer, _linear(100), on_config_change="keep_fraction")
    longer.load_state_dict(state)  # no argument: as a framework calls it
    assert longer.last_epoch == 50  # 20 / 40 of 100
    assert other.lrs() == [b * hf_linear(50, num_warmup_steps=4, num_training_steps=100) for b in LRS]
    # an explicit argument still wins
    again = Scheduler(make_run().optimizer, _linear(100), on_config_change="keep_fraction")
    again.load_state_dict(state, on_config_change="keep_step")
    assert again.last_epoch == 20
    strict = Scheduler(make_run().optimizer, _linear(100))
    with pytest.raises(RampupError, match="keep_step"):
        strict.load_state_dict(state)


def test_keep_base_lrs_from_the_constructor() -> None:
    state = _state_after(10)
    new_peaks = (4e-3, 1e-4)
    run = make_run(new_peaks)
    scheduler = Scheduler(run.optimizer, _linear(40), keep_base_lrs=True)
    scheduler.load_state_dict(state)
    assert run.lrs() == [b * hf_linear(10, num_warmup_steps=4, num_training_steps=40) for b in new_peaks]
    scheduler.load_state_dict(state, keep_base_lrs=False)
    assert run.lrs() == [b * hf_linear(10, num_warmup_steps=4, num_training_steps=40) for b in LRS]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"on_config_change": "keep"}, ValueError, "on_config_change must be one of.*Did you mean 'keep_step'"),
    ({"on_config_change": None}, ValueError, "on_config_change"),
    ({"keep_base_lrs": "yes"}, TypeError, "keep_base_lrs must be True or False"),
    ({"adopt_foreign": 1}, TypeError, "adopt_foreign must be True or False"),
])
def test_bad_policies_are_refused_when_built_and_when_loading(kwargs, error, match) -> None:
    run = make_run()
    before = [dict(g) for g in run.optimizer.param_groups]
    with pytest.raises(error, match=match) as caught:
        Scheduler(run.optimizer, _linear(40), **kwargs)
    assert isinstance(caught.value, RampupError)
    assert [dict(g) for g in run.optimizer.param_groups] == before
    scheduler = Scheduler(run.optimizer, _linear(40))
    if kwargs.get("on_config_change", "") is None:
        return  # None means "the constructor's choice" in load_state_dict
    with pytest.raises(error, match=match):
        scheduler.load_state_dict(_state_after(3), **kwargs)


# --- adopting a foreign state ----------------------------------------------------------------

def _hf_run(steps: int) -> tuple[Any, Any, list[list[float]]]:
    run = make_run()
    scheduler = hf.get_linear_schedule_with_warmup(run.optimizer, 4, 40)
    lrs, _ = trajectory(run, scheduler, steps)
    return run, scheduler, lrs


def test_a_transformers_lambdalr_state_is_refused_naming_the_option() -> None:
    _, lambdalr, _ = _hf_run(12)
    run = make_run()
    scheduler = Scheduler(run.optimizer, _linear(40))
    before, groups = scheduler.state_dict(), run.lrs()
    with pytest.raises(RampupError, match=r"format.*last_epoch=12.*adopt_foreign=True"):
        scheduler.load_state_dict(_roundtrip(lambdalr.state_dict()))
    assert scheduler.state_dict() == before and run.lrs() == groups


@pytest.mark.parametrize("where", ["constructor", "argument"])
def test_adopting_a_transformers_lambdalr_continues_its_run(where: str) -> None:
    """A job switched from transformers' LambdaLR to rampup mid-run gets transformers' numbers."""
    reference, _, ref_lrs = _hf_run(40)
    first, lambdalr, _ = _hf_run(12)
    checkpoint = _roundtrip({"optimizer": first.optimizer.state_dict(), "scheduler": lambdalr.state_dict(),
                             "model": first.model.state_dict()})
    second = make_run(seed=1)
    second.model.load_state_dict(checkpoint["model"])
    second.optimizer.load_state_dict(checkpoint["optimizer"])
    if where == "constructor":
        scheduler = Scheduler(second.optimizer, _linear(40), adopt_foreign=True)
        load = partial(scheduler.load_state_dict, checkpoint["scheduler"])
    else:
        scheduler = Scheduler(second.optimizer, _linear(40))
        load = partial(scheduler.load_state_dict, checkpoint["scheduler"], adopt_foreign=True)
    with pytest.warns(rampup.RampupWarning, match=r"adopted step 12 .*could not be compared"):
        load()
    assert scheduler.last_epoch == 12 and scheduler.skipped_steps == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrs, _ = trajectory(second, scheduler, 28)
    assert_same(lrs, ref_lrs[12:])
    for p, q in zip(reference.model.parameters(), second.model.parameters(), strict=True):
        assert torch.equal(p, q)
    # from now on it writes rampup states
    assert scheduler.state_dict()["format"] == "rampup.Scheduler/1"


def test_adopting_takes_the_saved_peaks_unless_keep_base_lrs() -> None:
    run = make_run((5e-3, 5e-4))
    torch_state = torch.optim.lr_scheduler.StepLR(run.optimizer, 3).state_dict()
    torch_state["last_epoch"] = 7
    for keep, peaks in ((False, (5e-3, 5e-4)), (True, LRS)):
        other = make_run()
        scheduler = Scheduler(other.optimizer, _linear(40), adopt_foreign=True, keep_base_lrs=keep)
        with pytest.warns(rampup.RampupWarning):
            scheduler.load_state_dict(torch_state)
        assert other.lrs() == [b * hf_linear(7, num_warmup_steps=4, num_training_steps=40) for b in peaks]
        assert scheduler.base_lrs == list(peaks)


@pytest.mark.parametrize(("change", "match"), [
    ({"last_epoch": -1}, r"last_epoch'\] must be an integer in \[0"),
    ({"last_epoch": "3"}, r"last_epoch'\] must be an integer"),
    ({"base_lrs": [1e-3]}, "parameter groups"),
    ({"base_lrs": [1e-3, "x"]}, r"base_lrs'\]\[1\]"),
    ({"_step_count": 0}, "_step_count"),
])
def test_a_bad_foreign_state_is_refused_even_when_adopting(change: dict[str, Any], match: str) -> None:
    _, lambdalr, _ = _hf_run(5)
    run = make_run()
    scheduler = Scheduler(run.optimizer, _linear(40), adopt_foreign=True)
    before, groups = scheduler.state_dict(), run.lrs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no adoption warning for a refused state
        with pytest.raises(RampupError, match=match):
            scheduler.load_state_dict({**lambdalr.state_dict(), **change})
    assert scheduler.state_dict() == before and run.lrs() == groups


def test_other_rampup_formats_are_not_adopted() -> None:
    run = make_run()
    wrapper = rampup.torch.warmup_wrapper(torch.optim.lr_scheduler.StepLR(run.optimizer, 3), 2)
    wrapper_state = wrapper.state_dict()
    scheduler = Scheduler(make_run().optimizer, _linear(40), adopt_foreign=True)
    with pytest.raises(RampupError, match=r"not a rampup Scheduler state.*WarmupWrapper"):
        scheduler.load_state_dict(wrapper_state)


# --- transformers' Trainer ------------------------------------------------------------------

PEAK, UPDATES = 1e-3, 8


def _trainer(out: Path, scheduler_of: Any = None, resume: str | None = None, **overrides: Any) -> Any:
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = transformers.BertForSequenceClassification(config)
    ids = torch.randint(0, 50, (16, 8), generator=torch.Generator().manual_seed(1))
    data = [{"input_ids": ids[i], "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(16)]
    optimizers: Any = (None, None)
    if scheduler_of is not None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK, weight_decay=0.0)
        optimizers = (optimizer, scheduler_of(optimizer))
    args = transformers.TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=4, num_train_epochs=2, report_to=[],
        use_cpu=True, disable_tqdm=True, seed=0, learning_rate=PEAK, weight_decay=0.0, logging_steps=1,
        dataloader_pin_memory=False, **overrides)
    rates: list[float] = []

    class Rates(transformers.TrainerCallback):  # type: ignore[misc]
        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            rates.append(float(kwargs["optimizer"].param_groups[0]["lr"]))

    trainer = transformers.Trainer(model, args, train_dataset=data, optimizers=optimizers,
                                   callbacks=[Rates()])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        torch.set_num_threads(threads)
    return trainer, rates


def test_trainer_resumes_a_transformers_scheduler_checkpoint_with_rampup(tmp_path: Path) -> None:
    full, full_rates = _trainer(tmp_path / "full", partial(hf.get_linear_schedule_with_warmup,
                                                           num_warmup_steps=2, num_training_steps=UPDATES),
                                save_strategy="steps", save_steps=3)
    assert isinstance(full.lr_scheduler, torch.optim.lr_scheduler.LambdaLR)
    checkpoint = tmp_path / "full" / "checkpoint-3"
    schedule = rampup.schedule("linear", warmup_steps=2, total_steps=UPDATES)
    # (Trainer records the warnings raised while it loads scheduler.pt and re-issues them only when
    # there are several, so the adoption warning does not reach the user here.)
    resumed, rates = _trainer(tmp_path / "resumed", lambda opt: Scheduler(opt, schedule, adopt_foreign=True),
                              resume=str(checkpoint), save_strategy="no")
    assert isinstance(resumed.lr_scheduler, Scheduler) and resumed.lr_scheduler.last_epoch == UPDATES
    assert rates == pytest.approx(full_rates[3:], rel=1e-12, abs=1e-18)


def test_trainer_resumes_with_a_changed_plan_when_the_policy_is_set_at_construction(tmp_path: Path) -> None:
    old = rampup.schedule("cosine_with_min_lr", warmup_steps=2, total_steps=UPDATES, min_lr_rate=0.1)
    new = rampup.schedule("cosine_with_min_lr", warmup_steps=2, total_steps=UPDATES, min_lr_rate=0.3)
    _trainer(tmp_path / "full", lambda opt: Scheduler(opt, old), save_strategy="steps", save_steps=3)
    checkpoint = str(tmp_path / "full" / "checkpoint-3")
    with pytest.raises(RampupError, match=r"min_lr_ratio: saved 0\.1, now 0\.3.*keep_step"):
        _trainer(tmp_path / "strict", lambda opt: Scheduler(opt, new), resume=checkpoint, save_strategy="no")
    resumed, rates = _trainer(tmp_path / "resumed",
                              lambda opt: Scheduler(opt, new, on_config_change="keep_step"),
                              resume=checkpoint, save_strategy="no")
    assert resumed.lr_scheduler.last_epoch == UPDATES
    f = partial(hf._get_cosine_schedule_with_warmup_lr_lambda, num_warmup_steps=2, num_training_steps=UPDATES,
                num_cycles=0.5, min_lr_rate=0.3)
    assert rates == pytest.approx([PEAK * f(k) for k in range(3, UPDATES)], rel=1e-12)
