"""The capture corpus format: URL keys, manifest validation, the gzip bomb generator."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from newsline.testing.corpus import (
    FAULTS,
    CorpusError,
    CorpusWriter,
    read_ground_truth,
    read_manifest,
    url_key,
)
from newsline.testing.replay import gzip_bomb_chunks


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://Example.COM/a", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/", "http://example.com"),
        ("https://example.com/a#frag", "https://example.com/a"),
        ("https://example.com/%7Euser", "https://example.com/~user"),
        ("https://example.com/caf%c3%a9", "https://example.com/café"),
        ("https://example.com/a?q=1&r=%2B", "https://example.com/a?q=1&r=%2b"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ],
)
def test_url_key_equivalences(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("http://example.com/a", "https://example.com/a"),
        ("https://example.com/a", "https://example.com/a/"),
        ("https://example.com/a?q=1", "https://example.com/a?q=2"),
        ("https://example.com:8443/a", "https://example.com/a"),
        ("https://example.com/a+b", "https://example.com/a%20b"),
    ],
)
def test_url_key_distinctions(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


@pytest.mark.parametrize("url", ["ftp://example.com/", "https:///nohost", "http://[::1/"])
def test_url_key_rejects(url: str) -> None:
    with pytest.raises(CorpusError):
        url_key(url)


def _manifest(tmp_path: Path, *lines: object) -> Path:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (tmp_path / "manifest.jsonl").write_text(text + "\n", encoding="utf-8")
    return tmp_path


def test_manifest_defaults_and_extra_keys(tmp_path: Path) -> None:
    (tmp_path / "b.xml").write_bytes(b"<rss/>")
    corpus = _manifest(
        tmp_path,
        {"url": "https://a.example/feed", "body": "b.xml", "generated": True},
        "",
        {"url": "https://a.example/gone", "status": 410, "headers": {"X-Why": "removed"}},
    )
    feed, gone = read_manifest(corpus)
    assert (feed.status, feed.fault, feed.read_body()) == (200, None, b"<rss/>")
    assert feed.extra == {"generated": True}
    assert gone.status == 410 and gone.read_body() == b""
    assert gone.header("x-why") == "removed"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ({"status": 200}, "'url' is required"),
        ({"url": "https://a.example/", "status": 999}, "bad status"),
        ({"url": "https://a.example/", "headers": {"X": 1}}, "headers"),
        ({"url": "https://a.example/", "body": "../../etc/passwd"}, "outside the corpus"),
        ({"url": "https://a.example/", "body": "nope.xml"}, "missing"),
        ({"url": "https://a.example/", "fault": "meltdown"}, "unknown fault"),
        ({"url": "gopher://a.example/"}, "only http and https"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path: Path, line: object, message: str) -> None:
    corpus = _manifest(tmp_path, {"url": "https://ok.example/"}, line)
    with pytest.raises(CorpusError, match=message) as info:
        read_manifest(corpus)
    assert "manifest.jsonl:2" in str(info.value)


def test_every_spec_fault_is_known() -> None:
    spec = Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "replay-corpus.md"
    if not spec.is_file():
        pytest.skip("spec not available")
    text = spec.read_text(encoding="utf-8")
    quoted = text.split("Fault names:", 1)[1].split("`")[1::2]
    named = {name for name in quoted if " " not in name}  # not `Retry-After: 2`
    assert named == set(FAULTS)


def test_writer_round_trip(tmp_path: Path) -> None:
    writer = CorpusWriter(tmp_path / "c")
    assert writer.add("https://a.example/x", b"same", content_type="text/plain", kind="page")
    assert not writer.add("https://A.example:443/x#top", b"other")  # same URL
    assert writer.add("https://a.example/y", b"same")  # same bytes, another URL
    writer.truth.append({"url": "https://a.example/x", "title": "X"})
    corpus = writer.finish()
    entries = read_manifest(corpus)
    assert [e.url for e in entries] == ["https://a.example/x", "https://a.example/y"]
    assert entries[0].body != entries[1].body
    assert all(e.read_body() == b"same" for e in entries)
    assert entries[0].header("ETag") == entries[1].header("ETag")
    assert entries[0].extra == {"kind": "page"}
    assert list(read_ground_truth(corpus)) == [{"url": "https://a.example/x", "title": "X"}]


def test_gzip_bomb_is_valid_gzip() -> None:
    stream = b"".join(gzip_bomb_chunks(3 << 20))
    inflated = zlib.decompress(stream, wbits=31)  # checks CRC-32 and length
    assert inflated == bytes(3 << 20)


def test_gzip_bomb_default_is_gigabytes_in_megabytes() -> None:
    wire = 0
    last = b""
    for chunk in gzip_bomb_chunks():
        wire += len(chunk)
        last = chunk
    assert wire < 3_000_000
    _crc, isize = struct.unpack("<II", last[-8:])
    assert isize == (2 << 30) & 0xFFFFFFFF
    # Inflate just the first megabyte of output: it is zeros, as promised.
    head = b"".join(c for _, c in zip(range(3), gzip_bomb_chunks(), strict=False))
    first = zlib.decompressobj(wbits=31).decompress(head, 1 << 20)
    assert first == bytes(1 << 20)
