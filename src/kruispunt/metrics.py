"""Prometheus metrics of the node (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

READS_STORED = Counter("kruispunt_reads_stored_total", "Reads durably appended to the log")
READS_DUPLICATE = Counter(
    "kruispunt_reads_duplicate_total", "Reads resent by a camera and already in the log"
)
READS_REJECTED = Counter(
    "kruispunt_reads_rejected_total", "Reads refused at ingest, by reason", ["reason"]
)
BATCHES = Counter("kruispunt_ingest_batches_total", "Ingest batches by outcome", ["outcome"])
BACKPRESSURE = Counter(
    "kruispunt_backpressure_events_total", "Batches refused with 429 because the node was full"
)
PENDING_READS = Gauge("kruispunt_pending_reads", "Reads accepted and waiting for the store")
PROCESSOR_LAG = Gauge(
    "kruispunt_processor_lag_reads", "Reads in the log not yet seen by a processor", ["processor"]
)
HITS = Counter(
    "kruispunt_hits_total",
    "Hits stored (live matches and retroactive ones), as raised by this process",
    ["kind"],
)
READS_ARCHIVED = Counter(
    "kruispunt_reads_archived_total",
    "Reads a worker stored from the distributed log into the store",
)
PARTITIONS_OWNED = Gauge(
    "kruispunt_partitions_owned", "Partitions of the distributed log this worker holds"
)
PARTITION_LAG = Gauge(
    "kruispunt_partition_lag_messages",
    "Messages of a partition not yet handled by this worker (JetStream's count)",
    ["partition"],
)
CAMERAS_BY_HEALTH = Gauge(
    "kruispunt_cameras_by_health_state",
    "Active cameras per health state at the last check (ok, warning, alarm, unknown)",
    ["state"],
)
CAMERA_ALARMS_OPEN = Gauge(
    "kruispunt_camera_alarms_open",
    "Open camera-health alarms, by kind and severity",
    ["kind", "severity"],
)
CAMERA_ALARM_EVENTS = Counter(
    "kruispunt_camera_alarm_events_total",
    "Camera-health alarms raised and cleared",
    ["event", "kind"],
)
