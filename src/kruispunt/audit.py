"""The audit log: who did what to which object, when, from where, and why.

Append-only (triggers refuse UPDATE and DELETE) and tamper-evident: each record carries the
SHA-256 of its predecessor's hash and its own content, so removing or altering a record
breaks the chain from that point. Records are written in the same transaction as the
change they describe.

Beyond the chain:

- Context. A record may carry the actor's role, where the request came from (``source``:
  an address or a process), the purpose, case and reason given, the query's scope and the
  number of results. It is stored inside the hashed content: the detail JSON under the
  reserved key ``_context`` (``AuditRecord.context``; ``record.detail`` is the caller's
  detail without it).
- Plate tokens. The audit log is not a plate database: a record names a plate by
  ``plate_token(key, plate)`` (a keyed HMAC), never by its text. Whoever holds the key can
  recompute a plate's token and find the records about it; the log alone reveals nothing.
- Signed checkpoints. An attacker with database superuser rights can switch the triggers
  off, edit a record and recompute every hash after it: the chain is consistent again.
  ``checkpoint(conn, signer)`` signs the head of the chain (seq and hash) with an Ed25519
  key kept away from the database; ``verify`` checks the chain and that every checkpoint's
  signature holds and its head is still in the chain, so a rebuilt chain shows at the first
  checkpoint it crosses. Records after the last checkpoint are protected by the chain only
  (``verify`` warns). Copy the checkpoints off the machine too: deleting the newest
  checkpoints together with the records after the one before them cannot be told from
  the database alone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from kruispunt.plates.text import normalise
from kruispunt.store.sql import Conn, serialise

GENESIS = "0" * 64
CONTEXT_KEY = "_context"
"""The reserved detail key that holds a record's context (role, source, purpose, ...)."""
PLATE_TOKEN_PREFIX = "pt:"
PLATE_TOKEN_HEX = 32  # 128 bits of the HMAC: no collisions among a country's plates
MIN_PLATE_KEY_BYTES = 16
SIGNING_KEY_ENV = "KRUISPUNT_AUDIT_SIGNING_KEY"
"""The environment variable that may hold the checkpoint signing key (PEM or a hex seed)."""
_CHECKPOINT_DOMAIN = "kruispunt-audit-checkpoint/1"
_UNDECODABLE = "_undecodable"
_PAGE = 5000

_encoder = msgspec.json.Encoder(order="sorted")


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at_us: int
    actor: str
    actor_zone: str | None
    action: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str
    context: dict[str, Any] | None = None
    """Role, source, purpose, case, reason, scope and results, as given (None: none)."""

    @property
    def role(self) -> str | None:
        return self._context_str("role")

    @property
    def source(self) -> str | None:
        return self._context_str("source")

    @property
    def purpose(self) -> str | None:
        return self._context_str("purpose")

    @property
    def case(self) -> str | None:
        return self._context_str("case")

    @property
    def reason(self) -> str | None:
        return self._context_str("reason")

    @property
    def scope(self) -> dict[str, Any] | None:
        value = (self.context or {}).get("scope")
        return value if isinstance(value, dict) else None

    @property
    def results(self) -> int | None:
        value = (self.context or {}).get("results")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _context_str(self, key: str) -> str | None:
        value = (self.context or {}).get(key)
        return value if isinstance(value, str) else None

    def content(self) -> bytes:
        """The detail as hashed: the caller's detail with the context under its key."""
        if self.context is None:
            return _encoder.encode(self.detail)
        return _encoder.encode({**self.detail, CONTEXT_KEY: self.context})


def _digest(prev_hash: str, at_us: int, actor: str, actor_zone: str | None, action: str,
            object_type: str, object_id: str, detail: bytes) -> str:  # fmt: skip
    h = hashlib.sha256()
    for part in (prev_hash, str(at_us), actor, actor_zone or "", action, object_type, object_id):
        h.update(part.encode())
        h.update(b"\x1f")
    h.update(detail)
    return h.hexdigest()


