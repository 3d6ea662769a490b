"""community/accounts.py on a real database: passwords (argon2id, policy, rehash), display
names (folding, invisible and bidi characters), one-time links (once, expiry, replay),
sessions (idle and absolute expiry, sign-out everywhere), API tokens, bans, roles, and
closing an account with its comments anonymised or removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.community import accounts
from newsline.community.accounts import (
    BadCredentials,
    BadName,
    EmailTaken,
    LinkInvalid,
    WeakPassword,
)
from newsline.community.audit import Actor, entries
from newsline.db.engine import session_scope
from newsline.db.models import (
    AuthSession,
    Channel,
    Comment,
    Feed,
    Item,
    Publication,
    User,
    utcnow,
)

pytestmark = pytest.mark.postgres

GOOD = "tawny owls at dusk"


def _user(session: Session, email: str = "ann@example.org", name: str = "Ann") -> User:
    return accounts.create_user(session, email, GOOD, name)


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short9char", None),  # 10 characters: long enough
        ("2short", "at least 10 characters"),
        ("aaaaaaaaaaaa", "repeats one or two characters"),
        ("abababababab", "repeats one or two characters"),
        ("qwertyuiop", "most common"),
        ("Password2024!", "most common"),  # a common word with digits and a mark added
        ("iloveyou123", "most common"),
        ("1q2w3e4r5t", "most common"),
        ("ann.lee@example.org", "e-mail address"),
        ("my annlee secret", "e-mail address"),
        ("Wanda Maximoff 99", "display name"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_password_policy(password: str, reason: str | None) -> None:
    check = lambda: accounts.check_password(  # noqa: E731
        password,
        email="annlee@example.org" if "annlee" in password else "ann.lee@example.org",
        name="Wanda Maximoff",
    )
    if reason is None:
        check()
        return
    with pytest.raises(WeakPassword, match=reason):
        check()


def test_passwords_are_argon2id_and_rehashed_when_parameters_change(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = _user(session)
        assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
        assert GOOD not in user.password_hash
        # A hash made with weaker parameters (an older install) ...
        weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(GOOD)
        user.password_hash = weak
    with pytest.raises(BadCredentials), session_scope(database_url) as session:
        accounts.authenticate(session, "ann@example.org", "tawny owls at dawn")
    with session_scope(database_url) as session:
        assert session.get(User, user.id).password_hash == weak  # type: ignore[union-attr]
        # ... is replaced at the next successful sign-in, by one with today's parameters.
        assert accounts.authenticate(session, "ANN@example.org", GOOD).id == user.id
    with session_scope(database_url) as session:
        stored = session.get(User, user.id)
        assert stored is not None and stored.password_hash != weak
        assert "m=65536,t=3,p=4" in (stored.password_hash or "")
        assert accounts.authenticate(session, "ann@example.org", GOOD).id == user.id


def test_unknown_address_and_wrong_password_are_one_error(database_url: str) -> None:
    with session_scope(database_url) as session:
        _user(session)
        with pytest.raises(BadCredentials) as unknown:
            accounts.authenticate(session, "bob@example.org", GOOD)
        with pytest.raises(BadCredentials) as wrong:
            accounts.authenticate(session, "ann@example.org", GOOD + "!")
        with pytest.raises(BadCredentials):
            accounts.authenticate(session, "not an address", GOOD)
    assert str(unknown.value) == str(wrong.value) == "Wrong e-mail address or password."


# --- display names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Ann\u200bLee",  # zero-width space
        "Ann\u200dLee",  # zero-width joiner
        "\ufeffAnn",  # byte-order mark
        "Ann\u202eeeL",  # right-to-left override
        "Ann\u2066Lee\u2069",  # bidi isolates
        "Ann\u200eLee",  # left-to-right mark
        "Ann\x00Lee",
        "Ann\x1b[31mLee",
        "Ann\u2028Lee",  # line separator
        "Ann\u00adLee",  # soft hyphen
        "Ann\U000e0041",  # tag character
    ],
)
def test_invisible_and_bidi_characters_are_refused(name: str) -> None:
    with pytest.raises(BadName, match="invisible or text-direction"):
        accounts.clean_display_name(name)


def test_display_names_fold_to_one_key_and_stay_unique(database_url: str) -> None:
    assert accounts.clean_display_name("  Ann   Lee ") == "Ann Lee"
    assert accounts.display_key("Ann Lee") == accounts.display_key("ann.lee")
    assert accounts.display_key("ＡＮＮ") == accounts.display_key("ann")  # fullwidth (NFKC)
    assert accounts.display_key("Straße") == accounts.display_key("STRASSE")  # casefold
    assert accounts.display_key("ﬁona") == accounts.display_key("fiona")  # ligature
    with pytest.raises(BadName, match="2 to 32"):
        accounts.clean_display_name("A")
    with pytest.raises(BadName, match="letter or digit"):
        accounts.clean_display_name("!!!")
    with pytest.raises(BadName, match="accents"):
        accounts.clean_display_name("Ze\u0301\u0301\u0301\u0301d")
    with pytest.raises(BadName, match="reserved"):
        accounts.clean_display_name("Ad Min")
    assert accounts.clean_display_name("Admin", allow_reserved=True) == "Admin"
    with session_scope(database_url) as session:
        _user(session, "ann@example.org", "Ann Lee")
        for clash in ("ann lee", "ANN.LEE", "Ａｎｎ Ｌｅｅ", "ann_lee"):
            with pytest.raises(BadName, match="taken"):
                accounts.create_user(session, f"{len(clash)}x@example.org", GOOD, clash)
        with pytest.raises(EmailTaken):
            accounts.create_user(session, "ANN@Example.ORG", GOOD, "Someone Else")
        # Without a name, one is made from the address, unique.
        made = accounts.create_user(session, "ann.lee@example.com", None)
        assert made.display_name == "ann.lee-2" and made.password_hash is None
        bob = _user(session, "bob@example.org", "Bob")
        with pytest.raises(BadName, match="taken"):
            accounts.set_display_name(session, bob, "ann-lee")
        accounts.set_display_name(session, bob, "Bob Two")
        assert bob.display_key == "bobtwo"


# --- one-time links ---------------------------------------------------------------------------


def test_links_work_once_and_expire(database_url: str) -> None:
    now = utcnow()
    with session_scope(database_url) as session:
        user = _user(session)
        reset = accounts.create_link_token(session, "reset", user.email, user, now=now)
        verify = accounts.create_link_token(session, "verify", user.email, user, now=now)
        stale = accounts.create_link_token(session, "signin", user.email, user, now=now)
        newer = accounts.create_link_token(session, "signin", user.email, user, now=now)
    with session_scope(database_url) as session:
        with pytest.raises(LinkInvalid):  # the wrong purpose
            accounts.consume_link_token(session, reset, "signin", now=now)
        row = accounts.consume_link_token(session, reset, "reset", now=now)
        assert row.user_id == user.id
    with session_scope(database_url) as session:
        with pytest.raises(LinkInvalid, match="used already"):  # the replay
            accounts.consume_link_token(session, reset, "reset", now=now)
        with pytest.raises(LinkInvalid):  # superseded by a newer sign-in link
            accounts.consume_link_token(session, stale, "signin", now=now)
        later = now + accounts.TOKEN_LIFETIMES["signin"] + timedelta(seconds=1)
        with pytest.raises(LinkInvalid):  # expired
            accounts.consume_link_token(session, newer, "signin", now=later)
        assert accounts.peek_link_token(session, verify, "verify", now=now) is not None
        assert accounts.peek_link_token(session, "x" * 500, "verify", now=now) is None
        stored = session.scalars(select(accounts.AuthToken.token_hash)).all()
        assert reset not in stored and accounts.secret_hash(reset) in stored


# --- sessions and API tokens -------------------------------------------------------------------


def test_sessions_expire_when_idle_and_at_most_after_the_maximum(database_url: str) -> None:
    now = utcnow()
    with session_scope(database_url) as session:
        user = _user(session)
        accounts.start_session(session, user, "S.one", now=now)
        accounts.start_session(session, user, "S.two", now=now)
    with session_scope(database_url) as session:
        found = accounts.session_user(session, "S.one", now + timedelta(days=29))
        assert found is not None and found[1].id == user.id  # touched: idle restarts
        assert accounts.session_user(session, "S.unknown", now) is None
    with session_scope(database_url) as session:
        # S.two stayed idle past SESSION_IDLE; S.one was used on day 29.
        assert accounts.session_user(session, "S.two", now + timedelta(days=31)) is None
        assert accounts.session_user(session, "S.one", now + timedelta(days=50)) is not None
        late = now + accounts.SESSION_MAX + timedelta(seconds=1)
        assert accounts.session_user(session, "S.one", late) is None


def test_sign_out_everywhere_keeps_only_the_named_session(database_url: str) -> None:
    with session_scope(database_url) as session:
        ann, bob = _user(session), _user(session, "bob@example.org", "Bob")
        for sid in ("S.a1", "S.a2", "S.a3"):
            accounts.start_session(session, ann, sid)
        accounts.start_session(session, bob, "S.b1")
    with session_scope(database_url) as session:
        assert accounts.end_all_sessions(session, ann.id, keep="S.a2") == 2
    with session_scope(database_url) as session:
        assert accounts.session_user(session, "S.a2") is not None
        assert accounts.session_user(session, "S.a1") is None
        assert accounts.session_user(session, "S.b1") is not None
        assert accounts.end_all_sessions(session, ann.id) == 1


def test_api_tokens_are_hashed_and_revocable(database_url: str) -> None:
    with session_scope(database_url) as session:
        user = _user(session)
        made = accounts.create_api_token(session, user, "bot\u202e name")
    assert made.secret.startswith(accounts.API_TOKEN_PREFIX) and made.name == "bot name"
    with session_scope(database_url) as session:
        found = accounts.api_token_user(session, made.secret)
        assert found is not None and found.id == user.id
        assert accounts.api_token_user(session, made.secret + "x") is None
        assert accounts.api_token_user(session, "not-ours") is None
        assert [t.id for t in accounts.api_tokens(session, user.id)] == [made.id]
        assert not accounts.revoke_api_token(session, user.id + 1, made.id)
        assert accounts.revoke_api_token(session, user.id, made.id)
    with session_scope(database_url) as session:
        assert accounts.api_token_user(session, made.secret) is None
        assert accounts.api_tokens(session, user.id) == []


# --- roles and bans ----------------------------------------------------------------------------


def test_role_order_and_per_channel_roles(database_url: str) -> None:
    assert accounts.has_role("admin", {}, "editor")
    assert accounts.has_role("editor", {}, "moderator")
    assert not accounts.has_role("moderator", {}, "editor")
    assert not accounts.has_role("reader", {"news": "moderator"}, "moderator")
    assert accounts.has_role("reader", {"news": "moderator"}, "moderator", "news")
    assert not accounts.has_role("reader", {"news": "moderator"}, "moderator", "sports")
    with pytest.raises(accounts.AccountError, match="unknown role"):
        accounts.has_role("reader", {}, "superuser")
    with session_scope(database_url) as session:
        channel = Channel(slug="news", display_name="News")
        session.add(channel)
        user = _user(session)
        accounts.set_role(session, Actor.cli(), user, "moderator", channel.id, reason="helps out")
        assert accounts.channel_roles(session, user.id) == {"news": "moderator"}
        accounts.set_role(session, Actor.cli(), user, "reader", channel.id)
        assert accounts.channel_roles(session, user.id) == {}
        accounts.set_role(session, Actor.cli(), user, "admin")
        assert user.role == "admin"
        log = entries(session, action="user.set_role")
        assert [e.detail["to"] for e in log] == ["admin", "reader", "moderator"]
        assert log[-1].reason == "helps out" and log[-1].channel_id == channel.id


def test_bans_by_account_and_range_expire_and_lift(database_url: str) -> None:
    now = utcnow()
    with session_scope(database_url) as session:
        news = Channel(slug="news", display_name="News")
        sports = Channel(slug="sports", display_name="Sports")
        session.add_all([news, sports])
        ann, bob = _user(session), _user(session, "bob@example.org", "Bob")
        accounts.start_session(session, ann, "S.ann")
        accounts.ban(session, Actor.cli(), user=ann, hours=2, reason="spam", now=now)
        accounts.ban(session, Actor.cli(), user=bob, channel_id=news.id, now=now)
        accounts.ban(session, Actor.cli(), network="2001:db8::/48", now=now)
        accounts.ban(session, Actor.cli(), network="198.51.100.9", hours=1, now=now)
        with pytest.raises(accounts.AccountError, match="not an IP address"):
            accounts.ban(session, Actor.cli(), network="example.org")
        with pytest.raises(accounts.AccountError, match="one of the two"):
            accounts.ban(session, Actor.cli())
    with session_scope(database_url) as session:
        assert session.get(AuthSession, accounts.secret_hash("S.ann")) is None  # signed out
        assert accounts.is_banned(session, ann, None, now=now) is not None
        assert accounts.is_banned(session, ann.id, None, now=now + timedelta(hours=3)) is None
        assert accounts.is_banned(session, bob, None, news.id, now=now) is not None
        assert accounts.is_banned(session, bob, None, sports.id, now=now) is None
        assert accounts.is_banned(session, bob, None, now=now) is None
        assert accounts.is_banned(session, None, "2001:db8:0:1::5", now=now) is not None
        assert accounts.is_banned(session, None, "2001:db9::5", now=now) is None
        assert accounts.is_banned(session, None, "198.51.100.9", sports.id, now=now) is not None
        assert accounts.is_banned(session, None, "198.51.100.10", now=now) is None
        assert accounts.is_banned(session, None, "garbage", now=now) is None
        assert accounts.unban(session, Actor.cli(), user=ann, now=now) == 1
        assert accounts.unban(session, Actor.cli(), network="2001:db8::/48", now=now) == 1
        assert accounts.is_banned(session, ann, "2001:db8::1", now=now) is None
        assert len(entries(session, action="ban.add")) == 4
        assert len(entries(session, action="ban.lift")) == 2


# --- closing an account -----------------------------------------------------------------------


def _item(session: Session) -> tuple[int, int]:
    channel = Channel(slug="news", display_name="News")
    publication = Publication(tag="pub", name="Pub", home_url="https://pub.example.org/")
    session.add_all([channel, publication])
    session.flush()
    feed = Feed(publication_id=publication.id, url="https://pub.example.org/feed")
    session.add(feed)
    session.flush()
    item = Item(
        publication_id=publication.id,
        feed_id=feed.id,
        guid="g1",
        url="https://pub.example.org/1",
        state="ready",
        title="One",
        comment_count=3,
    )
    session.add(item)
    session.flush()
    return channel.id, item.id


@pytest.mark.parametrize("choice", ["anonymise", "remove"])
def test_deleting_an_account_anonymises_or_removes_its_comments(
    database_url: str, choice: str
) -> None:
    with session_scope(database_url) as session:
        channel_id, item_id = _item(session)
        ann, bob = _user(session), _user(session, "bob@example.org", "Bob")
        for author, status in (
            (ann, "published"),
            (ann, "published"),
            (bob, "published"),
            (ann, "held"),
        ):
            session.add(
                Comment(
                    item_id=item_id,
                    channel_id=channel_id,
                    author_id=author.id,
                    body="words",
                    body_html="<p>words</p>",
                    status=status,
                )
            )
        accounts.start_session(session, ann, "S.ann")
        accounts.create_api_token(session, ann, "t")
        accounts.new_feed_token(session, ann)
        accounts.ban(session, Actor.of(bob), user=ann, hours=1)  # the audit log names ann
    with session_scope(database_url) as session:
        ann_row = session.get(User, ann.id)
        assert ann_row is not None
        assert accounts.delete_account(session, ann_row, comments=choice) == 3
    with session_scope(database_url) as session:
        gone = session.get(User, ann.id)
        assert gone is not None and gone.deleted_at is not None
        assert gone.email == f"deleted-{ann.id}@invalid" and gone.password_hash is None
        assert gone.feed_token is None
        assert accounts.user_by_email(session, "ann@example.org") is None
        assert accounts.session_user(session, "S.ann") is None
        comments = session.scalars(select(Comment).order_by(Comment.id)).all()
        assert comments[2].author_id == bob.id
        mine = [c for c in comments if c.id != comments[2].id]
        assert all(c.author_id is None for c in mine)
        item = session.get(Item, item_id)
        assert item is not None
        if choice == "remove":
            assert {c.status for c in mine} == {"deleted"} and {c.body for c in mine} == {""}
            assert item.comment_count == 1  # two published ones went
        else:
            assert [c.status for c in mine] == ["published", "published", "held"]
            assert item.comment_count == 3
        assert len(entries(session, action="ban.add")) == 1  # the log is untouched
        # The address is free again.
        assert accounts.create_user(session, "ann@example.org", GOOD, "Ann Again").id != ann.id


def test_expired_sessions_and_links_are_purged(database_url: str) -> None:
    now = utcnow()
    with session_scope(database_url) as session:
        user = _user(session)
        accounts.start_session(session, user, "S.old", now=now - accounts.SESSION_IDLE)
        accounts.start_session(session, user, "S.new", now=now)
        accounts.create_link_token(session, "signin", user.email, user, now=now - timedelta(days=1))
    with session_scope(database_url) as session:
        assert accounts.purge_expired(session, now) == 2
        assert [s.id_hash for s in accounts.user_sessions(session, user.id)] == [
            accounts.secret_hash("S.new")
        ]
