"""The adaptive warmup fed by its Lightning and transformers Trainer callbacks.

The expected signals are the losses the training code itself computed (recorded in the model's
training step / forward), averaged per optimizer update here, and the gradient norm computed here
just before each optimizer step.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")

import rampup  # noqa: E402
from rampup.adaptive import AdaptiveWarmup  # noqa: E402
from rampup.torch import Scheduler  # noqa: E402
from rampup.torch.callbacks import lightning_callback, trainer_callback  # noqa: E402


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, float]]:
    seen: list[dict[str, float]] = []
    original = AdaptiveWarmup.observe

    def observe(self: AdaptiveWarmup, **signals: Any) -> None:
        seen.append({k: float(v) for k, v in signals.items() if v is not None})
        original(self, **signals)

    monkeypatch.setattr(AdaptiveWarmup, "observe", observe)
    return seen


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lightning_callback_feeds_each_updates_mean_loss_and_grad_norm(monkeypatch: pytest.MonkeyPatch,
                                                                        ) -> None:
    L = pytest.importorskip("lightning")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    from rampup.lightning import lr_scheduler_config

    class Module(L.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.layer = torch.nn.Linear(3, 1)
            self.losses: list[float] = []
            self.norms: list[float] = []
            self.scheduler: Scheduler | None = None

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.losses.append(float(loss))
            return loss

        def on_before_optimizer_step(self, optimizer: Any) -> None:
            grads = torch.cat([p.grad.flatten() for p in self.parameters()])
            self.norms.append(float(grads.norm()))

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.SGD(self.parameters(), lr=0.05)
            schedule = rampup.with_warmup(rampup.Cosine(steps=8), 4)
            config = lr_scheduler_config(optimizer, schedule, total_steps=12,
                                         scheduler_options={"clock": AdaptiveWarmup(
                                             6, lag=1, rule=rampup.StabilityRule(min_history=3))})
            self.scheduler = config["scheduler"]
            return {"optimizer": optimizer, "lr_scheduler": config}

    seen = _spy(monkeypatch)
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(24, 3), torch.randn(24, 1))
    module = Module()
    trainer = L.Trainer(max_epochs=2, accumulate_grad_batches=2, enable_checkpointing=False, logger=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                        devices=1, callbacks=[lightning_callback()])
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=2))
    # 12 batches per epoch, accumulation 2: 6 updates per epoch, 12 in all
    assert module.scheduler is not None and module.scheduler.last_epoch == 12
    clock = module.scheduler.clock
    assert isinstance(clock, AdaptiveWarmup)
    expected = [(a + b) / 2 for a, b in zip(module.losses[::2], module.losses[1::2], strict=True)]
    assert len(seen) == 12
    for signals, loss, norm in zip(seen, expected, module.norms, strict=True):
        assert signals["loss"] == pytest.approx(loss, rel=1e-5)
        assert signals["grad_norm"] == pytest.approx(norm, rel=1e-5)
    assert clock.updates == 12 and clock.done


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_trainer_callback_feeds_each_updates_mean_loss(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Any) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    model = transformers.BertForSequenceClassification(config)
    losses: list[float] = []
    model.register_forward_hook(lambda m, i, o: losses.append(float(o.loss)) if m.training else None)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (32, 8), generator=generator)
    data = [{"input_ids": ids[i], "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(32)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = Scheduler(optimizer, rampup.with_warmup(rampup.Cosine(steps=5), 3), total_steps=8,
                          clock=AdaptiveWarmup(6, lag=0, rule=rampup.StabilityRule(min_history=3)))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, gradient_accumulation_steps=2,
        num_train_epochs=2, report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True,
        seed=0, dataloader_pin_memory=False, logging_steps=100,
    )
    seen = _spy(monkeypatch)
    trainer = transformers.Trainer(model, args, train_dataset=data, optimizers=(optimizer, scheduler),
                                   callbacks=[trainer_callback()])
    trainer.train()
    assert scheduler.last_epoch == 8
    expected = [(a + b) / 2 for a, b in zip(losses[::2], losses[1::2], strict=True)]
    assert len(seen) >= 3  # fed while the warmup ran (it ends after 3 to 6 updates)
    for signals, loss in zip(seen, expected, strict=False):
        assert set(signals) == {"loss"}
        assert signals["loss"] == pytest.approx(loss, rel=1e-5)
    assert scheduler.clock.done  # type: ignore[attr-defined]
    assert all(math.isfinite(x) for x in losses)
