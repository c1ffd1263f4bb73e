"""Searches through the access gate: decide, read within the decision, audit.

Each search builds a ``Consultation`` and asks ``PolicyGate.decide``; a refusal is audited
(``<action>.refused``) and raised before any read is touched. Then the store is read only
inside ``decision.spans()`` and ``decision.zones`` (``queries``), and one audit record is
written with the number of results (the gate's ``record``, in a writer transaction). A search
the node's caps refuse (``SearchTooBroad``) is audited as a refusal too.

Input that cannot be a search (``SearchInvalid``: a malformed plate, an absurd area) is
refused before the gate: nothing was asked of the reads.

Purpose limitation: only cameras registered with the police purpose serve these searches (a
city's camera registered for the LEZ, section control or statistics alone does not; cameras
the registry does not know are treated as the hotlist matcher treats them, ``Node._for_police``).
Every query gets the other cameras as ``Filters.exclude``; cameras named (or in the area or
zones) that are left out for it are reported as ``not_police``, and a place that names only
such cameras is refused (422 ``not_police_cameras``) rather than answered with nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from kruispunt.access.policy import Consultation, Decision, PolicyGate, PolicyRefused
from kruispunt.access.principals import Principal
from kruispunt.config import SearchConfig
from kruispunt.domain.cameras import Camera, Purpose
from kruispunt.domain.reads import Read
from kruispunt.registry import CameraRegistry
from kruispunt.search import export, vehicle
from kruispunt.search.area import cameras_in, parse_area
from kruispunt.search.errors import SearchInvalid, SearchTooBroad
from kruispunt.search.journey import Passage, journey
from kruispunt.search.models import (
    CameraCount,
    CameraOut,
    ConvoyIn,
    ConvoyOut,
    EvidenceIn,
    Filtered,
    JourneyIn,
    JourneyOut,
    MultiSiteIn,
    MultiSiteOut,
    PlaceTimeCounts,
    PlaceTimeIn,
    PlaceTimeOut,
    PlateSearchIn,
    PlateSearchOut,
    ReadOut,
    SiteCount,
    SiteIn,
    to_us,
)
from kruispunt.search.multisite import SiteVehicle, rank_multi_site
from kruispunt.search.patterns import PlatePattern, match_kind, parse_pattern, plan_for
from kruispunt.search.queries import Caps, Filters, SearchQueries, cursor_of, parse_cursor
from kruispunt.store.base import ReadStore
from kruispunt.store.sql import Conn, SqlStore
from kruispunt.writer import Writer

log = logging.getLogger(__name__)

T = TypeVar("T")
US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
DEFAULT_DAYS = 7


class SearchService:
    def __init__(
        self,
        *,
        store: SqlStore,
        writer: Writer,
        policy: PolicyGate,
        cameras: CameraRegistry,
        config: SearchConfig | None = None,
        images: Any | None = None,
    ):
        self.config = config or SearchConfig()
        cfg = self.config
        self.queries = SearchQueries(
            store, Caps(max_scan_rows=cfg.max_scan_rows, max_days=cfg.max_days,
                        timeout_ms=cfg.timeout_ms, max_page=cfg.max_page),
        )  # fmt: skip
        self._store = store
        self._writer = writer
        self._policy = policy
        self._cameras = cameras
        self._images = images

    # -- the gate and the audit -------------------------------------------------------------
    def _commit(self, fn: Callable[[Conn], None]) -> None:
        def run(_store: ReadStore) -> None:
            with self._store.transaction() as conn:
                fn(conn)

        self._writer.call(run).result()

    def _decide(self, principal: Principal, c: Consultation, **detail: Any) -> Decision:
        try:
            return self._policy.decide(principal, c)
        except PolicyRefused as exc:
            exc.detail.update(detail)
            refused = exc
            self._commit(lambda conn: self._policy.record_refusal(conn, principal, c, refused))
            raise

    def _bounded(self, decision: Decision, fn: Callable[[], T]) -> T:
        """``fn()``; a search the node's caps stop is audited as a refusal."""
        try:
            return fn()
        except SearchTooBroad as exc:
            self._refuse(decision, exc)

    def _refuse(self, decision: Decision, exc: SearchTooBroad) -> NoReturn:
        refused = PolicyRefused(exc.message, exc.code, exc.status, exc.detail)
        self._commit(
            lambda conn: self._policy.record_refusal(
                conn, decision.principal, decision.consultation, refused
            )
        )
        raise exc

    def _record(self, decision: Decision, results: int, **detail: Any) -> None:
        self._commit(
            lambda conn: self._policy.record(conn, decision, results=results, detail=detail)
        )

    # -- scope ------------------------------------------------------------------------------
    def _window(self, since: dt.datetime | None, until: dt.datetime | None) -> tuple[int, int]:
        until_us = self._policy.now() if until is None else to_us(until)
        since_us = until_us - DEFAULT_DAYS * US_PER_DAY if since is None else to_us(since)
        if since_us > until_us:
            raise SearchInvalid("since: after until", "invalid_period")
        return since_us, until_us

    def _known(self, camera_ids: Sequence[str]) -> list[str]:
        unknown = sorted({c for c in camera_ids if self._cameras.get(c) is None})
        if unknown:
            raise SearchInvalid(
                f"cameras: unknown {', '.join(unknown[:5])}", "unknown_camera", {"cameras": unknown}
            )
        return sorted(set(camera_ids))

    def _area_cameras(self, area: dict[str, Any] | None) -> list[str]:
        if area is None:
            return []
        found = cameras_in(parse_area(area, max_km2=self.config.max_area_km2), self._cameras.all())
        if not found:
            raise SearchInvalid("area: no camera inside it", "area_without_cameras", status=422)
        return found

    def _zone_cameras(self, zones: Sequence[str]) -> list[str]:
        return sorted(c.id for c in self._cameras.all() if c.zone_id in set(zones))

    def _not_police(self) -> tuple[str, ...]:
        """Cameras registered without the police purpose: never read by a search."""
        return tuple(sorted(c.id for c in self._cameras.all() if Purpose.POLICE not in c.purposes))

    def _police_only(self, cameras: Sequence[str]) -> tuple[list[str], list[str]]:
        """(cameras that may serve the police, those left out); refused (422
        ``not_police_cameras``) when cameras were given and none may."""
        banned = set(self._not_police())
        kept = [c for c in cameras if c not in banned]
        left_out = sorted(c for c in cameras if c in banned)
        if cameras and not kept:
            raise SearchInvalid(
                f"cameras: {', '.join(left_out[:5])} not registered for police use (purpose "
                "limitation): their reads cannot serve an investigation",
                "not_police_cameras", {"cameras": left_out}, status=422,
            )  # fmt: skip
        return kept, left_out

    @staticmethod
    def _left_out(not_police: Sequence[str]) -> dict[str, Any]:
        """Audit detail of the cameras left out for the purpose (none: nothing added)."""
        return {"not_police": list(not_police)} if not_police else {}

    def _filters(
        self, decision: Decision, cameras: Sequence[str], body: Filtered | None
    ) -> Filters:
        exclude = self._not_police()
        if body is None:
            return Filters(zones=decision.zones, cameras=tuple(cameras), exclude=exclude)
        return Filters(
            zones=decision.zones, cameras=tuple(cameras), exclude=exclude, country=body.country,
            direction=body.direction, vehicle_class=body.vehicle_class, make=body.make,
            colour=body.colour,
        )  # fmt: skip

    def _not_visible(self, decision: Decision, ids: Sequence[str]) -> list[str]:
        cams = (self._cameras.get(i) for i in ids)
        return sorted(c.id for c in cams if c is not None and c.zone_id not in decision.zones)

    def _cameras_out(self, ids: Sequence[str]) -> list[CameraOut]:
        cams = (self._cameras.get(i) for i in sorted(set(ids)))
        return [CameraOut.of(c) for c in cams if c is not None]

    def _camera_map(self, reads: Sequence[Read]) -> dict[str, Camera]:
        out: dict[str, Camera] = {}
        for r in reads:
            camera = self._cameras.get(r.camera_id)
            if camera is not None:
                out[r.camera_id] = camera
        return out

    @staticmethod
    def _exact(raw: str) -> PlatePattern:
        pattern = parse_pattern(raw)
        if pattern.wildcard:
            raise SearchInvalid("plate: an exact plate (no '?' or '*')", "invalid_pattern")
        return pattern

    # -- plates -----------------------------------------------------------------------------
    def _plate_consultation(
        self, body: PlateSearchIn, pattern: PlatePattern, action: str | None, source: str | None
    ) -> tuple[Consultation, list[str], list[str]]:
        """The consultation (naming the cameras asked for), the cameras to read (those of
        them that may serve the police) and the cameras left out for the purpose."""
        since, until = self._window(body.since, body.until)
        cameras = sorted({*self._known(body.cameras), *self._area_cameras(body.area)})
        read, not_police = self._police_only(cameras)
        wildcard = pattern.wildcard
        c = Consultation(
            action=action or ("search.partial" if wildcard else "search.plate"),
            purpose=body.purpose, case=body.case, reason=body.reason, since_us=since,
            until_us=until, plates=() if wildcard else (pattern.text,),
            plate_patterns=(pattern.text,) if wildcard else (), cameras=tuple(cameras),
            zones=tuple(body.zones), area=body.area is not None, approval_id=body.approval_id,
            source=source,
        )  # fmt: skip
        return c, read, not_police

    def _plate_reads(
        self, body: PlateSearchIn, pattern: PlatePattern, decision: Decision,
        cameras: Sequence[str], *, limit: int,
    ) -> tuple[list[Read], str | None]:  # fmt: skip
        """Up to ``limit`` reads from the body's cursor on (several pages when ``limit`` is
        above a page), and the cursor after them (None: no more)."""
        plan = plan_for(pattern, confusable=body.confusable)
        filters = self._filters(decision, cameras, body)
        after = parse_cursor(body.cursor)
        reads: list[Read] = []
        while True:
            page, more = self.queries.plate_reads(
                plan, decision.spans(), filters, after=after, limit=limit - len(reads)
            )
            reads += page
            if not more:
                return reads, None
            after = (page[-1].captured_us, page[-1].seq)
            if len(reads) >= limit:
                return reads, cursor_of(reads[-1])

    def plates(
        self, principal: Principal, body: PlateSearchIn, *, source: str | None = None
    ) -> PlateSearchOut:
        pattern = parse_pattern(body.plate)
        parse_cursor(body.cursor)
        c, cameras, not_police = self._plate_consultation(body, pattern, None, source)
        decision = self._decide(principal, c)
        reads, cursor = self._bounded(
            decision, lambda: self._plate_reads(body, pattern, decision, cameras, limit=body.limit)
        )
        self._record(decision, len(reads), confusable=body.confusable,
                     page=body.cursor is not None, **self._left_out(not_police))  # fmt: skip
        return PlateSearchOut(
            decision=decision.summary(), plate=pattern.text,
            kind="pattern" if pattern.wildcard else "exact", confusable=body.confusable,
            reads=[ReadOut.of(r, match_kind(pattern, r.plate)) for r in reads],
            cameras=self._cameras_out([r.camera_id for r in reads]), next_cursor=cursor,
            not_visible=self._not_visible(decision, cameras), not_police=not_police,
        )  # fmt: skip

    def export(
        self, principal: Principal, body: PlateSearchIn, fmt: str, *, source: str | None = None
    ) -> tuple[bytes, bool]:
        """The search's reads as CSV or GeoJSON (at most ``export_max_reads``; the flag says
        whether more were left out). Audited as ``export.<fmt>`` with the file's SHA-256."""
        if fmt not in ("csv", "geojson"):
            raise SearchInvalid("format: csv or geojson", "invalid_format")
        pattern = parse_pattern(body.plate)
        parse_cursor(body.cursor)
        c, cameras, not_police = self._plate_consultation(body, pattern, f"export.{fmt}", source)
        decision = self._decide(principal, c)
        cap = self.config.export_max_reads
        reads, cursor = self._bounded(
            decision, lambda: self._plate_reads(body, pattern, decision, cameras, limit=cap)
        )
        camera_map = self._camera_map(reads)

        def match(plate: str) -> str:
            return match_kind(pattern, plate)

        if fmt == "csv":
            data = export.to_csv(reads, camera_map, match)
        else:
            data = export.to_geojson(reads, camera_map, match, decision.summary())
        truncated = cursor is not None
        self._record(decision, len(reads), format=fmt, sha256=export.sha256(data),
                     truncated=truncated, **self._left_out(not_police))  # fmt: skip
        return data, truncated

    def evidence(
        self, principal: Principal, body: EvidenceIn, *, source: str | None = None
    ) -> bytes:
        """An evidence package (zip) of the search's reads (or of ``seqs`` among them)."""
        pattern = parse_pattern(body.plate)
        parse_cursor(body.cursor)
        c, cameras, not_police = self._plate_consultation(body, pattern, "export.evidence", source)
        decision = self._decide(principal, c)
        cap = self.config.evidence_max_reads
        reads, cursor = self._bounded(
            decision,
            lambda: self._plate_reads(
                body, pattern, decision, cameras,
                limit=self.config.export_max_reads if body.seqs else cap,
            ),
        )  # fmt: skip
        if body.seqs:
            wanted = set(body.seqs)
            reads = [r for r in reads if r.seq in wanted]
        if len(reads) > cap or (cursor is not None and not body.seqs):
            self._refuse(decision, _too_many(cap))
        summary = decision.summary()
        context = {
            "exported_by": principal.user_id, "exported_zone": principal.zone_id,
            "exported_at": dt.datetime.fromtimestamp(self._policy.now() / 1e6, dt.UTC).isoformat(),
            "case": decision.case, "purpose": str(decision.purpose), "reason": c.reason,
        }  # fmt: skip
        data, images = export.evidence_zip(
            reads, self._camera_map(reads), decision=summary, context=context,
            image_of=self._image_of,
        )  # fmt: skip
        self._record(decision, len(reads), format="zip", sha256=export.sha256(data),
                     images=images, **self._left_out(not_police))  # fmt: skip
        return data

    def _image_of(self, read: Read) -> tuple[str, bytes] | None:
        """The image the node keeps of ``read`` while it lives, as (name, bytes)."""
        images = self._images
        if images is None:
            return None
        row = (
            self._store.reader()
            .execute(
                "SELECT id FROM images WHERE camera_id=? AND read_id=?",
                (read.camera_id, read.read_id),
            )
            .fetchone()
        )
        if row is None:
            return None
        try:
            record = images.get(row[0])
            data = images.files.get(record.day, record.name)
        except Exception as exc:  # past its life, or a file the store lost: no image
            log.info("evidence: image %s left out (%s)", row[0], type(exc).__name__)
            return None
        return None if data is None else (str(record.name), bytes(data))

    # -- places -----------------------------------------------------------------------------
    def _place_cameras(
        self, cameras: Sequence[str], zones: Sequence[str], area: dict[str, Any] | None
    ) -> tuple[list[str], list[str], list[str]]:
        """(cameras the consultation names, cameras read, cameras left out for the purpose):
        those named and in the area; or, for zones only, every camera of those zones; read
        only where they may serve the police (``_police_only``)."""
        named = sorted({*self._known(cameras), *self._area_cameras(area)})
        if named:
            return (named, *self._police_only(named))
        if not zones:
            raise SearchInvalid("name cameras, an area or a zone", "no_place")
        in_zones = self._zone_cameras(zones)
        if not in_zones:
            raise SearchInvalid("no camera in these zones", "no_cameras", status=422)
        return ([], *self._police_only(in_zones))

    def place_time(
        self, principal: Principal, body: PlaceTimeIn, *, source: str | None = None
    ) -> PlaceTimeOut:
        since, until = self._window(body.since, body.until)
        after = _vehicle_cursor(body.cursor)
        named, read, not_police = self._place_cameras(body.cameras, body.zones, body.area)
        c = Consultation(
            action="search.place_time", purpose=body.purpose, case=body.case,
            reason=body.reason, since_us=since, until_us=until, cameras=tuple(named),
            zones=tuple(body.zones), area=body.area is not None,
            approval_id=body.approval_id, source=source,
        )  # fmt: skip
        decision = self._decide(principal, c)
        filters = self._filters(decision, read, body)
        per_cam, vehicles = self._bounded(
            decision, lambda: self.queries.place_vehicles(read, decision.spans(), filters)
        )
        counts = PlaceTimeCounts(
            reads=sum(n for n, _ in per_cam.values()), vehicles=len(vehicles),
            cameras=[CameraCount(camera_id=k, reads=v[0], vehicles=v[1])
                     for k, v in sorted(per_cam.items())],
        )  # fmt: skip
        listed, withheld, cursor = None, None, None
        cap = self.config.place_time_list_max
        if body.list and len(vehicles) > cap:
            withheld = (
                f"{len(vehicles)} vehicles, more than the {cap} a list may hold: narrow the "
                "window or the cameras"
            )
        elif body.list:
            ordered = sorted(vehicles.values(), key=_vehicle_key)
            if after is not None:
                ordered = [v for v in ordered if _vehicle_key(v) > after]
            listed = ordered[: body.limit]
            if len(ordered) > body.limit:
                last = listed[-1]
                cursor = f"{last.first_us}.{last.plate}.{last.country or ''}"
        self._record(
            decision, len(listed or ()), reads=counts.reads, vehicles=counts.vehicles,
            listed=listed is not None, withheld=withheld is not None,
            **self._left_out(not_police),
        )  # fmt: skip
        return PlaceTimeOut(
            decision=decision.summary(), cameras=self._cameras_out(read), counts=counts,
            vehicles=listed, withheld=withheld, next_cursor=cursor,
            not_visible=self._not_visible(decision, read), not_police=not_police,
        )  # fmt: skip

    def multi_site(
        self, principal: Principal, body: MultiSiteIn, *, source: str | None = None
    ) -> MultiSiteOut:
        plans: list[tuple[SiteIn, list[str], Consultation]] = []
        left_out: list[list[str]] = []
        for i, site in enumerate(body.sites):
            since, until = self._window(site.since, site.until)
            try:
                named, read, not_police = self._place_cameras(site.cameras, site.zones, site.area)
            except SearchInvalid as exc:
                exc.message = f"site {i + 1}: {exc.message}"
                exc.detail["site"] = i
                raise
            c = Consultation(
                action="search.multi_site", purpose=body.purpose, case=body.case,
                reason=body.reason, since_us=since, until_us=until, cameras=tuple(named),
                zones=tuple(site.zones), area=site.area is not None,
                approval_id=body.approval_id, source=source,
            )  # fmt: skip
            plans.append((site, read, c))
            left_out.append(not_police)
        decisions = [self._decide(principal, c, site=i) for i, (_, _, c) in enumerate(plans)]
        per_site: list[dict[str, SiteVehicle]] = []
        counts: list[tuple[int, int]] = []
        for (_site, read, _c), decision in zip(plans, decisions, strict=True):
            per_cam, vehicles = self._site(decision, read)
            per_site.append(_by_plate(vehicles.values()))
            counts.append((sum(n for n, _ in per_cam.values()), len(vehicles)))
        labels = [s.label for s, _, _ in plans]
        ranked = rank_multi_site(per_site, labels, min_sites=body.min_sites, limit=body.limit)

        def audit(conn: Conn) -> None:
            for i, decision in enumerate(decisions):
                self._policy.record(
                    conn, decision, results=len(ranked),
                    detail={"site": i, "sites": len(decisions), "reads": counts[i][0],
                            "vehicles": counts[i][1], "min_sites": body.min_sites,
                            **self._left_out(left_out[i])},
                )  # fmt: skip

        self._commit(audit)
        return MultiSiteOut(
            sites=[
                SiteCount(site=i, label=labels[i], cameras=read, reads=counts[i][0],
                          vehicles=counts[i][1], decision=decisions[i].summary(),
                          not_visible=self._not_visible(decisions[i], read),
                          not_police=left_out[i])
                for i, (_, read, _) in enumerate(plans)
            ],
            vehicles=ranked,
        )  # fmt: skip

    def _site(
        self, decision: Decision, cameras: list[str]
    ) -> tuple[dict[str, list[int]], dict[tuple[str, str | None], SiteVehicle]]:
        filters = self._filters(decision, cameras, None)
        return self._bounded(
            decision, lambda: self.queries.place_vehicles(cameras, decision.spans(), filters)
        )

    # -- one vehicle ------------------------------------------------------------------------
    def _one_vehicle(
        self, principal: Principal, body: ConvoyIn | JourneyIn, action: str, source: str | None
    ) -> tuple[PlatePattern, Decision]:
        pattern = self._exact(body.plate)
        since, until = self._window(body.since, body.until)
        c = Consultation(
            action=action, purpose=body.purpose, case=body.case, reason=body.reason,
            since_us=since, until_us=until, plates=(pattern.text,), zones=tuple(body.zones),
            approval_id=body.approval_id, source=source,
        )  # fmt: skip
        return pattern, self._decide(principal, c)

    def convoy(
        self, principal: Principal, body: ConvoyIn, *, source: str | None = None
    ) -> ConvoyOut:
        pattern, decision = self._one_vehicle(principal, body, "search.convoy", source)
        gap_us = body.gap_s * US_PER_S

        result = self._bounded(
            decision,
            lambda: vehicle.convoy(
                self.queries, pattern.text, decision.spans(), decision.zones, gap_us=gap_us,
                min_together=body.min_together, limit=body.limit, exclude=self._not_police(),
            ),
        )  # fmt: skip
        companions, truncated, passages = result.companions, result.truncated, result.passages
        self._record(decision, len(companions), passages=passages, gap_s=body.gap_s,
                     min_together=body.min_together)  # fmt: skip
        cams = {e.camera_id for c in companions for e in c.evidence}
        return ConvoyOut(
            decision=decision.summary(), plate=pattern.text, passages=passages,
            truncated=truncated, companions=companions, cameras=self._cameras_out(sorted(cams)),
        )  # fmt: skip

    def journey(
        self, principal: Principal, body: JourneyIn, *, source: str | None = None
    ) -> JourneyOut:
        pattern, decision = self._one_vehicle(principal, body, "search.journey", source)
        reads, truncated = self._bounded(
            decision,
            lambda: vehicle.vehicle_reads(
                self.queries,
                pattern.text,
                decision.spans(),
                decision.zones,
                exclude=self._not_police(),
            ),
        )
        cams = self._camera_map(reads)
        positions = {k: (c.lat, c.lon) for k, c in cams.items()}
        trips = journey(
            [Passage(seq=r.seq, camera_id=r.camera_id, captured_us=r.captured_us) for r in reads],
            positions, trip_gap_us=body.trip_gap_s * US_PER_S,
        )  # fmt: skip
        self._record(decision, len(reads), trips=len(trips))
        return JourneyOut(
            decision=decision.summary(), plate=pattern.text, reads=len(reads),
            truncated=truncated, trips=trips, cameras=self._cameras_out(sorted(cams)),
        )  # fmt: skip


