"""Camera health, pure: expected traffic learned per camera, and the alarms it raises.

Detectors (thresholds in :class:`HealthConfig`):

- ``silence``: no read for longer than a quiet day makes plausible (Poisson);
- ``heartbeat_lost``: no heartbeat within the timeout;
- ``rate_drop`` / ``rate_jump``: the last hour well off the profile;
- ``low_confidence``: a rising share of low-confidence reads;
- ``clock_skew`` / ``upload_delay``: from arrival − capture;
- ``pair_skew``: two cameras' clocks apart, from vehicles both saw.

No I/O here: the node feeds counts and times in and routes the alarms out.
"""

from kruispunt.health.alarms import CameraAlarm, CameraState
from kruispunt.health.assess import assess_camera
from kruispunt.health.config import HealthConfig
from kruispunt.health.profile import CameraProfile, learn_profile
from kruispunt.health.skew import (
    ArrivalSkew,
    PairSkew,
    detect_clock_skew,
    detect_pair_skew,
    estimate_arrival_skew,
    estimate_pair_skew,
)

__all__ = [
    "ArrivalSkew",
    "CameraAlarm",
    "CameraProfile",
    "CameraState",
    "HealthConfig",
    "PairSkew",
    "assess_camera",
    "detect_clock_skew",
    "detect_pair_skew",
    "estimate_arrival_skew",
    "estimate_pair_skew",
    "learn_profile",
]
