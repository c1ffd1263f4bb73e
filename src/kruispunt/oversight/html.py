"""The reports as printable HTML pages: tables, a header with the period, zone, jurisdiction
and time of generation, print CSS, no script. Served by the node (stylesheets linked from
its ``static`` folder) or written by the command line as one self-contained file (the
stylesheets inlined)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from kruispunt import __version__
from kruispunt.oversight.abuse import AbuseReport
from kruispunt.oversight.period import local_time
from kruispunt.oversight.transparency import TransparencyReport

STYLESHEETS = ("kruispunt.css", "reports.css")


def thousands(n: int) -> str:
    return f"{n:,}".replace(",", "\u2009")


def label(name: str) -> str:
    """``judicial_police`` → ``judicial police``; ``search.place_time`` → ``search place time``."""
    return name.replace("_", " ").replace(".", " ")


def when(at_us: int, timezone: str) -> str:
    return local_time(at_us, timezone).strftime("%Y-%m-%d %H:%M %Z")


@cache
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kruispunt", "web/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(thousands=thousands, label=label, when=when)
    return env


@cache
def inline_css() -> Markup:
    static = resources.files("kruispunt").joinpath("web/static")
    return Markup("\n".join(static.joinpath(name).read_text("utf-8") for name in STYLESHEETS))


def _render(template: str, *, static: str | None, **context: Any) -> str:
    """``static``: the URL of the node's static folder; None: a standalone file."""
    return (
        _env()
        .get_template(template)
        .render(
            version=__version__,
            static=static or "",
            stylesheets=STYLESHEETS,
            inline_css=inline_css() if static is None else None,
            **context,
        )
    )


def render_transparency(
    report: TransparencyReport, *, zone_names: dict[str, str], static: str | None
) -> str:
    return _render("report_transparency.html", static=static, report=report, zone_names=zone_names)


def render_abuse(report: AbuseReport, *, zone_names: dict[str, str], static: str | None) -> str:
    return _render("report_abuse.html", static=static, report=report, zone_names=zone_names)
