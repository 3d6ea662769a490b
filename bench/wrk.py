"""One wrk run, parsed: the load generator every web benchmark uses (bench/web.py,
bench/comments.py, bench/images.py through bench/web.py).

wrk runs as a separate process (its own two threads), so the server's CPU figures are not
mixed with the client's; ``--latency`` gives the percentiles. Socket errors (connect,
read, write, timeout) and non-2xx/3xx answers are counted as errors.
"""

from __future__ import annotations

import re
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: A desktop browser's User-Agent: the site counts bots apart (web/render.py).
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


@dataclass
class Result:
    """One wrk run."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse(out: str) -> Result:
    """A :class:`Result` from wrk's ``--latency`` report."""
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise ValueError(f"not a wrk report: {out[:200]!r}")
    percentiles: dict[str, float] = {}
    for pct, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(\w+)", out, re.MULTILINE):
        percentiles[pct] = _ms(value, unit)
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return Result(float(found.group(1)), percentiles["50"], percentiles["99"], errors)


def wrk(
    url: str,
    duration: int,
    connections: int,
    threads: int = 2,
    script: Path | None = None,
    timeout: int = 2,
    headers: tuple[str, ...] = (),
) -> Result:
    """Run wrk against `url` (as a browser, without compression, with `headers` such as a
    signed-in reader's ``Cookie: ...``) and parse its report."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"--timeout={timeout}s",
            "-H",
            f"User-Agent: {UA}",
            "-H",
            "Accept-Encoding: identity",
            *[arg for header in headers for arg in ("-H", header)],
            *(["-s", str(script)] if script else []),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parse(out)


def median(results: list[Result]) -> Result:
    """Per-figure median of several runs (errors summed)."""
    return Result(
        statistics.median(r.rps for r in results),
        statistics.median(r.p50_ms for r in results),
        statistics.median(r.p99_ms for r in results),
        sum(r.errors for r in results),
    )
