"""The demo's two experiments and their variants: what is trained, with which schedules.

Each variant changes only the learning-rate schedule (and, for large-batch SGD, the batch size and
the linearly scaled peak rate), so any difference in the results comes from warmup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rampup import (
    Cosine,
    MultiStep,
    Schedule,
    Warmup,
    gradual_warmup,
    untuned_warmup_steps,
    with_warmup,
)
from rampup.demo import data as datasets
from rampup.demo.models import PostLNLanguageModel, ResNet1D

ScheduleBuilder = Callable[[int, int], Schedule]  # (total steps, steps per epoch) -> schedule


@dataclass(frozen=True)
class Variant:
    """One training recipe: a global batch size, a peak rate and a schedule."""

    name: str
    description: str
    batch_size: int
    peak_lr: float
    schedule: ScheduleBuilder
    steps_scale: int = 1  # runs this many times the experiment's steps (the small-batch
    # baseline: k times smaller batches, so k times more steps for the same epochs)
    clock: Callable[[int], Any] | None = None  # total steps -> a rampup clock (adaptive warmup)


@dataclass(frozen=True)
class Sizes:
    """How big one run is; ``quick`` shrinks everything for tests."""

    steps: int
    seeds: int
    eval_every: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experiment:
    """A model, its data, how to draw batches and how to score it."""

    name: str
    title: str
    setup: str
    expectation: str
    sizes: Sizes
    quick: Sizes
    variants: list[Variant]
    has_accuracy: bool
    make_data: Callable[[Sizes, Path], Any]
    make_model: Callable[[Sizes], nn.Module]
    make_optimizer: Callable[[Any, float], torch.optim.Optimizer]
    batch: Callable[[Any, int, int, int, int, int, int], tuple[torch.Tensor, torch.Tensor]]
    evaluate: Callable[[nn.Module, Any, torch.device], tuple[float, float | None]]
    steps_per_epoch: Callable[[Any, int], int]


# ---------------------------------------------------------------------------------------------
# 1. A Post-LN Transformer language model with AdamW (BERT/GPT-style training).

LM_LR = 3e-3
LM_BATCH = 16
LM_BETAS = (0.9, 0.98)


def _lm_data(sizes: Sizes, cache: Path) -> datasets.TextData:
    return datasets.stdlib_text(max_bytes=sizes.extra.get("bytes", 3_000_000))


def _lm_model(sizes: Sizes) -> nn.Module:
    return PostLNLanguageModel(width=sizes.extra.get("width", 128), layers=sizes.extra.get("layers", 6),
                               context=sizes.extra.get("context", 64))


def _lm_optimizer(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=LM_BETAS, weight_decay=0.01)


def _lm_batch(data: datasets.TextData, seed: int, step: int, batch: int, rank: int, world: int,
              context: int) -> tuple[torch.Tensor, torch.Tensor]:
    # The global batch is a function of (seed, step) alone: every process count sees the same data.
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, data.train.numel() - context - 1, (batch,), generator=generator)
    share = batch // world
    starts = starts[rank * share:(rank + 1) * share]
    windows = torch.stack([data.train[s:s + context + 1] for s in starts.tolist()]).long()
    return windows[:, :-1], windows[:, 1:]


@torch.no_grad()
def _lm_evaluate(model: nn.Module, data: datasets.TextData, device: torch.device) -> tuple[float, None]:
    context = int(model.context)  # type: ignore[arg-type]
    generator = torch.Generator().manual_seed(12345)
    starts = torch.randint(0, data.val.numel() - context - 1, (64,), generator=generator)
    windows = torch.stack([data.val[s:s + context + 1] for s in starts.tolist()]).long().to(device)
    logits = model(windows[:, :-1])
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1))
    return float(loss), None


def _cosine_after(warmup: int | None = None, fraction: float = 0.0) -> ScheduleBuilder:
    """Linear warmup (``warmup`` steps, or a ``fraction`` of training), then cosine to 10%."""

    def build(total: int, _: int) -> Schedule:
        steps = round(fraction * total) if warmup is None else min(warmup, total // 2)
        return with_warmup(Cosine(steps=total - steps, min_lr_ratio=0.1), steps)

    return build


def transformer() -> Experiment:
    untuned = untuned_warmup_steps(LM_BETAS[1])
    return Experiment(
        name="transformer",
        title="Post-LN Transformer language model, AdamW",
        setup=(
            "A 6-layer Post-LayerNorm Transformer (width 128, 4 heads, context 64, no dropout) "
            "trained as a byte-level language model on the source files of Python's standard "
            f"library, with AdamW (betas {LM_BETAS}, weight decay 0.01), batch {LM_BATCH} and peak "
            f"rate {LM_LR:g}. Every variant decays with a cosine to 10% of the peak; they differ "
            "only in warmup. No gradient clipping, so the optimizer sees the raw early updates."
        ),
        expectation=(
            "Without warmup a Post-LN Transformer at this rate diverges or stalls at a much higher "
            "loss (Xiong et al. 2020; Liu et al. 2020); a linear warmup lets it train."
        ),
        sizes=Sizes(steps=200, seeds=2, eval_every=50),
        quick=Sizes(steps=24, seeds=1, eval_every=8,
                    extra={"width": 32, "layers": 2, "context": 16, "bytes": 200_000}),
        variants=[
            Variant("no_warmup", "cosine decay from the first step", LM_BATCH, LM_LR,
                    lambda total, _: Cosine(steps=total, min_lr_ratio=0.1)),
            Variant("linear_warmup", "linear warmup over 10% of training, then cosine (BERT/GPT recipe)",
                    LM_BATCH, LM_LR, _cosine_after(fraction=0.1)),
            Variant("untuned_warmup", f"linear warmup over 2/(1-beta2) = {untuned} steps, then cosine",
                    LM_BATCH, LM_LR, _cosine_after(untuned)),
        ],
        has_accuracy=False,
        make_data=_lm_data,
        make_model=_lm_model,
        make_optimizer=_lm_optimizer,
        batch=_lm_batch,
        evaluate=_lm_evaluate,
        steps_per_epoch=lambda data, batch: max(1, data.train.numel() // (batch * 64)),
    )


# ---------------------------------------------------------------------------------------------
# 2. Large-batch SGD with the linear scaling rule (Goyal et al. 2017).

SMALL_BATCH = 128
BASE_LR = 0.2
SCALE = 8
WARMUP_EPOCHS = 5


def _signal_data(sizes: Sizes, cache: Path) -> datasets.SignalData:
    return datasets.mnist1d(sizes.extra.get("samples", 25_000), cache)


def _signal_model(sizes: Sizes) -> nn.Module:
    return ResNet1D(width=sizes.extra.get("width", 16), blocks_per_stage=sizes.extra.get("blocks", 1))


def _signal_optimizer(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)


def _signal_batch(data: datasets.SignalData, seed: int, step: int, batch: int, rank: int, world: int,
                  _: int) -> tuple[torch.Tensor, torch.Tensor]:
    per_epoch = data.y.numel() // batch  # drop_last
    epoch, index = divmod(step, per_epoch)
    order = torch.randperm(data.y.numel(), generator=torch.Generator().manual_seed(seed * 7919 + epoch))
    chosen = order[index * batch:(index + 1) * batch]
    share = batch // world
    chosen = chosen[rank * share:(rank + 1) * share]
    return data.x[chosen], data.y[chosen]


@torch.no_grad()
def _signal_evaluate(model: nn.Module, data: datasets.SignalData,
                     device: torch.device) -> tuple[float, float]:
    model.eval()
    logits = model(data.x_test.to(device))
    target = data.y_test.to(device)
    loss = float(nn.functional.cross_entropy(logits, target))
    accuracy = float((logits.argmax(1) == target).float().mean())
    model.train()
    return loss, accuracy


def _goyal(kind: str) -> ScheduleBuilder:
    """Warmup over 5 epochs from the small-batch rate to k times it, then x0.1 at 50% and 75%."""

    def build(total: int, per_epoch: int) -> Schedule:
        decay = MultiStep(milestones=(total // 2, 3 * total // 4), gamma=0.1)
        warmup = min(WARMUP_EPOCHS * per_epoch, total) if kind != "none" else 0
        if kind == "gradual":
            ramp = gradual_warmup(warmup, SCALE)
        else:
            ramp = Warmup(steps=warmup, curve="constant", start=1.0 / SCALE)
        # The milestones count from step 0: the warmup replaces the decay's first steps.
        return with_warmup(decay, ramp, clock="absolute")

    return build


def large_batch() -> Experiment:
    big = SMALL_BATCH * SCALE
    return Experiment(
        name="large_batch",
        title=f"Large-batch SGD with the linear scaling rule (batch {SMALL_BATCH} -> {big})",
        setup=(
            f"A small 1-D ResNet with BatchNorm (width 16) on MNIST-1D (20,000 training signals "
            f"generated locally), momentum SGD (0.9, weight decay 5e-4). Baseline: batch "
            f"{SMALL_BATCH} at rate {BASE_LR:g}. Large batch: {big} = {SCALE} x {SMALL_BATCH} at "
            f"{BASE_LR * SCALE:g} (linear scaling rule), the same number of epochs, with no warmup, "
            f"with constant warmup ({BASE_LR:g} for {WARMUP_EPOCHS} epochs, then the peak) and with "
            f"gradual warmup ({BASE_LR:g} rising linearly to the peak over {WARMUP_EPOCHS} epochs, "
            "per iteration). All decay x0.1 at 50% and 75% of training."
        ),
        expectation=(
            "Large-batch training at the linearly scaled rate loses accuracy without warmup; "
            "gradual warmup closes most of the gap to the small-batch baseline, and constant "
            "warmup shows a loss spike when the rate jumps (Goyal et al. 2017)."
        ),
        sizes=Sizes(steps=228, seeds=2, eval_every=19),
        quick=Sizes(steps=24, seeds=1, eval_every=8, extra={"samples": 5_000, "width": 8}),
        variants=[
            Variant("small_batch", f"batch {SMALL_BATCH} at {BASE_LR:g} (baseline), same epochs",
                    SMALL_BATCH, BASE_LR, _goyal("none"), steps_scale=SCALE),
            Variant("no_warmup", f"batch {big} at {BASE_LR * SCALE:g} from the first step",
                    big, BASE_LR * SCALE, _goyal("none")),
            Variant("constant_warmup", f"batch {big}: {BASE_LR:g} for {WARMUP_EPOCHS} epochs, then "
                    f"{BASE_LR * SCALE:g}", big, BASE_LR * SCALE, _goyal("constant")),
            Variant("gradual_warmup", f"batch {big}: {BASE_LR:g} rising to {BASE_LR * SCALE:g} over "
                    f"{WARMUP_EPOCHS} epochs", big, BASE_LR * SCALE, _goyal("gradual")),
        ],
        has_accuracy=True,
        make_data=_signal_data,
        make_model=_signal_model,
        make_optimizer=_signal_optimizer,
        batch=_signal_batch,
        evaluate=_signal_evaluate,
        steps_per_epoch=lambda data, batch: data.y.numel() // batch,
    )


EXPERIMENTS: dict[str, Callable[[], Experiment]] = {"transformer": transformer, "large_batch": large_batch}

