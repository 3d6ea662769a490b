"""The Digest's e-mail edition: build HTML + plain-text messages, send them over SMTP.

Subscribers choose every digest (``all``) or one a day at a local hour (``daily``: the
entries of the last day's digests, merged). Each send is first *claimed* in the database
(``last_sent_at`` moved forward by a conditional UPDATE), so two schedulers never mail
the same edition twice; a connection failure gives the claims back for the next tick.
"""

from __future__ import annotations

import html
import logging
import smtplib
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from newsline.config import ChannelSettings, EmailSettings, Settings
from newsline.db.channels import channel_row, channel_settings
from newsline.db.engine import session_scope
from newsline.db.models import Digest, Item, Subscriber
from newsline.errors import NewslineError
from newsline.publish.digest import current_overview, sponsor_block, without_unpublished
from newsline.publish.digest_compose import (
    Entry,
    SponsorBlock,
    entry_from_json,
    extractive_overview,
    group_and_cap,
    overview_html,
    paragraphs,
    rank_key,
)
from newsline.sanitize import web_url
from newsline.urls import Urls

log = logging.getLogger(__name__)


class MailError(NewslineError):
    """The SMTP server could not be reached or refused the session."""


# --- SMTP ---------------------------------------------------------------------------------


@contextmanager
def smtp_session(config: EmailSettings) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP connection per the settings (TLS, STARTTLS or plain)."""
    context = ssl.create_default_context(cafile=str(config.ca_bundle) if config.ca_bundle else None)
    try:
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.username:
                smtp.login(config.username, config.password)
            yield smtp
    except (smtplib.SMTPException, OSError) as exc:
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            raise
        raise MailError(f"SMTP {config.host}:{config.port} ({config.security}): {exc}") from exc


def send_message(config: EmailSettings, message: EmailMessage) -> None:
    """Send one message in its own SMTP session (confirmation mails)."""
    with smtp_session(config) as smtp:
        smtp.send_message(message)


# --- links and headers --------------------------------------------------------------------


def confirm_url(settings: Settings, cfg: ChannelSettings, token: str) -> str:
    """The double opt-in link."""
    urls = Urls(settings.web.base_url)
    return urls.absolute(urls.digest_confirm(cfg.slug, token))


def unsubscribe_url(settings: Settings, cfg: ChannelSettings, token: str) -> str:
    """The one-click unsubscribe link (GET shows a button, POST unsubscribes)."""
    urls = Urls(settings.web.base_url)
    return urls.absolute(urls.digest_unsubscribe(cfg.slug, token))


def _sender(settings: Settings, cfg: ChannelSettings) -> str:
    return formataddr((settings.email.from_name or cfg.display_name, settings.email.from_address))


def _new_message(settings: Settings, cfg: ChannelSettings, to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _sender(settings, cfg)
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = settings.email.from_address.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    return msg


def confirmation_message(settings: Settings, cfg: ChannelSettings, sub: Subscriber) -> EmailMessage:
    """The double opt-in mail: one link to confirm, nothing sent until it is followed."""
    link = confirm_url(settings, cfg, sub.token)
    how = (
        "every Digest"
        if sub.cadence == "all"
        else f"one Digest a day at {sub.daily_hour}:00 ({sub.timezone or cfg.timezone})"
    )
    msg = _new_message(settings, cfg, sub.email, f"Confirm your subscription to {cfg.display_name}")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Someone (hopefully you) asked to receive {how} of {cfg.display_name} at this address.\n\n"
        f"To confirm, open this link:\n{link}\n\n"
        "If you did not ask for this, ignore this message: nothing will be sent.\n"
    )
    msg.add_alternative(
        f"<p>Someone (hopefully you) asked to receive {html.escape(how)} of "
        f"{html.escape(cfg.display_name)} at this address.</p>"
        f'<p><a href="{html.escape(link)}">Confirm my subscription</a></p>'
        "<p>If you did not ask for this, ignore this message: nothing will be sent.</p>",
        subtype="html",
    )
    return msg


# --- editions -----------------------------------------------------------------------------


@dataclass
class Edition:
    """What one e-mail carries: a digest, or a day of digests merged."""

    title: str
    url: str
    overview: str
    groups: list[tuple[str, list[Entry]]]
    until: datetime  # the newest slot covered: becomes the subscriber's last_sent_at
    sponsor: SponsorBlock | None = None

    @property
    def entries(self) -> list[Entry]:
        """All entries, in display order."""
        return [e for _, g in self.groups for e in g]


def _regroup(
    cfg: ChannelSettings, entries: Sequence[Entry], per_group: int, total: int
) -> list[tuple[str, list[Entry]]]:
    return group_and_cap(entries, [h.tag for h in cfg.hashtags], per_group=per_group, total=total)


def digest_edition(session: Session, cfg: ChannelSettings, digest: Digest) -> Edition:
    """The e-mail edition of one stored digest."""
    item = session.get(Item, digest.item_id) if digest.item_id is not None else None
    # Resent or mailed late: without what editors unpublished since, as on its page.
    entries = without_unpublished(session, [entry_from_json(e) for e in digest.entries or []])
    many = max(len(entries), 1)
    return Edition(
        title=item.title if item else f"The Digest of {cfg.display_name}",
        url=item.url if item else "",
        overview=current_overview(session, item.id, item.summary) if item else "",
        groups=_regroup(cfg, entries, many, many),
        until=digest.slot_at,
        sponsor=sponsor_block(cfg),
    )


def daily_edition(
    session: Session, cfg: ChannelSettings, channel_id: int, since: datetime, until: datetime
) -> Edition | None:
    """The day's digests (slots in (since, until]) merged: each story once, newest telling."""
    rows = list(
        session.execute(
            select(Digest, Item.url)
            .outerjoin(Item, Item.id == Digest.item_id)
            .where(Digest.channel_id == channel_id, Digest.slot_at > since, Digest.slot_at <= until)
            .order_by(Digest.slot_at)
        )
    )
    if not rows:
        return None
    merged: dict[str, Entry] = {}
    for digest, _url in rows:
        for data in digest.entries or []:
            entry = entry_from_json(data)
            earlier = merged.get(entry.key)
            if earlier is not None:
                entry.update = False  # one telling of the story in a daily edition
                entry.sources = max(entry.sources, earlier.sources)
            merged[entry.key] = entry
    entries = without_unpublished(session, list(merged.values()))
    local = until.astimezone(cfg.zone)
    return Edition(
        title=f"The Digest, daily edition, {local.month}/{local.day}/{local.year}",
        url=rows[-1][1] or "",
        overview=extractive_overview(sorted(entries, key=rank_key, reverse=True), 1000),
        groups=_regroup(cfg, entries, cfg.digest.max_entries_per_group, cfg.digest.max_entries),
        until=rows[-1][0].slot_at,
        sponsor=sponsor_block(cfg),
    )


