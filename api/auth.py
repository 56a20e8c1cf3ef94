"""API-key guards: writes need a write key, reads a read key when one is configured.

Keys travel in a configurable header (X-API-Key by default). `PGREC_API_KEY` and
`PGREC_READ_KEY` are comma-separated lists, so a new key can be added before the old one is
withdrawn. A write key also opens reads. Keys are compared in constant time. The settings come
from the app's runtime (app.state.runtime), so one guard serves every app. Without any key
the API only starts in dev mode (`PGREC_DEV=1`, see `startup_problem`).
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from db.settings import Settings


def startup_problem(settings: Settings) -> str | None:
    """Why the API must not start with these settings (None when it may)."""
    if settings.write_keys or settings.dev:
        return None
    return (
        "PGREC_API_KEY is not set: without a key anyone could write. Set PGREC_API_KEY "
        "(a comma-separated list of keys), or PGREC_DEV=1 for an open development server."
    )


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """`given` is one of `keys`; every key is compared, each in constant time."""
    raw = given.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(raw, key.encode())
    return found


def _check(settings: Settings, given: str | None, keys: tuple[str, ...], what: str) -> None:
    header = settings.api_key_header
    if given is None:
        raise NotAuthorizedException(
            detail=f"missing {what} key: send it in the {header} header",
            extra={"parameter": header},
        )
    if not key_matches(given, keys):
        raise NotAuthorizedException(
            detail=f"invalid {what} key in the {header} header", extra={"parameter": header}
        )


def check_api_key(settings: Settings, given: str | None) -> None:
    """Raise 401 unless `given` is a write key (or no key is configured: dev mode)."""
    if settings.write_keys:
        _check(settings, given, settings.write_keys, "API")


def check_read_key(settings: Settings, given: str | None, *, history: bool = False) -> None:
    """Raise 401 unless `given` may read; `history`: the answer shows what a user did.

    With PGREC_READ_KEY set every read needs a read or write key. Without it reads are open,
    except those that show a user's history, which then need a write key.
    """
    if settings.read_keys:
        _check(settings, given, settings.read_keys + settings.write_keys, "read")
    elif history and settings.write_keys:
        _check(settings, given, settings.write_keys, "API")


def _settings(connection: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = connection.app.state["runtime"].settings
    return settings


# The guards are coroutines although they do no I/O: Litestar runs a plain function guard in
# a worker thread, a hop that cost item-to-item ~0.1 ms of its ~1 ms.


async def require_api_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Litestar guard for write endpoints."""
    settings = _settings(connection)
    check_api_key(settings, connection.headers.get(settings.api_key_header))


async def require_read_key(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Litestar guard for read endpoints (open unless PGREC_READ_KEY is set)."""
    settings = _settings(connection)
    check_read_key(settings, connection.headers.get(settings.api_key_header))


def require_history_key(
    connection: ASGIConnection[Any, Any, Any, Any], user_id: str | None, explain: bool
) -> None:
    """For the user mode: `explain` shows what the user liked, so it needs a key."""
    settings = _settings(connection)
    given = connection.headers.get(settings.api_key_header)
    check_read_key(settings, given, history=explain and user_id is not None)
