"""Cross-site request forgery: every state-changing request must come from our own pages.

Two independent checks:

- **Origin.** :func:`refuse_cross_site` (an app-wide dependency) refuses every POST, PUT,
  PATCH and DELETE whose ``Origin`` — or, without one, ``Referer`` — names another site.
  Requests with neither (mail clients' RFC 8058 one-click POSTs, WebSub hubs) pass it.
- **Token.** Forms carry a token (:func:`csrf_token`, in templates ``{{ csrf_input() }}``)
  that is an HMAC, under the server secret, of the reader's session id, which lives in the
  ``nl_sid`` cookie (:mod:`newsline.web.session`): a signed double-submit. A form's POST
  handler declares ``dependencies=[Depends(require_csrf)]``; without a token matching the
  cookie it is refused with 403. Another site can neither read the token nor forge it.

The server secret is ``web.secret_key`` when configured, else a random one made on first
use and kept in the database (``site_secret``), so every worker agrees.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsline.config import Settings
from newsline.db.engine import session_scope
from newsline.db.models import SiteSecret
from newsline.web.clients import is_tls
from newsline.web.session import ensure_session, session_id
from newsline.web.site import BadRequest, Refused, site_of

#: The form field (and, for scripts, the ``X-CSRF-Token`` header) that carries the token.
FIELD = "csrf_token"
HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECRET_NAME = "csrf"
#: A form larger than this is refused (400). A comment form carries up to 10,000 characters,
#: which URL-encoding makes up to ~60 KB in other scripts (the app's own body limit,
#: web.max_body_bytes, is 64 KiB by default).
MAX_FORM_BYTES = 64 * 1024


class CrossSiteRefused(Refused):
    """A state-changing request that did not come from one of our own pages (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=403)


def load_secret(settings: Settings) -> bytes:
    """The server secret: ``web.secret_key``, else the database's (made once, race-safe)."""
    if settings.web.secret_key:
        return settings.web.secret_key.encode()
    with session_scope(settings.database_url) as session:
        value = session.scalar(select(SiteSecret.value).where(SiteSecret.name == SECRET_NAME))
        if value is None:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            session.execute(
                insert(SiteSecret)
                .values(name=SECRET_NAME, value=secrets.token_urlsafe(48))
                .on_conflict_do_nothing(index_elements=[SiteSecret.name])
            )
            # Another worker may have won the race: everybody uses the stored value.
            value = session.scalar(select(SiteSecret.value).where(SiteSecret.name == SECRET_NAME))
    assert value is not None
    return value.encode()


def _secret(request: Request) -> bytes:
    site = site_of(request)
    secret: bytes = site.memo(("csrf-secret",), lambda: load_secret(site.settings))
    return secret


def _token_for(secret: bytes, sid: str) -> str:
    mac = hmac.new(secret, b"csrf\x00" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode()


def csrf_token(request: Request) -> str:
    """The token the reader's forms carry (makes the session, and so its cookie, if needed)."""
    return _token_for(_secret(request), ensure_session(request))


@pass_context
def csrf_input(context: Context) -> Markup:
    """Jinja global: the hidden ``<input>`` with the token (needs ``request`` in the context)."""
    token = csrf_token(context["request"])
    return Markup(f'<input type="hidden" name="{FIELD}" value="{escape(token)}">')


def _origin(url: str) -> str:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


def own_origins(request: Request) -> set[str]:
    """The origins our pages are served from: the configured base URL, and this request's."""
    origins = {_origin(site_of(request).settings.web.base_url)}
    host = request.headers.get("host", "")
    if host:
        origins.add(_origin(f"{'https' if is_tls(request) else 'http'}://{host}"))
    origins.discard("")
    return origins


def same_site(request: Request) -> bool:
    """Whether the request's Origin (else Referer) is ours; True when it sends neither."""
    origin = request.headers.get("origin")
    if origin is not None:
        return _origin(origin) in own_origins(request)  # "null" (sandboxed, file:) is foreign
    referer = request.headers.get("referer")
    if referer:
        return _origin(referer) in own_origins(request)
    return True


async def refuse_cross_site(request: Request) -> None:
    """App-wide dependency: a state-changing request from another site is refused (403)."""
    if request.method in UNSAFE_METHODS and not same_site(request):
        raise CrossSiteRefused("This request came from another site and was refused.")


async def form_lists(request: Request) -> dict[str, list[str]]:
    """A urlencoded form's fields, every value of each (checkbox lists); :class:`BadRequest`
    when the body is over :data:`MAX_FORM_BYTES`."""
    raw = await request.body()  # Starlette keeps it: the handler may read it again
    if len(raw) > MAX_FORM_BYTES:
        raise BadRequest("This form is too large.")
    return parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)


async def form_fields(request: Request) -> dict[str, str]:
    """A urlencoded form's fields, the first value of each (:func:`form_lists`)."""
    return {k: v[0] for k, v in (await form_lists(request)).items() if v}


def valid_token(request: Request, token: str) -> bool:
    """Whether `token` is the one made for the request's session cookie."""
    sid = session_id(request)
    if sid is None or not token:
        return False
    return hmac.compare_digest(token.encode(), _token_for(_secret(request), sid).encode())


async def require_csrf(request: Request) -> None:
    """Dependency for form handlers: 403 unless the form's token matches the session cookie."""
    await refuse_cross_site(request)
    token = request.headers.get(HEADER) or (await form_fields(request)).get(FIELD, "")
    if not valid_token(request, token):
        raise CrossSiteRefused(
            "This form has expired or did not come from this site. "
            "Go back, reload the page and send it again."
        )
