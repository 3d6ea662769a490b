"""Composing a Digest from plain values: collapse, group, rank, cap, remember, render.

No database and no web here: :mod:`newsline.publish.digest` loads the window's items as
:class:`WindowItem` values, and the functions below turn them into :class:`Entry` values
grouped by hashtag, then into sanitized HTML and plain text. The e-mail edition renders
the same entries (as stored in ``Digest.entries``) with :func:`render_email_html`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from newsline.sanitize import DIGEST, web_url

#: Hashtag used for entries whose items have no hashtag in this channel's list.
FALLBACK_HASHTAG = "other"

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]?\s+(?=[\"'“‘(]?[A-Z0-9])")


@dataclass(slots=True)
class WindowItem:
    """One ready item of the window, as loaded for composition."""

    id: int
    publication_id: int
    publication: str
    title: str
    url: str
    sort_at: datetime
    image_url: str | None = None
    summary: str | None = None
    teaser: str = ""
    text_length: int = 0
    near_duplicate_of_id: int | None = None
    story_id: int | None = None
    story_sources: int = 0
    hashtag: str | None = None


@dataclass(slots=True)
class Link:
    """An "also:" link: another publication's copy of the entry's story."""

    publication: str
    url: str


@dataclass(slots=True)
class Entry:
    """One digest entry: a story (or a single item) told by its most complete item."""

    key: str
    hashtag: str
    item_id: int
    publication: str
    title: str
    url: str
    image_url: str | None
    summary: str
    latest: datetime
    sources: int
    publication_ids: list[int]
    item_ids: list[int]
    also: list[Link] = field(default_factory=list)
    update: bool = False

    def to_json(self) -> dict[str, Any]:
        """The entry as stored in ``Digest.entries`` (and read back by :func:`entry_from_json`)."""
        return {
            "key": self.key,
            "hashtag": self.hashtag,
            "item_id": self.item_id,
            "publication": self.publication,
            "title": self.title,
            "url": self.url,
            "image_url": self.image_url,
            "summary": self.summary,
            "latest": self.latest.astimezone(UTC).isoformat(),
            "sources": self.sources,
            "publication_ids": self.publication_ids,
            "item_ids": self.item_ids,
            "also": [{"publication": a.publication, "url": a.url} for a in self.also],
            "update": self.update,
        }


def entry_from_json(data: Mapping[str, Any]) -> Entry:
    """Rebuild an :class:`Entry` from its stored JSON form."""
    return Entry(
        key=str(data["key"]),
        hashtag=str(data.get("hashtag") or FALLBACK_HASHTAG),
        item_id=int(data["item_id"]),
        publication=str(data.get("publication", "")),
        title=str(data.get("title", "")),
        url=str(data.get("url", "")),
        image_url=data.get("image_url"),
        summary=str(data.get("summary") or ""),
        latest=datetime.fromisoformat(str(data["latest"])),
        sources=int(data.get("sources", 1)),
        publication_ids=[int(p) for p in data.get("publication_ids", [])],
        item_ids=[int(i) for i in data.get("item_ids", [])],
        also=[Link(str(a["publication"]), str(a["url"])) for a in data.get("also", [])],
        update=bool(data.get("update", False)),
    )


@dataclass(slots=True)
class Memory:
    """What the channel's recent digests already showed: per story key, the sources seen."""

    sources: dict[str, int] = field(default_factory=dict)
    publications: dict[str, set[int]] = field(default_factory=dict)
    item_ids: set[int] = field(default_factory=set)

    def remember(self, entry: Mapping[str, Any]) -> None:
        """Add one stored entry (JSON form) of an earlier digest."""
        key = str(entry["key"])
        self.sources[key] = max(self.sources.get(key, 0), int(entry.get("sources", 1)))
        self.publications.setdefault(key, set()).update(
            int(p) for p in entry.get("publication_ids", [])
        )
        self.item_ids.update(int(i) for i in entry.get("item_ids", []))


@dataclass(slots=True)
class Composition:
    """The result of composing: hashtag groups of entries, in display order."""

    groups: list[tuple[str, list[Entry]]]
    considered: int  # candidates in the window
    collapsed: int  # entries after collapsing duplicates and stories
    remembered: int  # entries dropped because a recent digest showed them already

    @property
    def entries(self) -> list[Entry]:
        """All entries, in display order."""
        return [e for _, group in self.groups for e in group]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        while parent != x:
            grand = self.parent.setdefault(parent, parent)
            self.parent[x] = grand
            x, parent = parent, grand
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep a story node as root when there is one: it names the group.
            if rb.startswith("story:") and not ra.startswith("story:"):
                ra, rb = rb, ra
            self.parent[rb] = ra