def _context(
    role: str | None,
    source: str | None,
    purpose: str | None,
    case: str | None,
    reason: str | None,
    scope: Mapping[str, Any] | None,
    results: int | None,
) -> dict[str, Any] | None:
    context: dict[str, Any] = {}
    for key, text in (("role", role), ("source", source), ("purpose", purpose),
                      ("case", case), ("reason", reason)):  # fmt: skip
        if text is not None:
            context[key] = str(text)  # a StrEnum as its value
    if scope is not None:
        context["scope"] = dict(scope)
    if results is not None:
        if isinstance(results, bool) or not isinstance(results, int) or results < 0:
            raise ValueError(f"audit results: a count, not {results!r}")
        context["results"] = results
    return context or None


def write_audit(
    conn: Conn,
    *,
    actor: str,
    actor_zone: str | None,
    action: str,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
    at_us: int | None = None,
    role: str | None = None,
    source: str | None = None,
    purpose: str | None = None,
    case: str | None = None,
    reason: str | None = None,
    scope: Mapping[str, Any] | None = None,
    results: int | None = None,
) -> str:
    """Append one record inside the caller's (writer) transaction; returns its hash.

    ``role``: the actor's role; ``source``: where the request came from (client address,
    or ``cli:<login>`` / a process name); ``purpose``, ``case``, ``reason``: as the actor
    gave them; ``scope``: what the query asked for (plates as ``plate_token``s, never as
    text); ``results``: how many results it returned."""
    if detail and CONTEXT_KEY in detail:
        raise ValueError(f"audit detail: {CONTEXT_KEY!r} is reserved for the record's context")
    at = time.time_ns() // 1000 if at_us is None else at_us
    context = _context(role, source, purpose, case, reason, scope, results)
    content = dict(detail or {})
    if context is not None:
        content[CONTEXT_KEY] = context
    body = _encoder.encode(content)
    serialise(conn, "kruispunt.audit")  # several processes: one chain, never a fork
    row = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = row[0] if row else GENESIS
    digest = _digest(prev, at, actor, actor_zone, action, object_type, object_id, body)
    conn.execute(
        "INSERT INTO audit_log (at_us, actor, actor_zone, action, object_type, object_id, "
        "detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, actor_zone, action, object_type, object_id, body, prev, digest),
    )
    return digest


_COLUMNS = "seq, at_us, actor, actor_zone, action, object_type, object_id, detail, prev_hash, hash"


def _split_detail(raw: bytes | str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(detail, context) of a stored body. A body that is not what ``write_audit`` writes
    (altered behind the store's back) comes back as a detail that can never hash right."""
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    try:
        detail = msgspec.json.decode(data)
    except msgspec.DecodeError:
        detail = None
    if isinstance(detail, dict):
        if CONTEXT_KEY not in detail:
            return detail, None
        context = detail.pop(CONTEXT_KEY)
        if isinstance(context, dict):
            return detail, context
    return {_UNDECODABLE: data.hex()}, None


def _record(r: Any) -> AuditRecord:
    detail, context = _split_detail(r[7])
    return AuditRecord(
        seq=int(r[0]),
        at_us=int(r[1]),
        actor=r[2],
        actor_zone=r[3],
        action=r[4],
        object_type=r[5],
        object_id=r[6],
        detail=detail,
        prev_hash=r[8],
        hash=r[9],
        context=context,
    )


def read_audit(
    conn: Conn, *, object_type: str | None = None, object_id: str | None = None
) -> list[AuditRecord]:
    sql = f"SELECT {_COLUMNS} FROM audit_log"
    args: list[str] = []
    if object_type is not None:
        sql += " WHERE object_type = ?"
        args.append(object_type)
        if object_id is not None:
            sql += " AND object_id = ?"
            args.append(object_id)
    return [_record(r) for r in conn.execute(sql + " ORDER BY seq", args)]


def iter_audit(conn: Conn, *, after_seq: int = 0, page: int = _PAGE) -> Iterator[AuditRecord]:
    """The whole log in seq order, a page at a time (for ``verify`` on a long log)."""
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, page),
        ).fetchall()
        for r in rows:
            yield _record(r)
        if len(rows) < page:
            return
        after_seq = int(rows[-1][0])


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    """What an auditor asks of the log; every field narrows (None: no restriction)."""

    since_us: int | None = None
    until_us: int | None = None
    actor: str | None = None
    action: str | None = None
    """An action, or a family of them with a trailing '*' (``search.*``)."""
    zone: str | None = None
    """Records of actors of this zone."""
    object_type: str | None = None
    object_id: str | None = None
    after_seq: int = 0
    limit: int = 200


