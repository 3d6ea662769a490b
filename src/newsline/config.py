"""Settings: a TOML file (``--config`` or ``NEWSLINE_CONFIG``) plus ``NEWSLINE_*`` overrides.

Nested keys use a double underscore in the environment, e.g.
``NEWSLINE_FETCH__CONNECT_TO="*:443:127.0.0.1:8443"``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import tomllib
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from newsline.errors import NewslineError
from newsline.text import hashtag_name

log = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "newsline.toml"

#: Database URL schemes the engine knows (``newsline.db.engine``): SQLite, PostgreSQL via psycopg.
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")

#: The original's hashtag list, in display order, with one-line descriptions.
DEFAULT_HASHTAGS: list[tuple[str, str]] = [
    ("illegals", "Illegal immigration, border crossings, deportations, asylum and migrant policy"),
    ("politics", "Elections, parties, governments, legislatures, politicians and policy fights"),
    ("society", "Social issues, communities, demographics, family, race, rights and protests"),
    ("war", "Armed conflicts and their fronts, including Russia-Ukraine and Israel-Gaza"),
    ("foreignaffairs", "Diplomacy, summits, treaties, sanctions and relations between countries"),
    ("economy", "Business, markets, trade, jobs, inflation, companies, banks and budgets"),
    ("military", "Armed forces, defence spending, weapons, troops and military exercises"),
    ("religion", "Faith, churches, clergy, religious communities and belief"),
    ("culture", "Arts, film, music, television, books, celebrities and entertainment"),
    ("history", "Historical events, anniversaries, archaeology and heritage"),
    ("health", "Medicine, disease, hospitals, public health, drugs and wellbeing"),
    ("education", "Schools, universities, teachers, students and education policy"),
    ("crime", "Crime, police, courts, trials, prisons and investigations"),
    ("sports", "Sport: football, soccer, basketball, tennis, athletes, teams and matches"),
    ("science", "Scientific research, space, climate science and discoveries"),
    ("outdoors", "Nature, weather, wildlife, hunting, fishing, parks and the environment"),
    ("technology", "Technology, computing, software, internet, gadgets, AI and telecoms"),
    ("other", "Anything that fits no other hashtag"),
]


class HashtagSettings(BaseModel):
    """One hashtag of a channel: its name (without '#'), description and seed keywords."""

    tag: str
    description: str = ""
    keywords: list[str] = Field(default_factory=list)

    @field_validator("tag")
    @classmethod
    def _strip_hash(cls, v: str) -> str:
        v = hashtag_name(v)
        if not v or not v.replace("_", "").isalnum():
            raise ValueError(f"hashtag {v!r} must be letters, digits or '_'")
        return v


class SponsorSettings(BaseModel):
    """One sponsor, written in six lengths: one variant per screen-width band."""

    name: str = "newsline"
    url: str = "https://github.com/newsline/newsline"
    variants: list[str] = Field(
        default_factory=lambda: [
            "newsline",
            "newsline",
            "newsline: news, your way.",
            "newsline: news, your way. Self-hosted aggregation.",
            "newsline: news, your way. Self-hosted aggregation, digests and comments.",
            "newsline: news, your way. Self-hosted news aggregation, timed digests, "
            "and community comments for your town.",
        ]
    )

    @field_validator("variants")
    @classmethod
    def _six(cls, v: list[str]) -> list[str]:
        if len(v) != 6:
            raise ValueError("a sponsor needs exactly six text variants (one per width band)")
        return v


class DigestSettings(BaseModel):
    """When and how a channel's Digest is composed."""

    schedule: str = "*/30"  # minutes of the hour, cron-like: "*/30", "0", "0,30"
    max_window_hours: int = 24
    max_entries_per_group: int = 5
    max_entries: int = 40
    memory_hours: int = 24
    settle_seconds: int = 60  # wait this long after a slot so late arrivals are extracted
    overview_max_chars: int = 1000
    sponsor_section: bool = True  # end the digest with a #sponsor section


class CommentSettings(BaseModel):
    """Readers' comments on a channel, and what holds one for a moderator (community/spam.py)."""

    enabled: bool = True
    # Minutes during which an author may edit a comment (shown "edited" after).
    edit_minutes: int = Field(default=15, ge=0)
    # Hold the first comment of each account on this channel until a moderator approves it.
    hold_first_comments: bool = False
    # A comment with more links than this is held.
    max_links: int = Field(default=3, ge=0)
    # Words (or phrases) that hold a comment, compared case-insensitively as whole words.
    blocked_words: list[str] = Field(default_factory=list)
    # An author's comments in ten minutes beyond which the next is held.
    velocity_max: int = Field(default=5, ge=1)
    # The channel's spam model holds a comment at this probability (once it has learnt).
    spam_threshold: float = Field(default=0.9, gt=0.0, le=1.0)


