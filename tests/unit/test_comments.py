"""Comments and moderation in the database: posting, threads, counts, signals, the model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.community import comments, moderation, spam
from newsline.community.audit import Actor, entries
from newsline.config import CommentSettings
from newsline.db.channels import sync_channels
from newsline.db.engine import engine_for
from newsline.db.models import Comment, CommentFlag, Item, Publication, User, utcnow

pytestmark = pytest.mark.postgres


@dataclass
class World:
    engine: Any
    channel_id: int
    item_id: int
    other_item_id: int
    ann: int
    bob: int
    mod: int


def _user(session: Session, name: str, role: str = "reader", verified: bool = True) -> User:
    user = User(
        email=f"{name}@example.org",
        display_name=name.title(),
        display_key=name,
        role=role,
        unsubscribe_token=f"unsub-{name}",
        verified_at=utcnow() if verified else None,
    )
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def world(make_settings: Any) -> World:
    settings = make_settings()
    engine = engine_for(settings.database_url)
    with Session(engine) as session, session.begin():
        channel_id = sync_channels(session, settings)[settings.channels[0].slug].id
        pub = Publication(tag="harbor", name="Harbor Gazette", republish="full")
        session.add(pub)
        session.flush()
        items = []
        for key in ("one", "two"):
            item = Item(
                publication_id=pub.id,
                guid=key,
                url=f"https://harbor.example.org/{key}",
                state="ready",
                title=f"Item {key}",
                slug=key,
            )
            session.add(item)
            session.flush()
            items.append(item.id)
        ann = _user(session, "ann")
        bob = _user(session, "bob")
        mod = _user(session, "mod", role="moderator")
        return World(engine, channel_id, items[0], items[1], ann.id, bob.id, mod.id)


def _post(
    w: World,
    author: int,
    body: str,
    parent: int | None = None,
    settings: CommentSettings | None = None,
    ip: str = "198.51.100.7",
    item: int | None = None,
    now: Any = None,
) -> Comment:
    with Session(w.engine, expire_on_commit=False) as session, session.begin():
        user = session.get(User, author)
        assert user is not None
        posted = comments.post(
            session,
            settings or CommentSettings(),
            item_id=item or w.item_id,
            channel_id=w.channel_id,
            author=user,
            body=body,
            parent_id=parent,
            ip=ip,
            now=now,
        )
        return posted.comment


def _count(w: World, item: int | None = None) -> int:
    with Session(w.engine) as session:
        return session.scalar(select(Item.comment_count).where(Item.id == (item or w.item_id))) or 0


def _status(w: World, comment_id: int) -> str:
    with Session(w.engine) as session:
        comment = session.get(Comment, comment_id)
        assert comment is not None
        return comment.status


def test_post_reply_and_count(world: World) -> None:
    first = _post(world, world.ann, "Hello *harbour*, see <https://example.org/a>")
    assert first.status == "published" and first.depth == 0
    assert "<em>harbour</em>" in first.body_html
    assert 'rel="nofollow ugc noopener"' in first.body_html
    reply = _post(world, world.bob, "Agreed.", parent=first.id)
    assert reply.depth == 1 and reply.parent_id == first.id
    assert _count(world) == 2
    with pytest.raises(comments.CommentError, match="not on this item"):
        _post(world, world.bob, "Wrong item", parent=first.id, item=world.other_item_id)
    assert _count(world) == 2 and _count(world, world.other_item_id) == 0


def test_unverified_deleted_and_banned_accounts_are_refused(world: World) -> None:
    with Session(world.engine) as session, session.begin():
        _user(session, "newbie", verified=False)
    with Session(world.engine) as session:
        newbie = session.scalar(select(User.id).where(User.display_key == "newbie"))
    assert newbie is not None
    with pytest.raises(comments.CommentForbidden, match="Verify your e-mail"):
        _post(world, newbie, "First!")
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.ban(
            session,
            Actor.of(moderator),
            moderator,
            user_id=world.ann,
            hours=1,
            reason="abuse",
        )
        moderation.ban(
            session, Actor.of(moderator), moderator, network="203.0.113.0/24", reason="spam farm"
        )
    with pytest.raises(comments.CommentForbidden, match="cannot comment here until"):
        _post(world, world.ann, "Let me in")
    with pytest.raises(comments.CommentForbidden, match="cannot comment here"):
        _post(world, world.bob, "From the farm", ip="203.0.113.99")
    assert _post(world, world.bob, "From home", ip="198.51.100.1").status == "published"
    # A ban that has run out bars nobody.
    later = utcnow() + timedelta(hours=2)
    assert _post(world, world.ann, "Back again", now=later).status == "published"
    with Session(world.engine) as session:
        assert {e.action for e in entries(session)} == {"ban.add"}


def test_bodies_are_checked_before_parsing(world: World) -> None:
    with pytest.raises(comments.BodyError, match="too long"):
        _post(world, world.ann, "x" * 1_000_000)
    with pytest.raises(comments.BodyError, match="empty"):
        _post(world, world.ann, " \u202e\n\t ")
    assert _count(world) == 0


def test_edit_within_the_window_only_and_only_ones_own(world: World) -> None:
    posted = _post(world, world.ann, "Frist")
    with Session(world.engine) as session, session.begin():
        ann = session.get(User, world.ann)
        bob = session.get(User, world.bob)
        assert ann is not None and bob is not None
        with pytest.raises(comments.CommentForbidden):
            comments.edit(session, CommentSettings(), comment_id=posted.id, user=bob, body="pwned")
        edited = comments.edit(
            session, CommentSettings(), comment_id=posted.id, user=ann, body="First"
        )
        assert edited.edited_at is not None and edited.body_html == "<p>First</p>"
        with pytest.raises(comments.CommentConflict, match="15 minutes"):
            comments.edit(
                session,
                CommentSettings(),
                comment_id=posted.id,
                user=ann,
                body="Later",
                now=utcnow() + timedelta(minutes=16),
            )


def test_delete_own_keeps_the_thread(world: World) -> None:
    root = _post(world, world.ann, "Root")
    reply = _post(world, world.bob, "Reply", parent=root.id)
    with Session(world.engine) as session, session.begin():
        bob = session.get(User, world.bob)
        assert bob is not None
        with pytest.raises(comments.CommentForbidden):
            comments.delete_own(session, comment_id=root.id, user=bob)
        ann = session.get(User, world.ann)
        assert ann is not None
        comments.delete_own(session, comment_id=root.id, user=ann)
    assert _count(world) == 1
    with Session(world.engine) as session:
        page = comments.thread(session, world.item_id)
        assert [(c.id, c.status, c.body_html) for c in page.comments] == [
            (root.id, "deleted", ""),
            (reply.id, "published", "<p>Reply</p>"),
        ]
        stored = session.get(Comment, root.id)
        assert stored is not None and stored.body == ""


def test_votes_once_never_ones_own_and_flags_once(world: World) -> None:
    posted = _post(world, world.ann, "Vote for me")
    with Session(world.engine) as session, session.begin():
        ann = session.get(User, world.ann)
        bob = session.get(User, world.bob)
        assert ann is not None and bob is not None
        with pytest.raises(comments.CommentForbidden):
            comments.vote(session, comment_id=posted.id, user=ann)
        assert comments.vote(session, comment_id=posted.id, user=bob).score == 1
        assert comments.vote(session, comment_id=posted.id, user=bob).score == 1
        assert comments.flag(session, comment_id=posted.id, user=bob, reason="rude") is True
        assert comments.flag(session, comment_id=posted.id, user=bob, reason="again") is False
        with pytest.raises(comments.CommentError, match="why"):
            comments.flag(session, comment_id=posted.id, user=ann, reason="   ")


@pytest.mark.parametrize(
    ("settings", "bodies", "reason"),
    [
        (CommentSettings(max_links=1), ["http://a.example http://b.example"], "2 links"),
        (CommentSettings(blocked_words=["Casino Bonus"]), ["Try our casino bonus!"], "blocked"),
        (CommentSettings(), ["Same words", "Same words"], "repeated text by the same author"),
        (CommentSettings(velocity_max=3), ["a", "b", "c", "d"], "posting fast"),
        (CommentSettings(hold_first_comments=True), ["Hi"], "first comment"),
    ],
)
def test_spam_signals_hold_instead_of_publishing(
    world: World, settings: CommentSettings, bodies: list[str], reason: str
) -> None:
    posted = [_post(world, world.ann, body, settings=settings) for body in bodies]
    last = posted[-1]
    assert last.status == "held" and reason in (last.hold_reason or "")
    assert all(p.status == "published" for p in posted[:-1])
    assert _count(world) == len(bodies) - 1


def test_repeated_text_from_one_network_is_held(world: World) -> None:
    _post(world, world.ann, "Buy now", ip="192.0.2.10")
    held = _post(world, world.bob, "Buy now", ip="192.0.2.77")
    assert held.status == "held" and held.hold_reason == "repeated text from the same network"


def test_held_first_comment_is_approved_then_the_next_publishes(world: World) -> None:
    settings = CommentSettings(hold_first_comments=True)
    held = _post(world, world.ann, "Hi all", settings=settings)
    with Session(world.engine) as session:
        # The author sees their held comment; nobody else does.
        assert [
            c.id for c in comments.thread(session, world.item_id, viewer_id=world.ann).comments
        ] == [held.id]
        assert comments.thread(session, world.item_id, viewer_id=world.bob).comments == []
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(
            session, Actor.of(moderator), moderator, comment_id=held.id, action="restore"
        )
    assert _count(world) == 1
    assert _post(world, world.ann, "Second", settings=settings).status == "published"


def test_moderation_actions_keep_counts_resolve_reports_and_are_audited(world: World) -> None:
    posted = _post(world, world.ann, "Rude words")
    with Session(world.engine) as session, session.begin():
        bob = session.get(User, world.bob)
        assert bob is not None
        comments.flag(session, comment_id=posted.id, user=bob, reason="rude")
    with Session(world.engine) as session:
        flagged = moderation.queue(session, "flagged")
        assert [(e.comment.id, e.reasons) for e in flagged] == [(posted.id, ["rude"])]
    with Session(world.engine) as session, session.begin():
        bob = session.get(User, world.bob)
        assert bob is not None
        with pytest.raises(comments.CommentForbidden):
            moderation.act(session, Actor.of(bob), bob, comment_id=posted.id, action="hide")
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(
            session,
            Actor.of(moderator),
            moderator,
            comment_id=posted.id,
            action="hide",
            reason="insults",
        )
    assert _count(world) == 0 and _status(world, posted.id) == "hidden"
    with Session(world.engine) as session:
        assert moderation.queue(session, "flagged") == []
        assert session.scalar(select(CommentFlag.resolved_at)) is not None
        # The author still sees it, marked; a reader sees nothing (no replies hang from it).
        mine = comments.thread(session, world.item_id, viewer_id=world.ann).comments
        assert [(c.status, c.mine, c.body_html) for c in mine] == [
            ("hidden", True, "<p>Rude words</p>")
        ]
        assert comments.thread(session, world.item_id).comments == []
        entry = entries(session, action="comment.hide")[0]
        assert (entry.actor, entry.reason, entry.target_id) == (
            "mod@example.org",
            "insults",
            str(posted.id),
        )
        assert entry.detail["from"] == "published" and entry.detail["to"] == "hidden"
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(
            session, Actor.of(moderator), moderator, comment_id=posted.id, action="restore"
        )
        moderation.act(session, Actor.cli(), None, comment_id=posted.id, action="delete")
    assert _count(world) == 0 and _status(world, posted.id) == "deleted"


def test_two_moderators_hiding_at_once_count_once(world: World) -> None:
    posted = _post(world, world.ann, "Contested")
    _post(world, world.bob, "Unrelated")
    first = Session(world.engine)
    second = Session(world.engine)
    try:
        a = first.get(Comment, posted.id)
        b = second.get(Comment, posted.id)
        assert a is not None and b is not None
        assert comments.set_status(first, a, "hidden") is True
        first.commit()
        assert comments.set_status(second, b, "hidden") is False
        second.commit()
    finally:
        first.close()
        second.close()
    assert _count(world) == 1


def test_threads_page_sort_and_flatten_deep_replies(world: World) -> None:
    with Session(world.engine) as session, session.begin():
        base = utcnow() - timedelta(days=1)
        for n in range(7):
            session.add(
                Comment(
                    item_id=world.item_id,
                    channel_id=world.channel_id,
                    author_id=world.ann,
                    body=f"root {n}",
                    body_html=f"<p>root {n}</p>",
                    score=n % 3,
                    created_at=base + timedelta(minutes=n),
                )
            )
        session.flush()
        roots = list(session.scalars(select(Comment.id).order_by(Comment.id)))
        parent = roots[0]
        for depth in range(1, 6):
            reply = Comment(
                item_id=world.item_id,
                channel_id=world.channel_id,
                author_id=world.bob,
                parent_id=parent,
                depth=depth,
                body=f"d{depth}",
                body_html=f"<p>d{depth}</p>",
                created_at=base + timedelta(hours=1, minutes=depth),
            )
            session.add(reply)
            session.flush()
            parent = reply.id
    with Session(world.engine) as session:
        first = comments.thread(session, world.item_id, page_size=3)
        assert first.has_more and first.roots == roots[:3]
        assert [c.indent for c in first.comments[:6]] == [0, 1, 2, 3, 3, 3]
        deep = first.comments[4]
        assert deep.in_reply_to == ("Bob", first.comments[3].id)
        assert first.comments[3].in_reply_to is None
        last = comments.thread(session, world.item_id, page_size=3, page=3)
        assert last.roots == roots[6:] and not last.has_more
        newest = comments.thread(session, world.item_id, sort="newest", page_size=2)
        assert newest.roots == [roots[6], roots[5]]
        top = comments.thread(session, world.item_id, sort="top", page_size=7)
        assert [session.get(Comment, r).score for r in top.roots] == [2, 2, 1, 1, 0, 0, 0]  # type: ignore[union-attr]
        one = comments.thread(session, world.item_id, root_id=roots[0])
        assert len(one.comments) == 6


def test_the_spam_model_learns_from_moderators(world: World) -> None:
    settings = CommentSettings(max_links=10, velocity_max=1000)
    spammy = "cheap pills online pharmacy discount viagra pills"
    hammy = "the harbour bridge vote was close and the council will meet again"
    ids: list[tuple[int, str]] = []
    for n in range(spam.MIN_DECISIONS // 2 + 1):
        ids.append((_post(world, world.ann, f"{spammy} {n}", settings=settings).id, "spam"))
        ids.append((_post(world, world.bob, f"{hammy} {n}", settings=settings).id, "restore"))
    with Session(world.engine) as session:
        assert spam.spam_probability(session, world.channel_id, spammy) is None
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        for comment_id, action in ids:
            if action == "spam":
                moderation.act(
                    session, Actor.of(moderator), moderator, comment_id=comment_id, action="spam"
                )
            else:
                # Dismissing reports on a published comment teaches "ham".
                comment = session.get(Comment, comment_id)
                assert comment is not None
                spam.learn(session, comment, "ham")
    with Session(world.engine) as session:
        state = spam.model_state(session, world.channel_id)
        assert state.ready and state.spam == state.ham
        assert (
            spam.spam_probability(session, world.channel_id, "discount pills online") or 0
        ) > 0.9
        assert (spam.spam_probability(session, world.channel_id, "the council vote") or 1) < 0.1
    held = _post(world, world.bob, "discount pharmacy pills here", settings=settings)
    assert held.status == "held" and (held.hold_reason or "").startswith("spam model")
    assert (
        _post(world, world.ann, "the council will vote on the bridge", settings=settings).status
        == "published"
    )
    # A moderator changing their mind unlearns first: the counts stay one per comment.
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(
            session, Actor.of(moderator), moderator, comment_id=ids[0][0], action="restore"
        )
    with Session(world.engine) as session:
        after = spam.model_state(session, world.channel_id)
        assert (after.spam, after.ham) == (state.spam - 1, state.ham + 1)


def test_recount_repairs_the_denormalised_count(world: World) -> None:
    _post(world, world.ann, "one")
    with Session(world.engine) as session, session.begin():
        session.get(Item, world.item_id).comment_count = 9  # type: ignore[union-attr]
    with Session(world.engine) as session, session.begin():
        assert comments.recount(session) == 1
    assert _count(world) == 1


def _version(w: World, item: int | None = None) -> tuple[int, Any]:
    with Session(w.engine) as session:
        row = session.execute(
            select(Item.comment_version, Item.comments_changed_at).where(
                Item.id == (item or w.item_id)
            )
        ).one()
        return int(row[0]), row[1]


def test_every_change_the_section_shows_bumps_the_items_comment_version(world: World) -> None:
    """The web caches the rendered section per version and dates the page by the stamp."""
    seen = [_version(world)]
    assert seen[0] == (0, None)

    def bumped() -> None:
        now = _version(world)
        assert now[0] > seen[-1][0] and now[1] is not None
        assert seen[-1][1] is None or now[1] >= seen[-1][1]
        seen.append(now)

    posted = _post(world, world.ann, "First remark")
    bumped()
    held = _post(
        world,
        world.bob,
        "Buy now https://a.example https://b.example https://c.example",
        settings=CommentSettings(max_links=1),
    )
    assert held.status == "held"
    bumped()  # its author sees it in the section
    with Session(world.engine) as session, session.begin():
        bob = session.get(User, world.bob)
        assert bob is not None
        comments.vote(session, comment_id=posted.id, user=bob)
    bumped()
    with Session(world.engine) as session, session.begin():
        bob = session.get(User, world.bob)
        assert bob is not None
        comments.vote(session, comment_id=posted.id, user=bob)  # again: nothing changes
        comments.flag(session, comment_id=posted.id, user=bob, reason="rude")  # not shown
    assert _version(world) == seen[-1]
    with Session(world.engine) as session, session.begin():
        ann = session.get(User, world.ann)
        assert ann is not None
        comments.edit(session, CommentSettings(), comment_id=posted.id, user=ann, body="Amended")
    bumped()
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(session, Actor.of(moderator), moderator, comment_id=posted.id, action="hide")
    bumped()
    with Session(world.engine) as session, session.begin():
        moderator = session.get(User, world.mod)
        assert moderator is not None
        moderation.act(
            session, Actor.of(moderator), moderator, comment_id=posted.id, action="restore"
        )
    bumped()
    with Session(world.engine) as session, session.begin():
        ann = session.get(User, world.ann)
        assert ann is not None
        comments.delete_own(session, comment_id=posted.id, user=ann)
    bumped()
    assert _version(world, world.other_item_id) == (0, None)
