"""Feed parsing, discovery and OPML: synthetic edge cases plus every real feed in the corpora."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsline.ingest.feeds import (
    FeedError,
    NotAFeedError,
    OpmlSource,
    discover_feeds,
    load_opml,
    parse_feed,
    parse_opml,
    well_known_feeds,
    write_opml,
)
from tests.support.corpora import CORPORA, needs_corpora

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Gazette</title><link>https://gazette.example/</link>
<item><title>First &amp; best</title><link>/news/first?utm_source=rss</link>
<guid isPermaLink="false">g-1</guid><author>desk@gazette.example (Ann Reporter)</author>
<pubDate>Fri, 25 Jul 2025 15:30:00 -0500</pubDate><description>&lt;p&gt;Short &lt;b&gt;teaser&lt;/b&gt;&lt;/p&gt;</description>
<enclosure url="https://gazette.example/img/1.jpg" type="image/jpeg" length="1"/></item>
</channel></rss>"""


def test_rss_entry_fields_are_normalized() -> None:
    feed = parse_feed(RSS, "https://gazette.example/feed.xml")
    assert feed.title == "Gazette" and feed.version == "rss20"
    (entry,) = feed.entries
    assert entry.title == "First & best"
    assert entry.link == "https://gazette.example/news/first?utm_source=rss"
    assert entry.guid == "g-1"
    assert entry.author == "Ann Reporter"
    assert entry.published == datetime(2025, 7, 25, 20, 30, tzinfo=UTC)
    assert entry.image_url == "https://gazette.example/img/1.jpg"
    assert "teaser" in entry.summary_html


def test_whitespace_and_bom_before_xml_declaration_are_forgiven() -> None:
    feed = parse_feed(b"\xef\xbb\xbf\n\n  " + RSS, "https://gazette.example/feed.xml")
    assert len(feed.entries) == 1


def test_latin1_feed_without_declared_charset_decodes() -> None:
    body = RSS.replace(b'encoding="utf-8"', b'encoding="iso-8859-1"').replace(
        b"First", "Caf\xe9".encode("latin-1")
    )
    feed = parse_feed(body, "https://gazette.example/feed.xml")
    assert feed.entries[0].title.startswith("Café")


