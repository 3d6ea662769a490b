"""The reader's site in a real browser (issue 12): stories grouped, the broadsheet at desktop
widths, item pages without repeats, axe-core on every page type and Lighthouse on the main
ones, at 375 and 1300 px, light and dark.

axe-core and Lighthouse are npm packages that ``scripts/setup --test`` installs into
``.npm-tools/`` (gitignored); without node or them, those tests skip and say why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from newsline.testing import lighthouse
from tests.support import PROJECT_ROOT
from tests.support.browser import AXE, HUMAN_UA, axe_violations, newsline_serve
from tests.support.ports import free_port
from tests.support.webdata import NOW, add_item

pytestmark = pytest.mark.browser

CONFIG = """\
database_url = "sqlite:///{db}"

[web]
base_url = "{base}"

[[channels]]
slug = "news"
display_name = "The Harbor Daily"
hometown = "Remer,MN"
timezone = "America/Chicago"
"""

PUBLICATIONS = [
    ("harbor", "Harbor Gazette"),
    ("valley", "Valley Ledger"),
    ("coast", "Coast Courier"),
    ("ridge", "Ridge Record"),
    ("lake", "Lake Herald"),
    ("plains", "Plains Post"),
    ("river", "River Times"),
    ("summit", "Summit Sentinel"),
]
# Our own invented headlines: (story, headline) with stories covered by 1-4 publications.
EVENTS = [
    "Harbour board approves a longer pier after a year of debate",
    "Lighthouse keeper retires after forty winters on the point",
    "Ferry timetable changes as the river runs low",
    "Market square to get trees, benches and a fountain",
    "School robotics team heads to the state final",
    "Snowplough budget doubles after the long winter",
    "New bakery opens where the old post office stood",
    "Library extends opening hours for the exam season",
    "County fair returns with a bigger livestock show",
    "Volunteers count migrating geese on the lake",
    "Bridge repairs close the east lane for two weeks",
    "Council weighs a new bus line to the hospital",
    "Fishing fleet reports its best autumn in a decade",
    "Museum opens a wing for the town's shipbuilders",
    "Wind farm plan goes to a public hearing in March",
    "Storm knocks out power to three hundred homes",
    "Rail station gets a ramp and a heated waiting room",
    "Farmers market moves indoors for the winter",
    "Clinic hires two nurses after a long search",
    "Students plant a thousand trees along the river",
    "Mill restoration finds a date stone from 1852",
    "Police add bicycle patrols on the waterfront",
    "Solar panels go up on the school gym roof",
    "Trade fair draws record crowds to the port",
]
COVERAGE = [4, 1, 3, 1, 2, 1, 1, 2, 1, 1, 3, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 2, 1]
ANGLES = ["", "What it means: ", "Residents react: ", "Explainer: "]
CAPTION = "The old pier at dawn, seen from the breakwater. Photo: Ann Writer"


def _seed(settings: Any, images: str) -> dict[str, Any]:
    """Publications, stories of 1-4 items, a near-duplicate, a digest; what the tests visit."""
    from newsline.db.channels import sync_channels
    from newsline.db.engine import session_scope
    from newsline.db.models import ItemHashtag, Publication, Story

    found: dict[str, Any] = {}
    with session_scope(settings.database_url) as session:
        channel = sync_channels(session, settings)["news"]
        pubs = []
        for tag, name in PUBLICATIONS:
            pub = Publication(
                tag=tag, name=name, home_url=f"https://{tag}.example.org", republish="full"
            )
            session.add(pub)
            pubs.append(pub)
        session.flush()
        sync_channels(session, settings)
        hashtags = ["politics", "society", "economy", "science", "outdoors"]
        minute = 0
        for n, (event, count) in enumerate(zip(EVENTS, COVERAGE, strict=True)):
            story = Story(key=f"e{n}", title=event, item_count=count, publication_count=count)
            session.add(story)
            session.flush()
            for k in range(count):
                pub = pubs[(n + k * 3) % len(pubs)]
                minute += 3
                key = f"{pub.tag}-{n}-{k}"
                item = add_item(
                    session,
                    pub,
                    key,
                    title=ANGLES[k % len(ANGLES)] + event if k else event,
                    sort_at=NOW - timedelta(minutes=minute),
                    image_url=f"{images}/{n % 12}.jpg" if k == 0 and n % 3 == 0 else None,
                    teaser=f"{event}. Our reporter looked at what changes, who pays and when.",
                    body_html="".join(
                        f"<p>Paragraph {p} on {event.lower()}: the details as reported.</p>"
                        for p in range(4)
                    ),
                    body_text="\n\n".join(
                        f"Paragraph {p} on {event.lower()}: the details as reported."
                        for p in range(4)
                    ),
                    summary=f"In short: {event.lower()}; the work and its cost, in two lines.",
                    story_id=story.id,
                )
                session.add(
                    ItemHashtag(
                        item_id=item.id, channel_id=channel.id, hashtag=hashtags[n % 5], rank=0
                    )
                )
                if n == 0 and k == 0:
                    found["pier"] = (pub.tag, key, story.id)
                    item.image_url = f"{images}/harbour-pier-1024x576.jpg"
                    item.image_caption = CAPTION
                    item.body_html = (
                        f'<figure><img src="{images}/harbour-pier-640x360.jpg" alt="">'
                        f"<figcaption>{CAPTION}</figcaption></figure>"
                        + item.body_html
                        + f"<p>{CAPTION}</p>"
                    )
            if n == 2:  # a stored near-duplicate of the ferry story's first item
                pub = pubs[(n + 5) % len(pubs)]
                copy = add_item(
                    session,
                    pub,
                    f"{pub.tag}-copy",
                    title=event,
                    sort_at=NOW - timedelta(minutes=minute - 1),
                    story_id=story.id,
                )
                found["copy_title"] = copy.title
        own = session.query(Publication).filter_by(tag=settings.channels[0].own_tag).one()
        digest = add_item(
            session,
            own,
            "the-digest-1",
            title="The Digest, 11/30/2026 @1000AM, CST",
            content_source="digest",
            url=f"{settings.web.base_url}/news/topic/{own.tag}/the-digest-1",
            canonical_url=None,
            image_url=None,
            summary="The pier vote leads; the ferry changes its times.",
            body_html=(
                "<section><h2>#politics</h2><article><h3><a href='https://harbor.example.org/'>"
                "Harbor Gazette: Harbour board approves a longer pier</a></h3>"
                "<p>The board voted for the longer design.</p></article></section>"
            ),
            sort_at=NOW - timedelta(minutes=1),
        )
        found["digest"] = (own.tag, digest.slug)
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`newsline serve` on a seeded SQLite file: 24 stories from 8 publications."""
    from newsline.config import load_settings
    from newsline.db.engine import dispose_all
    from newsline.db.migrate import upgrade

    root = tmp_path_factory.mktemp("site12")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = root / "newsline.toml"
    config.write_text(CONFIG.format(db=root / "site.db", base=base), encoding="utf-8")
    settings = load_settings(config)
    upgrade(settings.database_url)
    # Publishers' pictures from a host that does not answer: the proxy's placeholders show.
    found = _seed(settings, "https://images.invalid/pictures")
    dispose_all()
    with newsline_serve(config, port, workers=2, log=root / "serve.log"):
        found["base"] = base
        tag, slug, story = found["pier"]
        own, digest = found["digest"]
        found["pages"] = {
            "front": "/news/newsline",
            "hashtag": "/news/tag/politics",
            "publication": "/news/solo/harbor",
            "story": f"/news/story/{story}",
            "item": f"/news/topic/{tag}/{slug}",
            "digest list": f"/news/solo/{own}",
            "digest": f"/news/topic/{own}/{digest}",
            "search": "/news/search?q=pier+OR+ferry",
            "publications": "/news/publications",
            "api docs": "/docs",
            "not found": "/news/topic/harbor/nothing-here",
        }
        yield found