def query_audit(conn: Conn, q: AuditQuery) -> list[AuditRecord]:
    """A page of the log in seq order (``after_seq`` is the cursor), filtered by ``q``."""
    where = ["seq > ?"]
    args: list[Any] = [q.after_seq]
    for column, value in (
        ("actor", q.actor), ("actor_zone", q.zone), ("object_type", q.object_type),
        ("object_id", q.object_id),
    ):  # fmt: skip
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if q.since_us is not None:
        where.append("at_us >= ?")
        args.append(q.since_us)
    if q.until_us is not None:
        where.append("at_us < ?")
        args.append(q.until_us)
    if q.action is not None and q.action.endswith("*"):
        prefix = q.action[:-1]
        # Not LIKE: '_' and '%' in an action name are not wildcards.
        where.append("substr(action, 1, ?) = ?")
        args += [len(prefix), prefix]
    elif q.action is not None:
        where.append("action = ?")
        args.append(q.action)
    sql = f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
    return [_record(r) for r in conn.execute(sql, [*args, q.limit])]


def verify_chain(records: Iterable[AuditRecord]) -> int | None:
    """The seq of the first record that breaks the chain, or None when it is intact.

    Give it the whole log in seq order. ``verify`` also checks the signed checkpoints."""
    prev = GENESIS
    for r in records:
        expected = _digest(prev, r.at_us, r.actor, r.actor_zone, r.action, r.object_type,
                           r.object_id, r.content())  # fmt: skip
        if r.prev_hash != prev or r.hash != expected:
            return r.seq
        prev = r.hash
    return None


# -- plate tokens ---------------------------------------------------------------------------
def plate_token(key: bytes, plate: str) -> str:
    """The keyed token that stands for ``plate`` in the audit log: ``pt:`` and the first 128
    bits (hex) of HMAC-SHA256(key, normalised plate). Same plate and key, same token; the
    token reveals nothing without the key (keep it secret: the plate space is small enough
    to try every plate against a known key)."""
    if len(key) < MIN_PLATE_KEY_BYTES:
        raise ValueError(f"plate token key: at least {MIN_PLATE_KEY_BYTES} bytes")
    text = normalise(plate)
    if not text:
        raise ValueError("plate token: no plate characters")
    mac = hmac.new(key, text.encode("ascii"), hashlib.sha256).hexdigest()
    return PLATE_TOKEN_PREFIX + mac[:PLATE_TOKEN_HEX]


class PlateTokens:
    """The audit's plate-token key, shared by every service of a node. The key comes from the
    store or a file and is loaded when the node starts (``key`` None until then: a service
    then counts plates instead of naming them)."""

    def __init__(self, key: bytes | None = None):
        self.key = key

    def token(self, plate: str) -> str | None:
        return None if self.key is None else plate_token(self.key, plate)

    def scope(self, plates: Iterable[str]) -> list[str] | int:
        """Plates as tokens for an audit scope, or their number when no key is loaded."""
        plates = list(plates)
        if self.key is None:
            return len(plates)
        return [plate_token(self.key, p) for p in plates]


