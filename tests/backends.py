"""The real servers that backend tests talk to, and what happens when one is missing.

On a developer's machine without the server, its tests skip and say how to start it. Under
``CI=true`` a missing server fails the run: CI must prove the backends, not skip them.
Each server's address can be moved with an environment variable.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("KRUISPUNT_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
NATS_URL = os.environ.get("KRUISPUNT_TEST_NATS_URL", "nats://127.0.0.1:4222")
MQTT_URL = os.environ.get("KRUISPUNT_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")

HOW_TO_START = {
    "PostgreSQL": "apt install postgresql; pg_ctlcluster --skip-systemctl-redirect "
    "$(ls /etc/postgresql) main start (trust auth for 127.0.0.1, database 'test')",
    "NATS JetStream": "apt install nats-server; nats-server -a 127.0.0.1 -p 4222 -js "
    "-sd /var/lib/nats-server",
    "Mosquitto": "apt install mosquitto; mosquitto -d -c /etc/mosquitto/mosquitto.conf",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _require(name: str, url: str, default_port: int) -> str:
    if _reachable(url, default_port):
        return url
    message = f"{name} is not reachable at {url}; start it with: {HOW_TO_START[name]}"
    if in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def require_postgres() -> str:
    return _require("PostgreSQL", POSTGRES_URL, 5432)


def require_nats() -> str:
    return _require("NATS JetStream", NATS_URL, 4222)


def require_mqtt() -> str:
    return _require("Mosquitto", MQTT_URL, 1883)


def unique_name(prefix: str) -> str:
    """A name no other test (or earlier run) uses: schemas, streams, topics."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
