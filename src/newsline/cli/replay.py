"""``newsline replay serve | build``: the offline web of captured sites, for tests and demos."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from newsline.cli.app import app, console, shown

replay_app = typer.Typer(
    no_args_is_help=True, help="Replay captured sites on 127.0.0.1 (offline testing)."
)
app.add_typer(replay_app, name="replay")


@replay_app.command("serve")
def replay_serve(
    corpus: Annotated[Path, typer.Argument(help="Capture corpus directory (with manifest.jsonl).")],
    http_port: Annotated[int, typer.Option(help="HTTP port (0 = any free port).")] = 0,
    https_port: Annotated[int, typer.Option(help="HTTPS port (0 = any free port).")] = 0,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="Where to write the CA certificate (default: a temporary file)."),
    ] = None,
    exit_after: Annotated[
        float | None, typer.Option(hidden=True, help="Stop after this many seconds (tests).")
    ] = None,
) -> None:
    """Serve CORPUS for every host in it over HTTP and HTTPS until Ctrl-C.

    Prints the two settings that point newsline at the server, one per line on stdout.
    """
    import asyncio
    import contextlib
    import signal

    from newsline.testing.replay import ReplayServer

    server = ReplayServer(corpus, http_port, https_port, ca_file=ca_file)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, or `kill PID`: a clean stop
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        try:
            for name, value in server.settings_env().items():
                sys.stdout.write(f"{name}={value}\n")
            sys.stdout.flush()
            console.print(
                f"replaying {shown(corpus)} ({len(server.entries)} URLs) on "
                f"http://127.0.0.1:{server.http_port} and https://127.0.0.1:{server.https_port}"
                " — Ctrl-C to stop"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), exit_after)
        finally:
            await server.stop()
        console.print("replay server stopped")

    asyncio.run(run())


@replay_app.command("build")
def replay_build(
    source: Annotated[
        Path,
        typer.Option(
            "--from", help="Folder with feeds/, articles/ and/or pages/ (e.g. ../shared/corpora)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="New corpus directory to write.")],
    force: Annotated[bool, typer.Option(help="Replace OUT when it exists.")] = False,
) -> None:
    """Turn captured feeds and article pages into a capture corpus."""
    from rich.table import Table

    from newsline.testing.build import build_corpus

    report = build_corpus(source, out, force=force)
    table = Table(title=f"corpus written to {shown(out)}")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("feeds (captured)", str(report.feeds))
    table.add_row("feeds (generated)", str(report.generated_feeds))
    table.add_row("pages", str(report.pages))
    table.add_row("hosts", str(len(report.hosts)))
    for reason, count in sorted(report.skipped.items()):
        table.add_row(f"skipped: {reason}", str(count))
    console.print(table)
