"""Sign-in through OpenID Connect against a fake identity provider made here: its own RSA
key, discovery document, JWKS and token endpoint, served in-process (httpx MockTransport)
and checking what a real provider checks (client, redirect URI, PKCE verifier, one use per
code). Runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kruispunt.access.oidc import OidcService, role_and_zone
from kruispunt.access.oidc_protocol import pkce_challenge, verify_id_token
from kruispunt.access.principals import Role, User
from kruispunt.api.app import create_app
from kruispunt.audit import AuditRecord, read_audit, verify_chain
from kruispunt.config import Config, ConfigError, OidcConfig, load_config
from kruispunt.node import Node
from tests.conftest import ADMIN, on_both_engines

pytestmark = on_both_engines

ISSUER = "https://idp.test/realms/police"
CLIENT_ID = "kruispunt"
SECRET = "s3cret/with:odd&chars"
REDIRECT = "https://kp/api/v1/auth/oidc/callback"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
Claims = dict[str, Any]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeIdp:
    """An identity provider as the node meets it over HTTP."""

    def __init__(self) -> None:
        self.key = new_key()
        self.kid = "k1"
        self.subject = "alice-0001"
        self.groups = ["kp-operators", "kp-pz5364"]
        self.codes: dict[str, dict[str, str]] = {}
        self.tamper: Callable[[Claims], Claims] = lambda c: c
        self.sign: Callable[[Claims], str] = self.rs256
        self.discovery_issuer = ISSUER

    def jwk(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    def rs256(self, claims: Claims) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def authorize(self, url: str) -> dict[str, str]:
        """The person signs in at the provider: the query the browser comes back with."""
        assert url.startswith(f"{ISSUER}/protocol/openid-connect/auth?")
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert q["redirect_uri"] == REDIRECT and "openid" in q["scope"].split()
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
        code = f"code-{len(self.codes)}"
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"]}
        return {"code": code, "state": q["state"]}

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/realms/police/.well-known/openid-configuration":
            base = f"{ISSUER}/protocol/openid-connect"
            return httpx.Response(200, json={
                "issuer": self.discovery_issuer, "authorization_endpoint": f"{base}/auth",
                "token_endpoint": f"{base}/token", "jwks_uri": f"{base}/certs",
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })  # fmt: skip
        if path == "/realms/police/protocol/openid-connect/certs":
            return httpx.Response(200, json={"keys": [self.jwk()]})
        if path == "/realms/police/protocol/openid-connect/token" and request.method == "POST":
            return self.token(request)
        return httpx.Response(404)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        scheme, _, creds = request.headers.get("authorization", "").partition(" ")
        client = base64.b64decode(creds).decode() if scheme == "Basic" else ""
        from urllib.parse import unquote

        if [unquote(p) for p in client.split(":", 1)] != [CLIENT_ID, SECRET]:
            return httpx.Response(401, json={"error": "invalid_client"})
        grant = self.codes.pop(form.get("code", ""), None)  # a code is good once
        if grant is None or form.get("grant_type") != "authorization_code":
            return httpx.Response(400, json={"error": "invalid_grant"})
        if form.get("redirect_uri") != REDIRECT:
            return httpx.Response(400, json={"error": "invalid_grant"})
        if pkce_challenge(form.get("code_verifier", "")) != grant["challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": self.subject, "aud": CLIENT_ID, "exp": now + 300,
                  "iat": now, "nonce": grant["nonce"], "name": "Alice Peeters",
                  "groups": self.groups}  # fmt: skip
        id_token = self.sign({k: v for k, v in self.tamper(claims).items() if v is not None})
        return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer",
                                         "expires_in": 300, "id_token": id_token})  # fmt: skip


def oidc_config(**changes: Any) -> OidcConfig:
    fields: dict[str, Any] = {"enabled": True, "issuer": ISSUER, "client_id": CLIENT_ID,
                              "redirect_uri": REDIRECT, "scopes": ("openid",)}  # fmt: skip
    return OidcConfig(**fields | changes)


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp()


def start_node(config: Config, idp: FakeIdp, **changes: Any) -> Node:
    node = Node(config.model_copy(update={"oidc": oidc_config(**changes)}))
    node.start()
    assert node.oidc is not None
    node.oidc = OidcService(
        node.config.oidc, store=node.store, writer=node.writer, users=node.users,
        sessions=node.sessions, zone_ids={z.id for z in node.zones}, client_secret=SECRET,
        transport=httpx.MockTransport(idp.handler),
    )  # fmt: skip
    return node


@pytest.fixture
def oidc_node(config: Config, idp: FakeIdp) -> Iterator[Node]:
    node = start_node(config, idp)
    node.users.create(User(id="op-1", name="Op One", zone_id="pz5364", role=Role.OPERATOR),
                      actor=None)  # fmt: skip
    yield node
    node.stop()


@pytest.fixture
def claims_node(config: Config, idp: FakeIdp) -> Iterator[Node]:
    node = start_node(
        config, idp, mode="claims",
        role_groups={"kp-operators": "operator", "kp-chiefs": "zone_chief"},
        zone_groups={"kp-pz5364": "pz5364", "kp-pz5352": "pz5352"},
    )  # fmt: skip
    yield node
    node.stop()


async def _client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node, manage_node=False)
    # https: the flow cookie is Secure, as the redirect URI is.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://kp") as c:  # fmt: skip
        yield c


@pytest.fixture
async def browser(oidc_node: Node) -> AsyncIterator[httpx.AsyncClient]:
    async for c in _client(oidc_node):
        yield c


async def sign_in(browser: httpx.AsyncClient, idp: FakeIdp) -> httpx.Response:
    start = await browser.get("/api/v1/auth/oidc/login")
    assert start.status_code == 302, start.text
    assert "httponly" in start.headers["set-cookie"].lower()
    assert "secure" in start.headers["set-cookie"].lower()
    back = idp.authorize(start.headers["location"])
    return await browser.get("/api/v1/auth/oidc/callback", params=back)


async def link(browser: httpx.AsyncClient, user_id: str, subject: str) -> httpx.Response:
    return await browser.post("/api/v1/auth/oidc/links", json={"user_id": user_id,
                              "subject": subject}, headers=AS_ADMIN)  # fmt: skip


def records(node: Node, action: str) -> list[AuditRecord]:
    return [r for r in read_audit(node.store.reader()) if r.action == action]


def sessions(node: Node) -> int:
    row = node.store.reader().execute("SELECT COUNT(*) FROM sessions").fetchone()
    return int(row[0])


# -- signing in ----------------------------------------------------------------------------------
async def test_a_linked_identity_gets_a_session_that_works_as_a_bearer_token(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp
) -> None:
    assert (await link(browser, "op-1", idp.subject)).status_code == 201
    r = await sign_in(browser, idp)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == "op-1" and body["role"] == "operator" and body["zone_id"] == "pz5364"
    assert body["idle_timeout_s"] == 900 and r.headers["cache-control"] == "no-store"
    auth = {"Authorization": f"Bearer {body['token']}"}
    me = await browser.get("/api/v1/users/me", headers=auth)
    assert me.status_code == 200 and me.json()["user_id"] == "op-1"
    (login,) = records(oidc_node, "login")
    assert login.actor == "op-1" and login.detail["method"] == "oidc"
    assert login.detail["issuer"] == ISSUER and login.detail["subject"] == idp.subject
    (listed,) = (await browser.get("/api/v1/auth/oidc/links", headers=AS_ADMIN)).json()
    assert listed["user_id"] == "op-1" and listed["last_login_us"] is not None
    assert (await browser.post("/api/v1/auth/logout", headers=auth)).status_code == 204
    assert (await browser.get("/api/v1/users/me", headers=auth)).status_code == 401
    assert verify_chain(read_audit(oidc_node.store.reader())) is None


def _none(claims: Claims) -> str:
    return jwt.encode(claims, "", algorithm="none")


def _hs256_with_the_public_key(idp: FakeIdp) -> Callable[[Claims], str]:
    """The classic confusion: HMAC keyed with the provider's public key (which anyone has)."""
    pem = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def sign(claims: Claims) -> str:
        head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": idp.kid}).encode())
        body = b64(json.dumps(claims).encode())
        mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(mac)}"

    return sign


