"""schemathesis against the site's own /openapi.json, through the ASGI app.

(schemathesis' lazy pytest fixture does not work with pytest 9, so each operation's
hypothesis strategy is driven directly.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from newsline.config import load_settings
from newsline.db.engine import dispose_all
from newsline.db.migrate import upgrade
from newsline.web.app import create_app
from tests.support.webdata import seed, seed_xss


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("api")
    url = f"sqlite:///{folder / 'api.db'}"
    upgrade(url)
    site_settings = load_settings(None, database_url=url, data_dir=str(folder))
    seed(site_settings)
    seed_xss(site_settings)
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(site_settings))
    dispose_all()


def test_api_conforms_to_its_openapi_document(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert labels >= {
        "GET /api/v1/channels",
        "GET /api/v1/channels/{channel}",
        "GET /api/v1/channels/{channel}/publications",
        "GET /api/v1/channels/{channel}/items",
        "GET /api/v1/channels/{channel}/items/{item_id}",
        "GET /api/v1/channels/{channel}/search",
        "POST /api/v1/session",
        "DELETE /api/v1/session",
        "GET /api/v1/channels/{channel}/items/{item_id}/comments",
        "POST /api/v1/channels/{channel}/items/{item_id}/comments",
        "PATCH /api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}",
        "DELETE /api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}",
        "POST /api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}/vote",
        "POST /api/v1/channels/{channel}/items/{item_id}/comments/{comment_id}/flag",
        "GET /api/v1/channels/{channel}/moderation/queue",
        "POST /api/v1/channels/{channel}/moderation/comments/{comment_id}",
        "POST /api/v1/channels/{channel}/moderation/bans",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate()

        check()
