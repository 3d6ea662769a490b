"""Accounts by e-mail on the real app and a real SMTP server (aiosmtpd): sign up → verify,
the one-time sign-in link, password reset (a replayed link fails), e-mail change with
re-verification, and the brute-force lock-out that the mailed link gets round."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from newsline import urls
from newsline.community import accounts
from newsline.community.limits import signin_keys
from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import AuthSession, Throttle, utcnow
from newsline.web.app import create_app
from tests.support.forms import FIELD, form_fields
from tests.support.mail import Inbox, body

pytestmark = pytest.mark.postgres

BROWSER = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
PASSWORD = "lantern harbour fog"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp: Inbox) -> Settings:
    made: Settings = make_settings(
        web={"base_url": "http://testserver"},
        email={
            "enabled": True,
            "port": smtp.port,
            "security": "none",
            "from_address": "accounts@news.example",
        },
    )
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    return made


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=BROWSER) as made:
        yield made


def _post_form(client: TestClient, page_url: str, selector: str, **fields: str) -> Any:
    """Open a page, then post its form as a browser would (its hidden fields, the CSRF token)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    action, hidden = form_fields(page.text, selector)
    return client.post(action, data={**hidden, **fields}, follow_redirects=False)


def _link(msg: EmailMessage) -> str:
    """The path and query of the one link of an account mail."""
    found = re.findall(r"http://testserver(/\S+)", body(msg, "plain"))
    assert len(found) == 1, body(msg, "plain")
    assert found[0] in body(msg, "html").replace("&amp;", "&")
    return found[0]


def _last(smtp: Inbox, address: str) -> EmailMessage:
    mails = smtp.to(address)
    assert mails, f"no mail to {address}"
    return mails[-1]


def _me(client: TestClient) -> str | None:
    page = client.get(urls.ACCOUNT, follow_redirects=False)
    if page.status_code != 200:
        return None
    found = re.search(r"Signed in as <strong>([^<]+)</strong>", page.text)
    return found.group(1) if found else None


def test_sign_up_then_verify_by_mail_signs_in(
    settings: Settings, client: TestClient, smtp: Inbox
) -> None:
    made = _post_form(
        client,
        urls.SIGN_UP,
        f'form[action="{urls.SIGN_UP}"]',
        email="New@Example.org",
        display_name="New Reader",
        password=PASSWORD,
    )
    assert made.status_code == 200 and "Check your inbox" in made.text
    assert "no-store" in made.headers["cache-control"]
    assert _me(client) is None  # not signed in before the address is proven
    mail = _last(smtp, "new@example.org")
    assert mail["Subject"].startswith("Confirm your e-mail address")
    link = _link(mail)
    assert link.startswith(urls.VERIFY + "?token=")
    # The GET (a mail scanner) only shows a button; the POST verifies and signs in.
    shown = client.get(link)
    assert shown.status_code == 200 and "Confirm my address" in shown.text
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "new@example.org")
        assert user is not None and user.verified_at is None
    done = _post_form(client, link, f'form[action="{urls.VERIFY}"]')
    assert done.status_code == 303 and done.headers["location"].endswith("done=verified")
    assert _me(client) == "New Reader"
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "new@example.org")
        assert user is not None and user.verified_at is not None
    # The link worked once.
    assert client.get(link).status_code == 400


def test_sign_up_with_a_known_address_answers_alike_and_tells_the_owner(
    settings: Settings, client: TestClient, smtp: Inbox
) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "old@example.org", PASSWORD, "Old Hand", verified=True)
    again = _post_form(
        client,
        urls.SIGN_UP,
        f'form[action="{urls.SIGN_UP}"]',
        email="old@example.org",
        display_name="Someone New",
        password="another fine phrase",
    )
    assert again.status_code == 200 and "Check your inbox" in again.text
    mail = _last(smtp, "old@example.org")
    assert "already" in mail["Subject"]
    assert _link(mail).startswith(urls.SIGN_IN_LINK + "?token=")
    with session_scope(settings.database_url) as session:
        assert (
            accounts.authenticate(session, "old@example.org", PASSWORD).display_name == "Old Hand"
        )


def test_sign_up_refusals_are_clear_and_keep_the_form(client: TestClient) -> None:
    for fields, message in (
        ({"password": "short"}, "at least 10 characters"),
        ({"password": "password12345"}, "most common"),
        ({"display_name": "Zed\u200bZed"}, "invisible or text-direction"),
        ({"display_name": "Ann\u202eLee"}, "invisible or text-direction"),
        ({"email": "not an address"}, "is not an e-mail address"),
    ):
        sent = {"email": "form@example.org", "display_name": "Form Filler", "password": PASSWORD}
        sent.update(fields)
        refused = _post_form(client, urls.SIGN_UP, f'form[action="{urls.SIGN_UP}"]', **sent)
        assert refused.status_code == 400, fields
        assert message in refused.text
        assert 'value="form@example.org"' in refused.text or "email" in fields