class ChannelSettings(BaseModel):
    """A branded site served by this install."""

    slug: str
    display_name: str
    hometown: str = ""
    timezone: str = "America/Chicago"
    own_tag: str = ""  # tag of the channel's own publication (digests); defaults to slug
    publications: list[str] | None = None  # publication tags carried; None = all
    hashtags: list[HashtagSettings] = Field(
        default_factory=lambda: [HashtagSettings(tag=t, description=d) for t, d in DEFAULT_HASHTAGS]
    )
    sponsor: SponsorSettings = Field(default_factory=SponsorSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    comments: CommentSettings = Field(default_factory=CommentSettings)
    summary_max_chars: int = 280

    @field_validator("slug")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_" for c in v) or v != v.lower():
            raise ValueError(f"channel slug {v!r} must be lower-case letters, digits, '-' or '_'")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name such as America/Chicago)"
            ) from exc
        return v

    @model_validator(mode="after")
    def _own_tag(self) -> ChannelSettings:
        if not self.own_tag:
            self.own_tag = self.slug
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FetchSettings(BaseModel):
    """Polite HTTP fetching."""

    contact_url: str = "https://github.com/newsline/newsline"
    user_agent: str = ""  # default: "newsline/<version> (+<contact_url>)"
    concurrency: int = 32
    per_host_concurrency: int = 2
    min_host_delay: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    total_timeout: float = 90.0
    max_body_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 2
    backoff_base: float = 1.0
    max_retry_after: float = 120.0
    min_interval: int = 300
    max_interval: int = 86400
    allow_private: bool = False
    connect_to: Annotated[list[str], NoDecode] = Field(default_factory=list)
    ca_bundle: Path | None = None
    robots_cache_seconds: int = 86400

    @field_validator("connect_to", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
        return v

    @field_validator("connect_to")
    @classmethod
    def _rules(cls, rules: list[str]) -> list[str]:
        for rule in rules:
            check_connect_to(rule)
        return rules

    @property
    def agent(self) -> str:
        from newsline import __version__

        return self.user_agent or f"newsline/{__version__} (+{self.contact_url})"


class SummarizeSettings(BaseModel):
    """Summary backend: extractive (offline, default) or an OpenAI-compatible endpoint."""

    backend: Literal["extractive", "openai"] = "extractive"
    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "local"
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 30.0
    daily_budget: int = 500


class WebSettings(BaseModel):
    """The site."""

    base_url: str = "http://127.0.0.1:8000"
    default_channel: str = ""  # checked against the channels by Settings
    page_size: int = Field(default=30, ge=1)
    secret_key: str = ""
    # Anonymous GET responses are reused for this long per worker (0 = render every time).
    render_cache_seconds: float = 1.0
    # A WebSub hub our channel feeds advertise (rel="hub"); empty: none.
    websub_hub: str = ""

    @field_validator("websub_hub")
    @classmethod
    def _hub_url(cls, v: str) -> str:
        v = v.strip()
        if v and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    # The proxy in front adds the security headers (CSP, nosniff, referrer policy, frame
    # options) itself, as deploy/nginx.conf does: the app leaves them off what it answers
    # through a proxy (requests with X-Forwarded-For; never those straight to it).
    proxy_adds_security_headers: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or networks).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # Confirmation mails the subscribe form may send per client IP, and in all, per hour.
    confirmations_per_ip_hour: int = Field(default=5, ge=0)
    confirmations_per_hour: int = Field(default=200, ge=0)
    # Readers online counted at most this many per client IP (one household, one office).
    online_max_per_ip: int = Field(default=10, ge=1)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):  # NEWSLINE_WEB__TRUSTED_PROXIES="10.0.0.1, 10.0.1.0/24"
            return [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        networks = []
        for entry in v:
            try:
                network = ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
            networks.append(str(network) if "/" in entry else entry.strip())
        return networks


class EmailSettings(BaseModel):
    """The Digest's e-mail edition: the SMTP relay and the sender (password via env is best:
    ``NEWSLINE_EMAIL__PASSWORD``)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    password: str = ""
    from_address: str = "digest@localhost"
    from_name: str = ""
    timeout: float = 30.0
    ca_bundle: Path | None = None  # extra CA certificates to trust for STARTTLS/TLS


class WebSubSettings(BaseModel):
    """WebSub (push): subscribing to the hubs that feeds advertise (see docs/ingest.md)."""

    enabled: bool = True
    # What we ask hubs for (hub.lease_seconds); the hub decides and tells us.
    lease_seconds: int = Field(default=7 * 86400, ge=60)
    # Renew this long before the lease expires (at most half the lease).
    renew_before_seconds: int = Field(default=3600, ge=0)
    # A hub that accepted a request but has not verified it by then has failed.
    verify_timeout_seconds: int = Field(default=600, ge=1)
    timeout: float = 30.0


class ImageSettings(BaseModel):
    """The image proxy (``/img/...``): publishers' images fetched, checked, resized, cached."""

    # Where resized images (and the sources they come from) are kept; default: data_dir/images.
    cache_dir: Path | None = None
    # The cache's size on disk; the least recently served files go first past it.
    cache_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024 * 1024)
    # A cached image (or source) older than this is fetched again when next asked for.
    cache_max_age_seconds: int = Field(default=7 * 86400, ge=60)
    # A failed fetch is remembered (the placeholder served) this long before trying again.
    failure_seconds: int = Field(default=600, ge=0)
    # Source images larger than this (bytes, after decompression) are refused.
    max_source_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Decompression bombs: refused before decoding past this many pixels or this side.
    max_pixels: int = Field(default=40_000_000, ge=1)
    max_side: int = Field(default=16_384, ge=1)
    # Offer AVIF to browsers that accept it (slower to encode; WebP otherwise).
    avif: bool = True


