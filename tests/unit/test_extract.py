"""extract(): metadata sources, captions once, lazy/relative images, boilerplate, charsets,
time zones and non-HTML input — on small synthetic pages written for these tests."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from newsline.ingest.extract import Extracted, ExtractError, extract, parse_datetime
from newsline.ingest.extract.document import MAX_PAGE_CHARS

URL = "https://www.example-news.org/world/2025/07/23/talks-in-istanbul"

PARAGRAPHS = [
    "Delegations from both countries met in the old palace on the shore for a third round "
    "of talks that lasted barely forty minutes, officials said on Wednesday evening.",
    "The two sides agreed to exchange at least twelve hundred prisoners in the near future, "
    "the head of one delegation told reporters at a press conference after the meeting.",
    "Little progress was made on other questions, and a proposal for a meeting of leaders "
    "before the end of August met with a cautious answer from the other side.",
    "Working groups will now meet online to discuss political, humanitarian and military "
    "questions, with the next round of direct talks not yet scheduled by either side.",
]


def page(
    body: str,
    head: str = "",
    *,
    lang: str = "en",
    charset_meta: str = '<meta charset="utf-8">',
) -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head>{charset_meta}<title>Talks end quickly | '
        f"Example News</title>{head}</head><body><header><nav><a href='/'>Home</a> "
        f"<a href='/world'>World</a></nav></header><main><article>{body}</article></main>"
        "<footer><p>Copyright Example News. All rights reserved.</p></footer></body></html>"
    )


def paragraphs(items: list[str] = PARAGRAPHS) -> str:
    return "".join(f"<p>{p}</p>" for p in items)


OG_HEAD = (
    '<meta property="og:title" content="Talks end quickly with a prisoner deal">'
    '<meta property="og:site_name" content="Example News">'
    '<meta property="og:image" content="/images/lead.jpg">'
    '<meta property="og:image:alt" content="Delegates at the palace">'
    '<meta property="og:description" content="A brief third round of talks.">'
    '<meta property="article:published_time" content="2025-07-23T18:40:00+03:00">'
    '<meta name="author" content="By Jane Reporter">'
    '<link rel="canonical" href="/world/2025/07/23/talks-in-istanbul">'
)


def test_metadata_from_opengraph_and_meta_tags() -> None:
    result = extract(
        page("<h1>Talks end quickly with a prisoner deal</h1>" + paragraphs(), OG_HEAD), URL
    )
    assert isinstance(result, Extracted)
    assert result.title == "Talks end quickly with a prisoner deal"
    assert result.author == "Jane Reporter"
    assert result.site_name == "Example News"
    assert result.published == datetime(2025, 7, 23, 15, 40, tzinfo=UTC)
    assert result.published.utcoffset() == timedelta(hours=3)  # the page's own offset kept
    assert result.image_url == "https://www.example-news.org/images/lead.jpg"
    assert result.image_caption == "Delegates at the palace"
    assert result.canonical_url == URL
    assert result.description == "A brief third round of talks."
    assert result.language == "en"
    for text in PARAGRAPHS:
        assert text in result.text
    assert "All rights reserved" not in result.text and "Home" not in result.text.split()


def test_jsonld_wins_and_lists_several_authors() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Example News Site"},
            {
                "@type": ["NewsArticle"],
                "headline": "Prisoner exchange agreed in Istanbul",
                "datePublished": "2025-07-23T15:40:00Z",
                "author": [
                    {"@type": "Person", "name": "Jane Reporter"},
                    {"@type": "Person", "name": "John Writer"},
                ],
                "publisher": {"@type": "Organization", "name": "Example News"},
                "image": {"@type": "ImageObject", "url": "https://cdn.example.net/lead.jpg",
                          "caption": "The palace on the shore"},
            },
        ],
    }  # fmt: skip
    head = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    result = extract(
        page("<h1>Prisoner exchange agreed in Istanbul</h1>" + paragraphs(), head), URL
    )
    assert result.title == "Prisoner exchange agreed in Istanbul"
    assert result.author == "Jane Reporter, John Writer"
    assert result.site_name == "Example News"
    assert result.published == datetime(2025, 7, 23, 15, 40, tzinfo=UTC)
    assert result.image_url == "https://cdn.example.net/lead.jpg"
    assert result.image_caption == "The palace on the shore"


def test_title_falls_back_to_title_tag_without_site_suffix() -> None:
    result = extract(page(paragraphs()), URL)
    assert result.title == "Talks end quickly"


def test_naive_dates_are_utc_and_date_only_is_midnight_utc() -> None:
    head = '<meta property="article:published_time" content="2025-07-23 18:40:00">'
    result = extract(page(paragraphs(), head), URL)
    assert result.published == datetime(2025, 7, 23, 18, 40, tzinfo=UTC)
    assert result.published.tzinfo is not None
    assert parse_datetime("2025-07-23") == datetime(2025, 7, 23, tzinfo=UTC)
    assert parse_datetime("Wed, 23 Jul 2025 18:40:00 EDT") == datetime(
        2025, 7, 23, 18, 40, tzinfo=timezone(timedelta(hours=-4))
    )
    assert parse_datetime("1753285200") == datetime(2025, 7, 23, 15, 40, tzinfo=UTC)
    assert parse_datetime("0001-01-01T00:00:00Z") is None
    assert parse_datetime("not a date") is None


def test_date_from_url_when_page_declares_none() -> None:
    result = extract(page(paragraphs()), URL)
    assert result.published is not None and result.published.tzinfo is not None
    assert result.published.date().isoformat() == "2025-07-23"


def test_caption_kept_once_and_lead_figure_not_repeated() -> None:
    caption = "Russian presidential aide addresses the media after the talks, 23 July 2025."
    body = (
        "<h1>Talks end quickly</h1>"
        f'<figure><img src="/images/lead.jpg" alt="{caption}"><figcaption>{caption}'
        f"</figcaption></figure><p>{caption}</p>" + paragraphs()
    )
    head = '<meta property="og:image" content="https://www.example-news.org/images/lead.jpg">'
    result = extract(page(body, head), URL)
    assert result.image_caption == caption
    assert caption not in result.text  # the caption belongs to the hero, shown once there
    assert caption not in result.html
    assert result.text.startswith(PARAGRAPHS[0])


def test_body_figure_lazy_relative_image_with_caption_once() -> None:
    caption = "Delegates leave the palace after the forty-minute meeting on Wednesday."
    body = (
        paragraphs(PARAGRAPHS[:2])
        + '<figure><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
        'data-src="../../photos/palace.jpg" alt="Delegates leave the palace">'
        f"<figcaption>{caption}</figcaption></figure>"
        f"<p>{caption}</p>" + paragraphs(PARAGRAPHS[2:])
    )
    result = extract(page(body), URL)
    assert (
        '<figure><img src="https://www.example-news.org/world/2025/photos/palace.jpg" '
        f'alt=""><figcaption>{caption}</figcaption></figure>'  # alt repeated the caption
    ) in result.html
    assert result.html.count(caption) == 1
    assert caption not in result.text  # captions live in the HTML figure, not the prose
    # the figure sits where it was: between the second and third paragraph
    assert result.html.index(PARAGRAPHS[1][:30]) < result.html.index("palace.jpg")
    assert result.html.index("palace.jpg") < result.html.index(PARAGRAPHS[2][:30])


def test_srcset_picks_the_largest_candidate() -> None:
    body = (
        paragraphs(PARAGRAPHS[:2])
        + '<figure><img srcset="/p/s.jpg 320w, /p/l.jpg 1600w, /p/m.jpg 800w" alt="x">'
        "<figcaption>A wide view of the shore from the palace terrace at dusk.</figcaption>"
        "</figure>" + paragraphs(PARAGRAPHS[2:])
    )
    result = extract(page(body), URL)
    assert 'src="https://www.example-news.org/p/l.jpg"' in result.html


def test_share_subscribe_and_read_more_boilerplate_dropped() -> None:
    body = (
        "<h1>Talks end quickly</h1>"
        + "<ul><li>23 July 2025</li><li>From the section Europe</li><li>941 comments</li></ul>"
        + paragraphs(PARAGRAPHS[:2])
        + "<p>Share this article</p>"
        + "<p>Read more: Earlier talks ended without agreement</p>"
        + "<p>Sign up for our daily newsletter to get the news in your inbox.</p>"
        + paragraphs(PARAGRAPHS[2:])
        + "<h2>Recommended stories</h2><ul><li><a href='/a'>Other story one here</a></li>"
        "<li><a href='/b'>Other story two here</a></li></ul>"
    )
    result = extract(page(body), URL)
    for text in PARAGRAPHS:
        assert text in result.text
    for junk in (
        "Share this", "Read more", "newsletter", "Recommended", "Other story", "941 comments",
    ):  # fmt: skip
        assert junk not in result.text, junk
        assert junk not in result.html, junk


def test_body_html_is_sanitized_and_links_absolute() -> None:
    body = (
        f"<p>{PARAGRAPHS[0]} See <a href='/world/more' onclick='evil()'>the earlier report</a>.</p>"
        f"<p>{PARAGRAPHS[1]}<script>alert(1)</script></p>"
        f"<p onmouseover='x()'>{PARAGRAPHS[2]} <a href='javascript:alert(1)'>click</a></p>"
        + paragraphs(PARAGRAPHS[3:])
    )
    result = extract(page(body), URL)
    assert (
        '<a href="https://www.example-news.org/world/more" rel="noopener nofollow">'
        "the earlier report</a>"
    ) in result.html
    for bad in ("<script", "onclick", "onmouseover", "javascript:", "alert(1)"):
        assert bad not in result.html


@pytest.mark.parametrize(
    ("encoding", "lang", "sentences"),
    [
        (
            "iso-8859-1",
            "de",
            "Die Verhandlungen in Istanbul endeten schon nach vierzig Minuten, sagten die "
            "Delegationen. Beide Seiten einigten sich auf einen größeren Gefangenenaustausch "
            "über zwölfhundert Menschen. Über weitere Fragen gab es kaum Fortschritte, hieß es "
            "später aus Kreisen der Gespräche, die Arbeitsgruppen tagen künftig online.",
        ),
        (
            "windows-1251",
            "ru",
            "Переговоры в Стамбуле закончились уже через сорок минут, сообщили делегации. "
            "Стороны договорились об обмене более чем тысячей двухсот пленных в ближайшее "
            "время. По другим вопросам прогресса почти не было, рабочие группы продолжат "
            "обсуждение политических и гуманитарных вопросов в режиме онлайн.",
        ),
        (
            "gb2312",
            "zh",
            "伊斯坦布尔的谈判在四十分钟后就结束了，双方代表团表示。双方同意在近期交换一千二百多名"
            "战俘。在其他问题上几乎没有进展，工作组将在网上继续讨论政治、人道主义和军事问题。"
            "下一轮直接谈判的日期尚未确定，双方都没有公布具体安排。",
        ),
    ],
)
@pytest.mark.parametrize("declared", [True, False])
def test_legacy_charsets_decode(encoding: str, lang: str, sentences: str, declared: bool) -> None:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">'
    markup = page(
        f"<h1>{sentences[:20]}</h1>" + "".join(f"<p>{sentences}</p>" for _ in range(3)),
        lang=lang,
        charset_meta=meta if declared else "",
    )
    data = markup.encode(encoding)
    result = extract(data, URL)
    assert sentences in result.text
    assert result.language == lang
    assert result.charset is not None
    if declared:
        assert result.charset in ("cp1252", "cp1251", "gb18030")
    # The HTTP charset decides when the page declares none (or a wrong one).
    served = extract(data, URL, content_type=f"text/html; charset={encoding}")
    assert sentences in served.text
    assert served.charset in ("cp1252", "cp1251", "gb18030")


def test_bom_beats_a_wrong_meta_charset() -> None:
    markup = page(paragraphs(), charset_meta='<meta charset="iso-8859-1">').replace(
        "Delegations", "Délégations"
    )
    result = extract(b"\xef\xbb\xbf" + markup.encode("utf-8"), URL)
    assert "Délégations from both" in result.text
    utf16 = extract(markup.encode("utf-16"), URL)
    assert "Délégations from both" in utf16.text


def test_declared_utf8_with_latin1_bytes_is_detected() -> None:
    german = (
        "Die Gespräche in Istanbul endeten schon nach vierzig Minuten, sagten die Delegationen "
        "übereinstimmend. Größere Fortschritte gab es nicht, hieß es später aus Kreisen. "
    )
    markup = page("".join(f"<p>{german}</p>" for _ in range(4)), lang="de")
    result = extract(markup.encode("latin-1"), URL)
    assert "Gespräche" in result.text and "Größere" in result.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b'{"items": [{"title": "x"}]}', "JSON"),
        (b'  [{"a": 1}]', "JSON"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>', "feed"),
        (gzip.compress(b"<html></html>", mtime=0), "gzip"),
        (b"", "empty"),
        (b"just some words without any markup at all", "no HTML"),
        (b"\x00\x01\x02\x03binary\x00data", "binary"),
    ],
)
def test_non_html_input_raises_extract_error(data: bytes, message: str) -> None:
    with pytest.raises(ExtractError, match=message):
        extract(data, URL)


def test_str_input_and_json_serialisation() -> None:
    result = extract(page(paragraphs(), OG_HEAD), URL)
    data = result.to_json()
    assert json.loads(json.dumps(data))["published"] == "2025-07-23T18:40:00+03:00"
    assert set(data) >= {
        "title", "author", "published", "site_name", "language", "image_url",
        "image_caption", "text", "html", "canonical_url", "description",
    }  # fmt: skip
    with pytest.raises(TypeError):
        extract(12345, URL)  # type: ignore[arg-type]


def test_empty_article_yields_empty_text_not_an_error() -> None:
    result = extract("<html><head><title>Nothing here</title></head><body></body></html>", URL)
    assert result.title == "Nothing here"
    assert result.text == "" and result.html == ""


def test_oversized_input_is_refused() -> None:
    huge = "<html><body>" + "<p>x</p>" * (MAX_PAGE_CHARS // 8) + "</body></html>"
    with pytest.raises(ExtractError, match="too large"):
        extract(huge, URL)


def test_concurrent_extraction_in_threads_matches_sequential() -> None:
    from concurrent.futures import ThreadPoolExecutor

    pages = [
        page(f"<h1>Story number {i}</h1>" + paragraphs(PARAGRAPHS[i % 4 :] + PARAGRAPHS), OG_HEAD)
        for i in range(12)
    ]
    sequential = [extract(markup, URL) for markup in pages]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda markup: extract(markup, URL), pages))
    assert threaded == sequential
