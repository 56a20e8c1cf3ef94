"""Terms mode (rec.search_terms), real catalog: any-term matches, phrases, exclusions, errors, caps;
and rec.also_liked, the co-occurrence half of more-like-these."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from db import recs
from db.recs import Filters, InvalidInput
from tests.support.databases import rolled_back

F = Filters()


@pytest.fixture
def rc(catalog_url: str) -> Iterator[Connection]:
    """A connection to the shared catalog whose transaction is rolled back after the test."""
    with rolled_back(catalog_url) as connection:
        yield connection


def _holding(conn: Connection, query: str) -> set[int]:
    """Items whose search_tsv matches a tsquery (written in to_tsquery syntax)."""
    sql = text("SELECT id FROM items WHERE search_tsv @@ to_tsquery('english', :q)")
    return {int(i) for i in conn.execute(sql, {"q": query}).scalars()}


def test_plain_words_match_items_holding_any_of_them(rc: Connection) -> None:
    # When every word was required (the first terms mode): this sentence matched nothing.
    hits = recs.search_terms(
        conn=rc, q="an old sailor hunts the whale that took his leg", k=50, filters=F
    )
    assert len(hits) == 50
    content = _holding(rc, "old | sailor | hunt | whale | took | leg")
    assert {h.item_id for h in hits} <= content
    # Items with only one of two words come back, the rarer word's first.
    hits = recs.search_terms(conn=rc, q="dinosaurs submarine", k=500, filters=F)
    got = {h.item_id for h in hits}
    only_dino = _holding(rc, "dinosaur & !submarine")
    only_sub = _holding(rc, "submarine & !dinosaur")
    assert only_dino and only_sub
    assert only_dino <= got and only_sub <= got
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_rare_words_outweigh_common_ones(rc: Connection) -> None:
    # "life" is in hundreds of descriptions, "dinosaur" in a handful: BM25's idf puts the
    # dinosaur films first, where ts_rank_cd (no idf) let common words dominate.
    hits = recs.search_terms(conn=rc, q="dinosaurs come back to life", k=5, filters=F)
    assert {h.item_id for h in hits} <= _holding(rc, "dinosaur")


def test_a_quoted_phrase_needs_its_words_in_order(rc: Connection) -> None:
    hits = recs.search_terms(conn=rc, q='"time travel"', k=100, filters=F)
    assert hits
    assert {h.item_id for h in hits} <= _holding(rc, "time <-> travel")
    # A phrase and a word: either matches, and explicit `or` means the same.
    both = recs.search_terms(conn=rc, q='"time travel" dinosaur', k=1000, filters=F)
    with_or = recs.search_terms(conn=rc, q='"time travel" OR dinosaur', k=1000, filters=F)
    assert both == with_or
    assert {h.item_id for h in both} == _holding(rc, "(time <-> travel) | dinosaur")


def test_minus_excludes_words_and_phrases(rc: Connection) -> None:
    hits = recs.search_terms(conn=rc, q="space station -alien", k=200, filters=F)
    assert hits
    ids = {h.item_id for h in hits}
    assert not ids & _holding(rc, "alien")
    assert ids <= _holding(rc, "space | station")
    hits = recs.search_terms(conn=rc, q='space -"outer space"', k=200, filters=F)
    assert hits and not {h.item_id for h in hits} & _holding(rc, "outer <-> space")


def test_a_compound_word_needs_its_parts_in_order(rc: Connection) -> None:
    # "sci-fi" scores its lexemes one by one, but an item must hold the compound.
    hits = recs.search_terms(conn=rc, q="sci-fi", k=100, filters=F)
    assert hits
    compound = text("SELECT id FROM items WHERE search_tsv @@ plainto_tsquery('english', 'sci-fi')")
    assert {h.item_id for h in hits} <= {int(i) for i in rc.execute(compound).scalars()}
    # Items holding "sci" alone score the lexeme but are not answers.
    assert _holding(rc, "sci") - {int(i) for i in rc.execute(compound).scalars()}


@pytest.mark.parametrize(
    "q", ["dinosaurs come back to life", "time travel", "sci-fi space", '"time travel" -zombie']
)
def test_a_filter_that_keeps_every_item_changes_nothing(rc: Connection, q: str) -> None:
    """0023 skips testing each (item, term) row against `match` when that is the terms ORed
    and no filter applies; a filter that every item passes takes the tested way."""
    every = Filters(exclude_ids=(-1,))
    assert recs.search_terms(conn=rc, q=q, k=200, filters=F) == recs.search_terms(
        conn=rc, q=q, k=200, filters=every
    )


@pytest.mark.parametrize("q", ["the of and", "-alien", '-"outer space" the', "", "   ", "or"])
def test_nothing_to_search_for_is_an_error_naming_q(rc: Connection, q: str) -> None:
    with pytest.raises(InvalidInput, match="stop word") as err:
        recs.search_terms(conn=rc, q=q, k=5, filters=F)
    assert err.value.key == "q"


def test_query_length_and_term_count_are_capped(rc: Connection) -> None:
    with pytest.raises(InvalidInput, match="1000 characters") as err:
        recs.search_terms(conn=rc, q="space " * 200, k=5, filters=F)
    assert err.value.key == "q"
    rc.rollback()
    words = " ".join(f"word{i}x" for i in range(40))
    with pytest.raises(InvalidInput, match="at most 32 search terms") as err:
        recs.search_terms(conn=rc, q=words, k=5, filters=F)
    assert err.value.key == "q"
    rc.rollback()
    # 32 distinct terms are fine; a word repeated counts once.
    fine = " ".join(f"word{i}x" for i in range(31)) + " space space space"
    assert recs.search_terms(conn=rc, q=fine, k=5, filters=F)


def test_filters_apply_and_parse_terms_shows_the_reading(rc: Connection) -> None:
    f = Filters(categories=("Horror",))
    hits = recs.search_terms(conn=rc, q="vampires hunting at night", k=20, filters=f)
    rows = recs.fetch_items(conn=rc, ids=[h.item_id for h in hits])
    assert hits and all("Horror" in r["categories"] for r in rows.values())
    row = rc.execute(
        text("SELECT match::text, terms FROM rec.parse_terms(:q)"),
        {"q": 'Vampires "night shift" -comedy or zombies'},
    ).one()
    assert row.terms == ["vampir", "night", "shift", "zombi"]
    assert row.match == "( 'vampir' | 'night' <-> 'shift' | 'zombi' ) & !'comedi'"


def test_also_liked_sums_co_occurrence_of_the_given_items(rc: Connection) -> None:
    a, b, c, d, e = (
        int(i) for i in rc.execute(text("SELECT id FROM items ORDER BY id LIMIT 5")).scalars()
    )
    rows = [(a, 1, c, 0.5), (a, 2, d, 0.4), (b, 1, d, 0.3), (b, 2, a, 0.9), (e, 1, c, 0.9)]
    for item, rank, neighbor, score in rows:
        rc.execute(
            text(
                "INSERT INTO item_cooccurrence (item_id, rank, neighbor_id, score, users)"
                " VALUES (:i, :r, :n, :s, 3)"
            ),
            {"i": item, "r": rank, "n": neighbor, "s": score},
        )
    hits = recs.also_liked(conn=rc, items=[a, b], k=10, filters=F)
    # d: 0.4 + 0.3; c: 0.5; a is an input, so left out; e's list is not asked for.
    assert [(h.item_id, round(h.score, 3)) for h in hits] == [(d, 0.7), (c, 0.5)]
    assert (
        recs.also_liked(conn=rc, items=[a, b], k=10, filters=Filters(exclude_ids=(d,)))[0].item_id
        == c
    )
    assert recs.also_liked(conn=rc, items=[], k=10, filters=F) == []


def test_common_words_only_score_unless_too_few_items_are_found(rc: Connection) -> None:
    # "life" is in over 10% of the items (pg_stats): it does not find candidates while
    # "dinosaur" finds enough, but scores them; asked for more, the common word finds too.
    common = rc.execute(
        text(
            "SELECT f FROM pg_stats p, unnest(p.most_common_elems::text::text[],"
            " p.most_common_elem_freqs) s(e, f) WHERE p.tablename = 'items'"
            " AND p.attname = 'search_tsv' AND s.e = 'life'"
        )
    ).scalar_one()
    assert common > 0.1
    dino = _holding(rc, "dinosaur")
    few = recs.search_terms(conn=rc, q="dinosaurs life", k=5, filters=F)
    assert len(few) == 5 and {h.item_id for h in few} <= dino
    many = recs.search_terms(conn=rc, q="dinosaurs life", k=len(dino) + 20, filters=F)
    assert dino <= {h.item_id for h in many}
    assert len(many) == len(dino) + 20
