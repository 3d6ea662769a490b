"""The one decoder (newsline.ingest.decode): pages and feeds, BOM, HTTP charset, declared
charset, valid UTF-8, detection — on synthetic documents and the corpora's charset cases."""

from __future__ import annotations

import re

import pytest

from newsline.ingest.decode import charset_param, decode_html, decode_xml
from newsline.ingest.feeds import parse_feed
from tests.support.corpora import CORPORA, needs_corpora

GERMAN = (
    "Die Verhandlungen in Istanbul endeten schon nach vierzig Minuten, sagten die "
    "Delegationen. Beide Seiten einigten sich auf einen größeren Gefangenenaustausch "
    "über zwölfhundert Menschen. Über weitere Fragen gab es kaum Fortschritte, hieß es "
    "später aus Kreisen der Gespräche, die Arbeitsgruppen tagen künftig online."
)
RUSSIAN = (
    "Переговоры в Стамбуле закончились уже через сорок минут, сообщили делегации. "
    "Стороны договорились об обмене более чем тысячей двухсот пленных в ближайшее "
    "время. По другим вопросам прогресса почти не было, рабочие группы продолжат "
    "обсуждение политических и гуманитарных вопросов в режиме онлайн."
)
CHINESE = (
    "伊斯坦布尔的谈判在四十分钟后就结束了，双方代表团表示。双方同意在近期交换一千二百多名"
    "战俘。在其他问题上几乎没有进展，工作组将在网上继续讨论政治、人道主义和军事问题。"
    "下一轮直接谈判的日期尚未确定，双方都没有公布具体安排。"
)


def html_page(text: str, meta: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>t</title></head><body><p>{text}</p></body></html>"
    )


@pytest.mark.parametrize(
    ("encoding", "sentences", "codec"),
    [
        ("iso-8859-1", GERMAN, "cp1252"),  # WHATWG: iso-8859-1 means windows-1252
        ("windows-1251", RUSSIAN, "cp1251"),
        ("gb2312", CHINESE, "gb18030"),  # gb2312 means its superset
    ],
)
@pytest.mark.parametrize("declared", [True, False])
def test_legacy_charsets_decode(encoding: str, sentences: str, codec: str, declared: bool) -> None:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={encoding}">'
    data = html_page(sentences * 3, meta if declared else "").encode(encoding)
    text, used = decode_html(data)
    assert sentences in text
    if declared:
        assert used == codec


def test_http_charset_beats_the_meta_and_a_lying_header_is_ignored() -> None:
    data = html_page(RUSSIAN, '<meta charset="iso-8859-1">').encode("cp1251")
    assert decode_html(data, "text/html; charset=windows-1251") == (
        html_page(RUSSIAN, '<meta charset="iso-8859-1">'),
        "cp1251",
    )
    # The header says UTF-8 but the bytes are not: the page's own declaration decides.
    german = html_page(GERMAN, '<meta charset="iso-8859-1">')
    assert decode_html(german.encode("latin-1"), 'text/html; charset="UTF-8"').text == german


def test_bom_beats_header_and_meta() -> None:
    markup = html_page(GERMAN, '<meta charset="iso-8859-1">')
    assert decode_html(b"\xef\xbb\xbf" + markup.encode(), "text/html; charset=cp1251") == (
        markup,
        "utf-8-sig",
    )
    assert decode_html(markup.encode("utf-16"), "text/html; charset=iso-8859-1").text == markup


def test_valid_utf8_beats_a_latin1_label() -> None:
    """UTF-8 served or declared as Latin-1 is common; Latin-1 text that is valid UTF-8 is not."""
    markup = html_page(GERMAN, '<meta charset="iso-8859-1">')
    assert decode_html(markup.encode(), "text/html; charset=iso-8859-1") == (markup, "utf-8")
    feed = f'<?xml version="1.0" encoding="windows-1252"?><rss><title>{GERMAN}</title></rss>'
    assert decode_xml(feed.encode()) == (feed, "utf-8")
    # Plain ASCII decodes the same either way: the declared label is kept.
    ascii_page = html_page("plain words", '<meta charset="iso-8859-1">').encode()
    assert decode_html(ascii_page).encoding == "cp1252"


