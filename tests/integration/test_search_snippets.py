"""Search results read like a news site's: a snippet is the matching sentence(s) of the
body, never the headline or the byline again, never a web address (a Digest's text lists
its sources' URLs), with the matches marked and everything else escaped. Through the real
app on a real database (the search page and the API)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from selectolax.lexbor import LexborHTMLParser

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import Publication
from newsline.publish.digest import run_digest
from newsline.web.app import create_app
from tests.support.digest_seed import Seeder
from tests.support.webdata import add_item

pytestmark = pytest.mark.postgres

HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
SLOT = datetime(2025, 7, 25, 15, 30, tzinfo=UTC)
TITLE = "Schools shut for the day as Storm Ilsa passes"
# What extraction keeps from some pages: headline, standfirst and byline run into the text.
STORM_BODY = (
    f"{TITLE} No serious injuries were reported, emergency services said. "
    "By Beth Ainslie November 30, 2026 14:42 UTC "
    "Schools in Elmsford and two neighbouring towns stayed closed for the day, the county "
    "said. Crews cleared fallen trees from the valley road by noon. Filed under: weather"
)
HOSTILE_BODY = (
    "Harbour notes <script>alert('s')</script> and <b onmouseover=alert(1)>bold</b> words "
    "about the harbour wall.\nA stray \x03 end and \x02 start marker near the harbour."
)


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> tuple[TestClient, Settings]:
    settings = make_settings()
    seed = Seeder(settings)
    story = seed.story(2)
    seed.item("alpha", SLOT - timedelta(minutes=20), story_id=story, title="Dam repairs finish")
    seed.item("beta", SLOT - timedelta(minutes=10), story_id=story, title="Dam reopens to traffic")
    seed.item("gamma", SLOT - timedelta(minutes=5), hashtag="sports", title="League final set")
    assert run_digest(settings, "news", at=SLOT).status == "published"
    seed.publication("wire", "Valley Wire")
    with session_scope(settings.database_url) as session:
        wire = session.query(Publication).filter_by(tag="wire").one()
        add_item(session, wire, "storm", title=TITLE, author="Beth Ainslie", body_text=STORM_BODY)
        add_item(session, wire, "hostile", title="Notes", author=None, body_text=HOSTILE_BODY)
    return TestClient(create_app(settings), headers=HUMAN), settings


def cards(client: TestClient, q: str) -> list[tuple[str, str, str]]:
    """(title text, snippet text, snippet inner HTML) of each result card for `q`."""
    response = client.get("/news/search", params={"q": q})
    assert response.status_code == 200
    out = []
    for card in LexborHTMLParser(response.text).css(".card"):
        title = card.css_first(".title")
        snippet = card.css_first(".snippet")
        out.append(
            (
                title.text(deep=True).strip() if title else "",
                snippet.text(deep=True).strip() if snippet else "",
                (snippet.html or "") if snippet else "",
            )
        )
    return out


def snippet_for(client: TestClient, q: str, title_part: str) -> tuple[str, str]:
    found = [(text, html) for title, text, html in cards(client, q) if title_part in title]
    assert found, (q, title_part, cards(client, q))
    return found[0]


def test_a_snippet_is_the_matching_sentence_without_headline_or_byline(
    site: tuple[TestClient, Settings],
) -> None:
    client, _ = site
    text, html = snippet_for(client, "Elmsford", "Storm Ilsa")
    assert text.startswith("Schools in Elmsford and two neighbouring towns"), text
    assert "<mark>Elmsford</mark>" in html
    assert "Beth Ainslie" not in text and "2026" not in text and "UTC" not in text
    assert "Filed under" not in text
    # A match in the headline alone: the body's opening, not the headline again.
    text, _ = snippet_for(client, "Ilsa", "Storm Ilsa")
    assert not text.startswith("Schools shut"), text
    assert text.startswith("No serious injuries were reported"), text
    assert "Beth Ainslie" not in text


def test_digest_results_show_no_addresses_title_or_rules(
    site: tuple[TestClient, Settings],
) -> None:
    client, _ = site
    found = [(title, text) for title, text, _ in cards(client, "dam") if "Digest" in title]
    assert found, cards(client, "dam")
    for title, text in found:
        assert text, title
        assert "http" not in text and "://" not in text and ".example" not in text, text
        assert "===" not in text and "#politics" not in text, text
        assert not text.startswith(title), text
        assert re.search(r"\bDam\b", text), text


def test_hostile_text_stays_inert_and_marks_stay_balanced(
    site: tuple[TestClient, Settings],
) -> None:
    client, _ = site
    _, html = snippet_for(client, "harbour", "Notes")
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "&lt;b onmouseover=alert(1)&gt;" in html  # shown as text, not a tag
    tags = re.findall(r"</?[a-z]+", html)
    assert set(tags) <= {"<p", "</p", "<mark", "</mark"}, tags
    assert html.count("<mark>") == html.count("</mark>") >= 1
    assert re.search(r"<mark>[^<]*<mark>", html) is None  # never nested
    assert "\x02" not in html and "\x03" not in html


def test_the_api_gives_the_same_snippets(site: tuple[TestClient, Settings]) -> None:
    client, _ = site
    hits: list[dict[str, Any]] = client.get(
        "/api/v1/channels/news/search", params={"q": "Elmsford"}
    ).json()["items"]
    assert len(hits) == 1
    assert hits[0]["snippet_html"].startswith("Schools in <mark>Elmsford</mark>")
    digest = [
        h
        for h in client.get("/api/v1/channels/news/search", params={"q": "dam"}).json()["items"]
        if "Digest" in h["title"]
    ]
    assert digest and all("http" not in h["snippet_html"] for h in digest)
