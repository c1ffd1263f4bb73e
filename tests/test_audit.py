"""The audit log as an auditor sees it: context, plate tokens, signed checkpoints, and
``verify`` catching what an attacker with database superuser rights does behind the
store's back (triggers switched off): edits, deletions, forged checkpoints, a rebuilt chain.
Every store test runs on SQLite and on real PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest
from typer.testing import CliRunner

from kruispunt.audit import (
    AuditKeyError,
    AuditSigner,
    Checkpoint,
    _digest,
    checkpoint,
    checkpoint_due,
    checkpoint_message,
    generate_signing_key,
    load_public_key,
    plate_token,
    read_audit,
    read_checkpoints,
    verify,
    verify_chain,
    verify_store,
    write_audit,
)
from kruispunt.store.postgres import PgStore
from kruispunt.store.sql import SqlStore
from kruispunt.store.sqlite import SqliteStore

T0 = 1_700_000_000_000_000
KEY = b"k" * 32


def write(store: SqlStore, n: int, **context: Any) -> None:
    start = len(read_audit(store.reader()))
    with store.transaction() as conn:
        for i in range(start, start + n):
            write_audit(
                conn, actor=f"u{i % 3}", actor_zone="pz5364", action="reads.search",
                object_type="plate", object_id=plate_token(KEY, f"1-ABC-{i:03d}"),
                detail={"i": i}, at_us=T0 + i, **context,
            )  # fmt: skip


def sign(store: SqlStore, signer: AuditSigner) -> Checkpoint:
    with store.transaction() as conn:
        cp = checkpoint(conn, signer)
    assert cp is not None
    return cp


def report(store: SqlStore, *keys: AuditSigner) -> Any:
    return verify_store(store.reader(), [k.public_key for k in keys])


def tamper(store: SqlStore, *statements: tuple[str, Sequence[Any]]) -> None:
    """Run statements as a superuser would: with the append-only triggers switched off."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        for trigger in ("audit_log_no_update", "audit_log_no_delete",
                        "audit_checkpoints_no_update", "audit_checkpoints_no_delete"):  # fmt: skip
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for sql, args in statements:
            conn.execute(sql, args)
        conn.commit()
        conn.close()
        return
    import psycopg

    assert isinstance(store, PgStore)
    with psycopg.connect(store.url, options=f"-c search_path={store.schema}") as pg:
        for table in ("audit_log", "audit_checkpoints"):
            pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for sql, args in statements:
            pg.execute(sql.replace("?", "%s"), tuple(args))
        for table in ("audit_log", "audit_checkpoints"):
            pg.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


def rechain(store: SqlStore, from_seq: int) -> list[tuple[str, Sequence[Any]]]:
    """The updates that recompute every hash from ``from_seq`` on (a consistent forgery)."""
    statements: list[tuple[str, Sequence[Any]]] = []
    prev = None
    for r in read_audit(store.reader()):
        if r.seq < from_seq:
            prev = r.hash
            continue
        assert prev is not None
        new = _digest(prev, r.at_us, r.actor, r.actor_zone, r.action, r.object_type,
                      r.object_id, r.content())  # fmt: skip
        statements.append(("UPDATE audit_log SET prev_hash=?, hash=? WHERE seq=?",
                           (prev, new, r.seq)))  # fmt: skip
        prev = new
    return statements


def kinds(rep: Any) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in rep.problems]


