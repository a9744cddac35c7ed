"""Test configuration: a hypothesis profile sized for a small CI machine."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "rampup",
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("rampup")