def _completeness(c: WindowItem) -> tuple[int, int, int, datetime]:
    return (1 if c.summary else 0, 1 if c.image_url else 0, c.text_length, c.sort_at)


def collapse(candidates: Sequence[WindowItem]) -> list[Entry]:
    """Merge near-duplicates and same-story items into one entry each (most complete item leads)."""
    uf = _UnionFind()
    for c in candidates:
        node = f"item:{c.id}"
        uf.find(node)
        if c.near_duplicate_of_id is not None:
            uf.union(f"item:{c.near_duplicate_of_id}", node)
        if c.story_id is not None:
            uf.union(f"story:{c.story_id}", node)
    members: dict[str, list[WindowItem]] = {}
    for c in candidates:
        members.setdefault(uf.find(f"item:{c.id}"), []).append(c)
    entries: list[Entry] = []
    for root, group in members.items():
        lead = max(group, key=_completeness)
        if root.startswith("story:"):
            key = root
        else:
            # Stable across digests: the original of a syndicated copy, else the item itself.
            key = f"item:{min(c.near_duplicate_of_id or c.id for c in group)}"
        publication_ids = sorted({c.publication_id for c in group})
        also: list[Link] = []
        seen_publications = {lead.publication_id}
        for c in sorted(group, key=lambda c: c.sort_at, reverse=True):
            if c.publication_id not in seen_publications:
                seen_publications.add(c.publication_id)
                also.append(Link(c.publication, c.url))
        story_sources = max(c.story_sources for c in group)
        hashtag = lead.hashtag or _most_common(c.hashtag for c in group) or FALLBACK_HASHTAG
        entries.append(
            Entry(
                key=key,
                hashtag=hashtag,
                item_id=lead.id,
                publication=lead.publication,
                title=lead.title,
                url=lead.url,
                image_url=lead.image_url or next((c.image_url for c in group if c.image_url), None),
                summary=lead.summary or lead.teaser or "",
                latest=max(c.sort_at for c in group),
                sources=max(story_sources, len(publication_ids)),
                publication_ids=publication_ids,
                item_ids=sorted(c.id for c in group),
                also=also,
            )
        )
    return entries