def test_password_reset_link_works_once(
    settings: Settings, app_client: Callable[[], TestClient], smtp: Inbox
) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "forgot@example.org", PASSWORD, "For Got", verified=True)
    laptop, phone = app_client(), app_client()
    signed = laptop.post(
        urls.API + urls.API_SESSION, json={"email": "forgot@example.org", "password": PASSWORD}
    )
    assert signed.status_code == 200
    asked = _post_form(
        phone, urls.RESET, f'form[action="{urls.RESET}"]', email="forgot@example.org"
    )
    assert asked.status_code == 200 and "Check your inbox" in asked.text
    # An unknown address gets the same answer and no mail.
    unknown = _post_form(phone, urls.RESET, f'form[action="{urls.RESET}"]', email="no@example.org")
    assert unknown.text.count("Check your inbox") == asked.text.count("Check your inbox")
    assert smtp.to("no@example.org") == []
    link = _link(_last(smtp, "forgot@example.org"))
    assert link.startswith(urls.RESET + "?token=")
    # A weak new password is refused and leaves the link usable.
    weak = _post_form(phone, link, f'form[action="{urls.RESET}"]', password="qwerty123456")
    assert weak.status_code == 400 and "most common" in weak.text
    done = _post_form(phone, link, f'form[action="{urls.RESET}"]', password="a brand new phrase")
    assert done.status_code == 303 and done.headers["location"].endswith("done=password-reset")
    assert _me(phone) == "For Got"
    # Every other session ended: the laptop is signed out.
    assert _me(laptop) is None
    # The replayed link fails, by GET and by POST, and changes nothing.
    assert phone.get(link).status_code == 400
    page = phone.get(urls.ACCOUNT)
    token = form_fields(page.text, f'form[action="{urls.SIGN_OUT}"]')[1][FIELD]
    replay = phone.post(
        urls.RESET,
        data={
            "token": urlsplit(link).query.split("=", 1)[1],
            "password": "attacker's choice!",
            FIELD: token,
        },
        follow_redirects=False,
    )
    assert replay.status_code == 400 and "expired or has been used" in replay.text
    with session_scope(settings.database_url) as session:
        assert accounts.authenticate(session, "forgot@example.org", "a brand new phrase")
        with pytest.raises(accounts.BadCredentials):
            accounts.authenticate(session, "forgot@example.org", "attacker's choice!")


@pytest.fixture
def app_client(settings: Settings) -> Iterator[Callable[[], TestClient]]:
    app = create_app(settings)
    made: list[TestClient] = []

    def new() -> TestClient:
        client = TestClient(app, headers=BROWSER)
        client.__enter__()
        made.append(client)
        return client

    yield new
    for client in made:
        client.__exit__(None, None, None)


def test_brute_force_hits_the_lock_out_and_the_mailed_link_gets_round_it(
    settings: Settings, client: TestClient, smtp: Inbox
) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "target@example.org", PASSWORD, "Tar Get", verified=True)
    statuses = []
    free = settings.limits.signin_account.free
    for n in range(free + 3):
        guess = client.post(
            urls.API + urls.API_SESSION,
            json={"email": "target@example.org", "password": f"guess number {n}"},
        )
        statuses.append(guess.status_code)
    # The free guesses are answered 401; then the account must wait (429, Retry-After).
    assert statuses[:free] == [401] * free
    assert statuses[free:] == [429] * 3
    # Even the right password is refused while the account waits: guessing gains nothing.
    right = client.post(
        urls.API + urls.API_SESSION, json={"email": "target@example.org", "password": PASSWORD}
    )
    assert right.status_code == 429 and int(right.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins for this account" in right.json()["detail"]
    # The sign-in page says so too.
    page = _post_form(
        client,
        urls.SIGN_IN,
        f'form[action="{urls.SIGN_IN}"]',
        email="target@example.org",
        password=PASSWORD,
    )
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text
    # The owner signs in by a mailed link, which also lifts the lock.
    asked = _post_form(
        client, urls.SIGN_IN_LINK, f'form[action="{urls.SIGN_IN_LINK}"]', email="target@example.org"
    )
    assert asked.status_code == 200
    link = _link(_last(smtp, "target@example.org"))
    done = _post_form(client, link, f'form[action="{urls.SIGN_IN_LINK}"]')
    assert done.status_code == 303
    assert _me(client) == "Tar Get"
    again = client.post(
        urls.API + urls.API_SESSION, json={"email": "target@example.org", "password": PASSWORD}
    )
    assert again.status_code == 200


def test_the_guess_that_reaches_the_limit_locks_the_account(
    settings: Settings, client: TestClient
) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "locked@example.org", PASSWORD, "Lock Ed", verified=True)
        # Many guesses already, each after its wait: one short of the lock-out.
        key = signin_keys("locked@example.org", "testclient")[0]
        session.add(
            Throttle(
                key=key, failures=settings.limits.signin_account.lock_at - 1, window_start=utcnow()
            )
        )
    last = client.post(
        urls.API + urls.API_SESSION, json={"email": "locked@example.org", "password": "one more"}
    )
    assert last.status_code == 401
    right = client.post(
        urls.API + urls.API_SESSION, json={"email": "locked@example.org", "password": PASSWORD}
    )
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 3000
    assert "password sign-in is locked for 60 minutes" in right.json()["detail"]


