"""The people of the access tests: principals, their accounts on a node, a settable clock."""

from __future__ import annotations

from collections.abc import Iterable

from kruispunt.access.principals import Principal, Role, User
from kruispunt.node import Node
from kruispunt.store.sql import now_us


def p(user_id: str, zone: str, role: Role) -> Principal:
    return Principal(user_id=user_id, zone_id=zone, role=role)


def accounts(node: Node, people: Iterable[Principal]) -> dict[str, str]:
    """Each person as a user of the node: user id -> API token."""
    return {
        who.user_id: node.users.create(
            User(id=who.user_id, name=who.user_id, zone_id=who.zone_id, role=who.role),
            actor=None,
        )
        for who in people
    }


class Clock:
    """A clock the test moves (microseconds since the epoch)."""

    def __init__(self) -> None:
        self.us = now_us()

    def __call__(self) -> int:
        return self.us
