"""A camera site while the layout is being built (Lambert 72 metres)."""

from __future__ import annotations

from dataclasses import dataclass

from kruispunt.domain.cameras import Mounting, Purpose


@dataclass(frozen=True, slots=True)
class Site:
    zone_id: str
    x: float
    y: float
    label: str  # road or street, e.g. "N12 Antwerpseweg"
    municipality: str
    bearing: float | None
    direction: str | None
    kind: str  # how it was placed: enforcement, gateway, table, section, motorway, lez, ...
    lanes: int = 1
    purposes: tuple[Purpose, ...] = (Purpose.POLICE,)
    owner: str | None = None
    manager: str | None = None
    mounting: Mounting = Mounting.FIXED

    @property
    def xy(self) -> tuple[float, float]:
        return (self.x, self.y)
