"""The OpenID Connect protocol as Kruispunt speaks it, without state: the flow sealed in a
cookie, PKCE, the authorization URL, the provider's discovery document and keys, and the
checks of an ID token. The sign-in itself (who the person is here, the session, the audit)
is ``kruispunt.access.oidc``.

The ID token must be signed with a public-key algorithm by a key of the provider's JWKS
(``none`` and HMAC are refused whatever the key), and its ``iss``, ``aud`` (and ``azp``),
``exp``, ``iat`` and ``nonce`` must hold.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import msgspec

from kruispunt.config import OidcConfig
from kruispunt.errors import Refused

US = 1_000_000
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_REQUIRED = ["iss", "sub", "aud", "exp", "iat", "nonce"]
_JWKS_REFRESH_US = 60 * US  # an unknown key id fetches the keys again, at most this often


class OidcError(Refused):
    code = "oidc_error"


class OidcUnavailable(OidcError):
    code = "oidc_unavailable"
    status = 502


class OidcLoginFailed(OidcError):
    code = "oidc_login_failed"
    status = 401

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


# -- pure parts ------------------------------------------------------------------------------
class Flow(msgspec.Struct, frozen=True, array_like=True):
    """A started sign-in, kept by the browser in a sealed cookie until the callback."""

    state: str
    nonce: str
    verifier: str
    expires_us: int


_flow_decoder = msgspec.json.Decoder(Flow)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_flow(now: int, ttl_s: int) -> Flow:
    return Flow(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                verifier=secrets.token_urlsafe(48), expires_us=now + ttl_s * US)  # fmt: skip


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)), no padding."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def seal(flow: Flow, key: bytes) -> str:
    body = _b64(msgspec.json.encode(flow))
    return body + "." + _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def unseal(value: str | None, key: bytes, now: int) -> Flow:
    """The flow sealed in ``value``, or ``OidcLoginFailed`` (missing, forged or too old)."""
    if not value:
        raise OidcLoginFailed("flow_missing", "no sign-in was started from this browser "
                              "(or its cookie was lost): start again")  # fmt: skip
    body, _, mac = value.partition(".")
    good = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), good.encode()):
        raise OidcLoginFailed("flow_invalid", "the sign-in cookie is not this node's")
    try:
        flow = _flow_decoder.decode(_unb64(body))
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError):
        raise OidcLoginFailed("flow_invalid", "the sign-in cookie is not this node's") from None
    if now >= flow.expires_us:
        raise OidcLoginFailed("flow_expired", "the sign-in took too long: start again")
    return flow


def authorization_url(
    endpoint: str, *, client_id: str, redirect_uri: str, scopes: Sequence[str], flow: Flow
) -> str:
    query = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(scopes), "state": flow.state, "nonce": flow.nonce,
        "code_challenge": pkce_challenge(flow.verifier), "code_challenge_method": "S256",
    })  # fmt: skip
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def pick_key(keys: Iterable[Mapping[str, Any]], *, kid: str | None, alg: str) -> Mapping[str, Any]:
    """The provider's signing key for this token, or ``LookupError``."""
    kty = _KEY_TYPE[alg[:2]]
    found = [
        k for k in keys
        if k.get("kty") == kty and k.get("use", "sig") == "sig" and k.get("alg", alg) == alg
        and (kid is None or k.get("kid") == kid)
    ]  # fmt: skip
    if len(found) != 1:
        raise LookupError(kid)
    return found[0]


def reject(reason: str, message: str) -> OidcLoginFailed:
    return OidcLoginFailed(reason, f"the identity provider's ID token was refused: {message}")


