"""Synthetic rows for the digest tests: publications, items, stories, hashtags.

All text here is our own, written for these tests (no publisher text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.db.models import Channel, Item, ItemHashtag, Publication, Story

WORDS = [
    "council",
    "budget",
    "river",
    "bridge",
    "school",
    "board",
    "vote",
    "storm",
    "harvest",
    "market",
    "rail",
    "port",
    "hospital",
    "court",
    "festival",
    "museum",
    "league",
    "bank",
    "drought",
    "senate",
    "treaty",
    "rocket",
    "vaccine",
]


def sentence(n: int, words: int = 12) -> str:
    """A deterministic synthetic sentence."""
    picked = [WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(words)]
    return (" ".join(picked)).capitalize() + f" number {n}."


@dataclass
class Seeder:
    """Adds rows to a test database; keeps ids to refer to them."""

    settings: Settings
    channel: str = "news"
    publications: dict[str, int] = field(default_factory=dict)
    counter: int = 0

    @property
    def url(self) -> str:
        return self.settings.database_url

    def channel_id(self) -> int:
        with session_scope(self.url) as s:
            return sync_channels(s, self.settings)[self.channel].id

    def publication(self, tag: str, name: str | None = None) -> int:
        """Create a publication (carried by every channel) and return its id."""
        if tag in self.publications:
            return self.publications[tag]
        with session_scope(self.url) as s:
            pub = s.scalar(select(Publication).where(Publication.tag == tag))
            if pub is None:
                pub = Publication(tag=tag, name=name or tag.upper(), republish="teaser")
                s.add(pub)
                s.flush()
            self.publications[tag] = pub.id
            sync_channels(s, self.settings)
        return self.publications[tag]

    def story(self, sources: int, key: str | None = None) -> int:
        """A story row covered by `sources` publications."""
        with session_scope(self.url) as s:
            self.counter += 1
            story = Story(
                key=key or f"story-{self.counter}",
                title="",
                item_count=sources,
                publication_count=sources,
            )
            s.add(story)
            s.flush()
            return story.id

    def item(
        self,
        pub: str,
        seen: datetime,
        *,
        title: str | None = None,
        hashtag: str | None = "politics",
        story_id: int | None = None,
        near_duplicate_of: int | None = None,
        summary: str | None = "",
        image: bool = True,
        body_words: int = 60,
        state: str = "ready",
        published: datetime | None = None,
    ) -> int:
        """One item first seen at `seen`; summary "" means a generated one, None means none."""
        pub_id = self.publication(pub)
        with session_scope(self.url) as s:
            return self._add(
                s,
                pub_id,
                pub,
                seen,
                title,
                hashtag,
                story_id,
                near_duplicate_of,
                summary,
                image,
                body_words,
                state,
                published,
            )

    def items(self, specs: list[dict[str, Any]]) -> list[int]:
        """Many items in one transaction (specs are `item` keyword arguments plus pub/seen)."""
        ids = []
        with session_scope(self.url) as s:
            for spec in specs:
                spec = dict(spec)
                pub = spec.pop("pub")
                pub_id = self.publications.get(pub)
                if pub_id is None:
                    raise KeyError(f"create publication {pub} first")
                ids.append(
                    self._add(
                        s,
                        pub_id,
                        pub,
                        spec.pop("seen"),
                        spec.pop("title", None),
                        spec.pop("hashtag", "politics"),
                        spec.pop("story_id", None),
                        spec.pop("near_duplicate_of", None),
                        spec.pop("summary", ""),
                        spec.pop("image", True),
                        spec.pop("body_words", 60),
                        spec.pop("state", "ready"),
                        spec.pop("published", None),
                    )
                )
        return ids

    def _add(
        self,
        s: Session,
        pub_id: int,
        pub: str,
        seen: datetime,
        title: str | None,
        hashtag: str | None,
        story_id: int | None,
        near_dup: int | None,
        summary: str | None,
        image: bool,
        body_words: int,
        state: str,
        published: datetime | None,
    ) -> int:
        self.counter += 1
        n = self.counter
        title = title or f"{pub.upper()} report {n} on the {WORDS[n % len(WORDS)]}"
        body = " ".join(sentence(n * 31 + k) for k in range(max(body_words // 12, 1)))
        item = Item(
            publication_id=pub_id,
            guid=f"{pub}-{n}-{uuid.uuid4().hex[:8]}",
            url=f"https://{pub}.example/news/{n}-{uuid.uuid4().hex[:8]}",
            state=state,
            title=title,
            published_at=published or seen - timedelta(minutes=5),
            first_seen_at=seen,
            sort_at=published or seen - timedelta(minutes=5),
            image_url=f"https://{pub}.example/img/{n}.jpg" if image else None,
            teaser=sentence(n),
            summary=(sentence(n * 13) + "\n\n" + sentence(n * 17)) if summary == "" else summary,
            body_html=f"<p>{body}</p>",
            body_text=body,
            slug=f"item-{n}-{uuid.uuid4().hex[:8]}",
            story_id=story_id,
            near_duplicate_of_id=near_dup,
        )
        s.add(item)
        s.flush()
        if hashtag:
            channel_id = s.scalar(select(Channel.id).where(Channel.slug == self.channel))
            s.add(
                ItemHashtag(
                    item_id=item.id, channel_id=channel_id, hashtag=hashtag, rank=0, score=0.9
                )
            )
        return item.id
