"""The image proxy behind the shipped deploy/nginx.conf: one cached copy per format.

The app answers AVIF, WebP or JPEG by ``Accept`` (``Vary: Accept``); the micro-cache of
``location /`` ignores Vary, so without the ``/img/`` location of its own a WebP cached for
one browser would be served to a browser that cannot show it.
"""

from __future__ import annotations

import io
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from PIL import Image

from newsline.config import Settings
from newsline.urls import Urls
from tests.support import PROJECT_ROOT
from tests.support.images import ImageHost, image_host, photo
from tests.support.ports import free_port, stop_group
from tests.support.site import serve

DEPLOY_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
STATIC = PROJECT_ROOT / "src" / "newsline" / "web" / "static"
SECRET = "image-nginx-test-secret"
MAIN = """\
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{body}
}}
"""

pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None, reason="nginx not installed (Debian package nginx-light)"
)


@pytest.fixture
def nginx(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[httpx.Client, ImageHost]]:
    settings = make_settings(fetch={"allow_private": True}, web={"secret_key": SECRET})
    folder = tmp_path / "nginx"
    folder.mkdir()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    (folder / "fullchain.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    ca.cert_pem.write_to_path(str(folder / "chain.pem"))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    port = free_port()
    with image_host() as host, serve(settings) as app_base:
        text = DEPLOY_CONF.read_text(encoding="utf-8")
        for old, new in {
            "/var/cache/nginx/newsline": str(folder / "cache"),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_base.rsplit(':', 1)[1]};",
            "listen 80;": f"listen 127.0.0.1:{free_port()};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{port} ssl;",
            "/etc/ssl/newsline/": f"{folder}/",
            "/opt/newsline/src/newsline/web/static/": f"{STATIC}/",
            "pcre_jit on;": "",
        }.items():
            text = text.replace(old, new)
        conf = folder / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(MAIN.format(user=user, dir=folder, body=text), encoding="utf-8")
        proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            client = httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=30)
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.get("/robots.txt")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.1)
            yield client, host
        finally:
            stop_group(proc)


def test_each_format_is_cached_apart(nginx: tuple[httpx.Client, ImageHost]) -> None:
    client, host = nginx
    path = Urls().image(SECRET.encode(), host.add("/lead.jpg", photo(1200, 630)), "thumb-168")
    seen: dict[str, bytes] = {}
    for accept, media in (
        ("image/webp,image/*", "image/webp"),
        ("image/png,image/*", "image/jpeg"),
        ("image/avif,image/webp,image/*", "image/avif"),
    ):
        first = client.get(path, headers={"accept": accept})
        again = client.get(path, headers={"accept": accept})
        assert first.headers["x-cache"] == "MISS" and again.headers["x-cache"] == "HIT", accept
        for resp in (first, again):
            assert resp.headers["content-type"] == media, accept
            assert Image.open(io.BytesIO(resp.content)).size == (168, 112)
        seen[media] = again.content
    # The cached WebP never reaches the JPEG-only browser, and so on: three copies.
    assert len(set(seen.values())) == 3
    # The app fetched and resized once per format, the source once.
    assert host.hits == {"/lead.jpg": 1}
