"""The node's ``[health]`` section: the thresholds (``HealthConfig``) and how the monitor runs."""

from __future__ import annotations

from pydantic import Field, model_validator

from kruispunt.health.config import HealthConfig


class HealthMonitorConfig(HealthConfig):
    """Camera health as the node runs it: every ``tick_s`` each active camera is judged
    against the profile learned (every ``relearn_s``) from its own last ``learn_days``."""

    enabled: bool = Field(True, description="Run the camera health monitor.")
    tick_s: float = Field(
        60.0, ge=1, le=3600, description="How often every camera is judged (seconds)."
    )
    relearn_s: float = Field(
        3600.0, ge=60, le=7 * 86_400, description="How often the profiles are learned again."
    )
    learn_days: int = Field(
        28, ge=1, le=365, description="Days of traffic counts a profile is learned from."
    )
    skew_window_s: float = Field(
        3600.0, ge=60, le=86_400, description="Recent arrivals the clock is judged on."
    )
    pair_window_s: float = Field(
        900.0, ge=10, le=7200, description="Longest gap between two cameras for a shared vehicle."
    )
    max_tracked_plates: int = Field(
        100_000, ge=0, le=10_000_000, description="Vehicles remembered for the pairwise clocks."
    )

    @model_validator(mode="after")
    def _check(self) -> HealthMonitorConfig:
        if self.learn_days < self.min_history_days:
            raise ValueError("learn_days: at least min_history_days")
        return self
