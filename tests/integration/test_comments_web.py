"""Comments through the web app: the API's interface, the plain forms, pages, feed, mail."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.config import Settings
from newsline.db.engine import engine_for
from newsline.db.models import Comment, Item, User
from newsline.web.app import create_app
from tests.support.forms import csrf_of
from tests.support.mail import Inbox
from tests.support.webdata import seed

pytestmark = pytest.mark.postgres

PASSWORD = "harbour lights at dusk 1987"
HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
#: Markdown-specific vectors, on top of the site's XSS corpus (tests/support/webdata.XSS).
HOSTILE = [
    "[click](javascript:alert('md'))",
    "[click](JaVaScRiPt:alert('md2'))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert('autolink')>",
    "![img](https://evil.example/x.png)",
    "<img src=x onerror=alert('raw')>",
    "<script>alert('raw script')</script>",
    '[a](https://ok.example/ "title" onmouseover="alert(1)")',
    "[a](vbscript:msgbox(1))",
    "`<script>alert('code')</script>`",
    "```\n<script>alert('fence')</script>\n```",
    "> <iframe src=javascript:alert(1)></iframe>",
    "[a](&#106;avascript:alert('entity'))",
    "*" * 5000 + "a" + "_" * 4000,
    "[" * 9000,
]
ALLOWED = {"p", "br", "a", "em", "strong", "b", "i", "blockquote", "code", "pre", "ul", "ol", "li"}


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name == "href":
                if not (value or "").startswith(("https://", "http://")):
                    self.problems.append(f"href={value}")
            elif name != "rel":
                self.problems.append(f"{tag}@{name}")


def not_inert(html: str) -> list[str]:
    """What in a comment's HTML could run or load anything: tags, attributes, link schemes."""
    parser = _Markup()
    parser.feed(html)
    return parser.problems


@dataclass
class Site:
    client: TestClient
    settings: Settings
    item_id: int
    item_path: str
    users: dict[str, int]