def test_atom_xml_base_resolves_relative_links() -> None:
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://base.example/blog/">
    <title>B</title><id>urn:b</id><updated>2025-01-01T00:00:00Z</updated>
    <entry><title>E</title><id>urn:e</id><updated>2025-01-02T00:00:00Z</updated>
    <link rel="alternate" href="posts/e.html"/></entry></feed>"""
    feed = parse_feed(atom, "https://other.example/atom.xml")
    assert feed.entries[0].link == "https://base.example/blog/posts/e.html"
    assert feed.entries[0].published == datetime(2025, 1, 2, tzinfo=UTC)


def test_json_feed_11() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "home_page_url": "https://j.example/",
        "items": [
            {
                "id": "1",
                "url": "https://j.example/a",
                "title": "A",
                "content_text": "Plain <text>",
                "date_published": "2025-07-25T10:00:00-05:00",
                "authors": [{"name": "Jo"}],
                "image": "/a.png",
            }
        ],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    assert feed.version == "json11"
    (e,) = feed.entries
    assert e.author == "Jo" and e.published == datetime(2025, 7, 25, 15, tzinfo=UTC)
    assert e.content_html == "<p>Plain &lt;text&gt;</p>"
    assert e.image_url == "https://j.example/a.png"


def test_html_page_at_feed_url_names_the_feeds_it_announces() -> None:
    page = b"""<!DOCTYPE html><html><head>
    <link rel="alternate" type="application/atom+xml" href="/atom.xml">
    <link rel="alternate" type="application/rss+xml" href="https://h.example/rss">
    <link rel="stylesheet" href="/s.css"></head><body>hi</body></html>"""
    with pytest.raises(NotAFeedError) as info:
        parse_feed(page, "https://h.example/")
    assert info.value.discovered == ["https://h.example/rss", "https://h.example/atom.xml"]
    assert "https://h.example/rss" in str(info.value)
    assert discover_feeds(page, "https://h.example/") == info.value.discovered


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b'{"rss": {}}', "not a JSON Feed"),
        (b"%PDF-1.4 binary", "not a feed"),
        (b"<?xml version='1.0'?><note><to>x</to></note>", "not a feed"),
    ],
)
def test_non_feeds_raise_a_readable_error(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(body, "https://x.example/feed")


def test_opml_round_trip_keeps_tag_and_mode() -> None:
    sources = [
        OpmlSource("https://a.example/rss", "A & Co", "https://a.example/", "aco", "teaser", "US"),
        OpmlSource("https://b.example/atom", "B", None, "b", "full", "US"),
    ]
    again = parse_opml(write_opml(sources).encode())
    assert again == sources


def test_opml_refuses_entities_and_garbage() -> None:
    with pytest.raises(FeedError, match="entity"):
        parse_opml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opml/>')
    with pytest.raises(FeedError, match="not well-formed"):
        parse_opml(b"<opml><body>")
    with pytest.raises(FeedError, match="not an OPML"):
        parse_opml(b"<rss/>")


def test_starter_opml_lists_real_publishers_in_teaser_mode() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = parse_opml((root / "examples" / "starter.opml").read_bytes())
    assert len(sources) >= 28
    assert all(s.republish == "teaser" and s.tag for s in sources)
    assert len({s.tag for s in sources}) == len(sources)
    assert all(s.xml_url.startswith(("https://", "http://")) for s in sources)


def _corpus_feeds() -> list[Path]:
    if not CORPORA.is_dir():
        return []
    skip = {".md", ".html", ".opml"}
    return sorted(
        p
        for p in (CORPORA / "feeds").rglob("*")
        if p.is_file()
        and p.suffix not in skip
        and "output" not in p.parts
        and not p.name.endswith(".serde.json")
    )


# Files that are not feeds at all, or are broken beyond recovery, by the corpus README.
NOT_FEEDS = {
    "rss-parser/input/unrecognized.rss",  # an HTML "Document Moved" page
    "netnewswire/allthis-partial.json",  # truncated JSON
    "netnewswire/ScriptingNews.json",  # RSS-shaped JSON, not a JSON Feed
    "feedparser-illformed/rss_empty_document.xml",
    "feed-rs/xml/xml_sample_1.xml",  # generic XML (a book catalog)
    "feed-rs/xml/xml_sample_2.xml",
}


@needs_corpora
def test_every_real_feed_parses_or_fails_cleanly() -> None:
    files = [p for p in _corpus_feeds() if "FirstEntry" not in p.name]  # excerpts, not documents
    assert len(files) > 200
    with_entries = 0
    refused: set[str] = set()
    for path in files:
        rel = str(path.relative_to(CORPORA / "feeds"))
        try:
            feed = parse_feed(path.read_bytes(), f"https://corpus.example/{rel}")
        except FeedError as exc:
            refused.add(rel)
            assert len(str(exc)) > 10
            continue
        with_entries += bool(feed.entries)
        for entry in feed.entries:
            assert entry.published is None or entry.published.tzinfo is not None
            assert entry.link.startswith(("http://", "https://")) or not entry.link
    assert refused >= NOT_FEEDS
    # Ill-formed documents are forgiven when entries can be recovered (feedparser's bozo mode).
    assert with_entries >= 175
    assert len(refused) <= 25, sorted(refused)


@needs_corpora
@pytest.mark.parametrize(
    ("rel", "needle"),
    [
        ("netnewswire/kc0011.rss", None),  # gb2312
        ("miniflux/parser/encoding_ISO-8859-1.xml", None),
        ("miniflux/parser/no_encoding_ISO-8859-1.xml", None),
        ("miniflux/parser/encoding_WINDOWS-1251.xml", None),
    ],
)
def test_declared_and_sniffed_charsets_decode_to_readable_text(
    rel: str, needle: str | None
) -> None:
    feed = parse_feed((CORPORA / "feeds" / rel).read_bytes(), "https://corpus.example/feed")
    text = feed.title + " ".join(e.title + e.summary_html for e in feed.entries)
    assert text.strip()
    assert "\ufffd" not in text, "replacement characters mean a wrong charset"


@needs_corpora
def test_feed_discovery_on_real_home_pages() -> None:
    page = (CORPORA / "feeds" / "netnewswire" / "DaringFireball.html").read_bytes()
    found = discover_feeds(page, "https://daringfireball.net/")
    assert found and all(u.startswith("https://daringfireball.net/") for u in found)


# -- entries as the publisher wrote them (issue 10) -----------------------------------------

DC = 'xmlns:dc="http://purl.org/dc/elements/1.1/"'
ITUNES = 'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'


def rss(items: str, channel: str = "", ns: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" {ns}><channel>'
        f"<title>Gazette</title>{channel}{items}</channel></rss>"
    ).encode()


def test_guids_are_kept_verbatim_and_never_become_links() -> None:
    feed = parse_feed(
        rss(
            "<item><title>A</title><guid>aae20190418</guid></item>"
            '<item><title>B</title><guid isPermaLink="false">abc123</guid></item>'
        ),
        "https://feeds.example/x/feed.xml",
    )
    assert [(e.guid, e.link) for e in feed.entries] == [("aae20190418", ""), ("abc123", "")]


def test_a_guid_does_not_depend_on_the_feed_url() -> None:
    body = rss("<item><title>A</title><guid>aae20190418</guid><link>/a</link></item>")
    one = parse_feed(body, "https://feeds.example/x/feed.xml").entries[0]
    other = parse_feed(body, "https://mirror.example/y/rss").entries[0]
    assert one.guid == other.guid == "aae20190418"


def test_a_permalink_guid_that_is_a_full_url_is_the_link() -> None:
    (entry,) = parse_feed(
        rss("<item><title>A</title><guid>https://g.example/a</guid></item>"), "https://f.example/"
    ).entries
    assert entry.guid == entry.link == "https://g.example/a"


RSS_092 = b"""<?xml version="1.0"?><rss version="0.92"><channel><title>Dave</title>
<link>http://www.scripting.com/</link><description>News</description>
<item><description>First &lt;a href="http://a.example/"&gt;thing&lt;/a&gt;.</description></item>
<item><title>Song</title><pubDate>Fri, 25 Jul 2025 15:30:00 GMT</pubDate>
<enclosure url="http://a.example/song.mp3" length="1" type="audio/mpeg"/></item>
<item><title>Song</title><pubDate>Sat, 26 Jul 2025 15:30:00 GMT</pubDate>
<enclosure url="http://a.example/song2.mp3" length="1" type="audio/mpeg"/></item>
</channel></rss>"""


def test_entries_without_link_or_guid_are_kept_with_a_stable_identity() -> None:
    feed = parse_feed(RSS_092, "https://feeds.example/092.xml")
    assert len(feed.entries) == 3
    assert all(not e.link for e in feed.entries)
    guids = [e.guid for e in feed.entries]
    assert len(set(guids)) == 3
    again = parse_feed(RSS_092, "https://elsewhere.example/other-url.xml")
    assert [e.guid for e in again.entries] == guids
    assert feed.entries[1].enclosure_url == "http://a.example/song.mp3"
    assert "thing" in feed.entries[0].summary_html


def test_a_feed_of_linkless_entries_is_not_an_error() -> None:
    body = RSS_092.replace(b"</channel>", b"<broken></channel>")  # ill-formed: bozo
    assert len(parse_feed(body, "https://feeds.example/092.xml").entries) == 3


def test_authors_keep_every_name() -> None:
    feed = parse_feed(
        rss(
            "<item><title>A</title><guid>1</guid><dc:creator>Ann</dc:creator>"
            "<dc:creator>Bob</dc:creator><dc:creator>Cy</dc:creator></item>"
            "<item><title>B</title><guid>2</guid>"
            "<author>mark@example.org (Mark Pilgrim)</author></item>"
            "<item><title>C</title><guid>3</guid><dc:creator>Ann</dc:creator>"
            "<dc:creator>Bob</dc:creator></item>",
            ns=DC,
        ),
        "https://f.example/",
    )
    assert [e.author for e in feed.entries] == ["Ann, Bob and Cy", "Mark Pilgrim", "Ann and Bob"]
    assert feed.entries[0].authors == ("Ann", "Bob", "Cy")


def test_rss_entries_fall_back_to_the_channel_author() -> None:
    editor = rss(
        "<item><title>A</title><guid>1</guid></item>",
        channel="<managingEditor>ed@gazette.example (Ed Itor)</managingEditor>",
    )
    assert parse_feed(editor, "https://f.example/").entries[0].author == "Ed Itor"
    podcast = rss(
        "<item><title>A</title><guid>1</guid></item>"
        "<item><title>B</title><guid>2</guid><itunes:author>Guest</itunes:author></item>",
        channel="<itunes:author>Pod Host</itunes:author>",
        ns=ITUNES,
    )
    assert [e.author for e in parse_feed(podcast, "https://f.example/").entries] == [
        "Pod Host",
        "Guest",
    ]


def test_atom_entries_inherit_the_feed_author() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>B</title><id>urn:b</id>
    <author><name>Feed Author</name></author><updated>2025-01-01T00:00:00Z</updated>
    <entry><title>E</title><id>urn:e</id><updated>2025-01-02T00:00:00Z</updated></entry>
    <entry><title>F</title><id>urn:f</id><updated>2025-01-02T00:00:00Z</updated>
    <author><name>Own</name></author><author><name>Second</name></author></entry></feed>"""
    feed = parse_feed(atom, "https://f.example/atom")
    assert [e.author for e in feed.entries] == ["Feed Author", "Own and Second"]