#: The hourly budgets and what each is counted by (``all``: everybody together): the
#: defaults of :class:`LimitSettings`, and the only keys each kind accepts.
DEFAULT_HOURLY_LIMITS: dict[str, dict[str, int]] = {
    "comment": {"user": 30, "ip": 60, "all": 5000},
    "flag": {"user": 20, "ip": 40},
    "vote": {"user": 300, "ip": 600},
    "signup": {"ip": 5, "all": 500},
    "reset_mail": {"email": 3, "ip": 10, "all": 500},
    "signin_mail": {"email": 5, "ip": 10, "all": 500},
    "verify_mail": {"user": 5, "ip": 10, "all": 500},
    "email_change": {"user": 5, "ip": 10},
}


#: Sign-in attempts per account (by address, whether or not it exists) and per IP range.
DEFAULT_SIGNIN_LIMITS: dict[str, dict[str, int]] = {
    "signin_account": {
        "free": 5,
        "lock_at": 20,
        "backoff_seconds": 30,
        "max_backoff_seconds": 15 * 60,
        "lock_for_seconds": 3600,
        "window_seconds": 86400,
    },
    "signin_ip": {
        "free": 30,
        "lock_at": 200,
        "backoff_seconds": 10,
        "max_backoff_seconds": 5 * 60,
        "lock_for_seconds": 3600,
        "window_seconds": 86400,
    },
}


class AttemptSettings(BaseModel):
    """Sign-in attempts of one key (an account, an IP range): back-off, then lock-out."""

    model_config = {"extra": "forbid"}

    free: int = Field(ge=1)  # attempts in a window before back-off starts
    lock_at: int = Field(ge=1)  # attempts in a window that lock the key
    backoff_seconds: int = Field(ge=1)  # the first wait; each further one twice as long
    max_backoff_seconds: int = Field(ge=1)
    lock_for_seconds: int = Field(ge=1)
    window_seconds: int = Field(ge=60)  # counts start again this long after the first attempt

    @model_validator(mode="after")
    def _ordered(self) -> AttemptSettings:
        if self.lock_at < self.free:
            raise ValueError(f"lock_at ({self.lock_at}) must not be below free ({self.free})")
        if self.max_backoff_seconds < self.backoff_seconds:
            raise ValueError(
                f"max_backoff_seconds ({self.max_backoff_seconds}) must not be below "
                f"backoff_seconds ({self.backoff_seconds})"
            )
        return self


