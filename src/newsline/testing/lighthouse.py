"""Lighthouse (the npm package ``scripts/setup --test`` installs) run against Chromium.

One runner for the browser tests and ``bench/lighthouse.py``: ``audit(url, ...)`` runs
Lighthouse once, headless, and returns the four category scores, the layout shift and
the audits that failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from newsline.errors import NewslineError

CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
CHROMIUM = "/usr/bin/chromium"


def lighthouse_cli(project_root: Path) -> Path:
    """Where ``scripts/setup --test`` puts Lighthouse's command-line entry point."""
    return project_root / ".npm-tools" / "node_modules" / "lighthouse" / "cli" / "index.js"


def missing(project_root: Path) -> str | None:
    """Why Lighthouse cannot run here (and how to fix it), or None when it can."""
    if shutil.which("node") is None:
        return "node not installed (Debian package nodejs): Lighthouse cannot run"
    if not lighthouse_cli(project_root).exists():
        return "lighthouse not installed: run scripts/setup --test (npm)"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (Debian package chromium)"
    return None


@dataclass(frozen=True)
class Report:
    """What one Lighthouse run found on one page."""

    scores: dict[str, float]  # category -> 0..1
    cls: float  # cumulative layout shift
    failed: list[str]  # binary/numeric audits scoring below 0.9


def audit(project_root: Path, url: str, out: Path, *, desktop: bool) -> Report:
    """Run Lighthouse once on ``url`` (its JSON report written to ``out``)."""
    reason = missing(project_root)
    if reason:
        raise NewslineError(reason)
    command = [
        "node",
        str(lighthouse_cli(project_root)),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        *(["--preset=desktop"] if desktop else []),
    ]
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=180)
    report = json.loads(out.read_text(encoding="utf-8"))
    return Report(
        scores={name: float(report["categories"][name]["score"]) for name in CATEGORIES},
        cls=float(report["audits"]["cumulative-layout-shift"]["numericValue"]),
        failed=[
            audit["id"]
            for audit in report["audits"].values()
            if audit.get("score") is not None
            and audit["score"] < 0.9
            and audit.get("scoreDisplayMode") in ("binary", "numeric")
        ],
    )
