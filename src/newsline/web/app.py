"""The ASGI app: ``create_app(settings)``; ``newsline serve`` runs it under uvicorn."""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, get_type_hints

from fastapi import Depends, FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from newsline import __version__, urls
from newsline.config import Settings, load_settings
from newsline.errors import NewslineError
from newsline.publish.sitemap import MAX_URLS
from newsline.web import (
    admin,
    api,
    comments,
    digest_routes,
    feeds,
    item,
    moderation,
    newsline,
    online,
    publications,
    search,
    sponsor,
    story,
)
from newsline.web.account import api_router as account_api_router
from newsline.web.account import router as account_router
from newsline.web.auth import install as install_accounts
from newsline.web.cache import RenderCacheMiddleware
from newsline.web.csrf import csrf_input, refuse_cross_site
from newsline.web.images import ImageLinks
from newsline.web.images import router as images_router
from newsline.web.limits import BodyLimitMiddleware, validation_errors
from newsline.web.middleware import SiteHeadersMiddleware
from newsline.web.render import page
from newsline.web.session import SessionCookieMiddleware, SessionReaderMiddleware
from newsline.web.site import STATIC, BadRequest, ChannelRef, NotFound, Refused, Site, site_of
from newsline.web.websub import router as websub_router

log = logging.getLogger(__name__)
STATIC_CACHE = "public, max-age=31536000, immutable"


class CachedStaticFiles(StaticFiles):
    """Static files with a long cache life: their URLs carry a content hash (``?v=``)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = STATIC_CACHE
        return response


def asset_versions() -> dict[str, str]:
    """A short content hash per static file, for cache-busting URLs."""
    return {
        path.name: hashlib.blake2b(path.read_bytes(), digest_size=4).hexdigest()
        for path in STATIC.iterdir()
        if path.is_file()
    }


def _channel_for_error(request: Request, hint: ChannelRef | None) -> ChannelRef:
    site = site_of(request)
    if hint is not None:
        return hint
    first = request.url.path.strip("/").split("/", 1)[0]
    if site.settings.channel(first) is not None:
        return site.channel(first)
    return site.default_channel()


def _error_page(
    request: Request,
    status: int,
    message: str,
    hint: ChannelRef | None,
    headers: dict[str, str] | None = None,
) -> Response:
    headers = {"cache-control": "no-cache", **(headers or {})}
    if request.url.path.startswith(urls.API + "/"):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    channel = _channel_for_error(request, hint)
    title = {
        404: "Not found",
        400: "Bad request",
        403: "Refused",
        410: "Withdrawn",
        429: "Too many requests",
    }.get(status, "Error")
    return page(
        request,
        channel,
        "error.html",
        None,
        column="not found" if status == 404 else "error",
        title=f"{title} · {channel.cfg.display_name}",
        status_code=status,
        headers=headers,
        status=status,
        message=message,
    )


#: The reader's pages, matched before every other route (:class:`PagesFirst`).
PAGES_FIRST = (urls.HOME, urls.NEWSLINE, urls.STORY, urls.ITEM, urls.HASHTAG, urls.PUBLICATION)


def _first_segment(path: str) -> str:
    return path.split("/", 2)[1] if path.startswith("/") else ""


def _walk(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Every route, included routers' ones in place, in routing order."""
    found: list[BaseRoute] = []
    for route in routes:
        router = getattr(route, "original_router", None)
        found.extend(_walk(router.routes) if router is not None else [route])
    return found


