"""The capture corpus format: ``manifest.jsonl`` + body files (see docs/testing.md).

Shared by the replay server (which reads corpora) and the builders (which write them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

from newsline.errors import NewslineError

MANIFEST = "manifest.jsonl"
GROUND_TRUTH = "ground_truth.jsonl"

FAULTS: frozenset[str] = frozenset(
    {
        "timeout",
        "reset",
        "slow",
        "redirect-loop",
        "gzip-bomb",
        "oversize",
        "bad-charset",
        "http-500",
        "http-503-retry-after",
        "http-429",
        "not-a-feed",
        "truncated",
    }
)

DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = "/?:@!$&'()*+,;=-._~"


class CorpusError(NewslineError):
    """A corpus directory or manifest line that cannot be used."""


def normalize_host(host: str) -> str:
    """Lower-case, without a trailing dot, IDNA-encoded when not ASCII."""
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    return host


def _requote(part: str, safe: str) -> str:
    # Decode then re-encode every escape so that `%7E`/`~`, `%c3%a9`/`é`/`%C3%A9` all agree.
    return quote_from_bytes(unquote_to_bytes(part), safe=safe)


def url_key(url: str) -> str:
    """The lookup key of an absolute URL: scheme, host[:port], normalized path and query.

    The fragment is dropped; the default port is dropped; escapes are normalized.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise CorpusError(f"{url!r}: not a URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise CorpusError(f"{url!r}: only http and https URLs can be replayed")
    if not parts.hostname:
        raise CorpusError(f"{url!r}: no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise CorpusError(f"{url!r}: bad port") from exc
    return origin_key(scheme, parts.hostname, port) + target_key(parts.path, parts.query)


def origin_key(scheme: str, host: str, port: int | None) -> str:
    """``scheme://host[:port]`` with the default port left out."""
    authority = normalize_host(host)
    if ":" in authority and not authority.startswith("["):
        authority = f"[{authority}]"  # an IPv6 literal
    if port is not None and port != DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    return f"{scheme}://{authority}"


def target_key(path: str, query: str) -> str:
    """The normalized ``/path?query`` part of a lookup key."""
    key = _requote(path or "/", _PATH_SAFE)
    if not key.startswith("/"):
        key = "/" + key
    if query:
        key += "?" + _requote(query, _QUERY_SAFE)
    return key


@dataclass(frozen=True)
class Entry:
    """One manifest line: a response the replay server gives for one URL."""

    url: str
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: Path | None = None
    fault: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """The value of a response header (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def read_body(self) -> bytes:
        """The body bytes (empty when the entry has no body file)."""
        return self.body.read_bytes() if self.body is not None else b""


def parse_entry(line: Mapping[str, Any], corpus_dir: Path, where: str = "") -> Entry:
    """Validate one manifest object into an :class:`Entry`."""
    prefix = f"{where}: " if where else ""
    url = line.get("url")
    if not isinstance(url, str) or not url:
        raise CorpusError(f"{prefix}'url' is required")
    try:
        url_key(url)
    except CorpusError as exc:
        raise CorpusError(f"{prefix}{exc}") from exc
    status = line.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise CorpusError(f"{prefix}bad status {status!r}")
    raw_headers = line.get("headers") or {}
    if not isinstance(raw_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_headers.items()
    ):
        raise CorpusError(f"{prefix}'headers' must map names to strings")
    body: Path | None = None
    if line.get("body") is not None:
        rel = line["body"]
        if not isinstance(rel, str):
            raise CorpusError(f"{prefix}'body' must be a path")
        body = (corpus_dir / rel).resolve()
        if not body.is_relative_to(corpus_dir.resolve()):
            raise CorpusError(f"{prefix}body {rel!r} is outside the corpus")
        if not body.is_file():
            raise CorpusError(f"{prefix}body file {rel!r} is missing")
    fault = line.get("fault")
    if fault is not None and fault not in FAULTS:
        raise CorpusError(f"{prefix}unknown fault {fault!r} (known: {', '.join(sorted(FAULTS))})")
    known = {"url", "status", "headers", "body", "fault"}
    extra = {k: v for k, v in line.items() if k not in known}
    return Entry(url, status, tuple(raw_headers.items()), body, fault, extra)


def read_manifest(corpus_dir: Path) -> list[Entry]:
    """Every entry of ``<corpus_dir>/manifest.jsonl``, validated, in file order."""
    manifest = corpus_dir / MANIFEST
    if not manifest.is_file():
        raise CorpusError(f"{corpus_dir}: no {MANIFEST} (is this a capture corpus?)")
    entries: list[Entry] = []
    with manifest.open(encoding="utf-8") as fh:
        for number, text in enumerate(fh, 1):
            if not text.strip():
                continue
            where = f"{manifest}:{number}"
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not JSON: {exc}") from exc
            if not isinstance(line, dict):
                raise CorpusError(f"{where}: not a JSON object")
            entries.append(parse_entry(line, corpus_dir, where))
    return entries


class CorpusWriter:
    """Writes bodies and manifest lines into a new corpus directory."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.lines: list[dict[str, Any]] = []
        self.truth: list[dict[str, Any]] = []
        self._keys: set[str] = set()
        self._names: set[str] = set()

    def has(self, url: str) -> bool:
        """Whether the corpus already answers this URL."""
        return url_key(url) in self._keys

    def add(
        self,
        url: str,
        body: bytes | None,
        *,
        content_type: str | None = None,
        folder: str = "bodies",
        suffix: str = "",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        etag: bool = True,
        fault: str | None = None,
        **extra: Any,
    ) -> bool:
        """Add one response; False (and nothing written) when the URL is already served."""
        key = url_key(url)
        if key in self._keys:
            return False
        self._keys.add(key)
        line: dict[str, Any] = {"url": url}
        if status != 200:
            line["status"] = status
        hdrs: dict[str, str] = {}
        if content_type:
            hdrs["Content-Type"] = content_type
        if body is not None:
            digest = hashlib.sha256(body).hexdigest()
            if etag:
                hdrs["ETag"] = f'"{digest[:16]}"'
            line["body"] = self._write_body(folder, url, digest, suffix, body)
        hdrs.update(headers or {})
        if hdrs:
            line["headers"] = hdrs
        if fault:
            line["fault"] = fault
        line.update(extra)
        self.lines.append(line)
        return True

    def _write_body(self, folder: str, url: str, digest: str, suffix: str, body: bytes) -> str:
        host = normalize_host(urlsplit(url).hostname or "unknown")
        name = f"{folder}/{host}/{digest[:12]}{suffix}"
        n = 1
        while name in self._names:  # same bytes at two URLs: keep both files, distinct names
            n += 1
            name = f"{folder}/{host}/{digest[:12]}-{n}{suffix}"
        self._names.add(name)
        path = self.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return name

    def finish(self) -> Path:
        """Write ``manifest.jsonl`` (and ``ground_truth.jsonl`` when any); return the corpus dir."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        _write_jsonl(self.out_dir / MANIFEST, self.lines)
        if self.truth:
            _write_jsonl(self.out_dir / GROUND_TRUTH, self.truth)
        return self.out_dir


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n")


def read_ground_truth(corpus_dir: Path) -> Iterator[dict[str, Any]]:
    """The rows of ``<corpus_dir>/ground_truth.jsonl`` (none when the file is absent)."""
    path = corpus_dir / GROUND_TRUTH
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        for text in fh:
            if text.strip():
                yield json.loads(text)
