"""``/admin/channels``: a channel's display name, hometown, time zone, digest schedule,
hashtags and sponsor (six width-band variants, previewed at each band's width), with the
sponsor's daily impressions and clicks per variant. A value saved here is stored in the
database and wins over the config file's, which stays the bootstrap (and applies again
when the stored value is reset)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsline import urls
from newsline.db.channels import OVERRIDABLE, channel_row, stored_overrides
from newsline.db.engine import session_scope
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.web.admin.common import (
    CHANNEL_EDITOR,
    CSRF,
    FLASH,
    actor_of,
    admin_page,
    back_to,
    first,
    form_lists,
    scope_of,
)
from newsline.web.auth import Viewer
from newsline.web.render import SPONSOR_BANDS
from newsline.web.site import site_of

router = APIRouter(include_in_schema=False)
#: The narrowest width of each band, for the preview frames (px).
BAND_WIDTHS = (375, 500, 600, 900, 1200, 1800)
LABELS = {
    "display_name": "Display name",
    "hometown": "Hometown",
    "timezone": "Time zone",
    "digest.schedule": "Digest schedule (minutes [hours], cron-like)",
    "sponsor": "Sponsor",
    "hashtags": "Hashtags (JSON: tag, description, keywords)",
}


def _value(cfg: Any, key: str) -> Any:
    value = cfg
    for name in key.split("."):
        value = getattr(value, name)
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if isinstance(value, list):
        return [v.model_dump() if hasattr(v, "model_dump") else v for v in value]
    return value


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)


@router.get(urls.ADMIN_SECTIONS["channels"], dependencies=[FLASH])
async def channels_page(
    request: Request, viewer: Viewer = CHANNEL_EDITOR, channel: str = ""
) -> Response:
    """One channel's settings, file beside database, and the sponsor's figures."""
    site = site_of(request)
    scope = scope_of(request, viewer)
    known = [c.slug for c in site.file_settings.channels]
    slugs = [s for s in known if scope.has(s)]
    slug = scope.default(channel if channel in known else "", site.settings.web.default_channel)
    file_cfg = site.file_settings.channel(slug)
    cfg = site.settings.channel(slug)
    assert file_cfg is not None and cfg is not None
    with session_scope(site.settings.database_url) as session:
        stored = stored_overrides(session).get(slug, {})
        row = channel_row(session, site.settings, slug)
        stats = editorial.sponsor_stats(session, row.id, days=14)
        rows = [
            {
                "key": key,
                "label": LABELS[key],
                "file": _shown(_value(file_cfg, key)),
                "stored": _shown(stored[key]) if key in stored else None,
                "wins": "database" if key in stored else "file",
            }
            for key in OVERRIDABLE
            if key not in ("sponsor",)
        ]
    days = sorted({s.day for s in stats})
    per_day = {d: {"impressions": 0, "clicks": 0} for d in days}
    per_band = {b: {"impressions": 0, "clicks": 0} for b in SPONSOR_BANDS}
    for s in stats:
        per_day[s.day]["impressions"] += s.impressions
        per_day[s.day]["clicks"] += s.clicks
        if s.band in per_band:
            per_band[s.band]["impressions"] += s.impressions
            per_band[s.band]["clicks"] += s.clicks
    peak = max([v["impressions"] for v in per_day.values()] + [1])
    return admin_page(
        request,
        "admin/channels.html",
        section="channels",
        title="Channels",
        channels=slugs,
        slug=slug,
        ccfg=cfg,
        rows=rows,
        sponsor_stored="sponsor" in stored,
        bands=list(zip(SPONSOR_BANDS, BAND_WIDTHS, cfg.sponsor.variants, strict=True)),
        per_day=per_day,
        per_band=per_band,
        peak=peak,
        here=site.urls.admin("channels", channel=slug),
    )


@router.post(urls.ADMIN_ACTION.format(section="channels"), dependencies=[CSRF])
async def channels_action(request: Request, viewer: Viewer = CHANNEL_EDITOR) -> Response:
    """Save or reset one setting of a channel."""
    site = site_of(request)
    form = await form_lists(request)
    action = first(form, "action")
    slug = first(form, "channel")
    key = first(form, "key")
    default = site.urls.admin("channels", channel=slug)
    actor = actor_of(viewer)
    scope_of(request, viewer).check_channel(slug)
    try:
        with session_scope(site.settings.database_url) as session:
            if action == "reset":
                editorial.clear_channel_setting(session, site.settings, actor, slug, key)
                notice = f"{slug}: {LABELS.get(key, key)} is the config file's again."
            elif action == "save":
                value: Any
                if key == "sponsor":
                    value = {
                        "name": first(form, "name").strip(),
                        "url": first(form, "url").strip(),
                        "variants": [first(form, f"variant{n}").strip() for n in range(6)],
                    }
                elif key == "hashtags":
                    try:
                        value = json.loads(first(form, "value"))
                    except ValueError as exc:
                        raise editorial.EditorialError(f"hashtags: not JSON ({exc})") from exc
                else:
                    value = first(form, "value").strip()
                editorial.set_channel_setting(session, site.settings, actor, slug, key, value)
                notice = f"{slug}: {LABELS.get(key, key)} saved; it wins over the config file."
            else:
                raise editorial.EditorialError(f"unknown action {action[:40]!r}")
    except NewslineError as exc:
        return back_to(default, form, problem=str(exc))
    site.reload_channel_settings()
    return back_to(default, form, notice=notice)