def verify_id_token(
    id_token: str,
    *,
    keys: Sequence[Mapping[str, Any]],
    issuer: str,
    client_id: str,
    nonce: str,
    leeway_s: int,
    max_age_s: int,
) -> dict[str, Any]:
    """The ID token's claims, once signature, issuer, audience, times and nonce hold; else
    ``OidcLoginFailed`` with the reason (``LookupError``: no key of ``keys`` fits)."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError:
        raise reject("malformed_token", "not a signed JWT") from None
    alg = header.get("alg")
    if alg not in PUBLIC_KEY_ALGORITHMS:
        raise reject("bad_algorithm", f"algorithm {alg!r}; only public-key signatures count")
    kid = header.get("kid")
    jwk = pick_key(keys, kid=kid if isinstance(kid, str) else None, alg=alg)
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg)
        claims = jwt.decode(
            id_token, key, algorithms=[alg], audience=client_id, issuer=issuer,
            leeway=leeway_s, options={"require": _REQUIRED},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        raise reject("token_expired", "it has expired") from None
    except jwt.InvalidAudienceError:
        raise reject("wrong_audience", "it was issued for another client") from None
    except jwt.InvalidIssuerError:
        raise reject("wrong_issuer", "it comes from another issuer") from None
    except jwt.InvalidSignatureError:
        raise reject("bad_signature", "its signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise reject("claim_missing", f"it lacks the {exc.claim!r} claim") from None
    except (jwt.ImmatureSignatureError, jwt.InvalidIssuedAtError):
        raise reject("bad_times", "it is not valid yet") from None
    except (jwt.PyJWKError, jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
        raise reject("unknown_key", "the provider's key does not fit it") from None
    except jwt.InvalidTokenError as exc:
        raise reject("malformed_token", type(exc).__name__) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise reject("wrong_audience", "several audiences and azp is not this client")
    if int(claims["iat"]) < time.time() - max_age_s - leeway_s:
        raise reject("token_stale", "it was issued too long ago")
    if not isinstance(claims["nonce"], str) or not hmac.compare_digest(
        claims["nonce"].encode(), nonce.encode()
    ):
        raise reject("nonce_mismatch", "its nonce is not this sign-in's")
    if not isinstance(claims["sub"], str) or not claims["sub"] or len(claims["sub"]) > 255:
        raise reject("claim_missing", "its subject is empty or too long")
    return claims


def printable(value: str, limit: int = 64) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in value[:limit])


# -- the provider --------------------------------------------------------------------------------
class Provider:
    """The provider's discovery document and keys, fetched on demand and kept a while."""

    def __init__(self, config: OidcConfig, clock: Callable[[], int]):
        assert config.issuer is not None
        self.issuer = config.issuer
        self._ttl_us = config.metadata_cache_s * US
        self._clock = clock
        self._meta: dict[str, Any] | None = None
        self._meta_at = 0
        self._keys: list[dict[str, Any]] = []
        self._keys_at = 0
        self._forced_at = -_JWKS_REFRESH_US

    async def _json(self, http: httpx.AsyncClient, url: str) -> dict[str, Any]:
        try:
            resp = await http.get(url, headers={"Accept": "application/json"})
            resp.raise_for_status()
            doc = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcUnavailable(f"identity provider: {url}: {type(exc).__name__}") from None
        if not isinstance(doc, dict):
            raise OidcUnavailable(f"identity provider: {url}: not a JSON object")
        return doc

    async def metadata(self, http: httpx.AsyncClient) -> dict[str, Any]:
        now = self._clock()
        if self._meta is None or now - self._meta_at >= self._ttl_us:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            doc = await self._json(http, url)
            if doc.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, section 4.3
                raise OidcUnavailable("identity provider: its discovery names another issuer")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(field), str):
                    raise OidcUnavailable(f"identity provider: discovery lacks {field}")
            self._meta, self._meta_at = doc, now
        return self._meta

    async def keys(self, http: httpx.AsyncClient, *, fresh: bool = False) -> list[dict[str, Any]]:
        """The signing keys; ``fresh``: fetched again (a key id not seen yet), though not more
        than once a minute (tokens with made-up key ids must not make us hammer the provider)."""
        now = self._clock()
        forced = fresh and now - self._forced_at >= _JWKS_REFRESH_US
        if not self._keys or forced or now - self._keys_at >= self._ttl_us:
            if forced:
                self._forced_at = now
            doc = await self._json(http, (await self.metadata(http))["jwks_uri"])
            keys = doc.get("keys")
            if not isinstance(keys, list):
                raise OidcUnavailable("identity provider: its JWKS has no keys")
            self._keys, self._keys_at = [k for k in keys if isinstance(k, dict)], now
        return self._keys
