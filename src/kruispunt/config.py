"""One strict configuration tree, loaded once at start and passed down.

Sources, later ones winning: defaults, a TOML/JSON file, then environment variables
(``KRUISPUNT_DATABASE_URL``, ``KRUISPUNT_ADMIN_TOKEN``, ...). Unknown keys are errors.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kruispunt.health.settings import HealthMonitorConfig
from kruispunt.registries.settings import RegistriesConfig

# Defined with the registries' settings (which this module imports); offered here as well.
from kruispunt.registries.settings import Strict as Strict
from kruispunt.registries.settings import TimeZone as TimeZone


class StoreConfig(Strict):
    url: str = Field(
        "sqlite:///var/kruispunt.sqlite",
        description="Where reads live: sqlite:///relative/path, sqlite:////absolute/path, or "
        "postgresql://user@host:5432/database (env KRUISPUNT_DATABASE_URL).",
    )
    pg_schema: str = Field(
        "kruispunt",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL: the schema that holds Kruispunt's tables.",
    )
    pool_size: int = Field(8, ge=1, le=200, description="PostgreSQL: reader connections.")
    synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite fsync policy. FULL survives power loss of acknowledged reads; "
        "NORMAL survives a process crash only.",
    )
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000)


class IngestConfig(Strict):
    max_batch_reads: int = Field(5000, ge=1, le=100_000, description="Reads per HTTP batch.")
    max_body_bytes: int = Field(4_000_000, ge=1024, le=64_000_000)
    max_pending_reads: int = Field(
        100_000,
        ge=100,
        le=10_000_000,
        description="Reads accepted but not yet committed. Above this the node answers 429.",
    )
    max_inflight_bytes: int = Field(
        64_000_000,
        ge=1024,
        le=4_000_000_000,
        description="Request bodies being read or processed at once. Above this: 429.",
    )
    retry_after_s: int = Field(1, ge=1, le=300)
    max_future_skew_s: int = Field(
        300, ge=0, le=86_400, description="How far ahead of the node's clock a capture may be."
    )
    max_age_days: int = Field(
        7, ge=0, le=366, description="Oldest capture accepted (back-fill after an outage)."
    )
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    group_commit_max_reads: int = Field(
        20_000, ge=1, le=1_000_000, description="Most reads committed in one transaction."
    )


class ProcessorsConfig(Strict):
    @field_validator("enabled")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("a processor may be enabled once (two would share one cursor)")
        return value

    enabled: tuple[str, ...] = Field(
        ("traffic_counts", "hotlist_matcher"), description="Processor type keys."
    )
    batch_reads: int = Field(5000, ge=1, le=1_000_000)
    idle_sleep_s: float = Field(0.2, gt=0, le=60)
    tail_reads: int = Field(
        50_000,
        ge=0,
        le=10_000_000,
        description="Newest reads kept in memory so live processors need not read them back.",
    )


class RetentionConfig(Strict):
    reads_days: int = Field(
        365,
        ge=1,
        le=3660,
        description="Reads older than this are deleted (Belgium: at most 12 months).",
    )
    check_interval_s: float = Field(3600.0, gt=0)


class ServerConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    limit_concurrency: int = Field(
        1000, ge=1, le=100_000, description="Open connections; above this uvicorn answers 503."
    )
    admin_token: str | None = Field(
        None, description="Bearer token for camera registry changes (env KRUISPUNT_ADMIN_TOKEN)."
    )


class HotlistsConfig(Strict):
    partner_ids: tuple[str, ...] = Field(
        (), description="Partner networks that may own lists and be named in a partners scope."
    )
    max_expiry_days: int = Field(
        366, ge=1, le=3660, description="How far ahead an entry's weed date may lie."
    )


class HitsConfig(Strict):
    late_after_s: int = Field(
        600, ge=0, le=86_400 * 7, description="A read this much after its capture hits 'late'."
    )
    retro_max_days: int = Field(
        30, ge=0, le=365, description="Longest look-back of a retroactive hotlist search."
    )
    trail_window_s: int = Field(
        900, ge=60, le=3600, description="A pursuit trail shows this much before the hit."
    )
    cursor_flush_s: float = Field(
        0.5,
        ge=0,
        le=60,
        description="The matcher records its progress at most this often when nothing hit "
        "(a crash re-matches at most this much of the log; hits are never doubled).",
    )
    subscriber_queue: int = Field(
        1000, ge=10, le=1_000_000, description="Live hits buffered per subscriber."
    )


class BusConfig(Strict):
    url: str | None = Field(
        None,
        description="Distributed log: nats://host:port (NATS JetStream). Unset: the embedded "
        "log in the store (one node process). Env KRUISPUNT_BUS_URL.",
    )
    stream: str = Field("KRUISPUNT_READS", pattern=r"^[A-Za-z0-9_-]+$")
    subject_prefix: str = Field("kruispunt.reads", pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    partitions: int = Field(
        16,
        ge=1,
        le=1024,
        description="Subjects the reads are spread over by a hash of the plate: one vehicle's "
        "reads stay in one partition, handled by one worker at a time. Fixed once a stream "
        "holds reads.",
    )
    replicas: int = Field(1, ge=1, le=5, description="JetStream replicas of the stream.")
    max_age_days: int = Field(
        7,
        ge=1,
        le=366,
        description="How long the stream keeps reads (the store keeps them "
        "for retention.reads_days).",
    )
    duplicate_window_s: int = Field(
        600,
        ge=1,
        le=86_400,
        description="JetStream drops a resent batch within this window; later resends are "
        "caught by the store's unique (camera, read id).",
    )
    lease_ttl_s: float = Field(
        10.0, ge=1.0, le=300.0, description="A dead worker's partitions move after this."
    )
    fetch_batch: int = Field(2000, ge=1, le=100_000, description="Messages per fetch.")


class MqttConfig(Strict):
    url: str | None = Field(
        None,
        description="mqtt://host:port of the broker cameras publish to (env "
        "KRUISPUNT_MQTT_URL). Unset: no MQTT ingestion.",
    )
    topic_prefix: str = Field("kruispunt", pattern=r"^[A-Za-z0-9_/-]+$")
    client_id: str = Field("kruispunt-node", min_length=1, max_length=64)
    username: str | None = None
    password: str | None = None


class LawConfig(Strict):
    profile: str = Field(
        "BE",
        description="Jurisdiction profile (kruispunt/data/jurisdictions.toml): BE, NL or UK. "
        "Its limits win over any longer retention configured here.",
    )

    @field_validator("profile")
    @classmethod
    def _known(cls, value: str) -> str:
        from kruispunt.law.profiles import ProfileError, profile

        try:
            return profile(value).key
        except ProfileError as exc:
            raise ValueError(str(exc)) from None


class AccessConfig(Strict):
    session_idle_s: int = Field(
        900, ge=60, le=86_400, description="A signed-in session ends after this long unused."
    )
    session_max_s: int = Field(
        43_200, ge=300, le=7 * 86_400, description="A session ends this long after sign-in."
    )
    lockout_failures: int = Field(5, ge=1, le=100, description="Failed sign-ins before a lock.")
    lockout_s: int = Field(600, ge=1, le=86_400, description="How long an account stays locked.")
    authorisation_max_days: int = Field(
        365,
        ge=1,
        le=3650,
        description="Longest validity of a recorded prosecutor's or senior officer's "
        "authorisation.",
    )
    approval_valid_hours: int = Field(
        24,
        ge=1,
        le=14 * 24,
        description="A supervisor's approval of a wide search holds this long from approval "
        "(and a request waits this long for a decision).",
    )
    machine_token_max_days: int = Field(
        365,
        ge=1,
        le=3660,
        description="Longest validity of a machine's API token (partner node, dashboard, "
        "back-office system); each one must be given an expiry within it.",
    )


class OidcConfig(Strict):
    """Sign-in through an OpenID Connect identity provider (authorization code flow, PKCE).
    Off by default; the reference setup signs in with local accounts only."""

    enabled: bool = Field(False, description="Offer sign-in through the identity provider.")
    issuer: str | None = Field(
        None,
        description="The provider's issuer URL, exactly as its discovery document and its ID "
        "tokens state it (https; http only for localhost).",
    )
    client_id: str | None = Field(None, max_length=256, description="This node's client id.")
    client_secret_file: Path | None = Field(
        None,
        description="File holding the client secret (confidential client). Unset: env "
        "KRUISPUNT_OIDC_CLIENT_SECRET, else a public client (PKCE only).",
    )
    redirect_uri: str | None = Field(
        None,
        description="This node's callback, as registered at the provider: "
        "https://<node>/api/v1/auth/oidc/callback.",
    )
    scopes: tuple[str, ...] = Field(
        ("openid", "profile"), description="Scopes asked for; must include openid."
    )
    mode: Literal["link", "claims"] = Field(
        "link",
        description="link: only identities an admin linked to an existing user may sign in. "
        "claims: the provider's groups give role and zone (a user is created on first sign-in "
        "and follows the groups at each sign-in).",
    )
    groups_claim: str = Field("groups", min_length=1, description="claims mode: the claim.")
    role_groups: dict[str, str] = Field(
        {}, description="claims mode: provider group -> role (exactly one must match)."
    )
    zone_groups: dict[str, str] = Field(
        {}, description="claims mode: provider group -> zone id (exactly one must match)."
    )
    name_claim: str = Field("name", min_length=1, description="claims mode: display name.")
    flow_ttl_s: int = Field(
        600, ge=60, le=3600, description="How long a started sign-in may take at the provider."
    )
    leeway_s: int = Field(60, ge=0, le=300, description="Clock skew allowed on token times.")
    max_token_age_s: int = Field(
        600, ge=60, le=86_400, description="An ID token issued longer ago than this is refused."
    )
    metadata_cache_s: int = Field(
        3600, ge=60, le=86_400, description="How long discovery and keys are kept."
    )
    http_timeout_s: float = Field(10.0, gt=0, le=120, description="Calls to the provider.")

    @field_validator("issuer", "redirect_uri")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from urllib.parse import urlsplit

        url = urlsplit(value)
        local = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and local):
            raise ValueError("must be an https URL (http only for localhost)")
        return value

    @field_validator("role_groups")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        from kruispunt.access.principals import Role

        unknown = sorted(v for v in value.values() if v not in set(Role))
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; one of {[r.value for r in Role]}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> OidcConfig:
        if not self.enabled:
            return self
        missing = [k for k in ("issuer", "client_id", "redirect_uri") if not getattr(self, k)]
        if missing:
            raise ValueError(f"enabled: also set {', '.join(missing)}")
        if "openid" not in self.scopes:
            raise ValueError("scopes: must include openid")
        if self.mode == "claims" and not (self.role_groups and self.zone_groups):
            raise ValueError("mode claims: set role_groups and zone_groups")
        return self


class AuditConfig(Strict):
    signing_key_file: Path | None = Field(
        None,
        description="Ed25519 key that signs audit checkpoints (kruispunt audit keygen). Unset: "
        "env KRUISPUNT_AUDIT_SIGNING_KEY, else no checkpoints (the chain still holds).",
    )
    plate_key_file: Path | None = Field(
        None,
        description="Secret key (at least 16 bytes) of the plate tokens in the audit log. Unset: "
        "env KRUISPUNT_AUDIT_PLATE_KEY (hex), else a key generated once and kept in the store. "
        "Set it in production, so a copy of the database alone cannot test plates against "
        "the audit log.",
    )
    checkpoint_every_records: int = Field(1000, ge=1, le=10_000_000)
    checkpoint_every_s: int = Field(3600, ge=10, le=86_400 * 7)


class CamerasConfig(Strict):
    file: Path | None = Field(
        None, description="GeoJSON or CSV camera registry loaded (upserted) at start."
    )


class ImagesConfig(Strict):
    """Camera images (``kruispunt.images``): where the files live and how big one may be."""

    store: Literal["filesystem", "memory"] = Field(
        "filesystem",
        description="Image store type: filesystem (one folder per capture day) or memory "
        "(tests and the demo: nothing survives a restart).",
    )
    directory: Path | None = Field(
        None,
        description="Folder of the image files. Unset: 'images' beside the SQLite database "
        "(var/images with PostgreSQL).",
    )
    max_bytes: int = Field(
        5_000_000, ge=1024, le=64_000_000, description="Largest image accepted (bytes)."
    )
    fsync: bool = Field(True, description="fsync each image file before it is acknowledged.")


class HoldsConfig(Strict):
    max_days: int = Field(
        1096,
        ge=1,
        le=3660,
        description="Longest life of a legal hold (from its creation to its expiry).",
    )


class OversightConfig(Strict):
    """Transparency and abuse reports (``kruispunt.oversight``): periods and thresholds."""

    timezone: TimeZone = Field(
        "Europe/Brussels",
        description="Local time of the reports: dates, active days and the night hours.",
    )
    default_days: int = Field(30, ge=1, le=400, description="A report's period when none given.")
    max_period_days: int = Field(400, ge=1, le=3660, description="Longest period of one report.")
    rate_k: float = Field(
        3.5,
        gt=0,
        le=100,
        description="Outlying rate: above the peers' median + k × MAD (MAD scaled to a "
        "standard deviation) of consultations per active day.",
    )
    rate_floor_per_day: float = Field(
        25.0, ge=0, description="Outlying rate: never flag below this many per active day."
    )
    rate_min_ratio: float = Field(
        2.0, ge=1, le=100, description="Outlying rate: and at least this times the median."
    )
    rate_min_consultations: int = Field(
        10, ge=1, description="Outlying rate: users with fewer in the period are not compared."
    )
    rate_min_peers: int = Field(
        5,
        ge=2,
        le=1000,
        description="Peers are the users of the same role; with fewer than this, all users.",
    )
    night_start_hour: int = Field(22, ge=0, le=23, description="Off hours begin (local).")
    night_end_hour: int = Field(6, ge=0, le=23, description="Off hours end (local).")
    night_window_min: int = Field(60, ge=5, le=720, description="Off-hours bulk: the window.")
    night_bulk_min: int = Field(
        20, ge=2, description="Off-hours bulk: consultations by one user in one window."
    )
    wildcard_min_known: int = Field(
        4, ge=0, le=16, description="Wide wildcard: a pattern with fewer known characters."
    )
    wildcard_max_wildcards: int = Field(
        3, ge=1, le=16, description="Wide wildcard: a pattern with this many wildcards or more."
    )
    single_case_min: int = Field(
        5, ge=1, description="Single-use cases: at least this many of a user's consultations."
    )
    single_case_share: float = Field(
        0.5, gt=0, le=1, description="Single-use cases: and at least this share of them."
    )
    case_context_days: int = Field(
        30,
        ge=0,
        le=400,
        description="Single-use cases: uses of a case are counted this far around the period.",
    )
    evidence_max: int = Field(200, ge=1, le=10_000, description="Audit seqs listed per flag.")


class SearchConfig(Strict):
    """Investigation searches (``kruispunt.search``): the node's own caps on what one query
    may cost, whatever the policy layer allows (too broad: 422, nothing returned)."""

    max_scan_rows: int = Field(
        2_000_000, ge=1000, le=100_000_000, description="Reads one search may visit at most."
    )
    max_days: int = Field(
        400, ge=1, le=4000, description="Day tables (capture days) one search may read."
    )
    timeout_ms: int = Field(
        10_000, ge=100, le=600_000, description="Time one search may take before it is stopped."
    )
    max_page: int = Field(1000, ge=1, le=10_000, description="Reads per page at most.")
    max_area_km2: float = Field(
        50.0, gt=0, le=10_000, description="Largest drawn area of a place-and-time search."
    )
    place_time_list_max: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Place and time: vehicles listed only when there are at most this many "
        "(the counts come first, always).",
    )
    export_max_reads: int = Field(
        10_000, ge=1, le=1_000_000, description="Reads in one CSV or GeoJSON export."
    )
    evidence_max_reads: int = Field(
        200, ge=1, le=10_000, description="Reads in one evidence package."
    )


class EnforcementConfig(Strict):
    """Offence records (``kruispunt.enforcement``): who reads the LEZ's, what one answer holds."""

    lez_zone_id: str = Field(
        "pz5345",
        min_length=1,
        max_length=64,
        description="The zone whose traffic officers and zone chief handle the LEZ's offences "
        "(the city's business; the Antwerp city zone).",
    )
    list_max: int = Field(1000, ge=1, le=10_000, description="Offences per page at most.")
    export_max: int = Field(
        10_000, ge=1, le=1_000_000, description="Offences in one CSV or JSON export."
    )
    default_days: int = Field(30, ge=1, le=400, description="A dashboard's period when none given.")
    max_days: int = Field(400, ge=1, le=3660, description="Longest period of one dashboard.")
    top: int = Field(10, ge=1, le=100, description="Rows of a dashboard's top tables.")


