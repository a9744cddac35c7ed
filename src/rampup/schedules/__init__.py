"""The pure schedule core: shapes and combinators, evaluated with math, numpy or (lazily, through
array-api-compat) the namespace of a torch/JAX/... array."""

from rampup.schedules.base import Schedule
from rampup.schedules.compose import Clamp, Join, Multiply, clamp, join, multiply, with_warmup
from rampup.schedules.cyclic import SGDR, OneCycle, Triangular, one_cycle_momentum
from rampup.schedules.decay import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    Linear,
    MultiStep,
    Polynomial,
    SqrtDecay,
    Step,
)
from rampup.schedules.warmup import Warmup, gradual_warmup, untuned_warmup, untuned_warmup_steps

SHAPES: dict[str, type[Schedule]] = {
    cls.shape: cls
    for cls in (
        Warmup,
        Constant,
        Linear,
        Cosine,
        CosineRestarts,
        Polynomial,
        SqrtDecay,
        Step,
        MultiStep,
        Exponential,
        InverseSqrt,
        SGDR,
        OneCycle,
        Triangular,
        Join,
        Multiply,
        Clamp,
    )
}

# A re-export list (rampup/__init__.py repeats most of it for the top-level package).
__all__ = [
    "SGDR",
    "SHAPES",
    "Clamp",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Exponential",
    "InverseSqrt",
    "Join",
    "Linear",
    "MultiStep",
    "Multiply",
    "OneCycle",
    "Polynomial",
    "Schedule",
    "SqrtDecay",
    "Step",
    "Triangular",
    "Warmup",
    "clamp",
    "gradual_warmup",
    "join",
    "multiply",
    "one_cycle_momentum",
    "untuned_warmup",
    "untuned_warmup_steps",
    "with_warmup",
]
