"""A publisher's image host on loopback for the image proxy's tests: canned answers, counted."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image


@dataclass
class ImageHost:
    """What the host serves (path -> status, content type, body) and what it was asked."""

    base_url: str
    routes: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def add(self, path: str, body: bytes, ctype: str = "image/jpeg", status: int = 200) -> str:
        self.routes[path] = (status, ctype, body)
        return self.base_url + path

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())


@contextmanager
def image_host() -> Iterator[ImageHost]:
    """An HTTP server on 127.0.0.1 (any free port) answering from :attr:`ImageHost.routes`."""
    host = ImageHost("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                host.hits[self.path] = host.hits.get(self.path, 0) + 1
            status, ctype, body = host.routes.get(self.path, (404, "text/plain", b"missing"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


def photo(width: int = 1200, height: int = 630, fmt: str = "JPEG", *, noise: bool = False) -> bytes:
    """A real image with some detail (gradients; `noise`: incompressible), encoded as `fmt`."""
    ramp = Image.linear_gradient("L").resize((width, height))
    if noise:
        ramp = Image.effect_noise((width, height), 90)
    image = Image.merge(
        "RGB",
        (
            ramp,
            ramp.transpose(Image.Transpose.ROTATE_180),
            Image.radial_gradient("L").resize((width, height)),
        ),
    )
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels (a decompression bomb's shape)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # Rows of zeros compress ~1000:1: a few KiB would inflate to width*height*3 bytes.
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 64, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
