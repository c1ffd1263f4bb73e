"""``kruispunt report``: the transparency and abuse reports from the command line.

Runs as the node's administrator process (``Node(role="admin")``, beside a running node):
it prints the report as JSON or as one self-contained printable HTML page (to a file with
``--out``). The reading is audited like one through the API (actor ``cli:<login>``).
Exit 2 on a configuration, store or period problem.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from kruispunt.config import ConfigError, load_config
from kruispunt.errors import Refused

report_app = typer.Typer(
    no_args_is_help=True, help="Oversight reports: transparency figures and the abuse review."
)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or JSON config file.", exists=True)
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="First day (2025-06-01) or an ISO time.")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Last day, inclusive, or an ISO time (exclusive).")
]
ZoneOpt = Annotated[str | None, typer.Option("--zone", help="One zone (default: the whole node).")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="json or html.")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
]


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown"


def _run(
    kind: str,
    config: Path | None,
    since: str | None,
    until: str | None,
    zone: str | None,
    fmt: str,
    out: Path | None,
) -> None:
    from kruispunt.access.principals import Principal, Role
    from kruispunt.node import Node
    from kruispunt.oversight import html
    from kruispunt.oversight.service import OversightService
    from kruispunt.store.base import StoreError

    if fmt not in ("json", "html"):
        err.print(f"[red]--format[/red]: json or html, not {fmt!r}")
        raise typer.Exit(2)
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from None
    login = _login()
    actor = Principal(user_id=f"cli:{login}", zone_id="network", role=Role.ADMIN)
    try:
        node = Node(cfg, role="admin")
        node.start()
    except (StoreError, ValueError) as exc:
        err.print(f"[red]cannot open the node[/red]: {exc}")
        raise typer.Exit(2) from None
    names = {z.id: z.name for z in node.zones}
    as_html = fmt == "html"
    try:
        service = OversightService.of(node)
        if kind == "transparency":
            t = service.transparency(
                actor, since=since, until=until, zone=zone, fmt="html" if as_html else "json",
                source_of_request=f"cli:{login}", local_admin=True,
            )  # fmt: skip
            page = html.render_transparency(t, zone_names=names, static=None) if as_html else ""
            report: object = t
        else:
            a = service.abuse(
                actor, since=since, until=until, zone=zone, fmt="html" if as_html else "json",
                source_of_request=f"cli:{login}", local_admin=True,
            )  # fmt: skip
            page = html.render_abuse(a, zone_names=names, static=None) if as_html else ""
            report = a
    except Refused as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(2) from None
    finally:
        node.stop()
    text = page if as_html else json.dumps(msgspec.to_builtins(report), indent=2)
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", "utf-8")
        err.print(f"{kind} report written to {out}")


@report_app.command("transparency")
def transparency(
    config: ConfigOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    zone: ZoneOpt = None,
    fmt: FormatOpt = "json",
    out: OutOpt = None,
) -> None:
    """Figures of a period: cameras, reads, hits, consultations, grants, retention, sign-ins."""
    _run("transparency", config, since, until, zone, fmt, out)


@report_app.command("abuse")
def abuse(
    config: ConfigOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    zone: ZoneOpt = None,
    fmt: FormatOpt = "json",
    out: OutOpt = None,
) -> None:
    """Consultation patterns to look at: rates, night bulk, wildcards, single-use cases."""
    _run("abuse", config, since, until, zone, fmt, out)