# -- the intact log -----------------------------------------------------------------------
def test_an_intact_log_verifies_with_its_context(sql_store: SqlStore) -> None:
    signer = generate_signing_key()
    write(sql_store, 3)
    write(sql_store, 2, role="investigator", source="10.1.2.3", purpose="investigation",
          case="PV-2024-001", reason="stolen car", scope={"plates": 1, "days": 30},
          results=12)  # fmt: skip
    first = sign(sql_store, signer)
    write(sql_store, 2)
    records = read_audit(sql_store.reader())
    assert verify_chain(records) is None
    r = records[4]
    assert (r.role, r.source, r.purpose, r.case, r.reason, r.scope, r.results) == (
        "investigator", "10.1.2.3", "investigation", "PV-2024-001", "stolen car",
        {"plates": 1, "days": 30}, 12,
    )  # fmt: skip
    assert r.detail == {"i": 4}  # the context is not mixed into the caller's detail
    assert records[0].context is None and records[0].role is None

    rep = report(sql_store, signer)
    assert rep.ok and rep.problems == [] and rep.broken_seq is None
    assert (rep.records, rep.first_seq, rep.last_seq) == (7, 1, 7)
    assert (rep.checkpoints, rep.checkpoints_verified, rep.last_checkpoint_seq) == (1, 1, 5)
    assert first.seq == 5 and rep.uncovered == 2
    assert any("2 records after seq 5 are not covered" in w for w in rep.warnings)

    sign(sql_store, signer)
    rep = report(sql_store, signer)
    assert rep.ok and rep.uncovered == 0 and rep.warnings == []
    with sql_store.transaction() as conn:  # nothing new: nothing to sign
        assert checkpoint(conn, signer) is None


def test_checkpoints_are_append_only(sql_store: SqlStore) -> None:
    write(sql_store, 2)
    sign(sql_store, generate_signing_key())
    for statement in ("UPDATE audit_checkpoints SET at_us=0", "DELETE FROM audit_checkpoints"):
        with pytest.raises(Exception, match="append-only"), sql_store.transaction() as conn:
            conn.execute(statement)
    assert len(read_checkpoints(sql_store.reader())) == 1


def test_checkpoint_due_every_n_records_or_t_seconds(sql_store: SqlStore) -> None:
    conn = sql_store.reader()
    assert not checkpoint_due(conn, every_records=3, every_s=60)  # nothing to sign
    write(sql_store, 1)
    assert checkpoint_due(conn, every_records=3, every_s=60)  # never signed
    cp = sign(sql_store, generate_signing_key())
    assert not checkpoint_due(conn, every_records=3, every_s=60, now_us=cp.at_us + 10**9)
    write(sql_store, 1)
    assert not checkpoint_due(conn, every_records=3, every_s=60, now_us=cp.at_us + 1)
    assert checkpoint_due(conn, every_records=3, every_s=60, now_us=cp.at_us + 61_000_000)
    write(sql_store, 2)
    assert checkpoint_due(conn, every_records=3, every_s=60, now_us=cp.at_us + 1)


def test_the_context_key_is_reserved_and_results_is_a_count(sql_store: SqlStore) -> None:
    with pytest.raises(ValueError, match="reserved"), sql_store.transaction() as conn:
        write_audit(conn, actor="u", actor_zone=None, action="a", object_type="t",
                    object_id="1", detail={"_context": {"role": "admin"}})  # fmt: skip
    with pytest.raises(ValueError, match="count"), sql_store.transaction() as conn:
        write_audit(conn, actor="u", actor_zone=None, action="a", object_type="t",
                    object_id="1", results=-1)  # fmt: skip
    assert read_audit(sql_store.reader()) == []


# -- what an attacker does ---------------------------------------------------------------
def test_an_edited_detail_is_reported_at_its_seq(sql_store: SqlStore) -> None:
    write(sql_store, 6)
    body = msgspec.json.encode({"i": 99})
    tamper(sql_store, ("UPDATE audit_log SET detail=? WHERE seq=?", (body, 3)))
    rep = report(sql_store)
    assert not rep.ok and kinds(rep) == [(3, "hash_mismatch")]
    assert verify_chain(read_audit(sql_store.reader())) == 3