def _other_key(idp: FakeIdp) -> Callable[[Claims], str]:
    stranger = new_key()
    return lambda c: jwt.encode(c, stranger, algorithm="RS256", headers={"kid": idp.kid})


BAD_TOKENS: dict[str, tuple[Callable[[FakeIdp], None], str]] = {
    "nonce_mismatch": (lambda i: setattr(i, "tamper", lambda c: c | {"nonce": "n-other"}),
                       "nonce"),
    "token_expired": (lambda i: setattr(i, "tamper", lambda c: c | {
        "exp": int(time.time()) - 3600, "iat": int(time.time()) - 3900}), "expired"),
    "wrong_audience": (lambda i: setattr(i, "tamper", lambda c: c | {"aud": "another-app"}),
                       "another client"),
    "wrong_issuer": (lambda i: setattr(i, "tamper", lambda c: c | {"iss": "https://evil.test"}),
                     "another issuer"),
    "bad_signature": (lambda i: setattr(i, "sign", _other_key(i)), "signature"),
    "bad_algorithm": (lambda i: setattr(i, "sign", _none), "only public-key signatures"),
    "claim_missing": (lambda i: setattr(i, "tamper", lambda c: c | {"nonce": None}), "nonce"),
}  # fmt: skip


@pytest.mark.parametrize("reason", [*BAD_TOKENS, "hs256_public_key", "unknown_subject"])
async def test_a_bad_answer_is_refused_clearly_and_audited(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp, reason: str
) -> None:
    await link(browser, "op-1", idp.subject)
    expected, says = reason, ""
    if reason in BAD_TOKENS:
        spoil, says = BAD_TOKENS[reason]
        spoil(idp)
    elif reason == "hs256_public_key":
        idp.sign, expected, says = _hs256_with_the_public_key(idp), "bad_algorithm", "HS256"
    else:
        idp.subject, says = "mallory-0002", "not linked to a Kruispunt user"
    r = await sign_in(browser, idp)
    assert r.status_code == 401, r.text
    error = r.json()["error"]
    assert error["code"] == "oidc_login_failed" and says in error["message"], error
    (failed,) = records(oidc_node, "login.failed")
    assert failed.detail["method"] == "oidc" and failed.detail["reason"] == expected
    assert failed.actor == ("oidc:mallory-0002" if reason == "unknown_subject" else "oidc")
    assert sessions(oidc_node) == 0 and records(oidc_node, "login") == []


