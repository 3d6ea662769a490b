"""Every route of the site is still reached by the requests it was written for, in the order
web/app.py registers them: the reader's pages are tried first (``PagesFirst``, issue 12),
and must not take a request from any other route.

Each route's template is made into concrete paths: every ``{param}`` filled with a plain
value its convertor accepts, then one parameter at a time with each fixed segment another
route has at that place (``/_sponsor/{channel_slug}/{band}`` with the channel ``story`` is
``/_sponsor/story/x``, which ``/{channel_slug}/story/{story_id}`` would match too). The real
app dispatches each path, for each of the route's methods, and the app-wide dependency
(overridden here) records which route it reached. The route that must get it: the first
matching one in the order the routers are registered, without the pages moved to the front
(the order every route was written for)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route

from newsline.config import Settings
from newsline.db.channels import sync_channels
from newsline.db.engine import session_scope
from newsline.web import app as web_app
from newsline.web.app import PagesFirst, create_app
from newsline.web.csrf import refuse_cross_site
from tests.support.webdata import seed

PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?}")
HUMAN = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"}
#: An age printed on a card ticks between two renders.
AGE = re.compile(r">[0-9]+[smhd]<")
PLAIN = {"str": "v0", "int": "7", "path": "v0/v1", "float": "1.5"}
REACHED = 299  # the probe's answer: the route was chosen, its handler never ran


def _routes(routes: list[Any]) -> Iterator[Any]:
    for route in routes:
        router = getattr(route, "original_router", None)
        if router is not None:
            yield from _routes(router.routes)
        else:
            yield route


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/") if path != "/" else []


def _fixed(segment: str) -> bool:
    return PARAM.search(segment) is None


def _fill(path: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values.get(m.group(1), PLAIN[m.group(2) or "str"]), path)


def _probes(route: APIRoute, others: list[APIRoute]) -> Iterator[str]:
    """Concrete paths of `route`: plain, then each parameter as each fixed segment the other
    routes have at its place."""
    yield _fill(route.path, {})
    segments = _segments(route.path)
    for n, segment in enumerate(segments):
        param = PARAM.fullmatch(segment)
        if param is None or param.group(2) not in (None, "str"):
            continue
        for other in others:
            theirs = _segments(other.path)
            if n < len(theirs) and _fixed(theirs[n]):
                yield _fill(route.path, {param.group(1): theirs[n]})


def _expected(path: str, method: str, routes: list[APIRoute]) -> Callable[..., Any]:
    """The endpoint of the first of `routes` matching `path` and `method`."""
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    return next(r.endpoint for r in routes if Route.matches(r, scope)[0] is Match.FULL)


def unreached(app: FastAPI, reference: FastAPI | None = None) -> list[str]:
    """Requests that reach another route in `app` than the one the registration order of
    `reference` (by default `app` itself) gives them."""
    written = [
        route
        for route in (reference or app).router.routes
        if not isinstance(getattr(route, "original_router", None), PagesFirst)
    ]
    routes = [r for r in _routes(written) if isinstance(r, APIRoute)]
    reached: list[Any] = []

    async def probe(request: Request) -> None:
        reached.append(request.scope.get("route"))
        raise HTTPException(REACHED)

    app.dependency_overrides[refuse_cross_site] = probe
    wrong = []
    with TestClient(app) as client:
        for route in routes:
            for path in dict.fromkeys(_probes(route, routes)):
                for method in sorted(route.methods or ()):
                    reached.clear()
                    status = client.request(method, path).status_code
                    want = _expected(path, method, routes)
                    got = reached[0].endpoint if reached else None
                    if status != REACHED or got is not want:
                        name = got.__name__ if got else status
                        wrong.append(f"{method} {path}: {name}, not {want.__name__}")
    return wrong


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    made: Settings = make_settings(web={"render_cache_seconds": 0})
    with session_scope(made.database_url) as session:
        sync_channels(session, made)
    return made


def test_every_route_is_reached_by_its_own_requests(settings: Settings) -> None:
    app = create_app(settings)
    assert isinstance(app.router.routes[4].original_router, PagesFirst)  # type: ignore[attr-defined]
    assert unreached(app) == []


def test_static_files_and_openapi_still_served(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        assert client.get("/static/site.css").headers["content-type"].startswith("text/css")
        assert client.get("/openapi.json").json()["info"]["title"] == "newsline API"


def test_a_shadowing_route_is_caught(settings: Settings) -> None:
    app = create_app(settings)

    async def steal(name: str) -> None:  # pragma: no cover - the probe answers first
        raise AssertionError(name)

    # A catch-all at the very front takes every one-segment GET (/docs, /admin, /account).
    thief = APIRoute(
        "/{name}",
        steal,
        methods=["GET"],
        dependencies=[Depends(refuse_cross_site)],
        dependency_overrides_provider=app,
    )
    app.router.routes.insert(0, thief)
    wrong = unreached(app, reference=create_app(settings))
    assert "GET /docs: steal, not docs" in wrong
    assert any(line.startswith("GET /admin:") for line in wrong)


def test_the_pages_guard_is_what_keeps_fixed_prefixes_reachable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the guard the story page would take /_sponsor/story/<band> (a channel named
    # "story") and the item page /_sponsor/topic/<band>/seen.gif.
    monkeypatch.setattr(
        PagesFirst, "matches", lambda self, scope: super(PagesFirst, self).matches(scope)
    )
    wrong = unreached(create_app(settings))
    assert "GET /_sponsor/story/v0: story_page, not click" in wrong
    assert any(line.startswith("GET /_sponsor/topic/v0/seen.gif: item,") for line in wrong)


def test_the_pages_called_directly_answer_as_fastapi_does(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PagesFirst calls the reader's page endpoints itself (no FastAPI machinery): each
    answers exactly as through FastAPI, including refusals, and what FastAPI must judge (a
    story id that is not plain digits, a method the route lacks) still goes there."""
    seed(settings)
    app = create_app(settings)
    first = app.router.routes[4].original_router  # type: ignore[attr-defined]
    assert isinstance(first, PagesFirst)
    assert [route.path for route, call in first.direct if call is None] == []
    paths = [
        "/",
        "/news/newsline",
        "/news/newsline?before=1-1",
        "/news/newsline?before=nonsense",
        "/news/tag/politics",
        "/news/tag/nosuchtag",
        "/news/solo/harbor",
        "/news/solo/nosuchpub",
        "/news/topic/harbor/harbor-0",
        "/news/topic/harbor/nosuchitem",
        "/news/story/1",
        "/news/story/999999",
        "/news/story/12x",
        "/news/story/%D9%A3",
        "/nosuchchannel/newsline",
    ]

    def answers(client: TestClient) -> list[tuple[int, str, str]]:
        out = []
        for path in paths:
            for method in ("GET", "HEAD", "POST"):
                got = client.request(method, path)
                body = AGE.sub("><", got.text) if method == "GET" else ""
                out.append((got.status_code, got.headers.get("content-type", ""), body))
        return out

    with TestClient(app, headers=HUMAN) as client:
        direct = answers(client)
        monkeypatch.setattr(first, "direct", [])
        through_fastapi = answers(client)
    for path, one, other in zip(
        [f"{m} {p}" for p in paths for m in ("GET", "HEAD", "POST")],
        direct,
        through_fastapi,
        strict=True,
    ):
        assert one == other, path
    statuses = {status for status, _, _ in direct}
    assert {200, 400, 404, 405} <= statuses


