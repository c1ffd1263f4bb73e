"""Signed webhooks against real local HTTP receivers (``http.server`` in threads) that check
the signature, on a real SQLite store with the real writer and hit store."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import pytest

from kruispunt.access.principals import Principal, Role
from kruispunt.audit import read_audit
from kruispunt.hits.models import Hit
from kruispunt.hits.store import HitStore
from kruispunt.hits.views import HitView
from kruispunt.hotlists.models import Category, Scope, ScopeKind
from kruispunt.live.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookDispatcher,
    WebhookForbidden,
    WebhookInvalid,
    WebhookNotFound,
    WebhookStore,
    backoff_delays,
    retryable,
    signature,
    verify_signature,
)
from kruispunt.store.sqlite import SqliteStore
from kruispunt.writer import Writer
from tests.test_live_hub import make_hit

ZONES = ("pz5364", "pz5352", "pz5369", "pz5355")
ADMIN = Principal(user_id="admin", zone_id="network", role=Role.ADMIN)
CHIEF_T = Principal(user_id="chief-t", zone_id="pz5364", role=Role.ZONE_CHIEF)
CHIEF_B = Principal(user_id="chief-b", zone_id="pz5352", role=Role.ZONE_CHIEF)
OPERATOR_T = Principal(user_id="op-t", zone_id="pz5364", role=Role.OPERATOR)
FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_attempts=4, timeout_s=2.0)


# -- a receiver -------------------------------------------------------------------------------
@dataclass
class Receiver:
    """A zone's system: checks each request's signature and records what it accepted.
    ``script`` gives the status of the next responses (then 200); ``hang_s`` stalls."""

    secret: str = ""
    script: list[int] = field(default_factory=list)
    hang_s: float = 0.0
    accepted: list[tuple[str, bytes]] = field(default_factory=list)  # (delivery id, body)
    requests: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests += 1
            if not verify_signature(self.secret, headers.get(SIGNATURE_HEADER, ""), body):
                self.bad_signatures += 1
                return 401
            status = self.script.pop(0) if self.script else 200
            if status == 200:
                self.accepted.append((headers[DELIVERY_HEADER], body))
            return status

    def views(self) -> list[HitView]:
        with self.lock:
            return [msgspec.json.decode(b, type=HitView) for _, b in self.accepted]

    def seqs(self) -> list[int]:
        return [v.seq for v in self.views()]


def serve(receiver: Receiver) -> Callable[[], None]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.hang_s:
                time.sleep(receiver.hang_s)
            status = receiver.handle(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/kruispunt"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop


@pytest.fixture
def receivers() -> Iterator[Callable[[], Receiver]]:
    stops: list[Callable[[], None]] = []

    def make() -> Receiver:
        r = Receiver()
        stops.append(serve(r))
        return r

    yield make
    for stop in stops:
        stop()


# -- a store ----------------------------------------------------------------------------------
@dataclass
class Parts:
    store: SqliteStore
    writer: Writer
    hits: HitStore
    webhooks: WebhookStore

    def add_hits(self, hits: list[Hit]) -> list[Hit]:
        def run(_s: object) -> list[Hit]:
            with self.store.transaction() as conn:
                return self.hits.insert(conn, hits)

        return self.writer.call(run).result()

    def dispatcher(self, **kw: object) -> WebhookDispatcher:
        options: dict[str, object] = {"retry": FAST, "poll_s": 0.05}
        options.update(kw)
        return WebhookDispatcher(self.webhooks, self.hits, ZONES, **options)  # type: ignore[arg-type]


def open_parts(path: Path) -> Parts:
    store = SqliteStore(path, synchronous="NORMAL")
    store.open()
    writer = Writer(store, max_pending_reads=1000, group_max_reads=100)
    writer.start()
    return Parts(store, writer, HitStore(store), WebhookStore(store, writer, zone_ids=ZONES))


def close_parts(parts: Parts) -> None:
    parts.writer.stop()
    parts.store.close()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    p = open_parts(tmp_path / "kp.sqlite")
    yield p
    close_parts(p)


@pytest.fixture
async def running(parts: Parts) -> AsyncIterator[WebhookDispatcher]:
    dispatcher = parts.dispatcher()
    await dispatcher.start()
    yield dispatcher
    await dispatcher.stop()


def hook_for(parts: Parts, receiver: Receiver, zone: str, actor: Principal = ADMIN) -> str:
    hook, secret = parts.webhooks.create(zone, receiver.url, actor=actor)
    receiver.secret = secret
    return hook.id


def network_hit(n: int, **kw: object) -> Hit:
    return make_hit(0, id=f"h-net-{n}", read_id=f"r{n}", **kw)


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        await asyncio.sleep(0.01)


# -- signing ----------------------------------------------------------------------------------
def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"id":"h-1"}'
    header = signature("s3cret", body, 1_700_000_000)
    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature("s3cret", header, body, now=1_700_000_010)
    assert not verify_signature("s3cret", header, body + b" ", now=1_700_000_010)
    assert not verify_signature("other", header, body, now=1_700_000_010)
    assert not verify_signature("s3cret", header, body, now=1_700_000_000 + 301)  # replayed
    assert not verify_signature("s3cret", "v1=abc", body)
    assert not verify_signature("s3cret", "t=x,v1=abc", body)
    forged = header.replace("t=1700000000", "t=1700000005")
    assert not verify_signature("s3cret", forged, body, now=1_700_000_010)


def test_backoff_doubles_up_to_the_cap_and_only_some_failures_are_retried() -> None:
    assert backoff_delays(1.0, 10.0, 6) == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert backoff_delays(1.0, 10.0, 1) == []
    assert [s for s in (200, 400, 401, 404, 408, 429, 500, 502, 503) if retryable(s)] == [
        408, 429, 500, 502, 503,
    ]  # fmt: skip


# -- the registry -----------------------------------------------------------------------------
def test_a_zone_chief_manages_the_zones_webhooks_and_every_change_is_audited(
    parts: Parts,
) -> None:
    hook, secret = parts.webhooks.create("pz5364", "https://rt.example/hook", actor=CHIEF_T)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert hook.zone_id == "pz5364" and hook.active
    assert parts.webhooks.all("pz5364") == [hook]
    assert parts.webhooks.all("pz5352") == []
    assert secret not in msgspec.json.encode(parts.webhooks.all()).decode()

    with pytest.raises(WebhookForbidden):
        parts.webhooks.create("pz5352", "https://x.example/", actor=CHIEF_T)
    with pytest.raises(WebhookForbidden):
        parts.webhooks.create("pz5364", "https://x.example/", actor=OPERATOR_T)
    with pytest.raises(WebhookForbidden):
        parts.webhooks.delete(hook.id, actor=CHIEF_B)
    for bad in ("ftp://x.example/", "/relative", "https://user:pw@x.example/", "http://"):
        with pytest.raises(WebhookInvalid):
            parts.webhooks.create("pz5364", bad, actor=ADMIN)
    with pytest.raises(WebhookInvalid):
        parts.webhooks.create("nowhere", "https://x.example/", actor=ADMIN)

    assert parts.webhooks.delete(hook.id, actor=ADMIN) == hook
    assert parts.webhooks.all() == []
    with pytest.raises(WebhookNotFound):
        parts.webhooks.delete(hook.id, actor=ADMIN)
    records = read_audit(parts.store.reader(), object_type="webhook", object_id=hook.id)
    assert [(r.action, r.actor) for r in records] == [
        ("webhook.create", "chief-t"),
        ("webhook.delete", "admin"),
    ]
    assert records[0].detail == {"zone_id": "pz5364", "host": "rt.example"}
    assert parts.store.cursors().get(f"webhook:{hook.id}") is None  # its cursor went too


# -- delivery ---------------------------------------------------------------------------------
async def test_each_zone_gets_the_hits_it_may_receive_signed(
    parts: Parts, running: WebhookDispatcher, receivers: Callable[[], Receiver]
) -> None:
    before = parts.add_hits([network_hit(0)])  # raised before the webhooks existed
    turnhout, brasschaat = receivers(), receivers()
    t_id = hook_for(parts, turnhout, "pz5364")
    n_id = hook_for(parts, brasschaat, "pz5352")
    own = Scope(kind=ScopeKind.OWN_ZONE)
    stored = parts.add_hits(
        [
            network_hit(1),
            network_hit(2, scope=own),  # Turnhout's own list
            network_hit(3, category=Category.INVESTIGATION),  # covert: the owner only
            network_hit(4, owner_zone_id="pz5352", scope=own),  # Brasschaat's own list
        ]
    )
    s1, s2, s3, s4 = (h.seq for h in stored)
    running.notify()
    await eventually(lambda: len(turnhout.accepted) == 3 and len(brasschaat.accepted) == 2)
    await asyncio.sleep(0.1)
    assert turnhout.seqs() == [s1, s2, s3]
    assert brasschaat.seqs() == [s1, s4]
    assert before[0].seq not in turnhout.seqs() + brasschaat.seqs()
    assert turnhout.bad_signatures == brasschaat.bad_signatures == 0
    view = brasschaat.views()[0]
    assert view.id == "h-net-1" and view.entry_id is None  # Brasschaat's view: no entry id
    assert turnhout.views()[0].entry_id == "e1"  # the owner's view
    assert turnhout.accepted[0][0] == f"{t_id}:{s1}"
    await eventually(lambda: parts.webhooks.cursor(n_id) == s4)
    assert parts.webhooks.cursor(t_id) == s4  # past Brasschaat's hit, which it skipped


async def test_a_failing_receiver_is_retried_with_backoff(
    parts: Parts, running: WebhookDispatcher, receivers: Callable[[], Receiver]
) -> None:
    flaky = receivers()
    flaky.script = [503, 500]
    hook_id = hook_for(parts, flaky, "pz5364")
    (hit,) = parts.add_hits([network_hit(1)])
    await eventually(lambda: hook_id in running.stats and running.stats[hook_id].delivered == 1)
    assert flaky.seqs() == [hit.seq]
    stats = running.stats[hook_id]
    assert (stats.delivered, stats.attempts, stats.given_up) == (1, 3, 0)
    assert flaky.requests == 3


async def test_a_hit_is_given_up_after_the_cap_and_the_next_one_goes_out(
    parts: Parts, running: WebhookDispatcher, receivers: Callable[[], Receiver]
) -> None:
    broken = receivers()
    broken.script = [500] * FAST.max_attempts + [404]
    hook_id = hook_for(parts, broken, "pz5364")
    _first, _second, third = parts.add_hits([network_hit(1), network_hit(2), network_hit(3)])
    await eventually(lambda: broken.seqs() == [third.seq])
    stats = running.stats[hook_id]
    assert stats.given_up == 2  # the first after every retry, the second at once (404)
    assert broken.requests == FAST.max_attempts + 2
    assert stats.last_error == "HTTP 404"
    await eventually(lambda: parts.webhooks.cursor(hook_id) == third.seq)


async def test_a_stalled_receiver_never_delays_another_zone(
    parts: Parts, receivers: Callable[[], Receiver]
) -> None:
    stalled, prompt = receivers(), receivers()
    stalled.hang_s = 3.0
    hook_for(parts, stalled, "pz5352")
    hook_for(parts, prompt, "pz5364")
    dispatcher = parts.dispatcher(retry=RetryPolicy(base_delay_s=5, max_attempts=3))
    await dispatcher.start()
    try:
        started = time.monotonic()
        hits = parts.add_hits([network_hit(i) for i in range(1, 6)])
        dispatcher.notify()
        await eventually(lambda: prompt.seqs() == [h.seq for h in hits], within=2.0)
        assert time.monotonic() - started < 1.0
        assert stalled.accepted == []
    finally:
        await dispatcher.stop()  # cancels the stalled delivery at once


async def test_a_restart_resumes_from_the_persisted_cursor(
    tmp_path: Path, receivers: Callable[[], Receiver]
) -> None:
    receiver = receivers()
    parts = open_parts(tmp_path / "kp.sqlite")
    hook_id = hook_for(parts, receiver, "pz5364")
    dispatcher = parts.dispatcher()
    await dispatcher.start()
    (one,) = parts.add_hits([network_hit(1)])
    await eventually(lambda: parts.webhooks.cursor(hook_id) == one.seq)
    await dispatcher.stop()
    two, three = parts.add_hits([network_hit(2), network_hit(3)])  # raised while down
    close_parts(parts)

    parts = open_parts(tmp_path / "kp.sqlite")
    dispatcher = parts.dispatcher()
    await dispatcher.start()
    try:
        await eventually(lambda: len(receiver.accepted) == 3)
        await asyncio.sleep(0.1)
        assert receiver.seqs() == [one.seq, two.seq, three.seq]  # each once
        assert [d for d, _ in receiver.accepted] == [
            f"{hook_id}:{s}" for s in (one.seq, two.seq, three.seq)
        ]
    finally:
        await dispatcher.stop()
        close_parts(parts)


async def test_webhooks_come_and_go_while_running(
    parts: Parts, running: WebhookDispatcher, receivers: Callable[[], Receiver]
) -> None:
    receiver = receivers()
    hook_id = hook_for(parts, receiver, "pz5364")
    (one,) = parts.add_hits([network_hit(1)])
    await eventually(lambda: receiver.seqs() == [one.seq])
    parts.webhooks.delete(hook_id, actor=ADMIN)
    await asyncio.sleep(0.1)
    parts.add_hits([network_hit(2)])
    running.notify()
    await asyncio.sleep(0.2)
    assert receiver.seqs() == [one.seq]  # deleted: nothing more