class LezFine(Strict):
    since: dt.date = Field(description="First (local) day of an offence these amounts apply to.")
    amounts_eur: tuple[int, ...] = Field(
        min_length=1,
        description="The first fine, then each repeat within lez.repeat_window_days (the last "
        "amount for every further repeat).",
    )

    @field_validator("amounts_eur")
    @classmethod
    def _positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(a < 1 or a > 100_000 for a in value):
            raise ValueError("amounts from 1 to 100000 euro")
        return value


class LezConfig(Strict):
    """The low-emission zone (``kruispunt.enforcement.lez``): its rules, what a refused entry
    costs, and how long the reads of compliant vehicles live. The city zone is
    ``enforcement.lez_zone_id``; the processor runs when ``processors.enabled`` has "lez"."""

    rules_file: Path | None = Field(
        None,
        description="Admission rules (TOML); default: the packaged Antwerp rules "
        "(kruispunt/data/lez_antwerp.toml).",
    )
    fines: tuple[LezFine, ...] = Field(
        (
            LezFine(since=dt.date(2017, 2, 1), amounts_eur=(125,)),
            LezFine(since=dt.date(2018, 1, 1), amounts_eur=(150, 250, 350)),
        ),
        min_length=1,
        description="Fine amounts from a date on (Antwerp: 125 euro in 2017, 150 from 2018; "
        "repeat offences cost more).",
    )
    first_offence_warning: bool = Field(
        True, description="A vehicle's first LEZ offence is answered by a warning, not a fine."
    )
    warnings_until: dt.date | None = Field(
        dt.date(2017, 2, 28),
        description="Every offence up to this local day is a warning (the LEZ's first month).",
    )
    repeat_window_days: int = Field(
        365, ge=1, le=3660, description="Earlier fines this many days back make a repeat."
    )
    min_confidence: float = Field(
        0.8, ge=0.0, le=1.0, description="Reads below this confidence are never decided on."
    )
    compliant_reads_delete_after_s: int = Field(
        900,
        ge=0,
        le=72_000,
        description="Reads of LEZ-only cameras whose vehicle was admitted (or is unknown) are "
        "deleted this long after the decision (the law: within 24 hours).",
    )
    registry_retry_s: float = Field(
        60.0,
        gt=0,
        le=86_400,
        description="A read the registries could not answer waits this "
        "long before it is asked again (never a fine on missing data).",
    )
    max_pending: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="Reads waiting for a registry; beyond this the processor pauses.",
    )

    @field_validator("fines")
    @classmethod
    def _ascending(cls, value: tuple[LezFine, ...]) -> tuple[LezFine, ...]:
        days = [f.since for f in value]
        if days != sorted(set(days)):
            raise ValueError("fines: dates ascending, each once")
        return value


