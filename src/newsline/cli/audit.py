"""``newsline audit``: read the audit log of editorial, moderation and operator actions."""

from __future__ import annotations

from typing import Annotated

import typer

from newsline.cli.app import app, check_limit, database_settings
from newsline.text import printable


@app.command("audit")
def audit(
    ctx: typer.Context,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action (item.unpublish), or a family ending in '.' (item.)."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor (e-mail or cli:NAME).")] = None,
    target: Annotated[
        str | None, typer.Option(help="Only this target, TYPE:ID (item:42, publication:nro).")
    ] = None,
    limit: Annotated[
        int, typer.Option(help="At most this many entries, newest first.", callback=check_limit)
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one array).")] = False,
) -> None:
    """The audit log, newest first: when, who, what, on what, why."""
    import json

    from newsline.cli.app import CommandError
    from newsline.community.audit import entries
    from newsline.db.engine import session_scope

    target_type = target_id = None
    if target is not None:
        target_type, sep, target_id = target.partition(":")
        if not sep or not target_type or not target_id:
            raise CommandError(f"--target {target!r}: expected TYPE:ID, e.g. item:42")
    with session_scope(database_settings(ctx).database_url) as session:
        rows = [
            {
                "id": e.id,
                "at": e.at.isoformat(timespec="seconds"),
                "actor": e.actor,
                "action": e.action,
                "target": f"{e.target_type}:{e.target_id}",
                "channel_id": e.channel_id,
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in entries(
                session,
                action=action,
                actor=actor,
                target_type=target_type,
                target_id=target_id,
                limit=limit,
            )
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        line = f"{r['at']}  {r['actor']}  {r['action']}  {r['target']}"
        if r["reason"]:
            line += f"  ({r['reason']})"
        typer.echo(printable(" ".join(line.splitlines())))
