"""The image proxy: ``/img/<sig>/<use>-<width>/<source>``, publishers' images served by us.

Pages never hotlink a publisher's image. They name it through the proxy
(:class:`ImageLinks`, the templates' ``image()`` global, used by ``_image.html``) with a
URL signed under the site secret, so only images our own pages show are ever fetched. On
a request the proxy

- checks the signature and that the variant is one the pages use (:data:`USES`);
- fetches the source with the polite fetcher (:mod:`newsline.ingest.images`: SSRF guard,
  size cap, timeouts), once per source however many variants and formats are asked for;
- trusts the bytes, never the Content-Type: the magic bytes must be JPEG, PNG, GIF, WebP,
  AVIF or ICO, and Pillow must read the header; pixels and sides are bounded before anything
  is decoded (decompression bombs);
- crops to the use's aspect ratio at the asked width (so the pages can give every
  ``<img>`` its ``width`` and ``height``: no layout shift), strips metadata, and encodes
  AVIF, WebP or JPEG as the ``Accept`` header allows (``Vary: Accept``);
- keeps sources and results in a bounded on-disk cache under the data directory (expiry
  by age, least-recently-served eviction by size), failures for a short while too;
- answers a failure (refused, unreachable, not an image, too large) with a neutral
  placeholder of the same size, never an error the browser would draw as alt text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import os
import re
import threading
import time
import warnings
from dataclasses import dataclass
from html import unescape as html_unescape
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup, escape
from PIL import Image, ImageOps, UnidentifiedImageError, features

from newsline import urls
from newsline.config import ImageSettings, Settings
from newsline.ingest.fetch import FetchError
from newsline.ingest.images import fetch_image
from newsline.sanitize import web_url
from newsline.web.csrf import load_secret
from newsline.web.site import site_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Use:
    """How the pages show an image: its aspect ratio, the widths served and ``sizes``."""

    aspect: tuple[int, int]  # width : height
    widths: tuple[int, ...]
    sizes: str

    def height(self, width: int) -> int:
        return round(width * self.aspect[1] / self.aspect[0])


#: Every use and width the pages ask for; the proxy makes no other size. A card's thumbnail
#: is 88 px square on phones (object-fit crops the 3:2 image), 168x112 wider, 56 px dense.
USES: dict[str, Use] = {
    "thumb": Use((3, 2), (168, 336), "(min-width: 700px) 168px, 88px"),
    "hero": Use((16, 9), (480, 800, 1200), "(min-width: 760px) 730px, 100vw"),
    # A publication's icon beside its name (20 or 28 px; the template gives ``sizes``).
    "icon": Use((1, 1), (28, 56), "28px"),
}

#: Output formats by preference; the first the browser accepts wins (JPEG always does).
MEDIA_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}
PLACEHOLDER_HEADER = "x-image"  # "placeholder" on a stand-in; tests and operators read it
HIT_CACHE = "public, max-age=86400"
#: What the bytes must start with (offset, magic) for each accepted source format.
MAGIC: tuple[tuple[str, int, bytes], ...] = (
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("GIF", 0, b"GIF87a"),
    ("GIF", 0, b"GIF89a"),
    ("WEBP", 8, b"WEBP"),
    ("AVIF", 4, b"ftypavif"),
    ("AVIF", 4, b"ftypavis"),
    ("ICO", 0, b"\x00\x00\x01\x00"),  # publications' favicons
)


class ImageRefused(Exception):
    """The source is not an image we serve (its reason is logged and cached)."""


def sniff(data: bytes) -> str | None:
    """The image format the bytes are by their magic numbers (Pillow's name), or None."""
    for name, offset, magic in MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if name == "WEBP" and not data.startswith(b"RIFF"):
                continue
            return name
    return None


def output_format(accept: str, *, avif: bool = True) -> str:
    """The format to send for this ``Accept`` header: AVIF, WebP, else JPEG."""
    accept = accept.lower()
    if avif and "image/avif" in accept and features.check("avif"):
        return "avif"
    if "image/webp" in accept:
        return "webp"
    return "jpeg"


def render(data: bytes, width: int, height: int, fmt: str, cfg: ImageSettings) -> bytes:
    """The source image cropped to `width` x `height` and encoded as `fmt`.

    Raises :class:`ImageRefused` for anything that is not a sane raster image.
    """
    kind = sniff(data)
    if kind is None:
        raise ImageRefused("not an image (JPEG, PNG, GIF, WebP, AVIF or ICO) by its content")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data), formats=[kind])
            w, h = image.size
            if w < 1 or h < 1 or max(w, h) > cfg.max_side or w * h > cfg.max_pixels:
                raise ImageRefused(f"{w}x{h} pixels is beyond the limits (decompression bomb?)")
            if kind == "JPEG":  # decode at a fraction of the size when it is much larger
                image.draft("RGB", (width * 2, height * 2))
            image.seek(0)  # the first frame of an animation
            image.load()
            image = ImageOps.exif_transpose(image) or image
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            if image.mode == "RGBA":  # transparency over white: every format, one look
                flat = Image.new("RGB", image.size, (255, 255, 255))
                flat.paste(image, mask=image.getchannel("A"))
                image = flat
            out = ImageOps.fit(
                image, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.4)
            )
        except ImageRefused:
            raise
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise ImageRefused(f"unreadable or oversized image: {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageRefused(f"corrupt image: {exc}") from exc
    buf = io.BytesIO()
    if fmt == "avif":
        out.save(buf, "AVIF", quality=55, speed=8)
    elif fmt == "webp":
        out.save(buf, "WEBP", quality=78, method=4)
    else:
        out.save(buf, "JPEG", quality=80, optimize=True, progressive=True)
    return buf.getvalue()


def placeholder(width: int, height: int) -> bytes:
    """A neutral stand-in (SVG) of the image's size: a soft panel, no text, any theme."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="#8882"/>'
        f'<path d="M{width * 0.38:.0f} {height * 0.64:.0f}l{width * 0.08:.0f}-{height * 0.16:.0f} '
        f"{width * 0.06:.0f} {height * 0.1:.0f} {width * 0.05:.0f}-{height * 0.06:.0f} "
        f'{width * 0.05:.0f} {height * 0.12:.0f}z" fill="#8884"/></svg>'
    ).encode()


# --- the on-disk cache -----------------------------------------------------------------------


class DiskCache:
    """Files under one folder, bounded in bytes: expiry by age, eviction least recently used.

    Each worker keeps an index (size, last served) built from one scan of the folder; a
    hit stamps the file's access time itself (the mount's atime policy does not matter),
    so a restarted worker orders files the same way. A file another worker evicted is a
    miss, nothing worse.
    """

    def __init__(self, root: Path, max_bytes: int, max_age: float) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._index: dict[Path, tuple[int, float]] | None = None
        self._total = 0
        self._lock = threading.Lock()

    def path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}.{suffix}"

    def _load_index(self) -> dict[Path, tuple[int, float]]:
        if self._index is None:
            index: dict[Path, tuple[int, float]] = {}
            if self.root.is_dir():
                for path in self.root.glob("*/*.*"):
                    try:
                        st = path.stat()
                    except OSError:
                        continue
                    if path.name.endswith(".tmp"):
                        continue
                    index[path] = (st.st_size, st.st_atime)
            self._index = index
            self._total = sum(size for size, _ in index.values())
        return self._index

    def get(self, path: Path, max_age: float | None = None) -> bytes | None:
        """The file's bytes when present and fresh (and stamps it as just served)."""
        try:
            st = path.stat()
            if time.time() - st.st_mtime > (self.max_age if max_age is None else max_age):
                return None
            data = path.read_bytes()
            now = time.time()
            os.utime(path, (now, st.st_mtime))
        except OSError:
            return None
        with self._lock:
            index = self._load_index()
            if path in index:
                index[path] = (index[path][0], now)
        return data

    def put(self, path: Path, data: bytes) -> None:
        """Store a file (atomically) and evict the least recently served past the bound."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        now = time.time()
        os.utime(tmp, (now, now))  # one clock for every stamp (the file system's is coarser)
        os.replace(tmp, path)
        with self._lock:
            index = self._load_index()
            old = index.get(path)
            if old is not None:
                self._total -= old[0]
            index[path] = (len(data), now)
            self._total += len(data)
            if self._total > self.max_bytes:
                self._evict(index, keep=path)

    def _evict(self, index: dict[Path, tuple[int, float]], keep: Path) -> None:
        for victim, (size, _) in sorted(index.items(), key=lambda kv: kv[1][1]):
            if self._total <= self.max_bytes:
                break
            if victim == keep:
                continue
            try:
                victim.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                log.warning("image cache: cannot remove %s: %s", victim, exc)
                continue
            del index[victim]
            self._total -= size

    @property
    def total_bytes(self) -> int:
        with self._lock:
            self._load_index()
            return self._total


# --- the proxy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Served:
    """What the proxy answers: the bytes, their type, and whether they stand in for a failure."""

    body: bytes
    media_type: str
    placeholder: bool = False


class ImageProxy:
    """Fetch, check, resize and cache publishers' images (one per worker process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.images
        root = self.cfg.cache_dir or (settings.data_dir / "images")
        self.cache = DiskCache(root, self.cfg.cache_max_bytes, self.cfg.cache_max_age_seconds)
        self._inflight: dict[str, asyncio.Future[bytes]] = {}

    @staticmethod
    def key(*parts: str) -> str:
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()

    async def serve(self, source: str, use: Use, width: int, fmt: str) -> Served:
        """The image for this variant: from the cache, else made now, else a placeholder."""
        height = use.height(width)
        out_path = self.cache.path(self.key(source, str(width), str(height), fmt), fmt)
        cached = self.cache.get(out_path)
        if cached is not None:
            return Served(cached, MEDIA_TYPES[fmt])
        try:
            data = await self._source(source)
            body = await asyncio.to_thread(render, data, width, height, fmt, self.cfg)
        except (FetchError, ImageRefused) as exc:
            self._remember_failure(source, exc)
            return Served(placeholder(width, height), "image/svg+xml", placeholder=True)
        await asyncio.to_thread(self.cache.put, out_path, body)
        return Served(body, MEDIA_TYPES[fmt])

    def _remember_failure(self, source: str, exc: Exception) -> None:
        if isinstance(exc, _CachedFailure):
            return
        log.info("image proxy: %s: %s", source, exc)
        if self.cfg.failure_seconds > 0:
            fail = self.cache.path(self.key(source), "fail")
            self.cache.put(fail, str(exc).encode()[:500])

    async def _source(self, source: str) -> bytes:
        """The source's bytes (cached), fetched once however many requests wait for it."""
        key = self.key(source)
        fail = self.cache.get(self.cache.path(key, "fail"), max_age=self.cfg.failure_seconds)
        if fail is not None:
            raise _CachedFailure(fail.decode(errors="replace"))
        path = self.cache.path(key, "src")
        data = self.cache.get(path)
        if data is not None:
            return data
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            data = await fetch_image(self.settings.fetch, source, self.cfg.max_source_bytes)
            if sniff(data) is None:  # not worth keeping: checked again when rendered
                raise ImageRefused(
                    "not an image (JPEG, PNG, GIF, WebP, AVIF or ICO) by its content"
                )
            await asyncio.to_thread(self.cache.put, path, data)
            future.set_result(data)
            return data
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            del self._inflight[key]


