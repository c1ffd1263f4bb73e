"""``kruispunt audit``: verify the audit log, sign checkpoints, make a signing key.

``verify`` exits 0 when the log is intact, 1 at the first broken record (or checkpoint),
2 when it cannot verify (configuration, store or key problem).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console

from kruispunt.audit import (
    SIGNING_KEY_ENV,
    AuditKeyError,
    AuditSigner,
    VerifyReport,
    checkpoint,
    generate_signing_key,
    load_public_key,
    verify_store,
    write_audit,
)
from kruispunt.config import Config, ConfigError, load_config
from kruispunt.store.sql import SqlStore

audit_app = typer.Typer(
    no_args_is_help=True, help="The audit log: verify it, sign checkpoints, make a key."
)
err = Console(stderr=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or JSON config file.", exists=True)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
MAX_SHOWN_PROBLEMS = 20


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from None


def _report_json(report: VerifyReport) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(report)
    first = report.first_broken
    doc["ok"] = report.ok
    doc["broken_seq"] = first.seq if first else None
    doc["broken_kind"] = first.kind if first else None
    return doc


@audit_app.command("verify")
def verify_cmd(
    config: ConfigOpt = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A checkpoint signer's public key (PEM); repeat for several keys.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the whole audit log: the hash chain and the signed checkpoints.

    Exit 0: intact; 1: broken (the first broken record is shown); 2: cannot verify."""
    from kruispunt.node import build_store
    from kruispunt.store.base import StoreError
    from kruispunt.store.sql import DB_ERRORS

    keys = []
    for path in public_key or []:
        try:
            keys.append(load_public_key(path.read_bytes()))
        except (AuditKeyError, OSError) as exc:
            err.print(f"[red]{path}[/red]: {exc}")
            raise typer.Exit(2) from None
    cfg = _config(config)
    try:
        store = build_store(cfg, writes_log=False)
        store.open()
    except (StoreError, ValueError) as exc:
        err.print(f"[red]cannot open the store[/red]: {exc}")
        raise typer.Exit(2) from None
    try:
        report = verify_store(store.reader(), keys)
        _record_verification(store, report)
    except DB_ERRORS as exc:
        err.print(f"[red]cannot read the audit log[/red]: {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if as_json:
        print(json.dumps(_report_json(report)))
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _record_verification(store: SqlStore, report: VerifyReport) -> None:
    """Reading the audit log is audited too: one record per verification, by the shell user."""
    first = report.first_broken
    with store.transaction() as conn:
        write_audit(
            conn, actor=f"cli:{getpass.getuser()}", actor_zone=None, action="audit.verify",
            object_type="audit_log", object_id="-", role="admin", source="cli",
            detail={"ok": report.ok, "broken_seq": first.seq if first else None},
            results=report.records,
        )  # fmt: skip


def _print_report(report: VerifyReport) -> None:
    span = f" (seq {report.first_seq}..{report.last_seq})" if report.records else ""
    counts = (
        f"{report.records} records{span}, {report.checkpoints_verified} of "
        f"{report.checkpoints} checkpoints verified"
    )
    first = report.first_broken
    if first is None:
        print(f"OK: {counts}")
    else:
        print(f"BROKEN at seq {first.seq}: {first.kind}: {first.message}")
        for problem in report.problems[1:MAX_SHOWN_PROBLEMS]:
            print(f"  also seq {problem.seq}: {problem.kind}: {problem.message}")
        if len(report.problems) > MAX_SHOWN_PROBLEMS:
            print(f"  ... and {len(report.problems) - MAX_SHOWN_PROBLEMS} more")
        print(counts)
    for warning in report.warnings:
        err.print(f"[yellow]warning[/yellow]: {warning}")


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never readable by others meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(path, mode)  # whatever the umask


@audit_app.command("keygen")
def keygen(
    out: Annotated[
        Path, typer.Argument(help="The private key file to write; the public key goes to OUT.pub.")
    ],
) -> None:
    """Make a new Ed25519 checkpoint signing key.

    Writes OUT (private, mode 0600) and OUT.pub (public: hand it to the auditors).
    Refuses to overwrite either file."""
    pub = out.with_name(out.name + ".pub")
    for path in (out, pub):
        if path.exists():
            err.print(f"[red]{path} exists[/red]: not overwritten")
            raise typer.Exit(2)
    signer = generate_signing_key()
    try:
        _write_new(out, signer.private_pem(), 0o600)
        _write_new(pub, signer.public_pem(), 0o644)
    except OSError as exc:
        err.print(f"[red]cannot write the key[/red]: {exc}")
        raise typer.Exit(2) from None
    err.print(f"key {signer.key_id}: private {out} (0600), public {pub}")


@audit_app.command("checkpoint")
def checkpoint_cmd(
    config: ConfigOpt = None,
    signing_key: Annotated[
        Path | None,
        typer.Option(
            "--signing-key",
            help=f"The private key file (PEM or 32-byte seed); default: ${SIGNING_KEY_ENV}.",
            dir_okay=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign the audit chain's head now and store the checkpoint.

    Nothing is written when the head is signed already. Prints the checkpoint: keep a copy
    away from the database too."""
    from kruispunt.node import build_store
    from kruispunt.store.base import StoreError
    from kruispunt.store.sql import DB_ERRORS

    try:
        signer = AuditSigner.from_file(signing_key) if signing_key else AuditSigner.from_env()
    except AuditKeyError as exc:
        err.print(f"[red]signing key[/red]: {exc}")
        raise typer.Exit(2) from None
    cfg = _config(config)
    try:
        store = build_store(cfg, writes_log=False)
        store.open()
    except (StoreError, ValueError) as exc:
        err.print(f"[red]cannot open the store[/red]: {exc}")
        raise typer.Exit(2) from None
    try:
        with store.transaction() as conn:
            cp = checkpoint(conn, signer)
    except DB_ERRORS as exc:
        err.print(f"[red]cannot write the checkpoint[/red]: {exc}")
        raise typer.Exit(2) from None
    finally:
        store.close()
    if as_json:
        print(json.dumps(msgspec.to_builtins(cp)))
    elif cp is None:
        err.print("nothing to sign: the log is empty or its head is signed already")
    else:
        print(f"checkpoint at seq {cp.seq}: head {cp.head_hash}, key {cp.key_id}")
