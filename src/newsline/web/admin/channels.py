"""``/admin/channels``: a channel's display name, hometown, time zone, digest schedule,
hashtags and sponsor (six width-band variants, previewed at each band's width), with the
sponsor's daily impressions and clicks per variant. A value saved here is stored in the
database and wins over the config file's, which stays the bootstrap (and applies again
when the stored value is reset)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsline import urls
from newsline.db.channels import OVERRIDABLE, channel_row, stored_overrides
from newsline.db.engine import session_scope
from newsline.errors import NewslineError
from newsline.publish import editorial
from newsline.text import hashtag_name
from newsline.web.admin.common import (
    CHANNEL_EDITOR,
    CSRF,
    FLASH,
    actor_of,
    admin_page,
    back_to,
    first,
    scope_of,
)
from newsline.web.auth import Viewer
from newsline.web.csrf import form_lists
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
    "hashtags": "Hashtags",
}
#: A hashtag row's fields in the form: ``h<row>.<field>``.
HASHTAG_FIELD = re.compile(r"h(\d{1,3})\.(tag|description|keywords|position|remove)")
#: Empty rows the form offers for new hashtags (more after each save).
BLANK_ROWS = 3
MAX_HASHTAGS = 100
MAX_KEYWORDS = 200


@dataclass
class HashtagRow:
    """One row of the hashtag form, as typed (shown again as typed when it has errors)."""

    tag: str = ""
    description: str = ""
    keywords: str = ""
    position: str = ""
    remove: bool = False

    @property
    def blank(self) -> bool:
        return not (self.tag.strip() or self.description.strip() or self.keywords.strip())


def hashtag_rows(form: Mapping[str, list[str]]) -> list[HashtagRow]:
    """The form's hashtag rows, in the order of their row numbers."""
    rows: dict[int, HashtagRow] = {}
    for name, values in form.items():
        found = HASHTAG_FIELD.fullmatch(name)
        if found is None or not values:
            continue
        row = rows.setdefault(int(found.group(1)), HashtagRow())
        field_name, value = found.group(2), values[0]
        if field_name == "remove":
            row.remove = value != ""
        else:
            setattr(row, field_name, value[:2000])
    return [rows[n] for n in sorted(rows)]


def hashtags_from(rows: list[HashtagRow]) -> list[dict[str, Any]]:
    """The hashtag list the rows describe, ordered by their positions (rows without one
    keep their place after the numbered ones): removed and blank rows left out. Every
    problem is named with its row; :class:`editorial.EditorialError` when there is any."""
    problems: list[str] = []
    kept: list[tuple[float, int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        if row.remove or row.blank:
            continue
        tag = hashtag_name(row.tag)
        if not tag:
            problems.append(f"row {n}: give the hashtag a name")
        elif not tag.replace("_", "").isalnum() or len(tag) > 64:
            problems.append(f"row {n}: #{tag[:64]} must be letters, digits or '_' (at most 64)")
        elif tag in seen:
            problems.append(f"row {n}: #{tag} is already row {seen[tag]}")
        else:
            seen[tag] = n
        position = row.position.strip()
        try:
            order = float(position) if position else float("inf")
        except ValueError:
            problems.append(f"row {n}: the position {position[:20]!r} is not a number")
            order = float("inf")
        keywords: list[str] = []
        for word in row.keywords.replace("\n", ",").split(","):
            word = " ".join(word.split())
            if word and word not in keywords:
                keywords.append(word)
        if len(keywords) > MAX_KEYWORDS:
            problems.append(f"row {n}: at most {MAX_KEYWORDS} keywords")
        description = " ".join(row.description.split())
        kept.append((order, n, {"tag": tag, "description": description, "keywords": keywords}))
    if not kept and not problems:
        problems.append("keep at least one hashtag")
    if len(kept) > MAX_HASHTAGS:
        problems.append(f"at most {MAX_HASHTAGS} hashtags")
    if problems:
        raise editorial.EditorialError("hashtags: " + "; ".join(problems[:10]))
    return [value for _, _, value in sorted(kept, key=lambda k: (k[0], k[1]))]


def rows_of(hashtags: list[Any]) -> list[HashtagRow]:
    """The form rows for a channel's hashtags in force, then blank ones to add."""
    rows = [
        HashtagRow(h.tag, h.description, ", ".join(h.keywords), str(n))
        for n, h in enumerate(hashtags, 1)
    ]
    return rows + [HashtagRow() for _ in range(BLANK_ROWS)]


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
    return _channels_page(request, viewer, channel)


def _channels_page(
    request: Request,
    viewer: Viewer,
    channel: str,
    typed: list[HashtagRow] | None = None,
    problem: str = "",
) -> Response:
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
        hashtag_rows=typed if typed is not None else rows_of(cfg.hashtags),
        here=site.urls.admin("channels", channel=slug),
        **({"problem": problem} if problem else {}),
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
    if action == "save" and key == "hashtags":
        typed = hashtag_rows(form)
        try:
            hashtags = hashtags_from(typed)
            with session_scope(site.settings.database_url) as session:
                editorial.set_channel_setting(session, site.settings, actor, slug, key, hashtags)
        except NewslineError as exc:
            # The page again with the rows as typed and the problem: nothing is lost.
            shown = [r for r in typed if not r.blank] + rows_of([])
            response = _channels_page(request, viewer, slug, shown, str(exc))
            response.status_code = 422
            return response
        site.reload_channel_settings()
        return back_to(
            default,
            form,
            notice=f"{slug}: {len(hashtags)} hashtags saved; they win over the config file.",
        )
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
