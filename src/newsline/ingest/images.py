"""Fetching one image for the image proxy, politely and within the image's own size cap."""

from __future__ import annotations

from newsline.config import FetchSettings
from newsline.ingest.fetch import Fetcher

#: What we ask for: raster formats the proxy can read (SVG and the rest are refused anyway).
ACCEPT = "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.8"


async def fetch_image(settings: FetchSettings, url: str, max_bytes: int) -> bytes:
    """The body at `url`, fetched with the SSRF guard, size cap and timeouts of `settings`.

    A reader is waiting for it: no politeness delay between one host's images (a browser
    loads a page's images at once too, and per-host concurrency still applies) and no
    retry (a failed image becomes a placeholder now, and is tried again later). Raises a
    :class:`~newsline.ingest.fetch.FetchError` on failure.
    """
    for_images = settings.model_copy(
        update={
            "min_host_delay": 0.0,
            "retries": 0,
            "max_body_bytes": min(settings.max_body_bytes, max_bytes),
            "total_timeout": min(settings.total_timeout, 20.0),
        }
    )
    async with Fetcher(for_images) as fetcher:
        result = await fetcher.get(url, kind="other", accept=ACCEPT, check_robots=False)
    return result.body