class _CachedFailure(ImageRefused):
    """A source that failed a short while ago: not fetched again yet."""


# --- links (templates) and the route ---------------------------------------------------------


@dataclass(frozen=True)
class ImageLink:
    """An ``<img>``'s attributes for one source and use."""

    src: str
    srcset: str
    sizes: str
    width: int
    height: int


class ImageLinks:
    """The templates' ``image(url, use)``: an :class:`ImageLink`, or None without an image."""

    def __init__(self, settings: Settings, urls_: urls.Urls) -> None:
        self.settings = settings
        self.urls = urls_
        self._key: bytes | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_secret(self.settings)
        return self._key

    def __call__(self, url: str | None, use: str = "thumb") -> ImageLink | None:
        source = web_url(url)
        if source is None:
            return None
        spec = USES[use]
        links = [(w, self.urls.image(self.key, source, f"{use}-{w}")) for w in spec.widths]
        first_width, first = links[0]
        return ImageLink(
            src=first,
            srcset=", ".join(f"{link} {w}w" for w, link in links),
            sizes=spec.sizes,
            width=first_width,
            height=spec.height(first_width),
        )

    def in_html(self, html: str, use: str, sizes: str) -> Markup:
        """Sanitized HTML (a Digest's body) with each ``<img>`` named through the proxy
        (``src``, ``srcset``, ``sizes``), as the cards' images are; an image whose URL is
        not a web URL is dropped. The HTML is already clean: only ``src`` is rewritten."""

        def proxied(found: re.Match[str]) -> str:
            link = self(html_unescape(found.group(2)), use)
            if link is None:
                return ""
            attrs = _IMG_SRC.sub("", found.group(1) + found.group(3))
            return (
                f'<img src="{escape(link.src)}" srcset="{escape(link.srcset)}" '
                f'sizes="{escape(sizes)}"{attrs}>'
            )

        return Markup(_IMG.sub(proxied, html))


