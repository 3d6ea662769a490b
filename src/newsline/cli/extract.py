"""``newsline extract FILE|URL``: run the article extractor on one page and print what it finds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsline.cli.app import CommandError, app, settings_of
from newsline.config import Settings
from newsline.text import printable


@app.command("extract")
def extract_command(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="An HTML file (.gz is decompressed) or a URL.")],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The page's URL (relative links resolve against it)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print all fields as JSON.")] = False,
) -> None:
    """Extract one article page: title, author, date, lead image, text, sanitized HTML."""
    import json

    from newsline.ingest.extract import extract

    content_type = ""
    if source.startswith(("http://", "https://")):
        data, content_type, final_url = fetch_page(settings_of(ctx), source)
        page_url = url or final_url
    else:
        path = Path(source)
        data = read_page(path)
        page_url = url or path.resolve().as_uri()
    result = extract(data, page_url, content_type=content_type)
    fields = result.to_json()
    if as_json:
        typer.echo(json.dumps(fields, indent=2, ensure_ascii=False))
        return
    for key, value in fields.items():
        if key not in ("text", "html") and value not in (None, "", []):
            typer.echo(printable(f"{key}: {value}"))
    typer.echo("")
    typer.echo(printable(result.text))


def read_page(path: Path) -> bytes:
    """The bytes of a saved page, gunzipped when it ends in ``.gz``."""
    import gzip

    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except (OSError, EOFError) as exc:  # the file itself is the one thing this command reads
        raise CommandError(f"cannot read {path}: {exc}") from exc


def fetch_page(settings: Settings, url: str) -> tuple[bytes, str, str]:
    """GET one page with the polite fetcher (robots.txt, SSRF guard, size cap): (body, its
    Content-Type, final URL)."""
    import asyncio

    from newsline.ingest.fetch import Fetcher
    from newsline.ingest.refresh import PAGE_ACCEPT

    async def get() -> tuple[bytes, str, str]:
        async with Fetcher(settings.fetch) as fetcher:
            result = await fetcher.get(url, kind="page", accept=PAGE_ACCEPT)
        return result.body, result.headers.get("content-type", ""), result.final_url

    return asyncio.run(get())