@pytest.mark.parametrize(
    ("title_xml", "expected"),
    [
        ("<title>Vec&lt;T&gt;</title>", "Vec<T>"),
        ("<title>5 &lt; 6 &amp;&amp; 7 &gt; 3</title>", "5 < 6 && 7 > 3"),
    ],
)
def test_plain_text_rss_titles_keep_their_text(title_xml: str, expected: str) -> None:
    feed = parse_feed(rss(f"<item>{title_xml}<guid>1</guid></item>"), "https://f.example/")
    assert feed.entries[0].title == expected


def test_atom_titles_are_stripped_only_when_they_are_html() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">a &lt;b&gt; c</title>
    <id>urn:b</id><updated>2025-01-01T00:00:00Z</updated>
    <entry><title type="text">a &lt;b&gt; c</title><id>urn:e</id></entry>
    <entry><title type="html">x &lt;b&gt;y&lt;/b&gt; &amp;amp; z</title><id>urn:f</id></entry>
    </feed>"""
    feed = parse_feed(atom, "https://f.example/atom")
    assert feed.title == "a <b> c"
    assert [e.title for e in feed.entries] == ["a <b> c", "x y & z"]


def test_relative_links_resolve_against_the_channel_link() -> None:
    feed = parse_feed(
        rss(
            "<item><title>A</title><link>posts/a.html</link></item>",
            channel="<link>https://site.example/blog/</link>",
        ),
        "https://feeds.example/x/feed.xml",
    )
    assert feed.link == "https://site.example/blog/"
    assert feed.entries[0].link == "https://site.example/blog/posts/a.html"


def test_relative_links_without_a_channel_link_resolve_against_the_feed_url() -> None:
    feed = parse_feed(rss("<item><title>A</title><link>/a</link></item>"), "https://f.example/x")
    assert feed.entries[0].link == "https://f.example/a"


@pytest.mark.parametrize(
    "item",
    [
        {"id": "1", "url": 5},
        {"id": "1", "url": "https://j.example/a", "authors": "Jo"},
        {"id": "1", "url": "https://j.example/a", "authors": ["Jo", 3, {"name": 4}]},
        {"id": ["x"], "url": "https://j.example/a"},
        {"id": "1", "title": {"t": 1}, "content_html": 7, "summary": [1]},
        {"id": "1", "date_published": 20250101, "image": {"u": 1}},
        {"id": "1", "attachments": "x", "external_url": False},
    ],
)
def test_type_confused_json_feed_items_are_read_or_refused_cleanly(item: dict[str, object]) -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [item]}
    feed = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    assert len(feed.entries) == 1


@pytest.mark.parametrize(
    "doc",
    [
        {"version": "https://jsonfeed.org/version/1.1", "title": ["J"], "items": {"a": 1}},
        {"version": "https://jsonfeed.org/version/1.1", "feed_url": 3, "authors": "Jo"},
        {"version": "https://jsonfeed.org/version/1.1", "home_page_url": ["x"], "icon": 1},
        {"version": 1.1, "items": [None, 1, "x"]},
    ],
)
def test_type_confused_json_feeds_never_raise_type_errors(doc: dict[str, object]) -> None:
    with contextlib.suppress(FeedError):  # anything else fails the test
        parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")


def test_json_feed_version_1_1_is_read_with_a_warning() -> None:
    doc = {"version": "1.1", "title": "J", "items": [{"id": "1", "content_text": "x"}]}
    feed = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    assert feed.version == "json11" and len(feed.entries) == 1
    assert any("1.1" in w and "jsonfeed.org" in w for w in feed.warnings)


def test_json_feed_items_with_only_content_text_are_kept() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1",
        "title": "J",
        "items": [{"content_text": "one"}, {"content_text": "two"}, {"title": "t"}],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json")
    assert len(feed.entries) == 3 and len({e.guid for e in feed.entries}) == 3
    assert feed.entries[0].content_html == "<p>one</p>" and not feed.entries[0].link


def test_json_feed_titles_are_plain_text_and_non_web_urls_are_not_links() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [{"id": "1", "url": "javascript:alert(1)", "title": "Vec<T> & <b>"}],
    }
    (entry,) = parse_feed(json.dumps(doc).encode(), "https://j.example/feed.json").entries
    assert entry.title == "Vec<T> & <b>" and entry.link == ""


# -- OPML as people have it ------------------------------------------------------------------

FLAWED_OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0"><head><title>News & Views</title></head><body>
<outline text="World & Nation" title="World & Nation" type="rss"
  xmlUrl="https://a.example/rss?x=1&y=2" htmlUrl="https://a.example/"/>
<outline text="Less <than> more" type="rss" xmlUrl="https://b.example/feed"/>
<outline text="Caf&eacute;" type="rss" xmlUrl="https://c.example/feed"/>
<outline text="Tech">
  <outline text="Linux">
    <outline text="Relative" type="rss" xmlUrl="/feed.xml" htmlUrl="https://d.example/blog/"/>
  </outline>
  <outline text="Again" type="rss" xmlUrl="https://b.example/feed"/>
</outline>
<outline text="Podcast" type="rss" xmlUrl="feed://e.example/pod"/>
<outline text="Broken" type="rss" xmlUrl="javascript:alert(1)"/>
<outline text="Empty" type="rss"/>
<outline text="Just a link" type="link" url="https://f.example/"/>
</body></opml>"""


