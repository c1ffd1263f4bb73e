"""The format table: every supported plate format as one FormatRule record.

Order matters twice: COUNTRIES is the priority used when formats of several countries match
(Belgium first: this is a Belgian network), and within a country the first matching rule of
the strongest inference wins, so specific rules come before broad ones.

Regexes apply to the normalised text (A-Z0-9). Character classes are spelt out ([0-9], not
\\d, which also matches other scripts' digits).
"""

from __future__ import annotations

from kruispunt.plates.formats import FormatRule, Inference

COUNTRIES: tuple[str, ...] = ("BE", "NL", "FR", "DE", "LU")
"""Supported ISO 3166-1 alpha-2 codes, in inference priority order."""

STRONG, WEAK, NEVER = Inference.STRONG, Inference.WEAK, Inference.NEVER

# Belgium since 2010: an index character, then 3 letters + 3 digits or 3 digits + 3 letters.
_BE_SERIAL = r"(?:([A-Z]{3})([0-9]{3})|([0-9]{3})([A-Z]{3}))"
_BE_MB = "Ministerieel besluit van 23 juli 2001 betreffende de inschrijving van voertuigen"
_BE_2014 = (
    "FOD Mobiliteit en Vervoer, 'T, O, M, Q-nummerplaten en internationale nummerplaten met "
    "index 8' (mobilit.belgium.be; in force since 7 October 2014)"
)
_BE_OLD = "Wikipedia (de): Kfz-Kennzeichen (Belgien) (1953-2010), codes 1-12"
_BE_WIKI = "Wikipedia: Vehicle registration plates of Belgium"
_NL = (
    "Regeling kentekens en kentekenplaten (BWBR0009071) art. 1; Staatscourant 2014, 9002; "
    "Wikipedia (nl): Nederlands kenteken"
)
_FR_SIV = (
    "Arrete du 9 fevrier 2009 relatif aux modalites d'immatriculation des vehicules; "
    "Wikipedia: Vehicle registration plates of France"
)
_FR_FNI = "Wikipedia: Vehicle registration plates of France (FNI system, 1950-2009)"
_DE = (
    "Fahrzeug-Zulassungsverordnung (FZV) Anlage 2 (Erkennungsnummer); KBA glossary "
    "'Kennzeichen' (at most 8 characters); Wikipedia: Vehicle registration plates of Germany"
)
_LU = (
    "Reglement grand-ducal du 17 juin 2003 relatif a l'identification des vehicules "
    "routiers; Wikipedia: Vehicle registration plates of Luxembourg"
)


def _rule(
    key: str,
    regex: str,
    *,
    sep: str,
    inference: Inference,
    example: str,
    description: str,
    source: str,
) -> FormatRule:
    country = key.split(".", 1)[0]
    return FormatRule(key, country, regex, sep, inference, example, description, source)


def _sidecode(n: int, regex: str, example: str, layout: str) -> FormatRule:
    return _rule(
        f"NL.sidecode_{n}",
        regex,
        sep="-",
        inference=STRONG if n >= 4 else WEAK,
        example=example,
        description=(
            f"Dutch sidecode {n}: {layout}. Sidecodes 1-3 (1951-1978) are WEAK: rare today "
            "and shaped like Luxembourg and French FNI plates. Since sidecode 4 the RDW "
            "issues no vowels and no C or Q outside special series; not enforced here."
        ),
        source=_NL,
    )


