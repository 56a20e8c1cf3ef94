"""Errors as HTTP answers: bad input is a 4xx naming the parameter, never a 500.

Every error body has Litestar's shape, `{"status_code", "detail", "extra"}`; for input
errors `extra.parameter` names the offending parameter and `detail` starts with it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ServiceUnavailableException, ValidationException
from litestar.types import ExceptionHandlersMap, HTTPResponseStartEvent, Send
from sqlalchemy.exc import DBAPIError, OperationalError

from api.outage import RETRY_AFTER_SECONDS as OUTAGE_RETRY_AFTER
from api.outage import ThrottledLog
from db.interactions import RETRYABLE_SQLSTATES, WriteConflict
from db.recs import InvalidInput

log = logging.getLogger(__name__)
# During an outage every request fails the same way: one line per interval, with a count.
outage_log = ThrottledLog(log)

RETRY_AFTER_SECONDS = 5
# SQLSTATE classes that mean "the input was wrong": 22 data exception (22023
# invalid_parameter_value is what rec.* raise for bad filters), 23 integrity constraint.
_INPUT_SQLSTATE_CLASSES = {"22": 400, "23": 409}
# msgspec's own message ends with the path of the bad value ("... - at `$.data[0].event`");
# Litestar keeps only the top-level key, so recover the full path from the cause.
_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`")


class BadParameter(ValueError):
    """A request parameter (query, path or body field) with an invalid value."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


class NotReady(ServiceUnavailableException):
    """The model or the snapshot is not loaded yet (503 with Retry-After)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _body(status: int, detail: str, extra: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        body["extra"] = extra
    return body


def _response(
    status: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        _body(status, detail, extra),
        status_code=status,
        headers=headers,
        media_type=MediaType.JSON,
    )


async def send_error(
    send: Send,
    status: int,
    detail: str,
    extra: Any = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer an error from ASGI middleware, which runs before Litestar's handlers, in the
    same shape."""
    body = json.dumps(_body(status, detail, extra)).encode()
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _body_path(exc: Exception) -> str | None:
    """`body[0].event` for a bad value deep in a body, from the msgspec error behind `exc`."""
    match = _AT.search(str(exc.__cause__ or ""))
    if match is None or not match.group("path").startswith("data"):
        return None
    return "body" + match.group("path")[len("data") :]


def _validation(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's signature/body validation: say which parameter, not just the URL."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts: list[str] = []
    params: list[str] = []
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        key = str(problem.get("key") or "")
        # Litestar's ParamType is a str Enum: str() of it reads "ParamType.QUERY".
        source = str(getattr(problem.get("source"), "value", problem.get("source")) or "")
        name = key
        if key == "data" and source == "body":
            name = (_body_path(exc) if len(problems) == 1 else None) or "body"
        params.append(name)
        where = "body field" if source == "body" and name != "body" else f"{source} parameter"
        parts.append(f"{where} '{name}': {problem.get('message', 'invalid')}")
    if not parts:  # malformed JSON and the like carry no extra: they are about the body
        detail = exc.detail if exc.detail.startswith("body") else f"body: {exc.detail}"
        return _response(400, detail, {"parameter": "body"})
    return _response(400, "; ".join(parts), {"parameter": params[0], "errors": problems})


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # Validation failures, and 400s from decoding the body (malformed JSON: no extra).
    if isinstance(exc, ValidationException) or (exc.status_code == 400 and not exc.extra):
        return _validation(request, exc)
    extra = exc.extra if exc.extra else None
    return _response(exc.status_code, exc.detail, extra, exc.headers)


def _bad_parameter(request: Request[Any, Any, Any], exc: BadParameter) -> Response[Any]:
    return _response(400, str(exc), {"parameter": exc.parameter})


# rec.* name their inputs by filter key; the API's query parameters are named differently.
_QUERY_NAMES = {
    "categories": "category",
    "categories_mode": "category_mode",
    "tags": "tag",
    "kinds": "kind",
    "attributes": "attr.<name>",
    "exclude_ids": "exclude",
    "k": "n",
}


def _invalid_input(request: Request[Any, Any, Any], exc: InvalidInput) -> Response[Any]:
    """A value the rec.* SQL functions refused (SQLSTATE 22023), named as the API names it."""
    parameter = _QUERY_NAMES.get(exc.key or "", exc.key) or "input"
    message = str(exc)
    if not re.search(rf"(?<![\w.]){re.escape(parameter)}(?![\w.])", message):
        message = f"{parameter}: {message}"
    return _response(400, message, {"parameter": parameter})


def _value_error(request: Request[Any, Any, Any], exc: ValueError) -> Response[Any]:
    log.info("bad input on %s: %s", request.url.path, exc)
    return _response(400, str(exc) or "invalid input")


def _lookup_error(request: Request[Any, Any, Any], exc: LookupError) -> Response[Any]:
    # A KeyError from a bug would also land here; keep the traceback in the log.
    log.info("not found on %s: %r", request.url.path, exc, exc_info=isinstance(exc, KeyError))
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "not found"
    return _response(404, message)


def _write_conflict(request: Request[Any, Any, Any], exc: WriteConflict) -> Response[Any]:
    """Retries exhausted on a deadlock or serialization failure: the client may resend."""
    log.warning("write conflict on %s: %s", request.url.path, exc)
    headers = {"Retry-After": "1"}
    return _response(409, f"{exc}; send the request again", {"reason": exc.reason}, headers)


def _database_error(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    if sqlstate in RETRYABLE_SQLSTATES:  # a write outside the retrying helper collided
        return _write_conflict(request, WriteConflict(sqlstate, 1))
    status = _INPUT_SQLSTATE_CLASSES.get(sqlstate[:2])
    if status is None and isinstance(exc.orig, psycopg.DataError):
        status = 400  # refused by the driver before reaching the server (a NUL in text)
    if status is not None:
        diag = getattr(exc.orig, "diag", None)
        message = getattr(diag, "message_primary", None) or str(exc.orig).splitlines()[0]
        return _response(status, message, {"sqlstate": sqlstate})
    if isinstance(exc, OperationalError) or exc.connection_invalidated:
        outage_log.warning("db-unavailable", "database unavailable: %s", exc.orig)
        return _response(
            503,
            "database unavailable",
            headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
        )
    log.error("database error on %s", request.url.path, exc_info=exc)
    return _response(500, "internal server error")


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _response(500, "internal server error")


def exception_handlers() -> ExceptionHandlersMap:
    """The app's handlers: Litestar picks the most specific class in the exception's MRO."""
    return {
        HTTPException: _http,
        BadParameter: _bad_parameter,
        InvalidInput: _invalid_input,
        ValueError: _value_error,
        LookupError: _lookup_error,
        DBAPIError: _database_error,
        WriteConflict: _write_conflict,
        Exception: _internal,
    }
