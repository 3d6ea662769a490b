"""The WebSub callback: where hubs verify our subscriptions (GET) and deliver content (POST).

A machine endpoint: a delivery is authenticated by the HMAC signature of its body
(``X-Hub-Signature``, checked by :func:`newsline.ingest.websub.receive`), not by a session,
so it is exempt from the site's CSRF protection (a hub has no form token to send). The
work itself is in :mod:`newsline.ingest.websub`; this module only speaks HTTP.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from newsline import urls
from newsline.ingest import websub
from newsline.web.site import NO_STORE, site_of

router = APIRouter(include_in_schema=False)


@router.get(urls.WEBSUB_CALLBACK)
def verify(
    request: Request,
    key: str,
    mode: Annotated[str, Query(alias="hub.mode")] = "",
    topic: Annotated[str, Query(alias="hub.topic")] = "",
    challenge: Annotated[str, Query(alias="hub.challenge")] = "",
    lease_seconds: Annotated[str, Query(alias="hub.lease_seconds")] = "",
    reason: Annotated[str, Query(alias="hub.reason")] = "",
) -> Response:
    """Intent verification (§5.3): echo the challenge only for what we asked for, else 404."""
    answer = websub.verify_intent(
        site_of(request).settings,
        key,
        mode=mode,
        topic=topic,
        challenge=challenge,
        lease_seconds=lease_seconds,
        reason=reason,
    )
    if answer is None:
        return PlainTextResponse("no such subscription request", status_code=404, headers=NO_STORE)
    return PlainTextResponse(answer, headers=NO_STORE)


@router.post(urls.WEBSUB_CALLBACK)
async def deliver(request: Request, key: str) -> Response:
    """Content distribution (§7): signed feed content, stored like a poll of the feed."""
    settings = site_of(request).settings
    limit = settings.fetch.max_body_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return PlainTextResponse("body too large", status_code=413, headers=NO_STORE)
    result = await run_in_threadpool(
        websub.receive,
        settings,
        key,
        bytes(body),
        request.headers.get("content-type", ""),
        request.headers.get("x-hub-signature"),
    )
    return PlainTextResponse(result.note or "ok", status_code=result.status, headers=NO_STORE)
