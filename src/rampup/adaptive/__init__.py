"""Adaptive warmup: a clock that moves through the warmup only while training is stable.

Everything here is framework-free and deterministic: the same sequence of signals gives the same
sequence of positions, on any machine, and the whole state is plain data. Loss tensors (torch) are
handed to :mod:`rampup.torch.adaptive`, imported only when one arrives, which reads them without
blocking and averages them over processes.

- :mod:`rampup.adaptive.stability`: the spike test and the rule that turns each update's signals
  into a decision (advance, hold, step back): :class:`SpikeTest`, :class:`StabilityRule`,
  :class:`StabilityController`;
- :mod:`rampup.adaptive.signals`: one update's signals read now (numbers) or later (tensors);
- :mod:`rampup.adaptive.clock`: :class:`AdaptiveWarmup`, the clock a scheduler takes: its bounds,
  its position, the re-plan at the end of the warmup, its report and its state;
- :mod:`rampup.adaptive.bounds`: the bounds planned ahead (:func:`planned_bounds`,
  :func:`describe_bounds`, :class:`LatestPlan`) for descriptions and plots.
"""

# The names the module had before it became a package stay importable from here; those outside
# __all__ are re-exported explicitly ("as" the same name).
from rampup.adaptive.bounds import LatestPlan, describe_bounds, planned_bounds
from rampup.adaptive.clock import MISSING_LOSS as MISSING_LOSS
from rampup.adaptive.clock import STATE_FORMAT as STATE_FORMAT
from rampup.adaptive.clock import AdaptiveWarmup, warmup_length
from rampup.adaptive.stability import DECISIONS as DECISIONS
from rampup.adaptive.stability import MAD_TO_SIGMA as MAD_TO_SIGMA
from rampup.adaptive.stability import SIGNAL_NAMES as SIGNAL_NAMES
from rampup.adaptive.stability import SpikeTest, StabilityController, StabilityRule
from rampup.adaptive.stability import Values as Values
from rampup.adaptive.stability import _median_absolute_deviation as _median_absolute_deviation

__all__ = [
    "AdaptiveWarmup",
    "LatestPlan",
    "SpikeTest",
    "StabilityController",
    "StabilityRule",
    "describe_bounds",
    "planned_bounds",
    "warmup_length",
]
