"""The audit log: entries written in the caller's transaction, read back filtered."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsline.community.audit import Actor, entries, record
from newsline.db.engine import engine_for
from newsline.db.models import User

pytestmark = pytest.mark.postgres


def test_entries_are_recorded_with_their_transaction_and_filtered(database_url: str) -> None:
    engine = engine_for(database_url)
    with Session(engine) as session, session.begin():
        editor = User(
            email="ed@example.org", display_name="Ed", display_key="ed", unsubscribe_token="t1"
        )
        session.add(editor)
        session.flush()
        record(session, Actor.of(editor), "comment.hide", "comment", 7, reason="abuse")
        record(session, Actor.cli(), "item.unpublish", "item", 3, detail={"was": "ready"})
    with Session(engine) as session, session.begin():
        record(session, Actor.cli(), "item.republish", "item", 3)
        session.rollback()  # the action failed: its entry goes with it
    with Session(engine) as session:
        assert [e.action for e in entries(session)] == ["item.unpublish", "comment.hide"]
        hidden = entries(session, action="comment.")
        assert [(e.actor, e.actor_id is not None, e.reason) for e in hidden] == [
            ("ed@example.org", True, "abuse")
        ]
        item = entries(session, target_type="item", target_id=3)
        assert item[0].actor.startswith("cli:") and item[0].detail == {"was": "ready"}
        assert entries(session, action="comment") == []  # exact unless it ends in "."


def test_an_entry_cannot_be_rewritten_through_the_orm(database_url: str) -> None:
    engine = engine_for(database_url)
    with Session(engine) as session, session.begin():
        record(session, Actor.cli(), "user.ban", "user", 1, reason="spam")
    with (
        pytest.raises(DBAPIError, match="append-only"),
        Session(engine) as session,
        session.begin(),
    ):
        entries(session)[0].reason = "nothing happened"
