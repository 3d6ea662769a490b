"""Unpublishing end to end: ``newsline items unpublish`` takes an item off every page,
list, feed, sitemap, API answer, search and the next Digest; its page answers 410; a feed
showing the item again does not bring it back; ``items republish`` restores it all."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsline.cli import app as cli
from newsline.community.audit import entries
from newsline.db.engine import session_scope
from newsline.db.models import Feed, Item
from newsline.ingest.feeds import parse_feed
from newsline.ingest.store import FeedHeaders, store_feed
from newsline.publish.editorial import preview_digest
from newsline.web.app import create_app
from tests.support.webdata import Seeded, seed

pytestmark = pytest.mark.postgres

TITLE = "Item harbor-0"
PAGE = "/{channel}/topic/harbor/harbor-0"
WORD = "narwhal"


@pytest.fixture
def settings(make_settings: Any) -> Any:
    # No render cache: each request sees the database as it is now.
    return make_settings(web={"base_url": "https://news.example.net", "render_cache_seconds": 0})


@pytest.fixture
def seeded(settings: Any) -> Seeded:
    data = seed(settings)
    with session_scope(settings.database_url) as session:
        item = session.get(Item, data.items["harbor-0"])
        assert item is not None
        item.body_text += f" The {WORD} was sighted."  # a word only this item has
    return data


@pytest.fixture
def config(settings: Any, tmp_path: Path) -> Path:
    path = tmp_path / "newsline.toml"
    path.write_text(f'database_url = "{settings.database_url}"\n', encoding="utf-8")
    return path


def run(config: Path, *args: str) -> str:
    """The command's output (its report on stderr, data on stdout); it must succeed."""
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def sitemap_locations(client: TestClient, channel: str) -> set[str]:
    """Every page path the channel's sitemap names, following a sitemap index."""
    todo, seen, pages = [f"/{channel}/sitemap.xml"], set(), set()
    while todo:
        path = todo.pop()
        seen.add(path)
        text = client.get(path).text
        for loc in re.findall(r"<loc>([^<]+)</loc>", text):
            local = loc.removeprefix("https://news.example.net")
            if "<sitemapindex" in text:
                if local not in seen:
                    todo.append(local)
            else:
                pages.add(local)
    return pages


def everywhere(client: TestClient, settings: Any, item_id: int) -> dict[str, bool]:
    """Where the item shows: True per place it is found."""
    channel = settings.channels[0].slug
    found: dict[str, bool] = {}
    found["front page"] = TITLE in client.get(f"/{channel}").text
    found["publication page"] = TITLE in client.get(f"/{channel}/solo/harbor").text
    found["hashtag page"] = TITLE in client.get(f"/{channel}/tag/politics").text
    for name in ("feed.xml", "atom.xml"):
        parsed = feedparser.parse(client.get(f"/{channel}/{name}").content)
        found[name] = TITLE in {e.title for e in parsed.entries}
    feed_json = client.get(f"/{channel}/feed.json").json()
    found["feed.json"] = TITLE in {i.get("title") for i in feed_json["items"]}
    harbor = feedparser.parse(client.get(f"/{channel}/solo/harbor/feed.xml").content)
    found["publication feed"] = TITLE in {e.title for e in harbor.entries}
    found["sitemap"] = PAGE.format(channel=channel) in sitemap_locations(client, channel)
    api = client.get(f"/api/v1/channels/{channel}/items", params={"limit": 100}).json()
    found["api list"] = item_id in {i["id"] for i in api["items"]}
    found["api item"] = client.get(f"/api/v1/channels/{channel}/items/{item_id}").status_code == 200
    search = client.get(f"/{channel}/search", params={"q": WORD}).text
    found["search page"] = PAGE.format(channel=channel) + '"' in search
    api_search = client.get(f"/api/v1/channels/{channel}/search", params={"q": WORD})
    found["api search"] = item_id in {i["id"] for i in api_search.json()["items"]}
    result = preview_digest(settings, channel)
    assert result.composed is not None
    found["next digest"] = any(item_id in e.item_ids for e in result.composed.entries)
    return found


