"""Every path of the site, made in one place (after Datasette's ``url_builder.Urls``).

The route templates below are what the web app registers, and :class:`Urls` fills them in:
pages, feeds, sitemaps, the Digest's mail links, static files and the JSON API. Nobody
else spells a path. ``/<channel>/topic/<pubtag>/<slug>`` (an item) and
``/<channel>/solo/<pubtag>`` (a publication) are the original site's scheme and part of the
spec; the other paths are ours, and feed URLs never change once published (readers follow
them).

Path segments are percent-quoted; slugs and tags are URL-safe already, so in practice they
come out as given.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import quote, urlencode

# --- route templates (FastAPI syntax; the placeholders are the handlers' parameters) -------

HOME = "/"
CHANNEL = "/{channel_slug}"
NEWSLINE = "/{channel_slug}/newsline"
ITEM = "/{channel_slug}/topic/{publication_tag}/{slug}"
PUBLICATION = "/{channel_slug}/solo/{publication_tag}"
PUBLICATION_FEED = "/{channel_slug}/solo/{publication_tag}/{name}"
HASHTAG = "/{channel_slug}/tag/{hashtag}"
#: One story: every item covering it, newest first (ours; the original had none).
STORY = "/{channel_slug}/story/{story_id}"
HASHTAG_FEED = "/{channel_slug}/tag/{hashtag}/{name}"
SEARCH = "/{channel_slug}/search"
PUBLICATIONS = "/{channel_slug}/publications"
#: The publications page's first path: still answered, with a redirect.
PUBLICATIONS_BEFORE = "/{channel_slug}/sources"
#: A channel's feeds (``feed.xml`` …), sitemaps and robots.txt share one free segment.
CHANNEL_FILE = "/{channel_slug}/{name}"
DIGEST_SUBSCRIBE = "/{channel_slug}/digest/subscribe"
DIGEST_CONFIRM = "/{channel_slug}/digest/confirm"
DIGEST_UNSUBSCRIBE = "/{channel_slug}/digest/unsubscribe"
#: Every Digest by date: the days that have any, and one day's Digests (``2025-07-25``).
DIGEST_ARCHIVE = "/{channel_slug}/digest/archive"
DIGEST_DAY = "/{channel_slug}/digest/archive/{day}"
DIGEST_FEED = "/{channel_slug}/digest/{name}"
ONLINE = "/{channel_slug}/online"
OPTIONS = "/_options"
#: Where a WebSub hub verifies our intent (GET) and delivers content (POST).
WEBSUB_CALLBACK = "/_websub/{key}"
ROBOTS = "/robots.txt"
#: The site-wide sitemap index, naming every channel's sitemap.
ROOT_SITEMAP = "/sitemap.xml"
#: The JSON API's documentation page (operations read from the OpenAPI document).
DOCS = "/docs"
#: A publisher's image through our proxy: ``variant`` is ``<use>-<width>`` (``thumb-168``),
#: ``source`` the image's URL in base64url, ``sig`` its HMAC under the site secret.
IMAGE = "/img/{sig}/{variant}/{source}"
#: Readers' accounts (fixed paths: registered before the channel routes).
ACCOUNT = "/account"
SIGN_IN = "/account/sign-in"
SIGN_UP = "/account/sign-up"
SIGN_OUT = "/account/sign-out"
SIGN_IN_LINK = "/account/sign-in-link"  # GET ?token= shows a button; POST signs in
VERIFY = "/account/verify"
RESET = "/account/reset"  # ask for a reset mail; with ?token= choose the new password
EMAIL_CONFIRM = "/account/email/confirm"
ACCOUNT_ACTION = "/account/{action}"  # settings forms post here (name, password, ...)
PREFERENCES = "/{channel_slug}/preferences"
#: A signed-in reader's stories: those carrying a hashtag they follow.
FOR_YOU = "/{channel_slug}/for-you"
PREFERENCE_ACTION = "/{channel_slug}/preferences/{action}"
SAVED = "/account/saved"
#: A reader's private feed of a channel (their preferences applied), by revocable token.
PRIVATE_FEED = "/account/feed/{token}/{channel_slug}/{name}"
STATIC = "/static"
OPENAPI = "/openapi.json"
API = "/api/v1"
# API routes, under the API prefix (the router adds it); `{channel}` is documented in OpenAPI.
API_CHANNELS = "/channels"
API_CHANNEL = "/channels/{channel}"
API_PUBLICATIONS = "/channels/{channel}/publications"
API_ITEMS = "/channels/{channel}/items"
API_ITEM = "/channels/{channel}/items/{item_id}"
API_SEARCH = "/channels/{channel}/search"
API_SESSION = "/session"
# Comments (community/comments.py) and their moderation.
API_COMMENTS = "/channels/{channel}/items/{item_id}/comments"
API_COMMENT = "/channels/{channel}/items/{item_id}/comments/{comment_id}"
API_COMMENT_VOTE = "/channels/{channel}/items/{item_id}/comments/{comment_id}/vote"
API_COMMENT_FLAG = "/channels/{channel}/items/{item_id}/comments/{comment_id}/flag"
API_MODERATION_QUEUE = "/channels/{channel}/moderation/queue"
API_MODERATION_ACTION = "/channels/{channel}/moderation/comments/{comment_id}"
API_BANS = "/channels/{channel}/moderation/bans"

#: An item's comments: all of them page by page (``?sort=&page=``), one thread by comment
#: (the permalink), the forms' targets, and a feed of the newest.
ITEM_COMMENTS = "/{channel_slug}/topic/{publication_tag}/{slug}/comments"
ITEM_COMMENTS_FEED = "/{channel_slug}/topic/{publication_tag}/{slug}/comments.xml"
COMMENT = "/{channel_slug}/topic/{publication_tag}/{slug}/comments/{comment_id}"
COMMENT_ACTION = "/{channel_slug}/topic/{publication_tag}/{slug}/comments/{comment_id}/{action}"
#: One click ends reply notifications (``?token=``: the account's unsubscribe token).
REPLIES_UNSUBSCRIBE = "/_replies/unsubscribe"
#: The moderators' queue in the editor console.
MODERATION = "/admin/moderation"
MODERATION_ACTION = "/admin/moderation/{comment_id}"
#: The editor's console (web/admin/): a page per section; its forms post to ``.../action``.
ADMIN = "/admin"
ADMIN_SECTIONS = {
    name: f"{ADMIN}/{name}"
    for name in ("items", "digests", "publications", "channels", "people", "audit")
}
ADMIN_ITEM = "/admin/items/{item_id}"
ADMIN_ACTION = "/admin/{section}/action"
ADMIN_SUBSCRIBERS_CSV = "/admin/people/subscribers.csv"
#: A sponsor link's click: counted per day and width band (no reader kept), then redirected.
SPONSOR_CLICK = "/_sponsor/{channel_slug}/{band}"
#: A sponsor variant shown: a 1x1 image only the visible width band loads (counted per day).
SPONSOR_SEEN = "/_sponsor/{channel_slug}/{band}/seen.gif"

#: Feed formats by kind, and the file name each is served under.
FEED_FILES = {"rss": "feed.xml", "atom": "atom.xml", "json": "feed.json"}
_FEED_KINDS = {name: kind for kind, name in FEED_FILES.items()}
SITEMAP = "sitemap.xml"
CHANNEL_ROBOTS = "robots.txt"


def feed_kind(name: str) -> str | None:
    """The feed format served under file name `name` (``feed.xml`` -> ``rss``), or None."""
    return _FEED_KINDS.get(name)


@dataclass(frozen=True)
class ChannelFile:
    """What a channel's one-segment file name names: a feed, a sitemap or robots.txt."""

    kind: Literal["feed", "sitemap", "robots"]
    feed: str | None = None  # rss, atom or json
    number: int | None = None  # sitemap-N.xml; None for sitemap.xml itself