def test_flawed_opml_is_read_and_only_broken_outlines_are_skipped() -> None:
    document = load_opml(FLAWED_OPML)
    assert [(s.xml_url, s.title, s.category) for s in document.sources] == [
        ("https://a.example/rss?x=1&y=2", "World & Nation", None),
        ("https://b.example/feed", "Less <than> more", None),
        ("https://c.example/feed", "Café", None),
        ("https://d.example/feed.xml", "Relative", "Tech / Linux"),
        ("http://e.example/pod", "Podcast", None),
    ]
    assert document.duplicates == 1
    assert len(document.skipped) == 2
    assert "Broken" in document.skipped[0] and "Empty" in document.skipped[1]


LEGACY_TITLES = [
    "Café du Monde",
    "Le Télégramme",
    "Süddeutsche Zeitung",
    "El País",
    "Dagens Nyheter – Ekonomi",
    "“Quoted” blog",
]


@pytest.mark.parametrize(
    "declaration",
    ['<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>', ""],
    ids=["undeclared", "declared-utf8-wrongly", "no-declaration"],
)
def test_opml_saved_in_windows_1252_keeps_its_titles(declaration: str) -> None:
    """An export from a Windows tool in windows-1252, saying so or not (or claiming UTF-8):
    decoded as feeds are, so no title loses its accents to U+FFFD."""
    outlines = "".join(
        f'<outline text="{title}" type="rss" xmlUrl="https://f{n}.example/rss"/>'
        for n, title in enumerate(LEGACY_TITLES)
    )
    text = f"{declaration}<opml version='2.0'><body>{outlines}</body></opml>"
    document = load_opml(text.encode("cp1252"))
    assert [s.title for s in document.sources] == LEGACY_TITLES


