"""Prometheus metrics of the registries and the registry checks (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

LOOKUPS = Counter(
    "kruispunt_registry_lookups_total",
    "Registry look-ups by registry and result: hit (cache), miss (asked the registry), "
    "error (the registry failed), refused (the registry counts as down; not asked)",
    ["registry", "result"],
)
CACHED = Gauge("kruispunt_registry_cache_entries", "Answers in a registry's cache", ["registry"])
DOWN = Gauge(
    "kruispunt_registry_down",
    "1 while a registry counts as down (its breaker is open)",
    ["registry"],
)
CHECKS = Counter(
    "kruispunt_registry_checks_total",
    "Registry checks of reads by check and outcome: clear, finding (a hit raised), unknown "
    "(no record to judge), skipped (a registry failed: the read was not checked)",
    ["check", "outcome"],
)
