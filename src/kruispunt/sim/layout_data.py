"""Data behind the simulated camera network: how many cameras where, and on which roads.

Road names are plausible names of main roads in each municipality; the positions of cameras
are generated (see ``layout.py``), not surveyed. No real ANPR camera-location dataset exists
in the public sources used by this project.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Gateway:
    """A main road leaving the centre in a rough compass direction (degrees)."""

    road: str
    bearing: float
    anchor: LonLat | None = None  # another village centre of the same municipality


@dataclass(frozen=True, slots=True)
class MunicipalPlan:
    name: str
    cameras: int
    centre: LonLat
    gateways: tuple[Gateway, ...] = field(default_factory=tuple)


def _g(road: str, bearing: float, anchor: LonLat | None = None) -> Gateway:
    return Gateway(road, bearing, anchor)


# Cameras per municipality of the 4 seed zones. Regio Turnhout has the most (it ran 172
# cameras at 78 sites in 2019, NRC 30 June 2019); totals: 5364: 47, 5355: 24, 5369: 23, 5352: 10.
SEED_PLANS: dict[str, tuple[MunicipalPlan, ...]] = {
    "pz5364": (
        MunicipalPlan(
            "Turnhout",
            14,
            (4.9447, 51.3227),
            (
                _g("N12 Steenweg op Antwerpen", 255),
                _g("N140 Steenweg op Gierle", 215),
                _g("N19 Steenweg op Kasterlee", 180),
                _g("N18 Steenweg op Mol", 120),
                _g("Steenweg op Oosthoven", 90),
                _g("Steenweg op Zevendonk", 40),
                _g("N119 Steenweg op Baarle-Hertog", 0),
                _g("Steenweg op Merksplas", 315),
                _g("R13 Ring Turnhout", 135),
                _g("R13 Ring Turnhout", 290),
            ),
        ),
        MunicipalPlan(
            "Baarle-Hertog",
            4,
            (4.9303, 51.4383),
            (
                _g("N119 Turnhoutseweg", 180),
                _g("Nieuwstraat", 30),
                _g("Zondereigen Dorp", 0, (4.9120, 51.3980)),
                _g("Meersel-Dreefseweg", 270, (4.9120, 51.3980)),
            ),
        ),
        MunicipalPlan(
            "Beerse",
            6,
            (4.8560, 51.3190),
            (
                _g("N12 Antwerpseweg", 250),
                _g("Rijkevorselseweg", 330),
                _g("Bisschopslaan", 60),
                _g("Vlimmersebaan", 300),
                _g("Boudewijnstraat", 150),
            ),
        ),
        MunicipalPlan(
            "Kasterlee",
            6,
            (4.9660, 51.2410),
            (
                _g("N19 Turnhoutsebaan", 350),
                _g("N19 Geelsebaan", 170),
                _g("N123 Lichtaartseweg", 240),
                _g("Retieseweg", 100),
                _g("Tielendorp", 330, (4.8950, 51.2480)),
            ),
        ),
        MunicipalPlan(
            "Lille",
            6,
            (4.8250, 51.2420),
            (
                _g("N153 Herentalsesteenweg", 200),
                _g("N132 Beersebaan", 20),
                _g("N140 Gierlebaan", 60),
                _g("Vlimmersebaan", 330),
            ),
        ),
        MunicipalPlan(
            "Oud-Turnhout",
            6,
            (4.9840, 51.3190),
            (
                _g("N18 Steenweg op Mol", 130),
                _g("Steenweg op Turnhout", 270),
                _g("Zwaluwstraat", 20),
                _g("Oosthoven", 60),
                _g("Arendonksesteenweg", 95),
                _g("Schoolstraat", 200),
            ),
        ),
        MunicipalPlan(
            "Vosselaar",
            5,
            (4.8880, 51.3090),
            (
                _g("N132 Beersebaan", 320),
                _g("Turnhoutsebaan", 70),
                _g("Heieinde", 200),
                _g("Gierlebaan", 150),
            ),
        ),
    ),
    "pz5355": (
        MunicipalPlan(
            "Brecht",
            7,
            (4.6380, 51.3503),
            (
                _g("N115 Vaartweg", 270),
                _g("Sint-Lenaartseweg", 170),
                _g("Oostmalsesteenweg", 120),
                _g("Gasthuisstraat", 30),
                _g("Overbroekstraat", 340),
                _g("Handelslei", 225, (4.5700, 51.3000)),
                _g("Kerkeneinde", 30, (4.5700, 51.3000)),
            ),
        ),
        MunicipalPlan(
            "Malle",
            6,
            (4.7100, 51.2990),
            (
                _g("N12 Antwerpsesteenweg", 240),
                _g("N14 Hoogstraatsebaan", 20),
                _g("N153 Sint-Lenaartsebaan", 320),
                _g("N12 Turnhoutsebaan", 80),
                _g("N179 Zoerselbaan", 190),
            ),
        ),
        MunicipalPlan(
            "Schilde",
            5,
            (4.5830, 51.2410),
            (
                _g("N12 Turnhoutsebaan", 70),
                _g("N12 Turnhoutsebaan", 250),
                _g("Brasschaatsebaan", 330),
                _g("Kasteeldreef", 300, (4.5600, 51.2630)),
                _g("Wijnegemsteenweg", 230, (4.5600, 51.2630)),
            ),
        ),
        MunicipalPlan(
            "Zoersel",
            6,
            (4.7130, 51.2680),
            (
                _g("N14 Rodendijk", 200),
                _g("N14 Oostmallebaan", 20),
                _g("N179 Westmallebaan", 320),
                _g("Kerkstraat", 120),
                _g("Langestraat", 260),
            ),
        ),
    ),
    "pz5369": (
        MunicipalPlan(
            "Herentals",
            8,
            (4.8360, 51.1770),
            (
                _g("N13 Lierseweg", 250),
                _g("Herenthoutseweg", 225),
                _g("N152 Aarschotseweg", 180),
                _g("N153 Poederleeseweg", 20),
                _g("Lichtaartsebaan", 60),
                _g("Nederrij", 300),
                _g("Olympiadelaan", 100),
                _g("N13 Geelseweg", 120),
            ),
        ),
        MunicipalPlan(
            "Grobbendonk",
            4,
            (4.7360, 51.1920),
            (
                _g("N13 Herentalsesteenweg", 100),
                _g("N13 Lierselei", 260),
                _g("Schransstraat", 0),
                _g("Bouwelsesteenweg", 200, (4.7420, 51.1670)),
            ),
        ),
        MunicipalPlan(
            "Herenthout",
            3,
            (4.7560, 51.1400),
            (
                _g("Itegemseweg", 210),
                _g("Bouwelsesteenweg", 20),
                _g("Herentalsesteenweg", 80),
            ),
        ),
        MunicipalPlan(
            "Olen",
            4,
            (4.8600, 51.1440),
            (
                _g("Lammerdries", 200),
                _g("Geelseweg", 100),
                _g("Herentalseweg", 300),
                _g("Sint-Jozefstraat", 20),
            ),
        ),
        MunicipalPlan(
            "Vorselaar",
            4,
            (4.7700, 51.2020),
            (
                _g("N153 Herentalsesteenweg", 150),
                _g("N153 Poederleeseweg", 10),
                _g("Vispluk", 280),
                _g("Molenbaan", 90),
            ),
        ),
    ),
    "pz5352": (
        MunicipalPlan(
            "Brasschaat",
            10,
            (4.4919, 51.2906),
            (
                _g("N1 Bredabaan", 0),
                _g("N1 Bredabaan", 190),
                _g("Kapelsestraat", 300),
                _g("Hoogboomsteenweg", 250),
                _g("Miksebaan", 60),
                _g("Augustijnslei", 120),
                _g("Bethanienlei", 215),
                _g("Ploegsebaan", 30),
                _g("Kaart", 90),
                _g("Donksesteenweg", 150),
            ),
        ),
    ),
}

# Federal road police: hand-entered approximate positions (±300 m) on the carriageway of the
# motorways where the packaged OSM roads hold no line with that ref (the E34/A21 is taken
# from the OSM lines). Order = direction of travel away from Antwerp.
MOTORWAY_ANCHORS: dict[str, tuple[LonLat, ...]] = {
    "E19": ((4.553, 51.305), (4.600, 51.331), (4.660, 51.379), (4.712, 51.433)),
    "E313": ((4.620, 51.196), (4.700, 51.180), (4.780, 51.168), (4.880, 51.146)),
}
MOTORWAY_NAMES = {"E19": "E19 (A1)", "E313": "E313 (A13)", "E34": "E34 (A21)"}
# Positions along the merged E34 line (metres from its western end); the 2nd and 3rd form a
# section-control pair.
E34_POSITIONS_M = (1500.0, 6000.0, 10000.0, 16000.0)

# Section-control pairs on numbered roads: (ref, from municipality, to municipality).
SECTION_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("N12", "Malle", "Beerse"),  # crosses the Voorkempen / Regio Turnhout border
    ("N14", "Zoersel", "Zoersel"),
    ("N153", "Lille", "Vorselaar"),  # crosses the Regio Turnhout / Neteland border
)

# City of Antwerp. LEZ entries east of the OSM coverage: approximate points, snapped to the
# (approximate) LEZ boundary by the layout.
LEZ_TARGET = 16
LEZ_EAST_ENTRIES: tuple[tuple[str, LonLat], ...] = (
    ("Plantin en Moretuslei", (4.4330, 51.2040)),
    ("Turnhoutsebaan", (4.4440, 51.2125)),
    ("Schijnpoortweg", (4.4420, 51.2290)),
    ("Noorderlaan", (4.4210, 51.2400)),
    ("Singel (Zurenborg)", (4.4330, 51.1985)),
    ("Mechelsesteenweg", (4.4180, 51.1935)),
    ("Pothoekstraat", (4.4480, 51.2230)),
    ("Kerkstraat (Borgerhout)", (4.4500, 51.2170)),
    ("Londenbrug", (4.4085, 51.2330)),
    ("Viaduct Dam", (4.4300, 51.2320)),
)
DIAMOND_CENTRE: LonLat = (4.4190, 51.2160)  # the diamond quarter, by Antwerpen-Centraal
DIAMOND_RADIUS_M = 220.0
DIAMOND_STREETS: tuple[tuple[str, float], ...] = (
    ("Pelikaanstraat", 90),
    ("Lange Herentalsestraat", 160),
    ("Vestingstraat", 210),
    ("Hoveniersstraat", 260),
    ("Schupstraat", 300),
    ("Lange Kievitstraat", 20),
)
R1_ANCHORS: tuple[tuple[str, LonLat], ...] = (
    ("R1 Ring Antwerpen (Kiel)", (4.4030, 51.1925)),
    ("R1 Ring Antwerpen (Berchem)", (4.4260, 51.1920)),
    ("R1 Ring Antwerpen (Zurenborg)", (4.4370, 51.1990)),
    ("R1 Ring Antwerpen (Borgerhout)", (4.4430, 51.2080)),
    ("R1 Ring Antwerpen (Sportpaleis)", (4.4500, 51.2190)),
    ("R1 Ring Antwerpen (Merksem)", (4.4340, 51.2340)),
    ("R1 Ring Antwerpen (Luchtbal)", (4.4260, 51.2480)),
)
# Linkeroever: border of Antwerpen with Zwijndrecht (and the Kennedy tunnel mouth).
LINKEROEVER_WINDOW = (4.33, 51.19, 4.378, 51.24)  # lon/lat box of the left-bank border
LINKEROEVER_TARGET = 5

VENDORS_BY_ZONE: dict[str, tuple[str, ...]] = {
    "pz5364": ("Vigilant", "Vigilant", "Hikvision", "Tattile", "Genetec AutoVu"),
    "pz5355": ("Genetec AutoVu", "Genetec AutoVu", "Axis", "ARH"),
    "pz5369": ("Neavia", "Neavia", "Hikvision", "Tattile"),
    "pz5352": ("Axis", "ARH", "Axis"),
    "fedpol": ("Vigilant", "Tattile"),
    "pz5345": ("Genetec AutoVu", "Hikvision", "Axis", "Neavia", "ARH"),
}
ALL_VENDORS = (
    "Hikvision",
    "Axis",
    "Vigilant",
    "Genetec AutoVu",
    "Neavia",
    "ARH",
    "Tattile",
)
MOBILE_CAMERAS = 4
STATISTICS_SHARE = 0.35
