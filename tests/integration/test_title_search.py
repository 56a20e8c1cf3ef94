"""The title mode (rec.search_title) on the retrieval catalog: close matches
first, the former top results kept, the caller's pg_trgm settings left alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from db import recs
from db.recs import Filters, Hit
from tests.support.databases import rolled_back

# The single pass at threshold 0.3 that rec.search_title ran before it tried close matches
# first (migration 0013 of the former chain): the reference the answers are checked against.
FORMER = """
SELECT i.id, ((similarity(q.norm, pgrec_norm_title(i.title))
               + word_similarity(q.norm, pgrec_norm_title(i.title))) / 2)::real AS score
FROM items i, (SELECT pgrec_norm_title(:q) AS norm) q
WHERE word_similarity(q.norm, pgrec_norm_title(i.title)) >= 0.3
ORDER BY score DESC, i.popularity DESC, i.id
LIMIT :k
"""
STEPS = (0.6, 0.5, 0.4, 0.3)  # the thresholds rec.search_title tries, in order

QUERIES = [
    "the shawshenk redemtion",  # typos in two words
    "the mumy",  # a short title: "the" alone used to admit every "The ..." title
    "the dark knigt",
    "amlie",  # unaccented, one letter dropped: found by a lower step
    "dark knight",  # part of a title
    "star wars",
    "space adventure with astronauts",  # a sentence, as the eval's queries are
    "kung fu fighting",
    "xqzvj",  # nothing alike
]


@pytest.fixture
def rc(catalog_url: str) -> Iterator[Connection]:
    """A connection to the catalog whose transaction is rolled back after the test."""
    with rolled_back(catalog_url) as connection:
        yield connection


def _former(conn: Connection, q: str, k: int) -> list[Hit]:
    """What the former single pass answers (no filters)."""
    rows = conn.execute(text(FORMER), {"q": q, "k": k})
    return [Hit(int(r[0]), float(r[1])) for r in rows]


def _titles(conn: Connection, hits: list[Hit]) -> list[str]:
    rows = recs.fetch_items(conn=conn, ids=[h.item_id for h in hits])
    return [str(rows[h.item_id]["title"]) for h in hits]


def _word_similarity(conn: Connection, q: str, title: str) -> float:
    sql = text("SELECT word_similarity(pgrec_norm_title(:q), pgrec_norm_title(:t))")
    return float(conn.execute(sql, {"q": q, "t": title}).scalar_one())


def test_a_misspelt_short_title_finds_close_titles_not_every_title_with_its_common_word(
    rc: Connection,
) -> None:
    hits = recs.search_title(conn=rc, q="the dark knigt", k=50, filters=Filters())
    titles = _titles(rc, hits)
    assert titles[0] == "The Dark Knight"
    # The former single pass filled all 50 places with titles sharing little but "the".
    assert len(_former(rc, "the dark knigt", 50)) == 50
    assert 0 < len(hits) < 50
    assert all(_word_similarity(rc, "the dark knigt", t) >= STEPS[-2] for t in titles)


@pytest.mark.parametrize("q", QUERIES)
def test_the_titles_scoring_above_the_answering_step_are_the_former_ones(
    rc: Connection, q: str
) -> None:
    k = 20
    hits, former = recs.search_title(conn=rc, q=q, k=k, filters=Filters()), _former(rc, q, k)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    if not former:
        assert hits == []
        return
    assert hits[0].item_id == former[0].item_id
    step = next((s for s in STEPS if hits[0].score >= s), STEPS[-1])
    kept = [h.item_id for h in former if h.score >= step]
    assert [h.item_id for h in hits[: len(kept)]] == kept
    assert all(h.score < step for h in hits[len(kept) :])
    assert {h.item_id for h in hits} <= {h.item_id for h in _former(rc, q, 10_000)}


@pytest.mark.parametrize("q", ["space adventure with astronauts", "travelling back in time"])
def test_a_description_keeps_the_former_list(rc: Connection, q: str) -> None:
    hits = recs.search_title(conn=rc, q=q, k=10, filters=Filters())
    assert hits and hits == _former(rc, q, 10)


def test_a_description_costs_two_index_scans_and_a_close_title_one(rc: Connection) -> None:
    """0023: a longer query (over 13 trigrams) takes the first step, then the last; the
    middle steps, each a scan of the trigram index, could only repeat the last's answer."""
    scans = text("SELECT pg_stat_get_xact_numscans('ix_items_title_trgm'::regclass)")

    def scans_for(q: str) -> int:
        before = rc.execute(scans).scalar_one()
        recs.search_title(conn=rc, q=q, k=10, filters=Filters())
        return int(rc.execute(scans).scalar_one() - before)

    assert scans_for("space adventure with astronauts") == 2
    assert scans_for("the shawshenk redemtion") == 1  # a close title: the first step answers
    assert scans_for("the mumy") > 1  # short: the middle steps still answer it


def test_a_badly_misspelt_title_is_still_found_first(rc: Connection) -> None:
    for q, title in [("amlie", "Amélie"), ("the shawshenk redemtion", "The Shawshank Redemption")]:
        hits = recs.search_title(conn=rc, q=q, k=5, filters=Filters())
        assert _titles(rc, hits)[:1] == [title]


def test_filters_apply_at_every_step(rc: Connection) -> None:
    f = Filters(kinds=("tv show",))
    hits = recs.search_title(conn=rc, q="the dark knigt", k=10, filters=f)
    rows = recs.fetch_items(conn=rc, ids=[h.item_id for h in hits])
    assert all(rows[h.item_id]["kind"] == "tv show" for h in hits)
    assert "The Dark Knight" not in _titles(rc, hits)


def test_the_callers_trigram_threshold_is_left_alone(rc: Connection) -> None:
    rc.execute(text("SET LOCAL pg_trgm.word_similarity_threshold = 0.77"))
    for q in ("the dark knigt", "xqzvj"):  # answered by the first step; by the last
        recs.search_title(conn=rc, q=q, k=5, filters=Filters())
        shown = rc.execute(text("SHOW pg_trgm.word_similarity_threshold")).scalar_one()
        assert shown == "0.77"