class PagesFirst(APIRouter):
    """The reader's page routes, tried before the ~90 others (API, accounts, comments,
    moderation, console, ...): Starlette tries routes in order, ~8 µs each.

    Moved to the front, ``/{channel_slug}/story/{story_id}`` would also match
    ``/_sponsor/story/<band>`` (a channel named ``story``) and take it from the sponsor
    route. So this router matches no path whose first segment is a fixed first segment of
    any other route (`reserved`); those paths, rare, go through the routes in their old
    order, where the same page routes still stand (tests/integration/test_web_routes.py
    checks that every route is still reached)."""

    def __init__(self, routes: list[APIRoute], reserved: frozenset[str]) -> None:
        super().__init__(include_in_schema=False)
        self.routes.extend(routes)
        self.reserved = reserved
        self.direct = [(route, direct_call(route)) for route in routes]
        self._included_with: list[params.Depends | None] | None = None

    def app_wide(self, app: FastAPI) -> list[Callable[[Request], Awaitable[Any]]] | None:
        """The dependencies FastAPI runs before each of these pages, overrides applied, as the
        direct path calls them: the app's own (``FastAPI(dependencies=...)``) and those the
        app included this router with, read from the app so that none added later is skipped.
        None when one is not a coroutine function of the request alone (FastAPI must solve
        it), or the app did not include this router: its pages then go the usual way."""
        if self._included_with is None:
            inclusion = next(
                (r for r in app.router.routes if getattr(r, "original_router", None) is self),
                None,
            )
            context = getattr(inclusion, "include_context", None)
            # Not included (or FastAPI kept no context): what must run is unknown, so None.
            self._included_with = list(context.dependencies) if context is not None else [None]
        calls = []
        for depends in self._included_with:
            dependency = depends.dependency if depends is not None else None
            if dependency is None:
                return None
            call = app.dependency_overrides.get(dependency, dependency)
            if not _of_the_request(call):
                return None
            calls.append(call)
        return calls

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or _first_segment(scope["path"]) in self.reserved:
            return Match.NONE, {}
        return super().matches(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The page's endpoint called directly when its parameters allow (:func:`direct_call`):
        FastAPI's endpoint machinery (dependencies, parameter models) was ~20-25 % of a page
        kept by data version. Anything else goes the usual way (a 405, a 422, ...)."""
        for route, call in self.direct:
            match, child = Route.matches(route, scope)
            if match is Match.FULL:
                wide = self.app_wide(scope["app"]) if call is not None else None
                if call is not None and wide is not None:
                    sent = await call(route, scope, receive, send, child, wide)
                    if sent:
                        return
                break
        await super().handle(scope, receive, send)


@lru_cache(maxsize=64)
def _of_the_request(call: Callable[..., Any]) -> bool:
    """Whether `call` is a coroutine function taking the request alone."""
    if not inspect.iscoroutinefunction(call):
        return False
    parameters = list(inspect.signature(call).parameters.values())
    return (
        len(parameters) == 1
        and get_type_hints(call).get(parameters[0].name) is Request
        and parameters[0].default is inspect.Parameter.empty
    )


DirectCall = Callable[
    [APIRoute, Scope, Receive, Send, Scope, list[Callable[[Request], Awaitable[Any]]]],
    Awaitable[bool],
]


def direct_call(route: APIRoute) -> DirectCall | None:
    """A way to call `route`'s endpoint without FastAPI's machinery, for endpoints taking
    only the request, path parameters (``str`` or ``int``) and optional ``str`` query
    parameters, with no dependency of their own; None for any other endpoint. The call runs
    the app-wide dependencies it is given (:meth:`PagesFirst.app_wide`) first, and answers
    False (nothing sent) when a value is not what FastAPI would accept as is (an ``int`` that
    is not plain digits): FastAPI then handles the request."""
    if route.dependencies or route.dependant.dependencies:
        return None
    hints = get_type_hints(route.endpoint)
    request_name = None
    texts, ints, queries = [], [], []
    for name, parameter in inspect.signature(route.endpoint).parameters.items():
        hint = hints.get(name)
        if hint is Request:
            request_name = name
        elif name in route.param_convertors and parameter.default is inspect.Parameter.empty:
            if hint is str:
                texts.append(name)
            elif hint is int:
                ints.append(name)
            else:
                return None
        elif name not in route.param_convertors and hint == (str | None):
            if parameter.default is not None:
                return None
            queries.append(name)
        else:
            return None
    endpoint = route.endpoint

    async def call(
        route: APIRoute,
        scope: Scope,
        receive: Receive,
        send: Send,
        child: Scope,
        app_wide: list[Callable[[Request], Awaitable[Any]]],
    ) -> bool:
        found = child["path_params"]
        arguments: dict[str, Any] = {name: found[name] for name in texts}
        for name in ints:
            value = found[name]
            if not (isinstance(value, str) and value.isascii() and value.isdigit()):
                return False
            arguments[name] = int(value)
        scope.update(child)
        scope["route"] = route
        request = Request(scope, receive, send)
        for name in queries:
            arguments[name] = request.query_params.get(name)
        if request_name is not None:
            arguments[request_name] = request
        for dependency in app_wide:
            await dependency(request)
        response = await endpoint(**arguments)
        await response(scope, receive, send)
        return True

    return call


def pages_first(routes: list[BaseRoute], first: tuple[str, ...] = PAGES_FIRST) -> PagesFirst:
    """A :class:`PagesFirst` of the routes whose path is in `first`, guarded by the fixed
    first segments of all the other `routes`."""
    every = _walk(routes)
    chosen = [r for r in every if isinstance(r, APIRoute) and r.path in first]
    reserved = frozenset(
        segment
        for r in every
        if r not in chosen
        and (segment := _first_segment(getattr(r, "path", "") or "/"))
        and "{" not in segment
    )
    return PagesFirst(chosen, reserved)


def api_operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Each operation of an OpenAPI document: method, path, summary, parameters."""
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "parameters": [
                        {
                            "name": p.get("name", ""),
                            "in": p.get("in", ""),
                            "required": bool(p.get("required")),
                            "type": p.get("schema", {}).get("type", ""),
                            "choices": p.get("schema", {}).get("enum", []),
                        }
                        for p in op.get("parameters", [])
                    ],
                }
            )
    return operations


