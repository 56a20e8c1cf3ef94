"""The seeded API catalog the HTTP tests share: one private database per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.support.api import Catalog, ready_client, seed
from tests.support.databases import private_database


@pytest.fixture(scope="module")
def api_catalog_url(server_url: str, template_url: str) -> Iterator[str]:
    """A clone of the template for this module, dropped after it (the API catalog: not the
    retrieval catalog of tests/support/recs_catalog.py, whose fixture is `catalog_url`)."""
    with private_database(server_url, template_url) as url:
        yield url


@pytest.fixture(scope="module")
def catalog(api_catalog_url: str) -> Catalog:
    """The items of tests/support/api.seed in `api_catalog_url`."""
    return seed(api_catalog_url)


@pytest.fixture(scope="module")
def client(api_catalog_url: str, catalog: Catalog) -> Iterator[TestClient[Litestar]]:
    """A ready API client on the seeded catalog."""
    with ready_client(api_catalog_url) as c:
        yield c
