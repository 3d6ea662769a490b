"""Readers' accounts: passwords, display names, roles, bans, sessions, one-time links, tokens.

The domain only: no web, no mail. Every function works in the caller's transaction.

- **Passwords** are argon2id hashes (``argon2-cffi``, its default RFC 9106 parameters); a
  hash made with other parameters is replaced at the next successful sign-in. A password
  must be :data:`MIN_PASSWORD` characters or more, not one of the commonest breached ones
  (``common_passwords.txt``), and not the account's e-mail address or display name.
- **Display names** are unique per install by their *key*: NFKC, case-folded, spaces and
  separators removed. Invisible and direction-changing characters (zero-width, bidi
  controls: Unicode format characters) are refused, not silently dropped, so what a reader
  sees is what was typed.
- **Sessions** (``auth_session``) are keyed by a hash of the cookie's secret id: a stolen
  database does not sign anyone in. An idle session ends after :data:`SESSION_IDLE`, any
  session after :data:`SESSION_MAX`.
- **One-time links** (``auth_token``: verify, signin, reset, email) and **API tokens** are
  kept as hashes too; a link is consumed by one conditional UPDATE, so it works once even
  when two workers receive it at the same moment.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from newsline.community.audit import Actor, record
from newsline.community.subscribers import SubscriptionError, normalize_email
from newsline.db.models import (
    ApiToken,
    AuthSession,
    AuthToken,
    Ban,
    Channel,
    ChannelRole,
    Comment,
    Item,
    ReaderHashtag,
    ReaderPublication,
    SavedItem,
    User,
    utcnow,
)
from newsline.errors import NewslineError

ROLES: tuple[str, ...] = ("reader", "moderator", "editor", "admin")
MIN_PASSWORD = 10
#: Longer passwords are refused: hashing megabytes is a way to burn our CPU.
MAX_PASSWORD = 1024
MIN_NAME = 2
MAX_NAME = 32
SESSION_IDLE = timedelta(days=30)
SESSION_MAX = timedelta(days=180)
#: A session's last-seen time is written at most this often (not on every request).
TOUCH_EVERY = timedelta(minutes=5)
TOKEN_LIFETIMES: dict[str, timedelta] = {
    "verify": timedelta(days=2),
    "signin": timedelta(minutes=20),
    "reset": timedelta(hours=1),
    "email": timedelta(days=1),
}
#: Names nobody may take at sign-up (the operator may, at the command line).
RESERVED_NAMES = frozenset(
    {
        "admin",
        "administrator",
        "moderator",
        "editor",
        "staff",
        "system",
        "root",
        "newsline",
        "deleted",
        "anonymous",
        "support",
        "sysop",
    }
)
API_TOKEN_PREFIX = "nlt_"

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
_TRAILING = re.compile(r"[\d\W_]+$")
_SEPARATORS = re.compile(r"[\s\-_.·'’]+")
_WS = re.compile(r"\s+")


def _rows(result: object) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(getattr(result, "rowcount", 0) or 0)


class AccountError(NewslineError):
    """An account action that cannot be done; the message says why, for the reader."""


class WeakPassword(AccountError):
    """A password the policy refuses."""


class BadName(AccountError):
    """A display name the rules refuse, or one already taken."""


class BadCredentials(AccountError):
    """Wrong e-mail address or password (never says which)."""

    def __init__(self) -> None:
        super().__init__("Wrong e-mail address or password.")


class LinkInvalid(AccountError):
    """A one-time link that is unknown, used already or expired."""


class EmailTaken(AccountError):
    """An account with that e-mail address exists already."""


# --- e-mail addresses and display names ---------------------------------------------------


def normal_email(address: str) -> str:
    """The address as accounts keep it (strict syntax, lower-cased), or :class:`AccountError`."""
    try:
        return normalize_email(address).lower()
    except SubscriptionError as exc:
        raise AccountError(str(exc)) from exc


def _invisible(ch: str) -> bool:
    # Cf: zero-width (U+200B-U+200D, U+2060, U+FEFF), bidi controls (U+202A-U+202E,
    # U+2066-U+2069, U+200E/F, U+061C), soft hyphen, tags; Cc: control; Co/Cs/Cn: private,
    # surrogates, unassigned; Zl/Zp: line and paragraph separators.
    return unicodedata.category(ch) in ("Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp")


def display_key(name: str) -> str:
    """The folded form two display names collide on: NFKC, case-folded, separators removed."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    folded = "".join(ch for ch in folded if not _invisible(ch))
    return _SEPARATORS.sub("", folded)[:64]


