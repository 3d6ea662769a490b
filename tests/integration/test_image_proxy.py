"""The image proxy (``/img/...``) on the real app, fetching from a real loopback image host."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, features
from selectolax.lexbor import LexborHTMLParser

from newsline.db.engine import session_scope
from newsline.db.models import Publication
from newsline.urls import image_signature
from newsline.web.app import create_app
from newsline.web.images import USES, DiskCache
from tests.support.images import ImageHost, image_host, photo, png_claiming
from tests.support.webdata import add_item, seed

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.fixture
def host() -> Iterator[ImageHost]:
    with image_host() as h:
        yield h


def app_for(make_settings: Any, **images: Any) -> TestClient:
    # The image host is on loopback: allowed here, as an operator's connect_to would.
    settings = make_settings(fetch={"allow_private": True}, images=images)
    return TestClient(create_app(settings), headers=HUMAN)


@pytest.fixture
def client(make_settings: Any) -> TestClient:
    return app_for(make_settings)


def link(client: TestClient, url: str, variant: str = "thumb-168") -> str:
    """The proxy path the pages would write for `url`."""
    images = client.app.state.site.templates.globals["image"]  # type: ignore[attr-defined]
    return str(images.urls.image(images.key, url, variant))


def opened(body: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(body))
    image.load()
    return image


def is_placeholder(resp: Any) -> bool:
    return resp.status_code == 200 and resp.headers.get("x-image") == "placeholder"


def test_resized_to_each_width_the_pages_use_cropped_to_the_use(
    client: TestClient, host: ImageHost
) -> None:
    url = host.add("/a.jpg", photo(1200, 630))
    for use_name, use in USES.items():
        for width in use.widths:
            resp = client.get(link(client, url, f"{use_name}-{width}"), headers={"accept": "*/*"})
            assert resp.status_code == 200 and resp.headers["content-type"] == "image/jpeg"
            assert opened(resp.content).size == (width, use.height(width))
    # One fetch of the source, however many variants were made from it.
    assert host.hits == {"/a.jpg": 1}
    # A width the pages do not use is not made (no resizing on demand for anyone).
    resp = client.get(link(client, url, "thumb-500"))
    assert resp.status_code == 404 and host.hits == {"/a.jpg": 1}


def test_format_follows_accept_and_responses_vary_on_it(
    client: TestClient, host: ImageHost
) -> None:
    url = host.add("/b.png", photo(800, 600, "PNG"), ctype="image/png")
    path = link(client, url)
    plain = client.get(path, headers={"accept": "image/png,image/*"})
    webp = client.get(path, headers={"accept": "image/webp,image/*"})
    assert plain.headers["content-type"] == "image/jpeg" and opened(plain.content).format == "JPEG"
    assert webp.headers["content-type"] == "image/webp" and opened(webp.content).format == "WEBP"
    assert "Accept" in webp.headers["vary"] and "Accept" in plain.headers["vary"]
    if features.check("avif"):
        avif = client.get(path, headers={"accept": CHROME_ACCEPT})
        assert avif.headers["content-type"] == "image/avif"
        assert opened(avif.content).size == (168, 112)
    # A repeat is served from the cache: the render cache never mixes formats up either.
    again = client.get(path, headers={"accept": "image/png"})
    assert again.headers["content-type"] == "image/jpeg" and host.hits == {"/b.png": 1}


def test_a_link_our_pages_did_not_make_is_refused_without_fetching(
    client: TestClient, host: ImageHost
) -> None:
    url = host.add("/c.jpg", photo(300, 200))
    good = link(client, url)
    _, img, sig, variant, source = good.split("/")
    forged_sig = image_signature(b"not the site secret", url)
    other = link(client, host.add("/d.jpg", photo(300, 200)))
    for bad in (
        f"/{img}/{forged_sig}/{variant}/{source}",
        f"/{img}/{sig[:-2]}AA/{variant}/{source}",
        f"/{img}/{sig}/{variant}/{other.split('/')[-1]}",  # another source under c's signature
        f"/{img}/{sig}/{variant}/!!notbase64",
    ):
        resp = client.get(bad)
        assert resp.status_code == 404, bad
        assert not resp.headers["content-type"].startswith("image/")
    assert host.total_hits == 0
    assert client.get(good).status_code == 200 and host.hits == {"/c.jpg": 1}


def test_private_addresses_are_refused_by_the_fetchers_guard(
    make_settings: Any, host: ImageHost
) -> None:
    client = TestClient(create_app(make_settings()), headers=HUMAN)  # allow_private off
    for url in (
        host.add("/e.jpg", photo(300, 200)),
        host.add("/e.jpg", photo(300, 200)).replace("127.0.0.1", "localhost"),
        host.add("/e.jpg", photo(300, 200)).replace("127.0.0.1", "[::ffff:127.0.0.1]"),
    ):
        resp = client.get(link(client, url))
        assert is_placeholder(resp), url
    assert host.total_hits == 0


@pytest.mark.parametrize(
    ("name", "body", "ctype"),
    [
        ("html", b"<!doctype html><title>Hotlinking forbidden</title>", "image/jpeg"),
        (
            "svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "image/svg+xml",
        ),
        ("truncated", photo(600, 400)[:700], "image/jpeg"),
        ("text", b"GIF89a but then nothing an image decoder wants", "image/gif"),
    ],
)
def test_what_is_not_an_image_by_its_content_becomes_a_placeholder(
    client: TestClient, host: ImageHost, name: str, body: bytes, ctype: str
) -> None:
    resp = client.get(link(client, host.add(f"/{name}", body, ctype=ctype), "hero-800"))
    assert is_placeholder(resp)
    assert resp.headers["content-type"] == "image/svg+xml"
    svg = resp.content.decode()
    assert 'width="800" height="450"' in svg and "<script" not in svg and "<text" not in svg


def test_decompression_bombs_are_refused_before_decoding(
    make_settings: Any, host: ImageHost
) -> None:
    client = app_for(make_settings, max_pixels=1_000_000)
    huge = host.add("/bomb.png", png_claiming(30_000, 30_000), ctype="image/png")
    many = host.add("/many.jpg", photo(1600, 1000))  # 1.6 MP: past this site's 1 MP limit
    fine = host.add("/fine.jpg", photo(1000, 900))
    assert is_placeholder(client.get(link(client, huge)))
    assert is_placeholder(client.get(link(client, many)))
    assert not is_placeholder(client.get(link(client, fine)))
    # Above the side limit even when the pixel count would pass.
    client = app_for(make_settings, max_side=1000)
    wide = host.add("/wide.jpg", photo(1200, 40))
    assert is_placeholder(client.get(link(client, wide)))


def test_a_failed_image_is_a_placeholder_and_not_fetched_again_for_a_while(
    client: TestClient, host: ImageHost
) -> None:
    url = host.add("/gone.jpg", b"hotlinking is not allowed", ctype="text/plain", status=403)
    for _ in range(3):
        resp = client.get(link(client, url))
        assert is_placeholder(resp)
        assert 'width="168" height="112"' in resp.content.decode()
    assert host.hits == {"/gone.jpg": 1}
    assert "max-age" in resp.headers["cache-control"]


def test_sources_and_results_expire(make_settings: Any, host: ImageHost, tmp_path: Path) -> None:
    client = app_for(make_settings, cache_max_age_seconds=3600)
    url = host.add("/old.jpg", photo(400, 300))
    assert client.get(link(client, url)).status_code == 200
    for path in (tmp_path / "images").glob("*/*.*"):  # as if fetched two hours ago
        old = time.time() - 7200
        os.utime(path, (old, old))
    assert client.get(link(client, url)).status_code == 200
    assert host.hits == {"/old.jpg": 2}


def test_disk_cache_evicts_the_least_recently_served_past_its_size(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=3000, max_age=3600)
    paths = [cache.path(f"{n:02d}" + "ab" * 8, "webp") for n in range(4)]
    for path in paths[:3]:
        cache.put(path, b"x" * 1000)
        time.sleep(0.01)
    assert cache.get(paths[0]) is not None  # served again: now the most recent
    cache.put(paths[3], b"y" * 1000)
    assert [p.exists() for p in paths] == [True, False, True, True]
    assert cache.total_bytes == 3000
    # A new worker reads the same order back from the files: 2, then 0, are the oldest.
    fresh = DiskCache(tmp_path, max_bytes=2000, max_age=3600)
    fresh.put(paths[1], b"z" * 500)
    assert [p.exists() for p in paths] == [False, True, False, True]
    assert fresh.total_bytes <= 2000


def test_the_image_cache_stays_within_its_bound(make_settings: Any, host: ImageHost) -> None:
    client = app_for(make_settings, cache_max_bytes=1024 * 1024)
    for n in range(12):  # 12 sources of ~300 KB each, and their thumbnails
        url = host.add(f"/p{n}.png", photo(500, 300, "PNG", noise=True), ctype="image/png")
        assert client.get(link(client, url)).status_code == 200
    proxy = client.app.state.site.memo(("image-proxy",), lambda: None)  # type: ignore[attr-defined]
    on_disk = sum(p.stat().st_size for p in proxy.cache.root.glob("*/*.*"))
    assert on_disk <= 1024 * 1024
    # The latest is still there; the first was evicted and is fetched again.
    assert client.get(link(client, host.base_url + "/p11.png")).status_code == 200
    assert host.hits["/p11.png"] == 1
    assert client.get(link(client, host.base_url + "/p0.png")).status_code == 200
    assert host.hits["/p0.png"] == 2


def test_pages_name_images_through_the_proxy_with_sizes(
    make_settings: Any, host: ImageHost
) -> None:
    settings = make_settings(fetch={"allow_private": True})
    seed(settings)
    url = host.add("/lead.jpg", photo(1200, 630))
    with session_scope(settings.database_url) as session:
        pub = session.query(Publication).filter_by(tag="harbor").one()
        add_item(session, pub, "pictured", title="A pictured report", image_url=url)
    client = TestClient(create_app(settings), headers=HUMAN)
    front = LexborHTMLParser(client.get("/news/newsline").text)
    thumbs = front.css(".card .thumb img")
    assert thumbs, "the pictured item has a thumbnail"
    for img in thumbs:
        attrs = img.attributes
        assert attrs["alt"] == ""  # decorative: the headline beside it says it all
        assert attrs["src"].startswith("/img/") and attrs["width"] and attrs["height"]
        assert attrs["srcset"].count("w,") == len(USES["thumb"].widths) - 1
        assert client.get(attrs["src"]).status_code == 200
    item_link = front.css_first(".card .title a[href$='pictured']")
    assert item_link is not None
    page = LexborHTMLParser(client.get(item_link.attributes["href"] or "").text)
    hero = page.css_first(".hero img")
    assert hero is not None
    assert hero.attributes["alt"] == "NextImg:A pictured report"  # the original's alt text
    assert hero.attributes["width"] == "480" and hero.attributes["height"] == "270"
    assert (hero.attributes["src"] or "").startswith("/img/")
    # Every <img> on both pages has its size (no layout shift).
    for tree in (front, page):
        for img in tree.css("img"):
            assert img.attributes.get("width") and img.attributes.get("height"), img.html