async def test_a_forged_state_a_lost_cookie_or_a_replayed_code_is_refused(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp
) -> None:
    await link(browser, "op-1", idp.subject)
    start = await browser.get("/api/v1/auth/oidc/login")
    back = idp.authorize(start.headers["location"])
    forged = await browser.get("/api/v1/auth/oidc/callback", params=back | {"state": "forged"})
    assert forged.status_code == 401 and "start again" in forged.json()["error"]["message"]
    # The refusal spent the flow (its cookie is gone): the real answer cannot follow it.
    late = await browser.get("/api/v1/auth/oidc/callback", params=back)
    assert late.status_code == 401
    ok = await sign_in(browser, idp)
    assert ok.status_code == 200
    start = await browser.get("/api/v1/auth/oidc/login")
    back = idp.authorize(start.headers["location"])
    good = await browser.get("/api/v1/auth/oidc/callback", params=back)
    assert good.status_code == 200
    cookie = {"Cookie": f"kp_oidc={start.cookies['kp_oidc']}"}  # a browser that kept it
    replay = await browser.get("/api/v1/auth/oidc/callback", params=back, headers=cookie)
    assert replay.status_code == 401 and "refused the code" in replay.json()["error"]["message"]
    denied = await sign_in_denied(browser)
    assert denied.status_code == 401 and "access_denied" in denied.json()["error"]["message"]
    reasons = [r.detail["reason"] for r in records(oidc_node, "login.failed")]
    assert reasons == ["state_mismatch", "flow_missing", "code_refused", "provider_refused"]


