"""API-key guard for writes: the key travels in a configurable header (X-API-Key by default).

The settings come from the app's runtime (app.state.runtime), so one guard serves every app.
When no key is configured the API runs open; create_app logs a warning at startup.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from db.settings import Settings


def check_api_key(settings: Settings, given: str | None) -> None:
    """Raise 401 unless `given` is the configured key (or no key is configured)."""
    if not settings.api_key:
        return
    header = settings.api_key_header
    if given is None:
        raise NotAuthorizedException(
            detail=f"missing API key: send it in the {header} header",
            extra={"parameter": header},
        )
    if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
        raise NotAuthorizedException(
            detail=f"invalid API key in the {header} header", extra={"parameter": header}
        )


def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard for write endpoints."""
    settings: Settings = connection.app.state["runtime"].settings
    check_api_key(settings, connection.headers.get(settings.api_key_header))
