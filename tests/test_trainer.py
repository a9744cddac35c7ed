"""rampup's scheduler inside transformers' Trainer: applied and logged rates, named types, resume.

A tiny BERT built from a config (no download) trains on an in-memory list of dicts, on the CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the Trainer tests need PyTorch")
transformers = pytest.importorskip("transformers", reason="the Trainer tests need transformers")
pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate (pip install accelerate)")

import rampup  # noqa: E402
from rampup.torch import Scheduler, get_scheduler  # noqa: E402

PEAK = 1e-3
SAMPLES, BATCH, ACCUMULATE, EPOCHS = 32, 4, 2, 2
UPDATES = SAMPLES // BATCH // ACCUMULATE * EPOCHS  # 8


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    # tiny matrices: one intra-op thread is faster, and far faster on a busy shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config)


def _data() -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (SAMPLES, 8), generator=generator)
    return [{"input_ids": ids[i], "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(SAMPLES)]


class _Rates(transformers.TrainerCallback):  # type: ignore[misc]
    """The rate each optimizer update ran at (read after optimizer.step, before the scheduler's)."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.rates.append(float(kwargs["optimizer"].param_groups[0]["lr"]))


def _args(out: Path, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "output_dir": str(out), "per_device_train_batch_size": BATCH,
        "gradient_accumulation_steps": ACCUMULATE, "num_train_epochs": EPOCHS, "logging_steps": 1,
        "report_to": [], "use_cpu": True,
        "save_strategy": "no", "disable_tqdm": True, "seed": 0, "learning_rate": PEAK, "weight_decay": 0.0,
        "dataloader_pin_memory": False,
    }
    options.update(overrides)
    return transformers.TrainingArguments(**options)


def _train(
    out: Path, scheduler_of: Any = None, resume: str | None = None, **overrides: Any
) -> tuple[Any, _Rates]:
    model = _model()
    optimizers: Any = (None, None)
    if scheduler_of is not None:
        optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK, weight_decay=0.0)
        optimizers = (optimizer, scheduler_of(optimizer))
    rates = _Rates()
    trainer = transformers.Trainer(model, _args(out, **overrides), train_dataset=_data(),
                                   optimizers=optimizers, callbacks=[rates])
    trainer.train(resume_from_checkpoint=resume)
    return trainer, rates


def _logged(trainer: Any) -> list[float]:
    return [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]


def _schedule() -> rampup.Schedule:
    return rampup.schedule("warmup_cosine", warmup_steps=3, total_steps=UPDATES, min_lr_ratio=0.1)


def test_trainer_applies_and_logs_the_rampup_rates(tmp_path: Path) -> None:
    schedule = _schedule()
    trainer, rates = _train(tmp_path, lambda opt: Scheduler(opt, schedule))
    expected = [PEAK * schedule(k) for k in range(UPDATES)]
    assert trainer.state.global_step == trainer.state.max_steps == UPDATES
    # the README's recipe for sizing a schedule for Trainer gives Trainer's own count
    count = rampup.training_steps(epochs=EPOCHS, batches_per_epoch=len(trainer.get_train_dataloader()),
                                  grad_accum=ACCUMULATE)
    assert count.total == UPDATES
    assert rates.rates == expected  # one scheduler step per update, after accumulation
    assert _logged(trainer) == expected  # Trainer logs the rate each update used
    assert trainer.lr_scheduler.last_epoch == UPDATES
    assert trainer.lr_scheduler.get_last_lr() == [PEAK * 0.1]  # ended exactly at the floor
    assert trainer.lr_scheduler.skipped_steps == 0


@pytest.mark.parametrize(("name", "kwargs"), [
    ("linear", {}),
    ("cosine", {}),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    ("warmup_stable_decay", {"num_decay_steps": 3, "min_lr_ratio": 0.05}),
])
def test_lr_scheduler_type_names_give_the_numbers_of_rampup_get_scheduler(
    tmp_path: Path, name: str, kwargs: dict[str, Any]
) -> None:
    trainer, rates = _train(tmp_path, lr_scheduler_type=name, warmup_steps=2, lr_scheduler_kwargs=kwargs)
    assert not isinstance(trainer.lr_scheduler, Scheduler)  # Trainer built transformers' own
    probe = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    ours = get_scheduler(name, probe, num_warmup_steps=2, num_training_steps=UPDATES,
                         scheduler_specific_kwargs=kwargs)
    trace = []
    for _ in range(UPDATES):
        trace.append(probe.param_groups[0]["lr"])
        probe.step()
        ours.step()
    assert rates.rates == pytest.approx(trace, rel=1e-12, abs=1e-18)
    assert _logged(trainer) == pytest.approx(trace, rel=1e-12, abs=1e-18)


def test_resume_from_checkpoint_continues_the_rampup_schedule_exactly(tmp_path: Path) -> None:
    schedule = _schedule()
    full, full_rates = _train(tmp_path / "full", lambda opt: Scheduler(opt, schedule),
                              save_strategy="steps", save_steps=3)
    checkpoint = tmp_path / "full" / "checkpoint-3"
    assert (checkpoint / "scheduler.pt").is_file()
    # a new Trainer, a new model and a fresh scheduler (at step 0) pick up at update 3
    resumed, resumed_rates = _train(tmp_path / "resumed", lambda opt: Scheduler(opt, schedule),
                                    resume=str(checkpoint))
    assert resumed.lr_scheduler.last_epoch == full.lr_scheduler.last_epoch == UPDATES
    assert resumed_rates.rates == full_rates.rates[3:]
    # the log history comes back from the checkpoint, and the new entries continue it
    assert _logged(resumed) == _logged(full)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)