def _most_common(values: Iterable[str | None]) -> str | None:
    counts: dict[str, int] = {}
    for v in values:
        if v:
            counts[v] = counts.get(v, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def apply_memory(entries: Sequence[Entry], memory: Memory) -> tuple[list[Entry], int]:
    """Drop entries a recent digest showed, unless they gained sources (then mark an update)."""
    kept: list[Entry] = []
    dropped = 0
    for e in entries:
        shown = memory.sources.get(e.key)
        if shown is None:
            if set(e.item_ids) <= memory.item_ids:
                dropped += 1  # the very same items, re-keyed (e.g. a story formed since)
                continue
            kept.append(e)
            continue
        new_publications = set(e.publication_ids) - memory.publications.get(e.key, set())
        if e.sources > shown or new_publications:
            e.update = True
            e.sources = max(e.sources, shown + len(new_publications))
            kept.append(e)
        else:
            dropped += 1
    return kept, dropped


def rank_key(e: Entry) -> tuple[int, datetime, int]:
    """Coverage (number of sources) first, then recency; the id breaks ties deterministically."""
    return (e.sources, e.latest, e.item_id)


def group_and_cap(
    entries: Sequence[Entry],
    hashtag_order: Sequence[str],
    *,
    per_group: int,
    total: int,
) -> list[tuple[str, list[Entry]]]:
    """Group by hashtag in the channel's order, rank within groups, cap per group and overall.

    The overall cap keeps the best-ranked entries across all groups (not the first groups),
    so a busy first hashtag cannot crowd out the rest. Empty groups are omitted.
    """
    order = list(dict.fromkeys(hashtag_order))
    known = set(order)
    by_hashtag: dict[str, list[Entry]] = {}
    for e in entries:
        if e.hashtag not in known:
            e.hashtag = FALLBACK_HASHTAG
        by_hashtag.setdefault(e.hashtag, []).append(e)
    if FALLBACK_HASHTAG in by_hashtag and FALLBACK_HASHTAG not in known:
        order.append(FALLBACK_HASHTAG)
    capped: list[Entry] = []
    for hashtag in order:
        group = sorted(by_hashtag.get(hashtag, []), key=rank_key, reverse=True)
        capped.extend(group[: max(per_group, 0)])
    chosen = {id(e) for e in sorted(capped, key=rank_key, reverse=True)[: max(total, 0)]}
    groups: list[tuple[str, list[Entry]]] = []
    for hashtag in order:
        group = [
            e
            for e in sorted(by_hashtag.get(hashtag, []), key=rank_key, reverse=True)
            if id(e) in chosen
        ]
        if group:
            groups.append((hashtag, group))
    return groups


def compose(
    candidates: Sequence[WindowItem],
    hashtag_order: Sequence[str],
    memory: Memory,
    *,
    per_group: int,
    total: int,
) -> Composition:
    """Collapse, apply memory, group, rank and cap the window's candidates."""
    entries = collapse(candidates)
    kept, dropped = apply_memory(entries, memory)
    groups = group_and_cap(kept, hashtag_order, per_group=per_group, total=total)
    return Composition(
        groups=groups, considered=len(candidates), collapsed=len(entries), remembered=dropped
    )


# --- text helpers -------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """Split plain text into sentences (cheap, good enough for summaries already written)."""
    text = " ".join(text.split())
    return [s for s in _SENTENCE_END.split(text) if s] if text else []


def paragraphs(summary: str, limit: int = 2) -> list[str]:
    """The summary as at most `limit` short paragraphs."""
    parts = [" ".join(p.split()) for p in re.split(r"\n\s*\n|\n", summary or "") if p.strip()]
    if len(parts) > limit:
        parts = [*parts[: limit - 1], " ".join(parts[limit - 1 :])]
    return parts


def _complete_sentence(sentence: str) -> bool:
    """A whole sentence: starts with a capital, a digit or a quote, ends with a full stop
    (not a cut-off "…")."""
    s = sentence.strip()
    return (
        len(s) >= 20
        and (s[0].isupper() or s[0].isdigit() or s[0] in "\"“‘'(")
        and s[-1] in ".!?\"'”’)"
        and not s.rstrip("\"'”’)").endswith(("…", "..."))
    )


def overview_lines(
    entries: Sequence[Entry], max_chars: int = 1000, *, sentence_chars: int = 200
) -> list[tuple[Entry, str]]:
    """The overview as (entry, line) pairs: one line per top story, in the given order.

    A line is the entry's headline, then (when it fits) the first whole sentence of the
    entry's summary: every line traces back to one entry and never opens mid-sentence.
    The top stories are the best-covered entries that fit in ``max_chars`` (lines joined
    by newlines); they are listed in the order given (the digest's section order), so a
    renderer can link each line to its entry.
    """
    full: dict[int, str] = {}
    short: dict[int, str] = {}
    for n, e in enumerate(entries):
        title = _line_title(e)
        if not title:
            continue
        short[n] = _short_line(title)
        sentence = next((x for x in sentences(e.summary) if _complete_sentence(x)), "")
        if sentence and len(sentence) <= sentence_chars:
            full[n] = f"{title} — {sentence}"
    chosen: dict[int, str] = {}
    used = 0
    for n in sorted(short, key=lambda k: rank_key(entries[k]), reverse=True):
        for line in (full.get(n), short[n]):
            if line is None:
                continue
            extra = len(line) + (1 if chosen else 0)
            if used + extra <= max_chars:
                chosen[n] = line
                used += extra
                break
    return [(entries[n], chosen[n]) for n in sorted(chosen)]


def _line_title(e: Entry) -> str:
    """An entry's headline as an overview line opens with it."""
    return " ".join(e.title.split()).rstrip(" .,;:—–-")


def _short_line(title: str) -> str:
    """The line of an entry whose summary has no sentence to add: its headline, closed."""
    return title if title[-1] in "!?\"'”’)" else title + "."


def line_entry(line: str, entries: Sequence[Entry]) -> Entry | None:
    """The entry an overview line was written from (:func:`overview_lines`): the line is its
    headline, alone or followed by " — " and a sentence; None for a line that is no entry's."""
    for e in entries:
        title = _line_title(e)
        if title and (line == _short_line(title) or line.startswith(f"{title} — ")):
            return e
    return None


def overview_html(overview: str, entries: Sequence[Entry]) -> str:
    """The overview as HTML, the one rendering the Digest's page, feeds and e-mail share.

    The automatic brief (every line an entry's) is a list, each line's headline linked to
    its entry as the digest body links it; any other overview (an editor's words, the LLM
    backend's prose) is its paragraphs. Everything is escaped here and the result kept to
    the digest allow-list.
    """
    lines = [" ".join(line.split()) for line in overview.split("\n") if line.strip()]
    if not lines:
        return ""
    pairs = [(line, e) for line in lines if (e := line_entry(line, entries)) is not None]
    if len(pairs) == len(lines):
        out = []
        for line, e in pairs:
            title = _line_title(e)
            head, rest = line[: len(title)], line[len(title) :]
            url = web_url(e.url)
            linked = f'<a href="{_e(url)}">{_e(head)}</a>' if url else _e(head)
            out.append(f"<li>{linked}{_e(rest)}</li>")
        return DIGEST.clean("<ul>" + "".join(out) + "</ul>")
    blocks = [b.strip() for b in overview.replace("\r\n", "\n").split("\n\n")]
    return DIGEST.clean("".join(f"<p>{_e(' '.join(b.split()))}</p>" for b in blocks if b))


def extractive_overview(entries: Sequence[Entry], max_chars: int = 1000) -> str:
    """The Digest overview: a short brief, one line per top story (see :func:`overview_lines`).

    Extractive, so grounded by construction: each line is an entry's headline and a
    sentence of its summary, in the order the entries are given (section order).
    """
    if not entries or max_chars <= 0:
        return ""
    return "\n".join(line for _, line in overview_lines(entries, max_chars))


# --- rendering ----------------------------------------------------------------------------


def _e(text: str | None) -> str:
    return html.escape(text or "", quote=True)


def entry_html(e: Entry) -> str:
    """One entry: `Publication: Title` linked to the source, thumbnail, summary, also-links.

    The order is the reading order, and the site's digest page styles by structure alone
    (its body sanitizer drops ``class``): ``article > h3`` first, then the thumbnail (floated
    beside the summary paragraphs), then ``p`` paragraphs, then a ``footer`` of also-links.
    """
    out = ['<article class="digest-entry">']
    url = web_url(e.url)
    label = f'<span class="digest-pub">{_e(e.publication)}</span>: {_e(e.title)}'
    link = f'<a href="{_e(url)}">{label}</a>' if url else label
    out.append(f"<h3>{link}</h3>")
    image = web_url(e.image_url)
    if image:
        out.append(
            f'<img class="digest-thumb" src="{_e(image)}" alt="" loading="lazy" '
            'width="160" height="120">'
        )
    if e.update:
        out.append(
            f'<p class="digest-update"><strong>Update:</strong> now covered by {e.sources} sources</p>'
        )
    for para in paragraphs(e.summary):
        out.append(f"<p>{_e(para)}</p>")
    links = [(a.publication, web_url(a.url)) for a in e.also]
    links = [(p, u) for p, u in links if u]
    if links:
        also = ", ".join(f'<a href="{_e(u)}">{_e(p)}</a>' for p, u in links)
        out.append(f'<footer class="digest-also">also: {also}</footer>')
    out.append("</article>")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class SponsorBlock:
    """The #sponsor section's content."""

    name: str
    url: str
    text: str


def render_html(
    overview: str,
    groups: Sequence[tuple[str, Sequence[Entry]]],
    sponsor: SponsorBlock | None = None,
) -> str:
    """The digest body: overview, one section per hashtag, optional #sponsor; sanitized."""
    out: list[str] = []
    if overview:
        out.append(f'<p class="digest-overview">{_e(overview)}</p>')
    for hashtag, entries in groups:
        out.append(f'<section class="digest-group" id="{_e(hashtag)}"><h2>#{_e(hashtag)}</h2>')
        out.extend(entry_html(e) for e in entries)
        out.append("</section>")
    if sponsor is not None:
        url = web_url(sponsor.url)
        text = _e(sponsor.text or sponsor.name)
        body = f'<a href="{_e(url)}">{text}</a>' if url else text
        out.append(
            f'<section class="digest-group digest-sponsor" id="sponsor"><h2>#sponsor</h2>'
            f"<p>{body}</p></section>"
        )
    # The digest allow-list over our own escaped markup: defence in depth.
    return DIGEST.clean("\n".join(out))


def render_text(
    title: str,
    overview: str,
    groups: Sequence[tuple[str, Sequence[Entry]]],
    sponsor: SponsorBlock | None = None,
) -> str:
    """The digest as plain text (search index, e-mail text part)."""
    lines: list[str] = [title, "=" * len(title), ""]
    if overview:
        lines += [overview, ""]
    for hashtag, entries in groups:
        lines += [f"#{hashtag}", ""]
        for e in entries:
            lines.append(f"* {e.publication}: {e.title}")
            if e.update:
                lines.append(f"  Update: now covered by {e.sources} sources")
            lines.append(f"  {e.url}")
            for para in paragraphs(e.summary):
                lines.append(f"  {para}")
            if e.also:
                lines.append("  also: " + ", ".join(f"{a.publication} <{a.url}>" for a in e.also))
            lines.append("")
    if sponsor is not None:
        lines += ["#sponsor", "", f"{sponsor.text or sponsor.name} <{sponsor.url}>", ""]
    return "\n".join(lines).rstrip() + "\n"
