"""Rate limits on readers' actions, in the database so they hold across ``serve --workers N``.

- **Hourly budgets** (:func:`spend_action`): at most so many comments, flags, votes,
  sign-ups or mails of a kind per hour, per account, per IP range, per address and in all
  (:data:`ACTION_LIMITS`). Counted in ``send_budget`` rows by
  :func:`newsline.community.budgets.spend` in the caller's transaction; a spent budget
  raises :class:`RateLimited` (its message is for the reader) and the caller's rollback
  uncounts the attempt.

Keys never hold an address in clear: :func:`key_of` hashes them. IPv6 clients are counted
by /64 (one subscriber's whole range), IPv4 by address.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import datetime

from sqlalchemy.orm import Session

from newsline.community.budgets import BudgetSpent, spend

#: Per hour, by kind, then by what is counted (``all``: everybody together).
ACTION_LIMITS: dict[str, dict[str, int]] = {
    "comment": {"user": 30, "ip": 60, "all": 5000},
    "flag": {"user": 20, "ip": 40},
    "vote": {"user": 300, "ip": 600},
    "signup": {"ip": 5, "all": 500},
    "reset_mail": {"email": 3, "ip": 10, "all": 500},
    "signin_mail": {"email": 5, "ip": 10, "all": 500},
    "verify_mail": {"user": 5, "ip": 10, "all": 500},
    "email_change": {"user": 5, "ip": 10},
}
#: What the reader is told they did too often.
ACTION_WORDS = {
    "comment": "posting comments",
    "flag": "flagging comments",
    "vote": "voting",
    "signup": "creating accounts",
    "reset_mail": "asking for password reset mails",
    "signin_mail": "asking for sign-in links",
    "verify_mail": "asking for verification mails",
    "email_change": "changing the e-mail address",
}


class RateLimited(BudgetSpent):
    """An action done too often this hour; ``retry_after`` is the seconds until it renews."""


def ip_range(ip: str) -> str:
    """What one client is counted as: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def key_of(value: str | int) -> str:
    """A short pseudonym of what is counted (an address, an IP range, an account id)."""
    return hashlib.blake2b(str(value).encode(), digest_size=12).hexdigest()


def spend_action(
    session: Session, kind: str, *, now: datetime | None = None, **keys: str | int
) -> None:
    """Count one `kind` action against the budgets of each key given (``user=``, ``ip=``,
    ``email=``) and of ``all`` when the kind has one; :class:`RateLimited` when one is
    spent (the caller rolls back). An IP is counted by :func:`ip_range`."""
    limits = ACTION_LIMITS.get(kind)
    if limits is None:
        raise ValueError(f"unknown rate-limited action {kind!r}")
    budgets: list[tuple[str, int]] = []
    for name, value in keys.items():
        if name not in limits:
            raise ValueError(f"action {kind!r} has no limit per {name!r}")
        counted = ip_range(str(value)) if name == "ip" else value
        budgets.append((f"{kind}:{name}:{key_of(counted)}", limits[name]))
    if "all" in limits:
        budgets.append((f"{kind}:all", limits["all"]))
    try:
        spend(session, budgets, now)
    except BudgetSpent as exc:
        minutes = max(1, round(exc.retry_after / 60))
        raise RateLimited(
            f"You are {ACTION_WORDS.get(kind, kind)} too often. "
            f"Please try again in {minutes} minute{'s' if minutes != 1 else ''}.",
            exc.retry_after,
        ) from exc
