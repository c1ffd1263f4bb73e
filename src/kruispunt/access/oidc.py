"""Sign-in through an OpenID Connect identity provider (``oidc`` in the configuration).

The authorization code flow with PKCE (S256), a ``state`` and a ``nonce``::

    GET /api/v1/auth/oidc/login     -> 302 to the provider; the flow (state, nonce, PKCE
                                       verifier, deadline) rides in an HMAC-sealed cookie
    provider signs the person in    -> 302 back to redirect_uri with code and state
    GET /api/v1/auth/oidc/callback  -> state checked against the cookie, code exchanged
                                       (with the verifier) at the token endpoint, ID token
                                       checked, then a session exactly as a local sign-in

The protocol's parts and the ID token's checks are in ``kruispunt.access.oidc_protocol``.
The flow cookie's key is kept in the store's meta table, so every node process can finish a
sign-in another one started.

Who the person is here (``mode``):

- ``link``: an admin linked the provider's (issuer, subject) to an existing user; nobody
  else gets in.
- ``claims``: the provider's groups (``groups_claim``) map to exactly one role and one zone;
  the first sign-in creates the user, later ones follow changed groups. An admin's
  deactivation wins over the groups: a deactivated user stays out.

Every sign-in and every refusal is audited as a local one is (``login`` / ``login.failed``,
with ``method: oidc`` and a reason code). Unlike the local sign-in the refusals say what went
wrong: the provider has already told the person who they are.

Errors::

    OidcError               (oidc_protocol)
    ├── OidcUnavailable     502 oidc_unavailable (the provider cannot be reached or is wrong)
    ├── OidcLoginFailed     401 oidc_login_failed (``reason``: machine-readable)
    ├── OidcDisabled        404 oidc_disabled
    └── OidcLinkError       400 invalid_link (404 unknown_link, 403 forbidden, 409 link_exists)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from kruispunt.access.oidc_protocol import (
    Flow,
    OidcError,
    OidcLoginFailed,
    OidcUnavailable,
    Provider,
    authorization_url,
    new_flow,
    printable,
    reject,
    seal,
    unseal,
    verify_id_token,
)
from kruispunt.access.principals import Principal, Role, User
from kruispunt.access.records import Commit
from kruispunt.access.sessions import Session, SessionService
from kruispunt.access.users import UserService
from kruispunt.audit import write_audit
from kruispunt.config import OidcConfig
from kruispunt.store.sql import Conn, SqlStore, now_us
from kruispunt.writer import Writer

COOKIE = "kp_oidc"
COOKIE_PATH = "/api/v1/auth/oidc"
_META_KEY = "oidc_flow_key"


class OidcDisabled(OidcError):
    code = "oidc_disabled"
    status = 404


class OidcLinkError(OidcError):
    code = "invalid_link"


class OidcLinkForbidden(OidcLinkError):
    code = "forbidden"
    status = 403


class OidcLinkNotFound(OidcLinkError):
    code = "unknown_link"
    status = 404


class OidcLinkExists(OidcLinkError):
    code = "link_exists"
    status = 409


# -- who the person is here ------------------------------------------------------------
def role_and_zone(
    claims: Mapping[str, Any],
    *,
    groups_claim: str,
    role_groups: Mapping[str, str],
    zone_groups: Mapping[str, str],
) -> tuple[Role, str] | str:
    """claims mode: the one role and one zone the provider's groups give, or what is wrong."""
    raw = claims.get(groups_claim)
    groups = {raw} if isinstance(raw, str) else {g for g in raw or () if isinstance(g, str)}
    roles = {role_groups[g] for g in groups if g in role_groups}
    zones = {zone_groups[g] for g in groups if g in zone_groups}
    if len(roles) != 1 or len(zones) != 1:
        return (f"the groups in {groups_claim!r} give {len(roles)} role(s) and {len(zones)} "
                "zone(s) here; exactly one of each is needed")  # fmt: skip
    return Role(roles.pop()), zones.pop()


