"""Readers' accounts on the web: sign in and out, sign up, e-mail links, account settings.

- ``POST /api/v1/session`` (JSON e-mail and password) signs a script in: the session cookie
  and ``{"csrf_token": ...}`` for its writes; ``DELETE /api/v1/session`` signs it out.
- ``/account/sign-in`` · ``sign-up`` · ``sign-out`` · ``sign-in-link`` (one-time link by
  e-mail) · ``verify`` · ``reset`` · ``email/confirm`` — a mailed link's GET only shows a
  button; its POST acts (mail scanners follow GETs and would spend the link).
- ``/account`` — settings; each form posts to ``/account/<action>``.

Signing in always makes a *new* session id (:func:`newsline.web.session.rotate_session`):
an id planted in the browser before (session fixation) is worth nothing after, and the
CSRF token changes with it. Every form carries the CSRF token. Password sign-in is counted
per account and per IP range before the password is checked (back-off, then lock-out:
:mod:`newsline.community.limits`); sign-ups and mails have hourly budgets. Sign-up, the
sign-in link and the reset form answer alike whether or not an account exists.
All these pages are ``no-store``.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.community import accounts
from newsline.community.accounts import (
    SESSION_MAX,
    AccountError,
    BadCredentials,
    LinkInvalid,
    WeakPassword,
)
from newsline.community.limits import AttemptsThrottled, RateLimited
from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import User
from newsline.publish.mailer import MailError, send_message
from newsline.web import preferences
from newsline.web.api import ErrorOut
from newsline.web.auth import Viewer, forget_viewer, require_viewer, viewer
from newsline.web.clients import client_ip, client_key
from newsline.web.csrf import csrf_token, form_fields, require_csrf
from newsline.web.render import page
from newsline.web.safety import local_path
from newsline.web.session import is_signed_in_id, rotate_session, session_id
from newsline.web.site import NO_STORE, Refused, see_other, site_of

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix=urls.API, tags=["accounts"])

#: What a page says after a redirect (``?done=``): fixed texts, nothing echoed.
DONE = {
    "signed-in": "You are signed in.",
    "verified": "Your e-mail address is verified.",
    "password": "Your password is changed. Your other sessions were signed out.",
    "password-reset": "Your new password is set; every other session was signed out.",
    "name": "Your display name is changed.",
    "email-sent": "We sent a link to the new address: follow it to confirm the change.",
    "email": "Your e-mail address is changed.",
    "notify": "Your notification choice is saved.",
    "feed": "Your private feed address is ready.",
    "feed-revoked": "Your private feed address no longer works.",
    "token-revoked": "The API token no longer works.",
    "verify-sent": "We sent you a new verification link.",
    "signed-out-everywhere": "You are signed out everywhere.",
}


# --- shared -------------------------------------------------------------------------------


def _settings(request: Request) -> Settings:
    return site_of(request).settings


def _page(
    request: Request,
    template: str,
    heading: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """An account page in the default channel's chrome, never stored by any cache."""
    site = site_of(request)
    channel = site.default_channel()
    return page(
        request,
        channel,
        template,
        None,
        column="account",
        title=f"{heading} · {channel.cfg.display_name}",
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
        heading=heading,
        **context,
    )