class LimitSettings(BaseModel):
    """Rate limits on readers' actions, per install (community/limits.py). Hourly budgets:
    ``comment = { user = 30, ip = 60, all = 5000 }`` (a key left out keeps its default; 0
    refuses the action); sign-in attempts per account and per IP range."""

    model_config = {"extra": "forbid"}

    hourly: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {kind: dict(by) for kind, by in DEFAULT_HOURLY_LIMITS.items()}
    )
    signin_account: AttemptSettings = Field(
        default_factory=lambda: AttemptSettings(**DEFAULT_SIGNIN_LIMITS["signin_account"])
    )
    signin_ip: AttemptSettings = Field(
        default_factory=lambda: AttemptSettings(**DEFAULT_SIGNIN_LIMITS["signin_ip"])
    )

    @model_validator(mode="before")
    @classmethod
    def _budgets(cls, data: Any) -> Any:
        """``[limits] comment = {...}`` (the budgets beside the sign-in tables) are merged
        over the defaults; an unknown action or counter is an error naming the known ones."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, defaults in DEFAULT_SIGNIN_LIMITS.items():
            if isinstance(data.get(name), dict):  # a key left out keeps its default
                data[name] = {**defaults, **data[name]}
        hourly = {kind: dict(by) for kind, by in DEFAULT_HOURLY_LIMITS.items()}
        given = {k: data.pop(k) for k in list(data) if k not in cls.model_fields}
        for kind, by in {**data.pop("hourly", {}), **given}.items():
            if kind not in DEFAULT_HOURLY_LIMITS:
                raise ValueError(
                    f"unknown action {kind!r} (known: {', '.join(DEFAULT_HOURLY_LIMITS)})"
                )
            if not isinstance(by, dict):
                raise ValueError(f"{kind}: expected a table such as {{ user = 30, ip = 60 }}")
            for counter, limit in by.items():
                allowed = DEFAULT_HOURLY_LIMITS[kind]
                if counter not in allowed:
                    raise ValueError(
                        f"{kind}.{counter}: {kind} is counted per {', '.join(allowed)} only"
                    )
                if isinstance(limit, str) and limit.strip().isdigit():
                    limit = int(limit)  # NEWSLINE_LIMITS__COMMENT__USER=10
                if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                    raise ValueError(
                        f"{kind}.{counter}: {limit!r} is not a whole number of actions per "
                        "hour (0 or more)"
                    )
                hourly[kind][counter] = limit
        data["hourly"] = hourly
        return data


class SchedulerSettings(BaseModel):
    """In-process scheduler of ``newsline serve``."""

    fetch_every_seconds: int = 120
    enabled: bool = True


class Settings(BaseSettings):
    """All of newsline's settings."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSLINE_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = ""
    # Distributed mode (docs/scaling.md): a Redis URL switches fetching, extraction,
    # enrichment, digests and mail to Dramatiq workers; empty: everything in one process.
    queue_url: str = ""
    data_dir: Path = Path(".")
    log_level: str = "INFO"
    channels: list[ChannelSettings] = Field(
        default_factory=lambda: [
            ChannelSettings(slug="news", display_name="newsline", hometown="Remer,MN")
        ]
    )
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    summarize: SummarizeSettings = Field(default_factory=SummarizeSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    websub: WebSubSettings = Field(default_factory=WebSubSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges NEWSLINE_* variables over the file key by key itself.
        return (init_settings,)

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if not self.channels:
            raise ValueError("configure at least one [[channels]] entry")
        slugs = [c.slug for c in self.channels]
        if len(set(slugs)) != len(slugs):
            raise ValueError(f"channel slugs must be unique, got {slugs}")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'newsline.db').resolve()}"
        scheme = self.database_url.partition("://")[0].lower()
        if not scheme.startswith("sqlite") and scheme not in DATABASE_SCHEMES:
            # Only the scheme is quoted: the rest of the URL may hold a password.
            raise ValueError(
                f"database_url: unsupported database {scheme!r} "
                "(use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
            )
        if self.queue_url:
            queue_scheme = self.queue_url.partition("://")[0].lower()
            if queue_scheme not in ("redis", "rediss", "unix"):
                raise ValueError(
                    f"queue_url: unsupported queue {queue_scheme!r} (use redis://HOST:PORT/DB)"
                )
            if scheme.startswith("sqlite"):
                raise ValueError(
                    "queue_url is set (distributed mode), which needs a PostgreSQL database: "
                    "set database_url to postgresql+psycopg://USER@HOST/DB (SQLite cannot be "
                    "shared by workers on several machines)"
                )
        if not self.web.default_channel:
            self.web.default_channel = self.channels[0].slug
        elif self.channel(self.web.default_channel) is None:
            raise ValueError(
                f"web.default_channel {self.web.default_channel!r} names no channel "
                f"(configured: {', '.join(slugs)})"
            )
        return self

    def check_files(self) -> None:
        """Raise :class:`ConfigError` when a file the settings name is missing (checked by the
        commands that are about to use them, not when the settings are merely read)."""
        for key, path in (
            ("fetch.ca_bundle", self.fetch.ca_bundle),
            ("email.ca_bundle", self.email.ca_bundle),
        ):
            if path is not None and not path.is_file():
                problem = "is a directory" if path.is_dir() else "does not exist"
                raise ConfigError(f"{key} {path} {problem}")

    def channel(self, slug: str) -> ChannelSettings | None:
        """The channel with this slug, or None."""
        return next((c for c in self.channels if c.slug == slug), None)


