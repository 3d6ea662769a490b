"""A publisher on loopback, reached as paper.example (``fetch.connect_to``): a home page
announcing a working feed (``/rss``, two entries) and a missing one (``/gone.xml``, 404) —
what the console's "add a publication by address" finds there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAPER_HOME = b"""<!doctype html><html><head><title>The Paper</title>
<link rel="alternate" type="application/rss+xml" title="Paper news" href="/rss">
<link rel="alternate" type="application/atom+xml" title="Gone" href="/gone.xml">
</head><body>Hello</body></html>"""
PAPER_RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>The Paper</title>
<link>http://paper.example/</link>
<item><title>One</title><link>http://paper.example/one</link><guid>one</guid></item>
<item><title>Two</title><link>http://paper.example/two</link><guid>two</guid></item>
</channel></rss>"""
PAGES = {"/": (PAPER_HOME, "text/html; charset=utf-8"), "/rss": (PAPER_RSS, "application/rss+xml")}


class _Paper(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body, kind = PAGES.get(self.path, (b"not here", "text/plain"))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def paper_publisher() -> Iterator[int]:
    """Serve paper.example on a loopback port (yielded): map it with
    ``connect_to = ["*:80:127.0.0.1:PORT"]``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Paper)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
