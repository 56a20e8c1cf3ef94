"""Request bodies checked before they are parsed: JSON content type (415) and depth (400).

Litestar parses any body as JSON whatever its content type, and a body nested a thousand
deep made the decoder fail with a 500. This `before_request` hook reads the body once
(Litestar keeps it for the handler; its size is already capped by `request_max_body_size`,
413), refuses other media types and measures the nesting without building anything: a C regex
finds the brackets outside strings, so the cost is one pass however large the body.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.exceptions import HTTPException

MAX_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# A JSON string (with its escapes) or one bracket; strings are skipped as a whole.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class UnsupportedMediaType(HTTPException):
    status_code = 415


def json_depth(body: bytes, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a JSON text, counted up to `limit + 1` (then it stops looking)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return limit  # cannot be deeper; cheap answer for ordinary bodies
    depth = deepest = 0
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def check_body(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook for handlers that take a body (a `data` argument)."""
    if request.method not in BODY_METHODS:
        return
    if "data" not in request.route_handler.parsed_fn_signature.parameters:
        return
    content_type = request.headers.get("content-type")
    body = await request.body()
    if content_type is None and not body:
        return  # no body at all: validation says "body required" (400)
    if content_type is None or not _is_json(content_type):
        raise UnsupportedMediaType(
            detail=f"body: content type must be application/json, not {content_type or 'none'}",
            extra={"parameter": "content-type"},
        )
    if json_depth(body) > MAX_DEPTH:
        raise HTTPException(
            status_code=400,
            detail=f"body: JSON nested deeper than {MAX_DEPTH} levels",
            extra={"parameter": "body"},
        )