def test_an_edited_context_or_garbage_detail_is_reported(sql_store: SqlStore) -> None:
    write(sql_store, 4, role="investigator", results=12)
    forged = msgspec.json.encode({"i": 1, "_context": {"role": "investigator", "results": 0}})
    tamper(
        sql_store,
        ("UPDATE audit_log SET detail=? WHERE seq=?", (forged, 2)),
        ("UPDATE audit_log SET detail=? WHERE seq=?", (b"\xff not json", 4)),
    )
    assert kinds(report(sql_store)) == [(2, "hash_mismatch"), (4, "hash_mismatch")]


def test_a_record_edited_with_its_hash_recomputed_breaks_the_link(sql_store: SqlStore) -> None:
    write(sql_store, 5)
    tamper(sql_store, ("UPDATE audit_log SET actor='someone-else' WHERE seq=2", ()))
    tamper(sql_store, *rechain(sql_store, 2)[:1])  # only record 2's own hash
    assert kinds(report(sql_store)) == [(2, "chain_break")]


def test_a_deleted_record_is_reported(sql_store: SqlStore) -> None:
    write(sql_store, 6)
    tamper(sql_store, ("DELETE FROM audit_log WHERE seq=?", (4,)))
    rep = report(sql_store)
    assert kinds(rep) == [(4, "missing_record")]
    assert "missing" in rep.problems[0].message
    tamper(sql_store, ("DELETE FROM audit_log WHERE seq=?", (1,)))
    assert kinds(report(sql_store))[0] == (1, "missing_record")


def test_records_removed_from_the_end_are_caught_by_a_checkpoint(sql_store: SqlStore) -> None:
    signer = generate_signing_key()
    write(sql_store, 3)
    sign(sql_store, signer)
    write(sql_store, 3)
    sign(sql_store, signer)
    tamper(sql_store, ("DELETE FROM audit_log WHERE seq >= ?", (5,)))
    rep = report(sql_store, signer)
    assert kinds(rep) == [(5, "missing_record")]
    assert "removed from the end" in rep.problems[0].message


def test_a_forged_checkpoint_is_reported(sql_store: SqlStore) -> None:
    signer, other = generate_signing_key(), generate_signing_key()
    write(sql_store, 3)
    sign(sql_store, signer)
    write(sql_store, 2)
    head = read_audit(sql_store.reader())[-1]
    # Claims the real key but is signed by another: the signature does not hold.
    forged = other.sign(checkpoint_message(head.seq, T0, head.hash, signer.key_id)).hex()
    with sql_store.transaction() as conn:
        conn.execute(
            "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?)",
            (head.seq, T0, head.hash, forged, signer.key_id),
        )
    rep = report(sql_store, signer)
    assert kinds(rep) == [(5, "bad_signature")]
    assert rep.checkpoints == 2 and rep.checkpoints_verified == 1
    # The auditor does not know the key that signed it.
    assert kinds(report(sql_store, other)) == [(3, "unknown_key"), (5, "unknown_key")]


def test_an_altered_checkpoint_is_reported(sql_store: SqlStore) -> None:
    signer = generate_signing_key()
    write(sql_store, 3)
    sign(sql_store, signer)
    tamper(sql_store, ("UPDATE audit_checkpoints SET at_us=? WHERE seq=?", (T0, 3)))
    assert kinds(report(sql_store, signer)) == [(3, "bad_signature")]


def test_a_rebuilt_chain_is_caught_by_the_checkpoint_it_crosses(sql_store: SqlStore) -> None:
    signer = generate_signing_key()
    write(sql_store, 4)
    sign(sql_store, signer)  # seq 4
    write(sql_store, 4)
    sign(sql_store, signer)  # seq 8
    write(sql_store, 2)
    body = msgspec.json.encode({"i": 99})
    tamper(sql_store, ("UPDATE audit_log SET detail=? WHERE seq=?", (body, 6)))
    tamper(sql_store, *rechain(sql_store, 6))
    assert verify_chain(read_audit(sql_store.reader())) is None  # the chain alone: fooled
    rep = report(sql_store, signer)
    # The first checkpoint still holds; the second names a head the log no longer has.
    assert kinds(rep) == [(5, "checkpoint_mismatch")]
    assert "seq 5..8" in rep.problems[0].message
    assert rep.last_checkpoint_seq == 4


