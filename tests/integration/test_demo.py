"""``newsline demo`` runs to "serving at http://…" with no network, and every page has content."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from tests.support.ports import free_port


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def test_demo_serves_the_pipeline_output_offline(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLINE_")}
    # No proxy, and any non-loopback connection would fail in this sandbox anyway.
    env["no_proxy"] = "*"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "newsline.cli",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--exit-after",
            "60",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "serving at http://" in line:
                break
        text = "".join(output)
        assert f"serving at http://127.0.0.1:{port}" in text, text
        summary = re.search(r"(\d+) new items", text)
        assert summary and int(summary.group(1)) >= 20, text
        assert re.search(
            r"news: (published|next Digest is) The Digest, \d+/\d+/\d{4} @\d+(AM|PM), C[SD]T", text
        ), text
        history = re.search(r"history: published (\d+) past Digests", text)
        assert history and int(history.group(1)) >= 5, text
        base = f"http://127.0.0.1:{port}"
        page = ""
        for _ in range(100):
            try:
                page = fetch(f"{base}/news/newsline")
                break
            except OSError:
                time.sleep(0.2)
        assert "THE NEWSLINE DEMO" in page
        # Every page type has content from the first minute (issue 12): the front page,
        # a story, a hashtag, the Digest list, a Digest and the archive by date.
        front = LexborHTMLParser(page)
        assert len(front.css(".card")) >= 15
        publications = {n.text() for n in front.css(".card .site")}
        story = front.css_first("a[href^='/news/story/']")
        assert story is not None, "a story covered by several publishers"
        assert len(LexborHTMLParser(fetch(base + story.attributes["href"])).css("li")) >= 2
        tag = front.css_first(".card .chips a")
        assert tag is not None
        assert LexborHTMLParser(fetch(base + tag.attributes["href"])).css(".card")
        digests = LexborHTMLParser(fetch(f"{base}/news/solo/news"))
        links = [a.attributes["href"] for a in digests.css(".card .title a")]
        assert len(links) >= 5, "past Digests are listed"
        digest = LexborHTMLParser(fetch(base + links[1]))
        assert len(digest.css(".digest-body article")) >= 1
        assert digest.css_first(".digest-nav a[rel=prev]") is not None
        assert digest.css_first(".digest-nav a[rel=next]") is not None
        archive = LexborHTMLParser(fetch(f"{base}/news/digest/archive"))
        assert len(archive.css(".digest-archive li")) >= 3, "several days of Digests"
        # Thumbnails come through our image proxy (decorative: no alt text to show), and
        # the proxy reaches the replayed publishers' images.
        thumbs = front.css(".card .thumb img")
        assert len(thumbs) >= 5 and all(img.attributes["alt"] == "" for img in thumbs)
        request = urllib.request.Request(
            base + (thumbs[0].attributes["src"] or ""), headers={"Accept": "image/webp"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.headers["content-type"] == "image/webp"
            assert resp.headers.get("x-image") != "placeholder"
            assert resp.read(12)[8:12] == b"WEBP"
        assert len(publications) >= 8
    finally:
        proc.terminate()
        proc.wait(30)
