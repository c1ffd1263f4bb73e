"""The ``kruispunt`` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kruispunt.cli_audit import audit_app
from kruispunt.cli_hotlists import hotlists_app
from kruispunt.cli_read import read_command
from kruispunt.cli_reports import report_app
from kruispunt.config import Config, ConfigError, load_config

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
cameras_app = typer.Typer(no_args_is_help=True, help="The camera registry.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (print JSON with --json).")
app.add_typer(cameras_app, name="cameras")
app.add_typer(config_app, name="config")
app.add_typer(bench_app, name="bench")
users_app = typer.Typer(no_args_is_help=True, help="People who use the node.")
app.add_typer(hotlists_app, name="hotlists")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(users_app, name="users")
app.command("read")(read_command)

err = Console(stderr=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML or JSON config file.", exists=True)
]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per camera batch is noise (and the demo's own camera traffic).
    logging.getLogger("httpx").setLevel(logging.WARNING)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    role: Annotated[
        str,
        typer.Option(
            help="all: API, log and processors. api: the API only, with the distributed log "
            "(workers run the processors; start several API processes behind a balancer)."
        ),
    ] = "all",
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a node: the API, the log and its processors."""
    from kruispunt.serve import run_server

    _setup_logging(verbose)
    if role not in ("all", "api"):
        err.print("[red]--role[/red]: all or api (workers: kruispunt worker)")
        raise typer.Exit(2)
    server = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    cfg = load_config_or_exit(config, server=server)
    _run_or_exit(lambda: run_server(cfg, role=role))
    err.print("node stopped")