VIEWS = [(375, "light"), (375, "dark"), (1300, "light"), (1300, "dark")]


def _page(browser: Any, width: int, scheme: str) -> Any:
    context = browser.new_context(
        user_agent=HUMAN_UA,
        color_scheme=scheme,
        viewport={"width": width, "height": 800},
        bypass_csp=True,  # so that axe-core can be injected; the site itself never needs it
    )
    return context.new_page()


def _visible_headlines(page: Any) -> int:
    """Links to item pages whose box lies (partly) above the fold, on screen."""
    return int(
        page.evaluate(
            """() => [...document.querySelectorAll('main a[href*="/topic/"]')].filter(a => {
                const r = a.getBoundingClientRect();
                const s = getComputedStyle(a);
                return r.width > 0 && r.height > 0 && r.top < innerHeight && r.bottom > 0
                    && s.visibility !== 'hidden';
            }).length"""
        )
    )


@pytest.mark.parametrize(("width", "scheme"), VIEWS)
def test_front_page_shows_each_story_once(
    site: dict[str, Any], browser: Any, width: int, scheme: str
) -> None:
    page = _page(browser, width, scheme)
    page.goto(site["base"] + "/news/newsline")
    # textContent: cards below the first screen are not rendered until scrolled near
    titles = page.locator("main .card .title a").all_text_contents()
    assert len(titles) == len(set(titles)) == len(EVENTS) + 1  # and the Digest
    also = page.locator("main .also a").all_text_contents()
    headlines = titles + [text.split(": ", 1)[1] for text in also]
    assert headlines.count(site["copy_title"]) == 1  # the near-duplicate never shows
    lead = page.locator("main .card").first
    assert lead.locator(".title a").inner_text() == EVENTS[0]  # the best covered story leads
    assert lead.locator("a.sources").inner_text().startswith("4 sources")
    lead.locator("a.sources").click()
    page.wait_for_url("**/news/story/*")
    items = page.locator("main .card .title a").all_text_contents()
    assert len(items) == 4 and items[0] == EVENTS[0]
    times = page.locator("main .card time").evaluate_all("ts => ts.map(t => t.dateTime)")
    assert times == sorted(times, reverse=True)  # newest first
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_broadsheet_at_desktop_single_column_on_mobile(
    site: dict[str, Any], browser: Any, scheme: str
) -> None:
    page = _page(browser, 1300, scheme)
    page.goto(site["base"] + "/news/newsline")
    count = _visible_headlines(page)
    assert count >= 15, f"{count} headlines above the fold at 1300x800"
    columns = page.evaluate(
        "new Set([...document.querySelectorAll('main .card')].slice(0, 6)"
        ".map(c => Math.round(c.getBoundingClientRect().left))).size"
    )
    assert columns >= 3
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    lefts = page.evaluate(
        "new Set([...document.querySelectorAll('main .card')]"
        ".map(c => Math.round(c.getBoundingClientRect().left))).size"
    )
    assert lefts == 1
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.context.close()


