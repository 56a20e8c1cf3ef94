"""The seeded API catalog the HTTP tests share: one private database per test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from db.ingest import IngestSummary
from tests.support.api import Catalog, ready_client, seed
from tests.support.cli import MovieLensDatabase, load_movielens
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


@pytest.fixture(scope="session")
def movielens_database(
    server_url: str, template_url: str, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> MovieLensDatabase:
    """Opens a private database with the TMDB catalog and the MovieLens ratings of users 1..n."""

    @contextmanager
    def open_database(users: int) -> Iterator[tuple[str, IngestSummary]]:
        with private_database(server_url, template_url) as url:
            yield url, load_movielens(url, shared_data, tmp_path_factory.mktemp("ml"), users)

    return open_database
