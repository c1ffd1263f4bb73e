"""The composition root: builds every part of a node from the config, starts and stops them
in order. Nothing else constructs stores, writers or processors."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable
from functools import partial

from kruispunt import audit, metrics
from kruispunt.access.approvals import ApprovalService
from kruispunt.access.authorisations import AuthorisationService
from kruispunt.access.credentials import LockoutPolicy
from kruispunt.access.grants import GrantService
from kruispunt.access.holds import LegalHoldService
from kruispunt.access.machines import MachineTokenService
from kruispunt.access.oidc import OidcService
from kruispunt.access.policy import PolicyGate
from kruispunt.access.sessions import SessionService
from kruispunt.access.users import UserService
from kruispunt.bus.events import NodeEvents
from kruispunt.bus.jetstream import JetStreamLog, PartitionWorker
from kruispunt.config import Config, sqlite_path
from kruispunt.domain.cameras import Camera
from kruispunt.domain.cameras import Purpose as CameraPurpose
from kruispunt.domain.zones import ZoneKind, network_zones
from kruispunt.enforcement.lez import load_rules
from kruispunt.enforcement.lez_processor import LezProcessor
from kruispunt.enforcement.permits import PermitService
from kruispunt.health.monitor import HealthMonitor
from kruispunt.hits.service import HitService
from kruispunt.hits.store import HitStore
from kruispunt.hotlists.index import HotlistIndex
from kruispunt.hotlists.service import HotlistService
from kruispunt.images.service import ImageService
from kruispunt.images.store import build_image_store
from kruispunt.ingest.mqtt import MqttIngest
from kruispunt.ingest.service import IngestService
from kruispunt.law.profiles import profile as law_profile
from kruispunt.live.hub import HitHub
from kruispunt.live.webhooks import WebhookDispatcher, WebhookStore
from kruispunt.pipeline import PartitionPipeline
from kruispunt.processors.base import Processor, ProcessorRunner
from kruispunt.processors.hotlist_matcher import HotlistMatcher
from kruispunt.processors.traffic_counts import PROCESSORS
from kruispunt.registries.service import build_registries
from kruispunt.registry import CameraRegistry
from kruispunt.retention import days_to_drop
from kruispunt.search.service import SearchService
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import SqliteStore
from kruispunt.tokens import hash_token, new_token
from kruispunt.writer import Writer

log = logging.getLogger(__name__)


def _drop(store: ReadStore, *, day: dt.date) -> int:
    return store.drop_segment(day)


def _keep(
    _store: ReadStore, *, holds: LegalHoldService, day: dt.date, at_us: int
) -> tuple[int, int]:
    return holds.keep_day(day, at_us=at_us)


def _midnight_us(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()) * 1_000_000


def _audit_signer(config: Config) -> audit.AuditSigner | None:
    if config.audit.signing_key_file is not None:
        return audit.AuditSigner.from_file(config.audit.signing_key_file)
    if os.environ.get("KRUISPUNT_AUDIT_SIGNING_KEY"):
        return audit.AuditSigner.from_env()
    return None


def _oidc_client_secret(config: Config) -> str | None:
    """The OIDC client secret: its file, else the environment, else none (a public client)."""
    if config.oidc.client_secret_file is not None:
        return config.oidc.client_secret_file.read_text("utf-8").strip()
    return os.environ.get("KRUISPUNT_OIDC_CLIENT_SECRET") or None


def _plate_key(config: Config, store: SqlStore) -> bytes:
    """The key of the audit log's plate tokens: the configured file, the environment, or a
    random key generated once and kept in the store's meta table (shared by every process)."""
    if config.audit.plate_key_file is not None:
        key = config.audit.plate_key_file.read_bytes().strip()
    elif os.environ.get("KRUISPUNT_AUDIT_PLATE_KEY"):
        key = bytes.fromhex(os.environ["KRUISPUNT_AUDIT_PLATE_KEY"])
    else:
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('audit_plate_key', ?) "
                "ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(32),),
            )
            row = conn.execute("SELECT value FROM meta WHERE key='audit_plate_key'").fetchone()
        key = bytes.fromhex(row[0])
    if len(key) < audit.MIN_PLATE_KEY_BYTES:
        raise ValueError(f"audit plate key: at least {audit.MIN_PLATE_KEY_BYTES} bytes")
    return key


