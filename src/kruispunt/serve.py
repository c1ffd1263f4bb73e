"""Run a node under uvicorn (one process: API, writer and processors)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from kruispunt.api.app import create_app
from kruispunt.config import Config
from kruispunt.node import Node


def uvicorn_config(app: FastAPI, config: Config) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.server.host,
        port=config.server.port,
        log_level="warning",
        access_log=False,  # an access log line per camera batch is noise, not audit
        timeout_graceful_shutdown=10,
    )


def run_server(config: Config) -> None:
    node = Node(config)
    uvicorn.Server(uvicorn_config(create_app(node), config)).run()
