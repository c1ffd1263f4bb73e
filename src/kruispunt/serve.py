"""Run a node under uvicorn (one process: API, writer and processors)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from kruispunt.api.app import create_app
from kruispunt.config import Config
from kruispunt.node import Node


class Server(uvicorn.Server):
    """uvicorn, but Ctrl-C/SIGTERM only ask it to finish: the caller then stops the node in
    order and the process exits normally (uvicorn's own handling re-raises the signal).
    Open live streams are ended first, or they would hold the graceful shutdown open."""

    def handle_exit(self, sig: int, frame: object) -> None:
        node = getattr(getattr(self.config.app, "state", None), "node", None)
        if node is not None:
            node.hub.shutdown()
        super().handle_exit(sig, frame)  # type: ignore[arg-type]

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


def uvicorn_config(app: FastAPI, config: Config) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.server.host,
        port=config.server.port,
        limit_concurrency=config.server.limit_concurrency,
        log_level="warning",
        access_log=False,  # an access log line per camera batch is noise, not audit
        timeout_graceful_shutdown=10,
    )


def run_server(config: Config, *, role: str = "all") -> None:
    # Shorter GIL turns: a thread carrying a hit waits ~1 ms, not ~5 ms, per hand-over while
    # the ingest, writer and processor threads are busy.
    sys.setswitchinterval(0.001)
    node = Node(config, role=role)
    asyncio.run(Server(uvicorn_config(create_app(node), config)).serve())


def run_worker(config: Config, *, metrics_port: int | None = None) -> None:
    """A worker process: partitions of the distributed log into the store, processors on
    them; no HTTP API (Prometheus metrics on ``metrics_port`` if given). Stops on SIGTERM or
    Ctrl-C after the batch in progress; its partitions move to the other workers at once."""
    sys.setswitchinterval(0.001)
    node = Node(config, role="worker")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=config.server.host)
    node.start()
    try:
        while not stop.wait(5.0):
            node.update_metrics()
    finally:
        node.stop()
