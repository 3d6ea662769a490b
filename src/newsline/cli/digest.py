"""``newsline digest run | send | subscribers ...``: the Digest from the command line."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from newsline.cli.app import CommandError, app, console, database_settings, shown
from newsline.config import ChannelSettings, Settings
from newsline.text import printable

digest_app = typer.Typer(no_args_is_help=True, help="The Digest: publish, e-mail, subscribers.")
app.add_typer(digest_app, name="digest")
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
        raise CommandError(f"--at {text!r} is not an ISO date-time") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def channels(settings: Settings, slug: str | None) -> list[ChannelSettings]:
    """The channel named by ``--channel`` (UnknownChannel when there is none), else all of them."""
    from newsline.db.channels import channel_settings

    if slug is None:
        return list(settings.channels)
    return [channel_settings(settings, slug)]


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
    from newsline.publish.digest import run_digest

    settings = database_settings(ctx)
    for cfg in channels(settings, channel):
        result = run_digest(settings, cfg.slug, at=parse_at(at, cfg.zone), dry_run=dry_run)
        console.print(
            f"{cfg.slug}: {result.status} · {shown(result.title)} · {result.entries} entries "
            f"({result.considered} items in window, {result.remembered} already shown)"
            + (f" · {shown(result.url)}" if result.status in ("published", "exists") else "")
        )
        if dry_run and result.composed is not None:
            typer.echo(printable(result.composed.body_text))


@digest_app.command("preview")
def preview(ctx: typer.Context, channel: ChannelOption = None, at: AtOption = None) -> None:
    """The next Digest exactly as publishing it now would compose it; nothing is stored."""
    from newsline.publish.editorial import preview_digest

    settings = database_settings(ctx)
    for cfg in channels(settings, channel):
        result = preview_digest(settings, cfg.slug, at=parse_at(at, cfg.zone))
        console.print(
            f"{cfg.slug}: {shown(result.title)} · "
            + (
                f"published already ({result.entries} entries)"
                if result.status == "exists"
                else f"{result.entries} entries ({result.considered} items in window, "
                f"{result.remembered} already shown)"
            )
        )
        if result.composed is not None:
            if result.composed.overview:
                typer.echo(printable(result.composed.overview))
            typer.echo(printable(result.composed.body_text))


@digest_app.command("publish")
def publish(ctx: typer.Context, channel: ChannelOption = None, at: AtOption = None) -> None:
    """Publish the current slot's Digest now (audited; once per slot, like ``digest run``)."""
    from newsline.community.audit import Actor
    from newsline.publish.editorial import publish_digest_now

    settings = database_settings(ctx)
    for cfg in channels(settings, channel):
        result = publish_digest_now(settings, Actor.cli(), cfg.slug, at=parse_at(at, cfg.zone))
        console.print(
            f"{cfg.slug}: {result.status} · {shown(result.title)} · {result.entries} entries"
        )


@digest_app.command("overview")
def overview(
    ctx: typer.Context,
    digest_id: int,
    text: Annotated[str, typer.Argument(help="The new overview (at most 1,000 characters).")],
) -> None:
    """Rewrite a published Digest's overview (the original is kept)."""
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import edit_overview

    with session_scope(database_settings(ctx).database_url) as session:
        edit_overview(session, Actor.cli(), digest_id, text)
    console.print(f"digest {digest_id}: overview rewritten")


@digest_app.command("resend")
def resend(ctx: typer.Context, digest_id: int) -> None:
    """E-mail a published Digest again to its channel's confirmed subscribers."""
    from newsline.community.audit import Actor
    from newsline.publish.editorial import resend_digest

    report = resend_digest(database_settings(ctx), Actor.cli(), digest_id)
    console.print(f"digest {digest_id}: sent {len(report.sent)}, failed {len(report.failed)}")
    for address, error in report.failed.items():
        console.print(f"  [red]{shown(address)}[/red]: {shown(error)}")


