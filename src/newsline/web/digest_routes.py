"""Digest routes: digest-only feeds and the e-mail edition's subscribe / confirm / unsubscribe.

- ``/<channel>/digest/feed.xml`` · ``atom.xml`` · ``feed.json`` — the channel's digests only
- ``/<channel>/digest/subscribe`` — GET a form, POST an address (double opt-in mail)
- ``/<channel>/digest/confirm?token=`` — follow the confirmation link
- ``/<channel>/digest/unsubscribe?token=`` — GET a button; POST unsubscribes (RFC 8058
  one-click: mail clients POST ``List-Unsubscribe=One-Click`` here)

The app includes :data:`router`; settings come from ``app.state.site`` (the web app's
:class:`~newsline.web.site.Site`) or ``app.state.settings``.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from newsline.config import ChannelSettings, Settings
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

FEED_DIGESTS = 30
FEED_NAMES = {"feed.xml": "rss", "atom.xml": "atom", "feed.json": "json"}
MAX_FORM_BYTES = 4096


def _settings(request: Request) -> Settings:
    site = getattr(request.app.state, "site", None)
    settings = getattr(site, "settings", None) or getattr(request.app.state, "settings", None)
    if not isinstance(settings, Settings):
        raise RuntimeError("the app has neither state.site nor state.settings")
    return settings


def _channel(settings: Settings, slug: str) -> ChannelSettings | None:
    return settings.channel(slug)


def _page(cfg: ChannelSettings | None, title: str, body: str, status: int = 200) -> HTMLResponse:
    """A small self-contained page (no scripts, so the site's strict CSP is satisfied)."""
    name = html.escape(cfg.display_name.upper() if cfg else "NEWSLINE")
    home = f"/{cfg.slug}/newsline" if cfg else "/"
    doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · {name}</title>"
        '<meta name="robots" content="noindex"></head>'
        f'<body class="digest-mail"><header><a href="{html.escape(home)}">{name}</a></header>'
        f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(doc, status_code=status, headers={"cache-control": "no-store"})


def _not_found(cfg: ChannelSettings | None = None) -> HTMLResponse:
    return _page(cfg, "Not found", "<p>There is no such page.</p>", 404)


# --- subscriptions ------------------------------------------------------------------------


def _form_page(cfg: ChannelSettings, message: str = "", status: int = 200) -> HTMLResponse:
    hours = "".join(
        f'<option value="{h}"{" selected" if h == 7 else ""}>{h:02d}:00</option>' for h in range(24)
    )
    body = (
        (f'<p class="notice">{html.escape(message)}</p>' if message else "")
        + f"<p>Get {html.escape(cfg.display_name)}'s Digest by e-mail. We send a confirmation "
        "link first; nothing else arrives until you follow it.</p>"
        f'<form method="post" action="/{html.escape(cfg.slug)}/digest/subscribe">'
        '<p><label>E-mail <input type="email" name="email" required maxlength="320"></label></p>'
        '<p><label><input type="radio" name="cadence" value="all" checked> every Digest</label> '
        '<label><input type="radio" name="cadence" value="daily"> one a day at</label> '
        f'<select name="daily_hour">{hours}</select> '
        f'(<input name="timezone" value="{html.escape(cfg.timezone)}" size="20" '
        'aria-label="time zone">)</p>'
        '<p><button type="submit">Subscribe</button></p></form>'
    )
    return _page(cfg, "Subscribe to the Digest", body, status)


@router.get("/{channel_slug}/digest/subscribe")
def subscribe_form(request: Request, channel_slug: str) -> HTMLResponse:
    """The subscription form."""
    cfg = _channel(_settings(request), channel_slug)
    return _form_page(cfg) if cfg is not None else _not_found()


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    parsed = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items() if v}


@router.post("/{channel_slug}/digest/subscribe")
async def subscribe(request: Request, channel_slug: str) -> HTMLResponse:
    """Record a pending subscription and mail the confirmation link."""
    from starlette.concurrency import run_in_threadpool

    settings = _settings(request)
    cfg = _channel(settings, channel_slug)
    if cfg is None:
        return _not_found()
    if not settings.email.enabled:
        return _page(cfg, "Not available", "<p>This site does not send e-mail.</p>", 503)
    form = await _form(request)
    try:
        hour = int(form.get("daily_hour", "7") or 7)
    except ValueError:
        return _form_page(cfg, "Choose an hour from the list.", 400)
    return await run_in_threadpool(
        _subscribe_sync,
        settings,
        cfg,
        form.get("email", ""),
        form.get("cadence", "all"),
        hour,
        form.get("timezone") or None,
    )


def _subscribe_sync(
    settings: Settings, cfg: ChannelSettings, email: str, cadence: str, hour: int, tz: str | None
) -> HTMLResponse:
    from newsline.community.subscribers import SubscriptionError
    from newsline.community.subscribers import subscribe as add
    from newsline.publish.digest import channel_row
    from newsline.publish.mailer import MailError, confirmation_message, send_message

    if tz == cfg.timezone:
        tz = None
    try:
        with session_scope(settings.database_url) as session:
            channel = channel_row(session, settings, cfg.slug)
            sub, needs_mail = add(
                session, channel.id, email, cadence=cadence, daily_hour=hour, timezone=tz
            )
            message = confirmation_message(settings, cfg, sub) if needs_mail else None
    except SubscriptionError as exc:
        return _form_page(cfg, str(exc), 400)
    if message is not None:
        try:
            send_message(settings.email, message)
        except MailError as exc:
            log.error("confirmation mail for channel %s failed: %s", cfg.slug, exc)
            return _page(
                cfg,
                "Please try again later",
                "<p>We could not send the confirmation mail.</p>",
                503,
            )
    # The same answer whether or not the address was already subscribed (no enumeration).
    return _page(
        cfg,
        "Check your inbox",
        "<p>If the address is right, a confirmation link is on its way. "
        "Follow it to start receiving the Digest.</p>",
    )