@pytest.mark.parametrize(("width", "scheme"), VIEWS)
def test_item_page_without_repeats_and_back_returns(
    site: dict[str, Any], browser: Any, width: int, scheme: str
) -> None:
    page = _page(browser, width, scheme)
    page.goto(site["base"] + site["pages"]["story"])
    page.locator("main .card .title a").first.click()
    page.wait_for_url("**/topic/**")
    text = page.locator("main").inner_text()
    assert text.count(CAPTION) == 1
    pictures = page.locator("main img").evaluate_all(
        "imgs => imgs.filter(i => i.closest('.hero, .body')).map(i => i.closest('.hero') ? 'hero' : 'body')"
    )
    assert pictures.count("hero") <= 1 and "body" not in pictures
    assert page.locator("section.related h2").first.inner_text().lower() == "related coverage"
    assert page.locator("aside.summary").count() == 1  # this summary is not the lead
    page.locator(".back a").click()
    page.wait_for_url("**/news/story/*")  # back where the reader came from
    page.context.close()


def test_share_on_desktop_raises_no_error(site: dict[str, Any], browser: Any) -> None:
    page = _page(browser, 1300, "light")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(site["base"] + site["pages"]["item"])
    page.locator("[data-share]").click()
    page.wait_for_timeout(300)
    assert errors == []
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1300])
def test_axe_finds_no_violation_on_any_page_type(
    site: dict[str, Any], browser: Any, width: int, scheme: str
) -> None:
    if not AXE.exists():
        pytest.skip("axe-core not installed: run scripts/setup --test (needs node and npm)")
    page = _page(browser, width, scheme)
    found = {}
    for name, path in site["pages"].items():
        page.goto(site["base"] + path)
        violations = axe_violations(page)
        if violations:
            found[name] = violations
    page.context.close()
    assert found == {}, json.dumps(found, indent=1)


LIGHTHOUSE_PAGES = ["front", "item", "story", "digest"]


@pytest.mark.parametrize("desktop", [False, True], ids=["mobile", "desktop"])
def test_lighthouse_scores_at_least_95(site: dict[str, Any], desktop: bool, tmp_path: Path) -> None:
    reason = lighthouse.missing(PROJECT_ROOT)
    if reason:
        pytest.skip(reason)
    low, seen = {}, {}
    # All four pages in one Lighthouse process and browser (a cold context for each page).
    pages = [
        (site["base"] + site["pages"][name], tmp_path / f"{name}.json") for name in LIGHTHOUSE_PAGES
    ]
    reports = lighthouse.audit_pages(PROJECT_ROOT, pages, desktop=desktop)
    for name, report in zip(LIGHTHOUSE_PAGES, reports, strict=True):
        seen[name] = {**report.scores, "cls": report.cls, "failed": report.failed}
        # The performance score is timing: on a loaded machine it says more about the load
        # than about the page (tests hold no timing thresholds), so it is printed, not
        # asserted here (bench/lighthouse.py measures it); what the page controls (layout
        # shift, the other categories) is asserted.
        others = [c for c in lighthouse.CATEGORIES if c != "performance"]
        # A link text that says nothing ("more") fails the page even where the SEO score,
        # with no pager on this small site, would not show it.
        must_pass = {"link-text"} & set(report.failed)
        if any(report.scores[c] < 0.95 for c in others) or report.cls > 0.1 or must_pass:
            low[name] = seen[name]
    print(json.dumps(seen))
    assert low == {}, json.dumps(low, indent=1)


def test_skip_link_is_the_first_tab_stop(site: dict[str, Any], browser: Any) -> None:
    page = _page(browser, 1300, "light")
    page.goto(site["base"] + "/news/newsline")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip"
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["width"] > 40  # shown while focused
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside = page.evaluate("!!document.activeElement.closest('main')")
    assert inside  # the next tab stop is in the news, not the masthead
    page.context.close()