@digest_app.command("send")
def send(ctx: typer.Context, channel: ChannelOption = None, at: AtOption = None) -> None:
    """E-mail due editions to confirmed subscribers now (the scheduler does this too)."""
    from newsline.publish.mailer import deliver_digests

    settings = database_settings(ctx)
    if not settings.email.enabled:
        raise CommandError("e-mail is not enabled: set [email] enabled = true and the SMTP server")
    for cfg in channels(settings, channel):
        report = deliver_digests(settings, cfg.slug, now=parse_at(at, cfg.zone))
        console.print(
            f"{cfg.slug}: sent {len(report.sent)}, failed {len(report.failed)}, "
            f"nothing due for {report.skipped}"
        )
        for address, error in report.failed.items():
            console.print(f"  [red]{shown(address)}[/red]: {shown(error)}")


@subscribers_app.command("list")
def list_subscribers(
    ctx: typer.Context,
    channel: ChannelOption = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status: pending, confirmed, unsubscribed.")
    ] = None,
) -> None:
    """List subscribers: address, status, cadence, last mailing."""
    from newsline.community.subscribers import subscribers
    from newsline.db.channels import channel_row
    from newsline.db.engine import session_scope

    settings = database_settings(ctx)
    for cfg in channels(settings, channel):
        with session_scope(settings.database_url) as session:
            row = channel_row(session, settings, cfg.slug)
            for sub in subscribers(session, row.id, status):
                when = (
                    "every digest"
                    if sub.cadence == "all"
                    else f"daily {sub.daily_hour:02d}:00 {sub.timezone or ''}".rstrip()
                )
                last = sub.last_sent_at.isoformat(timespec="minutes") if sub.last_sent_at else "-"
                error = f"  error: {sub.last_error}" if sub.last_error else ""
                line = f"{cfg.slug}\t{sub.email}\t{sub.status}\t{when}\tlast {last}{error}"
                typer.echo(printable(" ".join(line.splitlines())))


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
    from newsline.community.subscribers import subscribe
    from newsline.db.channels import channel_row
    from newsline.db.engine import session_scope
    from newsline.publish.mailer import confirmation_message, send_message

    settings = database_settings(ctx)
    if not confirmed and not settings.email.enabled:
        raise CommandError(
            "e-mail is not enabled, so no confirmation can be sent (or use --confirmed)"
        )
    for cfg in channels(settings, channel):
        with session_scope(settings.database_url) as session:
            row = channel_row(session, settings, cfg.slug)
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
        console.print(
            f"{cfg.slug}: {shown(email)} {status}"
            + (" (confirmation mail sent)" if message else "")
        )


@subscribers_app.command("remove")
def remove_subscriber(ctx: typer.Context, email: str, channel: ChannelOption = None) -> None:
    """Delete a subscriber outright (audited)."""
    from newsline.community.audit import Actor
    from newsline.db.channels import channel_row
    from newsline.db.engine import session_scope
    from newsline.publish.editorial import EditorialError, remove_subscriber

    settings = database_settings(ctx)
    found = False
    for cfg in channels(settings, channel):
        with session_scope(settings.database_url) as session:
            try:
                remove_subscriber(
                    session, Actor.cli(), channel_row(session, settings, cfg.slug).id, email
                )
                found = True
            except EditorialError:
                continue  # not on this channel
    if not found:
        raise CommandError(f"{email} is not a subscriber")
    console.print(f"removed {shown(email)}")


@subscribers_app.command("confirm")
def confirm_subscriber(ctx: typer.Context, email: str, channel: ChannelOption = None) -> None:
    """Confirm a pending address (for someone who asked you directly; audited)."""
    from sqlalchemy import func, select

    from newsline.community.audit import Actor
    from newsline.community.subscribers import normalize_email
    from newsline.db.channels import channel_row
    from newsline.db.engine import session_scope
    from newsline.db.models import Subscriber
    from newsline.publish.editorial import confirm_subscriber as confirm

    settings = database_settings(ctx)
    address = normalize_email(email).lower()
    done = 0
    for cfg in channels(settings, channel):
        with session_scope(settings.database_url) as session:
            row = channel_row(session, settings, cfg.slug)
            sub = session.scalar(
                select(Subscriber).where(
                    Subscriber.channel_id == row.id, func.lower(Subscriber.email) == address
                )
            )
            if sub is not None:
                confirm(session, Actor.cli(), sub.id)
                done += 1
    if not done:
        raise CommandError(f"{email} is not a subscriber")
    console.print(f"confirmed {shown(email)}")
