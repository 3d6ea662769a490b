"""Sanitizing: ingest's sanitize_html (allowlist, URL policy, lazy images, captions once, XSS
payloads), the one web-URL check and the named nh3 policies of ``newsline.sanitize``."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from newsline.ingest.sanitize import absolute_http_url, best_image_url, sanitize_html
from newsline.sanitize import (
    ARTICLE_BODY,
    ARTICLE_PAGE,
    COMMENT,
    DIGEST,
    DIGEST_PAGE,
    EMAIL,
    https_image_url,
    is_web_url,
    web_url,
)

BASE = "https://news.example.org/world/2025/07/story.html"


def test_keeps_the_allowlist_and_drops_the_rest() -> None:
    html = (
        "<div class='x'><h1>Head</h1><h3 id='a'>Sub</h3><p style='color:red'>A <em>b</em> "
        "<strong>c</strong> <b>d</b> <i>e</i><br><span>f</span> <u>g</u></p>"
        "<ul><li>one</li></ul><ol><li>two</li></ol><blockquote>q</blockquote>"
        "<table><tr><td>cell</td></tr></table></div>"
    )
    out = sanitize_html(html, BASE)
    assert "<h2>Head</h2>" in out  # h1 is the page's own title level: demoted
    assert "<h3>Sub</h3>" in out
    assert "<p>A <em>b</em> <strong>c</strong> <b>d</b> <i>e</i><br>f g</p>" in out
    assert "<ul><li>one</li></ul><ol><li>two</li></ol>" in out
    assert "<blockquote>q</blockquote>" in out
    assert "<p>cell</p>" in out
    for gone in ("<div", "<span", "<u>", "<table", "style=", "class=", "id="):
        assert gone not in out


def test_links_are_absolute_http_with_rel() -> None:
    html = (
        '<p><a href="/other">rel</a> <a href="https://x.example/a" title="t">abs</a> '
        '<a href="mailto:a@b.c">mail</a> <a href="javascript:alert(1)">js</a> '
        '<a href="#top">frag</a></p>'
    )
    out = sanitize_html(html, BASE)
    assert '<a href="https://news.example.org/other" rel="noopener nofollow">rel</a>' in out
    assert '<a href="https://x.example/a" rel="noopener nofollow">abs</a>' in out
    assert "mailto:" not in out and "javascript" not in out and "#top" not in out
    assert "mail" in out and "js" in out and "frag" in out  # the words stay, unlinked
    assert "title=" not in out


def test_images_resolved_lazy_and_upgraded_to_https() -> None:
    html = (
        '<p><img src="pic.jpg" alt="a"></p>'
        '<p><img src="data:image/gif;base64,R0lGOD" data-src="/lazy.jpg" alt="b"></p>'
        '<p><img src="/spacer.gif" data-lazy-src="//cdn.example.net/l2.jpg"></p>'
        '<p><img srcset="/s-320.jpg 320w, /s-1280.jpg 1280w, /s-640.jpg 640w"></p>'
        '<p><img src="http://plain.example.com/x.png" onerror="alert(1)"></p>'
        '<p><img src="javascript:alert(1)"></p>'
    )
    out = sanitize_html(html, BASE)
    srcs = re.findall(r'src="([^"]+)"', out)
    assert srcs == [
        "https://news.example.org/world/2025/07/pic.jpg",
        "https://news.example.org/lazy.jpg",
        "https://cdn.example.net/l2.jpg",
        "https://news.example.org/s-1280.jpg",
        "https://plain.example.com/x.png",
    ]
    assert "onerror" not in out and "javascript" not in out


def test_figure_caption_is_kept_once() -> None:
    caption = "Delegates leave the palace after the talks. Photo: A. Person"
    html = f'<figure><img src="/a.jpg" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
    out = sanitize_html(html, BASE)
    assert out.count("Delegates leave the palace") == 1
    assert "<figcaption>" in out and 'alt=""' in out


def test_best_image_url_prefers_real_source_over_placeholder() -> None:
    assert best_image_url({"src": "a.jpg", "data-src": "b.jpg"}, BASE).endswith("/a.jpg")
    assert best_image_url({"src": "/img/blank.gif", "data-src": "b.jpg"}, BASE).endswith("/b.jpg")
    assert best_image_url({"data-srcset": "x1.jpg 1x, x2.jpg 2x"}, BASE).endswith("/x2.jpg")
    assert best_image_url({"alt": "nothing"}, BASE) is None


def test_url_helpers() -> None:
    assert absolute_http_url("../a", "https://h.example/b/c/d") == "https://h.example/b/a"
    assert absolute_http_url("ftp://h.example/a", BASE) is None
    assert absolute_http_url("https:///nohost", BASE) is None
    assert absolute_http_url("java\nscript:alert(1)", BASE) is None
    assert absolute_http_url("JAVASCRIPT:alert(1)", BASE) is None
    assert https_image_url("http://h.example/i.png", BASE) == "https://h.example/i.png"


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><script>alert(2)</script></svg>",
    "<svg><a xlink:href='javascript:alert(1)'><text>t</text></a></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "<a href='JaVaScRiPt:alert(1)'>x</a>",
    "<a href='java&#x09;script:alert(1)'>x</a>",
    "<a href='&#106;avascript:alert(1)'>x</a>",
    "<a href=' javascript:alert(1)'>x</a>",
    "<iframe src='javascript:alert(1)'></iframe>",
    "<body onload=alert(1)>",
    "<div style='background:url(javascript:alert(1))'>x</div>",
    "<p onclick=alert(1) onmouseover='alert(2)'>x</p>",
    "<img src='data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='>",
    "<object data='javascript:alert(1)'></object><embed src='javascript:alert(1)'>",
    "<form action='javascript:alert(1)'><button>go</button></form>",
    "<!--<script>alert(1)</script>-->",
    "<noscript><p title='</noscript><img src=x onerror=alert(1)>'></noscript>",
    "<template><script>alert(1)</script></template>",
    "<style>@import 'javascript:alert(1)';</style>",
    "<meta http-equiv='refresh' content='0;url=javascript:alert(1)'>",
    "<base href='javascript:alert(1)//'>",
    "<a href='vbscript:msgbox(1)'>x</a>",
    '<img src="x" alt="" onerror="alert(1)"/>',
    '<p><a href="data:text/html,<script>alert(1)</script>">d</a></p>',
]


def _assert_safe(out: str) -> None:
    """No script element, no event handler attribute, no non-http(s) URL, no tag outside
    the allowlist. (The *text* "javascript:" may appear, escaped, as words.)"""
    lowered = out.lower()
    assert "<script" not in lowered
    if not out.strip():
        return
    root = lxml_html.fragment_fromstring(out, create_parent="div")
    for el in root.iter():
        if el is root:
            continue
        assert isinstance(el.tag, str) and el.tag in ARTICLE_BODY.tags, el.tag
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), name
            assert name in ("href", "src", "alt", "rel"), name
            if name in ("href", "src"):
                assert value.startswith(("https://", "http://")), value
                assert "javascript:" not in value.lower()
            if name == "src":
                assert value.startswith("https://"), value


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_xss_payloads_never_survive(payload: str) -> None:
    out = sanitize_html(f"<p>before</p>{payload}<p>after</p>", BASE)
    _assert_safe(out)
    assert "before" in out


_TAGS = st.sampled_from(
    ["p", "a", "img", "script", "svg", "style", "div", "iframe", "figure", "b", "math", "x"]
)
_ATTRS = st.sampled_from(
    ["href", "src", "onload", "onerror", "style", "data-src", "srcset", "xlink:href"]
)
_VALUES = st.one_of(
    st.sampled_from(
        ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:1", "data:text/html,x",
         "/rel", "https://ok.example/a", "x onerror=alert(1)", "'\"><script>alert(1)</script>"]
    ),
    st.text(max_size=20),
)  # fmt: skip


@st.composite
def _markup(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        tag = draw(_TAGS)
        attrs = " ".join(
            f'{draw(_ATTRS)}="{draw(_VALUES)}"' for _ in range(draw(st.integers(0, 3)))
        )
        inner = draw(st.one_of(st.text(max_size=15), _VALUES))
        close = draw(st.booleans())
        parts.append(f"<{tag} {attrs}>{inner}" + (f"</{tag}>" if close else ""))
    return "".join(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_markup())
def test_property_output_is_always_safe(markup: str) -> None:
    _assert_safe(sanitize_html(markup, BASE))


# --- the one web-URL check ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " \t\njavascript:alert(1)",  # whitespace before the scheme
        "\x00\x01\x1fjavascript:alert(1)",  # control characters before the scheme
        "java\tscript:alert(1)",  # a tab inside the scheme (browsers drop it)
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        " DATA:image/svg+xml,<svg onload=alert(1)>",
        "vbscript:msgbox(1)",
        "VBScript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://h.example/a",
        "mailto:a@b.example",
        "https://",
        "https:///nohost",
        "http://[::1",
        "",
        "   ",
        None,
    ],
)
def test_web_url_refuses_everything_but_http_and_https(value: str | None) -> None:
    for base in ("", BASE):
        assert web_url(value, base) is None, (value, base)
        assert not is_web_url(value, base)


@pytest.mark.parametrize(
    "value,base,expected",
    [
        ("https://a.example/x", "", "https://a.example/x"),
        ("http://a.example", "", "http://a.example"),
        ("  https://a.example/x\n", "", "https://a.example/x"),
        ("\x01https://a.example/x", "", "https://a.example/x"),
        ("HTTPS://A.example/x", "", "HTTPS://A.example/x"),
        ("/other", BASE, "https://news.example.org/other"),
        ("pic.jpg", BASE, "https://news.example.org/world/2025/07/pic.jpg"),
        ("../a", "https://h.example/b/c/d", "https://h.example/b/a"),
        ("//cdn.example.net/x.js", BASE, "https://cdn.example.net/x.js"),
        ("?page=2", BASE, "https://news.example.org/world/2025/07/story.html?page=2"),
        ("https://x.example/a", BASE, "https://x.example/a"),
    ],
)
def test_web_url_resolves_relative_urls_against_the_base(
    value: str, base: str, expected: str
) -> None:
    assert web_url(value, base) == expected
    assert is_web_url(value, base)


@pytest.mark.parametrize(
    "url,expected",
    [
        ("https://a.example/x", "https://a.example/x"),
        ("http://a.example", "http://a.example"),
        ("javascript:alert(1)", None),
        (" JaVaScRiPt:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example/x", None),
        ("/relative", None),
        ("https://", None),
        ("http://[::1", None),
        (None, None),
    ],
)
def test_web_url_as_pages_use_it(url: str | None, expected: str | None) -> None:
    """No base: the site shows stored URLs only when they are absolute http(s)."""
    assert web_url(url) == expected


def test_web_url_refuses_relative_urls_without_a_base() -> None:
    for value in ("/other", "pic.jpg", "//cdn.example.net/x.js", "?q=1", "#top"):
        assert web_url(value) is None, value


def test_https_image_url_upgrades_plain_http() -> None:
    assert https_image_url("http://h.example/i.png") == "https://h.example/i.png"
    assert https_image_url("HTTP://h.example/i.png") == "https://h.example/i.png"
    assert https_image_url("/i.png", "http://h.example/a") == "https://h.example/i.png"
    assert https_image_url("javascript:alert(1)") is None


# --- the named policies ---------------------------------------------------------------------


COMMENT_LINK_REL = 'rel="nofollow ugc noopener"'


def test_comment_policy_keeps_text_formatting_and_marks_links() -> None:
    out = COMMENT.clean(
        "<p>I <em>disagree</em>, <strong>strongly</strong>:<br>"
        '<a href="https://x.example/a" title="t" target="_blank">see this</a></p>'
        "<blockquote>quoted</blockquote><ul><li>one</li></ul><pre><code>x = 1</code></pre>"
    )
    assert out == (
        "<p>I <em>disagree</em>, <strong>strongly</strong>:<br>"
        f'<a href="https://x.example/a" {COMMENT_LINK_REL}>see this</a></p>'
        "<blockquote>quoted</blockquote><ul><li>one</li></ul><pre><code>x = 1</code></pre>"
    )


def test_comment_policy_drops_images_media_and_styles() -> None:
    out = COMMENT.clean(
        '<p style="color:red" class="x" onclick="x()">hi<img src="https://i.example/p.png">'
        '<iframe src="https://e.example"></iframe><script>alert(1)</script>'
        '<video src="https://v.example/v.mp4">v</video></p><h1>big</h1>'
    )
    assert out == "<p>hi</p>big"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "\x01javascript:alert(1)",
        "java&#x09;script:alert(1)",
        "&#106;avascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/path",
        "mailto:a@b.example",
    ],
)
def test_comment_policy_keeps_no_link_but_absolute_http(href: str) -> None:
    out = COMMENT.clean(f"<p><a href='{href}'>click</a></p>")
    assert "href" not in out and "click" in out
    assert "javascript" not in out.lower() and "data:" not in out


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_comment_policy_survives_the_xss_payloads(payload: str) -> None:
    out = COMMENT.clean(f"<p>before</p>{payload}<p>after</p>")
    assert "<script" not in out.lower() and "<img" not in out and "<svg" not in out
    assert not re.search(r"<[^>]+\s(?:on\w+|style|src)\s*=", out)
    for href in re.findall(r'href="([^"]*)"', out):
        assert href.startswith(("https://", "http://")), href


def test_email_policy_keeps_layout_tables_and_safe_inline_styles() -> None:
    fragment = (
        '<table role="presentation" cellpadding="0" cellspacing="0" width="100%"><tr>'
        '<td width="120" valign="top" style="padding-right:12px">'
        '<img src="https://i.example/1.jpg" width="120" alt="" style="display:block;border:0"></td>'
        '<td valign="top"><h3 style="font-size:16px;margin:0 0 4px"><a href="https://a.example/1" '
        'style="color:#0b4f9c">Pub: Title</a></h3></td></tr></table>'
    )
    out = EMAIL.clean(fragment)
    tree = lxml_html.fragment_fromstring(out, create_parent="div")
    assert tree.xpath("//table/@role") == ["presentation"]
    assert tree.xpath("//td[1]/@style") == ["padding-right:12px"]
    assert tree.xpath("//img/@src") == ["https://i.example/1.jpg"]
    assert tree.xpath("//a/@href") == ["https://a.example/1"]
    assert tree.xpath("//a/@rel") == []  # rel means nothing to a mail client


def test_email_policy_filters_styles_and_urls() -> None:
    out = EMAIL.clean(
        '<p style="position:fixed;top:0;color:red;background:url(https://t.example/px)">x</p>'
        '<a href="javascript:alert(1)" onclick="x()">y</a><form><input></form>'
        "<script>alert(1)</script><style>p{}</style>"
    )
    assert out == '<p style="color:red">x</p><a>y</a>'


def test_policies_are_distinct_and_named() -> None:
    policies = [ARTICLE_BODY, ARTICLE_PAGE, DIGEST, DIGEST_PAGE, EMAIL, COMMENT]
    assert len({p.name for p in policies}) == len(policies)
    assert "img" not in COMMENT.tags and "img" in ARTICLE_BODY.tags
    assert DIGEST_PAGE.tags == ARTICLE_PAGE.tags | {"section"}
    for policy in policies:
        out = policy.clean('<p onclick="x()">a<script>alert(1)</script></p>')
        assert "onclick" not in out and "<script" not in out, policy.name
