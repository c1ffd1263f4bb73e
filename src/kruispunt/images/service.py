"""Camera images: taken from cameras, shown through the policy gate, linked to cases, purged.

An image belongs to one read of one camera (``camera_id``, ``read_id``, its capture time).
Its life is the profile's: ``images_max_days`` (Belgium: one month), or
``images_case_max_days`` once linked to a case; past that it is gone for everyone, even
before the purge removes the file (``law.decide.image_visible``). A legal hold covering its
read keeps the file from the purge (as evidence), without reopening it to the images API.

- ``put``: JPEG or PNG only (the bytes must start as the declared type does), at most
  ``max_bytes``; the file is written atomically before its row, so a row always has a file.
  Resending the same image for the same read is harmless; other bytes for it are refused.
- ``view``: one consultation through ``PolicyGate`` (purpose, case, reason; the image's zone
  must be visible to the caller; the jurisdiction's tiers for its capture time), audited
  with the gate's record (``image.view``), refusals too (``image.view.refused``).
- ``link_case``: keeps an image for a case (audited ``image.link_case``).
- ``purge``: deletes what is past its life (rows first, then files; whole day folders where
  nothing of the day is kept); the node's retention run audits the figures.

Errors::

    ImageError                (code: machine-readable)
    ├── ImageInvalid          400: not an image, wrong type, bad capture time, past its life
    ├── ImageForbidden        403: the camera or person may not do this
    ├── ImageNotFound         404: ``unknown_image`` (or gone past its life)
    ├── ImageConflict         409: other bytes for a read that has an image; another case
    └── ImageTooLarge         413: more than ``max_bytes``
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import msgspec

from kruispunt.access.holds import LegalHoldService
from kruispunt.access.policy import ROLE_PURPOSES, Consultation, PolicyGate, PolicyRefused
from kruispunt.access.principals import Principal, Role
from kruispunt.audit import write_audit
from kruispunt.domain.cameras import Camera
from kruispunt.errors import Refused
from kruispunt.images.store import ImageStore
from kruispunt.law.decide import image_visible
from kruispunt.law.profiles import JurisdictionProfile
from kruispunt.law.purpose import validate_case, validate_reason
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

US_PER_DAY = 86_400_000_000
EPOCH = dt.date(1970, 1, 1)
MAX_READ_ID = 128
MAX_TEXT = 2000
FORMATS: dict[str, tuple[bytes, str]] = {
    "image/jpeg": (b"\xff\xd8\xff", "jpg"),
    "image/png": (b"\x89PNG\r\n\x1a\n", "png"),
}
"""Accepted content types: the bytes every such file starts with, and the file extension."""
LINKERS = frozenset(ROLE_PURPOSES) | {Role.ZONE_CHIEF, Role.MAGISTRATE}
"""Who may link an image to a case (of a zone they see)."""


class ImageRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    camera_id: str
    read_id: str
    zone_id: str
    captured_us: int
    sha256: str
    content_type: str
    size: int
    stored_us: int
    case: str | None = None
    linked_by: str | None = None
    linked_us: int | None = None

    @property
    def name(self) -> str:
        return f"{self.id}.{FORMATS[self.content_type][1]}"

    @property
    def day(self) -> dt.date:
        return EPOCH + dt.timedelta(days=self.captured_us // US_PER_DAY)

    def keep_until_us(self, profile: JurisdictionProfile) -> int:
        """The moment the image is past its life (exclusive)."""
        days = profile.images_max_days
        if self.case is not None and profile.images_case_max_days is not None:
            days = profile.images_case_max_days
        return self.captured_us + days * US_PER_DAY


class ImageView(msgspec.Struct, frozen=True, kw_only=True):
    image: ImageRecord
    data: bytes


class ImagePurge(msgspec.Struct, frozen=True, kw_only=True):
    deleted: int = 0
    kept_for_case: int = 0
    kept_for_hold: int = 0
    days_removed: int = 0


class CameraLookup(Protocol):
    def get(self, camera_id: str) -> Camera | None: ...


class ZoneSource(Protocol):
    def visible_zones(self, principal: Principal, at_us: int | None = None) -> set[str]: ...


class ImageError(Refused):
    code = "image_error"


class ImageInvalid(ImageError):
    code = "invalid_image"


class ImageForbidden(ImageError):
    code = "forbidden"
    status = 403


class ImageNotFound(ImageError):
    code = "unknown_image"
    status = 404


class ImageConflict(ImageError):
    code = "image_conflict"
    status = 409


class ImageTooLarge(ImageError):
    code = "image_too_large"
    status = 413


T = TypeVar("T")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ImageRecord)
_COLUMNS = (
    "id, camera_id, read_id, zone_id, captured_us, sha256, content_type, size, case_key, "
    "stored_us, doc"
)


def check_image(data: bytes, content_type: str, *, max_bytes: int) -> str:
    """The content type (``image/jpeg`` or ``image/png``) when ``data`` is one, as declared;
    the refusal otherwise (pure)."""
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared == "image/jpg":
        declared = "image/jpeg"
    if declared not in FORMATS:
        raise ImageInvalid(
            f"content type {declared or '(none)'!r}: send image/jpeg or image/png",
            "unsupported_type",
        )
    if len(data) > max_bytes:
        raise ImageTooLarge(f"{len(data)} bytes; at most {max_bytes}")
    magic = FORMATS[declared][0]
    if len(data) <= len(magic) or not data.startswith(magic):
        raise ImageInvalid(f"the body is not a {declared} image", "not_an_image")
    return declared


def _decode(raw: Any) -> ImageRecord:
    return _decoder.decode(bytes(raw))


class ImageService:
    def __init__(
        self,
        store: SqlStore,
        writer: Writer,
        files: ImageStore,
        *,
        cameras: CameraLookup,
        policy: PolicyGate,
        zones: ZoneSource,
        holds: LegalHoldService,
        profile: JurisdictionProfile,
        max_bytes: int = 5_000_000,
        max_future_us: int = 300_000_000,
        clock: Callable[[], int] = now_us,
    ):
        self._store = store
        self._writer = writer
        self.files = files
        self._cameras = cameras
        self._policy = policy
        self._zones = zones
        self._holds = holds
        self.profile = profile
        self.max_bytes = max_bytes
        self._max_future_us = max_future_us
        self._clock = clock

    def now(self) -> int:
        return self._clock()

    # -- taking images ----------------------------------------------------------------------
    def put(
        self, camera_id: str, read_id: str, captured_us: int, data: bytes, content_type: str
    ) -> tuple[ImageRecord, bool]:
        """Keep a camera's image of one read; returns it and whether it was a resend."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            raise ImageForbidden(f"unknown camera {camera_id!r}", "unknown_camera")
        if not camera.active:
            raise ImageForbidden("camera is switched off in the registry", "camera_inactive")
        read_id = read_id.strip()
        if not 0 < len(read_id) <= MAX_READ_ID or not read_id.isprintable():
            raise ImageInvalid(f"read_id: 1 to {MAX_READ_ID} printable characters", "bad_read_id")
        now = self._clock()
        if captured_us > now + self._max_future_us:
            raise ImageInvalid("captured_at: in the future", "bad_capture_time")
        if not image_visible(self.profile, captured_us=captured_us, now_us=now,
                             linked_to_case=False):  # fmt: skip
            raise ImageInvalid(
                f"captured_at: older than {self.profile.images_max_days} days, past the limit "
                "images may be kept",
                "image_expired",
            )
        kind = check_image(data, content_type, max_bytes=self.max_bytes)
        digest = hashlib.sha256(data).hexdigest()
        existing = self._by_read(self._store.reader(), camera_id, read_id)
        if existing is not None:
            return self._resent(existing, digest), True
        record = ImageRecord(
            id=f"im-{secrets.token_hex(10)}", camera_id=camera_id, read_id=read_id,
            zone_id=camera.zone_id, captured_us=captured_us, sha256=digest, content_type=kind,
            size=len(data), stored_us=now,
        )  # fmt: skip
        self.files.put(record.day, record.name, data)  # before the row: a row has a file

        def save(conn: Conn) -> ImageRecord | None:
            if self._by_read(conn, camera_id, read_id) is not None:
                return None  # the same read's image came in meanwhile
            conn.execute(
                f"INSERT INTO images ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, camera_id, read_id, record.zone_id, captured_us, digest, kind,
                 record.size, None, now, _encoder.encode(record)),
            )  # fmt: skip
            return record

        try:
            saved = self._commit(save)
        except BaseException:
            self.files.delete(record.day, record.name)
            raise
        if saved is None:
            self.files.delete(record.day, record.name)
            other = self._by_read(self._store.reader(), camera_id, read_id)
            if other is None:
                raise ImageConflict("the image of this read changed meanwhile; resend it")
            return self._resent(other, digest), True
        return saved, False

    @staticmethod
    def _resent(existing: ImageRecord, digest: str) -> ImageRecord:
        if existing.sha256 != digest:
            raise ImageConflict(
                f"read {existing.read_id!r} already has another image", "image_conflict"
            )
        return existing

    @staticmethod
    def _by_read(conn: Conn, camera_id: str, read_id: str) -> ImageRecord | None:
        row = conn.execute(
            "SELECT doc FROM images WHERE camera_id=? AND read_id=?", (camera_id, read_id)
        ).fetchone()
        return None if row is None else _decode(row[0])

    # -- showing images ---------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        """The image's record while it lives (``ImageNotFound`` otherwise). No bytes and no
        personal data beyond the read it belongs to: who may see it is ``view``'s job."""
        row = (
            self._store.reader()
            .execute("SELECT doc FROM images WHERE id=?", (image_id,))
            .fetchone()
        )
        record = None if row is None else _decode(row[0])
        if record is None or not self._alive(record, self._clock()):
            raise ImageNotFound(f"no image {image_id!r}")
        return record

    def _alive(self, record: ImageRecord, now: int) -> bool:
        return image_visible(
            self.profile, captured_us=record.captured_us, now_us=now,
            linked_to_case=record.case is not None,
        )  # fmt: skip

    def view(
        self,
        image_id: str,
        principal: Principal,
        *,
        purpose: str,
        case: str,
        reason: str,
        source: str | None = None,
        approval_id: str | None = None,
    ) -> ImageView:
        """The image's bytes, for a consultation the policy gate allows (audited)."""
        record = self.get(image_id)
        consultation = Consultation(
            action="image.view", purpose=purpose, case=case, reason=reason,
            since_us=record.captured_us, until_us=record.captured_us,
            cameras=(record.camera_id,), zones=(record.zone_id,), approval_id=approval_id,
            source=source,
        )  # fmt: skip
        try:
            decision = self._policy.decide(principal, consultation)
            if not decision.readable(record.captured_us, record.zone_id):
                raise PolicyRefused(
                    "this image may not be shown for this consultation", "nothing_readable", 403
                )
        except PolicyRefused as exc:
            refused = exc
            self._commit(
                lambda conn: self._policy.record_refusal(conn, principal, consultation, refused)
            )
            raise
        data = self.files.get(record.day, record.name)
        results = 0 if data is None else 1

        def audit(conn: Conn) -> None:
            self._policy.record(
                conn, decision, results=results, object_type="image", object_id=record.id,
                detail={"camera": record.camera_id, "read_id": record.read_id},
            )  # fmt: skip

        self._commit(audit)
        if data is None:
            log.warning("image %s has a record but no file", record.id)
            raise ImageNotFound(f"no image {image_id!r}")
        return ImageView(image=record, data=data)

    # -- cases ------------------------------------------------------------------------------
    def link_case(
        self, image_id: str, *, case: str, reason: str, principal: Principal
    ) -> ImageRecord:
        """Keep the image for a case (``images_case_max_days`` instead of
        ``images_max_days``); by a consulting role, a zone chief or a magistrate who sees
        the image's zone. Linking again to the same case changes nothing."""
        record = self.get(image_id)
        now = self._clock()
        if principal.role not in LINKERS:
            raise ImageForbidden(f"a {principal.role} does not link images to cases")
        zones = (
            self._zones.visible_zones(principal, now)
            if principal.role in ROLE_PURPOSES
            else {principal.zone_id}
        )
        if record.zone_id not in zones:
            raise ImageForbidden(f"the images of {record.zone_id!r} are not visible to you")
        normalised = validate_case(
            self.profile, case, now_year=(EPOCH + dt.timedelta(days=now // US_PER_DAY)).year
        )
        if normalised is None:
            raise ImageInvalid(f"case: not a case number of {self.profile.name}", "invalid_case")
        problems = validate_reason(reason)
        if problems or len(reason) > MAX_TEXT:
            raise ImageInvalid(
                "the reason is not enough: " + "; ".join(problems or ["too long"]), "vague_reason"
            )

        def link(conn: Conn) -> ImageRecord:
            row = conn.execute("SELECT doc FROM images WHERE id=?", (image_id,)).fetchone()
            if row is None:
                raise ImageNotFound(f"no image {image_id!r}")
            current = _decode(row[0])
            if current.case == normalised:
                return current
            if current.case is not None:
                raise ImageConflict("the image is linked to another case already")
            new = msgspec.structs.replace(
                current, case=normalised, linked_by=principal.user_id, linked_us=now
            )
            conn.execute(
                "UPDATE images SET case_key=?, doc=? WHERE id=?",
                (normalised, _encoder.encode(new), image_id),
            )
            write_audit(
                conn, actor=principal.user_id, actor_zone=principal.zone_id,
                action="image.link_case", object_type="image", object_id=image_id,
                detail={"camera": new.camera_id, "zone": new.zone_id,
                        "captured_us": new.captured_us,
                        "keep_until_us": new.keep_until_us(self.profile)},
                at_us=now, role=str(principal.role), case=normalised, reason=reason.strip(),
            )  # fmt: skip
            return new

        return self._commit(link)

    # -- retention --------------------------------------------------------------------------
    def purge(self, now_us: int | None = None) -> ImagePurge:
        """Delete every image past its life, unless a live legal hold covers its read.
        Rows go first (nothing past its life is shown from then on), then the files."""
        now = self._clock() if now_us is None else now_us
        cutoff = now - self.profile.images_max_days * US_PER_DAY
        case_days = self.profile.images_case_max_days or self.profile.images_max_days
        case_cutoff = now - case_days * US_PER_DAY

        def sweep(conn: Conn) -> tuple[list[ImageRecord], int, int]:
            holds = self._holds.live_holds(conn, now)
            gone: list[ImageRecord] = []
            kept_case = kept_hold = 0
            rows = conn.execute(
                "SELECT doc FROM images WHERE captured_us<=? ORDER BY captured_us, id", (cutoff,)
            ).fetchall()
            for row in rows:
                record = _decode(row[0])
                if record.case is not None and record.captured_us > case_cutoff:
                    kept_case += 1
                elif self._holds.keeps_image(
                    conn, holds, camera_id=record.camera_id, read_id=record.read_id,
                    zone_id=record.zone_id, captured_us=record.captured_us,
                ):  # fmt: skip
                    kept_hold += 1
                else:
                    gone.append(record)
            for start in range(0, len(gone), 500):
                chunk = [r.id for r in gone[start : start + 500]]
                conn.execute(f"DELETE FROM images WHERE id IN ({', '.join('?' * len(chunk))})",
                             chunk)  # fmt: skip
            return gone, kept_case, kept_hold

        gone, kept_case, kept_hold = self._commit(sweep)
        days_removed = self._remove_files(gone, cutoff)
        return ImagePurge(
            deleted=len(gone), kept_for_case=kept_case, kept_for_hold=kept_hold,
            days_removed=days_removed,
        )  # fmt: skip

    def _remove_files(self, gone: list[ImageRecord], cutoff: int) -> int:
        """Whole day folders where the day is past the limit and no row of it is left;
        single files elsewhere."""
        removed_days = 0
        reader = self._store.reader()
        for day in self.files.days():
            start = (day - EPOCH).days * US_PER_DAY
            if start + US_PER_DAY - 1 > cutoff:
                continue
            left = reader.execute(
                "SELECT count(*) FROM images WHERE captured_us BETWEEN ? AND ?",
                (start, start + US_PER_DAY - 1),
            ).fetchone()
            if int(left[0]) == 0:
                self.files.drop_day(day)
                removed_days += 1
        remaining = set(self.files.days())
        for record in gone:
            if record.day in remaining:
                self.files.delete(record.day, record.name)
        return removed_days

    def _commit(self, fn: Callable[[Conn], T]) -> T:
        def run(_store: object) -> T:
            with self._store.transaction() as conn:
                return fn(conn)

        return self._writer.call(run).result()
