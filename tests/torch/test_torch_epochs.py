"""A schedule written in epochs, stepped per batch: Goyal et al.'s recipe."""

from __future__ import annotations

import torch

import rampup
from rampup.torch import Scheduler

STEPS_PER_EPOCH = 20
FACTOR = 8.0
BASE = 0.1 * FACTOR  # the peak: k times the small-batch rate


def test_goyal_recipe_warms_per_iteration_and_decays_at_epochs() -> None:
    schedule = rampup.schedule("goyal", warmup="5ep", steps_per_epoch=STEPS_PER_EPOCH, factor=FACTOR,
                               milestones=["30ep", "60ep", "80ep"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE, momentum=0.9)
    scheduler = Scheduler(optimizer, schedule)
    warmup = 5 * STEPS_PER_EPOCH
    rates = []
    for _ in range(90 * STEPS_PER_EPOCH):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # Gradual warmup, one increment per iteration: eta at step 0, k * eta at step 5 epochs.
    for step in range(warmup + 1):
        expected = BASE * (1 / FACTOR + (1 - 1 / FACTOR) * step / warmup)
        assert abs(rates[step] - expected) <= 1e-15 * BASE
    assert len(set(rates[warmup:30 * STEPS_PER_EPOCH])) == 1 and rates[warmup] == BASE
    # x0.1 at epochs 30, 60 and 80, counted in the same per-iteration steps.
    for epoch, scale in ((30, 0.1), (60, 0.01), (80, 0.001)):
        step = epoch * STEPS_PER_EPOCH
        assert rates[step - 1] > rates[step]
        assert abs(rates[step] - BASE * scale) <= 1e-12 * BASE