def clean_display_name(name: str, *, allow_reserved: bool = False) -> str:
    """A display name as shown (NFKC, spaces collapsed), or :class:`BadName` saying why."""
    name = unicodedata.normalize("NFKC", name or "")
    if any(_invisible(ch) for ch in name):
        raise BadName(
            "A display name cannot contain invisible or text-direction characters "
            "(zero-width spaces, direction marks, control characters)."
        )
    name = _WS.sub(" ", name).strip()
    if not MIN_NAME <= len(name) <= MAX_NAME:
        raise BadName(f"A display name has {MIN_NAME} to {MAX_NAME} characters.")
    if not any(ch.isalnum() for ch in name):
        raise BadName("A display name needs at least one letter or digit.")
    run = 0
    for ch in name:
        run = run + 1 if unicodedata.combining(ch) else 0
        if run > 2:
            raise BadName("A display name cannot stack more than two accents on a letter.")
    if not allow_reserved and display_key(name) in RESERVED_NAMES:
        raise BadName(f"The display name {name!r} is reserved; please choose another.")
    return name


def name_taken(session: Session, name: str, except_user: int | None = None) -> bool:
    """Whether another account's display name folds to the same key."""
    query = select(User.id).where(User.display_key == display_key(name))
    if except_user is not None:
        query = query.where(User.id != except_user)
    return session.scalar(query.limit(1)) is not None


