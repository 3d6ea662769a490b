"""deploy/nginx.conf's cache key names every query parameter the app's GET pages read.

nginx files an anonymous GET under its path plus only the parameters listed for that path
in the `$newsline_cache_args` map (so `?x=<random>` cannot make a new copy). A GET route
whose parameters the map leaves out would be served another request's page from the
cache (page 2 of a story as page 1, comments sorted the other way), unless its responses
are never stored. This walks the real app's routes against the real config: each route's
parameters are in the map entry nginx would pick for its path, or the route's answer to
an anonymous request is one nginx does not store.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from newsline.web.app import create_app
from tests.support import PROJECT_ROOT

CONF = (PROJECT_ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
# What proxy_cache_valid stores (the config's own list is checked below).
STORED_STATUSES = {200, 301, 308, 404}


def cache_args_map(conf: str) -> list[tuple[re.Pattern[str], str]]:
    """The `$newsline_cache_args` map's regex entries, in the order nginx tries them."""
    block = re.search(r"map \$newsline_path \$newsline_cache_args \{(.*?)\n\}", conf, re.S)
    assert block is not None, "deploy/nginx.conf has no $newsline_cache_args map"
    entries = re.findall(r'^\s*"~([^"]+)"\s+"([^"]*)";', block.group(1), re.M)
    assert entries
    return [(re.compile(pattern), value) for pattern, value in entries]


def keyed_params(path: str, entries: list[tuple[re.Pattern[str], str]]) -> set[str] | None:
    """The parameter names nginx keys `path` by (lower case); None for the whole query."""
    for pattern, value in entries:
        if pattern.search(path):
            if "$args" in value:
                return None
            return {name.lower() for name in re.findall(r"\$arg_(\w+)", value)}
    return set()


def sample_path(route: APIRoute) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: "news" if "channel" in m[1] else "1", route.path)


def get_routes(app: Any) -> list[APIRoute]:
    out: list[APIRoute] = []

    def walk(routes: Any) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                if "GET" in (route.methods or ()):
                    out.append(route)
            elif (inner := getattr(route, "original_router", None)) is not None:
                walk(inner.routes)

    walk(app.routes)
    return out


@pytest.fixture
def client(make_settings: Any) -> TestClient:
    settings = make_settings(
        web={"secret_key": "s" * 40},
        channels=[{"slug": "news", "display_name": "The News"}],
    )
    return TestClient(create_app(settings), headers=HUMAN, follow_redirects=False)


def test_the_stored_statuses_are_the_configs() -> None:
    valid = re.findall(r"proxy_cache_valid ([\d ]+) \d+s;", CONF)
    assert {int(code) for line in valid for code in line.split()} == STORED_STATUSES


def test_every_get_page_is_keyed_by_the_parameters_it_reads(client: TestClient) -> None:
    entries = cache_args_map(CONF)
    routes = get_routes(client.app)
    assert len(routes) > 30  # the walk found the app's pages
    missing = []
    for route in routes:
        declared = {p.alias.lower() for p in route.dependant.query_params}
        if not declared:
            continue
        path = sample_path(route)
        keyed = keyed_params(path, entries)
        if keyed is None or declared <= keyed:
            continue
        # Not in the key: fine only when nginx would never store this route's answer to
        # an anonymous reader (a signed-in one bypasses the cache), e.g. `no-store` pages
        # and the redirects of personal ones. (Asked without parameters: made-up values
        # would only get a 400 or 422, which nginx does not store either.)
        response = client.get(path)
        cache_control = response.headers.get("cache-control", "").lower()
        stored = (
            response.status_code in STORED_STATUSES
            and "no-store" not in cache_control
            and "private" not in cache_control
            and "set-cookie" not in response.headers
        )
        if stored:
            missing.append(f"{route.path}: {sorted(declared - keyed)} ({response.status_code})")
    assert missing == []


def test_the_keys_follow_the_map_nginx_reads() -> None:
    """The checks above read the map as nginx does: first matching regex, $arg_ names."""
    entries = cache_args_map(CONF)
    assert keyed_params("/news/topic/harbor/some-item", entries) == set()
    assert keyed_params("/news/story/12", entries) == {"before"}
    assert keyed_params("/", entries) == {"before"}
    assert keyed_params("/news/search", entries) == {"page_no", "q"}
    assert keyed_params("/news/topic/harbor/some-item/comments", entries) == {"page", "sort"}
    assert keyed_params("/_options", entries) is None
    assert keyed_params("/news/unknown/page", entries) == set()