def test_email_change_needs_the_new_address_confirmed(
    settings: Settings, client: TestClient, smtp: Inbox
) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "move@example.org", PASSWORD, "Mover", verified=True)
    client.post(
        urls.API + urls.API_SESSION, json={"email": "move@example.org", "password": PASSWORD}
    )
    wrong = _post_form(
        client,
        urls.ACCOUNT,
        f'form[action="{urls.ACCOUNT}/email"]',
        email="moved@example.org",
        current_password="not it at all",
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    asked = _post_form(
        client,
        urls.ACCOUNT,
        f'form[action="{urls.ACCOUNT}/email"]',
        email="Moved@Example.org",
        current_password=PASSWORD,
    )
    assert asked.status_code == 303 and asked.headers["location"].endswith("done=email-sent")
    with session_scope(settings.database_url) as session:
        assert accounts.user_by_email(session, "move@example.org") is not None  # not yet
    link = _link(_last(smtp, "moved@example.org"))
    done = _post_form(client, link, f'form[action="{urls.EMAIL_CONFIRM}"]')
    assert done.status_code == 303
    with session_scope(settings.database_url) as session:
        assert accounts.user_by_email(session, "move@example.org") is None
        assert accounts.user_by_email(session, "moved@example.org") is not None
    assert client.get(link).status_code == 400


def test_account_settings_forms(settings: Settings, client: TestClient) -> None:
    with session_scope(settings.database_url) as session:
        accounts.create_user(session, "set@example.org", PASSWORD, "Set Tings", verified=True)
    client.post(
        urls.API + urls.API_SESSION, json={"email": "set@example.org", "password": PASSWORD}
    )
    renamed = _post_form(
        client, urls.ACCOUNT, f'form[action="{urls.ACCOUNT}/name"]', display_name="Settled In"
    )
    assert renamed.status_code == 303 and _me(client) == "Settled In"
    notify = _post_form(
        client, urls.ACCOUNT, f'form[action="{urls.ACCOUNT}/notify"]', notify_replies="1"
    )
    assert notify.status_code == 303
    made = _post_form(client, urls.ACCOUNT, f'form[action="{urls.ACCOUNT}/api-token"]', name="cron")
    assert made.status_code == 200
    secret = re.search(r"<code>(nlt_[^<]+)</code>", made.text)
    assert secret is not None
    assert client.get(urls.ACCOUNT).text.count(secret.group(1)) == 0  # shown once only
    feed = _post_form(client, urls.ACCOUNT, f'form[action="{urls.ACCOUNT}/feed-token"]')
    assert feed.status_code == 303
    with session_scope(settings.database_url) as session:
        user = accounts.user_by_email(session, "set@example.org")
        assert user is not None and user.notify_replies and user.feed_token
        assert accounts.api_token_user(session, secret.group(1)) is not None
    changed = _post_form(
        client,
        urls.ACCOUNT,
        f'form[action="{urls.ACCOUNT}/password"]',
        current_password=PASSWORD,
        password="an even better phrase",
    )
    assert changed.status_code == 303
    with session_scope(settings.database_url) as session:
        assert accounts.authenticate(session, "set@example.org", "an even better phrase")
        assert session.query(AuthSession).count() == 1  # this browser stayed signed in
    deleted = _post_form(
        client,
        urls.ACCOUNT,
        f'form[action="{urls.ACCOUNT}/delete"]',
        current_password="an even better phrase",
        confirm="delete",
        comments="remove",
    )
    assert deleted.status_code == 200 and "Your account is deleted" in deleted.text
    assert _me(client) is None
    with session_scope(settings.database_url) as session:
        assert accounts.user_by_email(session, "set@example.org") is None
        assert session.query(AuthSession).count() == 0