def channel_file(name: str) -> ChannelFile | None:
    """Parse the last segment of ``/<channel>/<name>``; None when it names nothing."""
    kind = feed_kind(name)
    if kind is not None:
        return ChannelFile("feed", feed=kind)
    if name == SITEMAP:
        return ChannelFile("sitemap")
    if name == CHANNEL_ROBOTS:
        return ChannelFile("robots")
    number = name.removeprefix("sitemap-").removesuffix(".xml")
    if name.startswith("sitemap-") and name.endswith(".xml") and number.isdigit():
        return ChannelFile("sitemap", number=int(number))
    return None


@lru_cache(maxsize=8192)
def _quoted(value: str) -> str:
    # Slugs, tags and ids repeat on every page (a front page fills ~150 paths): quote once.
    return quote(value, safe="")


def _fill(template: str, **values: str | int) -> str:
    """A route template with its placeholders filled in, each value percent-quoted."""
    return template.format(**{k: _quoted(str(v)) for k, v in values.items()})


def _query(path: str, params: dict[str, str | int]) -> str:
    # Spaces as %20 and slashes kept, as Jinja's `urlencode` wrote them in the templates.
    return f"{path}?{urlencode(params, safe='/', quote_via=quote)}" if params else path


def image_signature(key: bytes, source: str) -> str:
    """The signature of an image proxy URL: only sources our own pages name are fetched."""
    mac = hmac.new(key, b"img\x00" + source.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")


def image_source(encoded: str) -> str | None:
    """The source URL an image proxy path carries (base64url), or None when malformed."""
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return raw.decode()
    except (ValueError, UnicodeDecodeError):
        return None


class Urls:
    """Paths of the site (``/news/newsline``) and, with :meth:`absolute`, its URLs."""

    def __init__(self, base_url: str = "") -> None:
        #: The configured public base URL (``https://news.example.org``), no trailing slash.
        self.base_url = base_url.rstrip("/")

    def absolute(self, path: str) -> str:
        """The absolute URL of a path of this site."""
        return self.base_url + path

    # --- pages ------------------------------------------------------------------------------

    def home(self) -> str:
        """The default channel's front page."""
        return HOME

    def newsline(self, channel: str) -> str:
        """A channel's front page."""
        return _fill(NEWSLINE, channel_slug=channel)

    def item(self, channel: str, publication_tag: str, slug: str | int) -> str:
        """An item's page (an item without a slug is addressed by its id)."""
        return _fill(ITEM, channel_slug=channel, publication_tag=publication_tag, slug=slug)

    def publication(self, channel: str, publication_tag: str) -> str:
        """One publication's items."""
        return _fill(PUBLICATION, channel_slug=channel, publication_tag=publication_tag)

    def hashtag(self, channel: str, hashtag: str) -> str:
        """One hashtag's items."""
        return _fill(HASHTAG, channel_slug=channel, hashtag=hashtag)

    def story(self, channel: str, story_id: int) -> str:
        """One story: every item of the channel covering it."""
        return _fill(STORY, channel_slug=channel, story_id=story_id)

    def search(self, channel: str, query: str = "", page_no: int = 1) -> str:
        """The search page, or a page of its results."""
        params: dict[str, str | int] = {"q": query} if query else {}
        if page_no > 1:
            params["page_no"] = page_no
        return _query(_fill(SEARCH, channel_slug=channel), params)

    def publications(self, channel: str) -> str:
        """The channel's publications and how their feeds are doing."""
        return _fill(PUBLICATIONS, channel_slug=channel)

    def digests(self, channel: str, own_tag: str) -> str:
        """Every Digest of a channel: the list of its own publication's items."""
        return self.publication(channel, own_tag)

    def digest(self, channel: str, own_tag: str, slug: str) -> str:
        """One Digest: an item of the channel's own publication."""
        return self.item(channel, own_tag, slug)

    def digest_archive(self, channel: str) -> str:
        """The days that have Digests, newest first."""
        return _fill(DIGEST_ARCHIVE, channel_slug=channel)

    def digest_day(self, channel: str, day: str) -> str:
        """One day's Digests (`day` in the channel's time zone, ``YYYY-MM-DD``)."""
        return _fill(DIGEST_DAY, channel_slug=channel, day=day)

    def digest_subscribe(self, channel: str) -> str:
        """The Digest's e-mail subscription form (POST: subscribe)."""
        return _fill(DIGEST_SUBSCRIBE, channel_slug=channel)

    def digest_confirm(self, channel: str, token: str) -> str:
        """The double opt-in link of a subscription."""
        return _query(_fill(DIGEST_CONFIRM, channel_slug=channel), {"token": token})

    def digest_unsubscribe(self, channel: str, token: str) -> str:
        """The one-click unsubscribe link (GET shows a button, POST unsubscribes)."""
        return _query(_fill(DIGEST_UNSUBSCRIBE, channel_slug=channel), {"token": token})

    # --- feeds, sitemaps, robots.txt --------------------------------------------------------

    def feed(self, channel: str, kind: str = "rss") -> str:
        """A channel's feed (`kind`: ``rss``, ``atom`` or ``json``)."""
        return _fill(CHANNEL_FILE, channel_slug=channel, name=FEED_FILES[kind])

    def publication_feed(self, channel: str, publication_tag: str, kind: str = "rss") -> str:
        """One publication's feed."""
        return _fill(
            PUBLICATION_FEED,
            channel_slug=channel,
            publication_tag=publication_tag,
            name=FEED_FILES[kind],
        )

    def hashtag_feed(self, channel: str, hashtag: str, kind: str = "rss") -> str:
        """One hashtag's feed."""
        return _fill(HASHTAG_FEED, channel_slug=channel, hashtag=hashtag, name=FEED_FILES[kind])

    def digest_feed(self, channel: str, kind: str = "rss") -> str:
        """The channel's Digests only."""
        return _fill(DIGEST_FEED, channel_slug=channel, name=FEED_FILES[kind])

    def sitemap(self, channel: str, number: int | None = None) -> str:
        """A channel's ``sitemap.xml``, or file `number` of a large one."""
        name = SITEMAP if number is None else f"sitemap-{number}.xml"
        return _fill(CHANNEL_FILE, channel_slug=channel, name=name)

    def robots(self, channel: str | None = None) -> str:
        """The site's robots.txt, or one channel's."""
        if channel is None:
            return ROBOTS
        return _fill(CHANNEL_FILE, channel_slug=channel, name=CHANNEL_ROBOTS)

    # --- the rest of the site ---------------------------------------------------------------

    def online(self, channel: str) -> str:
        """Where a page posts its heartbeat (answers the online count)."""
        return _fill(ONLINE, channel_slug=channel)

    def options(
        self, next_path: str, *, theme: str | None = None, dense: bool | None = None
    ) -> str:
        """Set a reader option by cookie, then go back to `next_path` (no-JavaScript path)."""
        params = [] if theme is None else [f"theme={quote(theme, safe='')}"]
        if dense is not None:
            params.append(f"dense={int(dense)}")
        # `next` quoted like a path (slashes kept): the address reads as where it leads.
        params.append(f"next={quote(next_path, safe='/')}")
        return f"{OPTIONS}?{'&'.join(params)}"

    def static(self, name: str, version: str | None = None) -> str:
        """A static file; `version` (a content hash) makes the URL change with the file."""
        path = f"{STATIC}/{quote(name)}"
        return f"{path}?v={quote(version, safe='')}" if version else path

    def image(self, key: bytes, source: str, variant: str) -> str:
        """A publisher's image (`source`, an absolute URL) through the proxy, signed by `key`."""
        encoded = base64.urlsafe_b64encode(source.encode()).decode().rstrip("=")
        return IMAGE.format(sig=image_signature(key, source), variant=variant, source=encoded)

    def websub_callback(self, key: str) -> str:
        """The callback of one WebSub subscription (`key` is the subscription's own)."""
        return _fill(WEBSUB_CALLBACK, key=key)

    def openapi(self) -> str:
        """The JSON API's OpenAPI document."""
        return OPENAPI

    def docs(self) -> str:
        """The JSON API's documentation page."""
        return DOCS

    def root_sitemap(self) -> str:
        """The site-wide sitemap index."""
        return ROOT_SITEMAP

    # --- accounts ---------------------------------------------------------------------------

    def account(self) -> str:
        """The signed-in reader's settings."""
        return ACCOUNT

    def sign_in(self, next_path: str = "") -> str:
        """The sign-in page; `next_path` is where it leads afterwards."""
        return _query(SIGN_IN, {"next": next_path} if next_path else {})

    def sign_up(self, next_path: str = "") -> str:
        """The sign-up page."""
        return _query(SIGN_UP, {"next": next_path} if next_path else {})

    def sign_out(self) -> str:
        """Where the sign-out form posts."""
        return SIGN_OUT

    def sign_in_link(self, token: str = "") -> str:
        """The one-time sign-in link of a mail (without token: where to ask for one)."""
        return _query(SIGN_IN_LINK, {"token": token} if token else {})

    def verify(self, token: str) -> str:
        """The e-mail verification link."""
        return _query(VERIFY, {"token": token})

    def reset(self, token: str = "") -> str:
        """Ask for a password reset mail; with `token`, the mailed link to set a new one."""
        return _query(RESET, {"token": token} if token else {})

    def email_confirm(self, token: str) -> str:
        """The link confirming a new e-mail address."""
        return _query(EMAIL_CONFIRM, {"token": token})

    def account_action(self, action: str) -> str:
        """Where one settings form posts (``name``, ``password``, ``email``, ...)."""
        return _fill(ACCOUNT_ACTION, action=action)

    def preferences(self, channel: str) -> str:
        """A reader's choices for one channel: publications shown, hashtags followed."""
        return _fill(PREFERENCES, channel_slug=channel)

    def for_you(self, channel: str) -> str:
        """A signed-in reader's stories on the hashtags they follow."""
        return _fill(FOR_YOU, channel_slug=channel)

    def preference_action(self, channel: str, action: str) -> str:
        """Where a preference form posts (``publication``, ``hashtag``, ``save``)."""
        return _fill(PREFERENCE_ACTION, channel_slug=channel, action=action)

    def saved(self) -> str:
        """The reader's saved items."""
        return SAVED

    def private_feed(self, token: str, channel: str, kind: str = "rss") -> str:
        """A reader's own feed of a channel (their preferences applied)."""
        return _fill(PRIVATE_FEED, token=token, channel_slug=channel, name=FEED_FILES[kind])

    # --- the JSON API -----------------------------------------------------------------------

    def api_channels(self) -> str:
        """Every channel."""
        return API + API_CHANNELS

    def api_channel(self, channel: str) -> str:
        """One channel."""
        return API + _fill(API_CHANNEL, channel=channel)

    def api_publications(self, channel: str) -> str:
        """The publications of a channel's newsline."""
        return API + _fill(API_PUBLICATIONS, channel=channel)

    def api_items(self, channel: str, **query: str | int) -> str:
        """A page of a channel's items (`query`: limit, cursor, publication, hashtag)."""
        return _query(API + _fill(API_ITEMS, channel=channel), dict(query))

    def api_item(self, channel: str, item_id: int) -> str:
        """One item, with its body when republished in full."""
        return API + _fill(API_ITEM, channel=channel, item_id=item_id)

    def api_search(self, channel: str, query: str, **more: str | int) -> str:
        """Items matching `query` (`more`: limit, cursor)."""
        return _query(API + _fill(API_SEARCH, channel=channel), {"q": query, **more})

    def api_session(self) -> str:
        """Sign in (POST e-mail and password) or out (DELETE) from a script."""
        return API + API_SESSION

    def api_comments(self, channel: str, item_id: int) -> str:
        """An item's comments (GET), or where to post one (POST)."""
        return API + _fill(API_COMMENTS, channel=channel, item_id=item_id)

    def api_comment(self, channel: str, item_id: int, comment_id: int, action: str = "") -> str:
        """One comment (PATCH, DELETE), or its ``vote`` or ``flag`` (POST)."""
        path = API + _fill(API_COMMENT, channel=channel, item_id=item_id, comment_id=comment_id)
        return f"{path}/{_quoted(action)}" if action else path

    # --- comments -----------------------------------------------------------------------------

    def item_comments(
        self, channel: str, publication_tag: str, slug: str | int, sort: str = "", page_no: int = 1
    ) -> str:
        """An item's comments, page by page, oldest first unless `sort` says otherwise."""
        path = _fill(
            ITEM_COMMENTS, channel_slug=channel, publication_tag=publication_tag, slug=slug
        )
        query: dict[str, str | int] = {"sort": sort} if sort and sort != "oldest" else {}
        if page_no > 1:
            query["page"] = page_no
        return _query(path, query)

    def item_comments_feed(self, channel: str, publication_tag: str, slug: str | int) -> str:
        """The Atom feed of an item's newest comments."""
        return _fill(
            ITEM_COMMENTS_FEED, channel_slug=channel, publication_tag=publication_tag, slug=slug
        )

    def comment(self, channel: str, publication_tag: str, slug: str | int, comment_id: int) -> str:
        """A comment's permalink: its thread, scrolled to it."""
        path = _fill(
            COMMENT,
            channel_slug=channel,
            publication_tag=publication_tag,
            slug=slug,
            comment_id=comment_id,
        )
        return f"{path}#c{comment_id}"

    def comment_action(
        self, channel: str, publication_tag: str, slug: str | int, comment_id: int, action: str
    ) -> str:
        """Where a comment's form posts (``edit``, ``delete``, ``vote``, ``flag``)."""
        return _fill(
            COMMENT_ACTION,
            channel_slug=channel,
            publication_tag=publication_tag,
            slug=slug,
            comment_id=comment_id,
            action=action,
        )

    def replies_unsubscribe(self, token: str) -> str:
        """The one-click end of an account's reply notifications."""
        return _query(REPLIES_UNSUBSCRIBE, {"token": token})

    def moderation(self, **query: str | int) -> str:
        """The moderators' queue (`query`: queue, channel)."""
        return _query(MODERATION, dict(query))

    def moderation_action(self, comment_id: int) -> str:
        """Where the queue's buttons post."""
        return _fill(MODERATION_ACTION, comment_id=comment_id)

    # --- the editor's console ------------------------------------------------------------

    def admin(self, section: str = "", **query: str | int) -> str:
        """The console's home, or one of its sections (:data:`ADMIN_SECTIONS`)."""
        return _query(ADMIN_SECTIONS[section] if section else ADMIN, dict(query))

    def admin_item(self, item_id: int) -> str:
        """One item in the console: edit, retag, pin."""
        return _fill(ADMIN_ITEM, item_id=item_id)

    def admin_action(self, section: str) -> str:
        """Where a console section's forms post."""
        if section not in ADMIN_SECTIONS:
            raise KeyError(section)
        return _fill(ADMIN_ACTION, section=section)

    def admin_subscribers_csv(self, channel: str) -> str:
        """A channel's e-mail subscribers as CSV."""
        return _query(ADMIN_SUBSCRIBERS_CSV, {"channel": channel})

    def sponsor_click(self, channel: str, band: str) -> str:
        """The sponsor link of one width band: counted, then on to the sponsor."""
        return _fill(SPONSOR_CLICK, channel_slug=channel, band=band)

    def sponsor_seen(self, channel: str, band: str) -> str:
        """The image that counts one impression of a sponsor variant."""
        return _fill(SPONSOR_SEEN, channel_slug=channel, band=band)
