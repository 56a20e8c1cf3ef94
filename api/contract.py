"""The error answers each route can give, declared in the OpenAPI schema.

Every error body has one shape (`ErrorBody`); `errors(...)` builds a handler's `responses=`
from status codes, so /schema lists each code a route can answer (the fuzzing test checks
that no undeclared code comes back). 400 is declared by Litestar itself for routes with
parameters, 401 by every guarded route, 429 by every rate-limited one.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import post
from litestar.openapi.datastructures import ResponseSpec

from api.auth import require_api_key


class ErrorBody(msgspec.Struct):
    """`detail` says what went wrong; `extra.parameter` names the offending input."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any] | None = None


_DESCRIPTIONS = {
    400: "Bad input: `extra.parameter` names the parameter or body field",
    401: "Missing or invalid API key (X-API-Key header)",
    404: "Not found",
    409: "Conflict: the write collided with another one; retry (see Retry-After)",
    413: "Request body too large",
    415: "Body content type is not application/json",
    429: "Rate limit exceeded: retry after Retry-After seconds",
    503: "Not ready or database unavailable: retry after Retry-After seconds",
}

READ = (400, 401, 429, 503)
WRITE = (400, 401, 409, 413, 415, 429, 503)


def errors(*codes: int) -> dict[int, ResponseSpec]:
    """`responses=` for a handler answering these error codes."""
    return {
        code: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[code], generate_examples=False
        )
        for code in sorted(set(codes))
    }


def batch_write(summary: str) -> post:
    """The route of a batch write (POST /): the write key, 200 with what became of each item."""
    return post(
        "/",
        sync_to_thread=True,
        status_code=200,
        guards=[require_api_key],
        summary=summary,
        responses=errors(*WRITE),
    )
