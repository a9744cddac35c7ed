"""The range test through Lightning and transformers' Trainer, with real tiny models.

Oracles: the same sweep written with plain ``find_lr`` and the loss spelled out in the test gives
the same curve; and training afterwards (a real ``lightning.Trainer.fit`` / ``Trainer.train``)
gives bit for bit what it gives without the sweep.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from probe_helpers import one_thread  # noqa: F401  (an autouse fixture)

from rampup.errors import RampupError
from rampup.torch import find_lr, find_lr_lightning, find_lr_trainer

# --- Lightning ------------------------------------------------------------------------------------

L = pytest.importorskip("lightning", reason="the Lightning path needs lightning")
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
pytestmark = [
    pytest.mark.filterwarnings("ignore::lightning.fabric.utilities.warnings.PossibleUserWarning"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance.treespec, LeafSpec.:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*isinstance.treespec, LeafSpec.:FutureWarning"),
]


def _signals(count: int = 256) -> torch.utils.data.TensorDataset:
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(count, 4, generator=generator)
    return torch.utils.data.TensorDataset(x, (x[:, :1] * 2 - x[:, 1:2]).tanh())


class Regressor(L.LightningModule):  # type: ignore[misc]
    """A tiny module that logs, returns a dict and builds an optimizer with a scheduler."""

    def __init__(self, lr: float = 1e-3) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                       torch.nn.Dropout(0.1), torch.nn.Linear(16, 1))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return {"loss": loss}

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.lr)
        scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(_signals(), batch_size=8, shuffle=True,
                                           generator=torch.Generator().manual_seed(5))


def _fit(module: Any) -> list[torch.Tensor]:
    trainer = L.Trainer(max_steps=6, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    return [p.detach().clone() for p in module.parameters()]


def test_lightning_module_sweep_uses_its_own_step_and_leaves_it_as_it_was() -> None:
    module = Regressor()
    before = [p.detach().clone() for p in module.parameters()] + [b.clone() for b in module.buffers()]
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the self.log warning outside a Trainer is kept quiet
        result = find_lr_lightning(module, steps=20, min_lr=1e-5, max_lr=1.0)
    assert len(result.raw_losses) >= 10
    after = [p.detach().clone() for p in module.parameters()] + [b.clone() for b in module.buffers()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))

    # the same curve from plain find_lr with the loss written here and the optimizer the module makes
    twin = Regressor()
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    torch.manual_seed(1)
    plain = find_lr(twin, optimizer, lambda m, b: torch.nn.functional.mse_loss(m.net(b[0]), b[1]),
                    twin.train_dataloader(), steps=20, min_lr=1e-5, max_lr=1.0)
    assert result.raw_losses == plain.raw_losses
    assert result.suggestion == plain.suggestion

    # fitting afterwards is exactly fitting without the sweep
    fresh = Regressor()
    torch.manual_seed(2)
    swept = _fit(module)
    torch.manual_seed(2)
    untouched = _fit(fresh)
    assert all(torch.equal(a, b) for a, b in zip(swept, untouched, strict=True))


def test_lightning_bad_input() -> None:
    module = Regressor()
    with pytest.raises(RampupError, match="LightningModule"):
        find_lr_lightning(torch.nn.Linear(1, 1))
    with pytest.raises(RampupError, match="data has 4 batches but steps=20 needs 20"):
        find_lr_lightning(module, torch.utils.data.DataLoader(_signals(32), batch_size=8), steps=20)
    module.automatic_optimization = False
    with pytest.raises(RampupError, match="manual optimisation"):
        find_lr_lightning(module)


# --- transformers' Trainer --------------------------------------------------------------------------

transformers = pytest.importorskip("transformers", reason="the Trainer path needs transformers")
pytest.importorskip("accelerate", reason="transformers' Trainer needs accelerate")


def _bert() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0,
    )
    return transformers.BertForSequenceClassification(config)


def _texts(count: int = 96) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (count, 8), generator=generator)
    return [{"input_ids": ids[i], "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(count)]


def _trainer(out: Path, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "output_dir": str(out), "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2,
        "max_steps": 4, "report_to": [], "use_cpu": True, "save_strategy": "no", "disable_tqdm": True,
        "seed": 0, "learning_rate": 1e-3, "dataloader_pin_memory": False, "logging_strategy": "no",
    }
    options.update(overrides)
    return transformers.Trainer(_bert(), transformers.TrainingArguments(**options), train_dataset=_texts())


def test_trainer_sweep_uses_its_update_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path / "a")
    model = trainer.model
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(1)
    result = find_lr_trainer(trainer, steps=12, min_lr=1e-5, max_lr=10.0)
    assert trainer.optimizer is None  # it had none: the one built for the sweep is dropped
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert len(result.raw_losses) >= 10 and result.lrs[0] == pytest.approx(1e-5)
    # Trainer's optimizer has a decayed and an undecayed group at the same rate: ratios 1
    assert result.group_ratios == [1.0, 1.0]

    # the same update spelled out here: two half-batches of Trainer's loader, clipped to 1.0
    twin = _trainer(tmp_path / "b")
    optimizer = twin.create_optimizer()
    torch.manual_seed(1)
    stream: Any = None

    def update() -> torch.Tensor:
        nonlocal stream
        if stream is None:
            stream = iter(twin.get_train_dataloader())
            twin.model.train()
        optimizer.zero_grad()
        total = torch.zeros((), dtype=torch.float64)
        for _ in range(2):
            loss = twin.model(**next(stream)).loss / 2
            loss.backward()
            total += loss.detach().double()
        torch.nn.utils.clip_grad_norm_(twin.model.parameters(), 1.0)
        optimizer.step()
        return total

    plain = find_lr(twin.model, optimizer, update=update, steps=12, min_lr=1e-5, max_lr=10.0)
    assert result.raw_losses == pytest.approx(plain.raw_losses, rel=1e-6)

    # training afterwards is exactly training without the sweep
    untouched = _trainer(tmp_path / "c")
    torch.manual_seed(3)
    trainer.train()
    torch.manual_seed(3)
    untouched.train()
    for p, q in zip(trainer.model.parameters(), untouched.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_trainer_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RampupError, match="transformers Trainer"):
        find_lr_trainer(object())
    trainer = _trainer(tmp_path)
    with pytest.raises(RampupError, match="has 24 batches but steps=20 needs 40"):
        find_lr_trainer(trainer, steps=20)
    with pytest.raises(RampupError, match="steps"):
        find_lr_trainer(trainer, steps=5)
    with pytest.raises(RampupError, match="do not pass"):
        find_lr_trainer(trainer, update=lambda: 1.0)