async def _by_request(request: Request) -> str:
    return request.url.path


async def _solved(request: Request, path: str = Depends(_by_request)) -> str:
    return path


def _plain(request: Request) -> str:
    return request.url.path


@pytest.mark.parametrize(
    ("kind", "direct"), [("a coroutine of the request", True), ("solved", False), ("sync", False)]
)
def test_the_pages_called_directly_run_every_app_wide_dependency(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, kind: str, direct: bool
) -> None:
    """A dependency added to the app's own (``FastAPI(dependencies=...)``) runs before every
    reader's page: called on the direct path when it is a coroutine of the request alone,
    else the page goes through FastAPI, which solves it."""
    seen: list[tuple[str, bool]] = []

    async def watch(request: Request) -> None:
        seen.append((request.url.path, "fastapi_inner_astack" not in request.scope))

    async def watch_solved(request: Request, path: str = Depends(_solved)) -> None:
        await watch(request)

    def watch_sync(request: Request, path: str = Depends(_plain)) -> None:
        seen.append((request.url.path, "fastapi_inner_astack" not in request.scope))

    added = {"a coroutine of the request": watch, "solved": watch_solved, "sync": watch_sync}

    class WithOneMore(FastAPI):
        def __init__(self, **options: Any) -> None:
            options["dependencies"] = [*options["dependencies"], Depends(added[kind])]
            super().__init__(**options)

    seed(settings)
    monkeypatch.setattr(web_app, "FastAPI", WithOneMore)
    paths = [
        "/",
        "/news/newsline",
        "/news/tag/politics",
        "/news/solo/harbor",
        "/news/topic/harbor/harbor-0",
    ]
    with TestClient(create_app(settings), headers=HUMAN) as client:
        for path in paths:
            assert client.get(path).status_code == 200, path
    assert seen == [(path, direct) for path in paths]
