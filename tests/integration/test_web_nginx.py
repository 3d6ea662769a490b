"""The shipped deploy/nginx.conf in front of the real app: what it caches and what it must not.

Runs Debian's nginx (package nginx-light) on a loopback port with the very config file
(ports, folders and a throwaway ``trustme`` certificate substituted), the app under
uvicorn on another, and checks the micro-cache by its ``X-Cache`` header: anonymous GETs
are cached per reader options and bot/human class, whatever made-up query parameters they
carry; personal requests, ``no-store`` responses, cookies being set and POSTs never are.
It is served over HTTPS with HSTS; plain HTTP redirects to HTTPS.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from newsline.config import Settings
from tests.support import PROJECT_ROOT
from tests.support.ports import free_port
from tests.support.site import serve
from tests.support.webdata import seed

DEPLOY_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
STATIC = PROJECT_ROOT / "src" / "newsline" / "web" / "static"
HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
MAIN = """\
{user}worker_processes 1;
pcre_jit on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
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


def rendered_conf(listen: int, tls: int, app_port: int, folder: Path) -> str:
    """deploy/nginx.conf with this test's ports, folders and certificate (the SITE values)."""
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    for old, new in {
        "/var/cache/nginx/newsline": str(folder / "cache"),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80;": f"listen 127.0.0.1:{listen};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls} ssl http2;",
        "/etc/ssl/newsline/": f"{folder}/",
        "/opt/newsline/src/newsline/web/static/": f"{STATIC}/",
    }.items():
        assert old in text, f"deploy/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def trust(tmp_path: Path) -> ssl.SSLContext:
    """A throwaway CA whose certificate for 127.0.0.1 nginx serves; clients trust it."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path / "nginx"
    folder.mkdir()
    (folder / "fullchain.pem").write_bytes(b"".join(p.bytes() for p in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(folder / "privkey.pem"))
    ca.cert_pem.write_to_path(str(folder / "chain.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
def plain_port() -> int:
    return free_port()


@pytest.fixture
def proxied(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    trust: ssl.SSLContext,
    plain_port: int,
) -> Iterator[httpx.Client]:
    settings = make_settings(  # every miss really renders; deployed as the config says
        web={"render_cache_seconds": 0, "proxy_adds_security_headers": True}
    )
    seed(settings)
    folder = tmp_path / "nginx"
    port = free_port()
    with serve(settings) as app_base:
        app_port = int(app_base.rsplit(":", 1)[1])
        conf = folder / "nginx.conf"
        conf.write_text(
            MAIN.format(
                user="user root;\n" if os.geteuid() == 0 else "",
                dir=folder,
                body=rendered_conf(plain_port, port, app_port, folder),
            ),
            encoding="utf-8",
        )
        check = subprocess.run(
            ["nginx", "-t", "-c", str(conf), "-p", str(folder)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    httpx.get(f"https://127.0.0.1:{port}/static/icon.svg", timeout=1, verify=trust)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                    time.sleep(0.05)
            with httpx.Client(
                base_url=f"https://127.0.0.1:{port}",
                headers={"user-agent": HUMAN, "accept-encoding": "identity"},
                verify=trust,
            ) as client:
                yield client
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def statuses(client: httpx.Client, path: str, n: int = 2, **kwargs: object) -> list[str]:
    """The X-Cache header of `n` GETs of `path` in a row."""
    out = []
    for _ in range(n):
        response = client.get(path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code in (200, 404), (path, response.status_code)
        out.append(response.headers.get("x-cache", ""))
    return out


def test_anonymous_pages_are_micro_cached_per_variant(proxied: httpx.Client) -> None:
    assert statuses(proxied, "/news/newsline") == ["MISS", "HIT"]
    # Reader options are variants of their own; unknown option values share the plain copy.
    dark = {"cookie": "nl_theme=dark"}
    assert statuses(proxied, "/news/newsline", headers=dark) == ["MISS", "HIT"]
    assert 'class="theme-dark"' in proxied.get("/news/newsline", headers=dark).text
    assert statuses(proxied, "/news/newsline", 1, headers={"cookie": "nl_theme=x1"}) == ["HIT"]
    assert statuses(proxied, "/news/newsline", headers={"cookie": "nl_dense=1"})[1] == "HIT"
    # An anonymous session (every reader with scripts on has one after the first
    # heartbeat) changes nothing on a page: it gets the shared copy, as from the app.
    anonymous = {"cookie": "nl_theme=dark; nl_sid=Zm9vYmFyYmF6cXV4cXV1eDEy"}
    assert statuses(proxied, "/news/newsline", 1, headers=anonymous) == ["HIT"]
    # Bots (0 readers online) and humans get separate copies, classed as the app classes them.
    bot = {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}
    assert statuses(proxied, "/news/newsline", headers=bot) == ["MISS", "HIT"]
    preview = {"user-agent": "WhatsApp/2.23.20.0"}  # a bot by the app's list
    assert statuses(proxied, "/news/newsline", 1, headers=preview) == ["HIT"]
    # HEAD is answered from the same copy.
    head = proxied.head("/news/newsline")
    assert head.status_code == 200 and head.headers["x-cache"] == "HIT"
    # Feeds too; the copy is short-lived: 2 s (nginx counts whole seconds, so up to 3 s),
    # then one request refreshes it in the background while it gets the stale copy.
    assert statuses(proxied, "/news/feed.xml") == ["MISS", "HIT"]
    time.sleep(3.2)
    assert proxied.get("/news/feed.xml").headers["x-cache"] in ("EXPIRED", "STALE", "UPDATING")


def test_personal_requests_and_responses_are_never_cached(proxied: httpx.Client) -> None:
    for headers in (
        {"cookie": "nl_session=abc"},
        {"cookie": "nl_sid=S.Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTAxMjM0NTY3"},  # signed in
        {"cookie": "nl_sidx=abc"},
        {"cookie": "nl_theme=dark; session=abc"},
        {"authorization": "Bearer t0ken"},
    ):
        assert statuses(proxied, "/news/newsline", headers=headers) == ["BYPASS", "BYPASS"]
    # no-store pages (tokens, addresses) are fetched from the app every time
    # (the form sets a cookie, which would make the next request a personal one: drop it)
    for _ in range(2):
        proxied.cookies.clear()
        assert statuses(proxied, "/news/digest/subscribe", 1) == ["MISS"]
    proxied.cookies.clear()
    assert statuses(proxied, "/news/digest/confirm?token=nope") == ["MISS", "MISS"]
    # responses setting a cookie are not stored
    options = [
        proxied.get("/_options?theme=dark&next=/news/newsline").headers.get("x-cache")
        for _ in range(2)
    ]
    assert options == ["MISS", "MISS"]
    # writes go straight to the app
    beat = proxied.post("/news/online", json={"visitor": "abcdefgh12345678"})
    assert beat.status_code == 200 and beat.headers.get("x-cache", "") != "HIT"
    assert proxied.post("/news/online", json={"visitor": "abcdefgh12345678"}).json()["online"] >= 1


def test_security_headers_come_once_from_nginx(proxied: httpx.Client) -> None:
    from newsline.web.middleware import SECURITY_HEADERS

    answers = [
        *(proxied.get("/news/newsline") for _ in range(2)),  # a miss, then a hit
        proxied.get("/news/no-such-page"),
        proxied.post("/news/online", json={}),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS:
            assert answer.headers.get_list(name.decode()) == [value.decode()], (answer, name)


def test_static_files_and_compression(proxied: httpx.Client) -> None:
    css = proxied.get("/static/site.css")
    assert css.status_code == 200 and "x-cache" not in css.headers  # nginx, not the app
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    page = proxied.get("/news/newsline", headers={"accept-encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    assert "Accept-Encoding" in page.headers.get("vary", "")
    assert "</html>" in page.text  # httpx decoded it
    raw = proxied.get("/news/newsline", headers={"accept-encoding": "gzip"}, extensions={})
    assert int(raw.headers.get("content-length", "0") or 0) == 0  # chunked: compressed on the fly


def test_made_up_query_parameters_are_served_from_the_cache(proxied: httpx.Client) -> None:
    """Issue 16, Load: `?x=<random>` must not cost a render per request."""
    assert statuses(proxied, "/news/newsline") == ["MISS", "HIT"]
    for extra in ("x=8d1f0c", "utm_source=mail&fbclid=abc", "q=words&page_no=2", "Before="):
        assert statuses(proxied, f"/news/newsline?{extra}", 1) == ["HIT"], extra
    # the parameters a page reads still make pages of their own, each cached
    broken = [proxied.get("/news/newsline?before=zzzzzzzz&x=1") for _ in range(2)]
    assert [(r.status_code, r.headers["x-cache"]) for r in broken] == [(400, "MISS")] * 2
    assert statuses(proxied, "/news/search?q=harbor") == ["MISS", "HIT"]
    assert statuses(proxied, "/news/search?q=harbor&x=1", 1) == ["HIT"]
    assert statuses(proxied, "/news/search?q=valley", 1) == ["MISS"]
    assert statuses(proxied, "/news/search?Q=harbor&q=valley", 1) == ["HIT"]  # the first q
    # ...and the page stored under a key is the page for that key
    harbor = proxied.get("/news/search?q=harbor&q=valley").text
    assert harbor == proxied.get("/news/search?q=harbor").text


def test_https_with_hsts_and_http_redirects(
    proxied: httpx.Client, plain_port: int, trust: ssl.SSLContext
) -> None:
    """Issue 16, item 9: TLS with the operator's certificate, HSTS, plain HTTP sent to HTTPS."""
    for path in ("/news/newsline", "/static/site.css", "/nope/nothing"):
        response = proxied.get(path)
        assert response.url.scheme == "https"
        assert response.headers["strict-transport-security"] == "max-age=31536000", path
    plain = httpx.get(f"http://127.0.0.1:{plain_port}/news/newsline?x=1", follow_redirects=False)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/news/newsline?x=1"
    assert "strict-transport-security" not in plain.headers  # only over HTTPS (RFC 6797)
