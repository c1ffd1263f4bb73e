"""``kruispunt hotlists``: bulk CSV import and export, offline against the configured store.

A node running on the same store loads the imported entries at its next start; to change
the lists of a running node, use the API (``POST /api/v1/hotlists/{id}/import``).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from kruispunt.access.principals import Principal, Role
from kruispunt.config import Config, ConfigError, load_config
from kruispunt.hotlists.errors import HotlistError
from kruispunt.hotlists.index import HotlistIndex, IndexedEntry
from kruispunt.hotlists.service import HotlistService

hotlists_app = typer.Typer(no_args_is_help=True, help="Hotlists: CSV import and export.")
err = Console(stderr=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or JSON config file.", exists=True)
]
MAX_SHOWN_ERRORS = 50


def _config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from None


def _operator() -> Principal:
    """The person at the machine: audited as cli:<login>."""
    return Principal(user_id=f"cli:{getpass.getuser()}", zone_id="network", role=Role.ADMIN)


class _NoIndex(HotlistIndex):
    """Offline there is nothing to match: a node builds its index when it starts."""

    def put(self, e: IndexedEntry) -> None:
        pass

    def load(self, entries: Iterable[IndexedEntry]) -> None:
        pass


@contextmanager
def _service(cfg: Config) -> Iterator[HotlistService]:
    from kruispunt.domain.zones import network_zones
    from kruispunt.node import build_store
    from kruispunt.writer import Writer

    store = build_store(cfg, writes_log=False)
    store.open()
    writer = Writer(store, max_pending_reads=cfg.ingest.max_pending_reads,
                    group_max_reads=cfg.ingest.group_commit_max_reads)  # fmt: skip
    writer.start()
    try:
        service = HotlistService(
            store, writer, _NoIndex(), {z.id for z in network_zones()},
            max_expiry_days=cfg.hotlists.max_expiry_days,
        )  # fmt: skip
        service.load_lists()
        yield service
    finally:
        writer.stop()
        store.close()


def _with_progress(f: IO[bytes], progress: Progress, total: int) -> Iterator[bytes]:
    task = progress.add_task("importing", total=total)
    for line in f:
        progress.advance(task, len(line))
        yield line


@hotlists_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV file (header line required).", exists=True)],
    list_id: Annotated[str, typer.Option("--list", help="The list to load into.")],
    config: ConfigOpt = None,
    replace: Annotated[
        bool, typer.Option(help="Delete the list's current entries in the same transaction.")
    ] = False,
) -> None:
    """Load entries from CSV: the good rows in one transaction, each bad row reported."""
    cfg = _config(config)
    columns = (BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with _service(cfg) as service, file.open("rb") as f:
        try:
            with Progress(*columns, console=err, transient=True) as progress:
                lines = _with_progress(f, progress, file.stat().st_size)
                report = service.import_csv(list_id, lines, actor=_operator(), replace=replace)
        except HotlistError as exc:
            err.print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(1) from None
    for error in report.errors[:MAX_SHOWN_ERRORS]:
        err.print(f"line {error.line}: {error.reason}: {error.message}")
    if report.rejected > MAX_SHOWN_ERRORS:
        err.print(f"... and {report.rejected - MAX_SHOWN_ERRORS} more refused rows")
    replaced = f", replaced {report.replaced}" if replace else ""
    err.print(f"imported {report.imported}, refused {report.rejected}{replaced} into {list_id}")
    if report.rejected:
        raise typer.Exit(1)


@hotlists_app.command("export")
def export_csv(
    list_id: Annotated[str, typer.Argument(help="The list to export.")],
    config: ConfigOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File (default: stdout).")] = None,
) -> None:
    """Write a list's unexpired entries as CSV (re-imports as is)."""
    cfg = _config(config)
    with _service(cfg) as service:
        try:
            chunks = service.export_csv(list_id, actor=_operator())
        except HotlistError as exc:
            err.print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(1) from None
        if out is None:
            sys.stdout.writelines(chunks)
        else:
            with out.open("w", encoding="utf-8", newline="") as f:
                f.writelines(chunks)
