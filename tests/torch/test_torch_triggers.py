"""Cooldown triggers: at an update, on a file, on a POSIX signal; Lightning and Trainer callbacks.

The expected rates are the 1-sqrt cooldown formula written here, starting from the rate in force
at the update where the trigger fires.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import rampup
from rampup.errors import ScheduleValueError
from rampup.torch import Scheduler
from rampup.torch.triggers import CooldownTrigger, lightning_callback, trainer_callback

PEAK = 0.01
pytestmark = pytest.mark.filterwarnings("ignore:scheduler.step.. went past the end")


def _scheduler() -> Scheduler:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK)
    return Scheduler(optimizer, rampup.schedule("warmup_constant", warmup_steps=4))


def _loop(scheduler: Scheduler, trigger: CooldownTrigger, updates: int,
          before_check: Any = None) -> list[float]:
    rates = []
    for k in range(updates):
        rates.append(scheduler.optimizer.param_groups[0]["lr"])  # the rate update k uses
        scheduler.optimizer.step()
        scheduler.step()
        if before_check is not None:
            before_check(k)
        trigger.check(scheduler)
    return rates


def _expected(start: int, length: int, updates: int) -> list[float]:
    """warmup_constant(4) until update ``start``, then a 1-sqrt cooldown of ``length`` to 0."""
    out = []
    for k in range(updates):
        if k < start:
            out.append(PEAK * min(1.0, (k + 1) / 4))
        else:
            out.append(PEAK * (1 - math.sqrt(min(k - start, length) / length)))
    return out


def test_at_update() -> None:
    scheduler = _scheduler()
    trigger = CooldownTrigger(10, at_update=12)
    rates = _loop(scheduler, trigger, 30)
    assert trigger.started_at == 12
    assert rates == pytest.approx(_expected(12, 10, 30), rel=1e-12, abs=1e-18)


def test_file_appears(tmp_path: Path) -> None:
    flag = tmp_path / "COOLDOWN"
    scheduler = _scheduler()
    trigger = CooldownTrigger(8, file=flag)
    rates = _loop(scheduler, trigger, 25, lambda k: flag.touch() if k == 9 else None)
    assert trigger.started_at == 10
    assert rates == pytest.approx(_expected(10, 8, 25), rel=1e-12, abs=1e-18)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_posix_signal() -> None:
    scheduler = _scheduler()
    trigger = CooldownTrigger(6, signal=signal.SIGUSR1)
    trigger.install()
    try:
        rates = _loop(scheduler, trigger, 20,
                      lambda k: os.kill(os.getpid(), signal.SIGUSR1) if k == 4 else None)
    finally:
        trigger.uninstall()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert trigger.started_at == 5
    assert rates == pytest.approx(_expected(5, 6, 20), rel=1e-12, abs=1e-18)


def test_resumed_run_does_not_start_a_second_cooldown(tmp_path: Path) -> None:
    flag = tmp_path / "COOLDOWN"
    flag.touch()
    first = _scheduler()
    _loop(first, CooldownTrigger(20, file=flag), 5)
    state = first.state_dict()
    resumed = _scheduler()
    resumed.load_state_dict(state)
    trigger = CooldownTrigger(20, file=flag)  # the file is still there
    _loop(resumed, trigger, 5)
    assert trigger.started_at is None and len(resumed.changes) == 1


def test_trigger_checks_every_n_updates(tmp_path: Path) -> None:
    flag = tmp_path / "COOLDOWN"
    scheduler = _scheduler()
    trigger = CooldownTrigger(8, file=flag, every=5)
    _loop(scheduler, trigger, 25, lambda k: flag.touch() if k == 6 else None)
    assert trigger.started_at == 10


def test_bad_trigger_arguments() -> None:
    with pytest.raises(ScheduleValueError, match="at_update, file, signal"):
        CooldownTrigger(10)
    with pytest.raises(ScheduleValueError, match="signal"):
        CooldownTrigger(10, signal=12345)
    with pytest.raises(ScheduleValueError, match="every"):
        CooldownTrigger(10, at_update=3, every=0)
    scheduler = _scheduler()
    with pytest.raises(ScheduleValueError, match="steps"):
        _loop(scheduler, CooldownTrigger(0, at_update=2), 3)


# -- Lightning ------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lightning_callback_starts_the_cooldown_at_the_update(tmp_path: Path) -> None:
    L = pytest.importorskip("lightning")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    flag = tmp_path / "COOLDOWN"

    class Tiny(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(3, 1)
            self.rates: list[float] = []

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.trainer.global_step == 7:
                flag.touch()  # someone asks for the cooldown during update 7
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
            self.rates.append(float(self.trainer.optimizers[0].param_groups[0]["lr"]))
            super().optimizer_step(*args, **kwargs)

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=PEAK)
            scheduler = Scheduler(optimizer, rampup.schedule("warmup_constant", warmup_steps=4))
            return {"optimizer": optimizer,
                    "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    data = torch.utils.data.TensorDataset(torch.randn(40, 3), torch.randn(40, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=2)  # 20 batches, accumulate 2: 10 updates
    module = Tiny()
    trainer = L.Trainer(max_epochs=2, accumulate_grad_batches=2, enable_checkpointing=False,
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", devices=1,
                        callbacks=[lightning_callback(CooldownTrigger(6, file=flag))])
    trainer.fit(module, loader)
    # touched during update 7; checked before update 8 starts: the cooldown starts at 8
    assert module.rates == pytest.approx(_expected(8, 6, 20), rel=1e-12, abs=1e-18)


# -- transformers' Trainer ------------------------------------------------------------------------
def test_trainer_callback_starts_the_cooldown_at_the_update(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32,
                                         max_position_embeddings=16)
        model = transformers.BertForSequenceClassification(config)
        ids = torch.randint(0, 50, (48, 8), generator=torch.Generator().manual_seed(1))
        data = [{"input_ids": ids[i], "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(48)]
        optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK, weight_decay=0.0)
        scheduler = Scheduler(optimizer, rampup.schedule("warmup_constant", warmup_steps=4))

        class Rates(transformers.TrainerCallback):  # type: ignore[misc]
            def __init__(self) -> None:
                self.rates: list[float] = []

            def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                self.rates.append(float(kw["optimizer"].param_groups[0]["lr"]))

        args = transformers.TrainingArguments(
            output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=1,
            report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0,
            learning_rate=PEAK, dataloader_pin_memory=False)
        rates = Rates()
        trainer = transformers.Trainer(
            model, args, train_dataset=data, optimizers=(optimizer, scheduler),
            callbacks=[rates, trainer_callback(CooldownTrigger(5, at_update=6))])
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    assert rates.rates == pytest.approx(_expected(6, 5, 12), rel=1e-12, abs=1e-18)
