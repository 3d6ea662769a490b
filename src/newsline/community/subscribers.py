"""E-mail subscribers of a channel's Digest: double opt-in, cadence, one-click unsubscribe.

A subscriber row starts ``pending`` with a random token; the confirmation mail links to
``/<channel>/digest/confirm?token=...``. Only ``confirmed`` subscribers get digests. The
same token signs the unsubscribe link (``List-Unsubscribe``), so no login is needed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsline.db.models import Digest, Subscriber
from newsline.errors import NewslineError

Cadence = Literal["all", "daily"]
CADENCES: tuple[str, ...] = ("all", "daily")


class SubscriptionError(NewslineError, ValueError):
    """A subscription request that cannot be accepted (bad address, hour or zone)."""


def normalize_email(address: str) -> str:
    """The address in its normal form (domain lower-cased, IDNA in ASCII), or
    :class:`SubscriptionError` naming what is wrong.

    Strict RFC 5322 "addr-spec" syntax only (``email-validator``, no DNS lookups): no
    display names, quotes, comments, groups (``b:c@x``), control characters or bracketed
    IPs, and an ASCII local part, so the mail library cannot read it as something else.
    """
    address = (address or "").strip()
    if len(address) > 320:
        raise SubscriptionError("that e-mail address is too long")
    try:
        valid = validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as exc:
        raise SubscriptionError(f"{address!r} is not an e-mail address: {exc}") from exc
    return valid.ascii_email or valid.normalized


def _check_choice(cadence: str, daily_hour: int, timezone: str | None) -> None:
    if cadence not in CADENCES:
        raise SubscriptionError(f"cadence must be one of {', '.join(CADENCES)}, not {cadence!r}")
    if not 0 <= daily_hour <= 23:
        raise SubscriptionError(f"the daily hour must be 0-23, not {daily_hour}")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SubscriptionError(f"unknown time zone {timezone!r}") from exc


CONFIRMATION_INTERVAL = timedelta(minutes=15)


def new_token() -> str:
    """A fresh, unguessable token for confirm/unsubscribe links."""
    return secrets.token_urlsafe(24)


def subscribe(
    session: Session,
    channel_id: int,
    email: str,
    *,
    cadence: str = "all",
    daily_hour: int = 7,
    timezone: str | None = None,
    confirmed: bool = False,
    now: datetime | None = None,
) -> tuple[Subscriber, bool]:
    """Add or renew a subscription; returns (subscriber, whether a confirmation mail is due).

    A confirmed subscriber only has their choices updated (no mail). An unsubscribed or
    pending one gets a fresh token and must confirm again. ``confirmed=True`` is for the
    operator's CLI (someone who asked in person), never for the web form.
    """
    email = normalize_email(email)
    _check_choice(cadence, daily_hour, timezone)
    now = now or datetime.now(UTC)
    sub = session.scalar(
        select(Subscriber).where(
            Subscriber.channel_id == channel_id, func.lower(Subscriber.email) == email.lower()
        )
    )
    if sub is None:
        sub = Subscriber(channel_id=channel_id, email=email, token=new_token(), created_at=now)
        session.add(sub)
    sub.cadence, sub.daily_hour, sub.timezone = cadence, daily_hour, timezone or None
    if sub.status == "confirmed":
        session.flush()
        return sub, False
    if sub.status == "unsubscribed":
        sub.token = new_token()
        sub.unsubscribed_at = None
    sub.status = "pending"
    session.flush()
    if confirmed:
        _mark_confirmed(session, sub, now)
        return sub, False
    # The form must not become a way to flood somebody's inbox: one confirmation mail per
    # address per CONFIRMATION_INTERVAL, however often the form is sent.
    last = sub.confirmation_sent_at
    if last is not None and now - last < CONFIRMATION_INTERVAL:
        return sub, False
    sub.confirmation_sent_at = now
    return sub, True


def _mark_confirmed(session: Session, sub: Subscriber, now: datetime) -> None:
    sub.status = "confirmed"
    sub.confirmed_at = now
    sub.last_error = None
    if sub.cadence == "daily":
        sub.last_sent_at = now  # the first daily edition comes at the next chosen hour
    else:
        # Digests published before confirming are not sent; the next one is.
        sub.last_sent_at = session.scalar(
            select(func.max(Digest.slot_at)).where(Digest.channel_id == sub.channel_id)
        )
    session.flush()


def by_token(session: Session, token: str) -> Subscriber | None:
    """The subscriber a link token belongs to, or None."""
    if not token or len(token) > 64:
        return None
    return session.scalar(select(Subscriber).where(Subscriber.token == token))


def confirm(session: Session, token: str, now: datetime | None = None) -> Subscriber | None:
    """Confirm the address behind a token (idempotent); None for an unknown token."""
    sub = by_token(session, token)
    if sub is None or sub.status == "unsubscribed":
        return None
    if sub.status != "confirmed":
        _mark_confirmed(session, sub, now or datetime.now(UTC))
    return sub


def unsubscribe(session: Session, token: str, now: datetime | None = None) -> Subscriber | None:
    """Stop all mail to the subscriber behind a token (idempotent); None for an unknown token."""
    sub = by_token(session, token)
    if sub is None:
        return None
    if sub.status != "unsubscribed":
        sub.status = "unsubscribed"
        sub.unsubscribed_at = now or datetime.now(UTC)
        session.flush()
    return sub


def remove(session: Session, channel_id: int, email: str) -> bool:
    """Delete a subscriber outright (operator action); whether one was found."""
    sub = session.scalar(
        select(Subscriber).where(
            Subscriber.channel_id == channel_id,
            func.lower(Subscriber.email) == normalize_email(email).lower(),
        )
    )
    if sub is None:
        return False
    session.delete(sub)
    session.flush()
    return True


def subscribers(session: Session, channel_id: int, status: str | None = None) -> list[Subscriber]:
    """A channel's subscribers (optionally of one status), oldest first."""
    query = select(Subscriber).where(Subscriber.channel_id == channel_id)
    if status is not None:
        query = query.where(Subscriber.status == status)
    return list(session.scalars(query.order_by(Subscriber.id)))
