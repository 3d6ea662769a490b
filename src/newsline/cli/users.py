"""``newsline users add | list | set-role | ban | unban``: readers' accounts from the command line.

Each change is written to the audit log as the operator (``cli:<os user>``). Accounts made
here are verified already (the operator vouches for the address). With a running
``newsline demo --data-dir DIR``, point these at it by ``NEWSLINE_CONFIG=DIR/newsline.toml``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from newsline.cli.app import CommandError, app, console, database_settings, shown

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from newsline.db.models import User

users_app = typer.Typer(no_args_is_help=True, help="Readers' accounts, roles and bans.")
app.add_typer(users_app, name="users")

ChannelOption = Annotated[
    str | None,
    typer.Option("--channel", help="Only on this channel (its slug); default: the whole install."),
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise CommandError("no password on standard input")
        return password
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return str(password)


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
    role: Annotated[
        str, typer.Option("--role", help="reader, moderator, editor or admin.")
    ] = "reader",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Display name (default: from the address)."),
    ] = None,
    no_password: Annotated[
        bool,
        typer.Option("--no-password", help="No password: the account signs in by e-mail links."),
    ] = False,
) -> None:
    """Create a verified account (the password is prompted for, or read with --password-stdin)."""
    from newsline.community.accounts import check_role, create_user
    from newsline.community.audit import Actor, record
    from newsline.db.engine import session_scope

    settings = database_settings(ctx)
    check_role(role)
    if no_password and password_stdin:
        raise CommandError("--no-password and --password-stdin exclude each other")
    password = None if no_password else _read_password(password_stdin)
    with session_scope(settings.database_url) as session:
        user = create_user(
            session, email, password, name, role=role, verified=True, allow_reserved=True
        )
        record(session, Actor.cli(), "user.add", "user", user.id, detail={"role": role})
        shown_name, address, user_id = user.display_name, user.email, user.id
    console.print(
        f"added user {user_id}: {shown(address)} ({shown(shown_name)}), role {role}, verified"
    )


def _stamp(when: datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when is not None else None


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array).")] = False,
    role: Annotated[str | None, typer.Option("--role", help="Only this role.")] = None,
) -> None:
    """Accounts: id, e-mail, display name, role (and per-channel roles), verified, banned."""
    import json

    from rich.table import Table
    from sqlalchemy import select

    from newsline.community.accounts import active_bans, channel_roles
    from newsline.db.engine import session_scope
    from newsline.db.models import User

    settings = database_settings(ctx)
    with session_scope(settings.database_url) as session:
        query = select(User).where(User.deleted_at.is_(None)).order_by(User.id)
        if role is not None:
            query = query.where(User.role == role)
        bans: dict[int, datetime | None] = {}
        for ban in active_bans(session):
            if ban.user_id is not None and ban.channel_id is None:
                bans[ban.user_id] = ban.until
        rows: list[dict[str, Any]] = [
            {
                "id": user.id,
                "email": user.email,
                "display_name": user.display_name,
                "role": user.role,
                "channel_roles": channel_roles(session, user.id),
                "verified": user.verified_at is not None,
                "created_at": user.created_at.isoformat(timespec="seconds"),
                "last_sign_in_at": _stamp(user.last_sign_in_at),
                "banned": user.id in bans,
                "banned_until": _stamp(bans.get(user.id)),
            }
            for user in session.scalars(query)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "e-mail", "name", "role", "verified", "banned")
    for r in rows:
        roles = r["role"] + "".join(
            f", {slug}:{there}" for slug, there in sorted(r["channel_roles"].items())
        )
        banned = (
            ""
            if not r["banned"]
            else (f"until {r['banned_until']}" if r["banned_until"] else "yes")
        )
        table.add_row(
            str(r["id"]),
            shown(r["email"]),
            shown(r["display_name"]),
            roles,
            "yes" if r["verified"] else "no",
            banned,
        )
    Console().print(table)


def _user(session: Session, email: str) -> User:
    from newsline.community.accounts import user_by_email

    user = user_by_email(session, email)
    if user is None:
        raise CommandError(f"no account with the address {email!r}")
    return user


def _channel_id(ctx: typer.Context, session: Session, slug: str | None) -> int | None:
    from newsline.db.channels import channel_row

    if slug is None:
        return None
    return channel_row(session, database_settings(ctx), slug).id


@users_app.command("set-role")
def users_set_role(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
    role: Annotated[str, typer.Argument(help="reader, moderator, editor or admin.")],
    channel: ChannelOption = None,
    reason: ReasonOption = "",
) -> None:
    """Give an account a role install-wide, or on one channel (``reader`` there removes it)."""
    from newsline.community.accounts import set_role
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope

    with session_scope(database_settings(ctx).database_url) as session:
        user = _user(session, email)
        channel_id = _channel_id(ctx, session, channel)
        set_role(session, Actor.cli(), user, role, channel_id, reason=reason)
    where = f" on {channel}" if channel else ""
    console.print(f"{shown(email)} is now {role}{where}")


def _is_network(target: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_network(target, strict=False)
    except ValueError:
        return False
    return True


@users_app.command("ban")
def users_ban(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="An account's e-mail address, or an IP range.")],
    hours: Annotated[
        float | None, typer.Option("--hours", help="For this many hours (default: for good).")
    ] = None,
    channel: ChannelOption = None,
    reason: ReasonOption = "",
) -> None:
    """Bar an account (or an IP range such as 203.0.113.0/24) from posting."""
    from newsline.community.accounts import ban
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope

    with session_scope(database_settings(ctx).database_url) as session:
        channel_id = _channel_id(ctx, session, channel)
        if _is_network(target):
            row = ban(
                session,
                Actor.cli(),
                network=target,
                channel_id=channel_id,
                hours=hours,
                reason=reason,
            )
        else:
            row = ban(
                session,
                Actor.cli(),
                user=_user(session, target),
                channel_id=channel_id,
                hours=hours,
                reason=reason,
            )
        until = row.until
    how_long = f"until {until.isoformat(timespec='minutes')}" if until else "for good"
    where = f" on {channel}" if channel else ""
    console.print(f"banned {shown(target)}{where} {how_long}")


@users_app.command("unban")
def users_unban(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="An account's e-mail address, or an IP range.")],
    reason: ReasonOption = "",
) -> None:
    """Lift the bans of an account (or of exactly this IP range)."""
    from newsline.community.accounts import unban
    from newsline.community.audit import Actor
    from newsline.db.engine import session_scope

    with session_scope(database_settings(ctx).database_url) as session:
        if _is_network(target):
            lifted = unban(session, Actor.cli(), network=target, reason=reason)
        else:
            lifted = unban(session, Actor.cli(), user=_user(session, target), reason=reason)
    if not lifted:
        raise CommandError(f"{target} has no ban in force")
    console.print(f"lifted {lifted} ban{'s' if lifted != 1 else ''} of {shown(target)}")