@router.get("/{channel_slug}/digest/confirm")
def confirm(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """Follow the double opt-in link."""
    from newsline.community.subscribers import confirm as confirm_token

    settings = _settings(request)
    cfg = _channel(settings, channel_slug)
    if cfg is None:
        return _not_found()
    with session_scope(settings.database_url) as session:
        sub = confirm_token(session, token)
        email = sub.email if sub is not None else None
    if email is None:
        return _page(cfg, "Link not valid", "<p>This confirmation link is not valid.</p>", 404)
    return _page(
        cfg,
        "Subscription confirmed",
        f"<p>{html.escape(email)} will receive {html.escape(cfg.display_name)}'s Digest.</p>",
    )


@router.get("/{channel_slug}/digest/unsubscribe")
def unsubscribe_form(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """A button that unsubscribes (a GET never unsubscribes: link scanners follow GETs)."""
    cfg = _channel(_settings(request), channel_slug)
    if cfg is None:
        return _not_found()
    body = (
        f'<form method="post" action="/{html.escape(cfg.slug)}/digest/unsubscribe?'
        f'token={html.escape(token)}"><input type="hidden" name="List-Unsubscribe" '
        'value="One-Click"><button type="submit">Unsubscribe</button></form>'
    )
    return _page(cfg, "Unsubscribe from the Digest", body)


@router.post("/{channel_slug}/digest/unsubscribe")
async def unsubscribe(request: Request, channel_slug: str, token: str = "") -> HTMLResponse:
    """One-click unsubscribe (RFC 8058) and the button's target."""
    from starlette.concurrency import run_in_threadpool

    settings = _settings(request)
    cfg = _channel(settings, channel_slug)
    if cfg is None:
        return _not_found()
    form = await _form(request)
    token = token or form.get("token", "")
    found = await run_in_threadpool(_unsubscribe_sync, settings, token)
    if not found:
        return _page(cfg, "Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)
    return _page(cfg, "Unsubscribed", "<p>You will receive no more Digests from us.</p>")


def _unsubscribe_sync(settings: Settings, token: str) -> bool:
    from newsline.community.subscribers import unsubscribe as stop

    with session_scope(settings.database_url) as session:
        return stop(session, token) is not None


# --- feeds (registered last: its path has a free segment) --------------------------------------------------------------------------------


@router.get("/{channel_slug}/digest/{name}")
def digest_feed(request: Request, channel_slug: str, name: str) -> Response:
    """The channel's digests as RSS (``feed.xml``), Atom (``atom.xml``) or JSON Feed."""
    from newsline.publish.feeds_out import MEDIA_TYPES, FeedEntry, FeedInfo, render

    settings = _settings(request)
    cfg = _channel(settings, channel_slug)
    kind = FEED_NAMES.get(name)
    if cfg is None or kind is None:
        return _not_found(cfg)
    from newsline.db.models import Channel

    with session_scope(settings.database_url) as session:
        channel_id = session.scalar(select(Channel.id).where(Channel.slug == cfg.slug))
        rows = (
            list(
                session.execute(
                    select(Digest.slot_at, Digest.created_at, Item)
                    .join(Item, Item.id == Digest.item_id)
                    .where(Digest.channel_id == channel_id)
                    .order_by(Digest.slot_at.desc())
                    .limit(FEED_DIGESTS)
                )
            )
            if channel_id is not None
            else []
        )
    base = settings.web.base_url.rstrip("/")
    entries = [
        FeedEntry(
            id=item.url,
            url=item.url,
            title=item.title,
            published=slot_at,
            updated=created_at,
            author=cfg.display_name,
            summary=item.summary or "",
            content_html=_overview_html(item.summary) + item.body_html,
            image_url=item.image_url,
            tags=("#digest",),
        )
        for slot_at, created_at, item in rows
    ]
    info = FeedInfo(
        title=f"The Digest · {cfg.display_name}",
        home_url=f"{base}/{cfg.slug}/solo/{cfg.own_tag}",
        feed_url=f"{base}/{cfg.slug}/digest/{name}",
        description=f"Every Digest of {cfg.display_name}: the news of each half hour, by hashtag",
        updated=max((e.updated or e.published for e in entries), default=None),
        author=cfg.display_name,
    )
    return Response(
        render(kind, info, entries),
        media_type=MEDIA_TYPES[kind],
        headers={"cache-control": "public, max-age=300"},
    )


def _overview_html(overview: str | None) -> str:
    return f'<p class="digest-overview">{html.escape(overview)}</p>' if overview else ""


def include(app: Any) -> None:
    """Add the digest routes to a FastAPI app (before catch-all channel routes)."""
    app.include_router(router)
