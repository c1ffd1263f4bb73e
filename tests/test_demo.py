"""The main command: `kruispunt demo` starts a node and feeds it the simulated province."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.test_crash import free_port

pytestmark = pytest.mark.slow


def test_demo_serves_the_page_and_stores_simulated_reads(tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kruispunt", "demo", "--port", str(port),
         "--data-dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        status: dict[str, object] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                status = httpx.get(f"{url}/api/v1/status", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            active = {c["zone_id"] for c in status["cameras"] if c["reads_last_hour"]}  # type: ignore[attr-defined]
            if int(status["reads_total"]) >= 500 and len(active) == 6:  # type: ignore[call-overload]
                break
            time.sleep(0.5)
        assert int(status.get("reads_total", 0)) >= 500, status  # type: ignore[call-overload]
        cameras = status["cameras"]
        assert isinstance(cameras, list) and len(cameras) >= 140
        zones = {c["zone_id"] for c in cameras if c["reads_last_hour"] > 0}
        assert {"pz5364", "pz5369", "pz5355", "pz5352", "pz5345", "fedpol"} <= zones
        page = httpx.get(url, timeout=5)
        assert page.status_code == 200 and "<svg" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()
    assert "demo stopped" in (tmp_path / "demo.log").read_text()
    tokens = tmp_path / "camera-tokens.json"
    assert tokens.stat().st_mode & 0o077 == 0
    assert len(json.loads(tokens.read_text())) >= 140