RULES: tuple[FormatRule, ...] = (
    # ---- Belgium -------------------------------------------------------------------------
    _rule(
        "BE.current",
        r"([1-9])" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="1-ABC-123",
        description=(
            "European format since 16 Nov 2010: index digit, 3 letters, 3 digits. Index 1-2 "
            "for ordinary plates (1-7 foreseen), 8 for international plates and 9 for "
            "personalised plates before 2014. Green commercial plates share the layout "
            "(letters starting with Z). The digits-first variant (1-123-ABC) is allowed by "
            "the MB, art. 10."
        ),
        source=f"{_BE_MB}, art. 4 and 10; {_BE_WIKI}",
    ),
    _rule(
        "BE.motorcycle",
        r"(M)" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="M-ABC-123",
        description=(
            "Motorcycles and motor tri-/quadricycles since Oct 2014: index letter M, then 3 "
            "letters over 3 digits or 3 digits over 3 letters (square plate)."
        ),
        source=_BE_2014,
    ),
    _rule(
        "BE.trailer",
        r"(Q)" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="Q-AAA-001",
        description=(
            "Trailers since Oct 2014: index letter Q. Older trailer plates (starting with U "
            "or Q inside the 1973-2010 series) are covered by BE.old_1973."
        ),
        source=_BE_2014,
    ),
    _rule(
        "BE.oldtimer",
        r"(O)" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="O-AAA-001",
        description="Oldtimers since Oct 2014: index letter O; oldtimer motorcycles O-MAA-001.",
        source=_BE_2014,
    ),
    _rule(
        "BE.taxi",
        r"(T)([XL][A-Z]{2})([0-9]{3})",
        sep="-",
        inference=STRONG,
        example="T-XAA-001",
        description="Taxis (T-XAA-001) and rental with driver (T-LAA-001) since Oct 2014.",
        source=_BE_2014,
    ),
    _rule(
        "BE.moped",
        r"(S)" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="S-ABC-123",
        description="Mopeds and light quadricycles: index letter S (registered since 2014-2016).",
        source=f"{_BE_2014}; {_BE_MB}, chapter IVbis",
    ),
    _rule(
        "BE.tractor",
        r"(G)" + _BE_SERIAL,
        sep="-",
        inference=STRONG,
        example="G-ABC-123",
        description=(
            "Agricultural and forestry tractors: index letter G. UNCERTAIN: the layout is "
            "assumed to follow the other index letters; the MB text (art. 10/1) was not read."
        ),
        source=f"{_BE_MB}, art. 10/1; Wikipedia (de): Kfz-Kennzeichen (Belgien)",
    ),
    _rule(
        "BE.diplomatic",
        r"(CD)([A-Z]{2})([0-9]{3})",
        sep="-",
        inference=STRONG,
        example="CD-AB-123",
        description=(
            "Diplomatic plates: CD, two letters for the mission's state, a 3-digit serial. "
            "UNCERTAIN: from a secondary source; the MB (art. 7) was not read."
        ),
        source=f"kennzeichen-guide.de, Belgien (Diplomatenkennzeichen); {_BE_MB}, art. 7",
    ),
    _rule(
        "BE.temporary",
        r"([A-Z]{2})([0-9]{2})([A-Z]{3})",
        sep="-",
        inference=STRONG,
        example="WM-24-ABC",
        description=(
            "Short-term temporary plates (transit, export, temporary stay; red plate): two "
            "letters, the last two digits of the expiry year, three letters. The MB spells "
            "this out for motorcycles (art. 13); the car layout (art. 5) is assumed the same."
        ),
        source=f"{_BE_MB}, art. 5 and 13",
    ),
    _rule(
        "BE.old_1973",
        r"([A-Z]{3})([0-9]{3})",
        sep="-",
        inference=STRONG,
        example="ABC-123",
        description=(
            "Code 11, issued 1973-2008; still common as plates follow their holder. STRONG "
            "although a German plate can normalise to the same text: Belgian priority."
        ),
        source=_BE_OLD,
    ),
    _rule(
        "BE.old_2008",
        r"([0-9]{3})([A-Z]{3})",
        sep="-",
        inference=STRONG,
        example="123-ABC",
        description="Code 12, issued 2008-2010.",
        source=_BE_OLD,
    ),
    _rule(
        "BE.old_1962",
        r"([A-Z]{2})([0-9]{3})|([0-9])([A-Z]{2})([0-9]{2})|([0-9]{2})([A-Z]{2})([0-9])"
        r"|([0-9]{3})([A-Z]{2})|([A-Z])([0-9]{3})([A-Z])",
        sep="-",
        inference=WEAK,
        example="123-AB",
        description=(
            "Codes 6-10, issued 1962-1973: two letters and three digits (XX.111, 1.XX.11, "
            "11.XX.1, 111.XX, X.111.X)."
        ),
        source=_BE_OLD,
    ),
    _rule(
        "BE.old_1953",
        r"([A-Z])([0-9]{4})|([0-9])([A-Z])([0-9]{3})|([0-9]{2})([A-Z])([0-9]{2})"
        r"|([0-9]{3})([A-Z])([0-9])|([0-9]{4})([A-Z])",
        sep="-",
        inference=WEAK,
        example="1234-B",
        description="Codes 1-5, issued 1953-1962: one letter and four digits (X.1111 ... 1111.X).",
        source=_BE_OLD,
    ),
    _rule(
        "BE.official",
        r"([AEP])([0-9]{1,3})",
        sep="-",
        inference=NEVER,
        example="P-114",
        description=(
            "Additional plates of office holders: A (federal), E (regions), P (parliament), "
            "then 1-3 digits."
        ),
        source="deplalaw.be on the MB of 30 September 2014 ('A', 'E', 'P' plates)",
    ),
    _rule(
        "BE.court",
        r"([0-9]{1,3})",
        sep="-",
        inference=NEVER,
        example="14",
        description="Royal court plates: 1-3 digits only.",
        source="deplalaw.be on the MB of 30 September 2014 ('Hof' plates)",
    ),
    # ---- Netherlands ---------------------------------------------------------------------
    _sidecode(1, r"([A-Z]{2})([0-9]{2})([0-9]{2})", "DE-12-34", "XX-99-99, 1951-1965"),
    _sidecode(2, r"([0-9]{2})([0-9]{2})([A-Z]{2})", "12-34-DE", "99-99-XX, 1965-1973"),
    _sidecode(3, r"([0-9]{2})([A-Z]{2})([0-9]{2})", "12-DE-34", "99-XX-99, 1973-1978"),
    _sidecode(4, r"([A-Z]{2})([0-9]{2})([A-Z]{2})", "GB-12-HN", "XX-99-XX, 1978-1991"),
    _sidecode(5, r"([A-Z]{2})([A-Z]{2})([0-9]{2})", "GB-HN-12", "XX-XX-99, 1991-1999"),
    _sidecode(6, r"([0-9]{2})([A-Z]{2})([A-Z]{2})", "12-GB-HN", "99-XX-XX, 1999-2008"),
    _sidecode(7, r"([0-9]{2})([A-Z]{3})([0-9])", "12-GBH-3", "99-XXX-9, 2008-2013"),
    _sidecode(8, r"([0-9])([A-Z]{3})([0-9]{2})", "1-GBH-23", "9-XXX-99, 2013-2015"),
    _sidecode(9, r"([A-Z]{2})([0-9]{3})([A-Z])", "GB-123-H", "XX-999-X, 2015-2019"),
    _sidecode(10, r"([A-Z])([0-9]{3})([A-Z]{2})", "G-123-BH", "X-999-XX, 2019-2023"),
    _sidecode(11, r"([A-Z]{3})([0-9]{2})([A-Z])", "GBH-12-N", "XXX-99-X, since 2023"),
    _sidecode(12, r"([A-Z])([0-9]{2})([A-Z]{3})", "G-12-BHN", "X-99-XXX, next"),
    _sidecode(13, r"([0-9])([A-Z]{2})([0-9]{3})", "1-GB-234", "9-XX-999, later"),
    _sidecode(14, r"([0-9]{3})([A-Z]{2})([0-9])", "123-GB-4", "999-XX-9, later"),
    # ---- France --------------------------------------------------------------------------
    _rule(
        "FR.siv",
        r"([A-HJ-NP-TV-Z]{2})(00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})([A-HJ-NP-TV-Z]{2})",
        sep="-",
        inference=STRONG,
        example="AB-123-CD",
        description=(
            "SIV, since 15 April 2009: AA-123-AA; the letters I, O and U are not used and 000 "
            "is not issued. The SS and WW series (WW: temporary) are not excluded."
        ),
        source=_FR_SIV,
    ),
    _rule(
        "FR.fni",
        r"([0-9]{1,4})([A-Z]{1,3})([0-9]{2}|2[AB]|97[1-6])",
        sep=" ",
        inference=WEAK,
        example="1234 AB 56",
        description=(
            "FNI, 1950-2009 (still seen): 1-4 digits, 1-3 letters, department (01-95, 2A/2B, "
            "971-976). WEAK: shaped like old Dutch and Belgian plates."
        ),
        source=_FR_FNI,
    ),
    # ---- Germany -------------------------------------------------------------------------
    _rule(
        "DE.standard",
        r"([A-Z]{2,4})([0-9]{1,4}[EH]?)|([A-Z]{5})([0-9]{1,3}[EH]?)",
        sep=" ",
        inference=WEAK,
        example="MAB 1234",
        description=(
            "District code (1-3 letters) + identifier (1-2 letters, 1-4 digits), at most 8 "
            "characters, plus an optional E (electric) or H (historic) suffix, not counted "
            "here (UNCERTAIN whether the suffix counts). The normalised text loses the "
            "district/identifier boundary, so the display keeps the letters together. WEAK: "
            "the shape is very broad."
        ),
        source=_DE,
    ),
    # ---- Luxembourg ----------------------------------------------------------------------
    _rule(
        "LU.diplomatic",
        r"(CD)([0-9]{2})([0-9]{2})",
        sep=" ",
        inference=STRONG,
        example="CD 12 34",
        description="Diplomatic plates: CD, two digits, hyphen, two digits (CD 12-34).",
        source=f"{_LU}; memim.com, Vehicle registration plates of Luxembourg",
    ),
    _rule(
        "LU.standard",
        r"([A-Z]{2})([0-9]{4})",
        sep=" ",
        inference=STRONG,
        example="AB 1234",
        description="Current series since 2003: two letters, four digits (leading zeros too).",
        source=_LU,
    ),
    _rule(
        "LU.old",
        r"([A-Z])([0-9]{4})|([A-Z]{2})([0-9]{3})",
        sep=" ",
        inference=WEAK,
        example="MK 286",
        description="Older series still in use: one letter + four digits, two letters + three.",
        source=_LU,
    ),
    _rule(
        "LU.moped",
        r"([A-Z]{2})([0-9]{2})",
        sep=" ",
        inference=WEAK,
        example="AB 12",
        description="Mopeds: two letters and two digits (small plate).",
        source=_LU,
    ),
    _rule(
        "LU.numeric",
        r"([0-9]{3,5})",
        sep=" ",
        inference=NEVER,
        example="12345",
        description="Digits only: custom plates (four or five digits) and old 3-digit plates.",
        source=_LU,
    ),
)


def format_rules() -> tuple[FormatRule, ...]:
    """The whole rule table: countries in priority order, rules in match order."""
    return RULES