def provisioned_id(issuer: str, subject: str) -> str:
    """The user id a claims-mode sign-in creates (stable, and never a local user's)."""
    return "oidc-" + hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:16]


# -- the service ---------------------------------------------------------------------------------
class Link(msgspec.Struct, frozen=True, kw_only=True):
    issuer: str
    subject: str
    user_id: str
    created_us: int
    last_login_us: int | None


_user_decoder = msgspec.json.Decoder(User)
_user_encoder = msgspec.json.Encoder()


class OidcService:
    """Sign-in through the configured provider; sessions through ``sessions``' rules.

    ``transport``: the HTTP transport to the provider (tests put a fake provider there);
    ``client_secret``: None for a public client (PKCE alone)."""

    def __init__(
        self,
        config: OidcConfig,
        *,
        store: SqlStore,
        writer: Writer,
        users: UserService,
        sessions: SessionService,
        zone_ids: Iterable[str],
        client_secret: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], int] = now_us,
    ):
        if not config.enabled or config.issuer is None or config.client_id is None:
            raise ValueError("oidc: not enabled, or issuer / client_id missing")
        assert config.redirect_uri is not None
        self.config = config
        self.issuer: str = config.issuer
        self.client_id: str = config.client_id
        self.redirect_uri: str = config.redirect_uri
        self.transport = transport
        self._store = store
        self._commit = Commit(store, writer, clock)
        self._users = users
        self._sessions = sessions
        self._zone_ids = frozenset(zone_ids)
        self._secret = client_secret
        self._clock = clock
        self._provider = Provider(config, clock)
        self._key: bytes | None = None

    @property
    def secure_cookie(self) -> bool:
        return self.redirect_uri.startswith("https:")

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, timeout=self.config.http_timeout_s)

    # -- the flow ------------------------------------------------------------------------------
    async def begin(self) -> tuple[str, str]:
        """Where to send the browser, and the sealed flow to set as its cookie."""
        async with self._http() as http:
            meta = await self._provider.metadata(http)
        flow = new_flow(self._clock(), self.config.flow_ttl_s)
        url = authorization_url(meta["authorization_endpoint"], client_id=self.client_id,
                                redirect_uri=self.redirect_uri, scopes=self.config.scopes,
                                flow=flow)  # fmt: skip
        return url, seal(flow, await asyncio.to_thread(self._flow_key))

    async def finish(
        self, params: Mapping[str, str], cookie: str | None, *, source_ip: str | None
    ) -> Session:
        """The session for the person the provider sent back, or a refusal (audited)."""
        ip = printable(source_ip or "") or None
        try:
            claims = await self._verified_claims(params, cookie)
        except (OidcLoginFailed, OidcUnavailable) as exc:
            reason = getattr(exc, "reason", "provider_unavailable")
            await asyncio.to_thread(self._audit_refusal, None, None, ip, reason)
            raise
        return await asyncio.to_thread(self._sign_in, claims, ip)

    async def _verified_claims(
        self, params: Mapping[str, str], cookie: str | None
    ) -> dict[str, Any]:
        flow = unseal(cookie, await asyncio.to_thread(self._flow_key), self._clock())
        if not hmac.compare_digest(params.get("state", "").encode(), flow.state.encode()):
            raise OidcLoginFailed("state_mismatch", "the answer is not for the sign-in started "
                                  "from this browser: start again")  # fmt: skip
        if "error" in params:
            said = printable(params["error"], 64)
            raise OidcLoginFailed("provider_refused", f"the identity provider said: {said}")
        code = params.get("code")
        if not code:
            raise OidcLoginFailed("code_missing", "the identity provider sent no code")
        async with self._http() as http:
            id_token = await self._exchange(http, code, flow)

            def verify(keys: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
                return verify_id_token(id_token, keys=keys, issuer=self.issuer,
                                       client_id=self.client_id, nonce=flow.nonce,
                                       leeway_s=self.config.leeway_s,
                                       max_age_s=self.config.max_token_age_s)  # fmt: skip

            try:
                return verify(await self._provider.keys(http))
            except LookupError:  # a key id not seen yet: the provider may have rotated its keys
                try:
                    return verify(await self._provider.keys(http, fresh=True))
                except LookupError:
                    raise reject("unknown_key", "signed by a key the provider does not "
                                  "publish") from None  # fmt: skip

    async def _exchange(self, http: httpx.AsyncClient, code: str, flow: Flow) -> str:
        """The ID token for ``code`` (RFC 6749 section 4.1.3, with the PKCE verifier)."""
        meta = await self._provider.metadata(http)
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": flow.verifier}  # fmt: skip
        headers = {"Accept": "application/json"}
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if self._secret is None:
            form["client_id"] = self.client_id
        elif "client_secret_basic" in methods:  # both parts form-encoded first (section 2.3.1)
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.client_id, "client_secret": self._secret}
        try:
            resp = await http.post(meta["token_endpoint"], data=form, headers=headers)
            doc = resp.json()
        except httpx.HTTPError as exc:
            raise OidcUnavailable(
                f"identity provider: token endpoint: {type(exc).__name__}"
            ) from None
        except ValueError:
            doc = None
        if resp.status_code != 200 or not isinstance(doc, dict):
            said = doc.get("error") if isinstance(doc, dict) else None
            why = printable(str(said or f"HTTP {resp.status_code}"))
            raise OidcLoginFailed("code_refused", f"the identity provider refused the code: {why}")
        id_token = doc.get("id_token")
        if not isinstance(id_token, str):
            raise OidcLoginFailed("no_id_token", "the identity provider sent no ID token")
        return id_token

    # -- who it is here --------------------------------------------------------------------------
    def _mapped(self, claims: Mapping[str, Any]) -> tuple[Role, str] | str | None:
        """claims mode: the role and zone the groups give (or why none); link mode: None."""
        if self.config.mode != "claims":
            return None
        mapped = role_and_zone(claims, groups_claim=self.config.groups_claim,
                               role_groups=self.config.role_groups,
                               zone_groups=self.config.zone_groups)  # fmt: skip
        if isinstance(mapped, tuple) and mapped[1] not in self._zone_ids:
            return f"zone {mapped[1]!r} (from the groups) is not a zone of this network"
        return mapped

    def _sign_in(self, claims: Mapping[str, Any], ip: str | None) -> Session:
        subject: str = claims["sub"]
        mapped = self._mapped(claims)
        now = self._clock()
        changed: list[bool] = []

        def save(conn: Conn, at: int) -> Session | OidcLoginFailed:
            row = conn.execute(
                "SELECT u.doc FROM oidc_links l JOIN users u ON u.id = l.user_id "
                "WHERE l.issuer=? AND l.subject=?",
                (self.issuer, subject),
            ).fetchone()
            linked = row is not None
            if row is None and isinstance(mapped, tuple):  # made by an earlier sign-in?
                row = conn.execute("SELECT doc FROM users WHERE id=?",
                                   (provisioned_id(self.issuer, subject),)).fetchone()  # fmt: skip
            user = None if row is None else _user_decoder.decode(row[0])
            refusal = self._refusal(user, mapped)
            if refusal is not None:
                self._write_refusal(conn, at, subject, user, ip, refusal.reason)
                return refusal
            if isinstance(mapped, tuple):
                before = user
                user = self._follow_groups(conn, at, user, subject, claims, mapped)
                if not linked:
                    conn.execute(
                        "INSERT INTO oidc_links (issuer, subject, user_id, created_us) "
                        "VALUES (?, ?, ?, ?)",
                        (self.issuer, subject, user.id, at),
                    )
                if user != before:
                    changed.append(True)
            assert user is not None
            conn.execute("UPDATE oidc_links SET last_login_us=? WHERE issuer=? AND subject=?",
                         (at, self.issuer, subject))  # fmt: skip
            return self._sessions.open_session(
                conn, user, started_us=now, at_us=at, source_ip=ip, method="oidc",
                detail={"issuer": self.issuer, "subject": printable(subject, 255)},
            )  # fmt: skip

        outcome = self._commit.timed(save)
        if isinstance(outcome, OidcLoginFailed):
            raise outcome
        if changed:  # a user made or changed here: the in-memory users follow
            self._users.load()
            for hook in self._users.on_change:
                hook()
        return outcome

    @staticmethod
    def _refusal(
        user: User | None, mapped: tuple[Role, str] | str | None
    ) -> OidcLoginFailed | None:
        if isinstance(mapped, str):
            return OidcLoginFailed("claims_unmapped", f"no access here: {mapped}")
        if user is None and mapped is None:
            return OidcLoginFailed("unknown_subject", "this identity is not linked to a "
                                   "Kruispunt user: ask an administrator")  # fmt: skip
        if user is not None and not user.active:  # an admin's deactivation wins over groups
            return OidcLoginFailed("user_inactive", f"user {user.id!r} is deactivated")
        return None

    def _follow_groups(
        self,
        conn: Conn,
        at: int,
        user: User | None,
        subject: str,
        claims: Mapping[str, Any],
        mapped: tuple[Role, str],
    ) -> User:
        """claims mode: the user of a first sign-in, made; a known one given the role and zone
        its groups give now (both audited, with "oidc" as the actor)."""
        role, zone = mapped
        if user is not None and (user.role, user.zone_id) == mapped:
            return user
        if user is not None:
            new = msgspec.structs.replace(user, role=role, zone_id=zone)
            conn.execute("UPDATE users SET doc=?, updated_us=? WHERE id=?",
                         (_user_encoder.encode(new), at, new.id))  # fmt: skip
            action = "user.update"
            detail = {"was": {"role": str(user.role), "zone_id": user.zone_id}}
        else:
            raw = claims.get(self.config.name_claim) or claims.get("preferred_username")
            name = raw if isinstance(raw, str) and raw.strip() else subject
            new = User(id=provisioned_id(self.issuer, subject), name=printable(name, 200),
                       zone_id=zone, role=role)  # fmt: skip
            conn.execute(
                "INSERT INTO users (id, doc, token_hash, created_us, updated_us) "
                "VALUES (?, ?, NULL, ?, ?)",
                (new.id, _user_encoder.encode(new), at, at),
            )
            action, detail = "user.create", {}
        write_audit(conn, actor="oidc", actor_zone=None, action=action, object_type="user",
                    object_id=new.id, at_us=at,
                    detail=detail | {"role": str(role), "zone_id": zone, "method": "oidc",
                                     "issuer": self.issuer, "subject": printable(subject, 255),
                                     "groups_claim": self.config.groups_claim})  # fmt: skip
        return new

    def _audit_refusal(
        self, subject: str | None, user: User | None, ip: str | None, reason: str
    ) -> None:
        self._commit.timed(
            lambda conn, at: self._write_refusal(conn, at, subject, user, ip, reason)
        )

    def _write_refusal(
        self,
        conn: Conn,
        at: int,
        subject: str | None,
        user: User | None,
        ip: str | None,
        reason: str,
    ) -> None:
        """Who tried: the user when known, else the provider's subject, else (nothing of the
        answer could be trusted) just "oidc"."""
        who = user.id if user else f"oidc:{printable(subject)}" if subject else "oidc"
        write_audit(conn, actor=who, actor_zone=user.zone_id if user else None,
                    action="login.failed", object_type="user", object_id=who, at_us=at,
                    detail={"method": "oidc", "issuer": self.issuer, "reason": reason,
                            "source_ip": ip})  # fmt: skip

    # -- links (an admin's) -----------------------------------------------------------------------
    def link(self, user_id: str, subject: str, *, actor: Principal) -> Link:
        """Let the provider's ``subject`` sign in as ``user_id``."""
        _require_admin(actor)
        if not subject or len(subject) > 255 or not subject.isprintable():
            raise OidcLinkError("subject: 1 to 255 printable characters")

        def save(conn: Conn, at: int) -> Link:
            row = conn.execute("SELECT doc FROM users WHERE id=?", (user_id,)).fetchone()
            if row is None:
                raise OidcLinkError(f"no user {user_id!r}", "unknown_user")
            if not _user_decoder.decode(row[0]).active:
                raise OidcLinkError(f"user {user_id!r} is deactivated", "user_inactive")
            taken = conn.execute("SELECT user_id FROM oidc_links WHERE issuer=? AND subject=?",
                                 (self.issuer, subject)).fetchone()  # fmt: skip
            if taken is not None:
                raise OidcLinkExists(f"the subject is linked to {taken[0]!r} already")
            conn.execute("INSERT INTO oidc_links (issuer, subject, user_id, created_us) "
                         "VALUES (?, ?, ?, ?)", (self.issuer, subject, user_id, at))  # fmt: skip
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id, action="oidc.link",
                        object_type="user", object_id=user_id, at_us=at,
                        detail={"issuer": self.issuer, "subject": subject})  # fmt: skip
            return Link(issuer=self.issuer, subject=subject, user_id=user_id, created_us=at,
                        last_login_us=None)  # fmt: skip

        return self._commit.timed(save)

    def unlink(self, subject: str, *, actor: Principal) -> Link:
        _require_admin(actor)

        def save(conn: Conn, at: int) -> Link:
            row = conn.execute(
                "DELETE FROM oidc_links WHERE issuer=? AND subject=? "
                "RETURNING user_id, created_us, last_login_us",
                (self.issuer, subject),
            ).fetchone()
            if row is None:
                raise OidcLinkNotFound(f"no link for subject {subject!r}")
            write_audit(conn, actor=actor.user_id, actor_zone=actor.zone_id,
                        action="oidc.unlink", object_type="user", object_id=str(row[0]),
                        at_us=at, detail={"issuer": self.issuer, "subject": subject})  # fmt: skip
            return Link(issuer=self.issuer, subject=subject, user_id=str(row[0]),
                        created_us=int(row[1]),
                        last_login_us=None if row[2] is None else int(row[2]))  # fmt: skip

        return self._commit.timed(save)

    def links(self, *, actor: Principal) -> list[Link]:
        _require_admin(actor)
        rows = self._store.reader().execute(
            "SELECT subject, user_id, created_us, last_login_us FROM oidc_links WHERE issuer=? "
            "ORDER BY user_id, subject",
            (self.issuer,),
        )
        return [Link(issuer=self.issuer, subject=str(s), user_id=str(u), created_us=int(c),
                     last_login_us=None if last is None else int(last))
                for s, u, c, last in rows]  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------------
    def _flow_key(self) -> bytes:
        """The flow cookie's HMAC key: made once, kept in the store (every process uses it)."""
        if self._key is None:

            def make(conn: Conn, _at: int) -> str:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (_META_KEY, secrets.token_hex(32)),
                )
                return str(conn.execute("SELECT value FROM meta WHERE key=?",
                                        (_META_KEY,)).fetchone()[0])  # fmt: skip

            row = (
                self._store.reader()
                .execute("SELECT value FROM meta WHERE key=?", (_META_KEY,))
                .fetchone()
            )
            self._key = bytes.fromhex(str(row[0]) if row is not None else self._commit.timed(make))
        return self._key


def _require_admin(actor: Principal) -> None:
    if actor.role is not Role.ADMIN:
        raise OidcLinkForbidden("only an admin links identities")