def test_declared_utf8_with_a_few_bad_bytes_keeps_utf8() -> None:
    text = html_page(GERMAN * 20, '<meta charset="utf-8">')
    data = text.encode() + b"<!-- \xff -->"
    decoded, used = decode_html(data)
    assert used == "utf-8" and GERMAN in decoded and decoded.count("\ufffd") == 1


def test_undeclared_latin1_is_detected_as_windows_1252() -> None:
    portuguese = (
        "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações de segundo turno. " * 5
    )
    feed = f'<?xml version="1.0" encoding="utf-8"?><rss><title>{portuguese}</title></rss>'
    assert decode_xml(feed.encode("latin-1")) == (feed, "cp1252")


def test_xml_declaration_and_utf16_without_bom() -> None:
    feed = f'<?xml version="1.0" encoding="koi8-r"?><rss><title>{RUSSIAN}</title></rss>'
    assert decode_xml(feed.encode("koi8-r")) == (feed, "koi8-r")
    utf16 = '<?xml version="1.0" encoding="utf-16"?><rss><title>Café</title></rss>'
    assert decode_xml(utf16.encode("utf-16-le")).text == utf16
    # A <meta> inside a feed's CDATA is not the feed's charset.
    cdata = (
        f'<?xml version="1.0"?><rss><d><![CDATA[<meta charset="koi8-r">]]></d><t>{GERMAN}</t></rss>'
    )
    assert decode_xml(cdata.encode()).encoding == "utf-8"


def test_charset_param() -> None:
    assert charset_param("text/html; charset=UTF-8") == "utf-8"
    assert charset_param('application/rss+xml;Charset="windows-1251"') == "cp1251"
    assert charset_param("text/html; charset=ISO-8859-1") == "cp1252"
    assert charset_param("text/html") is None
    assert charset_param("text/html; charset=no-such-codec") is None


@needs_corpora
@pytest.mark.parametrize(
    ("rel", "title"),
    [
        ("miniflux/encoding/iso-8859-1.html", "Frédéric"),
        ("miniflux/encoding/iso-8859-1-meta-after-1024.html", "Frédéric"),
        ("miniflux/encoding/utf8-meta-after-1024.html", "Frédéric"),
        ("miniflux/encoding/utf8.html", "Café"),
        ("miniflux/encoding/iso-8859-1.xml", "Café"),
        ("miniflux/encoding/koi8r.xml", "Пример RSS ленты"),
        ("miniflux/encoding/utf8.xml", "테스트 피드"),
        ("miniflux/encoding/utf8-incorrect-prolog.xml", "테스트 피드"),
        ("miniflux/encoding/invalid-prolog.xml", "테스트 피드"),
        ("miniflux/encoding/windows-1252.xml", "Euro €"),
        ("miniflux/encoding/windows-1252-incorrect-prolog.xml", "Euro €"),
        ("feedparser-illformed/chardet/koi8r.xml", "Как пережить новогоднюю ночь"),
        ("feedparser-illformed/chardet/shiftjis.xml", "DrecomRSSに記事投稿が反映されない…"),
        ("feedparser-illformed/chardet/euckr.xml", "EUC-KR 에서 TypeKey 한글닉네임 표시하기"),
    ],
)
def test_corpus_charset_cases(rel: str, title: str) -> None:
    path = CORPORA / "feeds" / rel
    text, _ = (decode_html if path.suffix == ".html" else decode_xml)(path.read_bytes())
    assert title in re.findall(r"<title>([^<]*)</title>", text)
    assert "\ufffd" not in text


def test_feeds_are_decoded_by_it_with_their_http_charset() -> None:
    body = f"<rss version='2.0'><channel><title>{RUSSIAN[:40]}</title><item><title>x</title>"
    body += "<link>https://r.example/a</link></item></channel></rss>"
    feed = parse_feed(body.encode("cp1251"), "https://r.example/feed", "text/xml; charset=cp1251")
    assert feed.title == RUSSIAN[:40]
    assert feed.warnings == []  # no "declared as us-ascii" noise from feedparser's own rules
    json_feed = '{"version": "https://jsonfeed.org/version/1.1", "title": "Größe", "items": []}'
    assert parse_feed(json_feed.encode("latin-1"), "https://j.example/feed.json").title == "Größe"