@app.command()
def worker(
    config: ConfigOpt = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run a worker: it takes a fair share of the distributed log's partitions (bus.url),
    stores their reads and runs the processors on them. Start as many as needed."""
    from kruispunt.serve import run_worker

    _setup_logging(verbose)
    cfg = load_config_or_exit(config)
    if cfg.bus.url is None:
        err.print("[red]a worker needs the distributed log[/red]: set bus.url or KRUISPUNT_BUS_URL")
        raise typer.Exit(2)
    _run_or_exit(lambda: run_worker(cfg, metrics_port=metrics_port))
    err.print("worker stopped")


def _run_or_exit(run: Callable[[], None]) -> None:
    """A store or bus that cannot be reached at start: one clear line, exit status 1."""
    from kruispunt.bus.jetstream import BusError
    from kruispunt.store.base import StoreError

    try:
        run()
    except (StoreError, BusError, ValueError) as exc:
        err.print(f"[red]cannot start[/red]: {exc}")
        raise typer.Exit(1) from None


def load_config_or_exit(path: Path | None, **overrides: Mapping[str, object]) -> Config:
    try:
        return load_config(path, overrides={k: dict(v) for k, v in overrides.items() if v})
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red]: {exc}")
        raise typer.Exit(2) from None


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Web/API port.")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its SQLite store.")] = Path(
        "var/demo"
    ),
    scale: Annotated[
        float, typer.Option(help="Share of the province's real traffic (~3M reads/day) to send.")
    ] = 0.2,
    misread_rate: Annotated[float, typer.Option(help="Share of reads with an OCR error.")] = 0.02,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start a demo node on SQLite with a simulated province feeding it (http://127.0.0.1:8000)."""
    from kruispunt.demo import run_demo

    _setup_logging(verbose)
    run_demo(port=port, data_dir=data_dir, scale=scale, misread_rate=misread_rate)
    err.print("demo stopped")


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Base URL of the node to feed.")],
    tokens: Annotated[
        Path, typer.Option(help="JSON file: camera id -> camera token.", exists=True)
    ],
    speed: Annotated[
        float,
        typer.Option(help="Simulated seconds per real second; above 1 replays the recent past."),
    ] = 1.0,
    scale: Annotated[float, typer.Option(help="Share of the province's traffic.")] = 0.2,
    duration: Annotated[
        float | None, typer.Option(help="Simulated seconds to send (default: run until Ctrl-C).")
    ] = None,
    misread_rate: Annotated[float, typer.Option()] = 0.02,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Feed a (remote) node with the simulated province over the camera API."""
    if speed > 1.0 and duration is None:
        err.print("--speed above 1 replays the past: give --duration (simulated seconds)")
        raise typer.Exit(2)
    from kruispunt.demo import run_simulation

    _setup_logging(False)
    run_simulation(
        url=url, tokens_file=tokens, speed=speed, scale=scale, duration_s=duration,
        misread_rate=misread_rate, seed=seed,
    )  # fmt: skip


@cameras_app.command("import")
def cameras_import(
    file: Annotated[Path, typer.Argument(help="GeoJSON or CSV camera file.", exists=True)],
    config: ConfigOpt = None,
    tokens_out: Annotated[
        Path | None, typer.Option(help="Issue a token per camera and write them here (JSON).")
    ] = None,
) -> None:
    """Load cameras into the registry (all or nothing)."""
    from kruispunt.camera_files import CameraFileError, load_cameras
    from kruispunt.demo import write_secret
    from kruispunt.node import Node

    cfg = load_config_or_exit(config)
    try:
        cameras = load_cameras(file)
    except CameraFileError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    node = Node(cfg, role="admin")
    node.start()
    try:
        node.upsert_cameras(cameras)
        if tokens_out is not None:
            issued = {c.id: node.issue_token(c.id) for c in cameras}
            write_secret(tokens_out, json.dumps(issued, indent=1))
    finally:
        node.stop()
    err.print(f"imported {len(cameras)} cameras")


@cameras_app.command("export")
def cameras_export(
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="geojson or csv")] = "geojson",
) -> None:
    """Print the registry as GeoJSON or CSV."""
    from kruispunt.camera_files import dump_cameras_csv, dump_cameras_geojson
    from kruispunt.node import build_store

    cfg = load_config_or_exit(config)
    store = build_store(cfg, writes_log=False)
    store.open()
    try:
        cams = [r.camera for r in store.cameras()]
    finally:
        store.close()
    sys.stdout.write(dump_cameras_csv(cams) if fmt == "csv" else dump_cameras_geojson(cams))


@cameras_app.command("formats")
def cameras_formats() -> None:
    """List the ingest formats a camera can be registered for (its ``ingest`` setting) and
    each format's settings."""
    from kruispunt.ingest.formats import describe_formats

    sys.stdout.write(describe_formats())


@cameras_app.command("layout")
def cameras_layout(
    out: Annotated[Path, typer.Argument(help="Write the simulated province's cameras here.")],
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Write the simulated province's camera network (GeoJSON or CSV by suffix)."""
    from kruispunt.camera_files import dump_cameras_csv, dump_cameras_geojson
    from kruispunt.sim.layout import build_province_cameras

    cams = build_province_cameras(seed)
    out.write_text(dump_cameras_csv(cams) if out.suffix == ".csv" else dump_cameras_geojson(cams))
    err.print(f"wrote {len(cams)} cameras to {out}")


@users_app.command("create")
def users_create(
    user_id: Annotated[str, typer.Argument(help="e.g. pz5364-jdevos")],
    zone: Annotated[str, typer.Option(help="The user's zone id.")],
    role: Annotated[str, typer.Option(help="operator, investigator, zone_chief, admin ...")],
    name: Annotated[str, typer.Option(help="Full name.")] = "",
    config: ConfigOpt = None,
) -> None:
    """Create a user and print their API token (shown once)."""
    from kruispunt.access.principals import Principal, Role, User
    from kruispunt.access.users import UserError
    from kruispunt.node import Node

    cfg = load_config_or_exit(config)
    try:
        user = User(id=user_id, name=name or user_id, zone_id=zone, role=Role(role))
    except ValueError:
        err.print(f"[red]unknown role {role!r}[/red]: {', '.join(r.value for r in Role)}")
        raise typer.Exit(2) from None
    node = Node(cfg, role="admin")
    node.start()
    try:
        cli_admin = Principal(user_id="cli", zone_id="network", role=Role.ADMIN)
        token = node.users.create(user, actor=cli_admin)
    except UserError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    finally:
        node.stop()
    print(token)


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="TOML or JSON config file.")],
) -> None:
    """Validate a configuration file; exits 2 and names every bad key."""
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    print(json.dumps(redacted(cfg.model_dump(mode="json")), indent=2))