# --- rendering for mail clients (inline styles, tables: what mail clients understand) ----

_FONT = "font-family:Georgia,'Times New Roman',serif;"


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def render_email_html(cfg: ChannelSettings, edition: Edition, unsubscribe: str) -> str:
    """A complete HTML document for the e-mail's HTML part."""
    out = [
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{_e(edition.title)}</title></head>",
        f'<body style="margin:0;padding:0;background:#f4f4f4;{_FONT}">',
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">',
        '<table role="presentation" width="640" cellpadding="12" cellspacing="0" '
        'style="max-width:640px;background:#ffffff;">',
        f'<tr><td style="background:#111;color:#fff;font-size:20px;letter-spacing:2px;">'
        f"{_e(cfg.display_name.upper())}</td></tr>",
    ]
    title = _e(edition.title)
    page = web_url(edition.url)
    heading = f'<a href="{_e(page)}" style="color:#111;">{title}</a>' if page else title
    out.append(f'<tr><td><h1 style="font-size:22px;margin:0;">{heading}</h1></td></tr>')
    if edition.overview:
        out.append(
            '<tr><td style="font-size:16px;line-height:1.5;">'
            + overview_html(edition.overview, [e for _, group in edition.groups for e in group])
            + "</td></tr>"
        )
    for tag, entries in edition.groups:
        out.append(
            f'<tr><td><h2 style="font-size:18px;margin:8px 0 0;border-bottom:2px solid #111;">'
            f"#{_e(tag)}</h2></td></tr>"
        )
        for e in entries:
            out.append("<tr><td>" + _email_entry(e) + "</td></tr>")
    if edition.sponsor is not None and web_url(edition.sponsor.url):
        out.append(
            '<tr><td><h2 style="font-size:18px;margin:8px 0 0;border-bottom:2px solid #111;">'
            f'#sponsor</h2><p><a href="{_e(edition.sponsor.url)}">'
            f"{_e(edition.sponsor.text or edition.sponsor.name)}</a></p></td></tr>"
        )
    out.append(
        '<tr><td style="font-size:12px;color:#666;">You receive this because you subscribed to '
        f"{_e(cfg.display_name)}'s Digest. "
        f'<a href="{_e(unsubscribe)}" style="color:#666;">Unsubscribe</a></td></tr>'
    )
    out.append("</table></td></tr></table></body></html>")
    return "\n".join(out)


