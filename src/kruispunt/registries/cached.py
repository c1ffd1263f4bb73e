"""The registries as the node uses them: each adapter behind a cache, a breaker, metrics and
the look-up audit. They keep the adapters' interfaces (a ``VehicleRegistry`` is still a
``VehicleRegistry``) and add two keyword arguments to every look-up:

- ``purpose``: the module that asks (``registry_checks``, ``lez`` ...), recorded in the
  audit. ``for_purpose(...)`` gives the same registry (same cache) with that default.
- ``zone_id``: the zone the question is about (the camera's), recorded in the detail.

Cache rules: a found record is kept ``ttl_s``, a "none" answer ``negative_ttl_s``; a
failure (``RegistryError``) is never cached, so the next look-up asks again. After
``breaker_failures`` failures in a row the registry counts as down and look-ups fail at once
with ``RegistryUnavailable`` for ``breaker_open_s`` (no caller waits on a dead registry's
time-outs); then one look-up is let through to see whether it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import ClassVar, Generic, Self, TypeVar

from kruispunt.plates.text import normalise
from kruispunt.registries import metrics
from kruispunt.registries.base import (
    CrossBorderContact,
    InsuranceRecord,
    InsuranceRegister,
    LicenceRecord,
    LicenceRegister,
    RegistryError,
    VehicleRecord,
    VehicleRegistry,
)
from kruispunt.registries.cache import Breaker, Clock, TtlCache
from kruispunt.registries.lookup_audit import Lookup, LookupAuditor
from kruispunt.registries.settings import RegistrySettings

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
UNSPECIFIED = "unspecified"


class RegistryUnavailable(RegistryError):
    """The registry counts as down (its breaker is open): it was not asked."""


class CachedLookup(Generic[K, V]):
    """One registry's look-ups: cache, breaker, metrics, audit (the module docstring)."""

    def __init__(
        self,
        name: str,
        adapter: str,
        fetch: Callable[[K], V | None],
        settings: RegistrySettings,
        auditor: LookupAuditor,
        *,
        clock: Clock,
    ):
        self.name = name
        self.adapter = adapter
        self._fetch = fetch
        self.ttl_s = settings.ttl_s
        self.negative_ttl_s = settings.negative_ttl_s
        self.cache: TtlCache[K, V | None] = TtlCache(max_entries=settings.max_entries, clock=clock)
        self.breaker = Breaker(
            failures=settings.breaker_failures, open_s=settings.breaker_open_s, clock=clock
        )
        self._auditor = auditor

    def get(
        self, key: K, *, plate: str | None, holder_id: str | None, country: str | None,
        purpose: str, zone_id: str | None,
    ) -> V | None:  # fmt: skip
        def audit(cache: str, outcome: str) -> None:
            self._auditor.record(Lookup(
                at_us=self._auditor.clock_us(), registry=self.name, adapter=self.adapter,
                plate=plate, holder_id=holder_id, country=country, purpose=purpose,
                zone_id=zone_id, cache=cache, outcome=outcome,
            ))  # fmt: skip

        cached, value = self.cache.get(key)
        if cached:
            metrics.LOOKUPS.labels(self.name, "hit").inc()
            audit("hit", "none" if value is None else "found")
            return value
        if not self.breaker.allow():
            metrics.LOOKUPS.labels(self.name, "refused").inc()
            raise RegistryUnavailable(
                f"{self.name}: counts as down; next try in {self.breaker.retry_in():.0f} s"
            )
        try:
            value = self._fetch(key)
        except Exception as exc:
            self._failed(exc)
            audit("miss", "error")
            if isinstance(exc, RegistryError):
                raise
            raise RegistryError(f"{self.name}: {type(exc).__name__}") from exc
        if self.breaker.is_open:
            log.warning("%s answers again", self.name)
        self.breaker.success()
        metrics.DOWN.labels(self.name).set(0)
        metrics.LOOKUPS.labels(self.name, "miss").inc()
        self.cache.put(key, value, self.ttl_s if value is not None else self.negative_ttl_s)
        metrics.CACHED.labels(self.name).set(len(self.cache))
        audit("miss", "none" if value is None else "found")
        return value

    def _failed(self, exc: Exception) -> None:
        """Counted; logged once when the registry goes down. An adapter's message may name
        the plate, so it is logged at DEBUG only."""
        was_open = self.breaker.is_open
        self.breaker.failure()
        metrics.LOOKUPS.labels(self.name, "error").inc()
        metrics.DOWN.labels(self.name).set(1 if self.breaker.is_open else 0)
        log.debug("%s: look-up failed: %r", self.name, exc)
        if self.breaker.is_open and not was_open:
            log.warning(
                "%s counts as down after failed look-ups (last: %s); next try in %.0f s",
                self.name, type(exc).__name__, self.breaker.retry_in(),
            )  # fmt: skip


class _Cached(Generic[K, V]):
    """What the four registries share: the look-up, the purpose it audits by default, and
    the question put to it."""

    type_key: ClassVar[str] = "cached"

    def __init__(self, lookup: CachedLookup[K, V], purpose: str = UNSPECIFIED):
        self.lookup = lookup
        self.purpose = purpose

    def for_purpose(self, purpose: str) -> Self:
        return type(self)(self.lookup, purpose)

    def _get(
        self, key: K, *, plate: str | None, holder_id: str | None, country: str | None,
        purpose: str | None, zone_id: str | None,
    ) -> V | None:  # fmt: skip
        return self.lookup.get(
            key, plate=plate, holder_id=holder_id, country=country,
            purpose=purpose or self.purpose, zone_id=zone_id,
        )  # fmt: skip


class _CachedByPlate(_Cached[tuple[str, str], V]):
    def _by_plate(
        self, plate: str, country: str, purpose: str | None, zone_id: str | None
    ) -> V | None:
        plate, country = normalise(plate), country.upper()
        return self._get(
            (plate, country), plate=plate, holder_id=None, country=country,
            purpose=purpose, zone_id=zone_id,
        )  # fmt: skip


class CachedVehicleRegistry(_CachedByPlate[VehicleRecord], VehicleRegistry):
    def vehicle(
        self, plate: str, country: str, *, purpose: str | None = None, zone_id: str | None = None
    ) -> VehicleRecord | None:
        return self._by_plate(plate, country, purpose, zone_id)


class CachedInsuranceRegister(_CachedByPlate[InsuranceRecord], InsuranceRegister):
    def insurance(
        self, plate: str, country: str, *, purpose: str | None = None, zone_id: str | None = None
    ) -> InsuranceRecord | None:
        return self._by_plate(plate, country, purpose, zone_id)


class CachedLicenceRegister(_Cached[str, LicenceRecord], LicenceRegister):
    def licence(
        self, holder_id: str, *, purpose: str | None = None, zone_id: str | None = None
    ) -> LicenceRecord | None:
        return self._get(
            holder_id, plate=None, holder_id=holder_id, country=None, purpose=purpose,
            zone_id=zone_id,
        )  # fmt: skip


class CachedCrossBorderContact(_CachedByPlate[VehicleRecord], CrossBorderContact):
    def identify(
        self, plate: str, country: str, *, purpose: str | None = None, zone_id: str | None = None
    ) -> VehicleRecord | None:
        return self._by_plate(plate, country, purpose, zone_id)
