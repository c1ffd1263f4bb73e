"""Camera-health thresholds, with defaults and the reasoning behind them."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator

from kruispunt.registries.settings import Strict, TimeZone


class HealthConfig(Strict):
    """How camera health is judged. Counts come in 15-minute buckets (``traffic_counts``)."""

    timezone: TimeZone = Field(
        "Europe/Brussels", description="Local time for the time-of-day and weekday profile."
    )
    holidays_fixed: list[str] = Field(
        ["01-01", "05-01", "07-21", "08-15", "11-01", "11-11", "12-25"],
        max_length=40,
        description="Public holidays on a fixed date (MM-DD), judged as weekend days. Default: "
        "Belgium's legal holidays (Wet van 4 januari 1974 betreffende de feestdagen; KB 18 "
        "april 1974): New Year, Labour Day, National Day, Assumption, All Saints, Armistice, "
        "Christmas.",
    )
    holidays_easter_offsets: list[int] = Field(
        [1, 39, 50],
        max_length=20,
        description="Public holidays as days after Easter Sunday (Western), judged as weekend "
        "days. Default: Belgium's Easter Monday (1), Ascension (39), Whit Monday (50).",
    )
    min_history_days: int = Field(
        14, ge=1, le=365, description="Calendar days of history before any rate judgement."
    )
    min_days_per_slot: int = Field(
        4, ge=2, le=100, description="Days with data a (day type, quarter hour) slot needs."
    )
    silence_p_value: float = Field(
        1e-4,
        gt=0,
        lt=0.5,
        description="Silent when P(no read in the gap) under Poisson(expected) is below this; "
        "the expected count uses the slot's low quartile, so quiet days do not alarm.",
    )
    silence_min_gap_s: float = Field(
        300.0, ge=0, description="No silence alarm for a gap shorter than this."
    )
    heartbeat_timeout_s: float = Field(
        120.0, gt=0, description="A camera that sends heartbeats is lost after this long."
    )
    rate_window_buckets: int = Field(
        4, ge=1, le=96, description="Complete quarter hours compared with the profile."
    )
    rate_z: float = Field(
        4.0, gt=0, description="Robust z (Poisson plus historical spread) for a drop or jump."
    )
    drop_ratio: float = Field(
        0.5, gt=0, lt=1, description="A drop also needs observed below this share of expected."
    )
    jump_ratio: float = Field(
        2.0, gt=1, description="A jump also needs observed above this multiple of expected."
    )
    rate_min_expected: float = Field(
        20.0, ge=0, description="Expected or observed reads in the window before judging."
    )
    low_conf_window_buckets: int = Field(
        8, ge=1, le=96, description="Complete quarter hours for the low-confidence share."
    )
    low_conf_z: float = Field(
        4.0, gt=0, description="Binomial z above the slot's usual low-confidence share."
    )
    low_conf_min_increase: float = Field(
        0.10, gt=0, lt=1, description="And at least this much above the usual share."
    )
    low_conf_min_reads: int = Field(50, ge=1, description="Reads in the window before judging.")
    low_conf_critical_share: float = Field(
        0.5, gt=0, le=1, description="A share this high is critical, not a warning."
    )
    skew_quantile: float = Field(
        0.1,
        gt=0,
        lt=0.5,
        description="Low quantile of the per-upload minimum of arrival − capture: the delay "
        "floor. Upload batching and slow links raise the median, not this floor.",
    )
    skew_min_reads: int = Field(20, ge=1, description="Reads needed for any delay estimate.")
    skew_min_uploads: int = Field(
        10, ge=1, description="Separate uploads needed before the clock itself is judged."
    )
    upload_group_gap_s: float = Field(
        1.0, ge=0, description="Arrivals this close together count as one upload."
    )
    clock_ahead_tolerance_s: float = Field(
        1.0, ge=0, description="A delay floor below minus this: the camera clock is ahead."
    )
    latency_allowance_s: float = Field(
        5.0,
        ge=0,
        description="A delay floor above this: the clock is behind (or a constant delay; "
        "arrivals alone cannot tell, pairwise skew can).",
    )
    skew_critical_s: float = Field(30.0, gt=0, description="A skew this large is critical.")
    upload_delay_warn_s: float = Field(
        120.0, gt=0, description="Median arrival − capture above this: slow uploads."
    )
    pair_skew_threshold_s: float = Field(
        1.0, gt=0, description="Offset between two cameras (beyond travel time) that alarms."
    )
    pair_skew_z: float = Field(
        3.0, gt=0, description="And the offset must exceed this many standard errors."
    )
    pair_min_pairs: int = Field(30, ge=3, description="Shared vehicles before judging a pair.")

    @field_validator("holidays_fixed")
    @classmethod
    def _month_days(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                dt.date.fromisoformat(f"2000-{text}")  # a leap year: 02-29 is a date
            except ValueError:
                raise ValueError(f"holiday {text!r}: a MM-DD date") from None
        return value

    @field_validator("holidays_easter_offsets")
    @classmethod
    def _easter_offsets(cls, value: list[int]) -> list[int]:
        if any(not -100 <= n <= 100 for n in value):
            raise ValueError("Easter offsets: days within 100 of Easter Sunday")
        return value
