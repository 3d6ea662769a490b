"""`newsline demo` as a new reader first sees it, in Chromium (issue 12's exploratory pass):
the masthead's title never under its icons on a phone, a Digest page's pictures served by
our image proxy (never the publishers' hosts, which do not answer offline), and axe-core
clean on a real Digest (its overview is a list of linked headlines), light and dark.

The seeded sites of the other browser tests did not show these: their Digest has no
pictures and a prose overview, and their channel's name is short."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser

from tests.support.browser import AXE, HUMAN_UA, axe_violations
from tests.support.ports import free_port

pytestmark = pytest.mark.browser


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The offline demo on a free loopback port, and the path of one of its Digests."""
    root = tmp_path_factory.mktemp("demo-qa")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLINE_")}
    env["no_proxy"] = "*"
    log = (root / "demo.log").open("w")
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "newsline.cli", "demo", "--port", str(port)),
            *("--data-dir", str(root), "--exit-after", "300"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        digests = ""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                digests = _fetch(f"{base}/news/solo/news")
                break
            except OSError:
                time.sleep(0.5)
        assert digests, Path(root / "demo.log").read_text(encoding="utf-8")[-3000:]
        links = LexborHTMLParser(digests).css("a[href^='/news/topic/news/the-digest-']")
        assert links, "the demo's Digest list links no Digest"
        yield {"base": base, "digest": str(links[0].attributes["href"])}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _page(browser: Any, width: int, scheme: str) -> Any:
    context = browser.new_context(
        user_agent=HUMAN_UA,
        color_scheme=scheme,
        viewport={"width": width, "height": 800},
        bypass_csp=True,  # so that axe-core can be injected
    )
    return context.new_page()


def test_digest_pictures_come_from_our_proxy(demo: dict[str, str]) -> None:
    html = _fetch(demo["base"] + demo["digest"])
    pictures = LexborHTMLParser(html).css(".digest-body img")
    assert pictures, "the demo's Digest shows no picture"
    hotlinked = [
        img.attributes.get("src")
        for img in pictures
        if not str(img.attributes.get("src")).startswith("/img/")
    ]
    assert hotlinked == []
    for img in pictures:
        assert re.fullmatch(r"(/img/\S+ \d+w)(, /img/\S+ \d+w)*", str(img.attributes["srcset"]))


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1300])
def test_digest_page_pictures_load_and_axe_is_clean(
    demo: dict[str, str], browser: Any, width: int, scheme: str
) -> None:
    page = _page(browser, width, scheme)
    page.goto(demo["base"] + demo["digest"])
    page.wait_for_load_state("networkidle")
    page.locator(".summary li a").first.wait_for()  # the automatic overview: linked lines
    broken = page.evaluate(
        """() => [...document.querySelectorAll('.digest-body img')]
            .filter(i => { i.scrollIntoView(); return !i.complete || i.naturalWidth === 0; })
            .map(i => i.currentSrc || i.src)"""
    )
    violations = axe_violations(page) if AXE.exists() else []
    page.context.close()
    assert (broken, violations) == ([], []), json.dumps(violations, indent=1)


@pytest.mark.parametrize("width", [320, 375, 414])
def test_masthead_title_clear_of_its_icons_on_phones(
    demo: dict[str, str], browser: Any, width: int
) -> None:
    page = _page(browser, width, "light")
    page.goto(demo["base"] + "/news/newsline")
    overlaps = page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector('.brand'));
            const words = [...range.getClientRects()];
            return [...document.querySelectorAll('.tools .icon-btn')].flatMap(b => {
                const r = b.getBoundingClientRect();
                return words.filter(w => w.left < r.right && r.left < w.right
                    && w.top < r.bottom && r.top < w.bottom).map(() => b.title);
            });
        }"""
    )
    assert overlaps == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.context.close()