def test_unpublish_takes_the_item_off_everything_and_republish_restores_it(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    item_id = seeded.items["harbor-0"]
    channel = settings.channels[0].slug
    client = TestClient(create_app(settings))
    before = everywhere(client, settings, item_id)
    # The sitemap names only pages whose canonical address is ours (not a publisher's
    # article): checked with a Digest below.
    before.pop("sitemap")
    assert all(before.values()), sorted(k for k, v in before.items() if not v)  # it can fail
    assert client.get(PAGE.format(channel=channel)).status_code == 200

    out = run(config, "items", "unpublish", str(item_id), "--reason", "legal request")
    assert "unpublished" in out
    after = everywhere(client, settings, item_id)
    assert not any(after.values()), after
    gone = client.get(PAGE.format(channel=channel))
    assert gone.status_code == 410
    assert "withdrawn" in gone.text and TITLE not in gone.text
    # Its API answer says the same as its page: gone, not never there.
    api_gone = client.get(f"/api/v1/channels/{channel}/items/{item_id}")
    assert api_gone.status_code == 410 and TITLE not in api_gone.text
    assert "withdrawn" in api_gone.json()["detail"]
    assert client.get(f"/api/v1/channels/{channel}/items/999999").status_code == 404
    # A page that never existed is still a plain 404.
    assert client.get(f"/{channel}/topic/harbor/no-such-item").status_code == 404
    # The other items are untouched.
    assert client.get(f"/{channel}/topic/harbor/harbor-1").status_code == 200

    with session_scope(settings.database_url) as session:
        (entry,) = entries(session, action="item.unpublish")
        assert entry.target_id == str(item_id) and entry.reason == "legal request"
        assert entry.actor.startswith("cli:")

    out = run(config, "items", "republish", str(item_id))
    assert "republished" in out
    again = everywhere(client, settings, item_id)
    again.pop("sitemap")
    assert all(again.values()), again
    assert client.get(PAGE.format(channel=channel)).status_code == 200
    listed = CliRunner().invoke(
        cli, ["--config", str(config), "audit", "--action", "item.", "--json"]
    )
    log = json.loads(listed.stdout)
    assert [e["action"] for e in log] == ["item.republish", "item.unpublish"]


def test_unpublishing_twice_or_a_missing_item_is_one_clear_line(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    run(config, "items", "unpublish", str(seeded.items["harbor-1"]))
    for args, expected in (
        (["items", "unpublish", str(seeded.items["harbor-1"])], "unpublished already"),
        (["items", "unpublish", "999999"], "no item with id 999999"),
        (["items", "republish", str(seeded.items["harbor-2"])], "is ready, not unpublished"),
        (["items", "unpublish", str(seeded.items["harbor-pending"])], "is pending, not ready"),
    ):
        result = CliRunner().invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 1
        assert expected in result.stderr, result.stderr
    with session_scope(settings.database_url) as session:
        assert len(entries(session, action="item.unpublish")) == 1  # failures write nothing


def test_the_feed_showing_the_item_again_does_not_bring_it_back(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    item_id = seeded.items["harbor-0"]
    run(config, "items", "unpublish", str(item_id))
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None
        rss = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>Harbor</title>'
            "<link>https://harbor.example.org/</link>"
            f"<item><title>{item.title}</title><link>{item.url}</link>"
            f"<guid>{item.guid}</guid></item></channel></rss>"
        ).encode()
        feed = session.scalar(select(Feed).where(Feed.url == "https://harbor.example.org/rss"))
        assert feed is not None
        feed_id = feed.id
    parsed = parse_feed(rss, "https://harbor.example.org/rss", "application/rss+xml")
    with session_scope(settings.database_url) as session:
        assert (
            store_feed(session, feed_id, parsed, FeedHeaders(200, None, None), settings.fetch) == 0
        )
    with session_scope(settings.database_url) as session:
        item = session.get(Item, item_id)
        assert item is not None and item.state == "unpublished"
        assert (
            session.scalar(select(Item.id).where(Item.title == item.title, Item.id != item_id))
            is None
        )
    client = TestClient(create_app(settings))
    assert client.get(PAGE.format(channel=settings.channels[0].slug)).status_code == 410


def test_an_unpublished_item_stays_out_of_a_digest_published_later(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    item_id = seeded.items["valley-0"]
    run(config, "items", "unpublish", str(item_id))
    out = run(config, "digest", "run")
    assert "published" in out
    with session_scope(settings.database_url) as session:
        from newsline.db.models import Digest

        (digest,) = session.scalars(select(Digest)).all()
        shown = {i for e in digest.entries for i in e["item_ids"]}
    assert shown and item_id not in shown
    assert re.search(r"\d+ entries", out)


def test_an_unpublished_digest_leaves_the_sitemap_and_its_feeds(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    from newsline.db.models import Digest

    run(config, "digest", "run")
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        item = session.get(Item, digest.item_id)
        assert item is not None and item.slug is not None
        item_id, slug = item.id, item.slug
    channel = settings.channels[0]
    page = f"/{channel.slug}/topic/{channel.own_tag}/{slug}"
    client = TestClient(create_app(settings))
    digest_feed = f"/{channel.slug}/digest/feed.xml"
    assert client.get(page).status_code == 200
    assert page in sitemap_locations(client, channel.slug)
    assert slug in client.get(digest_feed).text
    run(config, "items", "unpublish", str(item_id), "--reason", "sent by mistake")
    assert client.get(page).status_code == 410
    assert page not in sitemap_locations(client, channel.slug)
    assert slug not in client.get(digest_feed).text


def test_a_past_digest_drops_the_entries_of_items_unpublished_later(
    settings: Any, seeded: Seeded, config: Path
) -> None:
    from newsline.db.models import Digest

    run(config, "digest", "run")
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        assert len(digest.entries) >= 2
        withdrawn, kept = digest.entries[0], digest.entries[-1]
        page_item = session.get(Item, digest.item_id)
        assert page_item is not None
        slug, body = page_item.slug, page_item.body_html
        lead = session.get(Item, withdrawn["item_id"])
        other = session.get(Item, kept["item_id"])
        assert lead is not None and other is not None
        gone_href, kept_href = f'href="{lead.url}"', f'href="{other.url}"'
        gone_title, kept_title = f": {lead.title}<", f": {other.title}<"
    channel = settings.channels[0]
    page = f"/{channel.slug}/topic/{channel.own_tag}/{slug}"
    feeds = [f"/{channel.slug}/digest/{name}" for name in ("feed.xml", "atom.xml", "feed.json")]
    feeds.append(f"/{channel.slug}/solo/{channel.own_tag}/feed.xml")  # its publication's feed
    client = TestClient(create_app(settings))

    def shown(text: str) -> tuple[bool, bool, bool, bool]:
        return (gone_href in text, gone_title in text, kept_href in text, kept_title in text)

    def feed_text(path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200
        if path.endswith(".json"):
            return "".join(e.get("content_html", "") for e in response.json()["items"])
        return "".join(
            c.value for e in feedparser.parse(response.content).entries for c in e.content
        )

    assert shown(client.get(page).text) == (True, True, True, True)  # it can fail
    for path in feeds:
        assert shown(feed_text(path)) == (True, True, True, True), path

    run(config, "items", "unpublish", str(withdrawn["item_id"]))
    # The withdrawn entry is gone from the page and every feed; the others stay linked.
    response = client.get(page)
    assert response.status_code == 200
    assert shown(response.text) == (False, False, True, True)
    for path in feeds:
        assert shown(feed_text(path)) == (False, False, True, True), path
    with session_scope(settings.database_url) as session:
        stored = session.get(Item, digest.item_id)
        assert stored is not None and stored.body_html == body  # as published, kept

    run(config, "items", "republish", str(withdrawn["item_id"]))
    assert shown(client.get(page).text) == (True, True, True, True)


def test_resending_a_past_digest_leaves_out_items_unpublished_since(
    make_settings: Any, smtp: Any
) -> None:
    """`newsline digest resend` and the console's resend (both resend_digest) mail the Digest
    as its page shows it now: an entry of a withdrawn item goes, the others stay."""
    from newsline.community import subscribers
    from newsline.community.audit import Actor
    from newsline.db.models import Digest
    from newsline.publish import editorial
    from newsline.publish.digest import run_digest
    from tests.support.mail import body

    settings = make_settings(
        web={"base_url": "https://news.example.net", "render_cache_seconds": 0},
        email={
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example.net",
        },
    )
    seed(settings)
    channel = settings.channels[0].slug
    assert run_digest(settings, channel).status == "published"
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        assert len(digest.entries) >= 2
        gone, kept = digest.entries[0], digest.entries[-1]
        sub, _ = subscribers.subscribe(session, digest.channel_id, "reader@example.org")
        assert subscribers.confirm(session, sub.token) is not None
        editorial.set_channel_setting(
            session, settings, Actor("editor@example.org"), channel, "display_name", "Harbor Wire"
        )
        digest_id = digest.id

    def resend() -> str:
        report = editorial.resend_digest(settings, Actor("editor@example.org"), digest_id)
        assert report.sent == ["reader@example.org"]
        msg = smtp.to("reader@example.org")[-1]
        assert msg["From"] == "Harbor Wire <digest@news.example.net>"  # the console's name
        return body(msg, "html") + body(msg, "plain")

    # Each entry's headline is "Publication: Title", linked (the overview, written from the
    # entries when published, is the editors' to rewrite: it is not checked here).
    gone_headline = f"{gone['publication']}: {gone['title']}"
    kept_headline = f"{kept['publication']}: {kept['title']}"
    mail = resend()
    assert gone_headline in mail and gone["url"] in mail  # it can fail
    assert kept_headline in mail and kept["url"] in mail
    with session_scope(settings.database_url) as session:
        editorial.unpublish(session, Actor("editor@example.org"), gone["item_id"])
    mail = resend()
    assert gone_headline not in mail and gone["url"] not in mail
    assert kept_headline in mail and kept["url"] in mail
    with session_scope(settings.database_url) as session:
        stored = session.get(Digest, digest_id)
        assert stored is not None and gone["item_id"] in {e["item_id"] for e in stored.entries}


def test_a_past_digests_automatic_overview_drops_the_lines_of_items_unpublished_later(
    make_settings: Any, smtp: Any
) -> None:
    """The overview (the page's Overview box, the Digest feeds' summaries, the mail) follows
    its entries: the line of a withdrawn entry goes, republishing brings it back, and an
    overview an editor wrote stays as written."""
    import lxml.html

    from newsline.community import subscribers
    from newsline.community.audit import Actor
    from newsline.db.models import Digest
    from newsline.publish import editorial
    from newsline.publish.digest import run_digest
    from tests.support.mail import body

    settings = make_settings(
        web={"base_url": "https://news.example.net", "render_cache_seconds": 0},
        email={
            "enabled": True,
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "digest@news.example.net",
        },
    )
    seed(settings)
    channel = settings.channels[0]
    editor = Actor("editor@example.org")
    assert run_digest(settings, channel.slug).status == "published"
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        page_item = session.get(Item, digest.item_id)
        assert page_item is not None and page_item.summary
        lines = page_item.summary.split("\n")
        titles = {e["item_id"]: " ".join(e["title"].split()) for e in digest.entries}
        links = {" ".join(e["title"].split()): e["url"] for e in digest.entries}
        # The withdrawn entry and a kept one, each with its own overview line.
        named = [
            (i, line)
            for i, title in titles.items()
            for line in lines
            if line == f"{title}." or line.startswith(f"{title} — ")
        ]
        assert len(named) >= 2, (lines, titles)
        # The withdrawn one opens the overview, so it is in the teaser lists show too.
        named.sort(key=lambda pair: lines.index(pair[1]))
        (gone_id, gone_line), (_, kept_line) = named[0], named[-1]
        sub, _ = subscribers.subscribe(session, digest.channel_id, "reader@example.org")
        assert subscribers.confirm(session, sub.token) is not None
        digest_id, slug = digest.id, page_item.slug
    page = f"/{channel.slug}/topic/{channel.own_tag}/{slug}"
    client = TestClient(create_app(settings))

    def overview_box() -> str:
        response = client.get(page)
        assert response.status_code == 200
        (box,) = lxml.html.fromstring(response.text).xpath("//aside[@class='summary']")
        return "\n".join(line.text_content() for line in box.iter("p", "li"))

    def feed_summaries() -> list[str]:
        texts = []
        for name in ("feed.xml", "atom.xml"):
            parsed = feedparser.parse(client.get(f"/{channel.slug}/digest/{name}").content)
            texts.append(parsed.entries[0].summary)
        item = client.get(f"/{channel.slug}/digest/feed.json").json()["items"][0]
        texts.append(item.get("summary", "") + item.get("content_html", ""))
        channel_feed = feedparser.parse(client.get(f"/{channel.slug}/feed.xml").content)
        texts.extend(e.summary for e in channel_feed.entries if slug in e.link)
        return texts

    def mailed() -> str:
        report = editorial.resend_digest(settings, editor, digest_id)
        assert report.sent == ["reader@example.org"]
        return body(smtp.to("reader@example.org")[-1], "plain")

    def listed() -> dict[str, Any]:
        answer = client.get(f"/api/v1/channels/{channel.slug}/items", params={"limit": 100})
        (found,) = [i for i in answer.json()["items"] if i["url"].endswith(f"/{slug}")]
        return dict(found)

    def listed_teaser() -> str:
        return str(listed()["teaser"])  # the Digest's teaser, as lists and the API show it

    def api_texts() -> list[str]:
        found = listed()
        one = client.get(f"/api/v1/channels/{channel.slug}/items/{found['id']}").json()
        search = client.get(f"/api/v1/channels/{channel.slug}/search", params={"q": "Digest"})
        (hit,) = [h for h in search.json()["items"] if h["url"].endswith(f"/{slug}")]
        return [found["summary"], one["summary"], hit["summary"]]

    def named_everywhere(line: str, teaser: bool = True) -> list[bool]:
        head = line.split(" — ")[0]
        shown = [head in overview_box(), *(head in t for t in feed_summaries()), head in mailed()]
        shown += [head in t for t in api_texts()]
        return shown + ([head in listed_teaser()] if teaser else [])

    assert all(named_everywhere(gone_line)) and all(
        named_everywhere(kept_line, teaser=False)
    )  # it can fail

    def overview_links() -> dict[str, str]:
        (box,) = lxml.html.fromstring(client.get(page).text).xpath("//aside[@class='summary']")
        return {a.text_content(): a.get("href") for a in box.iter("a")}

    # Each line's headline links to its story, as the digest body does.
    assert overview_links() == {titles[i].rstrip(" .,;:—–-"): links[titles[i]] for i, _ in named}
    with session_scope(settings.database_url) as session:
        editorial.unpublish(session, editor, gone_id)
    still = named_everywhere(gone_line)
    assert not any(still), [n for n, shown in enumerate(still) if shown]
    assert gone_line.partition(" — ")[0] not in overview_links()
    listed_id = listed()["id"]
    one = client.get(f"/api/v1/channels/{channel.slug}/items/{listed_id}").json()
    assert gone_line.split(" — ")[0] not in one["body_html"]  # the API's Digest body too
    assert kept_line.split(" — ")[0] in one["body_html"]
    assert all(named_everywhere(kept_line, teaser=False))
    with session_scope(settings.database_url) as session:
        stored = session.get(Item, page_item.id)
        assert stored is not None and gone_line in (stored.summary or "")  # kept as published

    with session_scope(settings.database_url) as session:
        editorial.republish(session, editor, gone_id)
    assert all(named_everywhere(gone_line)) and all(named_everywhere(kept_line, teaser=False))

    # An overview an editor wrote is theirs: it stays as written, withdrawn names and all.
    written = f"Our pick: {gone_line.split(' — ')[0]}, and more."
    with session_scope(settings.database_url) as session:
        editorial.edit_overview(session, editor, digest_id, written)
        editorial.unpublish(session, editor, gone_id)
    assert all(named_everywhere(written))


def test_a_title_edit_leaves_the_overview_automatic_and_the_original_summary_kept(
    make_settings: Any,
) -> None:
    """Editing only a title is not writing the summary: a Digest whose title an editor
    changed keeps an automatic overview (a withdrawn entry's line still goes), and an item
    whose title, then summary, were edited gets its own summary back on revert."""
    from newsline.community.audit import Actor
    from newsline.db.models import Digest
    from newsline.publish import editorial
    from newsline.publish.digest import current_overview, run_digest

    settings = make_settings(web={"base_url": "https://news.example.net"})
    data = seed(settings)
    channel = settings.channels[0]
    editor = Actor("editor@example.org")
    assert run_digest(settings, channel.slug).status == "published"
    with session_scope(settings.database_url) as session:
        (digest,) = session.scalars(select(Digest)).all()
        page_id = digest.item_id
        assert page_id is not None
        overview = session.get(Item, page_id).summary or ""  # type: ignore[union-attr]
        entry = next(
            e
            for e in digest.entries
            if any(line.startswith(" ".join(e["title"].split())) for line in overview.split("\n"))
        )
        head = " ".join(entry["title"].split())
        editorial.edit(session, editor, page_id, title="The Digest, as the editor titles it")
        editorial.unpublish(session, editor, entry["item_id"])
    with session_scope(settings.database_url) as session:
        assert head in overview
        assert head not in current_overview(session, page_id, overview)

    item_id = data.items["valley-0"]
    with session_scope(settings.database_url) as session:
        original = session.get(Item, item_id).summary  # type: ignore[union-attr]
        editorial.edit(session, editor, item_id, title="A title the editor chose")
        editorial.edit(session, editor, item_id, summary="A summary the editor wrote.")
        editorial.revert_edit(session, editor, item_id)
    with session_scope(settings.database_url) as session:
        assert session.get(Item, item_id).summary == original  # type: ignore[union-attr]
