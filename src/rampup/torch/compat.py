"""The drop-in replacements in one module, as earlier versions had them (a re-export list only).

transformers' ``get_*`` functions and ``get_scheduler`` live in :mod:`rampup.torch.hf`,
:class:`GreedyLR` in :mod:`rampup.torch.greedy` and :class:`GradualWarmupScheduler` (the
``warmup_scheduler`` package's) in :mod:`rampup.torch.gradual`; ``rampup.torch`` exports them all.
"""

from rampup.torch.gradual import GradualWarmupScheduler
from rampup.torch.greedy import GreedyLR
from rampup.torch.hf import (
    TYPE_TO_SCHEDULER_FUNCTION,
    MissingInitialLrError,
    get_constant_schedule,
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_cosine_with_hard_restarts_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup,
    get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
    get_greedy_schedule,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
    get_polynomial_decay_schedule_with_warmup,
    get_reduce_on_plateau_schedule,
    get_scheduler,
    get_wsd_schedule,
)

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "GradualWarmupScheduler",
    "GreedyLR",
    "MissingInitialLrError",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_greedy_schedule",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_reduce_on_plateau_schedule",
    "get_scheduler",
    "get_wsd_schedule",
]