def create_app(settings: Settings, *, sitemap_max_urls: int = MAX_URLS) -> FastAPI:
    """The site for these settings: pages, feeds, sitemaps, the JSON API and static files."""
    app = FastAPI(
        title="newsline API",
        version=__version__,
        description="Channels, publications and items of this newsline install.",
        docs_url=None,
        redoc_url=None,
        openapi_url=urls.OPENAPI,
        # Every POST/PUT/PATCH/DELETE from another site's page is refused (403).
        dependencies=[Depends(refuse_cross_site)],
    )
    site = Site(settings)
    site.templates.globals["asset"] = asset_versions()
    site.templates.globals["csrf_input"] = csrf_input
    site.templates.globals["comment_section"] = comments.comment_section
    site.templates.globals["image"] = ImageLinks(settings, site.urls)
    site.templates.globals["digest_nav"] = digest_routes.digest_nav
    app.state.site = site
    app.state.sitemap_max_urls = sitemap_max_urls
    install_accounts(app)  # the viewer() template global, the sign-in redirect

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error_page(request, 404, str(exc), exc.channel)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error_page(request, 400, str(exc), exc.channel)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        retry = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
        return _error_page(request, exc.status, str(exc), exc.channel, retry)

    @app.exception_handler(NewslineError)
    async def newsline_error(request: Request, exc: NewslineError) -> Response:
        # Any other failure a reader may be told about: its one line, in the site's chrome.
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return _error_page(request, 500, str(exc), None)

    @app.exception_handler(api.ApiError)
    async def api_error(request: Request, exc: api.ApiError) -> Response:
        retry = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=retry)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _error_page(request, 404, "page not found", None)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(urls.API + "/") or request.method != "GET":
            # Name the problems, never echo the submitted values (they may be megabytes).
            return JSONResponse({"detail": validation_errors(exc.errors())}, status_code=422)
        return _error_page(request, 400, "That address has a malformed parameter.", None)

    async def docs(request: Request) -> Response:
        """The JSON API's operations, read from its OpenAPI document (no CDN, no script)."""
        channel = site.default_channel()
        return page(
            request,
            channel,
            "docs.html",
            None,
            column="API",
            title=f"API · {channel.cfg.display_name}",
            operations=api_operations(app.openapi()),
        )

    app.add_api_route(urls.DOCS, docs, include_in_schema=False)
    app.mount(urls.STATIC, CachedStaticFiles(directory=STATIC), name="static")
    # Images first: a page asks for dozens at once, and routes are matched in order.
    app.include_router(images_router)  # /img/...: signed, GET only
    # Fixed paths first: the channel routes below match any first path segment.
    app.include_router(feeds.root_router)
    app.include_router(api.router)
    app.include_router(account_api_router)
    app.include_router(account_router)  # /account/...
    app.include_router(comments.api_router)
    app.include_router(comments.router)  # before the channel routes: /_replies/...
    app.include_router(moderation.api_router)
    app.include_router(moderation.router)  # /admin/moderation
    app.include_router(admin.router)  # the console, /admin...
    app.include_router(sponsor.router)  # /_sponsor/...: counts, no reader kept
    app.include_router(online.router)
    app.include_router(websub_router)  # hubs' callback: HMAC-signed, so no CSRF token
    app.include_router(newsline.router)
    app.include_router(story.router)
    app.include_router(item.router)
    app.include_router(search.router)
    app.include_router(publications.router)
    app.include_router(digest_routes.router)  # digest feeds, e-mail subscriptions
    app.include_router(feeds.router)
    # The reader's pages right after the static files and images (see PagesFirst).
    app.include_router(pages_first(app.router.routes))
    after_images = 1 + next(
        n
        for n, route in enumerate(app.router.routes)
        if getattr(route, "original_router", None) is images_router
    )
    app.router.routes.insert(after_images, app.router.routes.pop())
    # Inside the render cache, which thus never keeps a response that sets the cookie.
    app.add_middleware(SessionCookieMiddleware)  # sets nl_sid when a request made a session
    app.add_middleware(RenderCacheMiddleware, ttl=settings.web.render_cache_seconds)
    app.add_middleware(SessionReaderMiddleware)  # nl_sid is no reason to skip the cache
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.web.max_body_bytes,
        # WebSub hubs deliver whole feeds to their callback.
        larger={urls.WEBSUB_CALLBACK.split("{")[0]: settings.fetch.max_body_bytes},
    )
    app.add_middleware(  # validators over cached bodies too
        SiteHeadersMiddleware,
        proxy_adds_security_headers=settings.web.proxy_adds_security_headers,
    )
    # Outermost: text compressed when served without nginx (deploy/nginx.conf asks the app
    # for identity and compresses itself); the render cache keeps the plain bodies.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    slugs = [c.slug for c in settings.channels]

    def openapi() -> dict[str, Any]:
        # Document this install's channel slugs as the `channel` parameter's values.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for param in operation.get("parameters", []):
                        if param.get("name") == "channel" and param.get("in") == "path":
                            param["schema"]["enum"] = slugs
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory``: settings from ``$NEWSLINE_CONFIG``."""
    return create_app(load_settings())
