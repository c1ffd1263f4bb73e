"""What the browser UI tests share: Debian's Chromium driven by Playwright, the real app
served by uvicorn from a thread, and a watch for script errors and requests that leave the
node.

Needs the ``playwright`` package (test extra) and Debian's ``/usr/bin/chromium``; the browser
Playwright would download is never used. Missing either: skipped locally, a failure in CI.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn

from kruispunt.api.app import create_app
from kruispunt.node import Node

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if missing:
        message = "browser UI test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@contextmanager
def serving(node: Node) -> Iterator[str]:
    """The app served by uvicorn from a thread on a free port: its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(node, manage_node=False), log_level="warning", ws="none", http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def base_url(node: Node) -> Iterator[str]:
    """A real uvicorn server on a free port, in a thread; the node is the fixture's."""
    with serving(node) as base:
        yield base


@contextmanager
def chromium(extra_args: Sequence[str] = ()) -> Iterator[Browser]:
    """Debian's Chromium, headless (skipped or failed first when it cannot run)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(
    base_url: str, *, width: int, height: int, extra_args: Sequence[str] = ()
) -> Iterator[Page]:
    """A page of its own Chromium, relative URLs against ``base_url``, 10 s time-outs."""
    with chromium(extra_args) as browser:
        p = browser.new_page(viewport={"width": width, "height": height}, base_url=base_url)
        p.set_default_timeout(10_000)
        yield p


def watch_for_problems(page: Page, base_url: str) -> list[str]:
    """Script errors, CSP violations (logged as console errors) and requests to other hosts."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith(base_url):
            problems.append(f"left the node: {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("request", on_request)
    return problems
