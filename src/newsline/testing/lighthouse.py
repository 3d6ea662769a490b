"""Lighthouse (the npm package ``scripts/setup --test`` installs) run against Chromium.

One runner for the browser tests and ``bench/lighthouse.py``: ``audit_pages(...)`` runs
Lighthouse on each of several pages with one node process and one headless Chromium (a
fresh browser context per page), ``audit(url, ...)`` on one page with its own; each returns
the four category scores, the layout shift and the audits that failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
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


# Lighthouse's own Node API, as its CLI calls it (``lighthouse(url, flags, config)``), on
# each page in turn. Starting node, loading Lighthouse and launching Chromium cost seconds
# a page, so one node process and one Chromium serve every page; each page still gets a
# cold load: a new incognito browser context (no cache, cookies or storage from the page
# before) that is closed after its run. One difference from a browser per page: Chromium
# asks for a site's favicon once per browser, so a broken (site-wide) icon shows in the
# first page's report only. Run with the lighthouse package as the working directory, so
# its dependencies resolve as they do for Lighthouse itself.
RUNNER = r"""
import {writeFileSync} from 'node:fs';
const job = JSON.parse(process.argv.at(-1));
const lighthouse = (await import('./core/index.js')).default;
const launcher = await import('chrome-launcher');
const puppeteer = (await import('puppeteer-core')).default;
const config = job.desktop ? (await import('./core/config/desktop-config.js')).default : undefined;
// No audit reads the full-page screenshot (it only illustrates the HTML report): not taken.
const flags = {
  output: 'json', onlyCategories: job.categories, logLevel: 'error', channel: 'cli',
  disableFullPageScreenshot: true,
};
const chrome = await launcher.launch({chromePath: job.chrome, chromeFlags: job.chromeFlags});
let failed = 0;
try {
  const browser = await puppeteer.connect({
    browserURL: `http://127.0.0.1:${chrome.port}`, defaultViewport: null,
  });
  for (const [url, out] of job.pages) {
    const context = await browser.createBrowserContext();
    const result = await lighthouse(url, flags, config, await context.newPage());
    await context.close();
    writeFileSync(out, result.report);
    if (result.lhr.runtimeError) {
      process.stderr.write(`${url}: ${result.lhr.runtimeError.message}\n`);
      failed = 1;
    }
  }
  await browser.disconnect();
} finally {
  chrome.kill();
}
process.exit(failed);
"""
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu"]


def audit_pages(
    project_root: Path, pages: Sequence[tuple[str, Path]], *, desktop: bool
) -> list[Report]:
    """Run Lighthouse on each ``(url, out)`` of ``pages`` (its JSON report written to
    ``out``) in one node process and one Chromium; the reports in the same order."""
    reason = missing(project_root)
    if reason:
        raise NewslineError(reason)
    job = {
        "pages": [[url, str(out.resolve())] for url, out in pages],
        "desktop": desktop,
        "categories": list(CATEGORIES),
        "chrome": CHROMIUM,
        "chromeFlags": CHROME_FLAGS,
    }
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RUNNER, "--", json.dumps(job)],
        cwd=lighthouse_cli(project_root).parent.parent,
        capture_output=True,
        text=True,
        timeout=180 * len(pages),
        check=False,
    )
    if done.returncode != 0:
        raise NewslineError(f"Lighthouse failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return [_report(out) for _, out in pages]


def audit(project_root: Path, url: str, out: Path, *, desktop: bool) -> Report:
    """Run Lighthouse once on ``url`` (its JSON report written to ``out``), in a Chromium
    of its own."""
    return audit_pages(project_root, [(url, out)], desktop=desktop)[0]


def _report(out: Path) -> Report:
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