def test_opml_in_utf16_and_with_upper_case_element_names() -> None:
    upper = (
        b'<OPML VERSION="1.0"><BODY>'
        b'<OUTLINE TEXT="A" XMLURL="https://a.example/feed"/></BODY></OPML>'
    )
    assert [s.xml_url for s in load_opml(upper).sources] == ["https://a.example/feed"]
    utf16 = (
        '<?xml version="1.0" encoding="UTF-16"?><opml><body>'
        '<outline text="Ü" xmlUrl="https://b.example/feed"/></body></opml>'
    )
    assert [(s.title, s.xml_url) for s in load_opml(utf16.encode("utf-16")).sources] == [
        ("Ü", "https://b.example/feed")
    ]


def test_opml_url_wrapped_over_lines_is_joined_and_a_space_inside_is_encoded() -> None:
    body = (
        b"<opml><body>"
        b'<outline text="Wrapped" xmlUrl="https://a.example/a/very/long/\n        path/feed.xml"/>'
        b'<outline text="Spaced" xmlUrl=" https://b.example/My Feed.xml "/>'
        b"</body></opml>"
    )
    assert [s.xml_url for s in load_opml(body).sources] == [
        "https://a.example/a/very/long/path/feed.xml",
        "https://b.example/My%20Feed.xml",
    ]


