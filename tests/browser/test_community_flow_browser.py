"""The community round from nothing, in a real browser on `newsline serve` with mail:
sign up on the sign-up page → the verification mail (caught by aiosmtpd) → open its
link and confirm → comment → a second reader replies → the author edits → the second
reader reports it → a moderator (made with `newsline users add --role moderator
--password-stdin`) hides it in /admin/moderation → the author sees it hidden. With
JavaScript (inline forms) and without (plain forms)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import HUMAN_UA, newsline_serve, sign_in, sign_up
from tests.support.mail import Inbox, body, smtp_server
from tests.support.ports import free_port
from tests.support.webdata import seed

pytestmark = pytest.mark.browser

PASSWORD = "harbour lights at dusk 1987"
CLI = [sys.executable, "-m", "newsline.cli"]
CONFIG = """\
database_url = "sqlite:///{db}"

[web]
base_url = "{base}"

[email]
enabled = true
host = "127.0.0.1"
port = {smtp}
security = "none"
from_address = "accounts@news.example"

[[channels]]
slug = "news"
display_name = "The Harbor Daily"
"""


class MailSite:
    def __init__(self, base: str, inbox: Inbox, config: Path, database_url: str) -> None:
        self.base, self.inbox, self.config = base, inbox, config
        self.database_url = database_url

    def url(self, path: str) -> str:
        return self.base + path

    def users_add(self, email: str, role: str) -> None:
        done = subprocess.run(
            [
                *CLI,
                "--config",
                str(self.config),
                "users",
                "add",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    def add_reader(self, email: str) -> None:
        """A verified reader, made in this process: `users_add` (the CLI, a new Python
        process each time) made the moderator already."""
        from newsline.community.accounts import create_user
        from newsline.db.engine import session_scope

        with session_scope(self.database_url) as session:
            create_user(session, email, PASSWORD, role="reader", verified=True)

    def link_to(self, address: str) -> str:
        """The one link of the newest mail to `address`, once it has come."""
        deadline = time.monotonic() + 20
        while not self.inbox.to(address):
            assert time.monotonic() < deadline, f"no mail to {address}"
            time.sleep(0.05)
        text = body(self.inbox.to(address)[-1], "plain")
        found = re.findall(re.escape(self.base) + r"/\S+", text)
        assert len(found) == 1, text
        return found[0]


@pytest.fixture(scope="module")
def mail_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSite]:
    from newsline.config import load_settings
    from newsline.db.engine import dispose_all
    from newsline.db.migrate import upgrade

    root = tmp_path_factory.mktemp("community")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = root / "newsline.toml"
    with smtp_server() as inbox:
        config.write_text(
            CONFIG.format(db=root / "site.db", base=base, smtp=inbox.port), encoding="utf-8"
        )
        settings = load_settings(config)
        upgrade(settings.database_url)
        seed(settings)
        dispose_all()
        with newsline_serve(config, port, workers=1, log=root / "serve.log"):
            site = MailSite(base, inbox, config, settings.database_url)
            site.users_add("mod@example.org", "moderator")
            yield site


def _sign_in(ctx: Any, site: MailSite, email: str) -> None:
    page = ctx.new_page()
    sign_in(page, site.base, email, PASSWORD)
    page.goto(site.url("/account"))
    assert "Signed in as" in page.content(), page.url
    page.close()


def _sign_up_and_verify(page: Any, site: MailSite, email: str, name: str) -> None:
    sign_up(page, site.base, email, name, PASSWORD)
    assert "Check your inbox" in page.content()
    link = site.link_to(email)
    assert link.startswith(site.url("/account/verify?token="))
    page.goto(link)  # shows a button (a mail scanner's GET verifies nothing)
    page.locator('form[action="/account/verify"] button[type=submit]').click()
    page.wait_for_url(re.compile(r"done=verified"))
    page.goto(site.url("/account"))
    assert f"Signed in as <strong>{name}</strong>" in page.content()


def _submit(page: Any) -> int:
    """Send the comment form of a plain page; the id of the comment it lands on."""
    page.click(".comment-form button[type=submit]")
    page.wait_for_url(re.compile(r"#c\d+$"))
    return int(page.url.rsplit("#c", 1)[1])


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_sign_up_to_hidden_comment(mail_site: MailSite, browser: Any, javascript: bool) -> None:
    site = mail_site
    tag = "js" if javascript else "nojs"
    item = site.url(f"/news/topic/harbor/harbor-{1 if javascript else 2}")
    contexts = [
        browser.new_context(user_agent=HUMAN_UA, java_script_enabled=javascript) for _ in range(3)
    ]
    author, reader, moderator = contexts
    try:
        page = author.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _sign_up_and_verify(page, site, f"author-{tag}@example.org", f"Author {tag}")
        # The first comment.
        page.goto(item)
        page.fill("#comment-body", f"First look at the pier ({tag})")
        first = _submit(page)
        assert "First look at the pier" in page.locator(f"#c{first}").inner_text()
        # A second reader replies.
        site.add_reader(f"reader-{tag}@example.org")
        _sign_in(reader, site, f"reader-{tag}@example.org")
        other = reader.new_page()
        other.on("pageerror", lambda e: errors.append(str(e)))
        other.goto(item)
        if javascript:
            other.evaluate("window.__marker = 1")
            other.click(f"#c{first} a.comment-reply")
            other.fill(f"#c{first} .comment-inline textarea", "A **reply** to that")
            other.click(f"#c{first} .comment-inline button")
            other.wait_for_selector("li.comment.indent-1 strong")
            assert other.evaluate("window.__marker") == 1  # inline: no reload
        else:
            other.click(f"#c{first} a.comment-reply")  # a form page
            other.fill("#comment-body", "A **reply** to that")
            reply = _submit(other)
            assert "reply to that" in other.locator(f"#c{reply}").inner_text()
        # The author edits the comment.
        page.goto(item)
        page.click(f"#c{first} a.comment-edit")
        if javascript:
            page.fill(f"#c{first} .comment-inline textarea", f"A *closer* look at the pier ({tag})")
            page.click(f"#c{first} .comment-inline button")
            page.wait_for_selector(f"#c{first} .comment-body em")
        else:
            page.fill("#comment-body", f"A *closer* look at the pier ({tag})")
            assert _submit(page) == first
        assert "edited" in page.locator(f"#c{first}").inner_text()
        # The second reader reports it.
        other.goto(item)
        other.click(f"#c{first} a.comment-flag")
        if javascript:
            other.fill(f"#c{first} .comment-inline input", f"rude about the pier {tag}")
            other.click(f"#c{first} .comment-inline button")
            other.wait_for_selector(f"#c{first} >> text=Reported")
        else:
            other.fill("#flag-reason", f"rude about the pier {tag}")
            other.click(".comment-form button[type=submit]")
            other.wait_for_load_state()
        # The moderator hides it from the flagged queue.
        _sign_in(moderator, site, "mod@example.org")
        desk = moderator.new_page()
        desk.goto(site.url("/admin/moderation?queue=flagged"))
        entry = desk.locator(f"#m{first}")
        assert f"rude about the pier {tag}" in entry.inner_text()
        entry.locator("input[name=reason]").fill("not nice")
        entry.locator("button[value=hide]").click()
        desk.wait_for_url(re.compile(r"/admin/moderation"))
        # Readers no longer see it; its author does, marked hidden.
        other.goto(item)
        assert "closer" not in other.locator("#comments").inner_text()
        page.goto(item)
        mine = page.locator(f"#c{first}").inner_text()
        assert "Hidden by a moderator" in mine and "closer" in mine, mine
        assert errors == []
    finally:
        for ctx in contexts:
            ctx.close()
