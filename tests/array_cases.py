"""Schedules for the array API tests (torch, JAX): every shape, edge cases of each, compositions
and named schedules; no torch or jax import here."""

from __future__ import annotations

import rampup
from rampup import (
    SGDR,
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    MultiStep,
    OneCycle,
    Polynomial,
    Schedule,
    SqrtDecay,
    Step,
    Triangular,
    Warmup,
)

# Steps 0 .. N - 1 reach past every horizon below, so the held values are compared too.
N = 160


def _cases() -> dict[str, Schedule]:
    cases: dict[str, Schedule] = {}
    for curve in ("linear", "cosine", "1-sqrt", "exponential", "constant"):
        for endpoints in ("end", "start", "both"):
            cases[f"warmup-{curve}-{endpoints}"] = Warmup(steps=17, curve=curve, endpoints=endpoints)
    cases["warmup-0-steps"] = Warmup(steps=0)
    cases["warmup-1-step-both"] = Warmup(steps=1, endpoints="both")
    cases.update({
        "constant": Constant(0.3),
        "linear": Linear(steps=50, min_lr_ratio=0.1),
        "linear-end": Linear(steps=50, endpoints="end"),
        "linear-0-steps": Linear(steps=0),
        "cosine": Cosine(steps=60, min_lr_ratio=0.05),
        "cosine-cycles-both": Cosine(steps=60, cycles=1.5, endpoints="both"),
        "cosine-0-steps": Cosine(steps=0),
        "cosine-restarts": CosineRestarts(steps=90, cycles=3, min_lr_ratio=0.1),
        "cosine-restarts-0-steps": CosineRestarts(steps=0),
        "polynomial": Polynomial(steps=70, power=2.0, min_lr_ratio=0.01),
        "polynomial-lr-end": Polynomial(steps=70, power=0.5, lr_end=1e-5, peak_lr=3e-4),
        "sqrt-decay": SqrtDecay(steps=40, min_lr_ratio=0.2),
        "step": Step(step_size=13, gamma=0.5),
        "multistep": MultiStep(milestones=(10, 25, 25 + 1, 100), gamma=0.3),
        "multistep-none": MultiStep(milestones=()),
        "exponential-gamma": Exponential(gamma=0.97),
        "exponential-rate": Exponential(rate=0.02),
        "inverse-sqrt": InverseSqrt(timescale=9),
        "sgdr": SGDR(period_steps=20, min_lr_ratio=0.1, peak_decay=0.8),
        "sgdr-mult": SGDR(period_steps=10, period_mult=2.0, max_cycles=3),
        "sgdr-mult-1.5": SGDR(period_steps=8, period_mult=1.5, peak_decay=0.9),
        "one-cycle": OneCycle(steps=100),
        "one-cycle-linear-3-phase": OneCycle(steps=90, pct_start=0.25, anneal="linear", three_phase=True),
        "one-cycle-3-phase-overlap": OneCycle(steps=20, pct_start=0.6, three_phase=True),
        "triangular": Triangular(step_size_up=7, step_size_down=11),
        "triangular2": Triangular(step_size_up=5, mode="triangular2", min_lr_ratio=0.0),
        "join-relative": rampup.join([Warmup(steps=10), Constant(), Cosine(steps=50)], [10, 40]),
        "join-absolute": rampup.join([Warmup(steps=10, curve="cosine"), Linear(steps=120)], [10],
                                     clock="absolute"),
        "join-zero-length": rampup.join([Warmup(steps=5), Constant(0.5), Linear(steps=30)], [5, 5]),
        "join-one-phase": rampup.join([Cosine(steps=30)], []),
        "join-nested": rampup.join(
            [Warmup(steps=8), rampup.join([Constant(), SqrtDecay(steps=30)], [20])], [8]),
        "multiply": rampup.multiply(Warmup(steps=20, curve="exponential"), Exponential(gamma=0.99)),
        "clamp": rampup.clamp(Triangular(step_size_up=9, min_lr_ratio=0.0), 0.2, 0.8),
        "clamp-join": rampup.clamp(rampup.with_warmup(SGDR(period_steps=15), 12), 0.05),
        "with-warmup-absolute": rampup.with_warmup(Cosine(steps=100), 10, clock="absolute"),
        "named-cosine": rampup.schedule("cosine", warmup_steps=10, total_steps=100),
        "named-linear": rampup.schedule("linear", warmup_steps=10, total_steps=100),
        "named-cosine-with-restarts": rampup.schedule("cosine_with_restarts", warmup_steps=10,
                                                      total_steps=100, num_cycles=3),
        "named-wsd-hf": rampup.schedule("warmup_stable_decay", warmup_steps=10, total_steps=100,
                                        num_decay_steps=30, min_lr_ratio=0.1),
        "named-wsd-hf-cycles": rampup.schedule("warmup_stable_decay", warmup_steps=10, total_steps=100,
                                               num_decay_steps=30, num_cycles=1.0),
        "named-wsd": rampup.schedule("wsd", warmup_steps=10, total_steps=100),
        "named-one-cycle": rampup.schedule("one_cycle", total_steps=100),
        "named-multistep": rampup.schedule("multistep", warmup_steps=10, milestones=[30, 60, 90]),
        "named-goyal": rampup.schedule("goyal", warmup_steps=10, milestones=[30, 60]),
        "named-inverse-sqrt": rampup.schedule("inverse_sqrt", warmup_steps=10),
        "named-polynomial": rampup.schedule("polynomial", warmup_steps=10, total_steps=100,
                                            lr_end=1e-7, peak_lr=1e-3, power=2.0),
    })
    return cases


CASES = _cases()


def float32_atol(name: str) -> float:
    """The float32 tolerance: 1e-6, except for Triangular, whose formula (torch CyclicLR's
    ``x = 1 + t / cycle - floor(1 + t / cycle)``) cancels: its float32 error is about
    ``2 ** -24 * t / cycle / up_fraction``, ~1.5e-6 over these N steps, growing with t."""
    return 4e-6 if "Triangular(" in repr(CASES[name]) else 1e-6
