"""sanitize_html: the allowlist, URL policy, lazy images, captions once, XSS payloads."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from newsline.ingest.sanitize import (
    ALLOWED_TAGS,
    absolute_http_url,
    best_image_url,
    image_https_url,
    sanitize_html,
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
    assert image_https_url("http://h.example/i.png", BASE) == "https://h.example/i.png"


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
        assert isinstance(el.tag, str) and el.tag in ALLOWED_TAGS, el.tag
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