async def sign_in_denied(browser: httpx.AsyncClient) -> httpx.Response:
    start = await browser.get("/api/v1/auth/oidc/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    params = {"error": "access_denied", "state": state}
    return await browser.get("/api/v1/auth/oidc/callback", params=params)


async def test_a_deactivated_or_unlinked_user_stays_out(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp
) -> None:
    await link(browser, "op-1", idp.subject)
    oidc_node.users.deactivate("op-1", actor=None)
    r = await sign_in(browser, idp)
    assert r.status_code == 401 and "deactivated" in r.json()["error"]["message"]
    assert records(oidc_node, "login.failed")[-1].actor == "op-1"
    oidc_node.users.create(User(id="op-2", name="Op Two", zone_id="pz5364",
                                role=Role.OPERATOR), actor=None)  # fmt: skip
    gone = await browser.delete(f"/api/v1/auth/oidc/links/{idp.subject}", headers=AS_ADMIN)
    assert gone.status_code == 200 and gone.json()["user_id"] == "op-1"
    assert (await link(browser, "op-2", idp.subject)).status_code == 201
    assert (await link(browser, "op-2", idp.subject)).json()["error"]["code"] == "link_exists"
    assert (await link(browser, "op-1", "other")).json()["error"]["code"] == "user_inactive"
    assert (await link(browser, "nobody", "x")).json()["error"]["code"] == "unknown_user"
    assert (await sign_in(browser, idp)).json()["user_id"] == "op-2"
    assert [r.object_id for r in records(oidc_node, "oidc.link")] == ["op-1", "op-2"]
    assert [r.object_id for r in records(oidc_node, "oidc.unlink")] == ["op-1"]


async def test_rotated_provider_keys_are_fetched_again(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp
) -> None:
    await link(browser, "op-1", idp.subject)
    assert (await sign_in(browser, idp)).status_code == 200  # keys now cached
    idp.key, idp.kid = new_key(), "k2"
    assert (await sign_in(browser, idp)).status_code == 200


async def test_a_provider_whose_discovery_names_another_issuer_is_not_used(
    browser: httpx.AsyncClient, oidc_node: Node, idp: FakeIdp
) -> None:
    idp.discovery_issuer = "https://evil.test"
    r = await browser.get("/api/v1/auth/oidc/login")
    assert r.status_code == 502 and r.json()["error"]["code"] == "oidc_unavailable"


# -- claims mode -------------------------------------------------------------------------------
async def test_claims_mode_makes_the_user_from_the_groups_and_follows_them(
    claims_node: Node, idp: FakeIdp
) -> None:
    async for browser in _client(claims_node):
        first = await sign_in(browser, idp)
        assert first.status_code == 200, first.text
        user_id = first.json()["user_id"]
        assert user_id.startswith("oidc-") and first.json()["role"] == "operator"
        user = claims_node.users.get(user_id)
        assert user is not None and user.name == "Alice Peeters" and user.zone_id == "pz5364"
        idp.groups = ["kp-chiefs", "kp-pz5352"]
        second = await sign_in(browser, idp)
        assert second.json()["user_id"] == user_id and second.json()["role"] == "zone_chief"
        auth = {"Authorization": f"Bearer {second.json()['token']}"}
        me = await browser.get("/api/v1/users/me", headers=auth)
        assert me.json()["zone_id"] == "pz5352"
        assert [r.object_id for r in records(claims_node, "user.create")] == [user_id]
        (update,) = records(claims_node, "user.update")
        assert update.detail["was"] == {"role": "operator", "zone_id": "pz5364"}
        idp.groups = ["kp-chiefs", "kp-operators", "kp-pz5352"]
        ambiguous = await sign_in(browser, idp)
        assert ambiguous.status_code == 401
        assert "exactly one of each" in ambiguous.json()["error"]["message"]
        assert records(claims_node, "login.failed")[-1].detail["reason"] == "claims_unmapped"
        # Unlinked and deactivated by an admin: the groups do not bring the person back.
        gone = await browser.delete(f"/api/v1/auth/oidc/links/{idp.subject}", headers=AS_ADMIN)
        assert gone.status_code == 200
        claims_node.users.deactivate(user_id, actor=None)
        idp.groups = ["kp-chiefs", "kp-pz5352"]
        out = await sign_in(browser, idp)
        assert out.status_code == 401 and "deactivated" in out.json()["error"]["message"]
        assert [r.object_id for r in records(claims_node, "user.create")] == [user_id]


# -- pure parts and configuration ---------------------------------------------------------------
def test_the_groups_give_one_role_and_one_zone_or_a_reason() -> None:
    maps: dict[str, Any] = {"groups_claim": "g", "role_groups": {"a": "analyst"},
                            "zone_groups": {"z": "pz5364"}}  # fmt: skip
    assert role_and_zone({"g": ["a", "z", "x"]}, **maps) == (Role.ANALYST, "pz5364")
    assert isinstance(role_and_zone({"g": "a"}, **maps), str)
    assert isinstance(role_and_zone({}, **maps), str)


def test_an_id_token_without_a_known_key_is_a_lookup_error(idp: FakeIdp) -> None:
    token = idp.rs256({"iss": ISSUER})
    with pytest.raises(LookupError):
        verify_id_token(token, keys=[], issuer=ISSUER, client_id=CLIENT_ID, nonce="n",
                        leeway_s=0, max_age_s=60)  # fmt: skip


@pytest.mark.parametrize(
    ("oidc", "problem"),
    [
        ({"enabled": True}, "also set issuer, client_id, redirect_uri"),
        ({"issuer": "http://idp.example"}, "https"),
        ({"role_groups": {"g": "sheriff"}}, "unknown role"),
        ({"enabled": True, "issuer": ISSUER, "client_id": "c", "redirect_uri": REDIRECT,
          "scopes": ["profile"]}, "openid"),
        ({"enabled": True, "issuer": ISSUER, "client_id": "c", "redirect_uri": REDIRECT,
          "mode": "claims"}, "role_groups"),
    ],
)  # fmt: skip
def test_the_oidc_configuration_is_checked(oidc: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        load_config(None, env={}, overrides={"oidc": oidc})
    assert load_config(None, env={}).oidc.enabled is False  # the reference setup: off


async def test_with_oidc_off_its_routes_say_so(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/auth/oidc/login")
    assert r.status_code == 404 and r.json()["error"]["code"] == "oidc_disabled"