def _vehicle_key(v: SiteVehicle) -> tuple[int, str, str]:
    return v.first_us, v.plate, v.country or ""


def _vehicle_cursor(raw: str | None) -> tuple[int, str, str] | None:
    if raw is None or raw == "":
        return None
    parts = raw.split(".")
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()):
        raise SearchInvalid("cursor: give back the next_cursor of the previous page", "bad_cursor")
    return int(parts[0]), parts[1], parts[2]


def _by_plate(vehicles: Any) -> dict[str, SiteVehicle]:
    """Per plate (a plate read with and without its country is one vehicle)."""
    out: dict[str, SiteVehicle] = {}
    for v in vehicles:
        seen = out.get(v.plate)
        if seen is None:
            out[v.plate] = v
            continue
        out[v.plate] = SiteVehicle(
            plate=v.plate, country=seen.country or v.country, reads=seen.reads + v.reads,
            first_us=min(seen.first_us, v.first_us), last_us=max(seen.last_us, v.last_us),
            cameras=sorted({*seen.cameras, *v.cameras}),
        )  # fmt: skip
    return out


def _too_many(cap: int) -> SearchTooBroad:
    return SearchTooBroad(
        f"an evidence package holds at most {cap} reads: narrow the search or pick the reads "
        "(seqs)",
        {"max_reads": cap},
    )
