"""A/B variants: configuration checks, deterministic assignment that honours the shares, and
the options a variant sets (only where the request set none)."""

from __future__ import annotations

import random

import pytest

from api.errors import BadParameter
from api.params import ListOptions
from api.variants import VariantConfigError, parse_variants

CONFIG = (
    '{"control": {"share": 0.2}, "diverse": {"share": 0.3, "diversity": 0.4},'
    ' "fused": {"share": 0.5, "fusion": {"title": 0.0, "terms": 2.0}, "ranker": "v7"}}'
)


def test_default_is_one_variant() -> None:
    variants = parse_variants(None)
    assert variants.names == ("default",) and variants.assign("anyone").name == "default"


def test_assignment_is_deterministic_and_honours_shares() -> None:
    variants = parse_variants(CONFIG)
    rng = random.Random(17)
    users = [f"user-{rng.getrandbits(64):x}" for _ in range(20_000)]
    first = [variants.assign(u).name for u in users]
    assert first == [variants.assign(u).name for u in users]  # same user, same variant
    for name, share in (("control", 0.2), ("diverse", 0.3), ("fused", 0.5)):
        observed = first.count(name) / len(users)
        # 20k draws: the standard error is <= 0.0036; 4 of them is far from chance.
        assert abs(observed - share) < 0.015, (name, observed)
    # Reordering users does not move anyone; the same config in another process agrees.
    assert parse_variants(CONFIG).assign(users[123]).name == first[123]


def test_a_zero_share_variant_gets_nobody_but_can_be_named() -> None:
    variants = parse_variants('{"a": {"share": 1}, "b": {"share": 0}}')
    assert {variants.assign(f"u{i}").name for i in range(2000)} == {"a"}
    assert variants.named("b").name == "b"
    with pytest.raises(BadParameter) as err:
        variants.named("c")
    assert err.value.parameter == "variant" and "unknown variant 'c'" in err.value.message


def test_variant_options_apply_where_the_request_is_silent() -> None:
    variants = parse_variants(CONFIG)
    diverse, fused = variants.named("diverse"), variants.named("fused")
    plain = ListOptions()
    assert diverse.apply(plain, []).rerank.diversity == 0.4
    assert diverse.apply(plain, ["diversity"]).rerank.diversity == 0.0  # the request's own 0
    applied = fused.apply(plain, [])
    assert dict(applied.fusion) == {"title": 0.0, "terms": 2.0} and fused.ranker == "v7"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{", "not JSON"),
        ("[]", "non-empty object"),
        ('{"a": {"share": -1}}', "share must be in"),
        ('{"a": {"share": 0}}', "must not all be 0"),
        ('{"a": {"shares": 1}}', "unknown key 'shares'"),
        ('{"a b": {}}', "variant name"),
        ('{"a": {"fusion": {"vector": 1}}}', "fusion takes weights"),
        ('{"a": {"diversity": 2}}', "diversity must be in"),
        ('{"a": {"ranker": 3}}', "ranker must be"),
    ],
)
def test_bad_configuration_is_refused(raw: str, why: str) -> None:
    with pytest.raises(VariantConfigError, match=why):
        parse_variants(raw)


def test_the_app_refuses_to_start_with_bad_variants() -> None:
    from api.app import create_app
    from db.settings import Settings

    settings = Settings(database_url="postgresql://nowhere/none", api_key="k", variants='{"a": 1}')
    with pytest.raises(VariantConfigError, match="variant 'a': expected an object"):
        create_app(settings)
