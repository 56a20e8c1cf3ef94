"""Errors map to HTTP: input problems are 4xx naming the parameter, the database's too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError

from api.errors import BadParameter, exception_handlers
from db.recs import InvalidInput


class _Diag:
    message_primary = 'invalid year_min: "x" (expected an integer)'


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("boom")
        self.sqlstate = sqlstate
        self.diag = _Diag()


def _client(exc: Exception) -> TestClient[Litestar]:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return TestClient(Litestar([boom], exception_handlers=exception_handlers()))


CASES: list[tuple[Callable[[], Exception], int, str]] = [
    (lambda: BadParameter("n", "out of range"), 400, "n: out of range"),
    (
        lambda: InvalidInput("invalid categories: 3 (expected an array)", "categories"),
        400,
        "category",
    ),
    (lambda: InvalidInput("invalid k: 0", "k"), 400, "n: invalid k"),
    (lambda: ValueError("bad thing"), 400, "bad thing"),
    (lambda: LookupError("unknown item id 5"), 404, "unknown item id 5"),
    (lambda: DataError("SELECT", {}, _PgError("22023")), 400, "year_min"),
    (lambda: IntegrityError("INSERT", {}, _PgError("23505")), 409, "year_min"),
    (lambda: OperationalError("SELECT", {}, _PgError("08006")), 503, "database unavailable"),
    (lambda: ProgrammingError("SELECT", {}, _PgError("42P01")), 500, "internal server error"),
    (lambda: RuntimeError("bug"), 500, "internal server error"),
]


@pytest.mark.parametrize(("make", "status", "text"), CASES)
def test_exception_mapping(make: Callable[[], Exception], status: int, text: str) -> None:
    with _client(make()) as client:
        response = client.get("/boom")
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert text in body["detail"]
    if status == 503:
        assert response.headers["retry-after"]
    if status == 500:
        assert "bug" not in body["detail"] and "42P01" not in response.text


def test_parameter_is_named_in_extra() -> None:
    with _client(BadParameter("attr.country", "empty")) as client:
        body = client.get("/boom").json()
    assert body["extra"] == {"parameter": "attr.country"}