class SectionsConfig(Strict):
    """Section (average-speed) control (``kruispunt.enforcement.section_control``)."""

    file: Path | None = Field(
        None,
        description="TOML file of the sections (entry and exit cameras, length, limits) and "
        "the margin rules per jurisdiction. Unset: the simulated province's sections "
        "(kruispunt/data/sections.toml).",
    )
    max_clock_skew_s: float = Field(
        1.0,
        gt=0,
        le=30,
        description="A read from a camera whose clock is off by more than this is flagged and "
        "not used (1 s of clock error over 1 km at 70 km/h is ~1.4 km/h).",
    )
    clock_samples: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Clock estimate: a camera's skew is minus the least arrival delay "
        "(received - captured) over its last this many reads.",
    )
    clock_min_samples: int = Field(
        5, ge=1, le=10_000, description="Reads a camera needs before its clock counts as checked."
    )
    arrival_grace_s: float = Field(
        120.0,
        ge=0,
        le=86_400,
        description="An open passage is forgotten this long (node clock) after its section's "
        "window: the time an exit read may take to reach the log.",
    )

    @model_validator(mode="after")
    def _check(self) -> SectionsConfig:
        if self.clock_min_samples > self.clock_samples:
            raise ValueError("clock_min_samples: at most clock_samples")
        if self.file is not None:  # `config check` points at a bad sections file too
            from kruispunt.enforcement.section_control import load_plan

            load_plan(self.file)
        return self