def test_opml_without_body_and_with_category_attributes() -> None:
    """Outlines straight under <opml> are read; an outline in no folder takes its OPML 2.0
    ``category`` attribute's first path, a folder wins over it."""
    document = load_opml(
        b'<opml version="2.0"><head/>'
        b'<outline text="A" xmlUrl="https://a.example/rss" category="/Tech/AI,/News"/>'
        b'<outline text="Folder"><outline text="B" xmlUrl="https://b.example/rss"'
        b' category="/Ignored"/></outline>'
        b'<outline text="C" xmlUrl="https://c.example/rss" category=" , "/></opml>'
    )
    assert [(s.xml_url, s.category) for s in document.sources] == [
        ("https://a.example/rss", "Tech / AI"),
        ("https://b.example/rss", "Folder"),
        ("https://c.example/rss", None),
    ]
    with pytest.raises(FeedError, match="no <body>"):
        load_opml(b'<opml version="2.0"><head><title>t</title></head></opml>')


def test_opml_with_ten_thousand_outlines() -> None:
    outlines = "".join(
        f'<outline text="F {i} & co" type="rss" xmlUrl="https://h{i % 97}.example/f/{i}"/>'
        for i in range(10_000)
    )
    body = f'<opml version="2.0"><body><outline text="All">{outlines}</outline></body></opml>'
    document = load_opml(body.encode())
    assert len(document.sources) == 10_000 and not document.skipped
    assert document.sources[-1].title == "F 9999 & co"


def deep_opml(depth: int) -> bytes:
    body = b"<opml><body>" + b'<outline text="c">' * depth + b"</outline>" * depth
    return body + b'<outline text="x" xmlUrl="https://x.example/f"/></body></opml>'


def test_deeply_nested_opml_is_read_without_recursion() -> None:
    assert [s.xml_url for s in load_opml(deep_opml(1500)).sources] == ["https://x.example/f"]
    with pytest.raises(FeedError, match="nested too deeply"):
        load_opml(deep_opml(5000))


def test_opml_external_entities_are_never_loaded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file://{secret}">'
        '<opml><body><outline text="&xxe;" xmlUrl="https://x.example/f"/></body></opml>'
    ).encode()
    sources = load_opml(xxe).sources
    assert "TOPSECRET" not in repr(sources)
    with pytest.raises(FeedError, match="entity"):
        load_opml(
            f'<!DOCTYPE opml [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            '<opml><body><outline text="&xxe;" xmlUrl="https://x.example/f"/></body></opml>'.encode()
        )
    laughs = b'<!DOCTYPE o [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><opml><body/></opml>'
    with pytest.raises(FeedError, match="entity"):
        load_opml(laughs)