def build_store(config: Config, *, writes_log: bool = True) -> SqlStore:
    """The store the config names: ``sqlite:`` (embedded default) or ``postgresql:``.
    ``writes_log`` False: a process that never appends reads (an administrator's command)."""
    url = config.store.url
    if url.startswith("sqlite:"):
        return SqliteStore(
            sqlite_path(url),
            synchronous=config.store.synchronous,
            busy_timeout_ms=config.store.busy_timeout_ms,
        )
    if url.startswith(("postgresql:", "postgres:")):
        from kruispunt.store.postgres import PgStore

        return PgStore(
            url,
            schema=config.store.pg_schema,
            pool_size=config.store.pool_size,
            numbered_by_log=config.bus.url is not None or not writes_log,
        )
    raise ValueError(
        f"store.url: no store for {url.split(':', 1)[0]!r} (supported: sqlite, postgresql)"
    )


ROLES = ("all", "api", "worker", "admin")
CATCH_UP_S = 30.0  # with several processes: re-read what others changed at least this often


class Node:
    """One node process.

    With the embedded log (no ``bus.url``) a node does everything: API, log, processors.
    With the distributed log a node has a role: ``api`` (HTTP and MQTT ingest publish to
    JetStream; hotlists, hits and users through the store), ``worker`` (archives partitions
    of the log into the store and runs the processors on them), or ``all`` (both).

    ``admin``, with either log: a short-lived process of an administrator's command (users,
    cameras, hotlists): it takes no reads, runs no processors and takes no partition, so it
    may run beside the node processes (changes still reach them)."""

    def __init__(self, config: Config, *, role: str = "all"):
        if role not in ROLES:
            raise ValueError(f"role: one of {ROLES}, not {role!r}")
        if role in ("api", "worker") and config.bus.url is None:
            raise ValueError(f"role {role!r} needs the distributed log (bus.url)")
        self.config = config
        self.role = role
        self.zones = network_zones()
        self.store = build_store(config, writes_log=role != "admin")
        self.registry = CameraRegistry(z.id for z in self.zones)
        self.writer = Writer(
            self.store,
            max_pending_reads=config.ingest.max_pending_reads,
            group_max_reads=config.ingest.group_commit_max_reads,
            tail_reads=config.processors.tail_reads,
        )
        self.bus_log: JetStreamLog | None = None
        if config.bus.url is not None:
            self.bus_log = JetStreamLog(
                config.bus, max_pending_reads=config.ingest.max_pending_reads
            )
        self.ingest = IngestService(self.registry, self.bus_log or self.writer, config.ingest)
        zone_ids = {z.id for z in self.zones}
        self.network_zone_ids = {z.id for z in self.zones if z.kind is not ZoneKind.PARTNER}
        self.plate_tokens = audit.PlateTokens()  # keyed when the store opens (start)
        self.users = UserService(self.store, self.writer, zone_ids=zone_ids)
        self.grants = GrantService(
            self.store, self.writer, zone_ids=self.network_zone_ids, cameras=self.registry
        )
        self.sessions = SessionService(
            self.store, self.writer,
            idle_timeout_s=config.access.session_idle_s,
            absolute_timeout_s=config.access.session_max_s,
            policy=LockoutPolicy(config.access.lockout_failures, config.access.lockout_s),
        )  # fmt: skip
        self.machines = MachineTokenService(
            self.store, self.writer, zone_ids=zone_ids | set(config.hotlists.partner_ids),
            max_days=config.access.machine_token_max_days,
        )  # fmt: skip
        self.oidc: OidcService | None = None
        if config.oidc.enabled:
            self.oidc = OidcService(
                config.oidc, store=self.store, writer=self.writer, users=self.users,
                sessions=self.sessions, zone_ids=zone_ids,
                client_secret=_oidc_client_secret(config),
            )  # fmt: skip
        self.audit_signer = _audit_signer(config)
        self.law = law_profile(config.law.profile)
        self.authorisations = AuthorisationService(
            self.store, self.writer, profile=self.law, zone_ids=self.network_zone_ids,
            max_days=config.access.authorisation_max_days, clock=self.grants.now,
            cameras=self.registry, plate_tokens=self.plate_tokens,
        )  # fmt: skip
        self.approvals = ApprovalService(
            self.store, self.writer, profile=self.law,
            valid_hours=config.access.approval_valid_hours, clock=self.grants.now,
            plate_tokens=self.plate_tokens,
        )  # fmt: skip
        self.policy = PolicyGate(
            self.law, zones=self.grants, authorisations=self.authorisations,
            approvals=self.approvals, plate_tokens=self.plate_tokens, clock=self.grants.now,
        )  # fmt: skip
        self.holds = LegalHoldService(
            self.store, self.writer, zone_ids=self.network_zone_ids, profile=self.law,
            max_days=config.holds.max_days, clock=self.grants.now,
            plate_tokens=self.plate_tokens, cameras=self.registry,
        )  # fmt: skip
        self.images = ImageService(
            self.store, self.writer, build_image_store(config), cameras=self.registry,
            policy=self.policy, zones=self.grants, holds=self.holds, profile=self.law,
            max_bytes=config.images.max_bytes,
            max_future_us=config.ingest.max_future_skew_s * 1_000_000, clock=self.grants.now,
        )  # fmt: skip
        self.search = SearchService(
            store=self.store, writer=self.writer, policy=self.policy, cameras=self.registry,
            config=config.search, images=self.images,
        )  # fmt: skip
        self.index = HotlistIndex()
        self.hotlists = HotlistService(
            self.store, self.writer, self.index, zone_ids,
            max_expiry_days=config.hotlists.max_expiry_days,
            partner_ids=config.hotlists.partner_ids, plate_tokens=self.plate_tokens,
        )  # fmt: skip
        self.hit_store = HitStore(self.store)
        # Vehicle, insurance and licence registers and the cross-border route, cached and
        # audited (kruispunt.registries.service).
        self.registries = build_registries(
            config.registries, writer=self.writer, tokens=self.plate_tokens
        )
        self.hits = HitService(
            store=self.store, writer=self.writer, hit_store=self.hit_store,
            hotlists=self.hotlists, network_zone_ids=self.network_zone_ids,
            retro_max_days=config.hits.retro_max_days,
            late_after_us=config.hits.late_after_s * 1_000_000,
            trail_window_us=config.hits.trail_window_s * 1_000_000,
            policy=self.policy, plate_tokens=self.plate_tokens,
        )  # fmt: skip
        self.hub = HitHub(
            self.hit_store, self.network_zone_ids, queue_size=config.hits.subscriber_queue
        )
        self.webhooks = WebhookStore(self.store, self.writer, zone_ids=zone_ids)
        self.webhook_dispatcher = WebhookDispatcher(
            self.webhooks, self.hit_store, self.network_zone_ids
        )
        self.hotlists.on_entry_added.append(self.hits.on_entry_added)
        self.hits.on_hits.append(self.hub.publish)
        self.hits.on_hits.append(lambda _hits: self.webhook_dispatcher.notify())
        self.hits.on_update.append(self.hub.publish_update)
        # Camera health: alarms go the hits' way (hub, webhooks) to the manager's zone.
        self.health = HealthMonitor(
            store=self.store, writer=self.writer, registry=self.registry, zones=self.zones,
            config=config.health,
        )  # fmt: skip
        self.health.on_events.append(self.hub.publish_alarms)
        self.health.on_events.append(lambda _events: self.webhook_dispatcher.notify_alarms())
        self.lez_rules = load_rules(config.lez.rules_file)
        self.lez_permits = PermitService(
            self.store, self.writer, rules=self.lez_rules,
            zone_id=config.enforcement.lez_zone_id, clock=self.grants.now,
            plate_tokens=self.plate_tokens,
        )  # fmt: skip
        self.runners: list[ProcessorRunner] = []
        self.pipeline: PartitionPipeline | None = None
        self.partition_worker: PartitionWorker | None = None
        self.events: NodeEvents | None = None
        if config.bus.url is not None:
            self._wire_bus(config)
        for key in config.processors.enabled if self.bus_log is None and role != "admin" else ():
            self.runners.append(
                ProcessorRunner(
                    self._processor(key),
                    store=self.store,
                    writer=self.writer,
                    batch_reads=config.processors.batch_reads,
                    idle_sleep_s=config.processors.idle_sleep_s,
                )
            )
        for runner in self.runners:
            self.writer.on_commit.append(runner.wake)
        self._retention_stop = threading.Event()
        self._retention_thread: threading.Thread | None = None
        self.mqtt: MqttIngest | None = None
        self.started = False

    def _wire_bus(self, config: Config) -> None:
        """Several processes: the log's partitions go to workers, and what one process
        changes in memory (hits to push, hotlists, users, cameras) reaches the others."""
        assert config.bus.url is not None
        self.events = NodeEvents(
            config.bus.url, self, subject=f"{config.bus.subject_prefix}-events"
        )
        self.hits.on_hits.append(self.events.hits)
        self.hits.on_update.append(self.events.hit_update)
        self.hotlists.on_change.append(self.events.hotlist)
        self.users.on_change.append(self.events.users)
        if self.role in ("all", "worker"):
            self.pipeline = PartitionPipeline(
                self.writer,
                lambda: [self._processor(key) for key in config.processors.enabled],
            )
            self.partition_worker = PartitionWorker(
                config.bus, group="kruispunt", handler=self.pipeline.handle,
                on_release=self.pipeline.forget,
            )  # fmt: skip

    def _for_police(self, camera_id: str) -> bool:
        """Whether a camera's reads may serve the police (its registered purposes)."""
        camera = self.registry.get(camera_id)
        return camera is None or CameraPurpose.POLICE in camera.purposes

    def _processor(self, key: str) -> Processor:
        if key == HotlistMatcher.type_key:
            return HotlistMatcher(
                self.index, self.hotlists, self.hit_store, self.hits.publish,
                late_after_us=self.config.hits.late_after_s * 1_000_000,
                cursor_flush_s=self.config.hits.cursor_flush_s, for_police=self._for_police,
            )  # fmt: skip
        if key == "section_control":
            from kruispunt.enforcement.section_control import build_section_control

            return build_section_control(
                self.config.sections, cameras=self.registry, store=self.store,
                partitions=self.config.bus.partitions if self.config.bus.url else None,
            )  # fmt: skip
        if key == LezProcessor.type_key:
            return self._lez_processor()
        if key == "registry_checks":
            from kruispunt.processors.registry_checks import RegistryChecks

            return RegistryChecks(
                registries=self.registries, cameras=self.registry, hotlists=self.hotlists,
                hit_store=self.hit_store, on_hits=self.hits.publish,
                settings=self.config.registries.checks, zone_ids=self.network_zone_ids,
                late_after_us=self.config.hits.late_after_s * 1_000_000,
            )  # fmt: skip
        if key not in PROCESSORS:
            known = sorted([*PROCESSORS, HotlistMatcher.type_key, "section_control", "lez",
                            "registry_checks"])  # fmt: skip
            raise ValueError(f"processors.enabled: unknown processor {key!r} (known: {known})")
        return PROCESSORS[key]()

    def _lez_processor(self) -> LezProcessor:
        registries = self.registries.for_purpose("lez")  # audited as the LEZ's look-ups
        return LezProcessor(
            rules=self.lez_rules, config=self.config.lez,
            zone_id=self.config.enforcement.lez_zone_id, cameras=self.registry,
            vehicles=registries.vehicles, cross_border=registries.cross_border,
            permits=self.lez_permits, clock=self.grants.now,
        )  # fmt: skip

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.store.open()
        self.plate_tokens.key = _plate_key(self.config, self.store)
        self.users.load()
        self.hotlists.load()
        self.registry.load(self.store.cameras())
        # The hotlist index can hold millions of long-lived objects: move them out of the
        # cyclic collector's sight, or every full collection would stall hits for 100+ ms.
        gc.collect()
        gc.freeze()
        self.writer.start()
        self.registries.start()  # the look-up audit's batches go through the writer
        if self.config.cameras.file is not None:
            from kruispunt.camera_files import load_cameras

            self.upsert_cameras(load_cameras(self.config.cameras.file))
        for runner in self.runners:
            runner.start()
        if self.config.health.enabled and self.bus_log is None and self.role == "all":
            self.health.start()  # it follows the writer's tail: the embedded log only
        if self.events is not None:
            self.events.start()
        if self.bus_log is not None and self.role in ("all", "api"):
            self.bus_log.start()
        if self.partition_worker is not None:
            self.partition_worker.start()
        if self.role != "admin":
            self._retention_thread = threading.Thread(
                target=self._retention_loop, name="retention", daemon=True
            )
            self._retention_thread.start()
        self.started = True
        if self.config.mqtt.url is not None and self.role in ("all", "api"):
            # Last: cameras publishing over MQTT need the writer and the registry.
            self.mqtt = MqttIngest(self.ingest, None, self.config.mqtt, images=self.images)
            try:
                self.mqtt.start()
            except Exception:
                self.mqtt = None
                self.stop()
                raise
        log.info(
            "node started: %d cameras, log at seq %d", len(self.registry), self.store.last_seq()
        )

    def stop(self) -> None:
        """Stop taking work, drain the writer, stop processors, close the store."""
        if not self.started:
            return
        if self.mqtt is not None:  # first: its batches in flight still commit and get acked
            self.mqtt.stop()
            self.mqtt = None
        if self.bus_log is not None:
            self.bus_log.stop()  # no new reads; those published are JetStream's now
        if self.partition_worker is not None:
            self.partition_worker.stop()  # finishes its batch; its partitions move at once
        self._retention_stop.set()
        if self._retention_thread is not None:
            self._retention_thread.join()
        for runner in self.runners:
            runner.stop()
        self.health.stop()
        if self.events is not None:
            self.events.stop()
        self.registries.stop()  # writes its queued look-up audit records: before the writer
        self.writer.stop()
        self.store.close()
        self.started = False

    def update_metrics(self) -> None:
        """Gauges read at scrape time (a worker's partitions and their lag)."""
        if self.partition_worker is not None:
            owned = self.partition_worker.owned()
            metrics.PARTITIONS_OWNED.set(len(owned))
            for partition, lag in self.partition_worker.stats.lag.items():
                metrics.PARTITION_LAG.labels(str(partition)).set(lag if partition in owned else 0)

    # -- cameras ----------------------------------------------------------------------------
    def upsert_cameras(self, cameras: Iterable[Camera]) -> None:
        for camera in cameras:
            self.save_camera(camera)

    def save_camera(self, camera: Camera) -> None:
        self.registry.check(camera)
        self.writer.call(lambda s: s.upsert_camera(camera, None)).result()
        self.registry.put(camera, None)
        self._cameras_changed()

    def _cameras_changed(self) -> None:
        if self.events is not None:
            self.events.cameras()

    def issue_token(self, camera_id: str) -> str:
        """A new token for a camera; the old one stops working at once."""
        token = new_token()
        digest = hash_token(token)
        if not self.writer.call(lambda s: s.set_token_hash(camera_id, digest)).result():
            raise KeyError(camera_id)
        camera = self.registry.get(camera_id)
        if camera is not None:
            self.registry.put(camera, digest)
        self._cameras_changed()
        return token

    def delete_camera(self, camera_id: str) -> bool:
        deleted = self.writer.call(lambda s: s.delete_camera(camera_id)).result()
        self.registry.remove(camera_id)
        self._cameras_changed()
        return deleted

    # -- retention --------------------------------------------------------------------------
    @property
    def reads_keep_days(self) -> int:
        """The shorter of the configured retention and the jurisdiction's limit."""
        return min(self.config.retention.reads_days, self.law.reads_max_days)

    def enforce_retention(self, today: dt.date | None = None) -> int:
        """One purge run: copy what legal holds keep of the days past the limit, drop those
        days, delete the hits (which carry plates) raised before the limit and the images
        past their own life, expire the holds that are due. Audited as one record per run
        that changed anything; returns the number of reads dropped. ``today``: the run's
        date (its midnight is the run's moment); default: now."""
        at = self.grants.now() if today is None else _midnight_us(today)
        today = today or dt.datetime.now(dt.UTC).date()
        keep = self.reads_keep_days
        days = days_to_drop([s.day for s in self.store.segments()], today=today, keep_days=keep)
        dropped = copied = held = 0
        for day in days:
            # Before the drop, in its own commit: a crash in between loses no held read.
            new, kept = self.writer.call(
                partial(_keep, holds=self.holds, day=day, at_us=at)
            ).result()
            copied += new
            held += kept
            dropped += self.writer.call(partial(_drop, day=day)).result()
            log.info("retention: dropped reads of %s", day)
        cutoff_us = _midnight_us(today - dt.timedelta(days=keep))
        hits = self.writer.call(lambda s: self._purge_hits(s, cutoff_us)).result()
        images = self.images.purge(at)
        expired = self.holds.expire_due(at)
        if dropped or hits or images.deleted or images.days_removed or expired:
            detail = {
                "days": [d.isoformat() for d in days], "reads": dropped, "hits": hits,
                "images": images.deleted, "image_days": images.days_removed,
                "images_kept_for_cases": images.kept_for_case,
                "images_kept_for_holds": images.kept_for_hold, "held_reads_kept": held,
                "held_reads_copied": copied, "holds_expired": len(expired), "keep_days": keep,
            }  # fmt: skip

            def record(store: ReadStore) -> None:
                assert isinstance(store, SqlStore)
                with store.transaction() as conn:
                    audit.write_audit(
                        conn, actor="system", actor_zone=None, action="retention.purge",
                        object_type="retention", object_id=self.law.key, detail=detail,
                    )  # fmt: skip

            self.writer.call(record).result()
        return dropped

    @staticmethod
    def _purge_hits(store: ReadStore, cutoff_us: int) -> int:
        assert isinstance(store, SqlStore)
        with store.transaction() as conn:
            conn.execute(
                "DELETE FROM hit_events WHERE hit_id IN (SELECT id FROM hits WHERE created_us < ?)",
                (cutoff_us,),
            )
            return int(conn.execute("DELETE FROM hits WHERE created_us < ?", (cutoff_us,)).rowcount)

    def _retention_loop(self) -> None:
        last_retention = 0.0
        while not self._retention_stop.is_set():
            now = time.monotonic()
            if now - last_retention >= self.config.retention.check_interval_s:
                last_retention = now
                try:
                    self.enforce_retention()
                except Exception:
                    log.exception("retention run failed; will retry")
            try:
                # Expired entries already stop matching (checked per read); this frees them.
                self.hotlists.expire_due()
            except Exception:
                log.exception("hotlist expiry failed; will retry")
            if self.events is not None:
                self._catch_up()
            self._housekeeping()
            self._retention_stop.wait(min(CATCH_UP_S, self.config.retention.check_interval_s))

    def _housekeeping(self) -> None:
        """Idle sessions out; a signed audit checkpoint when one is due."""
        try:
            self.sessions.expire_idle()
            self.grants.expire_due()
            self.holds.expire_due()
        except Exception:
            log.exception("session, grant or legal hold expiry failed; will retry")
        signer = self.audit_signer
        if signer is None:
            return
        cfg = self.config.audit

        def sign(store: ReadStore) -> None:
            assert isinstance(store, SqlStore)
            with store.transaction() as conn:
                if audit.checkpoint_due(
                    conn, every_records=cfg.checkpoint_every_records, every_s=cfg.checkpoint_every_s
                ):
                    audit.checkpoint(conn, signer)

        try:
            self.writer.call(sign).result()
        except Exception:
            log.exception("audit checkpoint failed; will retry")

    def _catch_up(self) -> None:
        """Several processes: the broadcast is fire-and-forget (a process that was cut off
        from NATS missed some). Read back what changed since the last look, so that a
        missed event costs at most one period, never a wrong index for good."""
        try:
            self.hotlists.catch_up()
            self.users.load()
            self.registry.replace(self.store.cameras())
        except Exception:
            log.exception("catch-up with the other node processes failed; will retry")
