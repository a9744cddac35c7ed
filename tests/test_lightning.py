"""rampup.lightning with a real Lightning Trainer: the schedule ends exactly when training does."""

from __future__ import annotations

import logging
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the Lightning adapter needs PyTorch")
L = pytest.importorskip("lightning", reason="the Lightning tests need lightning (pip install lightning)")

import rampup  # noqa: E402
from rampup.lightning import lr_scheduler_config, training_steps_of  # noqa: E402
from rampup.torch import Scheduler  # noqa: E402

PEAK = 0.01
pytestmark = [
    pytest.mark.filterwarnings("ignore::lightning.fabric.utilities.warnings.PossibleUserWarning"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance.treespec, LeafSpec.:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance.treespec, LeafSpec.:FutureWarning"),
]
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
logging.getLogger("lightning.fabric").setLevel(logging.ERROR)


class TinyModule(L.LightningModule):  # type: ignore[misc]
    """One linear layer; records the rate each optimizer update runs at."""

    def __init__(self, make_config: Any) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = torch.nn.Linear(3, 1)
        self.make_config = make_config
        self.rates: list[float] = []
        self.config: dict[str, Any] = {}

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None,
                       ) -> None:
        self.rates.append(float(optimizer.param_groups[0]["lr"]))  # the rate this update uses
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=PEAK, momentum=0.9)
        self.config = self.make_config(self, optimizer)
        return {"optimizer": optimizer, "lr_scheduler": self.config}


class _StopAfterFirstEpoch(L.Callback):  # type: ignore[misc]
    def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
        trainer.should_stop = True


def _fit(
    make_config: Any, batches: int = 5, epochs: int = 2, accumulate: int = 2, *,
    stop_after_first_epoch: bool = False, ckpt_path: Any = None,
) -> TinyModule:
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(2 * batches, 3), torch.randn(2 * batches, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    module = TinyModule(make_config)
    trainer = L.Trainer(
        max_epochs=epochs, accumulate_grad_batches=accumulate, enable_checkpointing=False, logger=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", devices=1,
        callbacks=[_StopAfterFirstEpoch()] if stop_after_first_epoch else [],
    )
    trainer.fit(module, loader, ckpt_path=ckpt_path)
    return module


@pytest.mark.parametrize("warmup", [{"warmup": "1ep"}, {"warmup_fraction": 0.5}, {"warmup_steps": 3}])
def test_named_schedule_is_sized_by_the_trainer_and_ends_with_training(warmup: dict[str, Any]) -> None:
    # 5 batches per epoch, accumulation 2: updates after batches 2, 4 and 5 (the short last
    # window still steps) -> 3 updates per epoch, 6 in all
    # the trainer, or the LightningModule itself (self) in place of self.trainer
    module = _fit(lambda self, opt: lr_scheduler_config(
        opt, "warmup_cosine", self if "warmup_steps" in warmup else self.trainer, min_lr_ratio=0.1,
        name="lr", **warmup))
    config = module.config
    scheduler = config["scheduler"]
    assert isinstance(scheduler, Scheduler)
    assert (config["interval"], config["frequency"], config["name"]) == ("step", 1, "lr")
    expected = rampup.schedule("warmup_cosine", warmup_steps=3, total_steps=6, min_lr_ratio=0.1)
    assert scheduler.schedules[0] == expected
    assert module.rates == [PEAK * expected(k) for k in range(6)]
    assert scheduler.last_epoch == 6 == module.trainer.estimated_stepping_batches
    assert scheduler.get_last_lr() == [PEAK * 0.1]  # the schedule's end value, reached at the end
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == PEAK * 0.1
    assert scheduler.report(warn=False)["fraction_done"] == 1.0
    assert scheduler.skipped_steps == 0


def test_resume_from_a_lightning_checkpoint_continues_the_schedule(tmp_path: Any) -> None:
    def make(self: Any, opt: Any) -> dict[str, Any]:
        return lr_scheduler_config(opt, "warmup_linear", self.trainer, warmup_steps=2)

    expected = rampup.schedule("warmup_linear", warmup_steps=2, total_steps=6)
    first = _fit(make, stop_after_first_epoch=True)  # sized for 2 epochs, stopped after 1
    assert first.rates == [PEAK * expected(k) for k in range(3)]
    path = tmp_path / "epoch1.ckpt"
    first.trainer.save_checkpoint(path)
    resumed = _fit(make, ckpt_path=path)
    assert resumed.rates == [PEAK * expected(k) for k in range(3, 6)]
    assert resumed.config["scheduler"].last_epoch == 6
    assert resumed.config["scheduler"].get_last_lr() == [0.0]


def test_a_built_schedule_is_used_as_it_is() -> None:
    schedule = rampup.with_warmup(rampup.Linear(steps=4), 2)  # 6 steps
    module = _fit(lambda self, opt: lr_scheduler_config(opt, schedule), batches=3, accumulate=1)
    assert module.rates == [PEAK * schedule(k) for k in range(6)]
    assert module.config["scheduler"].last_epoch == 6


def test_training_steps_of_follows_max_steps_and_refuses_endless_training() -> None:
    trainer = L.Trainer(max_steps=7, max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    assert training_steps_of(trainer) == 7
    endless = L.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    with pytest.raises(ValueError, match="max_steps"):
        training_steps_of(endless)


def test_bad_input_is_named() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=PEAK)
    with pytest.raises(TypeError, match="pass the trainer"):
        lr_scheduler_config(optimizer, "cosine", warmup_steps=2)
    with pytest.raises(TypeError, match="only for a schedule given by name"):
        lr_scheduler_config(optimizer, rampup.Linear(steps=4), warmup_steps=2)
    with pytest.raises(TypeError, match="Trainer"):
        lr_scheduler_config(optimizer, "cosine", object())
    config = lr_scheduler_config(optimizer, "cosine", total_steps=10, warmup="20%")
    assert config["scheduler"].schedules[0] == rampup.schedule("cosine", warmup_steps=2, total_steps=10)