def redacted(value: object, key: str = "") -> object:
    """The config as it may be shown: secrets and the passwords in URLs masked."""
    if isinstance(value, dict):
        return {k: redacted(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, key) for v in value]
    if isinstance(value, str) and value:
        if key in {"admin_token", "password", "secret"}:
            return "***"
        if "://" in value and "@" in value:
            scheme, _, rest = value.partition("://")
            creds, _, host = rest.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}" if ":" in creds else value
    return value


@bench_app.command("ingest")
def bench_ingest(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    reads: Annotated[int, typer.Option(help="Reads sent end to end per run.")] = 300_000,
    batch: Annotated[int, typer.Option(help="Reads per HTTP batch.")] = 1000,
    clients: Annotated[
        int, typer.Option(help="Concurrent camera connections (the province has ~150 cameras).")
    ] = 32,
    runs: Annotated[int, typer.Option(help="Runs; medians are reported.")] = 3,
    soak: Annotated[
        int, typer.Option(help="Reads of one long run that watches memory (0: skip).")
    ] = 1_500_000,
    workers: Annotated[int, typer.Option(help="JetStream: worker processes.")] = 2,
    partitions: Annotated[int, typer.Option(help="JetStream: partitions of the log.")] = 8,
    sustained_s: Annotated[
        float, typer.Option(help="JetStream: seconds of paced 5,000 reads/s load (0: skip).")
    ] = 20.0,
) -> None:
    """End-to-end ingest rate vs the store's raw insert ceiling, same run, same machine.

    With KRUISPUNT_DATABASE_URL (postgresql://...) and/or KRUISPUNT_BUS_URL (nats://...) set,
    it measures those backends: the ceiling is then PostgreSQL's own COPY rate into the same
    tables, and with JetStream it adds workers_scaling and a sustained-load lag."""
    db_url = os.environ.get("KRUISPUNT_DATABASE_URL", "")
    bus_url = os.environ.get("KRUISPUNT_BUS_URL") or None
    if bus_url and not db_url.startswith(("postgresql:", "postgres:")):
        err.print("[red]KRUISPUNT_BUS_URL needs KRUISPUNT_DATABASE_URL=postgresql://...[/red]")
        raise typer.Exit(2)
    if db_url.startswith(("postgresql:", "postgres:")):
        from kruispunt.bench.cluster import run_cluster_bench

        result = run_cluster_bench(
            db_url=db_url, bus_url=bus_url, reads=reads, batch=batch, clients=clients,
            runs=runs, workers=workers, partitions=partitions, sustained_s=sustained_s,
        )  # fmt: skip
    else:
        from kruispunt.bench.ingest import run_ingest_bench

        result = run_ingest_bench(
            reads=reads, batch=batch, clients=clients, runs=runs, soak_reads=soak
        )
    print(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("hits")
def bench_hits(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    entries: Annotated[int, typer.Option(help="Hotlist entries.")] = 1_000_000,
    background: Annotated[int, typer.Option(help="Background reads per second.")] = 5000,
    probes: Annotated[int, typer.Option(help="Probe reads of hotlisted plates.")] = 400,
    probe_every: Annotated[float, typer.Option(help="Seconds between probes.")] = 0.05,
    match_sizes: Annotated[
        str, typer.Option(help="Index sizes for the matching-cost comparison.")
    ] = "10000,1000000",
) -> None:
    """Hit latency from a camera's POST to another zone's WebSocket, under background load."""
    from kruispunt.bench.hits import run_hits_bench

    result = run_hits_bench(
        entries=entries, background=background, probes=probes, probe_every_s=probe_every,
        match_sizes=tuple(int(s) for s in match_sizes.split(",") if s.strip()),
    )  # fmt: skip
    print(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("policy")
def bench_policy(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    requests: Annotated[int, typer.Option(help="Measured requests.")] = 5000,
    users: Annotated[int, typer.Option(help="Investigators across the zones.")] = 200,
    grants: Annotated[int, typer.Option(help="Approved cross-zone grants.")] = 500,
    reads: Annotated[int, typer.Option(help="Reads in the store (baseline query).")] = 200_000,
) -> None:
    """What the lawful-access check (guard + policy gate) costs one request."""
    from kruispunt.bench.policy import run_policy_bench

    result = run_policy_bench(requests=requests, users=users, grants=grants, reads=reads)
    print(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("enforcement")
def bench_enforcement(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    reads: Annotated[int, typer.Option(help="Reads sent end to end per run and side.")] = 200_000,
    density: Annotated[
        float,
        typer.Option(
            help="Reads a second the simulated traffic is drawn at (near the node's rate: "
            "passages then last as long as simulated)."
        ),
    ] = 20_000.0,
    batch: Annotated[int, typer.Option(help="Most reads in one camera's batch.")] = 1000,
    clients: Annotated[int, typer.Option(help="Concurrent camera connections.")] = 32,
    runs: Annotated[int, typer.Option(help="Runs (each: with and without); medians.")] = 3,
    tick_s: Annotated[
        float, typer.Option(help="Seconds of simulated traffic per round of camera batches.")
    ] = 1.0,
) -> None:
    """What section control and the LEZ (with the registries' fakes) cost the end-to-end
    ingest: the same traffic with and without them, and the memory of a vehicle in transit."""
    from kruispunt.bench.enforcement import run_enforcement_bench

    result = run_enforcement_bench(
        reads=reads, density=density, batch=batch, clients=clients, runs=runs, tick_s=tick_s
    )
    print(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("search")
def bench_search(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    sizes: Annotated[
        str, typer.Option(help="Store sizes in reads, comma-separated (filled in turn).")
    ] = "1000000,10000000",
    full: Annotated[
        bool, typer.Option("--full", help="Also 90,000,000 reads: the province's 30 days.")
    ] = False,
    exact: Annotated[int, typer.Option(help="Exact plate histories per size.")] = 300,
    partial: Annotated[int, typer.Option(help="Partial-plate searches per size.")] = 100,
    place: Annotated[int, typer.Option(help="Place-and-time searches per size.")] = 50,
    convoys: Annotated[int, typer.Option(help="Convoy searches per size (1-3).")] = 3,
) -> None:
    """Investigation queries (exact and partial plates, place and time, convoy) at growing
    store sizes: p50/p95, the store's size on disk and the peak memory. With
    KRUISPUNT_DATABASE_URL=postgresql://... it measures PostgreSQL instead of SQLite."""
    from kruispunt.bench.search import FULL_SIZE, run_search_bench

    try:
        chosen = {int(s.replace("_", "")) for s in sizes.split(",") if s.strip()}
    except ValueError:
        err.print("[red]--sizes: integers, comma-separated[/red]")
        raise typer.Exit(2) from None
    if full:
        chosen.add(FULL_SIZE)
    result = run_search_bench(
        sizes=tuple(sorted(chosen)), exact=exact, partial=partial, place=place,
        convoys=max(1, min(3, convoys)), progress=sys.stderr.isatty(),
    )  # fmt: skip
    print(json.dumps(result, indent=None if as_json else 2))


@bench_app.command("reader")
def bench_reader(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    folder: Annotated[
        Path | None,
        typer.Option(
            help="Labelled pictures (default: a generated set of rendered plates).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="CSV with file,plate[,country] (default: FOLDER/labels.csv, else "
            "the plate is the file name's stem).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    images: Annotated[int, typer.Option(help="Pictures to generate without --folder.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated set.")] = 9,
    det_side: Annotated[int, typer.Option(help="Pixels the text detector sees.")] = 480,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the models.")] = None,
    baseline: Annotated[
        bool, typer.Option(help="Also run the plain-OCR baseline on the same pictures.")
    ] = True,
) -> None:
    """Exact-plate accuracy and pictures per second of the plate reader (kruispunt read),
    against plain OCR (no plate localisation, no format validation) on the same pictures."""
    from kruispunt.bench.reader import run_reader_bench

    result = run_reader_bench(
        folder=folder, labels=labels, count=images, seed=seed, det_side=det_side,
        threads=threads, baseline=baseline, progress=sys.stderr.isatty(),
    )  # fmt: skip
    print(json.dumps(result, indent=None if as_json else 2))


def main() -> None:
    app()
