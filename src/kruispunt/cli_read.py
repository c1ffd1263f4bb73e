"""``kruispunt read``: plates from pictures, video files and camera streams, offline.

Each input is read on its own: a corrupt picture or an unreachable stream is an error for
that input, and the others are still read (exit status 1 when any failed). With ``--json``
one JSON object per input is printed as soon as it is read: ``{"file": ..., "reads": [...]}``
(best first) or ``{"file": ..., "error": ...}``. With ``--post`` the reads are sent to a
node as a camera sends them (native API, the camera's own token).
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
TOKEN_ENV = "KRUISPUNT_CAMERA_TOKEN"


def _token(token: str | None, token_file: Path | None) -> str | None:
    if token_file is not None:
        return token_file.read_text().strip()
    return token or os.environ.get(TOKEN_ENV) or None


def read_command(
    inputs: Annotated[
        list[str], typer.Argument(help="Pictures, video files, folders or stream URLs (rtsp://).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input.")] = False,
    post: Annotated[
        str | None, typer.Option("--post", help="Node URL to send the reads to, as a camera.")
    ] = None,
    camera: Annotated[str | None, typer.Option(help="Camera id on the node (--post).")] = None,
    token: Annotated[
        str | None, typer.Option(help=f"The camera's token (--post; or ${TOKEN_ENV}).")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="File holding the camera's token.", exists=True)
    ] = None,
    country: Annotated[
        str | None, typer.Option(help="Validate against this country's formats only (BE...).")
    ] = None,
    any_format: Annotated[
        bool,
        typer.Option(
            "--any-format",
            help="Also report texts that match no known format and are not plate-shaped "
            "(a plate-shaped read of an unsupported country is always reported, without a "
            "country).",
        ),
    ] = False,
    det_side: Annotated[
        int, typer.Option(help="Pixels the text detector sees (raise it for small plates).")
    ] = 480,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the models.")] = None,
    sample_fps: Annotated[float, typer.Option(help="Video frames read per second of video.")] = 5.0,
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds to read a stream for (default: until it ends or Ctrl-C)."),
    ] = None,
    crops: Annotated[
        Path | None, typer.Option(help="Folder to write each read's plate crop to (JPEG).")
    ] = None,
) -> None:
    """Find and read the licence plates in pictures, videos and camera streams."""
    import cv2  # OpenCV and the models: only now

    from kruispunt.reader.errors import ReaderError
    from kruispunt.reader.image import PlateReader
    from kruispunt.reader.post import NodeClient
    from kruispunt.reader.runner import Run, expand

    # OpenCV's own warnings repeat what each input's error says.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    client: NodeClient | None = None
    if post is not None:
        secret = _token(token, token_file)
        if not camera or not secret:
            err.print(f"[red]--post needs --camera and --token, --token-file or ${TOKEN_ENV}[/]")
            raise typer.Exit(2)
        client = NodeClient(post, camera, secret)
    try:
        reader = PlateReader(
            threads=threads, det_side=det_side, country=country, require_format=not any_format
        )
    except ReaderError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    # A bar only when both streams are the terminal: piped output stays clean, and the bar's
    # redirection of stdout (it prints above the bar) lands on the same screen.
    show = err.is_terminal and sys.stdout.isatty()
    bar: AbstractContextManager[Progress | None] = nullcontext()
    if show:
        bar = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), console=err, transient=True,
        )  # fmt: skip
    try:
        with bar as progress:
            run = Run(reader, as_json=as_json, client=client, crops=crops, sample_fps=sample_fps,
                      max_seconds=duration, progress=progress, out=out, err=err)  # fmt: skip
            sources = list(expand(inputs))
            task = progress.add_task("inputs", total=len(sources)) if progress else None
            for source in sources:
                run.one(source)
                if progress is not None and task is not None:
                    progress.advance(task)
    finally:
        if client is not None:
            client.close()
    if run.failed:
        raise typer.Exit(1)