def _sign_in(client: TestClient, email: str) -> str:
    response = client.post("/api/v1/session", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


@pytest.fixture
def site(make_settings: Callable[..., Settings], smtp: Inbox) -> Iterator[Site]:
    settings = make_settings(
        email={"enabled": True, "port": smtp.port, "security": "none"},
        # Many comments from one author in a minute: the velocity signal would hold them.
        channels=[{"slug": "news", "display_name": "newsline", "comments": {"velocity_max": 1000}}],
    )
    seeded = seed(settings)
    engine = engine_for(settings.database_url)
    users = {}
    with Session(engine) as session, session.begin():
        for name, role in (("ann", "reader"), ("bob", "reader"), ("mo", "moderator")):
            user = accounts.create_user(
                session, f"{name}@example.org", PASSWORD, name.title(), role=role, verified=True
            )
            users[name] = user.id
        ann = session.get(User, users["ann"])
        assert ann is not None
        ann.notify_replies = True
    app = create_app(settings)
    with TestClient(app, headers=HUMAN, follow_redirects=False) as client:
        yield Site(client, settings, seeded.items["harbor-0"], "/news/topic/harbor/harbor-0", users)


def _api(site: Site) -> str:
    return f"/api/v1/channels/news/items/{site.item_id}/comments"


def test_the_interface_our_checks_use(site: Site) -> None:
    client = site.client
    # Anonymous: 401, whatever the token.
    assert client.post(_api(site), json={"body": "hello"}).status_code == 401
    token = _sign_in(client, "ann@example.org")
    # Signed in without the token: 403.
    refused = client.post(_api(site), json={"body": "hello"})
    assert refused.status_code == 403 and "detail" in refused.json()
    posted = client.post(
        _api(site), json={"body": "Hello *there*"}, headers={"X-CSRF-Token": token}
    )
    assert posted.status_code == 201, posted.text
    comment = posted.json()
    assert comment["body_html"] == "<p>Hello <em>there</em></p>" and comment["author"] == "Ann"
    reply = client.post(
        _api(site),
        json={"body": "Me again", "parent_id": comment["id"]},
        headers={"X-CSRF-Token": token},
    )
    assert reply.status_code == 201 and reply.json()["parent_id"] == comment["id"]
    client.cookies.clear()
    listed = client.get(_api(site))
    assert listed.status_code == 200
    rows = listed.json()["comments"]
    assert [(c["id"], c["parent_id"]) for c in rows] == [
        (comment["id"], None),
        (reply.json()["id"], comment["id"]),
    ]
    assert {"id", "parent_id", "author", "body_html", "created_at"} <= set(rows[0])
    page = client.get(site.item_path)
    assert page.status_code == 200
    assert "Hello <em>there</em>" in page.text and "Me again" in page.text
    assert '<a href="#comments">2 comments</a>' in page.text
    assert f'id="c{comment["id"]}"' in page.text
    front = client.get("/news/newsline")
    assert "2 comments</a>" in front.text


def test_cross_site_posts_are_refused_even_with_the_token(site: Site) -> None:
    token = _sign_in(site.client, "ann@example.org")
    refused = site.client.post(
        _api(site),
        json={"body": "forged"},
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    form = site.client.post(
        f"{site.item_path}/comments",
        data={"body": "forged", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert form.status_code == 403
    with Session(engine_for(site.settings.database_url)) as session:
        assert session.scalar(select(Comment.id)) is None


def test_another_users_comment_cannot_be_edited_or_deleted(site: Site) -> None:
    token = _sign_in(site.client, "ann@example.org")
    posted = site.client.post(_api(site), json={"body": "mine"}, headers={"X-CSRF-Token": token})
    comment_id = posted.json()["id"]
    site.client.cookies.clear()
    token = _sign_in(site.client, "bob@example.org")
    headers = {"X-CSRF-Token": token}
    one = f"{_api(site)}/{comment_id}"
    assert site.client.patch(one, json={"body": "pwned"}, headers=headers).status_code == 403
    assert site.client.delete(one, headers=headers).status_code == 403
    # The plain forms too.
    page = site.client.get(site.item_path).text
    form_token = csrf_of(page)
    edit = site.client.post(
        f"{site.item_path}/comments/{comment_id}/edit",
        data={"body": "pwned", "csrf_token": form_token},
    )
    assert edit.status_code == 403
    delete = site.client.post(
        f"{site.item_path}/comments/{comment_id}/delete", data={"csrf_token": form_token}
    )
    assert delete.status_code == 403
    # Bob may vote (once) and flag (once).
    vote = site.client.post(f"{one}/vote", headers=headers)
    assert vote.status_code == 200 and vote.json()["score"] == 1
    assert site.client.post(f"{one}/vote", headers=headers).json()["score"] == 1
    flag = site.client.post(f"{one}/flag", json={"reason": "off topic"}, headers=headers)
    assert flag.json() == {"flagged": True}
    with Session(engine_for(site.settings.database_url)) as session:
        stored = session.get(Comment, comment_id)
        assert stored is not None and stored.body == "mine" and stored.status == "published"


def test_plain_forms_without_javascript(site: Site) -> None:
    client = site.client
    _sign_in(client, "bob@example.org")
    page = client.get(site.item_path)
    token = csrf_of(page.text)
    assert 'name="body"' in page.text
    posted = client.post(
        f"{site.item_path}/comments", data={"body": "Plain *form*", "csrf_token": token}
    )
    assert posted.status_code == 303
    target = posted.headers["location"]
    match = re.fullmatch(r"/news/topic/harbor/harbor-0/comments/(\d+)#c(\d+)", target)
    assert match and match.group(1) == match.group(2)
    comment_id = int(match.group(1))
    permalink = client.get(target.split("#")[0])
    assert permalink.status_code == 200 and "Plain <em>form</em>" in permalink.text
    # A comment's page and the all-comments page each have one heading naming the item
    # (axe page-has-heading-one), linked back to it.
    item_title = client.get(site.item_path).text.split('<h1 class="headline">')[1]
    for path in (target.split("#")[0], f"{site.item_path}/comments"):
        headings = re.findall(r"<h1\b[^>]*>(.*?)</h1>", client.get(path).text, re.S)
        assert len(headings) == 1 and f'href="{site.item_path}"' in headings[0], path
        assert (
            re.sub(r"<[^>]+>", "", headings[0])
            .strip()
            .endswith(re.sub(r"<[^>]+>", "", item_title.split("</h1>")[0]).strip())
        )
    # Too long: refused with the text kept, so nothing is lost.
    long_body = "word " * 2500
    again = client.post(f"{site.item_path}/comments", data={"body": long_body, "csrf_token": token})
    assert again.status_code == 400 and "too long" in again.text
    assert long_body.strip()[:200] in again.text
    # Reply form page, then reply.
    reply_page = client.get(f"{site.item_path}/comments/{comment_id}/reply")
    assert reply_page.status_code == 200 and f'value="{comment_id}"' in reply_page.text
    reply = client.post(
        f"{site.item_path}/comments",
        data={"body": "A reply", "parent_id": str(comment_id), "csrf_token": token},
    )
    assert reply.status_code == 303
    edit = client.post(
        f"{site.item_path}/comments/{comment_id}/edit",
        data={"body": "Plain form, edited", "csrf_token": token},
    )
    assert edit.status_code == 303
    shown = client.get(site.item_path).text
    assert "Plain form, edited" in shown and "comment-edited" in shown
    delete = client.post(
        f"{site.item_path}/comments/{comment_id}/delete", data={"csrf_token": token}
    )
    assert delete.status_code == 303
    shown = client.get(site.item_path).text
    assert "Plain form, edited" not in shown and "[deleted]" in shown and "A reply" in shown
    # Signed out: no form, a link to sign in; forms redirect to the sign-in page.
    client.cookies.clear()
    anonymous = client.get(site.item_path).text
    assert 'name="body"' not in anonymous and "Sign in</a>" in anonymous


def test_hostile_bodies_render_inert(site: Site) -> None:
    from tests.support.webdata import XSS

    token = _sign_in(site.client, "ann@example.org")
    bodies = [*HOSTILE, XSS["title"], XSS["author"], XSS["caption"], XSS["body"]]
    with Session(engine_for(site.settings.database_url)) as session, session.begin():
        ann = session.get(User, site.users["ann"])
        assert ann is not None
    for body in bodies:
        response = site.client.post(
            _api(site), json={"body": body}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 201, (body[:40], response.text)
        assert not_inert(response.json()["body_html"]) == [], body[:60]
    site.client.cookies.clear()
    item_page = site.client.get(site.item_path).text
    assert item_page.count('<div class="comment-body">') == 10  # the first threads
    page = site.client.get(f"{site.item_path}/comments").text  # all of them
    assert f"All {len(bodies)} comments" in item_page
    bodies_html = re.findall(r'<div class="comment-body">(.*?)</div>\n', page, re.S)
    assert len(bodies_html) == len(bodies)
    assert [p for html in bodies_html for p in not_inert(html)] == []
    # Links keep the reader's words and get no weight and no handle on our page.
    links = re.findall(r"<a [^>]*>", "".join(bodies_html))
    assert links and all('rel="nofollow ugc noopener"' in a for a in links)


def test_comments_feed_and_reply_notification_with_one_click_unsubscribe(
    site: Site, smtp: Inbox
) -> None:
    token = _sign_in(site.client, "ann@example.org")
    first = site.client.post(
        _api(site), json={"body": "Who knows?"}, headers={"X-CSRF-Token": token}
    )
    site.client.cookies.clear()
    token = _sign_in(site.client, "bob@example.org")
    reply = site.client.post(
        _api(site),
        json={"body": "I do <b>know</b>", "parent_id": first.json()["id"]},
        headers={"X-CSRF-Token": token},
    )
    assert reply.status_code == 201
    mails = smtp.to("ann@example.org")
    assert len(mails) == 1
    mail = mails[0]
    text = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
    assert f"/comments/{reply.json()['id']}#c{reply.json()['id']}" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    path = unsubscribe.split("://", 1)[1].split("/", 1)[1]
    site.client.cookies.clear()
    shown = site.client.get("/" + path)  # a mail scanner following the link: only a button
    assert shown.status_code == 200 and "<form" in shown.text
    unknown = site.client.post("/" + path.split("?", 1)[0] + "?token=nosuchtoken")
    assert unknown.status_code == 404
    done = site.client.post("/" + path)
    assert done.status_code == 200
    with Session(engine_for(site.settings.database_url)) as session:
        ann = session.get(User, site.users["ann"])
        assert ann is not None and ann.notify_replies is False
    # Bob replying to himself or Ann replying again mails nobody now.
    feed = site.client.get(f"{site.item_path}/comments.xml")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith(
        "application/atom+xml"
    )
    root = ElementTree.fromstring(feed.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entries = root.findall("a:entry", ns)
    assert [e.findtext("a:author/a:name", namespaces=ns) for e in entries] == ["Bob", "Ann"]
    assert "&lt;b&gt;know&lt;/b&gt;" in (entries[0].findtext("a:content", namespaces=ns) or "")


def test_moderator_hides_and_the_author_sees_it_hidden(site: Site) -> None:
    token = _sign_in(site.client, "ann@example.org")
    posted = site.client.post(
        _api(site), json={"body": "Rude remark"}, headers={"X-CSRF-Token": token}
    )
    comment_id = posted.json()["id"]
    site.client.cookies.clear()
    token = _sign_in(site.client, "mo@example.org")
    acted = site.client.post(
        f"/api/v1/channels/news/moderation/comments/{comment_id}",
        json={"action": "hide", "reason": "insult"},
        headers={"X-CSRF-Token": token},
    )
    assert acted.status_code == 200, acted.text
    assert acted.json()["status"] == "hidden"
    site.client.cookies.clear()
    assert "Rude remark" not in site.client.get(site.item_path).text
    _sign_in(site.client, "ann@example.org")
    mine = site.client.get(site.item_path).text
    assert "Rude remark" in mine and "Hidden by a moderator" in mine
    with Session(engine_for(site.settings.database_url)) as session:
        assert session.scalar(select(Item.comment_count).where(Item.id == site.item_id)) == 0
    # A reader cannot moderate.
    token = csrf_of(mine)
    refused = site.client.post(
        f"/api/v1/channels/news/moderation/comments/{comment_id}",
        json={"action": "restore"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 403


def test_a_long_comment_in_another_script_fits_the_form(site: Site) -> None:
    _sign_in(site.client, "ann@example.org")
    token = csrf_of(site.client.get(site.item_path).text)
    body = "Пирс должен быть длиннее.\n" * 380  # ~9,900 characters, ~60 KB form-encoded
    posted = site.client.post(
        f"{site.item_path}/comments", data={"body": body, "csrf_token": token}
    )
    assert posted.status_code == 303, posted.text[:300]


def _comment_li(html: str, comment_id: int) -> str:
    found = re.search(rf'<li class="[^"]*" id="c{comment_id}".*?</li>', html, re.DOTALL)
    assert found is not None, comment_id
    return found.group(0)


def test_signed_in_readers_share_one_section_with_their_own_parts(site: Site) -> None:
    """Signed-in readers get the section rendered once per version, their own comments,
    votes and token put in: each sees their own, never another reader's."""
    client = site.client
    tokens, cookies, ids = {}, {}, {}
    for name in ("ann", "bob"):
        client.cookies.clear()
        tokens[name] = _sign_in(client, f"{name}@example.org")
        cookies[name] = dict(client.cookies)
        posted = client.post(
            _api(site), json={"body": f"Said by {name}"}, headers={"X-CSRF-Token": tokens[name]}
        )
        assert posted.status_code == 201, posted.text
        ids[name] = posted.json()["id"]
    client.cookies = cookies["bob"]
    voted = client.post(f"{_api(site)}/{ids['ann']}/vote", headers={"X-CSRF-Token": tokens["bob"]})
    assert voted.status_code == 200, voted.text

    pages = [site.item_path, f"{site.item_path}/comments"]
    for path in pages * 2:  # the second time from the shared fragments
        for me, other in (("bob", "ann"), ("ann", "bob")):
            client.cookies = cookies[me]
            html = client.get(path).text
            assert set(re.findall(r'name="csrf_token" value="([^"]+)"', html)) == {tokens[me]}
            own, theirs = _comment_li(html, ids[me]), _comment_li(html, ids[other])
            assert " mine" in own and "comment-edit" in own and "comment-delete" in own
            assert "comment-vote" not in own and "comment-flag" not in own
            assert " mine" not in theirs and "comment-edit" not in theirs
            assert "comment-flag" in theirs and "comment-reply" in theirs
            upvote = re.search(r"<button[^>]*>(Upvote|Upvoted)</button>", theirs)
            assert upvote is not None
            assert upvote.group(1) == ("Upvoted" if me == "bob" else "Upvote")
            assert ("disabled" in upvote.group(0)) == (me == "bob")

    # A comment only its author sees (held for a moderator): the whole section for them.
    with Session(engine_for(site.settings.database_url)) as session, session.begin():
        held = session.get(Comment, ids["ann"])
        assert held is not None
        held.status = "held"
        item = session.get(Item, site.item_id)
        assert item is not None
        item.comment_version += 1
    for path in pages:
        client.cookies = cookies["ann"]
        assert "Awaiting a moderator" in _comment_li(client.get(path).text, ids["ann"])
        client.cookies = cookies["bob"]
        assert f'id="c{ids["ann"]}"' not in client.get(path).text


def test_readers_with_nothing_of_their_own_share_the_blocks_but_not_the_tokens(
    site: Site,
) -> None:
    """Signed-in readers with no comments or votes on an item get its comment blocks kept
    with the page (web/item.reader_blocks) and only their own token filled in; a vote moves
    the voter off them on their very next request, and nobody else; a reader who has not
    verified their address gets no comment form."""
    NAMES = {"cy": "Cyrilla Quell", "dee": "Deodata Vane", "eve": "Evadne Sorrel"}
    engine = engine_for(site.settings.database_url)
    with Session(engine) as session, session.begin():
        for name, verified in (("cy", True), ("dee", True), ("eve", False)):
            accounts.create_user(
                session, f"{name}@example.org", PASSWORD, NAMES[name], verified=verified
            )
    client = site.client
    tokens, cookies = {}, {}
    for name in ("ann", *NAMES):
        client.cookies.clear()
        tokens[name] = _sign_in(client, f"{name}@example.org")
        cookies[name] = dict(client.cookies)
    client.cookies = cookies["ann"]
    posted = client.post(
        _api(site), json={"body": "The ferry ran late"}, headers={"X-CSRF-Token": tokens["ann"]}
    )
    assert posted.status_code == 201, posted.text
    said = posted.json()["id"]

    def seen(name: str) -> tuple[str, str]:
        client.cookies = cookies[name]
        html = client.get(site.item_path).text
        assert set(re.findall(r'name="csrf_token" value="([^"]+)"', html)) == {tokens[name]}
        assert {n for n in NAMES if NAMES[n] in html} == {name}  # their name only
        upvote = re.search(r"<button[^>]*>(Upvote|Upvoted)</button>", _comment_li(html, said))
        assert upvote is not None
        return upvote.group(0), html

    for _ in range(2):  # the second round from the blocks kept with the page
        for name in ("cy", "dee", "eve", "cy"):
            button, html = seen(name)
            assert button == '<button type="submit">Upvote</button>', name
            assert ('class="comment-form"' in html) == (name != "eve"), name
            assert "Verify your e-mail address to comment" in html if name == "eve" else True
            assert " mine" not in _comment_li(html, said)
    client.cookies = cookies["cy"]
    voted = client.post(f"{_api(site)}/{said}/vote", headers={"X-CSRF-Token": tokens["cy"]})
    assert voted.status_code == 200, voted.text
    for name in ("dee", "cy", "eve", "dee", "cy"):
        button, html = seen(name)
        assert ("disabled" in button and "Upvoted" in button) == (name == "cy"), name
        assert "1 point" in _comment_li(html, said)