def _email_entry(e: Entry) -> str:
    url = web_url(e.url)
    label = f"{_e(e.publication)}: {_e(e.title)}"
    link = f'<a href="{_e(url)}" style="color:#0b4f9c;">{label}</a>' if url else label
    parts = ['<table role="presentation" cellpadding="0" cellspacing="0" width="100%"><tr>']
    image = web_url(e.image_url)
    if image:
        parts.append(
            f'<td width="120" valign="top" style="padding-right:12px;">'
            f'<img src="{_e(image)}" width="120" alt="" style="display:block;border:0;"></td>'
        )
    parts.append(f'<td valign="top"><h3 style="font-size:16px;margin:0 0 4px;">{link}</h3>')
    if e.update:
        parts.append(
            f'<p style="margin:0 0 4px;"><strong>Update:</strong> now covered by {e.sources} sources</p>'
        )
    for para in paragraphs(e.summary):
        parts.append(f'<p style="margin:0 0 6px;font-size:15px;line-height:1.4;">{_e(para)}</p>')
    also = [(a.publication, web_url(a.url)) for a in e.also]
    links = ", ".join(f'<a href="{_e(u)}">{_e(p)}</a>' for p, u in also if u)
    if links:
        parts.append(f'<p style="margin:0;font-size:13px;color:#444;">also: {links}</p>')
    parts.append("</td></tr></table>")
    return "".join(parts)


def render_email_text(cfg: ChannelSettings, edition: Edition, unsubscribe: str) -> str:
    """The plain-text part."""
    lines = [cfg.display_name.upper(), "", edition.title, "=" * len(edition.title)]
    if edition.url:
        lines.append(edition.url)
    lines.append("")
    if edition.overview:
        lines += [edition.overview, ""]
    for tag, entries in edition.groups:
        lines += [f"#{tag}", ""]
        for e in entries:
            lines.append(f"* {e.publication}: {e.title}")
            if e.update:
                lines.append(f"  Update: now covered by {e.sources} sources")
            lines.append(f"  {e.url}")
            lines += [f"  {p}" for p in paragraphs(e.summary)]
            if e.also:
                lines.append("  also: " + ", ".join(f"{a.publication} <{a.url}>" for a in e.also))
            lines.append("")
    if edition.sponsor is not None:
        lines += ["#sponsor", "", f"{edition.sponsor.text} <{edition.sponsor.url}>", ""]
    lines += ["--", f"Unsubscribe: {unsubscribe}", ""]
    return "\n".join(lines)


def digest_message(
    settings: Settings, cfg: ChannelSettings, sub: Subscriber, edition: Edition
) -> EmailMessage:
    """One subscriber's e-mail: text + HTML alternatives, RFC 8058 one-click unsubscribe."""
    link = unsubscribe_url(settings, cfg, sub.token)
    msg = _new_message(settings, cfg, sub.email, edition.title)
    msg["List-Id"] = f"{cfg.display_name} Digest <{cfg.slug}.digest.{_list_domain(settings)}>"
    msg["List-Unsubscribe"] = f"<{link}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Precedence"] = "bulk"
    if edition.url:
        msg["List-Archive"] = f"<{edition.url}>"
    msg.set_content(render_email_text(cfg, edition, link))
    msg.add_alternative(render_email_html(cfg, edition, link), subtype="html")
    return msg


def _list_domain(settings: Settings) -> str:
    return settings.email.from_address.rpartition("@")[2] or "localhost"


# --- delivery -----------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: int = 0


def daily_send_at(now: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The latest instant at or before `now` when the subscriber's local clock showed hour:00."""
    local = now.astimezone(zone)
    day = local.date()
    for _ in range(3):
        candidate = datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)
        if candidate <= now:
            return candidate
        day -= timedelta(days=1)
    raise AssertionError("unreachable: a day back is always earlier")


