"""Digest routes: digest-only feeds and the e-mail edition's subscribe / confirm / unsubscribe.

- ``/<channel>/digest/feed.xml`` · ``atom.xml`` · ``feed.json`` — the channel's digests only
- ``/<channel>/digest/archive`` and ``…/archive/<YYYY-MM-DD>`` — every Digest by date;
  a Digest's page links the one before and after it (:func:`digest_nav`, ``_digest_nav.html``)
- ``/<channel>/digest/subscribe`` — GET a form, POST an address (double opt-in mail)
- ``/<channel>/digest/confirm?token=`` — the mailed link: GET shows a button, only its POST
  confirms (mail link scanners follow GETs and would confirm by themselves)
- ``/<channel>/digest/unsubscribe?token=`` — GET a button; POST unsubscribes (RFC 8058
  one-click: mail clients POST ``List-Unsubscribe=One-Click`` here)

The subscription pages are rendered in the channel's chrome (``digest_mail.html``), never
cached (``no-store``: they carry tokens and addresses). Their forms carry a CSRF token
(:mod:`newsline.web.csrf`); confirmation mails are limited per client IP and in all per
hour (``web.confirmations_per_ip_hour``, ``web.confirmations_per_hour``; 429 when spent).
The app includes :data:`router`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from sqlalchemy import Connection, Select, select
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.community.budgets import BudgetSpent
from newsline.community.subscribers import SubscriptionError, by_token
from newsline.community.subscribers import confirm as confirm_token
from newsline.community.subscribers import subscribe as add_subscriber
from newsline.community.subscribers import unsubscribe as stop_subscription
from newsline.config import ChannelSettings, Settings
from newsline.db.channels import channel_row
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Publication
from newsline.publish import editorial
from newsline.publish.digest import shown_overview
from newsline.publish.digest_compose import overview_html
from newsline.publish.feeds_out import MEDIA_TYPES, FeedEntry, FeedInfo, render
from newsline.publish.mailer import MailError, confirmation_message, send_message
from newsline.web.clients import client_key
from newsline.web.csrf import form_fields, require_csrf
from newsline.web.render import page
from newsline.web.site import NO_STORE, ChannelRef, NotFound, Refused, site_of

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

FEED_DIGESTS = 30
#: The archive's first page names the days of at most this many recent Digests.
ARCHIVE_MAX_DIGESTS = 5000
DEFAULT_DAILY_HOUR = 7


def _settings(request: Request) -> Settings:
    return site_of(request).settings


def _channel(request: Request, slug: str) -> ChannelRef:
    """The channel, or :class:`NotFound` (the site's 404 page)."""
    return site_of(request).channel(slug)


def _page(
    request: Request,
    channel: ChannelRef,
    heading: str,
    *paragraphs: str,
    status: int = 200,
    form: str = "",
    **context: Any,
) -> HTMLResponse:
    """A subscription page in the channel's chrome (title band, dateline, sponsor, header)."""
    return page(
        request,
        channel,
        "digest_mail.html",
        None,
        column="digest",
        title=f"{heading} · {channel.cfg.display_name}",
        status_code=status,
        headers=NO_STORE,
        heading=heading,
        paragraphs=paragraphs,
        form=form,
        **context,
    )


# --- subscriptions ------------------------------------------------------------------------


def _form_page(
    request: Request,
    channel: ChannelRef,
    message: str = "",
    status: int = 200,
    email: str = "",
    hour: int = DEFAULT_DAILY_HOUR,
) -> HTMLResponse:
    return _page(
        request,
        channel,
        "Subscribe to the Digest",
        f"Get {channel.cfg.display_name}'s Digest by e-mail: the news by hashtag, with a "
        "short overview. We send a confirmation link first; nothing else arrives until "
        "you follow it, and every mail has a one-click unsubscribe link.",
        status=status,
        form="subscribe",
        notice=message,
        email=email,
        daily_hour=hour if 0 <= hour <= 23 else DEFAULT_DAILY_HOUR,
    )


def _no_mail_page(request: Request, channel: ChannelRef) -> HTMLResponse:
    """Said before anyone fills in a form: this site sends no e-mail (the feeds remain).

    A page of its own (200, ``noindex`` like every subscription page), not an error: the
    address is right, the edition is simply not offered here."""
    return _page(
        request,
        channel,
        "The Digest by e-mail is not available",
        f"{channel.cfg.display_name} does not send e-mail, so the Digest cannot be "
        "delivered to an inbox. Read it on the site, or follow it with any feed reader.",
    )


@router.get(urls.DIGEST_SUBSCRIBE)
def subscribe_form(request: Request, channel_slug: str) -> HTMLResponse:
    """The subscription form (or, when this site sends no e-mail, a page saying so)."""
    channel = _channel(request, channel_slug)
    if not _settings(request).email.enabled:
        return _no_mail_page(request, channel)
    return _form_page(request, channel)


@router.post(urls.DIGEST_SUBSCRIBE, dependencies=[Depends(require_csrf)])
async def subscribe(request: Request, channel_slug: str) -> HTMLResponse:
    """Record a pending subscription and mail the confirmation link."""
    settings = _settings(request)
    channel = _channel(request, channel_slug)
    if not settings.email.enabled:
        return _no_mail_page(request, channel)
    form = await form_fields(request)
    email = form.get("email", "")
    try:
        hour = int(form.get("daily_hour", str(DEFAULT_DAILY_HOUR)) or DEFAULT_DAILY_HOUR)
    except ValueError:
        return _form_page(request, channel, "Choose an hour from the list.", 400, email)
    return await run_in_threadpool(
        _subscribe_sync,
        request,
        client_key(request),
        settings,
        channel,
        email,
        form.get("cadence", "all"),
        hour,
        form.get("timezone") or None,
    )


def _subscribe_sync(
    request: Request,
    client: str,
    settings: Settings,
    channel: ChannelRef,
    email: str,
    cadence: str,
    hour: int,
    tz: str | None,
) -> HTMLResponse:
    cfg: ChannelSettings = channel.cfg
    if tz == cfg.timezone:
        tz = None
    try:
        with session_scope(settings.database_url) as session:
            row = channel_row(session, settings, cfg.slug)
            sub, needs_mail = add_subscriber(
                session, row.id, email, cadence=cadence, daily_hour=hour, timezone=tz
            )
            message = None
            if needs_mail:
                # Counted before anything is sent; a spent budget rolls the whole request back.
                site_of(request).limits.spend_budgets(
                    session,
                    [
                        (f"confirm:client:{client}", settings.web.confirmations_per_ip_hour),
                        ("confirm:all", settings.web.confirmations_per_hour),
                    ],
                )
                message = confirmation_message(settings, cfg, sub)
    except SubscriptionError as exc:
        return _form_page(request, channel, str(exc), 400, email, hour)
    except BudgetSpent as exc:
        log.warning("confirmation mail refused for channel %s: %s", cfg.slug, exc)
        raise Refused(
            "Too many subscription requests: no more confirmation mails can be sent "
            "just now. Please try again in an hour.",
            status=429,
            channel=channel,
            retry_after=exc.retry_after,
        ) from exc
    if message is not None:
        try:
            send_message(settings.email, message)
        except MailError as exc:
            log.error("confirmation mail for channel %s failed: %s", cfg.slug, exc)
            return _page(
                request,
                channel,
                "Please try again later",
                "We could not send the confirmation mail.",
                status=503,
            )
    # The same answer whether or not the address was already subscribed (no enumeration).
    return _page(
        request,
        channel,
        "Check your inbox",
        "If the address is right, a confirmation link is on its way. "
        "Follow it to start receiving the Digest.",
    )


def _token_known(settings: Settings, token: str) -> bool:
    with session_scope(settings.database_url) as session:
        sub = by_token(session, token)
        return sub is not None and sub.status != "unsubscribed"


def _invalid_confirmation(request: Request, channel: ChannelRef) -> HTMLResponse:
    return _page(
        request, channel, "Link not valid", "This confirmation link is not valid.", status=404
    )


@router.get(urls.DIGEST_CONFIRM)
def confirm_form(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """The mailed link: a button that confirms (a GET never confirms: link scanners)."""
    channel = _channel(request, channel_slug)
    if not _token_known(_settings(request), token):
        return _invalid_confirmation(request, channel)
    return _page(
        request,
        channel,
        "Confirm your subscription",
        f"Press the button to start receiving {channel.cfg.display_name}'s Digest.",
        form="confirm",
        token=token,
    )


@router.post(urls.DIGEST_CONFIRM, dependencies=[Depends(require_csrf)])
async def confirm(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """The button's target: confirm the address behind the token."""
    settings = _settings(request)
    channel = _channel(request, channel_slug)
    token = token or (await form_fields(request)).get("token", "")
    email = await run_in_threadpool(_confirm_sync, settings, token)
    if email is None:
        return _invalid_confirmation(request, channel)
    return _page(
        request,
        channel,
        "Subscription confirmed",
        f"{email} will receive {channel.cfg.display_name}'s Digest.",
    )


def _confirm_sync(settings: Settings, token: str) -> str | None:
    with session_scope(settings.database_url) as session:
        sub = confirm_token(session, token)
        return sub.email if sub is not None else None


@router.get(urls.DIGEST_UNSUBSCRIBE)
def unsubscribe_form(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """A button that unsubscribes (a GET never unsubscribes: link scanners follow GETs)."""
    return _page(
        request,
        _channel(request, channel_slug),
        "Unsubscribe from the Digest",
        "Press the button to stop receiving the Digest at this address.",
        form="unsubscribe",
        token=token,
    )


@router.post(urls.DIGEST_UNSUBSCRIBE)
async def unsubscribe(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """One-click unsubscribe (RFC 8058) and the button's target."""
    settings = _settings(request)
    channel = _channel(request, channel_slug)
    form = await form_fields(request)
    token = token or form.get("token", "")
    found = await run_in_threadpool(_unsubscribe_sync, settings, token)
    if not found:
        return _page(
            request, channel, "Link not valid", "This unsubscribe link is not valid.", status=404
        )
    return _page(request, channel, "Unsubscribed", "You will receive no more Digests from us.")


def _unsubscribe_sync(settings: Settings, token: str) -> bool:
    with session_scope(settings.database_url) as session:
        return stop_subscription(session, token) is not None


# --- previous / next and the archive by date ----------------------------------------------


@dataclass(frozen=True)
class DigestLink:
    """A Digest as the navigation and the archive name it."""

    title: str
    url: str
    slot_at: datetime
    entries: int


@dataclass(frozen=True)
class DigestNav:
    """What a Digest page links to: the Digests before and after it, its day, the archive."""

    previous: DigestLink | None
    next: DigestLink | None
    day_label: str
    day_url: str
    archive_url: str


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _digests(channel_id: int) -> Select[Any]:
    """The channel's published Digests (withdrawn ones are not linked)."""
    return (
        select(Digest.slot_at, Digest.entries, Item.title, Item.slug, Item.id, Publication.tag)
        .join(Item, Item.id == Digest.item_id)
        .join(Publication, Publication.id == Item.publication_id)
        .where(Digest.channel_id == channel_id, Item.state == "ready")
    )


def _link(urls_: urls.Urls, channel: ChannelRef, row: Any) -> DigestLink:
    return DigestLink(
        title=row.title,
        url=urls_.item(channel.slug, row.tag, row.slug or row.id),
        slot_at=_aware(row.slot_at),
        entries=len(row.entries or []),
    )


def _day_label(day: date) -> str:
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


def digest_neighbours(
    conn: Connection, urls_: urls.Urls, channel: ChannelRef, item_id: int
) -> DigestNav | None:
    """Previous and next Digest of the Digest stored as item `item_id`; None if it is none."""
    slot = conn.scalar(
        select(Digest.slot_at).where(Digest.item_id == item_id, Digest.channel_id == channel.id)
    )
    if slot is None:
        return None
    query = _digests(channel.id)
    before = conn.execute(
        query.where(Digest.slot_at < slot).order_by(Digest.slot_at.desc()).limit(1)
    ).first()
    after = conn.execute(
        query.where(Digest.slot_at > slot).order_by(Digest.slot_at).limit(1)
    ).first()
    day = _aware(slot).astimezone(channel.cfg.zone).date()
    return DigestNav(
        previous=_link(urls_, channel, before) if before else None,
        next=_link(urls_, channel, after) if after else None,
        day_label=_day_label(day),
        day_url=urls_.digest_day(channel.slug, day.isoformat()),
        archive_url=urls_.digest_archive(channel.slug),
    )


@pass_context
def digest_nav(context: Context) -> DigestNav | None:
    """Jinja global for ``_digest_nav.html``: the navigation of the page's Digest (``item``)."""
    request: Request = context["request"]
    channel: ChannelRef = context["channel"]
    site = site_of(request)
    with site.engine.connect() as conn:
        return digest_neighbours(conn, site.urls, channel, context["item"].id)


@router.get(urls.DIGEST_ARCHIVE)
def digest_archive(request: Request, channel_slug: str) -> HTMLResponse:
    """Every day that has Digests, newest first, with how many."""
    site = site_of(request)
    channel = _channel(request, channel_slug)
    zone = channel.cfg.zone
    with site.engine.connect() as conn:
        slots = conn.scalars(
            select(Digest.slot_at)
            .join(Item, Item.id == Digest.item_id)
            .where(Digest.channel_id == channel.id, Item.state == "ready")
            .order_by(Digest.slot_at.desc())
            .limit(ARCHIVE_MAX_DIGESTS)
        ).all()
        counts: dict[date, int] = {}
        for slot in slots:
            day = _aware(slot).astimezone(zone).date()
            counts[day] = counts.get(day, 0) + 1
        days = [
            {
                "label": _day_label(day),
                "url": site.urls.digest_day(channel.slug, day.isoformat()),
                "count": count,
                "month": f"{day:%B} {day.year}",
            }
            for day, count in counts.items()
        ]
        return page(
            request,
            channel,
            "digest_archive.html",
            conn,
            column="digest",
            title=f"The Digest by date · {channel.cfg.display_name}",
            heading="The Digest by date",
            days=days,
            digests=None,
        )


@router.get(urls.DIGEST_DAY)
def digest_day(request: Request, channel_slug: str, day: str) -> HTMLResponse:
    """One day's Digests (the channel's calendar day), oldest first, with the days around."""
    site = site_of(request)
    channel = _channel(request, channel_slug)
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise NotFound("no such day: use YYYY-MM-DD", channel) from None
    if day != wanted.isoformat():
        raise NotFound("no such day: use YYYY-MM-DD", channel)
    zone = channel.cfg.zone
    start = datetime.combine(wanted, time(0), zone).astimezone(UTC)
    end = datetime.combine(wanted + timedelta(days=1), time(0), zone).astimezone(UTC)
    lo, hi = start, end
    query = _digests(channel.id)
    with site.engine.connect() as conn:
        rows = conn.execute(
            query.where(Digest.slot_at >= lo, Digest.slot_at < hi).order_by(Digest.slot_at)
        ).all()
        if not rows:
            raise NotFound(f"no Digest on {wanted.isoformat()}", channel)
        before = conn.execute(
            query.where(Digest.slot_at < lo).order_by(Digest.slot_at.desc()).limit(1)
        ).first()
        after = conn.execute(
            query.where(Digest.slot_at >= hi).order_by(Digest.slot_at).limit(1)
        ).first()

        def day_link(row: Any) -> dict[str, str] | None:
            if row is None:
                return None
            other = _aware(row.slot_at).astimezone(zone).date()
            return {
                "label": _day_label(other),
                "url": site.urls.digest_day(channel.slug, other.isoformat()),
            }

        return page(
            request,
            channel,
            "digest_archive.html",
            conn,
            column="digest",
            title=f"The Digest, {_day_label(wanted)} · {channel.cfg.display_name}",
            heading=f"The Digest, {_day_label(wanted)}",
            days=None,
            digests=[_link(site.urls, channel, row) for row in rows],
            earlier=day_link(before),
            later=day_link(after),
        )


# --- feeds (registered last: its path has a free segment) -------------------------------


@router.get(urls.DIGEST_FEED)
def digest_feed(request: Request, channel_slug: str, name: str) -> Response:
    """The channel's digests as RSS (``feed.xml``), Atom (``atom.xml``) or JSON Feed."""
    site = site_of(request)
    settings = site.settings
    channel = _channel(request, channel_slug)
    cfg = channel.cfg
    kind = urls.feed_kind(name)
    if kind is None:
        raise NotFound("no such digest feed", channel)
    with session_scope(settings.database_url) as session:
        rows = list(
            session.execute(
                select(Digest.slot_at, Digest.created_at, Item)
                .join(Item, Item.id == Digest.item_id)
                .where(Digest.channel_id == channel.id, Item.state == "ready")
                .order_by(Digest.slot_at.desc())
                .limit(FEED_DIGESTS)
            )
        )
        # Entries unpublished since a Digest was published leave its feed entry too.
        bodies = {
            item.id: editorial.without_withdrawn(session, item.id, item.body_html)
            for _, _, item in rows
        }
        overviews = {item.id: shown_overview(session, item.id, item.summary) for _, _, item in rows}
    entries = [
        FeedEntry(
            id=item.url,
            url=item.url,
            title=item.title,
            published=slot_at,
            updated=created_at,
            author=cfg.display_name,
            summary=overviews[item.id][0],
            content_html=overview_html(*overviews[item.id]) + bodies[item.id],
            image_url=item.image_url,
            tags=("#digest",),
        )
        for slot_at, created_at, item in rows
    ]
    info = FeedInfo(
        title=f"The Digest · {cfg.display_name}",
        home_url=site.urls.absolute(site.urls.digests(cfg.slug, cfg.own_tag)),
        feed_url=site.urls.absolute(site.urls.digest_feed(cfg.slug, kind)),
        description=f"Every Digest of {cfg.display_name}: the news of each half hour, by hashtag",
        updated=max((e.updated or e.published for e in entries), default=None),
        author=cfg.display_name,
    )
    return Response(
        render(kind, info, entries),
        media_type=MEDIA_TYPES[kind],
        headers={"cache-control": "public, max-age=300"},
    )