#: An ``<img>`` of sanitized HTML (quoted attributes): before ``src``, its value, after.
_IMG = re.compile(r'<img\b([^>]*?)\ssrc="([^"]*)"([^>]*)>')
_IMG_SRC = re.compile(r'\s(?:srcset|sizes)="[^"]*"')


def parse_variant(variant: str) -> tuple[Use, int] | None:
    """``thumb-168`` -> (the thumbnail use, 168); None unless the pages use that size."""
    name, _, width = variant.partition("-")
    use = USES.get(name)
    if use is None or not width.isdigit() or int(width) not in use.widths:
        return None
    return use, int(width)


def _proxy(request: Request) -> ImageProxy:
    site = site_of(request)
    proxy: ImageProxy = site.memo(("image-proxy",), lambda: ImageProxy(site.settings))
    return proxy


def image_links(request: Request) -> ImageLinks:
    links = request.app.state.site.templates.globals["image"]
    assert isinstance(links, ImageLinks)
    return links


@router.get(urls.IMAGE)
async def image(request: Request, sig: str, variant: str, source: str) -> Response:
    """A publisher's image, resized and re-encoded by us (or a placeholder)."""
    url = urls.image_source(source)
    parsed = parse_variant(variant)
    expected = urls.image_signature(image_links(request).key, url) if url is not None else ""
    if url is None or parsed is None or not hmac.compare_digest(sig.encode(), expected.encode()):
        # Not a link our pages made: nothing is fetched for it.
        return Response(
            "not an image link of this site\n", status_code=404, media_type="text/plain"
        )
    use, width = parsed
    fmt = output_format(request.headers.get("accept", ""), avif=_proxy(request).cfg.avif)
    served = await _proxy(request).serve(url, use, width, fmt)
    headers = {"vary": "Accept"}  # the site's security headers are added by the middleware
    if served.placeholder:
        headers["cache-control"] = f"public, max-age={max(_proxy(request).cfg.failure_seconds, 60)}"
        headers[PLACEHOLDER_HEADER] = "placeholder"
    else:
        headers["cache-control"] = HIT_CACHE
    return Response(served.body, media_type=served.media_type, headers=headers)
