"""Who is asking: users (people) and their zone and role.

A first, small identity layer: users with a role, a zone and an API token. Passwords, second
factor, sessions and cross-zone grants come with the lawful-access work; everything that asks
"who is this and what may they see" already goes through ``Principal``.
"""

from __future__ import annotations

import enum

import msgspec


class Role(enum.StrEnum):
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    ANALYST = "analyst"
    TRAFFIC_OFFICER = "traffic_officer"
    ZONE_CHIEF = "zone_chief"
    MAGISTRATE = "magistrate"
    DPO = "dpo"
    AUDITOR = "auditor"
    MUNICIPALITY = "municipality"
    ADMIN = "admin"


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    zone_id: str
    role: Role
    active: bool = True


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    zone_id: str
    role: Role

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user_id=user.id, zone_id=user.zone_id, role=user.role)
