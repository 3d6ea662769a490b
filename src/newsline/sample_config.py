"""The commented sample ``newsline.toml`` that ``newsline init`` writes."""

from __future__ import annotations

from newsline.config import DEFAULT_HASHTAGS

HEADER = """\
# newsline configuration. Every key can be overridden by an environment variable:
# NEWSLINE_<SECTION>__<KEY>, e.g. NEWSLINE_FETCH__ALLOW_PRIVATE=true.

# Where the database lives. Default: SQLite file newsline.db next to this file.
# PostgreSQL: database_url = "postgresql+psycopg://newsline@127.0.0.1/newsline"
# database_url = "sqlite:///newsline.db"
log_level = "INFO"

[fetch]
# Sent in the User-Agent so publishers can reach you.
contact_url = "https://example.org/contact"
per_host_concurrency = 2      # simultaneous requests to one host
min_host_delay = 1.0          # seconds between requests to one host
max_body_bytes = 10485760     # larger responses are refused (checked while streaming)
min_interval = 300            # adaptive refresh interval bounds, seconds
max_interval = 86400
allow_private = false         # refuse URLs resolving to private/loopback addresses
# For split-horizon DNS or the replay test bed (like curl --connect-to):
# connect_to = ["*:443:127.0.0.1:8443", "*:80:127.0.0.1:8080"]
# ca_bundle = "/path/to/extra-ca.pem"

[web]
base_url = "http://127.0.0.1:8000"

# Rate limits on readers (docs/limits.md), per install; the defaults are shown. Counted in
# the database, or in Redis when queue_url is set, so they hold across every worker.
# [limits]
# comment = {{ user = 30, ip = 60, all = 5000 }}   # per hour; 0 refuses the action
# flag = {{ user = 20, ip = 40 }}
# vote = {{ user = 300, ip = 600 }}
# signup = {{ ip = 5, all = 500 }}
# [limits.signin_account]     # password sign-ins per account: back-off, then lock-out
# free = 5
# lock_at = 20
# backoff_seconds = 30
# max_backoff_seconds = 900
# lock_for_seconds = 3600
# window_seconds = 86400

[summarize]
backend = "extractive"        # or "openai" for any OpenAI-compatible endpoint
# base_url = "http://127.0.0.1:8080/v1"
# model = "gemma-3-270m"
# api_key_env = "OPENAI_API_KEY"

[email]
# The Digest's e-mail edition (double opt-in; one-click unsubscribe). Password: prefer
# the environment, NEWSLINE_EMAIL__PASSWORD.
enabled = false
host = "127.0.0.1"
port = 587
security = "starttls"         # "starttls", "tls" (implicit, port 465) or "none"
# username = "digest@example.org"
from_address = "digest@example.org"

[[channels]]
slug = "{slug}"                  # URL prefix: /{slug}/newsline
display_name = "{display_name}"
hometown = "{hometown}"
timezone = "{timezone}"   # IANA zone: dates, digest slots and labels use it
# publications = ["nro", "cnn"]  # carried publications; omit for all

[channels.sponsor]
name = "newsline"
url = "https://github.com/newsline/newsline"
# six variants, shortest first: <500, 500-599, 600-899, 900-1199, 1200-1799, >=1800 px
variants = [
  "newsline",
  "newsline",
  "newsline: news, your way.",
  "newsline: news, your way. Self-hosted aggregation.",
  "newsline: news, your way. Self-hosted aggregation, digests and comments.",
  "newsline: news, your way. Self-hosted news aggregation, timed digests, and community comments for your town.",
]

[channels.digest]
schedule = "*/30"             # minutes of the hour, in the channel's time zone
max_window_hours = 24
max_entries_per_group = 5
max_entries = 40
memory_hours = 24             # a story shown this recently returns only with new sources
sponsor_section = true        # end each digest with the channel's #sponsor

# The channel's hashtags, in display order. Each has a one-line description;
# `keywords` (optional) seed the classifier.
"""


def sample_config(
    slug: str = "news",
    display_name: str = "newsline",
    hometown: str = "Remer,MN",
    timezone: str = "America/Chicago",
) -> str:
    """The sample config text, with one channel and the default hashtag list."""
    text = HEADER.format(slug=slug, display_name=display_name, hometown=hometown, timezone=timezone)
    for tag, description in DEFAULT_HASHTAGS:
        text += f'\n[[channels.hashtags]]\ntag = "{tag}"\ndescription = "{description}"\n'
    return text