def test_truncating_and_appending_after_a_checkpoint_is_caught(sql_store: SqlStore) -> None:
    """Records after seq 5 removed and new ones appended through the store, chained to
    what is left: the chain is whole, but checkpoint 8 signed a head that is gone."""
    signer = generate_signing_key()
    write(sql_store, 4)
    sign(sql_store, signer)
    write(sql_store, 4)
    sign(sql_store, signer)
    write(sql_store, 2)
    tamper(sql_store, ("DELETE FROM audit_log WHERE seq > ?", (5,)))
    write(sql_store, 6, reason="what the attacker wants on record")
    assert verify_chain(read_audit(sql_store.reader())) is None
    rep = report(sql_store, signer)
    assert not rep.ok
    # SQLite reuses seqs 6.. (the checkpoint's head is replaced); PostgreSQL's identity goes
    # on at 11 (the checkpoint's head is missing).
    assert kinds(rep)[0] in {(5, "checkpoint_mismatch"), (6, "missing_record")}


def test_verify_without_public_keys_still_compares_heads(sql_store: SqlStore) -> None:
    write(sql_store, 3)
    sign(sql_store, generate_signing_key())
    rep = report(sql_store)
    assert rep.ok and rep.checkpoints_verified == 1
    assert any("signatures not checked" in w for w in rep.warnings)


def test_verify_of_nothing_is_ok() -> None:
    rep = verify([], [], [])
    assert rep.ok and rep.records == 0 and rep.last_seq is None and rep.warnings == []


# -- plate tokens --------------------------------------------------------------------------
def test_plate_tokens() -> None:
    token = plate_token(KEY, "1-ABC-123")
    assert token.startswith("pt:") and len(token) == 3 + 32
    assert plate_token(KEY, "1abc123") == plate_token(KEY, "1 ABC 123") == token
    assert plate_token(b"x" * 32, "1-ABC-123") != token
    assert plate_token(KEY, "1-ABC-124") != token
    assert "ABC" not in token.upper()
    with pytest.raises(ValueError, match="bytes"):
        plate_token(b"short", "1-ABC-123")
    with pytest.raises(ValueError, match="plate"):
        plate_token(KEY, "--")


def test_the_audit_log_holds_no_plate_text(sql_store: SqlStore) -> None:
    plates = ["1-ABC-123", "2-XYZ-987"]
    with sql_store.transaction() as conn:
        for plate in plates:
            write_audit(
                conn, actor="u1", actor_zone="pz5364", action="reads.search",
                object_type="plate", object_id=plate_token(KEY, plate),
                detail={"days": 30}, role="investigator", source="10.0.0.7",
                purpose="investigation", case="PV-1", reason="theft",
                scope={"plate": plate_token(KEY, plate), "since": "2024-01-01"}, results=3,
            )  # fmt: skip
    rows = sql_store.reader().execute("SELECT * FROM audit_log").fetchall()
    dump = repr(rows).upper()
    for plate in plates:
        assert plate.replace("-", "") not in dump and plate not in dump
    # An investigator with the key finds the records about a plate.
    wanted = plate_token(KEY, "1abc123")
    found = [r for r in read_audit(sql_store.reader()) if (r.scope or {}).get("plate") == wanted]
    assert len(found) == 1 and found[0].object_id == wanted


