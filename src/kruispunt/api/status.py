"""Zones, node status, health, readiness and metrics."""

from __future__ import annotations

import time

import msgspec
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from kruispunt import __version__, metrics
from kruispunt.api import schema
from kruispunt.api.errors import error_response, json_response
from kruispunt.api.guard import public
from kruispunt.domain.zones import Municipality, Zone, municipalities
from kruispunt.node import Node

router = APIRouter(tags=["status"])


class ZonesOut(msgspec.Struct, frozen=True, kw_only=True):
    zones: list[Zone]
    municipalities: list[Municipality]


class ProcessorStatus(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    cursor: int
    lag: int
    errors: int


class DayStatus(msgspec.Struct, frozen=True, kw_only=True):
    day: str
    reads: int


class CameraActivity(msgspec.Struct, frozen=True, kw_only=True):
    camera_id: str
    zone_id: str
    reads_last_hour: int
    last_bucket_us: int | None


class NodeStatus(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    last_seq: int
    reads_total: int
    pending_reads: int
    commits: int
    backpressure_events: int
    days: list[DayStatus]
    processors: list[ProcessorStatus]
    cameras: list[CameraActivity]


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


@router.get("/api/v1/zones", responses=schema.responses({200: (ZonesOut, "Network members")}))
@public("the network members and municipalities: public administrative data")
async def zones(request: Request) -> Response:
    return json_response(
        ZonesOut(zones=list(_node(request).zones), municipalities=list(municipalities()))
    )


def node_status(node: Node) -> NodeStatus:
    hour_ago = (time.time_ns() // 1000) - 3_600_000_000
    activity: dict[str, list[int]] = {}
    for count in node.store.traffic_counts(hour_ago):
        slot = activity.setdefault(count.camera_id, [0, 0])
        slot[0] += count.reads
        slot[1] = max(slot[1], count.bucket_us)
    segments = node.store.segments()
    return NodeStatus(
        version=__version__,
        last_seq=node.store.last_seq(),
        reads_total=sum(s.rows for s in segments),
        pending_reads=node.ingest.writer.pending_reads,
        commits=node.writer.stats.commits,
        backpressure_events=node.writer.stats.saturated
        + (node.bus_log.stats.saturated if node.bus_log is not None else 0),
        days=[DayStatus(day=s.day.isoformat(), reads=s.rows) for s in segments],
        processors=[
            ProcessorStatus(name=r.processor.name, cursor=r.cursor, lag=r.lag(), errors=r.errors)
            for r in node.runners
        ]
        + [
            ProcessorStatus(name=f"partition-{p:03d}", cursor=st.last_seq, lag=0, errors=0)
            for p, st in sorted(node.pipeline.stats.items() if node.pipeline else [])
        ],
        cameras=[
            CameraActivity(
                camera_id=c.id,
                zone_id=c.zone_id,
                reads_last_hour=activity.get(c.id, [0, 0])[0],
                last_bucket_us=activity[c.id][1] if c.id in activity else None,
            )
            for c in node.registry.all()
        ],
    )


@router.get("/api/v1/status", responses=schema.responses({200: (NodeStatus, "Node status")}))
@public("counts per camera and day only: no plate, no read")
async def status(request: Request) -> Response:
    return json_response(node_status(_node(request)))


@router.get("/health", tags=["status"], summary="Liveness")
@public("liveness for the orchestrator: says only ok")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get("/ready", summary="Readiness: the store is open and the writer runs")
@public("readiness for the load balancer: says only ready or not")
async def ready(request: Request) -> Response:
    node = _node(request)
    if not node.started or not node.writer.alive:
        return error_response(503, "not_ready", "node is starting or stopping")
    if node.bus_log is not None and not (node.bus_log.alive and node.bus_log.connected):
        return error_response(503, "not_ready", "the distributed log is not reachable")
    return json_response({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics")
@public("operational counters for monitoring: no plate, no read")
async def prometheus_metrics(request: Request) -> Response:
    node = _node(request)
    metrics.PENDING_READS.set(node.ingest.writer.pending_reads)
    for runner in node.runners:
        metrics.PROCESSOR_LAG.labels(runner.processor.name).set(runner.lag())
    node.update_metrics()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