def _message(
    request: Request, heading: str, *paragraphs: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return _page(
        request, "auth/page.html", heading, status=status, paragraphs=paragraphs, **context
    )


def _refused(exc: RateLimited | AttemptsThrottled) -> Refused:
    return Refused(str(exc), status=429, retry_after=exc.retry_after)


def _site_name(request: Request) -> str:
    return site_of(request).default_channel().cfg.display_name


def _mail(
    request: Request, to: str, subject: str, intro: str, link: str | None, button: str
) -> EmailMessage:
    """One account mail: a sentence, a link, and what to do if it was not you."""
    settings = _settings(request)
    name = _site_name(request)
    msg = EmailMessage()
    msg["From"] = formataddr((settings.email.from_name or name, settings.email.from_address))
    msg["To"] = to
    msg["Subject"] = f"{subject} · {name}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    host = urlsplit(settings.web.base_url).hostname or "localhost"
    msg["Message-ID"] = make_msgid(domain=host)
    msg["Auto-Submitted"] = "auto-generated"
    absolute = site_of(request).urls.absolute(link) if link else None
    ignore = "If this was not you, ignore this message: nothing changes."
    text = f"{intro}\n\n" + (f"{button}:\n{absolute}\n\n" if absolute else "") + ignore + "\n"
    msg.set_content(text)
    body = f"<p>{html.escape(intro)}</p>"
    if absolute:
        body += f'<p><a href="{html.escape(absolute)}">{html.escape(button)}</a></p>'
    msg.add_alternative(body + f"<p>{html.escape(ignore)}</p>", subtype="html")
    return msg


def _send(request: Request, message: EmailMessage | None) -> HTMLResponse | None:
    """Send a mail made in a committed transaction; a 503 page when it cannot go out."""
    if message is None:
        return None
    try:
        send_message(_settings(request).email, message)
    except MailError as exc:
        log.error("account mail to a reader failed: %s", exc)
        return _message(
            request,
            "Please try again later",
            "We could not send the mail just now.",
            status=503,
        )
    return None


def _mail_enabled(request: Request) -> bool:
    return _settings(request).email.enabled


def _open_session(session: Session, request: Request, user: User) -> None:
    """Sign `user` in on this browser with a brand-new session id (rotation)."""
    old = session_id(request)
    if is_signed_in_id(old):
        assert old is not None
        accounts.end_session(session, old)
    sid = rotate_session(request, signed_in=True, max_age=int(SESSION_MAX.total_seconds()))
    accounts.purge_expired(session)  # expired sessions and links of everybody go now
    accounts.start_session(
        session,
        user,
        sid,
        client=client_key(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    forget_viewer(request)


def _close_session(request: Request) -> None:
    """Sign this browser out: its session row goes, and it gets a fresh anonymous id."""
    old = session_id(request)
    if is_signed_in_id(old):
        assert old is not None
        with session_scope(_settings(request).database_url) as session:
            accounts.end_session(session, old)
    rotate_session(request, signed_in=False)
    forget_viewer(request)


def _password_sign_in(request: Request, email: str, password: str) -> Viewer:
    """Check the password (counted first: back-off and lock-out) and open a session."""
    url = _settings(request).database_url
    limits = site_of(request).limits
    ip = client_ip(request)
    with session_scope(url) as session:
        limits.begin_sign_in(session, email, ip)
    with session_scope(url) as session:
        user = accounts.authenticate(session, email, password)
        limits.sign_in_succeeded(session, email, ip)
        _open_session(session, request, user)
        return Viewer.of(user, accounts.channel_roles(session, user.id))


# --- the API: a session for scripts --------------------------------------------------------


class SessionIn(BaseModel):
    """Credentials."""

    email: str = Field(max_length=320)
    password: str = Field(max_length=accounts.MAX_PASSWORD)


class SessionUser(BaseModel):
    """The signed-in account."""

    id: int
    display_name: str
    role: str
    verified: bool


class SessionOut(BaseModel):
    """A new session: the cookie is set; writes send this token as ``X-CSRF-Token``."""

    csrf_token: str
    user: SessionUser


@api_router.post(
    urls.API_SESSION,
    response_model=SessionOut,
    responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
async def api_sign_in(request: Request, credentials: SessionIn) -> JSONResponse:
    """Sign in with e-mail and password: sets the session cookie, returns the CSRF token."""
    try:
        found = await run_in_threadpool(
            _password_sign_in, request, credentials.email, credentials.password
        )
    except BadCredentials as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401, headers=NO_STORE)
    except AttemptsThrottled as exc:
        return JSONResponse(
            {"detail": str(exc)},
            status_code=429,
            headers={**NO_STORE, "retry-after": str(exc.retry_after)},
        )
    body = SessionOut(
        csrf_token=csrf_token(request),
        user=SessionUser(
            id=found.id, display_name=found.display_name, role=found.role, verified=found.verified
        ),
    )
    return JSONResponse(body.model_dump(), headers=NO_STORE)


@api_router.delete(urls.API_SESSION, status_code=204, responses={403: {"model": ErrorOut}})
async def api_sign_out(request: Request) -> Response:
    """Sign this session out (needs its ``X-CSRF-Token``); nothing to do when signed out."""
    if is_signed_in_id(session_id(request)):
        await require_csrf(request)
        await run_in_threadpool(_close_session, request)
    return Response(status_code=204, headers=NO_STORE)


# --- sign in, sign out --------------------------------------------------------------------


def _sign_in_page(
    request: Request, next_path: str, notice: str = "", email: str = "", status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "auth/page.html",
        "Sign in",
        status=status,
        form="sign_in",
        notice=notice,
        email=email,
        next_path=next_path,
        mail_enabled=_mail_enabled(request),
    )


@router.get(urls.SIGN_IN)
def sign_in_form(request: Request, next: str = "") -> Response:
    """The sign-in form (signed in already: straight on)."""
    target = local_path(next)
    if viewer(request) is not None:
        return see_other(target)
    return _sign_in_page(request, target)


@router.post(urls.SIGN_IN, dependencies=[Depends(require_csrf)])
async def sign_in(request: Request) -> Response:
    """Check the password; a new session, then on to ``next``."""
    form = await form_fields(request)
    email, password = form.get("email", "").strip(), form.get("password", "")
    target = local_path(form.get("next"))
    try:
        await run_in_threadpool(_password_sign_in, request, email, password)
    except BadCredentials as exc:
        return _sign_in_page(request, target, str(exc), email, status=401)
    except AttemptsThrottled as exc:
        response = _sign_in_page(request, target, str(exc), email, status=429)
        response.headers["retry-after"] = str(exc.retry_after)
        return response
    return see_other(target)


@router.post(urls.SIGN_OUT, dependencies=[Depends(require_csrf)])
async def sign_out(request: Request) -> Response:
    """Sign this browser out."""
    await run_in_threadpool(_close_session, request)
    return see_other(site_of(request).urls.home())


# --- sign up and verification -------------------------------------------------------------


def _sign_up_page(
    request: Request,
    next_path: str,
    notice: str = "",
    status: int = 200,
    email: str = "",
    display_name: str = "",
) -> HTMLResponse:
    return _page(
        request,
        "auth/page.html",
        "Create an account",
        status=status,
        form="sign_up",
        notice=notice,
        next_path=next_path,
        min_password=accounts.MIN_PASSWORD,
        email=email,
        display_name=display_name,
    )


@router.get(urls.SIGN_UP)
def sign_up_form(request: Request, next: str = "") -> Response:
    """The sign-up form."""
    target = local_path(next)
    if viewer(request) is not None:
        return see_other(target)
    return _sign_up_page(request, target)


def _sign_up_sync(
    request: Request, email: str, name: str, password: str
) -> tuple[EmailMessage | None, bool]:
    """Make the account; (the mail to send, whether the browser was signed in)."""
    ip = client_ip(request)
    address = accounts.normal_email(email)
    shown = accounts.clean_display_name(name)
    accounts.check_password(password, email=address, name=shown)
    site = site_of(request)
    with session_scope(_settings(request).database_url) as session:
        if accounts.name_taken(session, shown):
            raise accounts.BadName(f"The display name {shown!r} is taken; please choose another.")
        existing = accounts.user_by_email(session, address)
        if existing is not None:
            if not _mail_enabled(request):
                raise accounts.EmailTaken(
                    "An account with this e-mail address exists already: sign in instead."
                )
            # Same answer as for a new address; the owner learns of it by mail.
            site.limits.spend(session, "signin_mail", email=address, ip=ip)
            token = accounts.create_link_token(session, "signin", address, existing)
            return (
                _mail(
                    request,
                    address,
                    "You already have an account",
                    "Someone (hopefully you) tried to create an account with this address, "
                    "which already has one. You can sign in with this link (valid 20 minutes):",
                    site.urls.sign_in_link(token),
                    "Sign in",
                ),
                False,
            )
        site.limits.spend(session, "signup", ip=ip)
        user = accounts.create_user(session, address, password, shown)
        if not _mail_enabled(request):
            _open_session(session, request, user)
            return None, True
        token = accounts.create_link_token(session, "verify", address, user)
        return (
            _mail(
                request,
                address,
                "Confirm your e-mail address",
                f"Welcome, {user.display_name}. Confirm your address to finish creating "
                "your account:",
                site.urls.verify(token),
                "Confirm my address",
            ),
            False,
        )


@router.post(urls.SIGN_UP, dependencies=[Depends(require_csrf)])
async def sign_up(request: Request) -> Response:
    """Create an account and send its verification link."""
    form = await form_fields(request)
    email = form.get("email", "").strip()
    name = form.get("display_name", "")
    target = local_path(form.get("next"))
    try:
        message, signed_in = await run_in_threadpool(
            _sign_up_sync, request, email, name, form.get("password", "")
        )
    except RateLimited as exc:
        raise _refused(exc) from exc
    except AccountError as exc:
        return _sign_up_page(request, target, str(exc), 400, email=email, display_name=name)
    if signed_in:
        return see_other(site_of(request).urls.account() + "?done=signed-in")
    failed = await run_in_threadpool(_send, request, message)
    if failed is not None:
        return failed
    return _message(
        request,
        "Check your inbox",
        "We sent a link to the address you gave. Follow it to confirm your address and "
        "sign in. If nothing arrives, check the address and your spam folder.",
    )


def _link_page(
    request: Request, token: str, purpose: str, heading: str, text: str, action: str
) -> Response:
    """A mailed link's landing page: a button that posts the token (GETs never act); the
    "not valid" page when the token is not a live one for `purpose`."""
    if not _peek(request, token, purpose):
        return _link_invalid(request)
    return _page(
        request,
        "auth/page.html",
        heading,
        form="button",
        paragraphs=(text,),
        action=action,
        token=token,
        button=heading,
    )


def _link_invalid(request: Request, status: int = 400) -> HTMLResponse:
    return _message(
        request,
        "Link not valid",
        "This link has expired or has been used already. Ask for a new one.",
        status=status,
    )


def _peek(request: Request, token: str, purpose: str) -> bool:
    with session_scope(_settings(request).database_url) as session:
        return accounts.peek_link_token(session, token, purpose) is not None


@router.get(urls.VERIFY)
def verify_form(request: Request, token: str = "") -> Response:
    """The verification link: a button."""
    return _link_page(
        request,
        token,
        "verify",
        "Confirm my address",
        "Press the button to confirm your e-mail address and sign in.",
        urls.VERIFY,
    )


def _use_link_sync(request: Request, token: str, purpose: str) -> User:
    """Spend a verify or sign-in link: the account, verified and signed in."""
    with session_scope(_settings(request).database_url) as session:
        row = accounts.consume_link_token(session, token, purpose)
        user = accounts.user_by_id(session, row.user_id) if row.user_id is not None else None
        if user is None or user.email != row.email:
            raise LinkInvalid("This link is for an address the account no longer has.")
        accounts.mark_verified(user)
        # A proven address also lifts a password lock-out of the account.
        site_of(request).limits.lift_lock_out(session, user.email)
        _open_session(session, request, user)
        return user


@router.post(urls.VERIFY, dependencies=[Depends(require_csrf)])
async def verify(request: Request) -> Response:
    """Spend the verification link: the address is proven, the browser signed in."""
    token = (await form_fields(request)).get("token", "")
    try:
        await run_in_threadpool(_use_link_sync, request, token, "verify")
    except LinkInvalid:
        return _link_invalid(request)
    return see_other(site_of(request).urls.account() + "?done=verified")


# --- sign-in links and password resets by e-mail ------------------------------------------


def _ask_page(request: Request, kind: str, notice: str = "", status: int = 200) -> HTMLResponse:
    heading = "Sign in by e-mail" if kind == "link" else "Reset your password"
    return _page(
        request,
        "auth/page.html",
        heading,
        status=status,
        form="ask_link" if kind == "link" else "ask_reset",
        notice=notice,
        mail_enabled=_mail_enabled(request),
    )


def _ask_sync(request: Request, email: str, purpose: str) -> EmailMessage | None:
    """Make a sign-in or reset link for the address's account, if there is one."""
    kind = "signin_mail" if purpose == "signin" else "reset_mail"
    site = site_of(request)
    with session_scope(_settings(request).database_url) as session:
        try:
            address = accounts.normal_email(email)
        except AccountError:
            return None
        # Counted whether or not the account exists: the budget tells nothing either.
        site.limits.spend(session, kind, email=address, ip=client_ip(request))
        user = accounts.user_by_email(session, address)
        if user is None:
            return None
        token = accounts.create_link_token(session, purpose, address, user)
        if purpose == "signin":
            return _mail(
                request,
                address,
                "Your sign-in link",
                "Here is the link you asked for. It signs you in once, within 20 minutes:",
                site.urls.sign_in_link(token),
                "Sign in",
            )
        return _mail(
            request,
            address,
            "Reset your password",
            "Someone (hopefully you) asked to reset your password. This link lets you "
            "choose a new one, once, within an hour:",
            site.urls.reset(token),
            "Choose a new password",
        )


async def _ask(request: Request, purpose: str) -> Response:
    kind = "link" if purpose == "signin" else "reset"
    if not _mail_enabled(request):
        return _ask_page(request, kind, "This site does not send e-mail.", 503)
    email = (await form_fields(request)).get("email", "")
    try:
        message = await run_in_threadpool(_ask_sync, request, email, purpose)
    except RateLimited as exc:
        raise _refused(exc) from exc
    failed = await run_in_threadpool(_send, request, message)
    if failed is not None:
        return failed
    return _message(
        request,
        "Check your inbox",
        "If an account has that address, a link is on its way to it.",
    )


@router.get(urls.SIGN_IN_LINK)
def sign_in_link_form(request: Request, token: str = "") -> Response:
    """Without a token: ask for a link. With one (the mailed link): a button."""
    if not token:
        return _ask_page(request, "link")
    return _link_page(
        request,
        token,
        "signin",
        "Sign in",
        "Press the button to sign in on this browser.",
        urls.SIGN_IN_LINK,
    )


@router.post(urls.SIGN_IN_LINK, dependencies=[Depends(require_csrf)])
async def sign_in_link(request: Request) -> Response:
    """Ask for a sign-in link (``email``), or spend one (``token``)."""
    token = (await form_fields(request)).get("token", "")
    if not token:
        return await _ask(request, "signin")
    try:
        await run_in_threadpool(_use_link_sync, request, token, "signin")
    except LinkInvalid:
        return _link_invalid(request)
    return see_other(site_of(request).urls.account() + "?done=signed-in")


def _new_password_page(
    request: Request, token: str, notice: str = "", status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "auth/page.html",
        "Choose a new password",
        status=status,
        form="new_password",
        token=token,
        notice=notice,
        min_password=accounts.MIN_PASSWORD,
    )


@router.get(urls.RESET)
def reset_form(request: Request, token: str = "") -> Response:
    """Without a token: ask for a reset mail. With one: choose the new password."""
    if not token:
        return _ask_page(request, "reset")
    if not _peek(request, token, "reset"):
        return _link_invalid(request)
    return _new_password_page(request, token)


def _reset_sync(request: Request, token: str, password: str) -> None:
    with session_scope(_settings(request).database_url) as session:
        row = accounts.peek_link_token(session, token, "reset")
        user = accounts.user_by_id(session, row.user_id) if row and row.user_id else None
        if row is None or user is None or user.email != row.email:
            raise LinkInvalid("This link has expired or has been used already.")
        # The policy first: a refused password leaves the link usable.
        accounts.check_password(password, email=user.email, name=user.display_name)
        accounts.consume_link_token(session, token, "reset")
        accounts.set_password(session, user, password)
        accounts.end_all_sessions(session, user.id)
        accounts.mark_verified(user)
        site_of(request).limits.lift_lock_out(session, user.email)
        _open_session(session, request, user)


@router.post(urls.RESET, dependencies=[Depends(require_csrf)])
async def reset(request: Request) -> Response:
    """Ask for a reset mail (``email``), or set the new password (``token``, ``password``)."""
    form = await form_fields(request)
    token = form.get("token", "")
    if not token:
        return await _ask(request, "reset")
    try:
        await run_in_threadpool(_reset_sync, request, token, form.get("password", ""))
    except LinkInvalid:
        return _link_invalid(request)
    except WeakPassword as exc:
        return _new_password_page(request, token, str(exc), 400)
    return see_other(site_of(request).urls.account() + "?done=password-reset")


# --- account settings ---------------------------------------------------------------------


def _account_context(request: Request, user_id: int) -> dict[str, Any]:
    site = site_of(request)
    with session_scope(_settings(request).database_url) as session:
        user = accounts.user_by_id(session, user_id)
        if user is None:
            raise Refused("This account no longer exists.", status=404)
        tokens = [
            {"id": t.id, "name": t.name, "created_at": t.created_at, "last_used_at": t.last_used_at}
            for t in accounts.api_tokens(session, user.id)
        ]
        sessions = len(accounts.user_sessions(session, user.id))
        feeds = (
            [
                {
                    "channel": c.display_name,
                    "rss": site.urls.absolute(site.urls.private_feed(user.feed_token, c.slug)),
                    "atom": site.urls.absolute(
                        site.urls.private_feed(user.feed_token, c.slug, "atom")
                    ),
                }
                for c in site.settings.channels
            ]
            if user.feed_token
            else []
        )
        return {
            "account": {
                "email": user.email,
                "display_name": user.display_name,
                "verified": user.verified_at is not None,
                "notify_replies": user.notify_replies,
                "has_password": user.password_hash is not None,
                "role": user.role,
            },
            "api_tokens": tokens,
            "session_count": sessions,
            "private_feeds": feeds,
            "channels": [(c.slug, c.display_name) for c in site.settings.channels],
        }


def _account_page(
    request: Request, me: Viewer, notice: str = "", status: int = 200, **extra: Any
) -> HTMLResponse:
    context = _account_context(request, me.id)
    return _page(
        request,
        "account.html",
        "Your account",
        status=status,
        notice=notice,
        min_password=accounts.MIN_PASSWORD,
        mail_enabled=_mail_enabled(request),
        **context,
        **extra,
    )


@router.get(urls.ACCOUNT)
def account_page(
    request: Request, me: Viewer = Depends(require_viewer), done: str = ""
) -> Response:
    """The signed-in reader's settings."""
    return _account_page(request, me, DONE.get(done, ""))


def _check_current_password(user: User, form: dict[str, str]) -> None:
    if user.password_hash is not None and not accounts.verify_password(
        user, form.get("current_password", "")
    ):
        raise AccountError("Your current password is not right.")


def _act_sync(request: Request, me: Viewer, action: str, form: dict[str, str]) -> Any:
    """One settings form: a ``done`` key, an extra page context, or a mail to send."""
    site = site_of(request)
    ip = client_ip(request)
    with session_scope(_settings(request).database_url) as session:
        user = accounts.user_by_id(session, me.id)
        if user is None:
            raise AccountError("This account no longer exists.")
        if action == "name":
            accounts.set_display_name(session, user, form.get("display_name", ""))
            return "name"
        if action == "password":
            _check_current_password(user, form)
            accounts.set_password(session, user, form.get("password", ""))
            accounts.end_all_sessions(session, user.id, keep=session_id(request))
            return "password"
        if action == "notify":
            user.notify_replies = form.get("notify_replies") == "1"
            return "notify"
        if action == "feed-token":
            accounts.new_feed_token(session, user)
            return "feed"
        if action == "feed-revoke":
            accounts.revoke_feed_token(session, user)
            return "feed-revoked"
        if action == "api-token":
            made = accounts.create_api_token(session, user, form.get("name", ""))
            return {"new_token": {"name": made.name, "secret": made.secret}}
        if action == "api-revoke":
            try:
                token_id = int(form.get("token_id", ""))
            except ValueError as exc:
                raise AccountError("No such API token.") from exc
            if not accounts.revoke_api_token(session, user.id, token_id):
                raise AccountError("No such API token.")
            return "token-revoked"
        if action == "email":
            _check_current_password(user, form)
            address = accounts.normal_email(form.get("email", ""))
            if address == user.email:
                raise AccountError("That is your address already.")
            if not _mail_enabled(request):
                raise AccountError("This site does not send e-mail, so addresses cannot change.")
            site.limits.spend(session, "email_change", user=user.id, ip=ip)
            token = accounts.create_link_token(session, "email", address, user)
            return _mail(
                request,
                address,
                "Confirm your new e-mail address",
                f"Confirm that {address} is the new address of the account {user.display_name}:",
                site.urls.email_confirm(token),
                "Confirm the new address",
            )
        if action == "resend-verification":
            if user.verified_at is not None:
                return "verified"
            if not _mail_enabled(request):
                raise AccountError("This site does not send e-mail.")
            site.limits.spend(session, "verify_mail", user=user.id, ip=ip)
            token = accounts.create_link_token(session, "verify", user.email, user)
            return _mail(
                request,
                user.email,
                "Confirm your e-mail address",
                "Here is a new link to confirm your address:",
                site.urls.verify(token),
                "Confirm my address",
            )
        if action == "sign-out-everywhere":
            accounts.end_all_sessions(session, user.id)
            return "signed-out-everywhere"
        if action == "delete":
            _check_current_password(user, form)
            if form.get("confirm") != "delete":
                raise AccountError("Tick the box to confirm that the account should go.")
            choice = "remove" if form.get("comments") == "remove" else "anonymise"
            accounts.delete_account(session, user, comments=choice)
            return "deleted"
        raise AccountError("Unknown account action.")


@router.post(urls.ACCOUNT_ACTION, dependencies=[Depends(require_csrf)])
async def account_action(
    request: Request, action: str, me: Viewer = Depends(require_viewer)
) -> Response:
    """One settings form's target."""
    form = await form_fields(request)
    try:
        outcome = await run_in_threadpool(_act_sync, request, me, action, form)
    except RateLimited as exc:
        raise _refused(exc) from exc
    except AccountError as exc:
        return await run_in_threadpool(_account_page, request, me, str(exc), 400)
    urls_ = site_of(request).urls
    if isinstance(outcome, EmailMessage):
        failed = await run_in_threadpool(_send, request, outcome)
        if failed is not None:
            return failed
        done = "verify-sent" if action == "resend-verification" else "email-sent"
        return see_other(urls_.account() + f"?done={done}")
    if isinstance(outcome, dict):
        return await run_in_threadpool(_account_page, request, me, "", 200, **outcome)
    if outcome in ("signed-out-everywhere", "deleted"):
        rotate_session(request, signed_in=False)
        forget_viewer(request)
        if outcome == "deleted":
            return _message(
                request,
                "Your account is deleted",
                "Your account and its settings are gone; you are signed out.",
            )
        return see_other(urls_.sign_in())
    return see_other(urls_.account() + f"?done={outcome}")


@router.get(urls.EMAIL_CONFIRM)
def email_confirm_form(request: Request, token: str = "") -> Response:
    """The link sent to a new address: a button."""
    return _link_page(
        request,
        token,
        "email",
        "Confirm the new address",
        "Press the button to make this the e-mail address of your account.",
        urls.EMAIL_CONFIRM,
    )


def _email_confirm_sync(request: Request, token: str) -> None:
    with session_scope(_settings(request).database_url) as session:
        row = accounts.consume_link_token(session, token, "email")
        user = accounts.user_by_id(session, row.user_id) if row.user_id is not None else None
        if user is None:
            raise LinkInvalid("This link is for an account that no longer exists.")
        accounts.change_email(session, user, row.email)


@router.post(urls.EMAIL_CONFIRM, dependencies=[Depends(require_csrf)])
async def email_confirm(request: Request) -> Response:
    """Spend the new address's link: the account moves to it."""
    token = (await form_fields(request)).get("token", "")
    try:
        await run_in_threadpool(_email_confirm_sync, request, token)
    except LinkInvalid:
        return _link_invalid(request)
    except AccountError as exc:
        return _message(request, "Address not changed", str(exc), status=400)
    return see_other(site_of(request).urls.account() + "?done=email")


# The reader's choices, saved items and private feeds: served with these pages.
router.include_router(preferences.router)