# -- signing keys ---------------------------------------------------------------------------
class AuditKeyError(ValueError):
    """A signing or public key that cannot be read (the message never holds key material)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: the first 16 hex digits of its SHA-256."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _seed_bytes(data: bytes) -> bytes | None:
    """Raw 32 bytes, or 32 bytes written as hex or base64; None when it is none of those."""
    if len(data) == 32:
        return data
    text = data.strip()
    try:
        if len(text) == 64:
            return binascii.unhexlify(text)
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if len(decoded) == 32 else None


class AuditSigner:
    """The Ed25519 key that signs checkpoints. Load it from a file (``from_file``) or the
    environment (``from_env``): a PKCS#8 PEM, or the 32-byte seed (raw, hex or base64).
    Hand ``public_pem()`` to the auditors. Never printed: its repr shows the key id only."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def __repr__(self) -> str:
        return f"AuditSigner(key_id={self.key_id!r})"

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditSigner:
        if b"-----BEGIN" in data:
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except (ValueError, TypeError) as exc:
                raise AuditKeyError(
                    f"not an unencrypted PEM private key ({type(exc).__name__})"
                ) from None
            if not isinstance(key, Ed25519PrivateKey):
                raise AuditKeyError("the PEM private key is not an Ed25519 key")
            return cls(key)
        seed = _seed_bytes(data)
        if seed is None:
            raise AuditKeyError("not an Ed25519 signing key (PEM, or a 32-byte seed as hex/base64)")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_file(cls, path: Path) -> AuditSigner:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuditKeyError(f"{path}: cannot read the signing key: {exc.strerror}") from None
        try:
            return cls.from_bytes(data)
        except AuditKeyError as exc:
            raise AuditKeyError(f"{path}: {exc}") from None

    @classmethod
    def from_env(
        cls, name: str = SIGNING_KEY_ENV, environ: Mapping[str, str] | None = None
    ) -> AuditSigner:
        value = (os.environ if environ is None else environ).get(name, "")
        if not value:
            raise AuditKeyError(f"{name} is not set")
        try:
            return cls.from_bytes(value.encode())
        except AuditKeyError as exc:
            raise AuditKeyError(f"{name}: {exc}") from None

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def private_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_pem(self) -> bytes:
        return public_pem(self.public_key)


