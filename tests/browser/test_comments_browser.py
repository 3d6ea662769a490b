"""Comments in a real browser: hostile bodies never run, and the reader's whole round —
comment, reply, edit, report, a moderator hides it, the author sees it hidden — with
JavaScript (inline, no reload) and without (plain forms)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.community import accounts, comments
from newsline.config import CommentSettings
from newsline.db.engine import engine_for
from newsline.db.models import Channel, Comment, User
from tests.support.browser import HUMAN_UA, LiveSite, sign_in_by_api
from tests.support.webdata import XSS

pytestmark = pytest.mark.browser

PASSWORD = "harbour lights at dusk 1987"
MARKDOWN_VECTORS = [
    "[click me](javascript:alert('md'))",
    "[click](JaVaScRiPt:alert('md2'))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert('autolink')>",
    "![img](https://evil.example/x.png)",
    "<img src=x onerror=alert('raw')>",
    "<script>alert('raw script')</script>",
    '[a](https://ok.example/ "t" onmouseover="alert(1)")',
    "`<script>alert('code')</script>`",
    "```\n<script>alert('fence')</script>\n```",
    "> <iframe src=javascript:alert(1)></iframe>",
    "[a](&#106;avascript:alert('entity'))",
    "<a href=\"javascript:alert('a')\">x</a> <b onmouseover=alert('b')>b</b>",
    "*" * 3000 + "a" + "_" * 3000,
    "Zero\u200bwidth and \u202ebidi\u202c override",
]


def _user(settings: Any, name: str, role: str = "reader") -> int:
    with Session(engine_for(settings.database_url)) as session, session.begin():
        found = session.scalar(select(User).where(User.email == f"{name}@example.org"))
        if found is not None:
            return found.id
        user = accounts.create_user(
            session, f"{name}@example.org", PASSWORD, name.title(), role=role, verified=True
        )
        return user.id


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(user_agent=HUMAN_UA)
    yield ctx
    ctx.close()


@pytest.fixture
def no_js(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(user_agent=HUMAN_UA, java_script_enabled=False)
    yield ctx
    ctx.close()


def _sign_in(ctx: Any, site: LiveSite, name: str) -> None:
    sign_in_by_api(ctx, site.base, f"{name}@example.org", PASSWORD)


def _watch(page: Any) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    errors: list[str] = []

    def dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return dialogs, errors


def test_hostile_comments_render_inert(live_site: LiveSite, context: Any) -> None:
    settings = live_site.settings
    author = _user(settings, "mallory")
    bodies = [*MARKDOWN_VECTORS, XSS["title"], XSS["author"], XSS["caption"], XSS["body"]]
    with Session(engine_for(settings.database_url)) as session, session.begin():
        user = session.get(User, author)
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == "news"))
        assert user is not None and channel_id is not None
        for body in bodies:
            comments.post(
                session,
                CommentSettings(velocity_max=1000, max_links=100),
                item_id=live_site.item_ids["harbor-3"],
                channel_id=channel_id,
                author=user,
                body=body,
            )
    for signed_in in (False, True):
        if signed_in:
            _sign_in(context, live_site, "mallory")
        page = context.new_page()
        dialogs, errors = _watch(page)
        page.goto(live_site.url("/news/topic/harbor/harbor-3/comments"), wait_until="networkidle")
        shown = page.locator("#comments .comment-body")
        assert shown.count() == len(bodies)
        for link in page.locator("#comments .comment-body a").all():
            link.hover()
        page.wait_for_timeout(300)
        assert dialogs == [] and errors == []
        found = page.evaluate(
            "[...document.querySelectorAll('#comments .comment-body *')].flatMap(el =>"
            " [el.tagName.toLowerCase(), ...[...el.attributes].map(a => a.name + '=' + a.value)])"
        )
        tags = {v for v in found if "=" not in v}
        assert tags <= {
            "p",
            "br",
            "a",
            "em",
            "strong",
            "b",
            "i",
            "blockquote",
            "code",
            "pre",
            "ul",
            "ol",
            "li",
        }
        attributes = [v for v in found if "=" in v]
        assert all(
            a.startswith(("href=http://", "href=https://")) or a == "rel=nofollow ugc noopener"
            for a in attributes
        ), attributes
        assert page.evaluate("document.body.innerText").count("\u202e") == 0
        page.close()


def _comment_ids(page: Any) -> list[int]:
    return [
        int(v)
        for v in page.eval_on_selector_all(
            "#comments li.comment", "els => els.map(e => e.dataset.id)"
        )
    ]


def test_round_with_javascript_inline_without_reload(live_site: LiveSite, browser: Any) -> None:
    settings = live_site.settings
    _user(settings, "ann")
    _user(settings, "bob")
    _user(settings, "mod", role="moderator")
    item = live_site.url("/news/topic/harbor/harbor-4")
    ann = browser.new_context(user_agent=HUMAN_UA)
    bob = browser.new_context(user_agent=HUMAN_UA)
    mod = browser.new_context(user_agent=HUMAN_UA)
    try:
        _sign_in(ann, live_site, "ann")
        _sign_in(bob, live_site, "bob")
        _sign_in(mod, live_site, "mod")
        page = ann.new_page()
        dialogs, errors = _watch(page)
        page.goto(item)
        page.fill("#comment-body", "A *first* look at the pier")
        page.click(".comment-form button[type=submit]")
        page.wait_for_url(re.compile(r"/comments/\d+$|/comments/\d+#c\d+$"))
        first = int(page.url.rsplit("#c", 1)[1])
        # Bob replies inline: no navigation, the reply appears under Ann's comment.
        bob_page = bob.new_page()
        bob_page.goto(item)
        bob_page.evaluate("window.__marker = 1")
        bob_page.click(f"#c{first} a.comment-reply")
        bob_page.fill(f"#c{first} .comment-inline textarea", "Agreed, **longer** is better")
        bob_page.click(f"#c{first} .comment-inline button")
        bob_page.wait_for_selector("li.comment.indent-1 strong")
        assert bob_page.evaluate("window.__marker") == 1  # the same page: no reload
        reply_id = _comment_ids(bob_page)[-1]
        # Bob edits his reply inline.
        bob_page.click(f"#c{reply_id} a.comment-edit")
        area = bob_page.locator(f"#c{reply_id} .comment-inline textarea")
        area.fill("Agreed, longer is *much* better")
        bob_page.click(f"#c{reply_id} .comment-inline button")
        bob_page.wait_for_selector(f"#c{reply_id} .comment-body em")
        # Bob reports Ann's comment inline.
        bob_page.click(f"#c{first} a.comment-flag")
        bob_page.fill(f"#c{first} .comment-inline input", "rude about the old pier")
        bob_page.click(f"#c{first} .comment-inline button")
        bob_page.wait_for_selector(f"#c{first} >> text=Reported")
        # The moderator sees it in the flagged queue and hides it.
        mod_page = mod.new_page()
        mod_page.goto(live_site.url("/admin/moderation?queue=flagged"))
        entry = mod_page.locator(f"#m{first}")
        assert "rude about the old pier" in entry.inner_text()
        entry.locator("input[name=reason]").fill("not nice")
        entry.locator("button[value=hide]").click()
        mod_page.wait_for_url(re.compile(r"/admin/moderation"))
        # A reader no longer sees it; its author does, marked hidden.
        anonymous = browser.new_page(user_agent=HUMAN_UA)
        anonymous.goto(item)
        assert "first" not in anonymous.locator("#comments").inner_text()
        assert "[removed by a moderator]" in anonymous.locator("#comments").inner_text()
        anonymous.close()
        page.goto(item)
        mine = page.locator(f"#c{first}").inner_text()
        assert "Hidden by a moderator" in mine and "look at the pier" in mine
        assert dialogs == [] and errors == []
    finally:
        ann.close()
        bob.close()
        mod.close()


def test_round_without_javascript(live_site: LiveSite, browser: Any) -> None:
    settings = live_site.settings
    _user(settings, "cat")
    _user(settings, "dan")
    item = live_site.url("/news/topic/harbor/harbor-5")
    cat = browser.new_context(user_agent=HUMAN_UA, java_script_enabled=False)
    dan = browser.new_context(user_agent=HUMAN_UA, java_script_enabled=False)
    try:
        _sign_in(cat, live_site, "cat")
        _sign_in(dan, live_site, "dan")
        page = cat.new_page()
        page.goto(item)
        page.fill("#comment-body", "Plain forms work")
        page.click(".comment-form button[type=submit]")
        page.wait_for_load_state()
        first = int(page.url.rsplit("#c", 1)[1])
        assert "Plain forms work" in page.locator(f"#c{first}").inner_text()
        other = dan.new_page()
        other.goto(item)
        other.click(f"#c{first} a.comment-reply")  # a form page
        other.fill("#comment-body", "So do replies")
        other.click(".comment-form button[type=submit]")
        other.wait_for_load_state()
        reply = int(other.url.rsplit("#c", 1)[1])
        assert "So do replies" in other.locator(f"#c{reply}").inner_text()
        other.click(f"#c{reply} a.comment-edit")
        other.fill("#comment-body", "So do replies, edited")
        other.click(".comment-form button[type=submit]")
        other.wait_for_load_state()
        assert "edited" in other.locator(f"#c{reply}").inner_text()
        other.click(f"#c{first} a.comment-flag")
        other.fill("#flag-reason", "spam")
        other.click(".comment-form button[type=submit]")
        other.wait_for_load_state()
        other.click(f"#c{first} .comment-vote button")
        other.wait_for_load_state()
        assert "1 point" in other.locator(f"#c{first}").inner_text()
        with Session(engine_for(settings.database_url)) as session:
            stored = session.get(Comment, reply)
            assert stored is not None and stored.edited_at is not None
    finally:
        cat.close()
        dan.close()