def _name_from_email(session: Session, email: str) -> str:
    """A free display name made from an address's local part (``ann.lee`` -> ``ann.lee``)."""
    base = re.sub(r"[^\w.\- ]", "", email.split("@", 1)[0])[: MAX_NAME - 4] or "reader"
    if len(base) < MIN_NAME:
        base = f"{base}-reader"
    candidate = base
    n = 1
    while name_taken(session, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# --- passwords ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of breached passwords (lower-cased)."""
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


def check_password(password: str, *, email: str = "", name: str = "") -> None:
    """:class:`WeakPassword` with the reason, unless `password` passes the policy."""
    if len(password) < MIN_PASSWORD:
        raise WeakPassword(f"Your password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"Your password can have at most {MAX_PASSWORD} characters.")
    lowered = password.lower()
    if len(set(lowered)) <= 2:
        raise WeakPassword("Your password repeats one or two characters; choose another.")
    common = common_passwords()
    if lowered in common or _TRAILING.sub("", lowered) in common:
        raise WeakPassword(
            "That password is one of the most common in leaked password lists; choose another."
        )
    email = email.strip().lower()
    local = email.split("@", 1)[0]
    if email and (lowered == email or (len(local) >= 4 and local in lowered)):
        raise WeakPassword("Your password cannot contain your e-mail address.")
    key = display_key(name) if name else ""
    if key and len(key) >= 4 and key in display_key(password):
        raise WeakPassword("Your password cannot contain your display name.")


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _HASHER.hash(password)


_DUMMY_HASH: list[str] = []


def _dummy_verify(password: str) -> None:
    # Unknown accounts cost as much as known ones: timing does not tell who has an account.
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(_HASHER.hash(secrets.token_urlsafe(16)))
    with contextlib.suppress(VerificationError):
        _HASHER.verify(_DUMMY_HASH[0], password)


def verify_password(user: User, password: str) -> bool:
    """Whether `password` is the user's; rehashes (in the session) when parameters changed."""
    if not user.password_hash or len(password) > MAX_PASSWORD:
        _dummy_verify(password[:MAX_PASSWORD])
        return False
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return True


# --- accounts -----------------------------------------------------------------------------


def user_by_email(session: Session, email: str) -> User | None:
    """The (not deleted) account with this address, or None."""
    try:
        address = normal_email(email)
    except AccountError:
        return None
    return session.scalar(select(User).where(User.email == address, User.deleted_at.is_(None)))


def user_by_id(session: Session, user_id: int) -> User | None:
    """The (not deleted) account with this id, or None."""
    user = session.get(User, user_id)
    return user if user is not None and user.deleted_at is None else None


def create_user(
    session: Session,
    email: str,
    password: str | None,
    display_name: str | None = None,
    *,
    role: str = "reader",
    verified: bool = False,
    allow_reserved: bool = False,
    now: datetime | None = None,
) -> User:
    """A new account (``password`` None: e-mail links only). :class:`EmailTaken`,
    :class:`BadName` or :class:`WeakPassword` when it cannot be made."""
    now = now or utcnow()
    address = normal_email(email)
    check_role(role)
    if session.scalar(select(User.id).where(User.email == address)) is not None:
        raise EmailTaken("An account with this e-mail address exists already.")
    if display_name:
        name = clean_display_name(display_name, allow_reserved=allow_reserved)
        if name_taken(session, name):
            raise BadName(f"The display name {name!r} is taken; please choose another.")
    else:
        name = _name_from_email(session, address)
    if password is not None:
        check_password(password, email=address, name=name)
    user = User(
        email=address,
        display_name=name,
        display_key=display_key(name),
        password_hash=hash_password(password) if password is not None else None,
        role=role,
        verified_at=now if verified else None,
        created_at=now,
        unsubscribe_token=secrets.token_urlsafe(24),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User:
    """The account these credentials open, or :class:`BadCredentials`."""
    user = user_by_email(session, email)
    if user is None:
        _dummy_verify(password[:MAX_PASSWORD])
        raise BadCredentials()
    if not verify_password(user, password):
        raise BadCredentials()
    return user


def set_password(session: Session, user: User, password: str) -> None:
    """Change the password (policy checked)."""
    check_password(password, email=user.email, name=user.display_name)
    user.password_hash = hash_password(password)
    session.flush()


def set_display_name(session: Session, user: User, name: str) -> None:
    """Change the display name (rules checked, unique by key)."""
    name = clean_display_name(name)
    if name_taken(session, name, except_user=user.id):
        raise BadName(f"The display name {name!r} is taken; please choose another.")
    user.display_name = name
    user.display_key = display_key(name)
    session.flush()


def change_email(session: Session, user: User, new_email: str) -> None:
    """Move the account to a new address (after it was verified by a link)."""
    address = normal_email(new_email)
    other = session.scalar(select(User.id).where(User.email == address, User.id != user.id))
    if other is not None:
        raise EmailTaken("An account with this e-mail address exists already.")
    user.email = address
    user.verified_at = user.verified_at or utcnow()
    session.flush()


def mark_verified(user: User, now: datetime | None = None) -> None:
    """The account's address is proven (a verify or sign-in link was followed)."""
    if user.verified_at is None:
        user.verified_at = now or utcnow()


def delete_account(
    session: Session, user: User, *, comments: str = "anonymise", now: datetime | None = None
) -> int:
    """Close an account for good; its comments are anonymised (kept, author gone) or removed
    (``comments="remove"``: status ``deleted``, text erased). Returns the comments touched.

    The row stays, scrubbed (the append-only audit log may name it): e-mail, name, password,
    tokens and preferences are gone, and the address is free for a new account.
    """
    if comments not in ("anonymise", "remove"):
        raise AccountError("comments must be 'anonymise' or 'remove'")
    now = now or utcnow()
    touched = 0
    # Their items' comment sections change (names, or texts): new versions (see comments.py).
    session.execute(
        update(Item)
        .where(Item.id.in_(select(Comment.item_id).where(Comment.author_id == user.id)))
        .values(comment_version=Item.comment_version + 1, comments_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    if comments == "remove":
        counts = session.execute(
            select(Comment.item_id, func.count())
            .where(Comment.author_id == user.id, Comment.status == "published")
            .group_by(Comment.item_id)
        ).all()
        for item_id, n in counts:
            session.execute(
                update(Item)
                .where(Item.id == item_id)
                .values(
                    comment_count=case((Item.comment_count > n, Item.comment_count - n), else_=0)
                )
            )
        touched = _rows(
            session.execute(
                update(Comment)
                .where(Comment.author_id == user.id)
                .values(status="deleted", body="", body_html="", author_id=None)
            )
        )
    else:
        touched = _rows(
            session.execute(
                update(Comment).where(Comment.author_id == user.id).values(author_id=None)
            )
        )
    for table in (
        AuthSession,
        AuthToken,
        ApiToken,
        ChannelRole,
        ReaderPublication,
        ReaderHashtag,
        SavedItem,
    ):
        session.execute(delete(table).where(table.user_id == user.id))
    user.email = f"deleted-{user.id}@invalid"
    user.display_name = "deleted"
    user.display_key = f"deleted-{user.id}"
    user.password_hash = None
    user.feed_token = None
    user.notify_replies = False
    user.unsubscribe_token = secrets.token_urlsafe(24)
    user.role = "reader"
    user.deleted_at = now
    session.flush()
    return touched


# --- roles ----------------------------------------------------------------------------------


def check_role(role: str) -> str:
    """`role` if it is one of :data:`ROLES`, else :class:`AccountError`."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def role_rank(role: str | None) -> int:
    """reader 0 < moderator 1 < editor 2 < admin 3; unknown or None: -1."""
    return ROLES.index(role) if role in ROLES else -1


def effective_role(role: str, channel_roles: dict[str, str], channel: str | None = None) -> str:
    """The higher of the install-wide role and the role on `channel` (a slug), if any."""
    if channel is not None:
        there = channel_roles.get(channel)
        if there is not None and role_rank(there) > role_rank(role):
            return there
    return role


def has_role(
    role: str, channel_roles: dict[str, str], needed: str, channel: str | None = None
) -> bool:
    """Whether a user with these roles holds at least `needed` (on `channel` when given)."""
    return role_rank(effective_role(role, channel_roles, channel)) >= role_rank(check_role(needed))


def channel_roles(session: Session, user_id: int) -> dict[str, str]:
    """The user's per-channel roles, by channel slug."""
    rows = session.execute(
        select(Channel.slug, ChannelRole.role)
        .join(Channel, Channel.id == ChannelRole.channel_id)
        .where(ChannelRole.user_id == user_id)
    ).all()
    return {slug: role for slug, role in rows}


def set_role(
    session: Session,
    actor: Actor,
    user: User,
    role: str,
    channel_id: int | None = None,
    *,
    reason: str = "",
) -> None:
    """Give `user` a role install-wide, or on one channel (``reader`` there removes it)."""
    check_role(role)
    if channel_id is None:
        before = user.role
        user.role = role
    else:
        current = session.get(ChannelRole, (user.id, channel_id))
        before = current.role if current is not None else "reader"
        if role == "reader":
            if current is not None:
                session.delete(current)
        elif current is None:
            session.add(ChannelRole(user_id=user.id, channel_id=channel_id, role=role))
        else:
            current.role = role
    record(
        session,
        actor,
        "user.set_role",
        "user",
        user.id,
        channel_id=channel_id,
        reason=reason,
        detail={"from": before, "to": role},
    )
    session.flush()


# --- bans ---------------------------------------------------------------------------------


def _network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError as exc:
        raise AccountError(
            f"{value!r} is not an IP address or range (e.g. 203.0.113.0/24)"
        ) from exc


def ban(
    session: Session,
    actor: Actor,
    *,
    user: User | None = None,
    network: str | None = None,
    channel_id: int | None = None,
    hours: float | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Ban:
    """Bar an account or an IP range (everywhere, or on one channel) for `hours` (None: for
    good). Audited. Banned users' sessions end."""
    if (user is None) == (network is None):
        raise AccountError("ban an account or an IP range, one of the two")
    if hours is not None and hours <= 0:
        raise AccountError("a ban lasts a positive number of hours")
    now = now or utcnow()
    cidr = str(_network(network)) if network is not None else None
    row = Ban(
        user_id=user.id if user is not None else None,
        network=cidr,
        channel_id=channel_id,
        reason=reason,
        created_by=actor.user_id,
        created_at=now,
        until=now + timedelta(hours=hours) if hours is not None else None,
    )
    session.add(row)
    session.flush()
    if user is not None and channel_id is None:
        end_all_sessions(session, user.id)
    record(
        session,
        actor,
        "ban.add",
        "user" if user is not None else "network",
        user.id if user is not None else cidr or "",
        channel_id=channel_id,
        reason=reason,
        detail={"ban_id": row.id, "until": row.until.isoformat() if row.until else None},
        at=now,
    )
    return row


def _active_bans(now: datetime) -> object:
    return and_(Ban.lifted_at.is_(None), or_(Ban.until.is_(None), Ban.until > now))


def unban(
    session: Session,
    actor: Actor,
    *,
    user: User | None = None,
    network: str | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> int:
    """Lift the active bans of an account or of exactly this IP range; how many. Audited."""
    now = now or utcnow()
    query = update(Ban).where(_active_bans(now))  # type: ignore[arg-type]
    if user is not None:
        query = query.where(Ban.user_id == user.id)
        target_type, target = "user", str(user.id)
    elif network is not None:
        target = str(_network(network))
        query = query.where(Ban.network == target)
        target_type = "network"
    else:
        raise AccountError("unban an account or an IP range")
    lifted = _rows(session.execute(query.values(lifted_at=now)))
    if lifted:
        record(session, actor, "ban.lift", target_type, target, reason=reason, at=now)
    return lifted


def is_banned(
    session: Session,
    user: User | int | None,
    ip: str | None,
    channel: int | None = None,
    *,
    now: datetime | None = None,
) -> Ban | None:
    """The active ban barring this account or IP (install-wide or on channel id `channel`)."""
    now = now or utcnow()
    scope = (
        or_(Ban.channel_id.is_(None), Ban.channel_id == channel)
        if channel
        else (Ban.channel_id.is_(None))
    )
    user_id = user.id if isinstance(user, User) else user
    if user_id is not None:
        found = session.scalar(
            select(Ban).where(_active_bans(now), scope, Ban.user_id == user_id).limit(1)  # type: ignore[arg-type]
        )
        if found is not None:
            return found
    if ip:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for row in session.scalars(
            select(Ban).where(_active_bans(now), scope, Ban.network.is_not(None))  # type: ignore[arg-type]
        ):
            try:
                if address in ipaddress.ip_network(row.network or "", strict=False):
                    return row
            except ValueError:
                continue
    return None


def active_bans(session: Session, now: datetime | None = None) -> list[Ban]:
    """Every ban in force, newest first."""
    return list(
        session.scalars(
            select(Ban).where(_active_bans(now or utcnow())).order_by(Ban.id.desc())  # type: ignore[arg-type]
        )
    )


# --- sessions -----------------------------------------------------------------------------


def secret_hash(secret: str) -> str:
    """How a session id, link token or API token is kept: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(
    session: Session,
    user: User,
    sid: str,
    *,
    client: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> AuthSession:
    """Record a signed-in session for the fresh id `sid` (the web layer makes and sets it)."""
    now = now or utcnow()
    row = AuthSession(
        id_hash=secret_hash(sid),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_IDLE,
        client=client[:64],
        user_agent=user_agent[:300],
    )
    session.add(row)
    user.last_sign_in_at = now
    session.flush()
    return row


def session_expired(created_at: datetime, expires_at: datetime, now: datetime) -> bool:
    """Whether a session has ended: idle too long, or older than :data:`SESSION_MAX`."""
    return expires_at <= now or created_at + SESSION_MAX <= now


def session_due_touch(last_seen_at: datetime, now: datetime) -> bool:
    """Whether a live session's idle clock is due to restart (every :data:`TOUCH_EVERY`)."""
    return now - last_seen_at >= TOUCH_EVERY


def session_user(
    session: Session, sid: str, now: datetime | None = None
) -> tuple[AuthSession, User] | None:
    """The live session of id `sid` and its account (touched: its idle time restarts at most
    every :data:`TOUCH_EVERY`), or None when unknown, expired or the account is gone."""
    now = now or utcnow()
    found = session.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id_hash == secret_hash(sid), User.deleted_at.is_(None))
    ).first()
    if found is None:
        return None
    row, user = found
    if session_expired(row.created_at, row.expires_at, now):
        session.delete(row)
        return None
    if session_due_touch(row.last_seen_at, now):
        row.last_seen_at = now
        row.expires_at = min(now + SESSION_IDLE, row.created_at + SESSION_MAX)
    return row, user


def end_session(session: Session, sid: str) -> bool:
    """Sign one session out; whether it existed."""
    result = session.execute(delete(AuthSession).where(AuthSession.id_hash == secret_hash(sid)))
    return bool(_rows(result))


def end_all_sessions(session: Session, user_id: int, *, keep: str | None = None) -> int:
    """Sign the account out everywhere (but the session of id `keep`); how many ended."""
    query = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep is not None:
        query = query.where(AuthSession.id_hash != secret_hash(keep))
    return _rows(session.execute(query))


def user_sessions(session: Session, user_id: int) -> list[AuthSession]:
    """The account's sessions, most recently used first."""
    return list(
        session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == user_id)
            .order_by(AuthSession.last_seen_at.desc())
        )
    )


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Delete expired sessions and one-time links; how many rows went."""
    now = now or utcnow()
    gone = _rows(session.execute(delete(AuthSession).where(AuthSession.expires_at <= now)))
    gone += _rows(session.execute(delete(AuthToken).where(AuthToken.expires_at <= now)))
    return gone


# --- one-time links -----------------------------------------------------------------------


def create_link_token(
    session: Session,
    purpose: str,
    email: str,
    user: User | None = None,
    *,
    now: datetime | None = None,
) -> str:
    """A one-time link token (returned once; only its hash is kept). Earlier unused links of
    the same purpose for the same account stop working."""
    if purpose not in TOKEN_LIFETIMES:
        raise AccountError(f"unknown link purpose {purpose!r}")
    now = now or utcnow()
    if user is not None:
        session.execute(
            update(AuthToken)
            .where(
                AuthToken.user_id == user.id,
                AuthToken.purpose == purpose,
                AuthToken.used_at.is_(None),
            )
            .values(used_at=now)
        )
    token = secrets.token_urlsafe(32)
    session.add(
        AuthToken(
            token_hash=secret_hash(token),
            purpose=purpose,
            user_id=user.id if user is not None else None,
            email=email,
            created_at=now,
            expires_at=now + TOKEN_LIFETIMES[purpose],
        )
    )
    session.flush()
    return token


def consume_link_token(
    session: Session, token: str, purpose: str, *, now: datetime | None = None
) -> AuthToken:
    """Use a one-time link: the token row, now spent; :class:`LinkInvalid` when the token is
    unknown, of another purpose, expired or already used (a replay)."""
    now = now or utcnow()
    invalid = LinkInvalid("This link has expired or has been used already. Ask for a new one.")
    if not token or len(token) > 100:
        raise invalid
    digest = secret_hash(token)
    used = _rows(
        session.execute(
            update(AuthToken)
            .where(
                AuthToken.token_hash == digest,
                AuthToken.purpose == purpose,
                AuthToken.used_at.is_(None),
                AuthToken.expires_at > now,
            )
            .values(used_at=now)
        )
    )
    if used != 1:
        raise invalid
    row = session.get(AuthToken, digest)
    assert row is not None
    return row


def peek_link_token(
    session: Session, token: str, purpose: str, *, now: datetime | None = None
) -> AuthToken | None:
    """The token's row if it could be used now (for the page showing its form), else None."""
    now = now or utcnow()
    if not token or len(token) > 100:
        return None
    row = session.get(AuthToken, secret_hash(token))
    if row is None or row.purpose != purpose or row.used_at is not None or row.expires_at <= now:
        return None
    return row


# --- API tokens and private feed tokens ---------------------------------------------------


@dataclass(frozen=True)
class NewApiToken:
    """A freshly made API token: `secret` is shown once and never stored."""

    id: int
    name: str
    secret: str


def create_api_token(
    session: Session, user: User, name: str = "", *, now: datetime | None = None
) -> NewApiToken:
    """A personal API token (``Authorization: Bearer <secret>``)."""
    name = _WS.sub(" ", "".join(ch for ch in name if not _invisible(ch))).strip()[:100]
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        name=name or "API token",
        token_hash=secret_hash(secret),
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return NewApiToken(row.id, row.name, secret)


def api_token_user(session: Session, secret: str, now: datetime | None = None) -> User | None:
    """The account an API token opens (not revoked, account not deleted), or None."""
    if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 100:
        return None
    now = now or utcnow()
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == secret_hash(secret),
            ApiToken.revoked_at.is_(None),
            User.deleted_at.is_(None),
        )
    ).first()
    if found is None:
        return None
    token, user = found
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        token.last_used_at = now
    return user


def api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """The account's API tokens that are not revoked, newest first."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_api_token(
    session: Session, user_id: int, token_id: int, now: datetime | None = None
) -> bool:
    """Revoke one of the account's API tokens; whether it was live."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return bool(_rows(result))


def new_feed_token(session: Session, user: User) -> str:
    """A new private-feed token for the account (the old one stops working)."""
    user.feed_token = secrets.token_urlsafe(24)
    session.flush()
    return user.feed_token


def revoke_feed_token(session: Session, user: User) -> None:
    """No private feed for the account any more."""
    user.feed_token = None
    session.flush()


def user_by_feed_token(session: Session, token: str) -> User | None:
    """The account whose private feeds this token opens, or None."""
    if not token or len(token) > 64:
        return None
    return session.scalar(select(User).where(User.feed_token == token, User.deleted_at.is_(None)))
