"""``newsline demo`` runs to "serving at http://…" with no network, and the site answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.ports import free_port


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
        page = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/news/newsline", timeout=5
                ) as resp:
                    page = resp.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "THE NEWSLINE DEMO" in page
        # Thumbnails come through our image proxy (decorative: no alt text to show).
        assert page.count('src="/img/') >= 5
    finally:
        proc.terminate()
        proc.wait(30)