def generate_signing_key() -> AuditSigner:
    """A new, random checkpoint signing key."""
    return AuditSigner(Ed25519PrivateKey.generate())


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An auditor's public key: PEM (SubjectPublicKeyInfo), or 32 bytes raw, hex or base64."""
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise AuditKeyError(f"not a PEM public key ({type(exc).__name__})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise AuditKeyError("the PEM public key is not an Ed25519 key")
        return key
    raw = _seed_bytes(data)
    if raw is None:
        raise AuditKeyError("not an Ed25519 public key (PEM, or 32 bytes as hex/base64)")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise AuditKeyError("not an Ed25519 public key") from None


# -- checkpoints ----------------------------------------------------------------------------
class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement: at ``at_us`` the chain's head was record ``seq`` with hash
    ``head_hash``. ``signature``: Ed25519 over ``message()``, hex; ``key_id``: its key."""

    seq: int
    at_us: int
    head_hash: str
    signature: str
    key_id: str

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.at_us, self.head_hash, self.key_id)


def checkpoint_message(seq: int, at_us: int, head_hash: str, key_id: str) -> bytes:
    """What a checkpoint's signature covers."""
    return "\x1f".join((_CHECKPOINT_DOMAIN, str(seq), str(at_us), head_hash, key_id)).encode()


def _head(conn: Conn) -> tuple[int, str] | None:
    row = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


def last_checkpoint(conn: Conn) -> Checkpoint | None:
    row = conn.execute(
        "SELECT seq, at_us, head_hash, signature, key_id FROM audit_checkpoints "
        "ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return _checkpoint(row) if row else None


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        seq=int(row[0]), at_us=int(row[1]), head_hash=row[2], signature=row[3], key_id=row[4]
    )


def read_checkpoints(conn: Conn) -> list[Checkpoint]:
    rows = conn.execute(
        "SELECT seq, at_us, head_hash, signature, key_id FROM audit_checkpoints ORDER BY seq"
    )
    return [_checkpoint(r) for r in rows]


def checkpoint(conn: Conn, signer: AuditSigner, *, at_us: int | None = None) -> Checkpoint | None:
    """Inside a writer transaction: sign the chain's current head and store the checkpoint.
    None when the log is empty or its head is signed already. The caller decides when
    (``checkpoint_due``: every N records or T seconds)."""
    serialise(conn, "kruispunt.audit")  # the head cannot move while it is signed
    head = _head(conn)
    if head is None:
        return None
    last = last_checkpoint(conn)
    if last is not None and last.seq >= head[0]:
        return None
    at = time.time_ns() // 1000 if at_us is None else at_us
    seq, head_hash = head
    signature = signer.sign(checkpoint_message(seq, at, head_hash, signer.key_id)).hex()
    cp = Checkpoint(
        seq=seq, at_us=at, head_hash=head_hash, signature=signature, key_id=signer.key_id
    )
    conn.execute(
        "INSERT INTO audit_checkpoints (seq, at_us, head_hash, signature, key_id) "
        "VALUES (?, ?, ?, ?, ?)",
        (cp.seq, cp.at_us, cp.head_hash, cp.signature, cp.key_id),
    )
    return cp


def checkpoint_due(
    conn: Conn, *, every_records: int, every_s: float, now_us: int | None = None
) -> bool:
    """Whether the records since the last checkpoint call for a new one: ``every_records``
    of them (counted by seq), or any at all once the last one is ``every_s`` old."""
    head = _head(conn)
    if head is None:
        return False
    last = last_checkpoint(conn)
    if last is None:
        return True
    if head[0] <= last.seq:
        return False
    now = time.time_ns() // 1000 if now_us is None else now_us
    return head[0] - last.seq >= every_records or now - last.at_us >= every_s * 1e6


# -- verification ---------------------------------------------------------------------------
class Problem(msgspec.Struct, frozen=True):
    """One break. ``kind``: hash_mismatch (a record's content or hash was altered),
    chain_break (a record's hash is not the one its successor chained to), missing_record
    (records removed: a seq gap in the chain, or a checkpoint's head missing), bad_signature
    or unknown_key (a checkpoint not signed by a key given), checkpoint_mismatch (a signed
    head is no longer in the chain: a record at or before it was altered and the chain
    rebuilt; ``seq`` is the first record the previous good checkpoint does not cover)."""

    seq: int
    kind: str
    message: str


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    records: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    checkpoints_verified: int
    """Signed by a key given (or unchecked when none was) and their head is in the chain."""
    last_checkpoint_seq: int | None
    uncovered: int
    """Records after the last verified checkpoint: protected by the chain only."""
    problems: list[Problem]
    """Every break found, in seq order; the first is the first broken record."""
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def broken_seq(self) -> int | None:
        return self.problems[0].seq if self.problems else None


def _when(at_us: int) -> str:
    return dt.datetime.fromtimestamp(at_us / 1e6, dt.UTC).isoformat(timespec="seconds")


def _signed_checkpoints(
    checkpoints: Iterable[Checkpoint],
    public_keys: Iterable[Ed25519PublicKey],
    problems: list[Problem],
    warnings: list[str],
) -> tuple[list[Checkpoint], int]:
    keys = {key_id(k): k for k in public_keys}
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    if ordered and not keys:
        warnings.append("checkpoint signatures not checked: no public key given (--public-key)")
    good: list[Checkpoint] = []
    for cp in ordered:
        if keys:
            key = keys.get(cp.key_id)
            if key is None:
                message = (
                    f"checkpoint at seq {cp.seq} ({_when(cp.at_us)}) is signed by key "
                    f"{cp.key_id}, not one of the keys given"
                )
                problems.append(Problem(cp.seq, "unknown_key", message))
                continue
            try:
                key.verify(bytes.fromhex(cp.signature), cp.message())
            except (InvalidSignature, ValueError):
                message = (
                    f"checkpoint at seq {cp.seq} ({_when(cp.at_us)}): the signature of key "
                    f"{cp.key_id} does not hold: a forged or altered checkpoint"
                )
                problems.append(Problem(cp.seq, "bad_signature", message))
                continue
        good.append(cp)
    return good, len(ordered)


def verify(
    records: Iterable[AuditRecord],
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Iterable[Ed25519PublicKey] = (),
) -> VerifyReport:
    """Check the whole log (in seq order; streamed) against its chain and its checkpoints.

    Without public keys the checkpoints' heads are still compared with the chain, but
    their signatures are not checked (a warning says so)."""
    problems: list[Problem] = []
    warnings: list[str] = []
    pending, total_checkpoints = _signed_checkpoints(checkpoints, public_keys, problems, warnings)
    i = 0
    prev_hash, prev_seq = GENESIS, 0
    first_seq: int | None = None
    count = since_checkpoint = verified = 0
    last_good: int | None = None  # the seq of the last checkpoint that matched

    def add(seq: int, kind: str, message: str) -> None:
        problems.append(Problem(seq, kind, message))

    for r in records:
        if first_seq is None:
            first_seq = r.seq
        count += 1
        # Checkpoints whose head record is not in the log: removed.
        while i < len(pending) and pending[i].seq < r.seq:
            cp = pending[i]
            i += 1
            add(
                prev_seq + 1,
                "missing_record",
                f"checkpoint at seq {cp.seq} ({_when(cp.at_us)}) signs a record that is not "
                f"in the log: records after seq {prev_seq} were removed",
            )
        content = r.content()
        own = _digest(
            r.prev_hash, r.at_us, r.actor, r.actor_zone, r.action, r.object_type, r.object_id,
            content,
        )  # fmt: skip
        if r.prev_hash != prev_hash:
            if r.seq > prev_seq + 1:  # PostgreSQL may skip seqs; the chain never does
                where = f"after seq {prev_seq}" if prev_seq else "at the start"
                add(
                    prev_seq + 1,
                    "missing_record",
                    f"records {where} are missing: seq {r.seq} does not chain to "
                    f"{f'seq {prev_seq}' if prev_seq else 'the start of the log'}",
                )
            elif prev_seq and own == r.hash:
                add(
                    prev_seq,
                    "chain_break",
                    f"the hash of seq {prev_seq} is not the one seq {r.seq} chained to: "
                    f"record {prev_seq} was altered and its hash recomputed",
                )
            else:
                add(r.seq, "hash_mismatch", f"seq {r.seq} does not match its hash: altered")
        elif r.hash != own:
            add(r.seq, "hash_mismatch", f"seq {r.seq} does not match its hash: altered")
        prev_hash, prev_seq = r.hash, r.seq  # go on from here: each break is reported once
        since_checkpoint += 1
        if i < len(pending) and pending[i].seq == r.seq:
            cp = pending[i]
            i += 1
            if hmac.compare_digest(cp.head_hash, r.hash):
                verified += 1
                last_good = r.seq
                since_checkpoint = 0
            else:
                start = last_good + 1 if last_good is not None else first_seq
                add(
                    start,
                    "checkpoint_mismatch",
                    f"checkpoint at seq {cp.seq} ({_when(cp.at_us)}) signs another head than "
                    f"the log has: a record in seq {start}..{cp.seq} was altered or replaced "
                    "and the chain rebuilt after it",
                )
    for cp in pending[i:]:
        add(
            prev_seq + 1,
            "missing_record",
            f"the log ends at seq {prev_seq} but checkpoint at seq {cp.seq} "
            f"({_when(cp.at_us)}) signs a later record: records were removed from the end",
        )
    if count and since_checkpoint:
        after = f"after seq {last_good}" if last_good is not None else "in the log"
        warnings.append(
            f"{since_checkpoint} records {after} are not covered by a checkpoint yet "
            "(protected by the hash chain only)"
        )
    problems.sort(key=lambda p: p.seq)
    return VerifyReport(
        records=count,
        first_seq=first_seq,
        last_seq=prev_seq if count else None,
        checkpoints=total_checkpoints,
        checkpoints_verified=verified,
        last_checkpoint_seq=last_good,
        uncovered=since_checkpoint,
        problems=problems,
        warnings=warnings,
    )


def verify_store(conn: Conn, public_keys: Iterable[Ed25519PublicKey] = ()) -> VerifyReport:
    """``verify`` on a store's own log and checkpoints (a reader connection)."""
    return verify(iter_audit(conn), read_checkpoints(conn), public_keys)
