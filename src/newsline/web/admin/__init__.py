"""The editor's and operator's console, ``/admin``: one module per section.

The channel sections (items, digests, publications, channels) need an editor, install-wide
or of a channel: a channel's editor sees and acts on that channel's data only (403 on
another's; :class:`newsline.web.admin.common.Scope`). The desk, people and the audit log
need an install-wide editor. ``/admin`` sends a channel's editor on to the items, a
moderator to the moderation queue (:mod:`newsline.web.comments`) and refuses a reader
(403). Every form
carries the CSRF token and every action goes through :mod:`newsline.publish.editorial`
(or the accounts and subscribers modules), which writes the audit log, so the console and
the CLI leave the same trail.
"""

from __future__ import annotations

from fastapi import APIRouter

from newsline.web.admin.audit import router as audit_router
from newsline.web.admin.channels import router as channels_router
from newsline.web.admin.desk import router as desk_router
from newsline.web.admin.digests import router as digests_router
from newsline.web.admin.items import router as items_router
from newsline.web.admin.people import router as people_router
from newsline.web.admin.publications import router as publications_router

router = APIRouter(include_in_schema=False)
for section in (
    desk_router,
    items_router,
    digests_router,
    publications_router,
    channels_router,
    people_router,
    audit_router,
):
    router.include_router(section)

__all__ = ["router"]
