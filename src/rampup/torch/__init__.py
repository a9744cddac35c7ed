"""rampup for PyTorch: the scheduler, warmup around existing schedulers, transformers' API."""

from rampup.torch.critical import CriticalLRResult, critical_lr
from rampup.torch.finder_frameworks import find_lr_lightning, find_lr_trainer
from rampup.torch.gradual import GradualWarmupScheduler
from rampup.torch.greedy import GreedyLR
from rampup.torch.groups import to_tensor_lrs
from rampup.torch.hf import (
    TYPE_TO_SCHEDULER_FUNCTION,
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
from rampup.torch.lr_finder import LRFinderResult, find_lr
from rampup.torch.scheduler import Scheduler
from rampup.torch.wrap import WarmupWrapper, warmup_wrapper, with_warmup

__all__ = [
    "TYPE_TO_SCHEDULER_FUNCTION",
    "CriticalLRResult",
    "GradualWarmupScheduler",
    "GreedyLR",
    "LRFinderResult",
    "Scheduler",
    "WarmupWrapper",
    "critical_lr",
    "find_lr",
    "find_lr_lightning",
    "find_lr_trainer",
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
    "to_tensor_lrs",
    "warmup_wrapper",
    "with_warmup",
]
