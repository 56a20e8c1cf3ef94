"""The seeded API catalog the HTTP tests share: one private database per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.api import Catalog, ready_client, seed
from tests.support.databases import private_database


@pytest.fixture(scope="module")
def catalog_url(server_url: str, template_url: str) -> Iterator[str]:
    """A clone of the template for this module, dropped after it."""
    with private_database(server_url, template_url) as url:
        yield url


@pytest.fixture(scope="module")
def catalog(catalog_url: str) -> Catalog:
    """The items of tests/support/api.seed in `catalog_url`."""
    return seed(catalog_url)


@pytest.fixture(scope="module")
def client(catalog_url: str, catalog: Catalog) -> Iterator[TestClient[Litestar]]:
    """A ready API client on the seeded catalog."""
    with ready_client(catalog_url) as c:
        yield c
