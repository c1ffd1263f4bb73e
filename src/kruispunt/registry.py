"""The camera registry: which cameras exist and how each one authenticates.

Held in memory for the hot path (token -> camera is a dict look-up), written through to the
store via the writer. Camera tokens are random 256-bit secrets, so a SHA-256 hash is enough to
keep them unreadable at rest (argon2 is for passwords people choose).
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Iterable

from kruispunt.domain.cameras import Camera, validate_camera
from kruispunt.store.base import CameraRecord
from kruispunt.tokens import hash_token


class CameraInvalid(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class CameraRegistry:
    def __init__(self, zone_ids: Iterable[str]):
        self.zone_ids = set(zone_ids)
        self._cameras: dict[str, Camera] = {}
        self._by_token_hash: dict[str, str] = {}
        self._hash_of: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self, records: Iterable[CameraRecord]) -> None:
        for record in records:
            self._put(record.camera, record.token_hash)

    def replace(self, records: Iterable[CameraRecord]) -> None:
        """Become exactly ``records`` (another node process changed the registry)."""
        records = list(records)
        keep = {r.camera.id for r in records}
        for camera_id in [c.id for c in self.all() if c.id not in keep]:
            self.remove(camera_id)
        self.load(records)

    def _put(self, camera: Camera, token_hash: str | None) -> None:
        with self._lock:
            self._cameras[camera.id] = camera
            if token_hash is not None:
                old = self._hash_of.pop(camera.id, None)
                if old is not None and old != token_hash:  # a reload keeps the token working
                    self._by_token_hash.pop(old, None)
                self._hash_of[camera.id] = token_hash
                self._by_token_hash[token_hash] = camera.id

    def check(self, camera: Camera) -> None:
        problems = validate_camera(camera, zone_ids=self.zone_ids)
        if problems:
            raise CameraInvalid(problems)

    def put(self, camera: Camera, token_hash: str | None) -> None:
        """Record a camera already saved in the store."""
        self._put(camera, token_hash)

    def remove(self, camera_id: str) -> None:
        with self._lock:
            self._cameras.pop(camera_id, None)
            token_hash = self._hash_of.pop(camera_id, None)
            if token_hash is not None:
                self._by_token_hash.pop(token_hash, None)

    def get(self, camera_id: str) -> Camera | None:
        return self._cameras.get(camera_id)

    def all(self) -> list[Camera]:
        return sorted(self._cameras.values(), key=lambda c: c.id)

    def has_token(self, camera_id: str) -> bool:
        return camera_id in self._hash_of

    def camera_for_token(self, token: str) -> Camera | None:
        digest = hash_token(token)
        cam_id = self._by_token_hash.get(digest)
        if cam_id is None:
            return None
        # Constant-time confirmation; the dict look-up above only finds the candidate.
        if not hmac.compare_digest(self._hash_of.get(cam_id, ""), digest):
            return None
        return self._cameras.get(cam_id)

    def __len__(self) -> int:
        return len(self._cameras)