def _claim(session: Session, sub: Subscriber, until: datetime) -> bool:
    """Move the subscriber's last_sent_at to `until` unless someone did already."""
    result = session.execute(
        update(Subscriber)
        .where(
            Subscriber.id == sub.id,
            Subscriber.status == "confirmed",
            or_(Subscriber.last_sent_at.is_(None), Subscriber.last_sent_at < until),
        )
        .values(last_sent_at=until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def deliver_digests(
    settings: Settings, channel_slug: str, now: datetime | None = None
) -> DeliveryReport:
    """Send due editions to the channel's confirmed subscribers.

    ``all``: the newest digest newer than the last one mailed (after an outage: only the
    newest, never a flood). ``daily``: at the subscriber's local hour, the digests since the
    previous daily edition (at most a day), merged.
    """
    cfg = channel_settings(settings, channel_slug)
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    outbox: list[tuple[int, datetime | None, EmailMessage, str]] = []
    with session_scope(settings.database_url) as session:
        channel = channel_row(session, settings, cfg.slug)
        latest = session.scalar(
            select(Digest)
            .where(Digest.channel_id == channel.id, Digest.slot_at <= now)
            .order_by(Digest.slot_at.desc())
            .limit(1)
        )
        latest_edition: Edition | None = None
        subs = list(
            session.scalars(
                select(Subscriber)
                .where(Subscriber.channel_id == channel.id, Subscriber.status == "confirmed")
                .order_by(Subscriber.id)
            )
        )
        for sub in subs:
            previous = sub.last_sent_at
            edition: Edition | None
            if sub.cadence == "daily":
                zone = ZoneInfo(sub.timezone) if sub.timezone else cfg.zone
                send_at = daily_send_at(now, sub.daily_hour, zone)
                if previous is not None and previous >= send_at:
                    report.skipped += 1
                    continue
                since = max(previous or send_at - timedelta(days=1), send_at - timedelta(days=1))
                edition = daily_edition(session, cfg, channel.id, since, send_at)
                until = send_at
            else:
                if latest is None or (previous is not None and previous >= latest.slot_at):
                    report.skipped += 1
                    continue
                if latest_edition is None:
                    latest_edition = digest_edition(session, cfg, latest)
                edition, until = latest_edition, latest.slot_at
            if not _claim(session, sub, until):
                report.skipped += 1  # another process is mailing this one
                continue
            if edition is None or not edition.groups:
                report.skipped += 1  # a quiet day: nothing to send, but the day is done
                continue
            outbox.append(
                (sub.id, previous, digest_message(settings, cfg, sub, edition), sub.email)
            )
    if outbox:
        _send_outbox(settings, outbox, report)
    return report


def send_due(settings: Settings, now: datetime | None = None) -> list[DeliveryReport]:
    """Send every channel's due editions; a failing channel is logged, the others go on.

    A failed send gives its claims back, so the next call retries it.
    """
    reports: list[DeliveryReport] = []
    for cfg in settings.channels:
        try:
            reports.append(deliver_digests(settings, cfg.slug, now=now))
        except Exception:  # logged with traceback; retried on the next call
            log.exception("digest e-mail for channel %s failed", cfg.slug)
    return reports


def _send_outbox(
    settings: Settings,
    outbox: list[tuple[int, datetime | None, EmailMessage, str]],
    report: DeliveryReport,
) -> None:
    errors: dict[int, str] = {}
    unsent: list[tuple[int, datetime | None]] = []
    failure: MailError | None = None
    try:
        with smtp_session(settings.email) as smtp:
            for n, (sub_id, _previous, message, address) in enumerate(outbox):
                try:
                    smtp.send_message(message)
                except smtplib.SMTPRecipientsRefused as exc:
                    errors[sub_id] = f"refused: {exc.recipients.get(address, exc)}"
                    report.failed[address] = errors[sub_id]
                except (smtplib.SMTPServerDisconnected, OSError) as exc:
                    unsent = [(s, p) for s, p, _, _ in outbox[n:]]
                    raise MailError(f"SMTP connection lost: {exc}") from exc
                except smtplib.SMTPException as exc:
                    errors[sub_id] = str(exc)
                    report.failed[address] = errors[sub_id]
                else:
                    report.sent.append(address)
    except MailError as exc:
        failure = exc
        if not unsent:
            sent = set(report.sent) | set(report.failed)
            unsent = [(s, p) for s, p, _, a in outbox if a not in sent]
    with session_scope(settings.database_url) as session:
        for sub_id, error in errors.items():
            session.execute(
                update(Subscriber).where(Subscriber.id == sub_id).values(last_error=error)
            )
        for sub_id, previous in unsent:
            # Give the claim back so the next tick retries this edition.
            session.execute(
                update(Subscriber)
                .where(Subscriber.id == sub_id)
                .values(last_sent_at=previous, last_error=str(failure))
            )
    for address, error in report.failed.items():
        log.warning("digest mail to %s failed: %s", address, error)
    if failure is not None:
        raise failure
