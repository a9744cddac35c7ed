"""Test configuration: hypothesis profiles.

``ci`` (the default) is derandomized and bounded, so that the suite is repeatable and fits a small
CI machine; ``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, ``make fuzz``) runs many more random examples
and keeps failing ones in hypothesis' database to replay. Tests without their own
``max_examples`` take the profile's; ``tests/test_fuzz_*.py`` scale theirs from it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=_SLOW,
)
settings.register_profile(
    "fuzz",
    derandomize=False,
    deadline=None,
    max_examples=1000,
    suppress_health_check=_SLOW,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
