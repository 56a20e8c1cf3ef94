"""Schemathesis against a real server on loopback: generated requests from /schema.

Every operation gets positive and negative examples; any 5xx, undeclared status code,
content type or body that does not match /schema fails the test (see UNCHECKED for the two
checks left out). There is no stateful phase: the schema declares no links between
operations for it to follow. The request count is asserted (>= 2,000); the time is bounded
by the number of examples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.support.api import API_KEY, make_app, running_server, seed
from tests.support.databases import private_database

KEY = {"X-API-Key": API_KEY}
EXAMPLES = 150  # per operation and mode; 13 operations -> well over 2,000 requests
MIN_REQUESTS = 2000
SENT: list[int] = []
# Both judge the schema's precision, not the server's behaviour: the schema cannot state
# every rule (non-empty list values, one of item_id/external_id), and in a query string
# every value is text, so "false" generated as a non-string for `tag` is a valid tag.
# Negative examples are still sent: they must get a declared 4xx, never a 5xx.
UNCHECKED = [positive_data_acceptance, negative_data_rejection]


def _count(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    SENT.append(response.status_code)


@pytest.fixture(scope="module")
def fuzz_base(server_url: str, template_url: str) -> Iterator[str]:
    with private_database(server_url, template_url) as url:
        seed(url)
        with running_server(make_app(url)) as base:
            yield base


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.hooks["response"].append(_count)
        yield session


def _openapi() -> dict[str, Any]:
    """The served app's schema, built without a database (the app connects lazily)."""
    app = make_app("postgresql://nobody@localhost/none")
    return json.loads(json.dumps(app.openapi_schema.to_schema()))


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_every_operation(case: Case, http: requests.Session, fuzz_base: str) -> None:
    case.call_and_validate(base_url=fuzz_base, session=http, headers=KEY, excluded_checks=UNCHECKED)


def test_enough_requests_were_sent() -> None:
    assert len(SENT) >= MIN_REQUESTS, len(SENT)
    print(f"fuzzing sent {len(SENT)} requests")
    assert not [s for s in SENT if s >= 500]