class ConfigError(NewslineError):
    """The configuration file is missing or invalid."""


# HOST:PORT:ADDR:PORT, each part possibly empty, IPv6 addresses in brackets.
_CONNECT_TO = re.compile(r"(\[[^\]]*\]|[^:\[\]]*):([^:]*):(\[[^\]]*\]|[^:\[\]]*):([^:]*)")


def check_connect_to(rule: str) -> None:
    """Raise ValueError unless ``rule`` is a ``HOST:PORT:ADDR:PORT`` mapping (curl's
    ``--connect-to``) to an IP address; :mod:`newsline.ingest.netguard` applies it."""
    match = _CONNECT_TO.fullmatch(rule.strip())
    if match is None:
        raise ValueError(
            f"rule {rule!r} must look like HOST:PORT:ADDR:PORT (e.g. *:443:127.0.0.1:8443)"
        )
    _host, port, addr, to_port = match.groups()
    for value in (port, to_port):
        if value and not (value.isascii() and value.isdigit() and 0 < int(value) < 65536):
            raise ValueError(f"rule {rule!r}: {value!r} is not a port (1-65535)")
    try:
        ipaddress.ip_address(addr.strip("[]"))
    except ValueError as exc:
        raise ValueError(f"rule {rule!r}: {addr!r} is not an IP address") from exc


def config_path(explicit: Path | None = None) -> Path:
    """Where the config file is: ``--config``, then ``NEWSLINE_CONFIG``, then ./newsline.toml."""
    if explicit is not None:
        return explicit
    env = os.environ.get("NEWSLINE_CONFIG")
    return Path(env) if env else Path(DEFAULT_CONFIG_NAME)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the TOML file (when it exists), apply ``NEWSLINE_*`` variables, validate."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file.is_dir():
        raise ConfigError(f"config file {file} is a directory, not a file")
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{file}: not UTF-8 text (byte {exc.start} is 0x{exc.object[exc.start]:02x}); "
                "save it as UTF-8"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from exc
        data.setdefault("data_dir", str(file.resolve().parent))
    elif path is not None:
        raise ConfigError(f"config file {file} does not exist (create one with `newsline init`)")
    data = _merge_env_over(data)
    data.update(overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{file}: {one_line(exc)}") from exc
    for key in unknown_keys(data, Settings):
        log.warning("%s: unknown setting %s, ignored (check its spelling)", file, key)
    return settings


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel], where: str = "") -> list[str]:
    """The keys of a config table, at any depth, that name no setting (dotted paths).

    A section that forbids unknown keys refuses them when validated; the others would drop
    them silently, so that a misspelt ``[fetch] min_host_dealy`` changed nothing unseen.
    """
    fields = {**model.model_fields, **{f.alias: f for f in model.model_fields.values() if f.alias}}
    found = []
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        field = fields.get(key)
        if field is None:
            if model.model_config.get("extra") != "forbid":
                found.append(path)
            continue
        for inner, sub, at in _tables(field.annotation, value, path):
            found += unknown_keys(inner, sub, at)
    return found


def _tables(
    annotation: Any, value: Any, path: str
) -> list[tuple[Mapping[str, Any], type[BaseModel], str]]:
    """The tables inside a setting's value that are themselves settings sections."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _tables(args[0], value, path)
    if origin in (Union, types.UnionType):
        return [t for arg in args if arg is not type(None) for t in _tables(arg, value, path)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(value, annotation, path)] if isinstance(value, Mapping) else []
    if origin is list and isinstance(value, list):
        return [t for n, v in enumerate(value) for t in _tables(args[0], v, f"{path}[{n}]")]
    if origin is dict and isinstance(value, Mapping) and len(args) == 2:
        return [t for k, v in value.items() for t in _tables(args[1], v, f"{path}.{k}")]
    return []


def one_line(exc: ValidationError) -> str:
    """Pydantic's report as one line: ``where: what`` for each problem, ``; ``-separated."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        what = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {what}" if where else what)
    return " ".join("; ".join(problems).split())


def _merge_env_over(data: dict[str, Any]) -> dict[str, Any]:
    """Let NEWSLINE_* variables override the file's values key by key (not section by section)."""
    result = dict(data)
    prefix = "NEWSLINE_"
    for name, value in os.environ.items():
        if not name.startswith(prefix) or name == "NEWSLINE_CONFIG":
            continue
        path = name[len(prefix) :].lower().split("__")
        if path[0] not in Settings.model_fields:
            continue
        node = result
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        node[path[-1]] = value
    return result
