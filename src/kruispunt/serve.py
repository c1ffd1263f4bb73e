"""Run a node under uvicorn (one process: API, writer and processors)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
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


def run_server(config: Config) -> None:
    # Shorter GIL turns: a thread carrying a hit waits ~1 ms, not ~5 ms, per hand-over while
    # the ingest, writer and processor threads are busy.
    sys.setswitchinterval(0.001)
    node = Node(config)
    asyncio.run(Server(uvicorn_config(create_app(node), config)).serve())