def test_an_xml_base_inside_an_entry_does_not_change_its_guid() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>r</title><id>/.rss</id>
    <entry><content type="xhtml" xml:base="/.rss?limit=50"><div xmlns="http://www.w3.org/1999/xhtml">x</div></content>
    <id>t3_42tizy</id><link href="https://r.example/c/42tizy/"/><title>t</title></entry></feed>"""
    (entry,) = parse_feed(atom, "https://r.example/.rss").entries
    assert entry.guid == "t3_42tizy" and entry.link == "https://r.example/c/42tizy/"


def _expected_parses() -> list[tuple[Path, list[str | None]]]:
    """(feed file, the GUID of each entry or None where the reference invented one) for
    every feed of the corpora that ships an expected parse (feed-rs, rss-parser)."""
    feeds = CORPORA / "feeds"
    found: list[tuple[Path, list[str | None]]] = []
    for serde in sorted((feeds / "feed-rs").rglob("*.serde.json")):
        stem = serde.name.removesuffix(".serde.json")
        source = next(p for p in serde.parent.glob(stem + ".*") if p != serde)
        raw = source.read_bytes().decode("utf-8", "replace")
        ids = [e.get("id") for e in json.loads(serde.read_text())["entries"]]
        found.append((source, [i if i and i in raw else None for i in ids]))  # else a hash
    for output in sorted((feeds / "rss-parser" / "output").glob("*.json")):
        inputs = list((feeds / "rss-parser" / "input").glob(output.stem + ".*"))
        if not inputs:
            continue
        source = inputs[0]
        doc = json.loads(output.read_bytes().decode("utf-8", "replace"))
        items = doc["feed"].get("items") or []
        found.append((source, [it.get("guid", it.get("id")) for it in items]))
    return found


@needs_corpora
def test_item_counts_and_guids_match_the_expected_parses() -> None:
    cases = _expected_parses()
    assert len(cases) >= 90
    compared = 0
    wrong: list[str] = []
    for source, guids in cases:
        feed = parse_feed(source.read_bytes(), f"https://corpus.example/{source.name}")
        if len(feed.entries) != len(guids):
            wrong.append(f"{source.name}: {len(feed.entries)} entries, expected {len(guids)}")
            continue
        for entry, guid in zip(feed.entries, guids, strict=True):
            if isinstance(guid, str):
                compared += 1
                if entry.guid != guid.strip():
                    wrong.append(f"{source.name}: GUID {entry.guid!r}, expected {guid!r}")
    assert compared > 1000
    assert not wrong, wrong


FEED_DATES = [
    # (as written in the feed, the instant it means); feedparser alone misread or dropped
    # all but the first and the last.
    ("Mon, 30 Nov 2026 10:00:00 +0100", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
    ("2026/11/30 10:00", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),  # was 1 November
    ("30 Nov 2026 10:00 CET", datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),  # zone was dropped
    ("Mon,30 Nov 2026 10:00:00 GMT", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    ("Monday, 30-Nov-26 10:00:00 GMT", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    ("November 30, 2026 10:00 AM", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    ("30.11.2026 10:00", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    ("Tue, 01 Dec 2026 08:00:00 -0500", datetime(2026, 12, 1, 13, 0, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", None),  # a placeholder, not a date
    ("Mon, 31 Nov 2026 10:00:00 GMT", None),  # no such day
]


def test_entry_dates_are_read_as_written() -> None:
    items = "".join(
        f"<item><title>t{n}</title><link>https://a.example/{n}</link><pubDate>{written}</pubDate>"
        "</item>"
        for n, (written, _) in enumerate(FEED_DATES)
    )
    feed = parse_feed(
        f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode(),
        "https://a.example/feed",
    )
    assert [e.published for e in feed.entries] == [when for _, when in FEED_DATES]
    json_feed = parse_feed(
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "J",
                "items": [
                    {
                        "id": "1",
                        "url": "https://j.example/1",
                        "title": "J1",
                        "date_published": "2026-11-30T10:00:00+0100",
                    },
                ],
            }
        ).encode(),
        "https://j.example/feed.json",
    )
    assert json_feed.entries[0].published == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_discovery_beyond_link_alternate() -> None:
    """rel="feed" counts; comment feeds come last; a page announcing none offers its links
    that look like feeds (its own site first; a sitemap or a feedback page is not one)."""
    announced = b"""<html><head>
    <link rel="alternate" type="application/rss+xml" title="Comments" href="/comments/feed/">
    <link rel="alternate" type="application/rss+xml" title="Posts" href="/feed/">
    <link rel="feed" href="/f.json"></head><body><a href="/other.rss">x</a></body></html>"""
    assert discover_feeds(announced, "https://s.example/a/b") == [
        "https://s.example/feed/",
        "https://s.example/f.json",
        "https://s.example/comments/feed/",
    ]
    linked = b"""<html><body><a href="https://agg.example/feeds/s.xml">elsewhere</a>
    <a href="/sitemap.xml">map</a> <a href="/feedback">tell us</a> <a href="/news.rss">RSS</a>
    <a href="/?feed=rss2">WordPress</a> <a href="mailto:rss@s.example">mail</a></body></html>"""
    assert discover_feeds(linked, "https://s.example/") == [
        "https://s.example/news.rss",
        "https://s.example/?feed=rss2",
        "https://agg.example/feeds/s.xml",
    ]
    assert well_known_feeds("https://s.example:8443/a?b=1")[:2] == [
        "https://s.example:8443/feed",
        "https://s.example:8443/rss",
    ]
