"""``/admin/audit``: the audit log, filterable by action, actor and target, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from newsline import urls
from newsline.community.audit import entries
from newsline.db.engine import session_scope
from newsline.web.admin.common import EDITOR, FLASH, admin_page
from newsline.web.auth import Viewer
from newsline.web.site import site_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


@router.get(urls.ADMIN_SECTIONS["audit"], dependencies=[FLASH])
async def audit_page(
    request: Request,
    viewer: Viewer = EDITOR,
    action: str = "",
    actor: str = "",
    target: str = "",
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """Entries newest first; ``action`` ending in ``.`` matches a family (``item.``)."""
    site = site_of(request)
    given = {"action": action, "actor": actor, "target": target}
    filters = {k: v[:100].strip() for k, v in given.items()}
    target_type, _, target_id = filters["target"].partition(":")
    before_id = before
    with session_scope(site.settings.database_url) as session:
        rows = entries(
            session,
            action=filters["action"] or None,
            actor=filters["actor"] or None,
            target_type=target_type or None,
            target_id=target_id or None,
            before_id=before_id,
            limit=PAGE_SIZE,
        )
        query = {k: v for k, v in filters.items() if v}
        older = (
            site.urls.admin("audit", **query, before=rows[-1].id)
            if len(rows) == PAGE_SIZE
            else None
        )
        return admin_page(
            request,
            "admin/audit.html",
            section="audit",
            title="Audit log",
            rows=rows,
            filters=filters,
            older=older,
        )