class Config(Strict):
    store: StoreConfig = StoreConfig()
    ingest: IngestConfig = IngestConfig()
    processors: ProcessorsConfig = ProcessorsConfig()
    retention: RetentionConfig = RetentionConfig()
    server: ServerConfig = ServerConfig()
    cameras: CamerasConfig = CamerasConfig()
    hotlists: HotlistsConfig = HotlistsConfig()
    hits: HitsConfig = HitsConfig()
    bus: BusConfig = BusConfig()
    mqtt: MqttConfig = MqttConfig()
    law: LawConfig = LawConfig()
    access: AccessConfig = AccessConfig()
    audit: AuditConfig = AuditConfig()
    oversight: OversightConfig = OversightConfig()
    images: ImagesConfig = ImagesConfig()
    holds: HoldsConfig = HoldsConfig()
    oidc: OidcConfig = OidcConfig()
    search: SearchConfig = SearchConfig()
    enforcement: EnforcementConfig = EnforcementConfig()
    lez: LezConfig = LezConfig()
    sections: SectionsConfig = SectionsConfig()
    registries: RegistriesConfig = RegistriesConfig()
    health: HealthMonitorConfig = HealthMonitorConfig()


class ConfigError(Exception):
    """The configuration is wrong; the message names every bad key."""


ENV_KEYS: dict[str, tuple[str, str]] = {
    "KRUISPUNT_DATABASE_URL": ("store", "url"),
    "KRUISPUNT_BUS_URL": ("bus", "url"),
    "KRUISPUNT_MQTT_URL": ("mqtt", "url"),
    "KRUISPUNT_ADMIN_TOKEN": ("server", "admin_token"),
    "KRUISPUNT_HOST": ("server", "host"),
    "KRUISPUNT_PORT": ("server", "port"),
}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.')}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table")
    return data


def load_config(
    path: Path | None = None,
    *,
    env: dict[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    data: dict[str, Any] = _read_file(path) if path else {}
    environ = os.environ if env is None else env
    for key, (section, field) in ENV_KEYS.items():
        if environ.get(key):
            data.setdefault(section, {})[field] = environ[key]
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        where = str(path) if path else "configuration"
        raise ConfigError(f"{where}: {len(lines)} problem(s)\n" + "\n".join(lines)) from exc


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///`` URL (three slashes: relative; four: absolute)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"store.url: not a sqlite URL: {url!r}")
    return Path(url[len(prefix) :])
