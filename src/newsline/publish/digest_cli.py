"""``newsline digest run | send | subscribers ...``: the Digest from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

digest_app = typer.Typer(no_args_is_help=True, help="The Digest: publish, e-mail, subscribers.")
subscribers_app = typer.Typer(no_args_is_help=True, help="E-mail subscribers of the Digest.")
digest_app.add_typer(subscribers_app, name="subscribers")

ChannelOption = Annotated[
    str | None, typer.Option("--channel", "-C", help="Channel slug (default: every channel).")
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="ISO time (e.g. 2025-07-25T10:30-05:00); without an offset, the channel's local time.",
    ),
]


def parse_at(text: str | None, zone: ZoneInfo) -> datetime | None:
    """``--at``: aware as given, naive as the channel's wall-clock time."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"--at {text!r} is not an ISO date-time") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def _channels(ctx: typer.Context, channel: str | None) -> list[str]:
    from newsline.cli import fail, settings_of

    settings = settings_of(ctx)
    if channel is None:
        return [c.slug for c in settings.channels]
    if settings.channel(channel) is None:
        known = ", ".join(c.slug for c in settings.channels)
        raise fail(f"unknown channel {channel!r} (configured: {known})")
    return [channel]


@digest_app.command("run")
def run(
    ctx: typer.Context,
    channel: ChannelOption = None,
    at: AtOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compose and print; store nothing.")
    ] = False,
) -> None:
    """Publish the digest of the slot containing --at (default: now), once per slot."""
    from newsline.cli import console, fail, settings_of
    from newsline.publish.digest import DigestError, run_digest

    settings = settings_of(ctx)
    for slug in _channels(ctx, channel):
        cfg = settings.channel(slug)
        assert cfg is not None
        try:
            result = run_digest(settings, slug, at=parse_at(at, cfg.zone), dry_run=dry_run)
        except (DigestError, ValueError) as exc:
            raise fail(str(exc)) from exc
        console.print(
            f"{slug}: {result.status} · {result.title} · {result.entries} entries "
            f"({result.considered} items in window, {result.remembered} already shown)"
            + (f" · {result.url}" if result.status in ("published", "exists") else "")
        )
        if dry_run and result.composed is not None:
            typer.echo(result.composed.body_text)


@digest_app.command("send")
def send(ctx: typer.Context, channel: ChannelOption = None, at: AtOption = None) -> None:
    """E-mail due editions to confirmed subscribers now (the scheduler does this too)."""
    from newsline.cli import console, fail, settings_of
    from newsline.publish.mailer import MailError, deliver_digests

    settings = settings_of(ctx)
    if not settings.email.enabled:
        raise fail("e-mail is not enabled: set [email] enabled = true and the SMTP server")
    for slug in _channels(ctx, channel):
        cfg = settings.channel(slug)
        assert cfg is not None
        try:
            report = deliver_digests(settings, slug, now=parse_at(at, cfg.zone))
        except (MailError, ValueError) as exc:
            raise fail(str(exc)) from exc
        console.print(
            f"{slug}: sent {len(report.sent)}, failed {len(report.failed)}, "
            f"nothing due for {report.skipped}"
        )
        for address, error in report.failed.items():
            console.print(f"  [red]{address}[/red]: {error}")


@subscribers_app.command("list")
def list_subscribers(
    ctx: typer.Context,
    channel: ChannelOption = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status: pending, confirmed, unsubscribed.")
    ] = None,
) -> None:
    """List subscribers: address, status, cadence, last mailing."""
    from newsline.cli import settings_of
    from newsline.community.subscribers import subscribers
    from newsline.db.engine import session_scope
    from newsline.publish.digest import channel_row

    settings = settings_of(ctx)
    for slug in _channels(ctx, channel):
        with session_scope(settings.database_url) as session:
            row = channel_row(session, settings, slug)
            for sub in subscribers(session, row.id, status):
                when = (
                    "every digest"
                    if sub.cadence == "all"
                    else f"daily {sub.daily_hour:02d}:00 {sub.timezone or ''}".rstrip()
                )
                last = sub.last_sent_at.isoformat(timespec="minutes") if sub.last_sent_at else "-"
                error = f"  error: {sub.last_error}" if sub.last_error else ""
                typer.echo(f"{slug}\t{sub.email}\t{sub.status}\t{when}\tlast {last}{error}")


@subscribers_app.command("add")
def add_subscriber(
    ctx: typer.Context,
    email: str,
    channel: ChannelOption = None,
    daily_hour: Annotated[
        int | None, typer.Option(help="One digest a day at this local hour (0-23).")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="The subscriber's zone (default: the channel's).")
    ] = None,
    confirmed: Annotated[
        bool,
        typer.Option(help="Skip the confirmation mail (only for people who asked you directly)."),
    ] = False,
) -> None:
    """Subscribe an address (a confirmation mail is sent unless --confirmed)."""
    from newsline.cli import console, fail, settings_of
    from newsline.community.subscribers import SubscriptionError, subscribe
    from newsline.db.engine import session_scope
    from newsline.publish.digest import channel_row
    from newsline.publish.mailer import MailError, confirmation_message, send_message

    settings = settings_of(ctx)
    if not confirmed and not settings.email.enabled:
        raise fail("e-mail is not enabled, so no confirmation can be sent (or use --confirmed)")
    for slug in _channels(ctx, channel):
        cfg = settings.channel(slug)
        assert cfg is not None
        try:
            with session_scope(settings.database_url) as session:
                row = channel_row(session, settings, slug)
                sub, needs_mail = subscribe(
                    session,
                    row.id,
                    email,
                    cadence="all" if daily_hour is None else "daily",
                    daily_hour=7 if daily_hour is None else daily_hour,
                    timezone=timezone,
                    confirmed=confirmed,
                )
                message = confirmation_message(settings, cfg, sub) if needs_mail else None
                status = sub.status
            if message is not None:
                send_message(settings.email, message)
        except (SubscriptionError, MailError) as exc:
            raise fail(str(exc)) from exc
        console.print(
            f"{slug}: {email} {status}" + (" (confirmation mail sent)" if message else "")
        )


@subscribers_app.command("remove")
def remove_subscriber(ctx: typer.Context, email: str, channel: ChannelOption = None) -> None:
    """Delete a subscriber outright."""
    from newsline.cli import console, fail, settings_of
    from newsline.community.subscribers import SubscriptionError, remove
    from newsline.db.engine import session_scope
    from newsline.publish.digest import channel_row

    settings = settings_of(ctx)
    found = False
    for slug in _channels(ctx, channel):
        try:
            with session_scope(settings.database_url) as session:
                found = remove(session, channel_row(session, settings, slug).id, email) or found
        except SubscriptionError as exc:
            raise fail(str(exc)) from exc
    if not found:
        raise fail(f"{email} is not a subscriber")
    console.print(f"removed {email}")
