"""``newsline serve`` and ``newsline demo``: the site with its scheduler, for real or offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsline.cli.app import (
    CommandError,
    app,
    console,
    prepare_database,
    settings_of,
    shown,
    state_of,
)
from newsline.config import Settings, config_path
from newsline.text import printable


def check_port(value: int) -> int:
    """``--port``: a TCP port, refused before anything starts (``callback=`` of the option)."""
    if not 1 <= value <= 65535:
        raise CommandError(f"--port must be a TCP port between 1 and 65535, not {value}")
    return value


PortOption = Annotated[int, typer.Option(help="TCP port.", callback=check_port)]


def check_free(host: str, port: int) -> None:
    """Refuse, in one line and before anything starts, an address we cannot listen on (a
    port another program holds): uvicorn would fail only after the scheduler started."""
    import socket

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}: {exc.strerror or exc} (check --host)"
        ) from exc
    family, kind, proto, _, address = found[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CommandError(
            f"cannot listen on {host}:{port}: {reason} (stop the program using it, or choose"
            " another port with --port)"
        ) from exc


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: PortOption = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Web worker processes.")] = 1,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Serve pages only; run no periodic jobs.")
    ] = False,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (nginx logs them too).")
    ] = False,
) -> None:
    """Serve the site (FastAPI + uvicorn) and run the scheduler (fetch, digests).

    Fetch passes run in a separate process at a lower CPU priority, so readers are served
    promptly while the pipeline works."""
    settings = settings_of(ctx)
    check_free(host, port)
    prepare_database(settings)
    path = config_path(state_of(ctx).config)
    serve_site(
        settings,
        path if path.exists() else None,
        host=host,
        port=port,
        workers=workers,
        scheduler=not no_scheduler and settings.scheduler.enabled,
        access_log=access_log,
    )


@app.command()
def demo(
    corpus: Annotated[
        Path | None,
        typer.Option(help="A capture corpus to replay instead of the bundled demo publishers."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: PortOption = 8000,
    data_dir: Annotated[
        Path | None, typer.Option(help="Keep the demo's database here (default: a temp dir).")
    ] = None,
    exit_after: Annotated[
        float | None, typer.Option(hidden=True, help="Stop serving after this many seconds.")
    ] = None,
) -> None:
    """Everything, offline: replay a web of publishers on loopback, ingest, enrich, digest, serve."""
    import tempfile

    from newsline.testing.demo import prepare, run_pipeline
    from newsline.testing.democorpus import write_demo_corpus
    from newsline.testing.replay import replay_in_thread

    check_free(host, port)
    work = data_dir or Path(tempfile.mkdtemp(prefix="newsline-demo-"))
    corpus_dir = corpus or write_demo_corpus(work / "corpus", history=True)
    with replay_in_thread(corpus_dir) as server:
        console.print(f"replaying {shown(corpus_dir)} ({len(server.entries)} URLs) on loopback")
        site = prepare(work, server, own_corpus=corpus is None, base_url=f"http://{host}:{port}")
        console.print(printable(run_pipeline(site.settings)), markup=False, highlight=False)
        serve_site(site.settings, site.config, host=host, port=port, exit_after=exit_after)


def serve_site(
    settings: Settings,
    config: Path | None,
    *,
    host: str,
    port: int,
    workers: int = 1,
    scheduler: bool = True,
    access_log: bool = False,
    exit_after: float | None = None,
) -> None:
    """Run uvicorn on the app (and the scheduler beside it) until stopped."""
    import os
    import threading

    import uvicorn

    from newsline.workers.scheduler import start_scheduler

    if config is not None:  # the worker processes load the same file
        os.environ["NEWSLINE_CONFIG"] = str(config.resolve())
    jobs = start_scheduler(settings) if scheduler else None
    options = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": access_log,
        # X-Forwarded-* believed from web.trusted_proxies only (the app judges them the same).
        "proxy_headers": bool(settings.web.trusted_proxies),
        "forwarded_allow_ips": ",".join(settings.web.trusted_proxies) or "127.0.0.1",
        "server_header": False,
    }
    app_path = "newsline.web.app:create_app_from_env"
    console.print(f"serving at http://{shown(host)}:{port} ({workers} worker(s)) — Ctrl-C to stop")
    try:
        if workers > 1:
            uvicorn.run(app_path, **options)  # type: ignore[arg-type]
        else:
            server = uvicorn.Server(uvicorn.Config(app_path, **options))  # type: ignore[arg-type]
            if exit_after is not None:
                timer = threading.Timer(exit_after, lambda: setattr(server, "should_exit", True))
                timer.daemon = True
                timer.start()
            server.run()
    finally:
        if jobs is not None:
            jobs.shutdown(wait=False)