# -- keys --------------------------------------------------------------------------------
def test_signing_keys_load_from_pem_seed_and_env(tmp_path: Path) -> None:
    signer = generate_signing_key()
    assert signer.key_id in repr(signer) and "PRIVATE" not in repr(signer)
    pem = tmp_path / "k.pem"
    pem.write_bytes(signer.private_pem())
    assert AuditSigner.from_file(pem).key_id == signer.key_id
    raw = signer._key.private_bytes_raw()
    assert AuditSigner.from_bytes(raw).key_id == signer.key_id
    assert AuditSigner.from_bytes(raw.hex().encode()).key_id == signer.key_id
    env = {"KRUISPUNT_AUDIT_SIGNING_KEY": raw.hex()}
    assert AuditSigner.from_env(environ=env).key_id == signer.key_id
    with pytest.raises(AuditKeyError, match="not set"):
        AuditSigner.from_env(environ={})
    with pytest.raises(AuditKeyError) as exc:
        AuditSigner.from_env(environ={"KRUISPUNT_AUDIT_SIGNING_KEY": "nonsense-key-text"})
    assert "nonsense" not in str(exc.value)  # never echo key material
    assert load_public_key(signer.public_pem()).public_bytes_raw() == (
        signer.public_key.public_bytes_raw()
    )
    with pytest.raises(AuditKeyError):
        load_public_key(signer.private_pem())


# -- the command line ----------------------------------------------------------------------
def _mounted() -> bool:
    from kruispunt.cli import app

    return any(group.name == "audit" for group in app.registered_groups)


def cli(*args: str) -> tuple[int, str]:
    """``kruispunt audit ...``: the real command once mounted, else the sub-app itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRUISPUNT_")}
    if _mounted():
        done = subprocess.run(
            [sys.executable, "-m", "kruispunt", "audit", *args],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        return done.returncode, done.stdout + done.stderr
    from kruispunt.cli_audit import audit_app

    result = CliRunner().invoke(audit_app, list(args), env=env)
    return result.exit_code, result.output


def json_line(out: str) -> Any:
    return json.loads(next(line for line in out.splitlines() if line.startswith("{")))


def test_the_cli_verifies_signs_and_fails_on_a_broken_log(tmp_path: Path) -> None:
    db = tmp_path / "kp.sqlite"
    config = tmp_path / "kp.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{db}"\nsynchronous = "NORMAL"\n')
    store = SqliteStore(db, synchronous="NORMAL")
    store.open()
    write(store, 5)
    store.close()

    code, out = cli("verify", "--config", str(config))
    assert code == 0 and "OK: 5 records" in out, out
    store = SqliteStore(db, synchronous="NORMAL")
    store.open()
    (seen,) = [r for r in read_audit(store.reader()) if r.action == "audit.verify"]
    store.close()
    assert seen.seq == 6 and seen.actor.startswith("cli:") and seen.detail["ok"]  # audited

    key = tmp_path / "audit.key"
    code, out = cli("keygen", str(key))
    assert code == 0, out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = tmp_path / "audit.key.pub"
    assert b"PUBLIC KEY" in pub.read_bytes() and b"PRIVATE" not in pub.read_bytes()
    assert cli("keygen", str(key))[0] == 2  # never overwrites a key

    code, out = cli("checkpoint", "--config", str(config), "--signing-key", str(key), "--json")
    assert code == 0, out
    assert json_line(out)["seq"] == 6
    code, out = cli("verify", "--config", str(config), "--public-key", str(pub), "--json")
    assert code == 0, out
    doc = json_line(out)
    assert doc["ok"] and doc["checkpoints_verified"] == 1 and doc["broken_seq"] is None

    store = SqliteStore(db, synchronous="NORMAL")
    store.open()
    tamper(store, ("UPDATE audit_log SET actor='x' WHERE seq=2", ()))
    store.close()
    code, out = cli("verify", "--config", str(config), "--public-key", str(pub))
    assert code == 1 and "BROKEN at seq 2: hash_mismatch" in out, out
    code, out = cli("verify", "--config", str(config), "--json")
    assert code == 1 and json_line(out)["broken_seq"] == 2

    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nnope = 1\n")
    assert cli("verify", "--config", str(bad))[0] == 2
